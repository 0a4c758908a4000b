"""Golden FP(e, m) minifloat model against independent oracles.

Oracles: gfloat (``round_ndarray``/``decode_ndarray``, Extended and Finite domains), gmpy2/MPFR
(correctly rounded addition at precision m+1 with subnormalization), apytypes
(``APyFloatArray`` addition, RNE and RTZ) and NumPy ``float16`` (E5M10). Inf/NaN operands are
checked against IEEE float64 arithmetic on the decoded values.
"""

import fractions
import math

import gmpy2
import numpy as np
import pytest
from apytypes import APyFloatArray, APyFloatQuantizationContext, QuantizationMode
from gfloat import FormatInfo, RoundMode, decode_ndarray, encode_ndarray, round_ndarray
from gfloat.types import Domain

from golden.fp_add import FpAddConfig
from golden.fp_mul import FpMulConfig
from golden.params import ConfigError
from golden.minifloat import (FpFormat, classify, decode, encode,
                              exact_product_format, fp_add, fp_mul, fp_round)

RM = {"rne": RoundMode.TiesToEven, "rtz": RoundMode.TowardZero}
FP8 = [FpFormat(4, 3), FpFormat(5, 2), FpFormat(3, 4), FpFormat(2, 5),
       FpFormat(4, 3, False), FpFormat(5, 2, False)]


def gfi(f: FpFormat) -> FormatInfo:
    """The gfloat description of ``f`` (docs/spec.md#decision-d and docs/spec.md#oracles)."""
    if f.inf_nan:
        return FormatInfo(f.name, f.width, f.m + 1, bias=f.bias, is_signed=True,
                          domain=Domain.Extended, has_nz=True, num_high_nans=2 ** f.m - 1,
                          has_subnormals=True, is_twos_complement=False)
    return FormatInfo(f.name, f.width, f.m + 1, bias=f.bias, is_signed=True,
                      domain=Domain.Finite, has_nz=True, num_high_nans=0,
                      has_subnormals=True, is_twos_complement=False)


def wide_exponent(f: FpFormat) -> FormatInfo:
    """Same precision, bias and subnormals as ``f`` with one more exponent bit: rounding there
    is rounding with an unbounded exponent for every value ``f`` can overflow to."""
    return FormatInfo(f.name + "-wide", f.width + 1, f.m + 1, bias=f.bias, is_signed=True,
                      domain=Domain.Extended, has_nz=True, num_high_nans=2 ** f.m - 1,
                      has_subnormals=True, is_twos_complement=False)


def same(got, ref):
    """Element-wise equality of float64 values incl. the sign of zero; NaN equals NaN."""
    got, ref = np.asarray(got), np.asarray(ref)
    return ((got == ref) & (np.signbit(got) == np.signbit(ref))) | (np.isnan(got) & np.isnan(ref))


def ieee_reference(f: FpFormat, exact, specials_from, mode):
    """Oracle result values: gfloat rounding (saturating) of exact finite results, IEEE float64
    semantics where an operand is Inf/NaN. ``exact`` must hold the exact results."""
    fin = np.isfinite(exact) | ~specials_from
    ref = round_ndarray(gfi(f), np.where(np.isfinite(exact), exact, 0.0), RM[mode], sat=True)
    return np.where(fin & np.isfinite(exact), ref, exact)


def check_add_vs_gfloat(f, a, b, mode):
    """Mismatch count of golden ``fp_add`` vs gfloat; the float64 sum must be exact here."""
    assert fp64_sum_is_exact(f), f
    va, vb = decode(f, a), decode(f, b)
    with np.errstate(invalid="ignore"):
        s = va + vb
    special = ~(np.isfinite(va) & np.isfinite(vb))
    ref = ieee_reference(f, s, special, mode)
    r = fp_add(f, a, b, mode)
    got = decode(f, r.bits)
    bad = ~same(got, ref)
    # the flags: nan == result is NaN; ovf == finite operands and |rounded| would exceed max
    bad |= r.nan != np.isnan(got)
    fin = np.isfinite(s)
    with np.errstate(over="ignore", invalid="ignore"):
        unsat = round_ndarray(wide_exponent(f), np.where(fin, s, 0.0), RM[mode])
    ovf_ref = fin & (np.abs(unsat) > f.max_value)
    bad |= r.ovf != ovf_ref
    if f.inf_nan:
        bad |= np.isnan(got) & (r.bits != f.nan_code)
    return int(bad.sum()), r


def fp64_sum_is_exact(f):
    """Whether every sum of two ``f`` values is exact in float64 (span <= 53 bits)."""
    return (f.emax + 1) - (f.emin - f.m) + 1 <= 53


