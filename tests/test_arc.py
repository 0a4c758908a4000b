"""ARC: z-score clip value, on-chip statistics and RTZ quantizer lanes, golden vs oracles vs hardware.

Ladder
------
1. golden clip rule vs an independent oracle: ``scipy.stats.zscore(ddof=1)`` on the finite,
   flushed float64 values, plus the float64 transcription of docs/spec.md#arc-float64;
2. golden statistics-unit arithmetic vs exact rational sums (``fractions.Fraction``), per-element
   floors for values below the window and NumPy comparisons for pass 2;
3. golden ARC lane vs the spec's (docs/spec.md#arc-float64) ``arc_quant`` written with NumPy float32 operations;
4. degenerate tensors and the adaptive rule;
5. :class:`hw.arc_stats.ArcStats` and :class:`hw.arc_quantizer.ArcQuantizer` in the Amaranth
   simulator with random gaps and stalls, and against the cycle models without them; the whole
   host/device chain (pass 1, host thresholds, pass 2, quantizer);
6. emitted Verilog under cocotb: statistics unit on Icarus, quantizer on Verilator (the generic
   ladder in ``tests/test_ladder.py`` adds both simulators and the iCE40 netlist for each);
7. mutation checks: wrong clip rules must fail the oracle; a wrong fixed-point unit must fail the hardware
   scoreboard.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from scipy import stats as sps

import golden.arc as garc
from golden.arc import (Z_STAR, _check_z, adaptive_mode, arc_quantize, arc_scale, clip_value,
                        dead_zone_thresholds, default_ebase, host_thresholds)
from golden.arc_quantizer import ArcQuantizerConfig, arc_quantize_bits, clip_bits
from golden.arc_stats import INF_BITS, NEG_INF_BITS, ArcStatsConfig, stats_accumulate
from golden.fp32 import flush_bits, from_bits, to_bits
from golden.params import ConfigError
from hw.arc_quantizer import ArcQuantizer
from hw.arc_stats import ArcStats
from sim.amaranth_harness import layouts_of, run_amaranth
from sim.blocks.arc_quantizer import beats_scenario as q_scenario
from sim.blocks.arc_stats import gradient_bits, host_scenario
from sim.blocks.arc_stats import tensors_scenario as s_scenario
from sim.blocks.quantizer import special_bits

from .conftest import require

# --------------------------------------------------------------------------------------------
# Oracles and stimulus
# --------------------------------------------------------------------------------------------


def clip_value_float64(g32, z: float = Z_STAR) -> np.float32:
    """Test-only oracle: the spec's (docs/spec.md#arc-float64) ``arc_clip_value`` in float64, with this module's non-finite policy.

    NaN/Inf are dropped, subnormals flushed, ``np.std(ddof=1)`` (``sd = 0`` for one element), and
    ``max |g|`` over finite elements when nothing is an inlier. Raises for an empty tensor.
    """
    z = _check_z(z)
    g = from_bits(flush_bits(to_bits(np.asarray(g32, dtype=np.float32).reshape(-1))))
    if g.size == 0:
        raise ConfigError("arc input tensor is empty: at least one element is needed.")
    g = g[np.isfinite(g)].astype(np.float64)
    if g.size == 0:
        return np.float32(0)
    mu = g.mean()
    sd = g.std(ddof=1) if g.size > 1 else 0.0
    inlier = np.abs(g - mu) <= z * sd
    c = np.max(np.abs(g[inlier])) if inlier.any() else np.max(np.abs(g))
    return np.float32(c)


def oracle_clip(g32, z=3.0):
    """Independent clip rule: SciPy z-scores (ddof=1) of the finite, flushed values."""
    with np.errstate(invalid="ignore"):
        g = from_bits(flush_bits(to_bits(np.asarray(g32, np.float32).reshape(-1))))
        g = g.astype(np.float64)
    g = g[np.isfinite(g)]
    if g.size == 0:
        return np.float32(0)
    if g.size == 1 or np.all(g == g[0]):
        return np.float32(abs(g[0]))
    zs = sps.zscore(g, ddof=1)
    inl = np.abs(zs) <= z
    return np.float32(np.max(np.abs(g[inl])) if inl.any() else np.max(np.abs(g)))


def tensors(rng):
    """Named test tensors: the distributions of the study plus small sizes."""
    out = {}
    for n in (2, 3, 10, 257, 5000):
        out[f"gauss{n}"] = rng.standard_normal(n) * 1e-3
        out[f"laplace{n}"] = rng.laplace(size=n) * 3e-5
        out[f"t2_{n}"] = rng.standard_t(2, size=n) * 0.2
        g = rng.standard_normal(n) * 1e-2
        k = max(1, n // 200)
        g[rng.choice(n, k, replace=False)] *= 40
        out[f"outliers{n}"] = g
        out[f"mean_shift{n}"] = rng.standard_normal(n) + 5.0
    return {k: v.astype(np.float32) for k, v in out.items()}


CFG = ArcStatsConfig()

# --------------------------------------------------------------------------------------------
# 1. parameters and errors
# --------------------------------------------------------------------------------------------

BAD = [
    (lambda: ArcStatsConfig(lanes=0), "arc_stats parameter lanes=0 is out of range: allowed values "
                                      "are an integer in 1..16."),
    (lambda: ArcStatsConfig(window=41), "arc_stats parameter window=41 is out of range"),
    (lambda: ArcStatsConfig(count_bits=3), "arc_stats parameter count_bits=3 is out of range"),
    (lambda: ArcQuantizerConfig(adaptive="yes"), "arc_quantizer parameter adaptive='yes' is invalid"),
    (lambda: ArcQuantizer(lanes=65), "arc_quantizer parameter lanes=65 is out of range"),
    (lambda: ArcStats(window=0), "arc_stats parameter window=0 is out of range"),
    (lambda: arc_quantize(np.zeros(0, np.float32)),
     "arc input tensor is empty: at least one element is needed."),
    (lambda: clip_value_float64(np.zeros(0, np.float32)),
     "arc input tensor is empty: at least one element is needed."),
    (lambda: arc_quantize(np.ones(3)), "arc input has dtype float64: expected float32."),
    (lambda: arc_quantize(np.ones(3, np.float32), z=0), "arc z-score threshold z=0 is invalid"),
    (lambda: arc_quantize(np.ones(3, np.float32), z=float("nan")), "arc z-score threshold z=nan"),
    (lambda: arc_quantize(np.ones(3, np.float32), rounding="sr"),
     "arc rounding 'sr' is invalid: allowed values are rtz, rne, adaptive."),
    (lambda: arc_quantize(np.ones(3, np.float32), rounding="adaptive", rho=1.5),
     "arc adaptive threshold rho=1.5 is out of range"),
    (lambda: clip_value(CFG, [0x3F80_0000], ebase=256),
     "arc_stats register ebase=256 is out of range: allowed values are 0..255."),
    (lambda: arc_quantize_bits([0], 0, 0, "sr"), "arc lane mode 'sr' is invalid"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_parameters_rejected(i):
    fn, msg = BAD[i]
    with pytest.raises(ConfigError) as e:
        fn()
    assert msg in str(e.value)
    assert str(e.value).endswith(".")


def test_config_widths_and_names():
    c = ArcStatsConfig()
    assert (c.lanes, c.window, c.count_bits) == (1, 12, 20)
    assert (c.fix_width, c.sq_width, c.sum_width, c.sumsq_width) == (35, 70, 56, 90)
    assert c.module_name == "arc_stats_l1_w12_n20" and c.latency == 2
    q = ArcQuantizerConfig()
    assert q.module_name == "arc_quantizer_l2_a0_p1_b8" and q.latency == 2
    assert "rne" not in ArcQuantizer(q).signature.members
    assert "rne" in ArcQuantizer(adaptive=True).signature.members


# --------------------------------------------------------------------------------------------
# 2. clip rule against the oracle
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("z", [2.0, 3.0, 4.0])
def test_clip_value_matches_scipy_zscore(z):
    rng = np.random.default_rng(int(z * 10))
    checked = 0
    for name, g in tensors(rng).items():
        want = oracle_clip(g, z)
        got = clip_value(CFG, to_bits(g), z)
        assert got.c == want, (name, got.c, want)
        assert clip_value_float64(g, z) == want, name
        assert not got.fallback
        checked += 1
    assert checked == 25


def test_clip_value_with_specials_and_windows():
    """Gradient mixes with NaN, Inf, subnormals and extremes; several window widths and first
    guesses of ``ebase`` (the ``over`` retry and truncated ``under`` elements)."""
    rng = np.random.default_rng(5)
    for k in range(30):
        b = gradient_bits(rng, int(rng.integers(5, 400)), scale=10.0 ** rng.uniform(-6, 1))
        b = b[((b >> 23) & 0xFF) != 0xFE]           # keep clear of the float32 overflow edge
        g = from_bits(b)
        cfg = ArcStatsConfig(window=int(rng.choice([4, 12, 24])))
        eb = int(rng.integers(0, 250)) if k % 2 else None
        info = clip_value(cfg, b, 3.0, eb)
        assert not info.pass1.over
        if not info.pass1.under:
            assert info.c == oracle_clip(g), k
        assert info.pass1.nan == bool(np.isnan(g).any())
        assert info.pass1.inf == bool(np.isinf(g).any())


def test_oracle_disagrees_with_mutated_clip_rules(monkeypatch):
    """Mutation check: three wrong clip rules must each fail the oracle comparison."""
    rng = np.random.default_rng(9)
    cases = tensors(rng)
    real = garc.host_thresholds

    def centred_at_zero(res, ebase, z=3.0):
        lo, hi, mu, sd = real(res, ebase, z)
        return garc._f32_up(-z * sd), garc._f32_down(z * sd), mu, sd

    def variance_not_sd(res, ebase, z=3.0):
        lo, hi, mu, sd = real(res, ebase, z)
        return garc._f32_up(mu - z * sd * sd), garc._f32_down(mu + z * sd * sd), mu, sd

    def no_clip(res, ebase, z=3.0):
        lo, hi, mu, sd = real(res, ebase, z)
        return NEG_INF_BITS, INF_BITS, mu, sd

    for mutant in (centred_at_zero, variance_not_sd, no_clip):
        monkeypatch.setattr(garc, "host_thresholds", mutant)
        bad = sum(garc.clip_value(CFG, to_bits(g)).c != oracle_clip(g) for g in cases.values())
        assert bad >= 3, mutant.__name__
    monkeypatch.setattr(garc, "host_thresholds", real)
    assert all(garc.clip_value(CFG, to_bits(g)).c == oracle_clip(g) for g in cases.values())


# --------------------------------------------------------------------------------------------
# 3. statistics-unit arithmetic
# --------------------------------------------------------------------------------------------

def _frac_terms(b, ebase, W):
    """Independent per-element oracle of ``fix``/``sq``: floors of exact rationals."""
    unit = Fraction(2) ** (ebase - 150)
    s_fix, s_sq = 0, 0
    for bb in np.asarray(b).reshape(-1):
        x = float(from_bits(flush_bits(np.int64(bb)))[()])
        if not np.isfinite(x) or x == 0:
            continue
        e = (int(bb) >> 23) & 0xFF
        fx = Fraction(x)
        if e > ebase + W - 1:                         # clamped: r = 0
            mag = abs(fx) / (Fraction(2) ** (e - ebase - W + 1) * unit)
            sq = fx * fx / (Fraction(2) ** (2 * (e - ebase - W + 1)) * unit * unit)
        else:
            mag = abs(fx) / unit
            sq = fx * fx / (unit * unit)
        f = int(mag)                                  # floor of a positive rational
        s_fix += -f if x < 0 else f
        s_sq += int(sq)
    return s_fix, s_sq


@pytest.mark.parametrize("window", [1, 5, 12, 40])
def test_pass1_matches_exact_rationals(window):
    cfg = ArcStatsConfig(window=window, count_bits=24)
    rng = np.random.default_rng(window)
    for k in range(6):
        b = gradient_bits(rng, 300, scale=10.0 ** rng.uniform(-8, 2))
        with np.errstate(invalid="ignore"):
            g = from_bits(flush_bits(b)).astype(np.float64)
        fin = np.isfinite(g)
        nz = fin & (g != 0)
        e = (b >> 23) & 0xFF
        emax = int(e[nz].max())
        for ebase in (max(0, emax - window + 1), max(0, emax - window - 7), min(255, emax - 2)):
            r = stats_accumulate(cfg, b, False, ebase)
            assert r.count == fin.sum() and r.n_zero == (fin & (g == 0)).sum()
            assert r.emax == emax and (r.n_in, r.cmax) == (0, 0)
            assert r.over == bool((e[nz] > ebase + window - 1).any())
            assert r.under == bool((e[nz] < ebase).any())
            s_fix, s_sq = _frac_terms(b, ebase, window)
            assert (r.sum, r.sumsq) == (s_fix, s_sq)
            if not r.over and not r.under:            # exact window: the real sums
                unit = Fraction(2) ** (ebase - 150)
                xs = [Fraction(float(v)) for v in g[nz]]
                assert r.sum * unit == sum(xs)
                assert r.sumsq * unit * unit == sum(x * x for x in xs)


def test_pass2_matches_numpy_comparisons():
    rng = np.random.default_rng(2)
    for k in range(40):
        b = gradient_bits(rng, 200, scale=1e-2)
        g = from_bits(flush_bits(b))
        lo, hi = np.sort(rng.standard_normal(2) * 2e-2).astype(np.float32)
        if k % 5 == 0:
            lo = np.float32(0.0) if k % 10 else np.float32(-0.0)
        r = stats_accumulate(CFG, b, True, 0, int(to_bits(lo)), int(to_bits(hi)))
        inl = np.isfinite(g) & (g >= lo) & (g <= hi)
        assert r.n_in == inl.sum()
        want = np.max(np.abs(g[inl])) if inl.any() else np.float32(0)
        assert r.cmax == int(to_bits(want))
        assert (r.count, r.sum, r.sumsq) == (0, 0, 0)


def test_host_thresholds_are_tight_float32_bounds():
    rng = np.random.default_rng(4)
    for g in tensors(rng).values():
        b = to_bits(g)
        info = clip_value(CFG, b)
        lo, hi = from_bits(np.int64(info.lo_bits))[()], from_bits(np.int64(info.hi_bits))[()]
        lo64, hi64 = info.mu - 3.0 * info.sd, info.mu + 3.0 * info.sd
        assert float(lo) >= lo64 and float(np.nextafter(lo, np.float32(-np.inf))) < lo64
        assert float(hi) <= hi64 and float(np.nextafter(hi, np.float32(np.inf))) > hi64
        mu_np, sd_np = g.astype(np.float64).mean(), g.astype(np.float64).std(ddof=1)
        unit = 2.0 ** (info.ebase - 150) if info.pass1.under else 0.0   # truncation bound
        assert abs(info.mu - mu_np) <= 1e-12 * (abs(mu_np) + sd_np) + unit
        assert abs(info.sd - sd_np) <= 1e-9 * sd_np + 2 * np.sqrt(unit * abs(mu_np) + unit)


def test_counter_saturation_and_sum_wrap():
    """Decision (c): counters saturate with ``cnt_ovf``; ``sum`` wraps in two's complement."""
    cfg = ArcStatsConfig(count_bits=4, window=2)
    b = to_bits(np.full(40, 1.75, np.float32))
    r = stats_accumulate(cfg, b, False, 127)
    assert r.count == 15 and r.cnt_ovf and not r.over and not r.under
    m = 0xE0_0000                                     # significand of 1.75; r = 1, fix = m
    half = 1 << (cfg.sum_width - 1)
    assert cfg.sum_width == 30 and 40 * m > half
    assert r.sum == (40 * m + half) % (2 * half) - half
    assert r.sumsq == (40 * m * m * 4 >> 2) % (1 << cfg.sumsq_width)
    r2 = stats_accumulate(cfg, b, True, 0, NEG_INF_BITS, INF_BITS)
    assert r2.n_in == 15 and r2.cnt_ovf and r2.cmax == 0x3FE0_0000


