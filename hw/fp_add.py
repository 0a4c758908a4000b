"""Parameterized FP(e, m) adder: align with guard/round/sticky, add, normalize, round (RNE/RTZ).

The golden model is :func:`golden.minifloat.fp_add` (format and Inf/NaN/saturation policy in
:mod:`golden.minifloat`); this component is correct when it returns the same bit patterns and
flags, one result per input beat, in order. See ``docs/blocks/fp_add.md``.
"""

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.fp_add import FpAddConfig

from .block import BlockComponent

__all__ = ["FpAdd", "fp_add_stage1", "fp_add_stage2", "fp_add_datapath", "pipeline_control",
           "leading_zeros", "register_stage", "register_values", "widen", "fp_round_addend"]


def register_stage(m, values, enable, prefix="p1"):
    """Register every signal of the dict ``values`` when ``enable`` is high; return the registers
    under the same keys (named ``<prefix>_<key>``). Used between the two stages of a pipelined
    FP operator."""
    regs = {}
    for k, v in values.items():
        r = Signal(len(v), name=f"{prefix}_{k}")
        with m.If(enable):
            m.d.sync += r.eq(v)
        regs[k] = r
    return regs


def register_values(m, values, enable, prefix):
    """:func:`register_stage` for a tuple: each signal registered when ``enable`` is high (``None``
    entries pass through unchanged); returns the registers in the same order. The optional
    product-register stage of every quantizer lane uses it."""
    regs = register_stage(m, {f"{k}": v for k, v in enumerate(values) if v is not None},
                          enable, prefix)
    return tuple(None if v is None else regs[f"{k}"] for k, v in enumerate(values))


def pipeline_control(m, inp, out, stages):
    """Valid/ready control of a ``stages``-deep register pipeline between two streams.

    Stage ``i`` loads new data when ``adv[i]`` is high (it is empty or stage ``i+1`` advances);
    the last stage drives ``out.valid``. Returns ``adv`` (list of enable signals); the data
    registers of stage ``i`` must be loaded under ``m.If(adv[i])``. Throughput is one beat per
    cycle and a stalled output holds every stage.
    """
    valid = [Signal(name=f"stage{i}_valid") for i in range(stages)]
    adv = [Signal(name=f"stage{i}_adv") for i in range(stages)]
    m.d.comb += adv[-1].eq(~valid[-1] | out.ready)
    for i in reversed(range(stages - 1)):
        m.d.comb += adv[i].eq(~valid[i] | adv[i + 1])
    m.d.comb += [inp.ready.eq(adv[0]), out.valid.eq(valid[-1])]
    for i in range(stages):
        with m.If(adv[i]):
            m.d.sync += valid[i].eq(inp.valid if i == 0 else valid[i - 1])
    return adv


def leading_zeros(m, value, width, name):
    """Combinational count of leading zeros of ``value[:width]`` (``width`` when zero)."""
    lz = Signal(range(width + 1), name=name)
    expr = Const(width, range(width + 1))
    for i in range(width):                 # the highest set bit wins
        expr = Mux(value[i], width - 1 - i, expr)
    m.d.comb += lz.eq(expr)
    return lz


def _datapath_format(f, fb):
    """The addend format ``fb`` (``None`` -> ``f``); it must have ``f``'s exponent width and
    Inf/NaN mode and at least its mantissa width (the configs guarantee it)."""
    if fb is None:
        return f
    assert fb.e == f.e and fb.inf_nan == f.inf_nan and fb.m >= f.m, (f, fb)
    return fb


def widen(f, fb, x):
    """The FP(e, m) bit pattern ``x`` as the same value in the wider FP(e, m') ``fb``: the
    exponent field, bias and Inf/NaN encoding are the same, so the pattern is shifted left by
    ``m' - m`` (zero fraction bits below)."""
    k = _datapath_format(f, fb).m - f.m
    return x if k == 0 else Cat(Const(0, k), x)


