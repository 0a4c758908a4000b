"""GVQ statistics unit: exact per-channel max|g|, count(|g| > sigma_c) and finite count.

The golden model and the beat semantics are in :mod:`golden.gvq_stats`; this component is
correct when every read beat's output equals :func:`golden.gvq_stats.run`.
"""

from amaranth import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, memory, stream
from amaranth.lib.wiring import In, Out

from golden.gvq_stats import GvqStatsConfig
from .block import BlockComponent

__all__ = ["GvqStats"]


class GvqStats(BlockComponent):
    """Per-channel statistics over ``lanes`` FP32 elements per beat.

    Members
    -------
    inp : ``In(stream.Signature(StructLayout{x: P x unsigned(32), ch: unsigned(W), op: 2, sigma: 32}))``
        ``op`` 0 data, 1 load ``sigma`` into channel ``ch``, 2 read and clear channel ``ch``.
    out : ``Out(stream.Signature(StructLayout{gmax: 32, count: B, n: B, ovf: 1}))``
        One beat per read: the maximum magnitude as an FP32 pattern, the saturating counters and
        the channel's overflow flag.

    Hardware: a ``channels``-entry register file of ``31 + 2 B + 1`` bits (max, count, n, ovf)
    and one of 31 bits (sigma magnitude), each with one combinational read port and one write
    port at the beat's channel (read-modify-write in the beat's cycle, so back-to-back beats of
    one channel see each other); per lane a finiteness test, a 31-bit comparator against sigma
    and one in the lane-maximum tree; two population counts and two saturating adders.

    Timing
    ------
    Latency 1: a read beat transferred in cycle ``T`` leaves in ``T + 1``; one beat per cycle;
    ``inp.ready = ~out.valid | out.ready``.
    """

    CONFIG = GvqStatsConfig

    def _members(self, c):
        B = c.count_bits
        return {
            "inp": In(stream.Signature(data.StructLayout({
                "x": data.ArrayLayout(unsigned(32), c.lanes), "ch": unsigned(c.ch_width),
                "op": 2, "sigma": 32}))),
            "out": Out(stream.Signature(data.StructLayout({
                "gmax": 32, "count": unsigned(B), "n": unsigned(B), "ovf": 1}))),
        }

    def elaborate(self, platform):
        m = Module()
        c = self._cfg
        B, P = c.count_bits, c.lanes
        top = (1 << B) - 1
        p = self.inp.payload
        en, take = Signal(), Signal()
        m.d.comb += [en.eq(~self.out.valid | self.out.ready), self.inp.ready.eq(en),
                     take.eq(en & self.inp.valid)]
        is_data, is_load, is_read = p.op == 0, p.op == 1, p.op == 2

        entry = data.StructLayout({"mx": 31, "cnt": unsigned(B), "n": unsigned(B), "ovf": 1})
        m.submodules.stats = st = memory.Memory(shape=entry, depth=c.channels, init=[])
        m.submodules.sig = sg = memory.Memory(shape=31, depth=c.channels, init=[])
        st_rd, st_wr = st.read_port(domain="comb"), st.write_port()
        sg_rd, sg_wr = sg.read_port(domain="comb"), sg.write_port()
        m.d.comb += [st_rd.addr.eq(p.ch), st_wr.addr.eq(p.ch), sg_rd.addr.eq(p.ch),
                     sg_wr.addr.eq(p.ch), sg_wr.data.eq(p.sigma[:31]),
                     sg_wr.en.eq(take & is_load)]
        cur = st_rd.data

        # --- per lane: finite, flushed magnitude, above sigma; lane maximum -------------------
        fin, above, mags = [], [], []
        for i in range(P):
            x = p.x[i]
            f = Signal(name=f"fin{i}")
            mg = Signal(31, name=f"mag{i}")
            a = Signal(name=f"above{i}")
            m.d.comb += [
                f.eq(x[23:31] != 0xFF),
                mg.eq(Mux(f & (x[23:31] != 0), x[:31], 0)),
                a.eq(f & (mg > sg_rd.data)),
            ]
            fin.append(f)
            above.append(a)
            mags.append(mg)
        level = list(mags)
        k = 0
        while len(level) > 1:
            nxt = []
            for j in range(0, len(level) - 1, 2):
                t = Signal(31, name=f"max_{k}")
                k += 1
                m.d.comb += t.eq(Mux(level[j + 1] > level[j], level[j + 1], level[j]))
                nxt.append(t)
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
        lane_max = level[0]

        cw = max(B, P.bit_length()) + 1
        n_add, c_add = Signal(range(P + 1)), Signal(range(P + 1))
        m.d.comb += [n_add.eq(sum(fin)), c_add.eq(sum(above))]
        n_sum, c_sum = Signal(cw), Signal(cw)
        m.d.comb += [n_sum.eq(cur.n + n_add), c_sum.eq(cur.cnt + c_add)]
        n_ovf, c_ovf = n_sum > top, c_sum > top

        new = Signal(entry)
        with m.If(is_data):
            m.d.comb += [
                new.mx.eq(Mux(lane_max > cur.mx, lane_max, cur.mx)),
                new.cnt.eq(Mux(c_ovf, top, c_sum)),
                new.n.eq(Mux(n_ovf, top, n_sum)),
                new.ovf.eq(cur.ovf | n_ovf | c_ovf),
            ]
        m.d.comb += [st_wr.data.eq(new), st_wr.en.eq(take & (is_data | is_read))]

        # --- read: registered output -----------------------------------------------------------
        with m.If(en):
            m.d.sync += self.out.valid.eq(take & is_read)
            with m.If(take & is_read):
                m.d.sync += [
                    self.out.payload.gmax.eq(Cat(cur.mx, Const(0, 1))),
                    self.out.payload.count.eq(cur.cnt),
                    self.out.payload.n.eq(cur.n),
                    self.out.payload.ovf.eq(cur.ovf),
                ]
        return m