# --- formats and parameters -------------------------------------------------------------------

def test_fp12_constants():
    f = FpFormat(5, 6)
    assert (f.width, f.bias, f.emin, f.emax) == (12, 15, -14, 15)
    assert f.max_value == 65024.0 == gfi(f).max
    assert f.min_subnormal == 2.0 ** -20
    assert f.nan_code == 0x7E0 | 0x20 and f.inf_code == 0x7C0
    g = FpFormat(5, 6, inf_nan=False)
    assert g.max_value == 130048.0 == gfi(g).max
    assert FpFormat(6, 5).max_value == (2 - 2 ** -5) * 2.0 ** 31


@pytest.mark.parametrize("e", range(2, 9))
def test_decode_all_formats_vs_gfloat(e):
    rng = np.random.default_rng(e)
    for m in range(1, 13):
        for inf_nan in (True, False):
            f = FpFormat(e, m, inf_nan)
            codes = f.all_codes() if f.width <= 14 else np.unique(np.concatenate([
                rng.integers(0, 1 << f.width, 20000), np.arange(64), f.mag_mask - np.arange(64),
                f.sign_bit + np.arange(64), (1 << f.width) - 1 - np.arange(64)]))
            assert same(decode(f, codes), decode_ndarray(gfi(f), codes)).all(), f
            assert gfi(f).max == f.max_value and gfi(f).smallest_subnormal == f.min_subnormal


@pytest.mark.parametrize("bad, msg", [
    (dict(e=1, m=6), "FP format parameter e=1 is out of range: allowed values are an integer in 2..8."),
    (dict(e=9, m=6), "FP format parameter e=9 is out of range: allowed values are an integer in 2..8."),
    (dict(e=5, m=0), "FP format parameter m=0 is out of range: allowed values are an integer in 1..23."),
    (dict(e=5, m=24), "FP format parameter m=24 is out of range: allowed values are an integer in 1..23."),
    (dict(e=5.0, m=6), "FP format parameter e=5.0 is invalid: allowed values are an integer in 2..8."),
    (dict(e=5, m=6, inf_nan="yes"), "FP format parameter inf_nan='yes' is invalid: allowed values are true or false."),
])
def test_bad_format(bad, msg):
    with pytest.raises(ConfigError) as exc:
        FpFormat(**bad)
    assert str(exc.value) == msg


def test_bad_rounding_and_operands():
    f = FpFormat(5, 6)
    with pytest.raises(ConfigError, match=r"^rounding mode 'rnd' is invalid: allowed values are rne, rtz\.$"):
        fp_add(f, 1, 2, "rnd")
    with pytest.raises(ConfigError, match=r"^rounding mode 'rna' is invalid"):
        encode(f, 1.0, "rna")
    with pytest.raises(ConfigError, match=r"^E5M6 bit pattern 4096 is out of range: allowed values are 0\.\.4095\.$"):
        fp_add(f, 4096, 0)
    with pytest.raises(ConfigError, match=r"^E5M6 operand has dtype float64"):
        fp_add(f, np.array([1.0]), 0)
    with pytest.raises(ConfigError, match=r"^format E5M6-noinf has no NaN"):
        FpFormat(5, 6, False).nan_code


@pytest.mark.parametrize("cls, bad, msg", [
    (FpAddConfig, dict(exp_bits=1), "fp_add parameter exp_bits=1 is out of range: allowed values are an integer in 2..8."),
    (FpAddConfig, dict(man_bits=0), "fp_add parameter man_bits=0 is out of range: allowed values are an integer in 1..23."),
    (FpAddConfig, dict(rounding="rnd"), "fp_add parameter rounding='rnd' is invalid: allowed values are one of rne, rtz."),
    (FpAddConfig, dict(inf_nan=2), "fp_add parameter inf_nan=2 is invalid: allowed values are true or false."),
    (FpMulConfig, dict(a_exp=1), "fp_mul parameter a_exp=1 is out of range: allowed values are an integer in 2..6."),
    (FpMulConfig, dict(b_man=0), "fp_mul parameter b_man=0 is out of range: allowed values are an integer in 1..5."),
    (FpMulConfig, dict(a_exp=5, a_man=3), "fp_mul operand a format E5M3 is out of range: a_exp + a_man must be at most 7 (an 8-bit float)."),
])
def test_bad_block_params(cls, bad, msg):
    with pytest.raises(ConfigError) as exc:
        cls(**bad)
    assert str(exc.value) == msg


# --- rounding of exact values -----------------------------------------------------------------