# --- stage 1: unpack, order, align, add ---------------------------------------------------
def fp_add_stage1(m, f, a, b, fb=None):
    """Stage 1 of the FP(e, m) adder in ``m``: unpack, order, align, add.

    ``f`` is the :class:`golden.minifloat.FpFormat` of ``a`` and of the sum; ``fb`` (default
    ``f``) the addend format of ``b``, FP(e, m') with ``m' >= m``. With a wider addend ``a`` is
    widened to FP(e, m') (:func:`widen`, exact) and the whole stage works in FP(e, m'): its
    guard/round/sticky window is exact for any rounding to ``m <= m'`` bits (the rounding steps
    of the sum are then only coarser). Returns the dict of signals stage 2 needs.
    """
    fd = _datapath_format(f, fb)
    a = widen(f, fd, a)
    f = fd
    e, mb = f.e, f.m
    W = mb + 4                                  # hidden + m + guard/round/sticky
    ones = f.exp_ones

    def unpack(v, tag):
        sign, E, M = v[e + mb], v[mb:mb + e], v[:mb]
        ee = Signal(e, name=f"{tag}_ee")
        sig = Signal(mb + 1, name=f"{tag}_sig")
        m.d.comb += [ee.eq(Mux(E == 0, 1, E)), sig.eq(Cat(M, E != 0))]
        special = (E == ones) if f.inf_nan else Const(0)
        return sign, ee, sig, special & (M == 0), special & (M != 0)

    sa, ea, ga, inf_a, nan_a = unpack(a, "a")
    sb, eb, gb, inf_b, nan_b = unpack(b, "b")
    swap = Signal(name="swap")
    m.d.comb += swap.eq(b[:e + mb] > a[:e + mb])
    sx, ex, gx = Mux(swap, sb, sa), Mux(swap, eb, ea), Mux(swap, gb, ga)
    ey, gy = Mux(swap, ea, eb), Mux(swap, ga, gb)

    d = Signal(e, name="exp_diff")
    dc = Signal(range(W + 1), name="shift")
    m.d.comb += [d.eq(ex - ey), dc.eq(Mux(d > W, W, d))]
    y_full = Signal(W, name="y_full")
    m.d.comb += y_full.eq(gy << 3)
    y_shift = Signal(W, name="y_shift")
    sticky = Signal(name="align_sticky")
    m.d.comb += [
        y_shift.eq(y_full >> dc),
        sticky.eq((y_full & ((Const(1, W + 1) << dc) - 1)[:W]).any()),
    ]
    X = Signal(W, name="x_ext")
    Y = Signal(W, name="y_ext")
    m.d.comb += [X.eq(gx << 3), Y.eq(y_shift | sticky)]
    sub = sa ^ sb
    S = Signal(W + 1, name="sum")
    m.d.comb += S.eq(Mux(sub, X - Y, X + Y))

    nan = Signal(name="nan_in")
    inf = Signal(name="inf_in")
    inf_sign = Signal(name="inf_sign")
    m.d.comb += [
        nan.eq(nan_a | nan_b | (inf_a & inf_b & sub)),
        inf.eq(inf_a | inf_b),
        inf_sign.eq(Mux(inf_a, sa, sb)),
    ]
    return {"S": S, "ex": ex, "sx": sx, "zsign": sa & sb, "nan": nan, "inf": inf,
            "inf_sign": inf_sign}