# --------------------------------------------------------------------------------------------
# 4. ARC lane and degenerate tensors
# --------------------------------------------------------------------------------------------

def spec_arc_quant(g32, c, inv, rnd=np.trunc):
    """docs/spec.md#arc-float64 ``arc_quant`` with NumPy float32 operations (finite, normal inputs and products)."""
    v = (np.clip(g32, -c, c) * inv).astype(np.float32)
    return np.clip(rnd(v), -127, 127).astype(np.int8)


def test_arc_lane_matches_spec_formula():
    rng = np.random.default_rng(7)
    for k, g in enumerate(tensors(rng).values()):
        info = clip_value(CFG, to_bits(g))
        s, inv = arc_scale(info.c_bits)
        for mode, rnd in (("rtz", np.trunc), ("rne", np.rint)):
            codes, nan, sat, clip = arc_quantize_bits(to_bits(g), info.c_bits, int(to_bits(inv)),
                                                      mode)
            v = (np.clip(g, -info.c, info.c) * inv).astype(np.float32)
            ok = np.abs(v) >= np.float32(2.0 ** -126)   # the spec formula has no flush
            assert np.array_equal(codes[ok], spec_arc_quant(g, info.c, inv, rnd)[ok])
            assert np.all(codes[~ok] == 0)
            assert np.array_equal(clip, np.abs(g) > info.c)
            assert not nan.any() and not sat.any()
        assert s == np.float32(info.c / np.float32(127)) and inv == np.float32(1) / s


