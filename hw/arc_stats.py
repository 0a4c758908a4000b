"""ARC statistics unit: per-tensor moments (pass 1) and the largest inlier magnitude (pass 2).

Every arithmetic step is defined in :mod:`golden.arc_stats` (:func:`golden.arc_stats.stats_accumulate`); this
component is correct when each result beat equals the golden :class:`golden.arc_stats.StatsResult`
bit for bit. The host-side steps (mean/std, the z-score thresholds, the scale) are the golden
functions :func:`golden.arc.host_thresholds` and :func:`golden.arc.arc_scale`.
"""

from amaranth import C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.arc_stats import ArcStatsConfig

from .block import BlockComponent

__all__ = ["ArcStats", "stats_out_layout"]


def stats_out_layout(cfg: ArcStatsConfig) -> data.StructLayout:
    """Payload of the result stream (fields as :class:`golden.arc_stats.StatsResult`)."""
    n = cfg.count_bits
    return data.StructLayout({
        "count": unsigned(n),
        "n_zero": unsigned(n),
        "sum": signed(cfg.sum_width),
        "sumsq": unsigned(cfg.sumsq_width),
        "emax": unsigned(8),
        "n_in": unsigned(n),
        "cmax": unsigned(31),
        "nan": unsigned(1),
        "inf": unsigned(1),
        "over": unsigned(1),
        "under": unsigned(1),
        "cnt_ovf": unsigned(1),
    })


def _popcount(bits):
    """Sum of a list of 1-bit values (a small adder tree)."""
    total = C(0, 1)
    for b in bits:
        total = total + b
    return total


def _sat_add(acc, inc, width):
    """``(min(acc + inc, 2**width - 1), overflowed)``."""
    full = acc + inc
    over = full > (1 << width) - 1
    return Mux(over, (1 << width) - 1, full), over