# --- stage 2: normalize, round, pack, saturate, specials -----------------------------------
def fp_add_stage2(m, f, rounding, s1, fb=None):
    """Stage 2 of the FP(e, m) adder in ``m``: normalize, round (``"rne"``/``"rtz"``) to ``f``,
    pack, saturate, specials. ``fb`` is stage 1's addend format (the sum ``S`` is in its
    ``m' + 5``-bit window); the ``m' - m`` bits below ``f``'s mantissa join the round/sticky
    bits, so the exact sum is rounded once to FP(e, m). Returns ``(bits, nan, ovf)``.
    """
    e, mb = f.e, f.m
    k = _datapath_format(f, fb).m - mb                  # extra fraction bits of the addend
    W = mb + k + 4
    S, ex = s1["S"], s1["ex"]
    carry = S[W]
    lz = leading_zeros(m, S, W, "lz")
    limit = Signal(e, name="lz_limit")
    m.d.comb += limit.eq(ex - 1)
    sh = Signal(range(max(W, 1 << e) + 1), name="norm_shift")
    m.d.comb += sh.eq(Mux(lz > limit, limit, lz))
    N = Signal(W, name="norm")
    ee = Signal(e + 1, name="res_ee")
    with m.If(carry):
        m.d.comb += [N.eq(Cat(S[0] | S[1], S[2:W + 1])), ee.eq(ex + 1)]
    with m.Else():
        m.d.comb += [N.eq((S[:W] << sh)[:W]), ee.eq(ex - sh)]
    n = N[3 + k:W]
    guard, rest = N[2 + k], (N[1] | N[0]) if k == 0 else N[:2 + k].any()
    up = (guard & (rest | n[0])) if rounding == "rne" else Const(0)
    mag = Signal(e + mb + 2, name="mag")
    m.d.comb += mag.eq(((ee - 1) << mb) + n + up)
    ovf = Signal(name="ovf_fin")
    m.d.comb += ovf.eq(mag > f.max_code)
    zero = S == 0
    bits = Signal(f.width, name="res_bits")
    nan_code = f.nan_code if f.inf_nan else 0
    inf_code = f.inf_code if f.inf_nan else 0
    with m.If(s1["nan"]):
        m.d.comb += bits.eq(nan_code)
    with m.Elif(s1["inf"]):
        m.d.comb += bits.eq(Cat(Const(inf_code, e + mb), s1["inf_sign"]))
    with m.Elif(zero):
        m.d.comb += bits.eq(Cat(Const(0, e + mb), s1["zsign"]))
    with m.Elif(ovf):
        m.d.comb += bits.eq(Cat(Const(f.max_code, e + mb), s1["sx"]))
    with m.Else():
        m.d.comb += bits.eq(Cat(mag[:e + mb], s1["sx"]))
    return bits, s1["nan"], ovf & ~s1["nan"] & ~s1["inf"] & ~zero


class FpAdd(BlockComponent):
    """Adder of two FP(e, m) bit patterns with one rounding (RNE or RTZ).

    Parameters
    ----------
    cfg : :class:`golden.fp_add.FpAddConfig`, optional
        The validated configuration; keyword arguments build one when it is omitted.

    Members
    -------
    inp : ``In(stream.Signature(StructLayout{a: 1+e+m, b: 1+e+m'}))``
        Operand bit patterns (``sign | exponent | mantissa``): ``a`` in FP(e, m), ``b`` in the
        addend format FP(e, m') (``m' = addend_man``, default ``m``).
    out : ``Out(stream.Signature(StructLayout{bits: 1+e+m, nan: 1, ovf: 1}))``
        The result's bit pattern, ``nan`` (the result is the canonical NaN) and ``ovf`` (a finite
        result saturated to +-max), exactly as :func:`golden.minifloat.fp_add`.
    nan_seen, overflow : ``Out(1)``
        Sticky: set when a result with ``nan`` / ``ovf`` is transferred; cleared only by reset.

    Timing
    ------
    One result per cycle. With the output always ready the result of an input transferred in
    cycle T is transferred in cycle ``T + latency``; ``latency = 1`` (registered output) or 2 with
    ``pipelined`` (a register between the aligned add and normalize/round). ``inp.ready`` depends
    combinationally on ``out.ready``.

    Datapath
    --------
    With a wider addend, ``a`` is widened to FP(e, m') (exact: ``m' - m`` zero bits) and the
    datapath below runs on ``m'``-bit mantissas; only the final rounding is at ``m`` bits, so
    the exact sum is rounded once. Operands are ordered by magnitude (``|x| >= |y|``), the smaller significand is shifted right
    by the exponent difference into a ``m+4``-bit window (hidden bit, ``m`` fraction bits, guard,
    round, sticky; the bits shifted out are ORed into the sticky bit), added or subtracted, then
    normalized (one right shift on carry-out, else a left shift by the leading-zero count, limited
    so that the exponent does not drop below the subnormal scale), rounded and packed; a packed
    magnitude above the largest finite code saturates.
    """

    CONFIG = FpAddConfig

    def _members(self, c):
        w = c.fmt.width
        return {
            "inp": In(stream.Signature(data.StructLayout({"a": w, "b": c.addend_fmt.width}))),
            "out": Out(stream.Signature(data.StructLayout({"bits": w, "nan": 1, "ovf": 1}))),
            "nan_seen": Out(1),
            "overflow": Out(1),
        }

    def elaborate(self, platform):
        m = Module()
        stages = self.latency
        adv = pipeline_control(m, self.inp, self.out, stages)
        c = self._cfg
        s1 = fp_add_stage1(m, c.fmt, self.inp.payload.a, self.inp.payload.b, c.addend_fmt)
        if c.pipelined:
            s1 = register_stage(m, s1, adv[0])
        bits, nan, ovf = fp_add_stage2(m, c.fmt, c.rounding, s1, c.addend_fmt)
        with m.If(adv[-1]):
            m.d.sync += [self.out.payload.bits.eq(bits), self.out.payload.nan.eq(nan),
                         self.out.payload.ovf.eq(ovf)]
        with m.If(self.out.valid & self.out.ready):
            with m.If(self.out.payload.nan):
                m.d.sync += self.nan_seen.eq(1)
            with m.If(self.out.payload.ovf):
                m.d.sync += self.overflow.eq(1)
        return m