@pytest.mark.parametrize("b", [2, 4, 6, 12])
def test_width_arc_matches_float64_oracle(b):
    """At code width b: s = fp32(c / L) and inv = fp32(1/s) (Fraction re-statement), lane codes
    against float64 clip/scale/round with L = 2**(b-1) - 1, and arc_quantize end to end."""
    rng = np.random.default_rng(80 + b)
    L = 2 ** (b - 1) - 1
    for g in tensors(rng).values():
        res = arc_quantize(g, rounding="rtz", bits=b)
        assert res.codes.dtype == (np.int8 if b <= 8 else np.int16)
        c = float(res.c)
        s_ref = np.float32(float(Fraction(c) / L)) if c else np.float32(0)
        if c and abs(float(s_ref)) >= 2.0 ** -126:
            assert res.s == s_ref and res.inv == np.float32(1 / float(s_ref))
        for mode, rnd in (("rtz", np.trunc), ("rne", np.rint)):
            codes, nan, sat, clip = arc_quantize_bits(to_bits(g), int(to_bits(res.c)),
                                                      int(to_bits(res.inv)), mode, bits=b)
            with np.errstate(invalid="ignore", over="ignore"):
                x = flush_bits(to_bits(g))
                xf = from_bits(x).astype(np.float64)
                xc = np.where(np.isnan(xf), np.nan, np.clip(xf, -c, c))
                v = (xc * float(res.inv)).astype(np.float32).astype(np.float64)
                v = np.where(np.abs(v) < 2.0 ** -126, 0.0, v)
                q = rnd(np.clip(np.where(np.isnan(v), 0, v), -(L + 1), L + 1))
            assert np.array_equal(codes.astype(np.int64), np.clip(q, -L, L).astype(np.int64))
            assert np.array_equal(sat, np.abs(q) > L) and np.array_equal(nan, np.isnan(v))
        if mode == "rne" and np.isfinite(g).sum() > 10:
            assert np.abs(codes.astype(np.int64)).max() == L