def _probe_values(f, rng, n=4000):
    """Exact values around every interesting point: codes, midpoints (ties), +-1/4 ulp,
    random doubles across the range, overflow and underflow neighbourhoods."""
    codes = rng.integers(0, 1 << f.width, n)
    codes = codes[np.isfinite(decode(f, codes))]
    c = classify(f, codes)
    v = decode(f, codes)
    ulp = np.ldexp(1.0, c["q"].astype(np.int64))
    sgn = np.where(v < 0, -1.0, 1.0)
    parts = [v, v + sgn * ulp / 2, v + sgn * ulp / 4, v + sgn * 3 * ulp / 4, v - sgn * ulp / 2,
             np.ldexp(rng.random(n), rng.integers(f.emin - f.m - 3, f.emax + 3, n)) * rng.choice([-1, 1], n),
             np.array([f.max_value * (1 + 2.0 ** -(f.m + 1)), f.max_value * (1 + 2.0 ** -(f.m + 2)),
                       2.0 ** (f.emax + 1), 1e300, f.min_subnormal / 2, f.min_subnormal * 0.75,
                       f.min_subnormal / 4, 0.0, -0.0])]
    x = np.concatenate(parts)
    return np.concatenate([x, -x])


@pytest.mark.parametrize("mode", ["rne", "rtz"])
def test_encode_all_formats_vs_gfloat(mode):
    rng = np.random.default_rng(7)
    n = 0
    for e in range(2, 9):
        for m in range(1, 13):
            for inf_nan in (True, False):
                f = FpFormat(e, m, inf_nan)
                x = _probe_values(f, rng, 600)
                bits, ovf = encode(f, x, mode)
                ref = round_ndarray(gfi(f), x, RM[mode], sat=True)
                assert same(decode(f, bits), ref).all(), (f, mode)
                assert (bits == encode_ndarray(gfi(f), ref).astype(np.int64)).all(), (f, mode)
                n += x.size
    assert n > 500_000


def test_encode_specials():
    f = FpFormat(5, 6)
    bits, ovf = encode(f, [np.inf, -np.inf, np.nan, 1e9, -1e9, -0.0, 65024.0, 65535.0, 65536.0])
    assert list(bits) == [0x7C0, 0xFC0, f.nan_code, 0x7BF, 0xFBF, 0x800, 0x7BF, 0x7BF, 0x7BF]
    assert list(ovf) == [False, False, False, True, True, False, False, True, True]
    # RTZ: a value just below 2**16 rounds to max without overflow, 2**16 overflows
    bits, ovf = encode(f, [65535.0, 65536.0], "rtz")
    assert list(bits) == [0x7BF, 0x7BF] and list(ovf) == [False, True]
    g = FpFormat(5, 6, False)
    bits, ovf = encode(g, [np.inf, 130048.0, 131072.0])
    assert list(bits) == [0x7FF, 0x7FF, 0x7FF] and list(ovf) == [True, False, True]


# --- addition -------------------------------------------------------------------------------

@pytest.mark.parametrize("f", FP8, ids=str)
@pytest.mark.parametrize("mode", ["rne", "rtz"])
def test_add_fp8_exhaustive_vs_gfloat(f, mode):
    a, b = np.meshgrid(f.all_codes(), f.all_codes(), indexing="ij")
    a, b = a.ravel(), b.ravel()
    bad, r = check_add_vs_gfloat(f, a, b, mode)
    assert bad == 0
    assert a.size == 65536


@pytest.mark.parametrize("mode", ["rne", "rtz"])
def test_add_fp12_dense_and_specials(mode):
    """FP12 E5M6: 2,000,000 random pairs plus every special operand against every code,
    checked against gfloat and apytypes."""
    f = FpFormat(5, 6)
    rng = np.random.default_rng(12)
    from sim.blocks.fp_add import special_operands
    sp = special_operands(f)
    sa, sb = np.meshgrid(sp, f.all_codes(), indexing="ij")
    a = np.concatenate([rng.integers(0, 4096, 2_000_000), sa.ravel(), sb.ravel()])
    b = np.concatenate([rng.integers(0, 4096, 2_000_000), sb.ravel(), sa.ravel()])
    bad, r = check_add_vs_gfloat(f, a, b, mode)
    assert bad == 0
    assert apytypes_mismatches(f, a, b, mode, r) == 0
    assert r.ovf.any() and r.nan.any()