def fp_add_datapath(cfg, m, a, b, fb=None):
    """Combinational FP(e, m) adder (the :class:`FpAdd` datapath, stage 1 + stage 2) in ``m``.

    Parameters
    ----------
    cfg : config with ``fmt`` and ``rounding``
        E.g. :class:`golden.dga.DgaConfig` or :class:`golden.dga.FpAccConfig`.
    m : amaranth.hdl.Module
        The module that receives the combinational logic.
    a, b : Value
        Operand bit patterns: ``a`` in ``cfg.fmt`` (``1 + e + m`` bits), ``b`` in ``fb``.
    fb : FpFormat, optional
        Format of ``b`` (default ``cfg.fmt``); a wider addend format (e.g. the DGA's
        ``cfg.addend_fmt``) makes it the mixed-format adder with one rounding.

    Returns
    -------
    ``(bits, nan, ovf)`` of ``a + b`` rounded to ``cfg.fmt``, exactly
    :func:`golden.minifloat.fp_add`. The accumulators (:mod:`hw.dga`, :mod:`hw.fp_acc`) use
    this so there is one adder implementation.
    """
    return fp_add_stage2(m, cfg.fmt, cfg.rounding, fp_add_stage1(m, cfg.fmt, a, b, fb), fb)


def fp_round_addend(m, f, fb, rounding, v):
    """``+0 + v`` for an addend ``v`` of the wider FP(e, m') ``fb``: ``v`` rounded once to
    ``f`` = FP(e, m) without an adder, exactly :func:`golden.minifloat.fp_add` ``(f, 0, v, fb)``
    (``-0`` gives ``+0``, a NaN the canonical NaN, a finite value above ``f``'s largest
    saturates with ``ovf``). Both formats share the exponent field, so rounding the magnitude
    pattern as an integer (dropping ``m' - m`` bits, RNE or RTZ, the carry running into the
    exponent) is the FP rounding, subnormals included. Returns ``(bits, nan, ovf)``; the
    one-adder DGA loads a group's first addend through it.
    """
    e, mb = f.e, f.m
    k = fb.m - mb
    assert k > 0 and fb.e == e and fb.inf_nan == f.inf_nan, (f, fb)
    sign, E, M = v[e + fb.m], v[fb.m:fb.m + e], v[:fb.m]
    kept = v[k:e + fb.m]
    guard = v[k - 1]
    rest = v[:k - 1].any() if k > 1 else Const(0)
    up = (guard & (rest | kept[0])) if rounding == "rne" else Const(0)
    mag = Signal(e + mb + 1, name="first_mag")
    m.d.comb += mag.eq(kept + up)
    special = (E == f.exp_ones) if f.inf_nan else Const(0)
    nan = Signal(name="first_nan")
    ovf = Signal(name="first_ovf")
    m.d.comb += [nan.eq(special & (M != 0)), ovf.eq(~special & (mag > f.max_code))]
    bits = Signal(f.width, name="first_bits")
    nan_code = f.nan_code if f.inf_nan else 0
    inf_code = f.inf_code if f.inf_nan else 0
    with m.If(nan):
        m.d.comb += bits.eq(nan_code)
    with m.Elif(special):
        m.d.comb += bits.eq(Cat(Const(inf_code, e + mb), sign))
    with m.Elif(ovf):
        m.d.comb += bits.eq(Cat(Const(f.max_code, e + mb), sign))
    with m.Elif(v[:e + fb.m] == 0):
        m.d.comb += bits.eq(0)
    with m.Else():
        m.d.comb += bits.eq(Cat(mag[:e + mb], sign))
    return bits, nan, ovf