def test_rtz_dead_zone_and_shrink():
    """docs/spec.md#arc property: RTZ zeroes ``|v| < 1`` and shrinks magnitudes by about half an LSB."""
    rng = np.random.default_rng(11)
    g = (rng.standard_normal(200_000) * 1e-3).astype(np.float32)
    r = arc_quantize(g)
    v = (np.clip(g, -r.c, r.c) * r.inv).astype(np.float32)
    assert np.array_equal(r.codes == 0, np.abs(v) < 1)
    deq = r.dequantize().astype(np.float64)
    inl = np.abs(g) <= r.c
    shrink = np.mean(np.abs(g[inl]) - np.abs(deq[inl])) / float(r.s)
    assert 0.45 < shrink < 0.55
    rne = arc_quantize(g, rounding="rne")
    assert abs(np.mean(np.abs(g[inl]) - np.abs(rne.dequantize()[inl])) / float(r.s)) < 0.02


def test_degenerate_tensors():
    f = np.float32
    cases = {
        "zeros": (np.zeros(9, f), 0.0),
        "neg_zeros_subnormals": (from_bits(np.array([0x8000_0000, 1, 0x807F_FFFF, 0])), 0.0),
        "one": (f([-3.5]), 3.5),
        "one_subnormal": (from_bits(np.array([0x0000_0123])), 0.0),
        "identical": (np.full(11, f(2.25e-4)), 2.25e-4),
        "identical_neg": (np.full(5, f(-7.0)), 7.0),
        "nan_inf": (f([np.nan, np.inf, -np.inf, 1.0, -2.0, 3.0]), 3.0),
        "all_nonfinite": (f([np.nan, -np.inf, np.inf]), 0.0),
        "tiny": (f([1e-37, -2e-37]), 2e-37),
    }
    for name, (g, c) in cases.items():
        r = arc_quantize(g)
        assert r.c == f(c), name
        assert clip_value_float64(g) == f(c) and oracle_clip(g) == f(c), name
        bits = to_bits(g)
        nan = np.isnan(g)
        assert np.array_equal(r.nan, nan) and np.all(r.codes[nan] == 0), name
        if r.s == 0:                                    # zero scale: everything is code 0
            assert r.inv == 0 and np.all(r.codes == 0), name
        else:
            assert r.inv == np.float32(1) / r.s
            fin = np.isfinite(g) & (np.abs(g) == f(c))
            assert np.all(np.abs(r.codes[fin]) >= 126), name
        inf = np.isinf(g)
        assert np.array_equal(r.clip[inf], np.ones(inf.sum(), bool)), name
        del bits
    # c normal but c / 127 subnormal -> s = 0
    assert arc_quantize(np.float32([1e-37, -2e-37])).s == 0
    # identical values: the exact mean puts every element on the boundary, all inliers
    r = arc_quantize(np.full(1001, np.float32(0.1)))
    assert r.clip_info.pass2.n_in == 1001 and np.all(r.codes == 127)


