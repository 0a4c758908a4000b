"""Dynamic group accumulator (DGA): intra-group and inter-group FP(e, m) registers, group counter.

The golden model is :func:`golden.dga.accumulate` (order of additions, group rule and flags in
:mod:`golden.dga`); both adders are the datapath of :class:`hw.fp_add.FpAdd` (:func:`hw.fp_add.fp_add_datapath` =
stage 1 + stage 2, combinational), so rounding, saturation and Inf/NaN handling are those of the
verified FP adder. See ``docs/blocks/dga.md``.
"""

from amaranth import Module, Mux, Signal
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.dga import GROUP_SIZE_MAX, DgaConfig
from .block import BlockComponent
from .fp_add import fp_add_datapath, fp_round_addend, widen

__all__ = ["DgaAccumulator", "dga_datapath", "dga_group_counter"]


class DgaAccumulator(BlockComponent):
    """FP(e, m) dot-product accumulator with static, DGA or DGA-exp grouping.

    Parameters
    ----------
    cfg : :class:`golden.dga.DgaConfig`, optional
        The validated configuration; keyword arguments build one when it is omitted.

    Members
    -------
    inp : ``In(stream.Signature(StructLayout{data: 1+e+m, last: 1}))``
        Addends (bit patterns of the accumulator format) in K-loop order; ``last`` marks the
        final addend of a dot product (a dot product of length 1 is a single beat with ``last``).
    group_size : ``In(13)``
        Group-size register ``G`` (static G, the DGA ``dga_group_size(N)`` or the DGA-exp cap
        ``gmax``), loaded by the controller and held while a dot product is in flight. A value
        of 0 behaves like 1; values above the configuration's 4096 work up to 8191.
    out : ``Out(stream.Signature(StructLayout{bits: 1+e+m, nan: 1, ovf: 1}))``
        One beat per dot product: the sum, ``nan`` (the sum is NaN) and ``ovf`` (some addition
        of this dot product saturated).
    nan_seen, overflow : ``Out(1)``
        Sticky: set when a result with ``nan`` / ``ovf`` is transferred; cleared only by reset.

    Timing
    ------
    One addend per cycle, dot products back to back. With the output always ready the result of
    a dot product whose ``last`` addend is transferred in cycle T is transferred in cycle
    ``T + 2`` (``latency``). ``inp.ready`` is low only while a finished dot product waits for a
    stalled output; it depends combinationally on ``out.ready``.

    Datapath (``adders=2``, the default)
    ------------------------------------
    Registers ``A`` (intra-group), ``S`` (inter-group), ``n`` (addends in the current group), a
    ``pending`` bit and the per-dot-product overflow flag. Per accepted addend ``v``:
    ``close = n != 0 & (n >= G | exp_close)``; the inter adder computes ``S + A`` (written to
    ``S`` on ``close``), the intra adder ``(close | n == 0 ? +0 : A) + v`` (written to ``A``).
    After ``last`` the dot product is ``pending``; in the next cycle in which the output
    register is free the inter adder computes ``S + A`` into the output register and ``S`` is
    cleared -- in the same cycle the intra adder may already take the next dot product's first
    addend, whose ``n == 0`` never closes a group, so the two adders never conflict.
    ``exp_close`` (variant ``dga_exp``) is ``A != 0 & v != 0 & max(E_A, 1) - max(E_v, 1) > T``.

    Datapath (``adders=1``)
    -----------------------
    One adder with operands ``A`` and ``close | flush ? S : v``: it computes ``A + v`` within a
    group and ``A + S`` (= the golden ``S + A``; the adder is commutative) when a group closes or
    a finished dot product is flushed. The first addend of a group (``n == 0`` or ``close``) is
    loaded into ``A`` as it is, without an addition. The golden model adds it to ``+0``, which is
    exact: ``fp_add(+0, v)`` is ``v`` except ``-0 -> +0`` and any NaN -> the canonical NaN, and
    never overflows. Neither difference reaches an output: ``A`` leaves only through the adder
    (``A + v``, ``A + S``), where a NaN of any payload gives the canonical NaN, and ``-0``
    differs from ``+0`` only in ``-0 + -0 = -0``, which keeps ``A`` a zero while ``S`` is never
    ``-0`` (it starts at ``+0`` and ``+0 + -0 = +0``), so ``S + A`` is the same; the DGA-exp rule
    sees the same ``A != 0`` and exponent field. Flush and close never fall in the same cycle
    (while a dot product is pending only a first addend is taken), so the schedule, latency and
    ``inp.ready`` are those of ``adders=2``.
    """

    CONFIG = DgaConfig

    def _members(self, c):
        w = c.fmt.width
        return {
            "inp": In(stream.Signature(data.StructLayout({"data": c.addend_fmt.width, "last": 1}))),
            "group_size": In(range(2 * GROUP_SIZE_MAX)),
            "out": Out(stream.Signature(data.StructLayout({"bits": w, "nan": 1, "ovf": 1}))),
            "nan_seen": Out(1),
            "overflow": Out(1),
        }

    def elaborate(self, platform):
        cfg = self._cfg
        m = Module()
        pending = Signal(name="pending")
        last = self.inp.payload.last
        can_flush = Signal(name="can_flush")
        flush = Signal(name="flush")
        take = Signal(name="take")
        m.d.comb += [
            can_flush.eq(~self.out.valid | self.out.ready),
            flush.eq(pending & can_flush),
            self.inp.ready.eq(~pending | can_flush),
            take.eq(self.inp.valid & self.inp.ready),
        ]
        s_bits, s_nan, s_ovf, ovf_acc = dga_datapath(m, cfg, self.inp.payload.data, take, last,
                                                     flush, group_size=self.group_size)

        with m.If(flush):
            m.d.sync += [
                self.out.payload.bits.eq(s_bits),
                self.out.payload.nan.eq(s_nan),
                self.out.payload.ovf.eq(ovf_acc | s_ovf),
                self.out.valid.eq(1),
                pending.eq(0),
            ]
        with m.Elif(self.out.ready):
            m.d.sync += self.out.valid.eq(0)
        with m.If(take & last):
            m.d.sync += pending.eq(1)

        with m.If(self.out.valid & self.out.ready):
            with m.If(self.out.payload.nan):
                m.d.sync += self.nan_seen.eq(1)
            with m.If(self.out.payload.ovf):
                m.d.sync += self.overflow.eq(1)
        return m