class ArcStats(BlockComponent):
    """Two-pass statistics of an FP32 tensor stream.

    Parameters
    ----------
    cfg : :class:`golden.arc_stats.ArcStatsConfig`, optional
        The validated configuration; keyword arguments build one when it is omitted.

    Members
    -------
    inp : ``In(stream.Signature(StructLayout{data: P x unsigned(32), keep: P x 1, pass2: 1, last: 1}))``
        FP32 bit patterns; lanes with ``keep = 0`` are ignored; ``pass2 = 0`` accumulates the
        moments (pass 1), ``pass2 = 1`` the inlier count and maximum (pass 2); ``last`` ends the
        tensor: its result beat follows and the accumulators restart from zero.
    out : ``Out(stream.Signature(stats_out_layout(cfg)))``
        One result beat per tensor (fields in :mod:`golden.arc_stats`; the other pass's fields are 0).
    ebase : ``In(8)``
        Window register: binades ``ebase .. ebase + W - 1`` are accumulated exactly.
    lo, hi : ``In(32)``
        FP32 inlier bounds of pass 2 (host-set; subnormal bounds act as zero).

    Datapath
    --------
    Stage A (combinational, registered at the end): per lane, decode, window shift
    ``r = clip(ebase + W - 1 - e, 0, 23 + W)``, ``fix = (m << (W-1)) >> r``, the 24 x 24-bit
    square ``m*m`` shifted ``(m*m << 2(W-1)) >> 2r``, the order key for the inlier test; then
    the beat's sums, popcounts and maxima over the lanes. Stage B: accumulators (saturating
    counters, wrapping sums); on ``last`` the accumulated values plus the beat go to the output
    register and the accumulators clear.

    Timing
    ------
    The beat with ``last`` transferred in cycle ``T`` gives its result beat in cycle ``T + 2``
    when the output is ready; one input beat per cycle, no bubbles between tensors. The pipeline
    advances when ``en = ~out.valid | out.ready``; ``inp.ready = en``.
    """

    CONFIG = ArcStatsConfig

    def _members(self, c):
        in_layout = data.StructLayout({
            "data": data.ArrayLayout(unsigned(32), c.lanes),
            "keep": data.ArrayLayout(unsigned(1), c.lanes),
            "pass2": unsigned(1),
            "last": unsigned(1),
        })
        return {
            "inp": In(stream.Signature(in_layout)),
            "out": Out(stream.Signature(stats_out_layout(c))),
            "ebase": In(8),
            "lo": In(32),
            "hi": In(32),
        }

    def elaborate(self, platform):
        m = Module()
        c = self._cfg
        P, W = c.lanes, c.window
        FW, QW = c.fix_width, c.sq_width
        en = Signal()
        take = Signal()
        m.d.comb += [
            en.eq(~self.out.valid | self.out.ready),
            self.inp.ready.eq(en),
            take.eq(en & self.inp.valid),
        ]
        pay = self.inp.payload
        p2 = pay.pass2

        # ---------------- stage A: lanes ---------------------------------------------------------
        lo_key, hi_key = Signal(signed(32)), Signal(signed(32))
        for reg, key in ((self.lo, lo_key), (self.hi, hi_key)):
            mag = Mux(reg[23:31] == 0, 0, reg[:31])
            m.d.comb += key.eq(Mux(reg[31], -mag, mag))

        top = Signal(10)                                   # ebase + W - 1
        m.d.comb += top.eq(self.ebase + (W - 1))
        fixes, sqs, c1, z1, in2, nans, infs, overs, unders, exps, mags = ([] for _ in range(11))
        for i in range(P):
            x = pay.data[i]
            s, e, f = x[31], x[23:31], x[:23]
            keep = pay.keep[i]
            fin = Signal(name=f"fin{i}")
            nz = Signal(name=f"nz{i}")
            use1 = Signal(name=f"use1_{i}")
            m.d.comb += [fin.eq(e != 0xFF), nz.eq(fin & (e != 0)), use1.eq(keep & ~p2 & nz)]
            mant = Signal(24, name=f"m{i}")
            m.d.comb += mant.eq(Cat(f, C(1, 1)))
            d = Signal(signed(11), name=f"d{i}")
            r = Signal(range(24 + W), name=f"r{i}")
            m.d.comb += [
                d.eq(top - e),
                r.eq(Mux(d < 0, 0, Mux(d > 23 + W, 23 + W, d))),
            ]
            fix = Signal(FW, name=f"fix{i}")
            m.d.comb += fix.eq((mant << (W - 1)) >> r)
            sq0 = Signal(48, name=f"sq0_{i}")
            sq = Signal(QW, name=f"sq{i}")
            m.d.comb += [sq0.eq(mant * mant), sq.eq((sq0 << (2 * (W - 1))) >> (r << 1))]
            sfix = Signal(signed(FW + 1), name=f"sfix{i}")
            m.d.comb += sfix.eq(Mux(use1, Mux(s, -fix, fix), 0))
            fixes.append(sfix)
            sqs.append(Mux(use1, sq, 0))
            c1.append(keep & ~p2 & fin)
            z1.append(keep & ~p2 & fin & (e == 0))
            overs.append(use1 & (e > top))
            unders.append(use1 & (e < self.ebase))
            exps.append(Mux(use1, e, 0))
            nans.append(keep & (e == 0xFF) & f.any())
            infs.append(keep & (e == 0xFF) & ~f.any())
            # pass 2: order key and inlier test
            mag = Signal(31, name=f"mag{i}")
            key = Signal(signed(32), name=f"key{i}")
            inl = Signal(name=f"inl{i}")
            m.d.comb += [
                mag.eq(Mux(e == 0, 0, x[:31])),
                key.eq(Mux(s, -mag, mag)),
                inl.eq(keep & p2 & fin & (key >= lo_key) & (key <= hi_key)),
            ]
            in2.append(inl)
            mags.append(Mux(inl, mag, 0))

        def tree_max(vals, width):
            cur = vals[0]
            for v in vals[1:]:
                nxt = Signal(width)
                m.d.comb += nxt.eq(Mux(v > cur, v, cur))
                cur = nxt
            return cur

        lg = max(1, (P).bit_length())
        a_valid = Signal()
        a_last = Signal()
        a_sum = Signal(signed(FW + 1 + lg))
        a_sq = Signal(QW + lg)
        a_c1, a_z1, a_in = Signal(lg + 1), Signal(lg + 1), Signal(lg + 1)
        a_emax = Signal(8)
        a_cmax = Signal(31)
        a_nan, a_inf, a_over, a_under = Signal(), Signal(), Signal(), Signal()
        beat_sum = fixes[0]
        for v in fixes[1:]:
            beat_sum = beat_sum + v
        beat_sq = sqs[0]
        for v in sqs[1:]:
            beat_sq = beat_sq + v
        with m.If(en):
            m.d.sync += [
                a_valid.eq(take),
                a_last.eq(pay.last),
                a_sum.eq(beat_sum),
                a_sq.eq(beat_sq),
                a_c1.eq(_popcount(c1)),
                a_z1.eq(_popcount(z1)),
                a_in.eq(_popcount(in2)),
                a_emax.eq(tree_max(exps, 8)),
                a_cmax.eq(tree_max(mags, 31)),
                a_nan.eq(_or(nans)),
                a_inf.eq(_or(infs)),
                a_over.eq(_or(overs)),
                a_under.eq(_or(unders)),
            ]

        # ---------------- stage B: accumulators --------------------------------------------------
        n = c.count_bits
        acc_count, acc_zero, acc_in = Signal(n), Signal(n), Signal(n)
        acc_sum = Signal(signed(c.sum_width))
        acc_sq = Signal(c.sumsq_width)
        acc_emax = Signal(8)
        acc_cmax = Signal(31)
        acc_nan, acc_inf, acc_over, acc_under, acc_ovf = (Signal() for _ in range(5))

        nx_count, o1 = _sat_add(acc_count, a_c1, n)
        nx_zero, o2 = _sat_add(acc_zero, a_z1, n)
        nx_in, o3 = _sat_add(acc_in, a_in, n)
        nxt = {
            "count": nx_count, "n_zero": nx_zero, "n_in": nx_in,
            "sum": (acc_sum + a_sum)[:c.sum_width].as_signed(),
            "sumsq": (acc_sq + a_sq)[:c.sumsq_width],
            "emax": Mux(a_emax > acc_emax, a_emax, acc_emax),
            "cmax": Mux(a_cmax > acc_cmax, a_cmax, acc_cmax),
            "nan": acc_nan | a_nan, "inf": acc_inf | a_inf, "over": acc_over | a_over,
            "under": acc_under | a_under, "cnt_ovf": acc_ovf | o1 | o2 | o3,
        }
        accs = {
            "count": acc_count, "n_zero": acc_zero, "n_in": acc_in, "sum": acc_sum,
            "sumsq": acc_sq, "emax": acc_emax, "cmax": acc_cmax, "nan": acc_nan, "inf": acc_inf,
            "over": acc_over, "under": acc_under, "cnt_ovf": acc_ovf,
        }
        with m.If(en):
            m.d.sync += self.out.valid.eq(a_valid & a_last)
            with m.If(a_valid):
                with m.If(a_last):
                    for k, reg in accs.items():
                        m.d.sync += [getattr(self.out.payload, k).eq(nxt[k]), reg.eq(0)]
                with m.Else():
                    for k, reg in accs.items():
                        m.d.sync += reg.eq(nxt[k])
        return m


def _or(bits):
    out = C(0, 1)
    for b in bits:
        out = out | b
    return out
