"""Integer dot-product accumulator: sign-extend each addend and add it into a wrapping register.

The golden model is :func:`golden.int_acc.int_accumulate` (wrap-around, per-dot-product
overflow flag); the INT32 baseline of the accumulator comparison in ``docs/blocks/dga.md``.
"""

from amaranth import Module, Mux, Signal
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.int_acc import IntAccConfig

from .block import BlockComponent

__all__ = ["IntAccumulator"]


class IntAccumulator(BlockComponent):
    """``acc_bits``-bit two's-complement accumulator of ``in_bits``-bit addends.

    Parameters
    ----------
    cfg : :class:`golden.int_acc.IntAccConfig`, optional
        The validated configuration; keyword arguments build one when it is omitted.

    Members
    -------
    inp : ``In(stream.Signature(StructLayout{data: in_bits, last: 1}))``
        Addends (two's complement) in order; ``last`` marks the final addend of a dot product.
    out : ``Out(stream.Signature(StructLayout{bits: acc_bits, ovf: 1}))``
        One beat per dot product: the wrapped sum and ``ovf`` (some addition overflowed).
    overflow : ``Out(1)``
        Sticky: set when a result with ``ovf`` is transferred; cleared only by reset.

    Timing
    ------
    One addend per cycle, dot products back to back; the result of a dot product whose ``last``
    addend is transferred in cycle T is transferred in cycle ``T + 1`` (output always ready).
    ``inp.ready = ~out.valid | out.ready``.
    """

    CONFIG = IntAccConfig

    def _members(self, c):
        return {
            "inp": In(stream.Signature(data.StructLayout({"data": c.in_bits, "last": 1}))),
            "out": Out(stream.Signature(data.StructLayout({"bits": c.acc_bits, "ovf": 1}))),
            "overflow": Out(1),
        }

    def elaborate(self, platform):
        c = self._cfg
        n = c.acc_bits
        m = Module()
        S = Signal(n, name="acc")
        first = Signal(init=1, name="first")
        ovf_acc = Signal(name="ovf_acc")
        take = Signal(name="take")
        m.d.comb += [
            self.inp.ready.eq(~self.out.valid | self.out.ready),
            take.eq(self.inp.valid & self.inp.ready),
        ]
        a = Signal(n, name="acc_op")
        v = Signal(n, name="addend")
        s = Signal(n, name="sum")
        m.d.comb += [
            a.eq(Mux(first, 0, S)),
            v.eq(self.inp.payload.data.as_signed()),      # sign extension to acc_bits
            s.eq(a + v),
        ]
        # signed overflow: operands of equal sign, sum of the other sign
        ovf = (a[n - 1] == v[n - 1]) & (s[n - 1] != a[n - 1])
        ovf_dot = (ovf_acc & ~first) | ovf
        with m.If(take):
            m.d.sync += [S.eq(s), ovf_acc.eq(ovf_dot), first.eq(self.inp.payload.last)]
            with m.If(self.inp.payload.last):
                m.d.sync += [self.out.payload.bits.eq(s), self.out.payload.ovf.eq(ovf_dot),
                             self.out.valid.eq(1)]
            with m.Elif(self.out.ready):
                m.d.sync += self.out.valid.eq(0)
        with m.Elif(self.out.ready):
            m.d.sync += self.out.valid.eq(0)
        with m.If(self.out.valid & self.out.ready & self.out.payload.ovf):
            m.d.sync += self.overflow.eq(1)
        return m