def test_no_inlier_fallback():
    """``z* < 1`` can leave no inlier: pass 2 again with +-Inf bounds gives ``max |x|``."""
    g = np.float32([-1.0, 1.0])
    info = clip_value(CFG, to_bits(g), z=0.5)
    assert info.fallback and info.c == 1.0 and info.passes == 3
    assert oracle_clip(g, 0.5) == 1.0 and clip_value_float64(g, 0.5) == 1.0


def test_adaptive_rule():
    rng = np.random.default_rng(3)
    g = (rng.standard_normal(20_000) * 1e-3).astype(np.float32)
    r = arc_quantize(g, rounding="adaptive")
    want = np.mean(np.abs(g) < r.s)
    assert r.mode == "rtz" and abs(r.dead_zone_fraction - want) < 1e-12 and want < 0.05
    # a bulk of tiny values under a few large inliers: RTZ would zero most of the tensor
    h = np.concatenate([rng.standard_normal(20_000) * 1e-5, rng.uniform(-1, 1, 4000)])
    h = h.astype(np.float32)
    r = arc_quantize(h, rounding="adaptive")
    frac = np.mean(np.abs(h) < r.s)
    assert r.mode == "rne" and abs(r.dead_zone_fraction - frac) < 1e-12 and frac > 0.25
    lo, hi = dead_zone_thresholds(r.s)
    assert from_bits(np.int64(hi))[()] < r.s and np.nextafter(from_bits(np.int64(hi))[()],
                                                                np.float32(1)) == r.s
    assert adaptive_mode(r.clip_info.pass1, 0) == "rtz"
    zr = stats_accumulate(CFG, np.zeros(4, np.int64))
    assert adaptive_mode(zr, 4) == "rtz"