def dga_group_counter(m, cfg, take, last, group_size, exp_close=None, prefix=""):
    """The group counter ``n`` and the group-close rule of the DGA datapath, in ``m``.

    Parameters
    ----------
    cfg : config with ``variant`` (e.g. :class:`golden.dga.DgaConfig`)
    take : Value
        An addend is accepted this cycle (``n`` advances).
    last : Value
        The accepted addend is the dot product's last one (``n`` returns to 0).
    group_size : Value or int
        The group-size register ``G``.
    exp_close : callable or None
        ``exp_close(first) -> Value``: the data-driven DGA-exp condition, or None.

    Returns
    -------
    ``(first, close)``: ``first = n == 0`` (the addend opens a dot product) and
    ``close = ~first & (n >= G | exp_close)`` (the addend closes the current group and opens the
    next). The counter depends on nothing but the beat sequence when ``exp_close`` is None, so
    one counter can serve many datapaths that see the same sequence (the FP8 MAC array shares
    one at its input).
    """
    n = Signal(range(2 * GROUP_SIZE_MAX), name=f"{prefix}group_count")
    close = Signal(name=f"{prefix}close")
    first = Signal(name=f"{prefix}first")
    m.d.comb += first.eq(n == 0)
    rule = n >= group_size
    if exp_close is not None:
        rule = rule | exp_close
    m.d.comb += close.eq(~first & rule)
    with m.If(take):
        with m.If(last):
            m.d.sync += n.eq(0)
        with m.Else():
            m.d.sync += n.eq(Mux(close, 1, n + 1))
    return first, close


