"""Output-stationary systolic MAC array: signed INT8 x INT8 -> wide accumulators, or FP8 x FP8
-> FP(e, m) accumulation (sequential, static groups or DGA) in every processing element.

See ``docs/blocks/mac_array.md`` for the timing diagram. The golden model and cycle model are in
:mod:`golden.mac_array`; this component is correct when it is bit- and cycle-identical to them.
The FP8 PE is the exact multiplier's datapath (:func:`hw.fp_mul.fp_mul_stage1` and
``fp_mul_stage2``, as in :class:`hw.fp_mul.FpMul`), one rounding into the
accumulator format by the FP adder's normalize/round stage (:func:`hw.fp_add.fp_add_stage2`,
:func:`round_to_format`), and the accumulator: one FP adder (``order="seq"``) or the DGA
datapath :func:`hw.dga.dga_datapath` (grouped orders), whose group counter is shared by all PEs.
"""


from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from golden.dga import GROUP_SIZE_MAX
from golden.mac_array import MacArrayConfig

from .block import BlockComponent
from .dga import dga_datapath, dga_group_counter
from .fp_add import fp_add_datapath, fp_add_stage2
from .fp_mul import fp_mul_stage1, fp_mul_stage2

__all__ = ["MacArray", "round_to_format"]


def _ctl_layout(close=False):
    fields = {"valid": 1, "first": 1, "last": 1}
    if close:
        fields["close"] = 1
    return data.StructLayout(fields)


def round_to_format(m, fin, fout, rounding, bits, nan, inf, name="cvt"):
    """Round an ``fin`` bit pattern once into ``fout`` (combinational, in ``m``).

    The value is placed into the FP adder's ``fout.m + 4``-bit window (hidden bit, mantissa,
    guard/round/sticky) with the ``fout`` biased exponent ``t = max(E, 1) - bias_in + bias_out``;
    below the normal range (``t < 1``) it is shifted right by ``1 - t`` with the bits shifted out
    ORed into the sticky bit, and :func:`hw.fp_add.fp_add_stage2` normalizes, rounds
    (``rounding``), packs and saturates it -- the one rounding stage of the FP adder. An exponent
    above ``fout``'s range (``t > 2**e - 1``) saturates to +-max with ``ovf``. ``nan`` / ``inf``
    are the input's classes. Returns ``(bits, nan, ovf)`` as :func:`golden.minifloat.fp_round`
    of the exact value (``fp_mul`` with ``fout``). Needs ``fin.m <= fout.m + 3``.
    """
    if fin.m > fout.m + 3:
        raise ValueError(f"round_to_format: {fin.name} has more than {fout.name}.m + 3 mantissa bits")
    W = fout.m + 4
    sign = bits[fin.e + fin.m]
    E = bits[fin.m:fin.m + fin.e]
    sig = Signal(fin.m + 1, name=f"{name}_sig")
    lo = 1 - fin.bias + fout.bias
    hi = fin.exp_ones - fin.bias + fout.bias
    t = Signal(range(min(lo, 0), max(hi, 1) + 1), name=f"{name}_exp")
    m.d.comb += [sig.eq(Cat(bits[:fin.m], E != 0)),
                 t.eq(Mux(E == 0, 1, E) - fin.bias + fout.bias)]
    x = Signal(W, name=f"{name}_x")
    m.d.comb += x.eq(sig << (W - 1 - fin.m))
    S = Signal(W + 1, name=f"{name}_win")
    ex = Signal(fout.e, name=f"{name}_ex")
    too_big = Signal(name=f"{name}_big")
    m.d.comb += too_big.eq(t > fout.exp_ones)
    if lo < 1:
        sh = Signal(range(W + 1), name=f"{name}_shift")
        m.d.comb += sh.eq(Mux(t >= 1, 0, Mux(1 - t > W, W, 1 - t)))
        sticky = (x & ((Const(1, W + 1) << sh) - 1)[:W]).any()
        m.d.comb += S.eq((x >> sh) | sticky)
    else:
        m.d.comb += S.eq(x)
    m.d.comb += ex.eq(Mux(t < 1, 1, Mux(too_big, fout.exp_ones, t)))
    s1 = {"S": S, "ex": ex, "sx": sign, "zsign": sign, "nan": nan, "inf": inf & ~nan,
          "inf_sign": sign}
    r_bits, r_nan, r_ovf = fp_add_stage2(m, fout, rounding, s1)
    sat = Signal(name=f"{name}_sat")
    out = Signal(fout.width, name=f"{name}_bits")
    m.d.comb += [
        sat.eq(too_big & ~nan & ~inf),
        out.eq(Mux(sat, Cat(Const(fout.max_code, fout.e + fout.m), sign), r_bits)),
    ]
    return out, r_nan, r_ovf | sat