def test_clip_bits_policy():
    b = special_bits()
    c = 0x3F80_0000
    out, clip = clip_bits(b, c)
    g = from_bits(flush_bits(b))
    assert np.array_equal(clip, ~np.isnan(g) & (np.abs(g) > 1))
    assert np.array_equal(np.isnan(from_bits(out)), np.isnan(g))
    assert np.all(np.abs(from_bits(out)[~np.isnan(g)]) <= 1.0)


# --------------------------------------------------------------------------------------------
# 5. hardware in the Amaranth simulator
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cfg", [ArcStatsConfig(), ArcStatsConfig(lanes=1, window=1),
                                 ArcStatsConfig(lanes=3, window=24, count_bits=8),
                                 ArcStatsConfig(lanes=4, window=5, count_bits=4)],
                         ids=lambda c: c.module_name)
def test_stats_amaranth_gaps_and_stalls(cfg):
    dut = ArcStats(cfg)
    sc, res, info = host_scenario(cfg, layouts_of(dut), np.random.default_rng(cfg.lanes),
                                  n_tensors=3, n=40)
    out = run_amaranth(dut, sc, seed=1, gap=0.3, stall=0.3)
    assert out.ok, out.mismatches[:3]
    assert any(r.n_in for r in res) and any(r.sum for r in res)
    if cfg.count_bits == 4:
        assert any(r.cnt_ovf for r in res)