def dga_datapath(m, cfg, v, take, last, flush, group_size=None, first=None, close=None,
                 v_ovf=None, prefix=""):
    """The per-dot-product DGA accumulation datapath (registers ``A``, ``S``, the overflow flag,
    one or two adders; :class:`DgaAccumulator` docstring), in ``m``.

    Parameters
    ----------
    cfg : :class:`golden.dga.DgaConfig`
        Format, rounding, ``variant`` (``threshold``) and ``adders``.
    v : Value
        The addend (a bit pattern of ``cfg.addend_fmt``: the accumulator format, or the wider
        FP(e, addend_man) of the mixed-format adder, rounded once per addition).
    take : Value
        ``v`` is accepted this cycle (``A``, ``S`` and the counter update).
    last : Value
        ``v`` is the dot product's last addend.
    flush : Value
        The finished dot product's sum ``S + A`` is taken this cycle (``S`` is cleared); only a
        first addend may be taken in the same cycle.
    group_size : Value or int
        ``G``, for the built-in counter (:func:`dga_group_counter`).
    first, close : Value or None
        Given together instead of ``group_size``: a shared counter outside (variants ``static``
        and ``dga`` only, whose close rule does not depend on the data).
    v_ovf : Value or None
        A saturation that produced ``v`` (ORed into the dot product's overflow flag).
    prefix : str
        Prefix of the signal and submodule names.

    Returns
    -------
    ``(s_bits, s_nan, s_ovf, ovf_acc)``: the inter-group adder's ``S + A`` (the result when
    ``flush``), its flags and the dot product's overflow flag so far.
    """
    f, fb = cfg.fmt, cfg.addend_fmt                     # accumulator, addend (addend_man)
    w = f.width
    A = Signal(w, name=f"{prefix}acc_intra")
    S = Signal(w, name=f"{prefix}acc_inter")
    ovf_acc = Signal(name=f"{prefix}ovf_acc")

    exp_close = None
    if cfg.variant == "dga_exp":
        if close is not None:
            raise ValueError("dga_datapath: variant dga_exp needs its own group counter")

        def ee(x, fx=f):
            E = x[fx.m:fx.m + fx.e]
            return Mux(E == 0, 1, E)
        gap = Signal(range(-(1 << f.e), 1 << f.e), name=f"{prefix}exp_gap")
        exp_close = Signal(name=f"{prefix}exp_close")
        m.d.comb += [
            gap.eq(ee(A) - ee(v, fb)),
            exp_close.eq((A[:w - 1] != 0) & (v[:fb.width - 1] != 0) & (gap > cfg.threshold)),
        ]
    if close is None:
        first, close = dga_group_counter(m, cfg, take, last, group_size, exp_close, prefix)

    if cfg.adders == 2:
        m.submodules[f"{prefix}intra"] = intra = Module()
        m.submodules[f"{prefix}inter"] = inter = Module()
        a_op = Signal(w, name=f"{prefix}intra_a")
        m.d.comb += a_op.eq(Mux(close | first, 0, A))
        i_bits, i_nan, i_ovf = fp_add_datapath(cfg, intra, a_op, v, fb)
        s_bits, s_nan, s_ovf = fp_add_datapath(cfg, inter, S, A)
        new_a = i_bits
        new_ovf = (ovf_acc & ~first) | i_ovf | (close & s_ovf)
    else:
        # one adder: A + v within a group, A + S when a group closes or the dot product is
        # flushed (fp_add is commutative, so A + S = the golden S + A). The first addend of a
        # group is loaded as it is: the golden's fp_add(+0, v) equals v except -0 -> +0 and
        # NaN -> canonical NaN, never overflows, and neither difference can reach an output
        # (DgaAccumulator docstring). Flush and close never coincide: while pending, only a
        # first addend (n == 0) is taken.
        m.submodules[f"{prefix}adder"] = adder = Module()
        y_op = Signal(fb.width, name=f"{prefix}adder_b")
        m.d.comb += y_op.eq(Mux(close | flush, widen(f, fb, S), v))
        s_bits, s_nan, s_ovf = fp_add_datapath(cfg, adder, A, y_op, fb)
        if fb == f:
            new_a = Mux(first | close, v, s_bits)
            new_ovf = (ovf_acc | s_ovf) & ~first
        else:   # wider addend (addend_man): a first addend is v rounded once, fp_add(+0, v)
            r_bits, _, r_ovf = fp_round_addend(m, f, fb, cfg.rounding, v)
            new_a = Mux(first | close, r_bits, s_bits)
            new_ovf = ((ovf_acc | s_ovf) & ~first) | ((first | close) & r_ovf)
    if v_ovf is not None:
        new_ovf = new_ovf | v_ovf

    with m.If(flush):
        m.d.sync += S.eq(0)
    with m.If(take):
        m.d.sync += [
            A.eq(new_a),
            ovf_acc.eq(new_ovf),
        ]
        with m.If(close):
            m.d.sync += S.eq(s_bits)
    return s_bits, s_nan, s_ovf, ovf_acc