def apytypes_mismatches(f, a, b, mode, r):
    """Mismatches of golden results ``r`` vs apytypes; apytypes' Inf from finite operands is
    mapped to the saturated value (our policy), NaNs compare by class."""
    qm = QuantizationMode.TIES_EVEN if mode == "rne" else QuantizationMode.TO_ZERO
    with APyFloatQuantizationContext(qm):
        s = APyFloatArray.from_bits(a, f.e, f.m) + APyFloatArray.from_bits(b, f.e, f.m)
    ref = np.asarray(s.to_bits()).astype(np.int64)
    ca, cb, cr = classify(f, a), classify(f, b), classify(f, ref)
    fin = ~(ca["inf"] | ca["nan"] | cb["inf"] | cb["nan"])
    ref = np.where(fin & cr["inf"], (ref & f.sign_bit) | f.max_code, ref)
    bad = (ref != r.bits) & ~(cr["nan"] & r.nan)
    return int(bad.sum())


def gmpy2_add(f, a, b, mode):
    """Correctly rounded ``a + b`` by MPFR (precision m+1, subnormalized), saturated by hand."""
    ctx = gmpy2.context(precision=f.m + 1, emin=2 - f.bias - f.m,
                        emax=f.emax + 1, subnormalize=True,
                        round=gmpy2.RoundToNearest if mode == "rne" else gmpy2.RoundToZero)
    va, vb = decode(f, a), decode(f, b)
    out = np.empty(len(va))
    with gmpy2.context(ctx):
        for i, (x, y) in enumerate(zip(va.tolist(), vb.tolist())):
            s = gmpy2.mpfr(x) + gmpy2.mpfr(y)
            if gmpy2.is_zero(s) and x == -y and x != 0:
                s = gmpy2.mpfr(0.0)          # MPFR follows IEEE too; keep the +0 explicit
            v = float(s)
            if math.isinf(v) and math.isfinite(x) and math.isfinite(y):
                v = math.copysign(f.max_value, v)
            out[i] = v
    return out


@pytest.mark.parametrize("fmt", [(5, 6, True), (6, 5, True), (4, 3, True), (5, 10, True),
                                 (8, 12, True), (8, 7, True), (2, 1, True), (3, 12, True),
                                 (5, 6, False), (6, 5, False), (8, 12, False), (8, 23, True),
                                 (8, 23, False), (5, 16, True)],
                         ids=lambda t: f"E{t[0]}M{t[1]}{'' if t[2] else '-noinf'}")
@pytest.mark.parametrize("mode", ["rne", "rtz"])
def test_add_vs_gmpy2(fmt, mode):
    """Formats whose sums are not exact in float64 (E6M5, E8M12, ...) are checked here."""
    f = FpFormat(*fmt)
    rng = np.random.default_rng(fmt[0] * 100 + fmt[1])
    from sim.blocks.fp_add import random_operands
    a, b = random_operands(f, 6000, rng)
    va, vb = decode(f, a), decode(f, b)
    fin = np.isfinite(va) & np.isfinite(vb)
    a, b = a[fin], b[fin]
    got = decode(f, fp_add(f, a, b, mode).bits)
    ref = gmpy2_add(f, a, b, mode)
    assert same(got, ref).all(), np.flatnonzero(~same(got, ref))[:5]


@pytest.mark.parametrize("f", [FpFormat(6, 1), FpFormat(6, 1, False)], ids=str)
def test_add_e6m1_exhaustive_vs_gmpy2(f):
    """An FP8 format whose sums are not exact in float64: all finite pairs against MPFR."""
    codes = f.all_codes()[np.isfinite(decode(f, f.all_codes()))]
    a, b = np.meshgrid(codes, codes, indexing="ij")
    a, b = a.ravel(), b.ravel()
    for mode in ("rne", "rtz"):
        assert same(decode(f, fp_add(f, a, b, mode).bits), gmpy2_add(f, a, b, mode)).all()


def test_add_e5m10_vs_float16():
    f = FpFormat(5, 10)
    rng = np.random.default_rng(16)
    from sim.blocks.fp_add import random_operands, special_operands
    a, b = random_operands(f, 1_000_000, rng)
    sp = special_operands(f)
    sa, sb = np.meshgrid(sp, sp, indexing="ij")
    a, b = np.concatenate([a, sa.ravel()]), np.concatenate([b, sb.ravel()])
    ha, hb = a.astype(np.uint16).view(np.float16), b.astype(np.uint16).view(np.float16)
    with np.errstate(over="ignore", invalid="ignore"):
        h = ha + hb
    fin = np.isfinite(ha) & np.isfinite(hb)
    h = np.where(fin & np.isinf(h), np.copysign(np.float16(65504.0), h), h)
    ref = h.view(np.uint16).astype(np.int64)
    r = fp_add(f, a, b)
    bad = (r.bits != ref) & ~(np.isnan(h) & r.nan)
    assert not bad.any()