def test_stats_amaranth_window_edges_and_cycle_model():
    """Registers that put elements above and below the window, every special class, keep masks;
    no gaps or stalls: each result in cycle ``last + 2``."""
    cfg = ArcStatsConfig(lanes=2, window=6)
    dut = ArcStats(cfg)
    rng = np.random.default_rng(8)
    g = gradient_bits(rng, 60, scale=1.0)
    ts = [(g, False), (special_bits(), False), (special_bits(), True), (g, True),
          (np.array([0x3F80_0000]), False), (g[:7], False)]
    flags = set()
    for ebase in (120, 127, 0, 255):
        sc, res = s_scenario(cfg, layouts_of(dut), rng, ts, ebase, 0xBF00_0000, 0x3F40_0000,
                             drop=0.0)
        out = run_amaranth(dut, sc, seed=2)
        assert out.ok, (ebase, out.mismatches[:3])
        assert out.out_cycles["out"] == sc.out_cycles["out"]
        flags |= {f for r in res for f in ("over", "under", "nan", "inf") if getattr(r, f)}
    assert flags == {"over", "under", "nan", "inf"}
    sc, res = s_scenario(cfg, layouts_of(dut), rng, ts, 124, NEG_INF_BITS, INF_BITS, drop=0.3)
    assert any(r.over for r in res) and any(r.under for r in res)
    assert run_amaranth(dut, sc, seed=3, gap=0.4, stall=0.4).ok


def test_stats_mutation_wrong_units_caught():
    """A golden model whose fixed-point unit is off by one binade must fail the scoreboard."""
    cfg = ArcStatsConfig()
    dut = ArcStats(cfg)

    def wrong(c, bits, p2, ebase, lo, hi):
        return stats_accumulate(c, bits, p2, ebase + 1, lo, hi)
    rng = np.random.default_rng(1)
    g = gradient_bits(rng, 50)
    sc, _ = s_scenario(cfg, layouts_of(dut), rng, [(g, False)], default_ebase(12), golden=wrong)
    assert not run_amaranth(dut, sc, seed=1).ok


@pytest.mark.parametrize("cfg", [ArcQuantizerConfig(), ArcQuantizerConfig(lanes=1, pipelined=False),
                                 ArcQuantizerConfig(lanes=3, adaptive=True)],
                         ids=lambda c: c.module_name)
def test_quantizer_amaranth_gaps_and_stalls(cfg):
    dut = ArcQuantizer(cfg)
    for k, rne in enumerate((False, True) if cfg.adaptive else (False,)):
        sc, data = q_scenario(cfg, layouts_of(dut), np.random.default_rng(k), n_beats=60, rne=rne)
        out = run_amaranth(dut, sc, seed=k, gap=0.3, stall=0.3)
        assert out.ok, out.mismatches[:3]
        assert data["clip"].any() and data["nan"].any()
        sc, _ = q_scenario(cfg, layouts_of(dut), np.random.default_rng(k), n_beats=30, rne=rne)
        out = run_amaranth(dut, sc, seed=k)
        assert out.ok and out.out_cycles["out"] == cfg.out_cycles([1] * 30)


