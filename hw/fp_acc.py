"""Sequential FP(e, m) dot-product accumulator: one adder, ``S = S + v``.

The golden model is :func:`golden.dga.acc_seq` (:func:`golden.dga.fp_acc_block`); the adder is
the datapath of :class:`hw.fp_add.FpAdd` (:func:`hw.fp_add.fp_add_datapath`), so rounding,
saturation and Inf/NaN handling are those of the verified FP adder. This is the baseline of the
area comparison in ``docs/blocks/dga.md`` (FP12, FP16 and FP32 sequential accumulators against
the FP12 DGA accumulator).
"""

from amaranth import Module, Mux, Signal
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.dga import FpAccConfig
from .block import BlockComponent
from .fp_add import fp_add_datapath

__all__ = ["FpAccumulator"]


class FpAccumulator(BlockComponent):
    """Sequential FP(e, m) accumulator of dot products.

    Parameters
    ----------
    cfg : :class:`golden.dga.FpAccConfig`, optional
        The validated configuration; keyword arguments build one when it is omitted.

    Members
    -------
    inp : ``In(stream.Signature(StructLayout{data: 1+e+m, last: 1}))``
        Addends (bit patterns of the accumulator format) in order; ``last`` marks the final
        addend of a dot product.
    out : ``Out(stream.Signature(StructLayout{bits: 1+e+m, nan: 1, ovf: 1}))``
        One beat per dot product: the sum, ``nan`` (the sum is NaN) and ``ovf`` (some addition
        of this dot product saturated).
    nan_seen, overflow : ``Out(1)``
        Sticky: set when a result with ``nan`` / ``ovf`` is transferred; cleared only by reset.

    Timing
    ------
    One addend per cycle, dot products back to back. With the output always ready the result of
    a dot product whose ``last`` addend is transferred in cycle T is transferred in cycle
    ``T + 1`` (``latency``). ``inp.ready = ~out.valid | out.ready`` (a stalled output holds the
    input).

    Datapath
    --------
    Register ``S`` and a ``first`` bit (no addend of the current dot product yet). Per accepted
    addend ``v`` the adder computes ``(first ? +0 : S) + v`` into ``S``; with ``last`` the same
    sum goes to the output register and ``first`` is set again. The critical path is the
    recurrence ``S -> multiplexer -> FP adder -> S``.
    """

    CONFIG = FpAccConfig

    def _members(self, c):
        w = c.fmt.width
        return {
            "inp": In(stream.Signature(data.StructLayout({"data": w, "last": 1}))),
            "out": Out(stream.Signature(data.StructLayout({"bits": w, "nan": 1, "ovf": 1}))),
            "nan_seen": Out(1),
            "overflow": Out(1),
        }

    def elaborate(self, platform):
        w = self._cfg.fmt.width
        m = Module()
        S = Signal(w, name="acc")
        first = Signal(init=1, name="first")
        ovf_acc = Signal(name="ovf_acc")
        v = self.inp.payload.data
        last = self.inp.payload.last
        take = Signal(name="take")
        m.d.comb += [
            self.inp.ready.eq(~self.out.valid | self.out.ready),
            take.eq(self.inp.valid & self.inp.ready),
        ]
        a_op = Signal(w, name="acc_op")
        m.d.comb += a_op.eq(Mux(first, 0, S))
        m.submodules.adder = adder = Module()
        bits, nan, ovf = fp_add_datapath(self._cfg, adder, a_op, v)
        ovf_dot = (ovf_acc & ~first) | ovf

        with m.If(take):
            m.d.sync += [S.eq(bits), ovf_acc.eq(ovf_dot), first.eq(last)]
            with m.If(last):
                m.d.sync += [
                    self.out.payload.bits.eq(bits),
                    self.out.payload.nan.eq(nan),
                    self.out.payload.ovf.eq(ovf_dot),
                    self.out.valid.eq(1),
                ]
            with m.Elif(self.out.ready):
                m.d.sync += self.out.valid.eq(0)
        with m.Elif(self.out.ready):
            m.d.sync += self.out.valid.eq(0)

        with m.If(self.out.valid & self.out.ready):
            with m.If(self.out.payload.nan):
                m.d.sync += self.nan_seen.eq(1)
            with m.If(self.out.payload.ovf):
                m.d.sync += self.overflow.eq(1)
        return m
