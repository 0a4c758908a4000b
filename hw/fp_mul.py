"""Exact FP8 x FP8 multiplier: significand product, normalize, pack into the exact product format.

The golden model is :func:`golden.minifloat.fp_mul` with the output format
:func:`golden.minifloat.exact_product_format` (E4M3 x E5M2 -> E6M6 by default); no rounding is
ever needed. See ``docs/blocks/fp_mul.md``.
"""

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.fp_mul import FpMulConfig
from .block import BlockComponent
from .fp_add import leading_zeros, pipeline_control, register_stage

__all__ = ["FpMul", "fp_mul_stage1", "fp_mul_stage2"]


class FpMul(BlockComponent):
    """Exact multiplier of an FP(a_exp, a_man) and an FP(b_exp, b_man) bit pattern.

    Parameters
    ----------
    cfg : :class:`golden.fp_mul.FpMulConfig`, optional
        The validated configuration; keyword arguments build one when it is omitted.

    Members
    -------
    inp : ``In(stream.Signature(StructLayout{a: 1+a_exp+a_man, b: 1+b_exp+b_man}))``
        Operand bit patterns.
    out : ``Out(stream.Signature(StructLayout{bits: width of the product format, nan: 1}))``
        The exact product in ``cfg.fmt_out`` and ``nan`` (NaN operand or Inf * 0).
    nan_seen : ``Out(1)``
        Sticky: set when a result with ``nan`` is transferred; cleared only by reset.

    Timing
    ------
    One product per cycle; ``latency = 1`` (registered output), 2 with ``pipelined`` (the
    significand product is registered before normalization). ``inp.ready`` depends
    combinationally on ``out.ready``.

    Datapath
    --------
    ``P = sig_a * sig_b`` (``a_man + b_man + 2`` bits, subnormal significands taken as they are),
    ``z = ee_a + ee_b - const`` is the exponent of P's LSB counted from the product format's
    smallest subnormal (never negative for the chosen format). A leading-zero count normalizes
    P; its leading bit ``L = z + width(P) - 1 - lz`` gives the biased exponent ``L - m_out + 1``
    of a normal product, and a product with ``L < m_out`` is the subnormal ``P << z``.
    """

    CONFIG = FpMulConfig

    def _members(self, c):
        return {
            "inp": In(stream.Signature(data.StructLayout({"a": c.fmt_a.width,
                                                          "b": c.fmt_b.width}))),
            "out": Out(stream.Signature(data.StructLayout({"bits": c.fmt_out.width,
                                                           "nan": 1}))),
            "nan_seen": Out(1),
        }

    def elaborate(self, platform):
        m = Module()
        adv = pipeline_control(m, self.inp, self.out, self.latency)
        s1 = fp_mul_stage1(m, self._cfg, self.inp.payload.a, self.inp.payload.b)
        if self._cfg.pipelined:
            s1 = register_stage(m, s1, adv[0])
        bits, nan = fp_mul_stage2(m, self._cfg, s1)
        with m.If(adv[-1]):
            m.d.sync += [self.out.payload.bits.eq(bits), self.out.payload.nan.eq(nan)]
        with m.If(self.out.valid & self.out.ready & self.out.payload.nan):
            m.d.sync += self.nan_seen.eq(1)
        return m


def fp_mul_stage1(m, c, a, b):
    """Stage 1 of the exact multiplier (config ``c``: :class:`golden.fp_mul.FpMulConfig`):
    unpack both operands, significand product ``P``, exponent sum, special-value flags."""
    fa, fb = c.fmt_a, c.fmt_b

    def unpack(v, f, tag):
        sign, E, M = v[f.e + f.m], v[f.m:f.m + f.e], v[:f.m]
        ee = Signal(f.e, name=f"{tag}_ee")
        sig = Signal(f.m + 1, name=f"{tag}_sig")
        m.d.comb += [ee.eq(Mux(E == 0, 1, E)), sig.eq(Cat(M, E != 0))]
        special = (E == f.exp_ones) if f.inf_nan else Const(0)
        return sign, ee, sig, (E == 0) & (M == 0), special & (M == 0), special & (M != 0)

    sa, ea, ga, zero_a, inf_a, nan_a = unpack(a, fa, "a")
    sb, eb, gb, zero_b, inf_b, nan_b = unpack(b, fb, "b")
    P = Signal(fa.m + fb.m + 2, name="prod")
    esum = Signal(max(fa.e, fb.e) + 1, name="exp_sum")
    nan = Signal(name="nan_in")
    inf = Signal(name="inf_in")
    m.d.comb += [
        P.eq(ga * gb),
        esum.eq(ea + eb),
        nan.eq(nan_a | nan_b | (inf_a & zero_b) | (inf_b & zero_a)),
        inf.eq(inf_a | inf_b),
    ]
    return {"P": P, "esum": esum, "sign": sa ^ sb, "nan": nan, "inf": inf}


def fp_mul_stage2(m, c, s1):
    """Stage 2: normalize ``P`` and pack the exact product in ``c.fmt_out``; returns
    ``(bits, nan)``."""
    fa, fb, fo = c.fmt_a, c.fmt_b, c.fmt_out
    mo = fo.m
    Wp = fa.m + fb.m + 2                 # == mo + 1
    const = fa.bias + fa.m + fb.bias + fb.m + fo.emin - mo
    P = s1["P"]
    zmax = fa.exp_ones + fb.exp_ones - const
    z = Signal(range(zmax + 1), name="lsb_pos")
    m.d.comb += z.eq(s1["esum"] - const)
    lz = leading_zeros(m, P, Wp, "lz")
    Pn = Signal(Wp, name="prod_norm")
    m.d.comb += Pn.eq((P << lz)[:Wp])
    L = Signal(signed(len(z) + 2), name="lead_pos")
    m.d.comb += L.eq(z + (Wp - 1) - lz)
    mag = Signal(fo.e + mo, name="mag")
    rsh = Signal(range(mo + 2), name="sub_shift")
    m.d.comb += rsh.eq(mo - L)
    with m.If(L >= mo):
        m.d.comb += mag.eq(((L - mo) << mo) + Pn)
    with m.Else():
        m.d.comb += mag.eq(Pn >> rsh)
    bits = Signal(fo.width, name="res_bits")
    nan_code = fo.nan_code if fo.inf_nan else 0
    inf_code = fo.inf_code if fo.inf_nan else 0
    with m.If(s1["nan"]):
        m.d.comb += bits.eq(nan_code)
    with m.Elif(s1["inf"]):
        m.d.comb += bits.eq(Cat(Const(inf_code, fo.e + mo), s1["sign"]))
    with m.Elif(P == 0):
        m.d.comb += bits.eq(Cat(Const(0, fo.e + mo), s1["sign"]))
    with m.Else():
        m.d.comb += bits.eq(Cat(mag, s1["sign"]))
    return bits, s1["nan"]