def test_add_e8m23_vs_float32():
    """FP32 E8M23 (``man_bits`` extended to 23): 1,000,000 pairs of :func:`random_operands`
    (ties, cancellations, near-saturation, specials), every special x every special and every
    special x 40,000 random codes, bit-exact against NumPy ``float32`` addition (RNE).

    Policy mapping: IEEE turns a finite overflow into +-Inf where our policy saturates to +-max
    and sets ``ovf``, so a float32 Inf from finite operands is mapped to +-max (and must coincide
    with ``ovf``); every NaN compares by class (our NaN is canonical, NumPy's payload varies)."""
    f = FpFormat(8, 23)
    rng = np.random.default_rng(32)
    from sim.blocks.fp_add import random_operands, special_operands
    a, b = random_operands(f, 1_000_000, rng)
    sp = special_operands(f)
    sa, sb = np.meshgrid(sp, sp, indexing="ij")
    codes = rng.integers(0, 1 << 32, 40_000)
    ca, cb = np.meshgrid(sp, codes, indexing="ij")
    a = np.concatenate([a, sa.ravel(), ca.ravel(), cb.ravel()])
    b = np.concatenate([b, sb.ravel(), cb.ravel(), ca.ravel()])
    ha, hb = a.astype(np.uint32).view(np.float32), b.astype(np.uint32).view(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        h = ha + hb
    fin = np.isfinite(ha) & np.isfinite(hb)
    sat = fin & np.isinf(h)
    h = np.where(sat, np.copysign(np.float32(f.max_value), h), h)
    ref = h.view(np.uint32).astype(np.int64)
    r = fp_add(f, a, b)
    bad = (r.bits != ref) & ~(np.isnan(h) & r.nan)
    assert not bad.any(), np.flatnonzero(bad)[:5]
    assert (r.ovf == sat).all() and (r.nan == np.isnan(h)).all()
    assert sat.sum() > 1000 and r.nan.sum() > 1000
    sub = (np.abs(h) < np.finfo(np.float32).tiny) & (h != 0)
    assert sub.sum() > 100                             # subnormal results are exercised


def test_add_signed_zero_nan_inf_policy():
    f = FpFormat(5, 6)
    one, neg_one, pz, nz = 0x3C0, 0xBC0, 0x000, 0x800
    inf, ninf = 0x7C0, 0xFC0
    for mode in ("rne", "rtz"):
        r = fp_add(f, [one, pz, nz, pz, nz, inf, inf, ninf, 0x7C1, 0xFFF, inf],
                   [neg_one, nz, nz, pz, pz, ninf, one, 0x7BF, one, inf, inf], mode)
        assert list(r.bits) == [pz, pz, nz, pz, pz, f.nan_code, inf, ninf, f.nan_code,
                                f.nan_code, inf]
        assert list(r.nan) == [False] * 5 + [True, False, False, True, True, False]
        assert not r.ovf.any()
    r = fp_add(f, [0x7BF, 0xFBF, 0x7BF], [0x7BF, 0xFBF, 0x3C0])
    assert list(r.bits) == [0x7BF, 0xFBF, 0x7BF] and list(r.ovf) == [True, True, False]


def test_rtz_add_vs_fractions():
    """The spec's RTZ reference: exact Fraction sum truncated toward zero."""
    f = FpFormat(5, 6)
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 0x7C0, 3000), rng.integers(0, 0x7C0, 3000)
    b = b | (rng.integers(0, 2, 3000) << 11)
    got = decode(f, fp_add(f, a, b, "rtz").bits)
    grid = np.sort(np.abs(decode(f, np.arange(0x7C0))))
    for x, y, g in zip(decode(f, a), decode(f, b), got):
        s = fractions.Fraction(x) + fractions.Fraction(y)
        k = np.searchsorted(grid, float(abs(s)), side="right") - 1
        cand = grid[k]
        while fractions.Fraction(cand) > abs(s):
            k -= 1
            cand = grid[k]
        assert abs(g) == cand and (s == 0 or math.copysign(1, g) == (1 if s > 0 else -1))


def _mutant_add_no_sticky(f, a, b, mode):
    """A deliberately wrong adder: the smaller operand is aligned into a guard+round window of
    two bits and the bits shifted out are dropped (the sticky bit is missing)."""
    ca, cb = classify(f, a), classify(f, b)
    swap = (b & f.mag_mask) > (a & f.mag_mask)
    x = {k: np.where(swap, cb[k], ca[k]) for k in ("sign", "sig", "q")}
    y = {k: np.where(swap, ca[k], cb[k]) for k in ("sign", "sig", "q")}
    d = x["q"] - y["q"]
    dd = np.minimum(d, 2)
    X = x["sig"] << dd
    Y = y["sig"] >> (d - dd)
    S = np.where(x["sign"] != y["sign"], X - Y, X + Y)
    sign = np.where(S == 0, ca["sign"] & cb["sign"], x["sign"])
    return fp_round(f, sign, S, x["q"] - dd, mode)[0]