class MacArray(BlockComponent):
    """Output-stationary ``rows x cols`` systolic array computing ``C = A @ B`` per tile.

    Parameters
    ----------
    cfg : :class:`golden.mac_array.MacArrayConfig`, optional
        The validated configuration; keyword arguments build one when it is omitted.

    Members
    -------
    inp : ``In(stream.Signature(StructLayout{a: rows x signed(a_width), b: cols x signed(b_width), last: 1}))``
        One beat per k: ``a[i] = A[i, k]``, ``b[j] = B[k, j]``; ``last`` marks the tile's final k.
        The input skew is applied inside. ``inp.ready`` depends combinationally on ``out.ready``
        (global stall) and on ``inp.payload.last`` (a tile's last beat is held back until
        ``max(rows, cols)`` cycles after the previous tile's last beat, so that results not yet
        drained are never overwritten).
    out : ``Out(stream.Signature(StructLayout{data: cols x signed(acc_width), row, last, ovf}))``
        One output row per beat, rows 0..rows-1 in order; ``last`` marks row ``rows-1``; ``ovf``
        is the OR of the row's overflow flags (policy in :mod:`golden.mac_array`).
    overflow : ``Out(1)``
        Sticky: set when a row with ``ovf`` is transferred; cleared only by reset.

    Timing
    ------
    With the input always valid and the output always ready, row i of a tile whose last beat is
    transferred in cycle T is transferred in cycle ``T + latency + i``, ``latency = cols + 1``
    (+1 with ``pipelined``). Double-buffered accumulators let tile t+1 stream in while tile t
    drains, so back-to-back tiles with ``K >= max(rows, cols)`` have no bubbles. When ``out`` is
    not ready while a row is pending, the whole array stalls (a global clock enable).
    """

    CONFIG = MacArrayConfig


    def _members(self, c):
        if c.pe == "fp8":
            return self._fp8_members(c)
        in_layout = data.StructLayout({
            "a": data.ArrayLayout(signed(c.a_width), c.rows),
            "b": data.ArrayLayout(signed(c.b_width), c.cols),
            "last": 1,
        })
        out_layout = data.StructLayout({
            "data": data.ArrayLayout(signed(c.acc_width), c.cols),
            "row": unsigned(max(1, bits_for(c.rows - 1))),
            "last": 1,
            "ovf": 1,
        })
        return {
            "inp": In(stream.Signature(in_layout)),
            "out": Out(stream.Signature(out_layout)),
            "overflow": Out(1),
        }


    def _fp8_members(self, c):
        fields = {"a": data.ArrayLayout(unsigned(8), c.rows),
                  "b": data.ArrayLayout(unsigned(8), c.cols),
                  "last": 1}
        if c.order == "dga":
            fields["group"] = unsigned(bits_for(2 * GROUP_SIZE_MAX - 1))
        out_layout = data.StructLayout({
            "data": data.ArrayLayout(unsigned(c.fmt.width), c.cols),
            "row": unsigned(max(1, bits_for(c.rows - 1))),
            "last": 1,
            "ovf": 1,
        })
        return {
            "inp": In(stream.Signature(data.StructLayout(fields))),
            "out": Out(stream.Signature(out_layout)),
            "overflow": Out(1),
        }

    def _fp8_pe(self, m, name, en, a, b, ctl):
        """One FP8 processing element: product, rounding, accumulation, shadow register.

        Returns ``(shadow, shadow_ovf, done)``; ``done`` is high (in a cycle with ``en``) when the
        shadow register receives a result in this step.
        """
        c = self._cfg
        f = c.fmt
        # the exact multiplier's two datapath stages (no FpMul component: its stream ports are
        # not wanted here)
        mcfg = c.fp_mul_config
        m.submodules[f"{name}_mul"] = pm = Module()
        s1 = fp_mul_stage1(pm, mcfg, a, b)
        p_bits, p_nan = fp_mul_stage2(pm, mcfg, s1)
        fv = c.addend_fmt                  # what the accumulator adds: rounded or exact products
        if c.product == "exact":
            v0, vo0 = p_bits, Const(0)     # an exact product never saturates
        else:
            m.submodules[f"{name}_cvt"] = cm = Module()
            v0, _, vo0 = round_to_format(cm, mcfg.fmt_out, f, c.rounding, p_bits, p_nan,
                                         s1["inf"])
        if c.pipelined:
            v = Signal(fv.width, name=f"{name}_prod")
            v_ovf = Signal(name=f"{name}_prodovf")
            ctl_p = Signal(ctl.shape(), name=f"{name}_ctlp")
            with m.If(en):
                m.d.sync += [v.eq(v0), v_ovf.eq(vo0), ctl_p.eq(ctl)]
            ctl = ctl_p
        else:
            v = Signal(fv.width, name=f"{name}_prod")
            v_ovf = Signal(name=f"{name}_prodovf")
            m.d.comb += [v.eq(v0), v_ovf.eq(vo0)]

        sh = Signal(f.width, name=f"{name}_shadow")
        sh_ovf = Signal(name=f"{name}_shovf")
        take = Signal(name=f"{name}_take")
        m.d.comb += take.eq(en & ctl.valid)
        if not c.grouped:
            # sequential: S = (first ? +0 : S) + v, one FP adder (the fp_acc block's recurrence)
            acc = Signal(f.width, name=f"{name}_acc")
            acc_ovf = Signal(name=f"{name}_accovf")
            a_op = Signal(f.width, name=f"{name}_accop")
            m.d.comb += a_op.eq(Mux(ctl.first, 0, acc))
            m.submodules[f"{name}_adder"] = am = Module()
            bits, _, ovf = fp_add_datapath(c, am, a_op, v, fv)
            res_ovf = Signal(name=f"{name}_resovf")
            m.d.comb += res_ovf.eq((acc_ovf & ~ctl.first) | ovf | v_ovf)
            with m.If(take):
                m.d.sync += [acc.eq(bits), acc_ovf.eq(res_ovf)]
                with m.If(ctl.last):
                    m.d.sync += [sh.eq(bits), sh_ovf.eq(res_ovf)]
            return sh, sh_ovf, ctl.valid & ctl.last
        # grouped: the DGA datapath; the sum S + A of a finished dot product is formed in the
        # PE's next step (flush), while the next tile's first product is loaded
        pending = Signal(name=f"{name}_pending")
        flush = Signal(name=f"{name}_flush")
        m.d.comb += flush.eq(en & pending)
        with m.If(en):
            m.d.sync += pending.eq(ctl.valid & ctl.last)
        s_bits, _, s_ovf, ovf_acc = dga_datapath(
            m, c.dga_config, v, take, ctl.last, flush, first=ctl.first, close=ctl.close,
            v_ovf=v_ovf, prefix=f"{name}_")
        with m.If(flush):
            m.d.sync += [sh.eq(s_bits), sh_ovf.eq(ovf_acc | s_ovf)]
        return sh, sh_ovf, pending

    def _int8_pe(self, m, name, en, a_left, b_top, ctl):
        """One INT8 processing element: ``acc <= (first ? 0 : acc) + a*b`` with the overflow
        policy, and the shadow register. Returns ``(shadow, shadow_ovf, done)``."""
        c = self._cfg
        W = c.acc_width
        pw = c.a_width + c.b_width
        if c.pipelined:
            prod = Signal(signed(pw), name=f"{name}_prod")
            ctl_p = Signal(_ctl_layout(), name=f"{name}_ctlp")
            with m.If(en):
                m.d.sync += [prod.eq(a_left * b_top), ctl_p.eq(ctl)]
            ctl = ctl_p
        else:
            prod = Signal(signed(pw), name=f"{name}_prod", attrs={"keep": 1})
            m.d.comb += prod.eq(a_left * b_top)

        acc = Signal(signed(W), name=f"{name}_acc")
        acc_ovf = Signal(name=f"{name}_accovf")
        res = Signal(signed(W), name=f"{name}_res")
        res_ovf = Signal(name=f"{name}_resovf")
        total = Signal(signed(W + 1), name=f"{name}_sum")
        base = Mux(ctl.first, 0, acc)
        m.d.comb += total.eq(base + prod)
        ovf_now = total[W] ^ total[W - 1]
        if c.overflow == "wrap":
            m.d.comb += res.eq(total[:W])
        else:
            sat = Mux(total[W], Const(c.acc_min, signed(W)), Const(c.acc_max, signed(W)))
            m.d.comb += res.eq(Mux(ovf_now, sat, total[:W]))
        m.d.comb += res_ovf.eq(ovf_now | (acc_ovf & ~ctl.first))

        sh = Signal(signed(W), name=f"{name}_shadow")
        sh_ovf = Signal(name=f"{name}_shovf")
        with m.If(en & ctl.valid):
            m.d.sync += [acc.eq(res), acc_ovf.eq(res_ovf)]
            with m.If(ctl.last):
                m.d.sync += [sh.eq(res), sh_ovf.eq(res_ovf)]
        return sh, sh_ovf, ctl.valid & ctl.last

    def elaborate(self, platform):
        m = Module()
        c = self._cfg
        R, C = c.rows, c.cols
        S = self._cfg.spacing
        fp8 = c.pe == "fp8"
        grouped = c.grouped
        a_shape = 8 if fp8 else signed(c.a_width)
        b_shape = 8 if fp8 else signed(c.b_width)
        pe = self._fp8_pe if fp8 else self._int8_pe

        en = Signal()                     # the whole array advances by one step
        row_done = Signal(R)              # row i of some tile is complete (at most one bit set)
        m.d.comb += en.eq(~(row_done.any() & ~self.out.ready))

        # --- input acceptance --------------------------------------------------------------
        since_last = Signal(range(S + 1), init=S)     # en-cycles since the last accepted `last`
        too_soon = Signal()
        expect_first = Signal(init=1)
        accept = Signal()
        m.d.comb += [
            too_soon.eq(since_last < S),
            self.inp.ready.eq(en & ~(self.inp.payload.last & too_soon)),
            accept.eq(self.inp.valid & self.inp.ready),
        ]
        with m.If(en):
            with m.If(accept & self.inp.payload.last):
                m.d.sync += since_last.eq(1)
            with m.Elif(too_soon):
                m.d.sync += since_last.eq(since_last + 1)
            with m.If(accept):
                m.d.sync += expect_first.eq(self.inp.payload.last)

        # --- FP8 grouped orders: one group counter for the whole array ------------------------
        # with static and DGA groups the close pattern depends only on the beat sequence, which
        # every PE sees (skewed) in the same order; a `close` bit travels with the control bits
        close = None
        if grouped:
            if c.order == "dga":
                G = Signal(range(2 * GROUP_SIZE_MAX), name="group_size")
                with m.If(accept & expect_first):
                    m.d.sync += G.eq(self.inp.payload.group)
            else:
                G = c.group_size
            _, close = dga_group_counter(m, c.dga_config, accept, self.inp.payload.last, G)

        # --- input register and skew ---------------------------------------------------------
        # Row i: (a, ctl) delayed by 1 + i registers; column j: b delayed by 1 + j registers.
        def delay_chain(name, shape, value, depth):
            prev = value
            for d in range(depth):
                reg = Signal(shape, name=f"{name}_d{d}")
                with m.If(en):
                    m.d.sync += reg.eq(prev)
                prev = reg
            return prev

        lay = _ctl_layout(grouped)
        row_a, row_ctl = [], []
        for i in range(R):
            ctl = Signal(lay, name=f"ctl_in{i}")
            m.d.comb += [ctl.valid.eq(accept), ctl.first.eq(expect_first),
                         ctl.last.eq(self.inp.payload.last)]
            if grouped:
                m.d.comb += ctl.close.eq(close)
            row_a.append(delay_chain(f"a_skew{i}", a_shape, self.inp.payload.a[i], 1 + i))
            row_ctl.append(delay_chain(f"ctl_skew{i}", lay, ctl, 1 + i))
        col_b = [delay_chain(f"b_skew{j}", b_shape, self.inp.payload.b[j], 1 + j)
                 for j in range(C)]

        # --- processing elements -------------------------------------------------------------
        shadow = [[None] * C for _ in range(R)]
        shadow_ovf = [[None] * C for _ in range(R)]
        b_from_above = list(col_b)
        for i in range(R):
            a_left, ctl_left = row_a[i], row_ctl[i]
            for j in range(C):
                b_top = b_from_above[j]
                sh, sh_ovf, done = pe(m, f"pe{i}_{j}", en, a_left, b_top, ctl_left)
                shadow[i][j], shadow_ovf[i][j] = sh, sh_ovf

                if j == C - 1:
                    with m.If(en):
                        m.d.sync += row_done[i].eq(done)
                else:
                    a_next = Signal(a_shape, name=f"pe{i}_{j}_a")
                    ctl_next = Signal(lay, name=f"pe{i}_{j}_ctl")
                    with m.If(en):
                        m.d.sync += [a_next.eq(a_left), ctl_next.eq(ctl_left)]
                    a_left, ctl_left = a_next, ctl_next
                if i < R - 1:
                    b_next = Signal(b_shape, name=f"pe{i}_{j}_b")
                    with m.If(en):
                        m.d.sync += b_next.eq(b_top)
                    b_from_above[j] = b_next

        # --- drain: one-hot AND-OR row select ------------------------------------------------
        for j in range(C):
            terms = [Mux(row_done[i], shadow[i][j], 0) for i in range(R)]
            if fp8:     # written as 0 | t0 | t1 ... (the form the FP8 area study synthesized)
                terms = [Const(0, c.fmt.width)] + terms
            col = terms[0]
            for t in terms[1:]:
                col = col | t
            m.d.comb += self.out.payload.data[j].eq(col)
        row_idx = 0
        for i in range(1, R):
            row_idx = row_idx | Mux(row_done[i], i, 0)
        row_ovf = [Cat(*shadow_ovf[i]).any() for i in range(R)]
        m.d.comb += [
            self.out.valid.eq(row_done.any()),
            self.out.payload.row.eq(row_idx),
            self.out.payload.last.eq(row_done[R - 1]),
            self.out.payload.ovf.eq(Cat(*[row_done[i] & row_ovf[i] for i in range(R)]).any()),
        ]
        with m.If(self.out.valid & self.out.ready & self.out.payload.ovf):
            m.d.sync += self.overflow.eq(1)
        return m