def test_quantizer_degenerate_registers_and_mutation():
    cfg = ArcQuantizerConfig(lanes=2)
    dut = ArcQuantizer(cfg)
    for c_bits, inv_bits in ((0, 0), (0x7F7F_FFFF, 0x0080_0000), (0x0000_0010, 0x3F80_0000),
                             (0x8000_0000 | 0x3F80_0000, 0x42FE_0000)):
        sc, _ = q_scenario(cfg, layouts_of(dut), np.random.default_rng(5), n_beats=40,
                           c_bits=c_bits, inv_bits=inv_bits)
        assert run_amaranth(dut, sc, seed=5, gap=0.2, stall=0.2).ok, hex(c_bits)

    def no_clip(x, c, inv, mode):
        return arc_quantize_bits(x, 0x7FFF_FFFF, inv, mode)
    sc, _ = q_scenario(cfg, layouts_of(dut), np.random.default_rng(5), n_beats=40, golden=no_clip)
    assert not run_amaranth(dut, sc, seed=5).ok


def test_end_to_end_host_device_chain():
    """Pass 1 on the statistics unit, host thresholds, pass 2, host scale, ARC lanes: every
    hardware run matches its golden beat, and the codes equal :func:`golden.arc.arc_quantize`."""
    rng = np.random.default_rng(21)
    g = (rng.standard_t(3, size=300) * 2e-3).astype(np.float32)
    g[:3] = [np.nan, np.inf, 0.0]
    b = to_bits(g)
    scfg = ArcStatsConfig()
    sdut = ArcStats(scfg)
    eb = default_ebase(scfg.window)
    sc, (r1,) = s_scenario(scfg, layouts_of(sdut), rng, [(b, False)], eb)
    assert run_amaranth(sdut, sc, seed=1, gap=0.2, stall=0.2).ok
    if r1.over:
        eb = max(0, r1.emax - scfg.window + 1)
        sc, (r1,) = s_scenario(scfg, layouts_of(sdut), rng, [(b, False)], eb)
        assert run_amaranth(sdut, sc, seed=1).ok
    lo, hi, _, _ = host_thresholds(r1, eb)
    sc, (r2,) = s_scenario(scfg, layouts_of(sdut), rng, [(b, True)], eb, lo, hi)
    assert run_amaranth(sdut, sc, seed=2, gap=0.2, stall=0.2).ok
    s, inv = arc_scale(r2.cmax)
    qcfg = ArcQuantizerConfig()
    qdut = ArcQuantizer(qcfg)
    sc, data = q_scenario(qcfg, layouts_of(qdut), rng, x_bits=b, c_bits=r2.cmax,
                          inv_bits=int(to_bits(inv)))
    assert run_amaranth(qdut, sc, seed=3, gap=0.2, stall=0.2).ok
    ref = arc_quantize(g)
    assert r2.cmax == int(to_bits(ref.c)) and np.array_equal(data["codes"][:g.size], ref.codes)


# --------------------------------------------------------------------------------------------
# 6. emitted Verilog under cocotb
# --------------------------------------------------------------------------------------------

@pytest.mark.cocotb
def test_stats_cocotb_icarus(tmp_path):
    from sim.runner import run_cocotb
    require("iverilog")
    cfg = ArcStatsConfig(lanes=3, window=8)
    dut = ArcStats(cfg)
    sc, _, _ = host_scenario(cfg, layouts_of(dut), np.random.default_rng(4), n_tensors=3, n=30)
    res = run_cocotb(cfg, dut, sc, simulator="icarus", build_dir=tmp_path, seed=4, gap=0.3,
                     stall=0.3)
    assert res.ok, res.mismatches[:3]
    assert res.checked == len(sc.outputs["out"])


@pytest.mark.cocotb
def test_quantizer_cocotb_verilator(tmp_path):
    from sim.runner import run_cocotb
    require("verilator")
    cfg = ArcQuantizerConfig(lanes=2, adaptive=True)
    dut = ArcQuantizer(cfg)
    sc, _ = q_scenario(cfg, layouts_of(dut), np.random.default_rng(6), n_beats=50, rne=True)
    res = run_cocotb(cfg, dut, sc, simulator="verilator", build_dir=tmp_path, seed=6, gap=0.3,
                     stall=0.3)
    assert res.ok, res.mismatches[:3]
    assert res.checked == 50 + 2