@pytest.mark.parametrize("mode", ["rne", "rtz"])
def test_mutation_dropped_sticky_is_caught(mode):
    f = FpFormat(4, 3)
    a, b = np.meshgrid(f.all_codes(), f.all_codes(), indexing="ij")
    a, b = a.ravel(), b.ravel()
    va, vb = decode(f, a), decode(f, b)
    fin = np.isfinite(va) & np.isfinite(vb)
    a, b = a[fin], b[fin]
    ref = round_ndarray(gfi(f), decode(f, a) + decode(f, b), RM[mode], sat=True)
    wrong = ~same(decode(f, _mutant_add_no_sticky(f, a, b, mode)), ref)
    assert wrong.sum() > 100          # the oracle test would fail on this mutant
    assert same(decode(f, fp_add(f, a, b, mode).bits), ref).all()


# --- multiplication -------------------------------------------------------------------------

MUL_PAIRS = [((4, 3), (4, 3)), ((4, 3), (5, 2)), ((5, 2), (5, 2)), ((2, 5), (6, 1))]


@pytest.mark.parametrize("pair", MUL_PAIRS, ids=lambda p: f"E{p[0][0]}M{p[0][1]}xE{p[1][0]}M{p[1][1]}")
@pytest.mark.parametrize("inf_nan", [True, False])
def test_mul_fp8_exhaustive_exact(pair, inf_nan):
    fa, fb = FpFormat(*pair[0], inf_nan), FpFormat(*pair[1], inf_nan)
    fo = exact_product_format(fa, fb)
    a, b = np.meshgrid(fa.all_codes(), fb.all_codes(), indexing="ij")
    a, b = a.ravel(), b.ravel()
    r = fp_mul(fa, a, fb, b)
    with np.errstate(invalid="ignore"):
        p = decode(fa, a) * decode(fb, b)            # exact in float64
    assert same(decode(fo, r.bits), p).all()
    fin = np.isfinite(p)
    ref = encode_ndarray(gfi(fo), round_ndarray(gfi(fo), p[fin], RoundMode.TiesToEven))
    assert (ref.astype(np.int64) == r.bits[fin]).all()
    assert (r.nan == np.isnan(p)).all() and not r.ovf.any()
    if inf_nan:
        assert (r.bits[np.isnan(p)] == fo.nan_code).all()


@pytest.mark.parametrize("mode", ["rne", "rtz"])
def test_mul_rounded_to_fp12_vs_gfloat(mode):
    """General multiplication: E4M3 x E5M2 rounded once into FP12 E5M6 (with saturation)."""
    fa, fb, fo = FpFormat(4, 3), FpFormat(5, 2), FpFormat(5, 6)
    a, b = np.meshgrid(fa.all_codes(), fb.all_codes(), indexing="ij")
    a, b = a.ravel(), b.ravel()
    with np.errstate(invalid="ignore"):
        p = decode(fa, a) * decode(fb, b)
    special = ~(np.isfinite(decode(fa, a)) & np.isfinite(decode(fb, b)))
    ref = ieee_reference(fo, p, special, mode)
    r = fp_mul(fa, a, fb, b, fo, mode)
    assert same(decode(fo, r.bits), ref).all()
    assert r.ovf.any()


def test_product_formats():
    assert exact_product_format(FpFormat(4, 3), FpFormat(4, 3)) == FpFormat(5, 7)
    assert exact_product_format(FpFormat(4, 3), FpFormat(5, 2)) == FpFormat(6, 6)
    assert exact_product_format(FpFormat(5, 2), FpFormat(5, 2)) == FpFormat(6, 5)
    assert exact_product_format(FpFormat(4, 3, False), FpFormat(4, 3, False)) == FpFormat(6, 7, False)
    with pytest.raises(ConfigError, match="disagree on inf_nan"):
        exact_product_format(FpFormat(4, 3), FpFormat(5, 2, False))


# --- exhaustive FP12 (slow) -----------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("mode", ["rne", "rtz"])
@pytest.mark.parametrize("inf_nan", [True, False])
def test_add_fp12_exhaustive(mode, inf_nan):
    """All 2**24 operand pairs of FP12 E5M6 against gfloat (and apytypes for the IEEE mode)."""
    f = FpFormat(5, 6, inf_nan)
    codes = f.all_codes()
    for hi in range(0, 4096, 512):
        a, b = np.meshgrid(codes[hi:hi + 512], codes, indexing="ij")
        a, b = a.ravel(), b.ravel()
        bad, r = check_add_vs_gfloat(f, a, b, mode)
        assert bad == 0, hi
        if inf_nan:
            assert apytypes_mismatches(f, a, b, mode, r) == 0, hi


