"""IEEE-754 binary32 multiplier with the project's flush-to-zero policy (combinational).

The golden model is :func:`golden.fp32.fp32_mul_bits`; this component is correct when it gives
the same bit pattern for every pair of inputs. The policy (subnormal operands and results flushed
to a signed zero after IEEE rounding, overflow to infinity, canonical NaN) is documented there.
"""

from amaranth import C, Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Fp32Mul"]

_CANONICAL_NAN = 0x7FC0_0000


class Fp32Mul(wiring.Component):
    """Combinational binary32 multiplier, round to nearest even, flush-to-zero.

    Members
    -------
    a, b : ``In(32)``
        Operand bit patterns.
    p : ``Out(32)``
        Bit pattern of the product, ``golden.fp32.fp32_mul_bits(a, b)``.

    Datapath: the exact 48-bit product of the two 24-bit significands, a one-bit normalisation
    (the shifted-out bit goes into the sticky bit), round to nearest even at 24 bits -- at 23 bits
    in the binade ``[2**-127, 2**-126)``, where IEEE's gradual underflow rounds on the subnormal
    grid and only a round-up to ``2**-126`` survives the flush -- and an exponent check for
    overflow (infinity) and underflow (signed zero). Exponents stay unsigned: ``e_sum = ea + eb +
    top`` is the product's biased exponent plus 127.
    """

    a: In(32)
    b: In(32)
    p: Out(32)

    def elaborate(self, platform):
        m = Module()
        sa, ea, ma = self.a[31], self.a[23:31], self.a[:23]
        sb, eb, mb = self.b[31], self.b[23:31], self.b[:23]
        sign = Signal()
        m.d.comb += sign.eq(sa ^ sb)

        # --- operand classes (exponent 0 = zero or flushed subnormal) ------------------------
        a_max, b_max = ea == 0xFF, eb == 0xFF
        a_zero, b_zero = ea == 0, eb == 0
        a_nan, b_nan = a_max & ma.any(), b_max & mb.any()
        a_inf, b_inf = a_max & ~ma.any(), b_max & ~mb.any()
        nan, inf, zero = Signal(), Signal(), Signal()
        m.d.comb += [
            nan.eq(a_nan | b_nan | (a_inf & b_zero) | (a_zero & b_inf)),
            inf.eq((a_inf | b_inf) & ~nan),
            zero.eq((a_zero | b_zero) & ~nan & ~inf),
        ]

        # --- exact product and normalisation -------------------------------------------------
        prod = Signal(48)
        top = Signal()
        norm = Signal(47)                 # product in [2**46, 2**47)
        lost = Signal()
        e_sum = Signal(10)                # biased product exponent + 127, in 2..509
        m.d.comb += [
            prod.eq(Cat(ma, C(1, 1)) * Cat(mb, C(1, 1))),
            top.eq(prod[47]),
            norm.eq(Mux(top, prod[1:48], prod[:47])),
            lost.eq(top & prod[0]),
            e_sum.eq(ea + eb + top),
        ]

        # --- round to nearest even (one bit coarser in the binade below 2**-126) -------------
        sub = Signal()
        q = Signal(24)
        guard, sticky = Signal(), Signal()
        q_r = Signal(25)
        m.d.comb += [
            sub.eq(e_sum == 127),
            q.eq(Mux(sub, norm[24:47], norm[23:47])),
            guard.eq(Mux(sub, norm[23], norm[22])),
            sticky.eq(Mux(sub, norm[:23].any(), norm[:22].any()) | lost),
            q_r.eq(q + (guard & (sticky | q[0]))),
        ]
        carry = Signal()
        e_out = Signal(10)
        m.d.comb += [
            carry.eq(q_r[24]),
            e_out.eq(e_sum + carry - 127),
        ]

        # --- result --------------------------------------------------------------------------
        with m.If(nan):
            m.d.comb += self.p.eq(_CANONICAL_NAN)
        with m.Elif(inf):
            m.d.comb += self.p.eq(Cat(C(0, 23), C(0xFF, 8), sign))
        with m.Elif(zero):
            m.d.comb += self.p.eq(Cat(C(0, 31), sign))
        with m.Elif(e_sum >= 128):                        # normal binades
            with m.If(e_sum + carry >= 127 + 255):
                m.d.comb += self.p.eq(Cat(C(0, 23), C(0xFF, 8), sign))
            with m.Else():
                m.d.comb += self.p.eq(Cat(q_r[:23], e_out[:8], sign))
        with m.Elif(sub):                                 # 2**-126 or flushed
            m.d.comb += self.p.eq(Cat(C(0, 23), q_r[23], C(0, 7), sign))
        with m.Else():
            m.d.comb += self.p.eq(Cat(C(0, 31), sign))
        return m