# --- mixed-format addition: FP(e, m) accumulator + FP(e', m') addend, one rounding --------------

def check_mixed_vs_gfloat(f, fb, a, b, mode):
    """Mismatch count of golden ``fp_add(f, a, b, mode, fb)`` (``a`` in ``f``, ``b`` in ``fb``)
    against gfloat rounding of the exact float64 sum to ``f``, flags included."""
    span = max(f.emax, fb.emax) + 1 - min(f.emin - f.m, fb.emin - fb.m) + 1
    assert span <= 53, (f, fb)                         # the float64 sum is exact
    va, vb = decode(f, a), decode(fb, b)
    with np.errstate(invalid="ignore"):
        s = va + vb
    special = ~(np.isfinite(va) & np.isfinite(vb))
    ref = ieee_reference(f, s, special, mode)
    r = fp_add(f, a, b, mode, fb)
    got = decode(f, r.bits)
    bad = ~same(got, ref)
    bad |= r.nan != np.isnan(got)
    fin = np.isfinite(s)
    with np.errstate(over="ignore", invalid="ignore"):
        unsat = round_ndarray(wide_exponent(f), np.where(fin, s, 0.0), RM[mode])
    bad |= r.ovf != (fin & (np.abs(unsat) > f.max_value))
    if f.inf_nan:
        bad |= np.isnan(got) & (r.bits != f.nan_code)
    return int(bad.sum()), r


def frac_round(f, x, mode):
    """Independent oracle: the Fraction ``x`` rounded to ``f`` (RNE or RTZ), saturating;
    returns ``(Fraction magnitude, sign, ovf)``."""
    ax, sign = abs(x), int(x < 0)
    if ax == 0:
        return fractions.Fraction(0), sign, False
    e = ax.numerator.bit_length() - ax.denominator.bit_length()
    if fractions.Fraction(2) ** e > ax:
        e -= 1
    quantum = fractions.Fraction(2) ** (max(e, f.emin) - f.m)
    n = ax / quantum
    fl = n.numerator // n.denominator
    rem = n - fl
    if mode == "rne" and (rem > fractions.Fraction(1, 2) or (rem == fractions.Fraction(1, 2) and fl % 2)):
        fl += 1
    r = fl * quantum
    maxv = fractions.Fraction(f.max_value)
    return (maxv, sign, True) if r > maxv else (r, sign, False)


MIXED_SMALL = [(FpFormat(3, 3), FpFormat(3, 2)), (FpFormat(4, 4), FpFormat(4, 3)),
               (FpFormat(4, 5), FpFormat(4, 3, True)), (FpFormat(4, 4, False), FpFormat(4, 3, False)),
               (FpFormat(4, 3), FpFormat(3, 2)), (FpFormat(4, 4), FpFormat(3, 2))]


@pytest.mark.parametrize("fb, f", MIXED_SMALL, ids=lambda x: str(x))
@pytest.mark.parametrize("mode", ["rne", "rtz"])
def test_add_mixed_small_exhaustive_vs_gfloat(f, fb, mode):
    """Every (accumulator, addend) pair of small mixed formats (the last two: a wider addend
    exponent, which only the golden function accepts) against gfloat."""
    a, b = np.meshgrid(f.all_codes(), fb.all_codes(), indexing="ij")
    bad, r = check_mixed_vs_gfloat(f, fb, a.ravel(), b.ravel(), mode)
    assert bad == 0
    assert r.ovf.any()


@pytest.mark.parametrize("mode", ["rne", "rtz"])
def test_add_mixed_e3m3_e3m2_exhaustive_vs_fractions(mode):
    """E3M2 accumulator + E3M3 addend: all 8,192 pairs against exact Fraction arithmetic."""
    f, fb = FpFormat(3, 2), FpFormat(3, 3)
    a, b = np.meshgrid(f.all_codes(), fb.all_codes(), indexing="ij")
    a, b = a.ravel(), b.ravel()
    r = fp_add(f, a, b, mode, fb)
    ca, cb = classify(f, a), classify(fb, b)
    checked = 0
    for i in range(a.size):
        if ca["inf"][i] or ca["nan"][i] or cb["inf"][i] or cb["nan"][i]:
            continue
        va = (-1) ** int(ca["sign"][i]) * int(ca["sig"][i]) * fractions.Fraction(2) ** int(ca["q"][i])
        vb = (-1) ** int(cb["sign"][i]) * int(cb["sig"][i]) * fractions.Fraction(2) ** int(cb["q"][i])
        mag, sign, ovf = frac_round(f, va + vb, mode)
        if va + vb == 0:
            sign = int(ca["sign"][i] & cb["sign"][i])
        c = classify(f, r.bits[i])
        got = int(c["sig"]) * fractions.Fraction(2) ** int(c["q"])
        assert (got, int(c["sign"]), bool(r.ovf[i])) == (mag, sign, ovf), (hex(a[i]), hex(b[i]))
        checked += 1
    fin = ~(ca["inf"] | ca["nan"] | cb["inf"] | cb["nan"])
    assert checked == int(fin.sum()) == 56 * 112


def _e5m7_e5m6_pairs(rng, n):
    """``n`` random E5M6 x E5M7 pairs plus every special operand of each format against every
    code of the other (the corner classes: zeros, subnormal/normal boundary, max, Inf, NaN)."""
    from sim.blocks.fp_add import special_operands
    f, fb = FpFormat(5, 6), FpFormat(5, 7)
    sa, cb = np.meshgrid(special_operands(f), fb.all_codes(), indexing="ij")
    ca, sb = np.meshgrid(f.all_codes(), special_operands(fb), indexing="ij")
    a = np.concatenate([rng.integers(0, 1 << 12, n), sa.ravel(), ca.ravel()])
    b = np.concatenate([rng.integers(0, 1 << 13, n), cb.ravel(), sb.ravel()])
    return f, fb, a, b


@pytest.mark.parametrize("mode", ["rne", "rtz"])
@pytest.mark.parametrize("inf_nan", [True, False])
def test_add_mixed_e5m7_e5m6_random_and_corners(mode, inf_nan):
    """E5M7 addends into E5M6: 10**6 random pairs plus the corner classes, vs gfloat."""
    f, fb, a, b = _e5m7_e5m6_pairs(np.random.default_rng(57), 1_000_000)
    f, fb = FpFormat(5, 6, inf_nan), FpFormat(5, 7, inf_nan)
    bad, r = check_mixed_vs_gfloat(f, fb, a, b, mode)
    assert bad == 0
    assert r.ovf.any() and (r.nan.any() or not inf_nan)


def _double_rounding_add(f, fb, a, b, mode):
    """A deliberately wrong mixed adder: the addend is first rounded to ``f``, then added (two
    roundings)."""
    b6, _ = encode(f, decode(fb, b), mode)
    return fp_add(f, a, b6, mode)


@pytest.mark.parametrize("mode", ["rne", "rtz"])
def test_mutation_double_rounding_is_caught(mode):
    f, fb, a, b = _e5m7_e5m6_pairs(np.random.default_rng(3), 200_000)
    va, vb = decode(f, a), decode(fb, b)
    fin = np.isfinite(va) & np.isfinite(vb)
    a, b = a[fin], b[fin]
    ref = round_ndarray(gfi(f), decode(f, a) + decode(fb, b), RM[mode], sat=True)
    wrong = ~same(decode(f, _double_rounding_add(f, fb, a, b, mode).bits), ref)
    assert wrong.sum() > 1000           # the oracle test would fail on this mutant
    assert same(decode(f, fp_add(f, a, b, mode, fb).bits), ref).all()


def test_mixed_format_checks():
    with pytest.raises(ConfigError, match="disagree on inf_nan"):
        fp_add(FpFormat(5, 6), 0, 0, "rne", FpFormat(5, 7, False))
    with pytest.raises(ConfigError, match="E5M7 bit pattern 8192 is out of range"):
        fp_add(FpFormat(5, 6), 0, 8192, "rne", FpFormat(5, 7))
    assert fp_add(FpFormat(5, 6), 0, 8191, "rne", FpFormat(5, 7)).nan.all()
    with pytest.raises(ConfigError, match=r"addend_man=5 is out of range: allowed values are 0 "
                                          r"or an integer in 6\.\.23"):
        FpAddConfig(addend_man=5)
    assert FpAddConfig(addend_man=6).module_name == FpAddConfig().module_name
    assert FpAddConfig(addend_man=7).module_name.endswith("_am7")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["rne", "rtz"])
def test_add_mixed_e5m7_e5m6_exhaustive(mode):
    """All 2**27 (E5M6, E5M7) pairs against gfloat."""
    f, fb = FpFormat(5, 6), FpFormat(5, 7)
    codes = fb.all_codes()
    for hi in range(0, 4096, 256):
        a, b = np.meshgrid(f.all_codes()[hi:hi + 256], codes, indexing="ij")
        bad, _ = check_mixed_vs_gfloat(f, fb, a.ravel(), b.ravel(), mode)
        assert bad == 0, hi
