"""DAGQ quantizer and OTS: golden vs float64 oracles, the integer GEMM, hardware vs golden, mutations.

Ladder (the generic rungs -- Icarus, Verilator, native, iCE40 netlist, corrupted golden -- run
from tests/test_ladder.py)
1. the random stream is the spec's ``rlsru_stream`` (an LFSR written out here) at P = 2, F = 8;
2. golden lanes vs an independent float64 re-statement of the equations (float64 arithmetic cast
   once to float32 -- innocuous double rounding, 53 >= 2*24 + 2 -- and float64 SR), and vs the
   spec's literal NumPy code on ordinary values;
3. OTS vs a float64 re-statement (candidates, MSE per subset, first minimum, replayed stream);
   degenerate tensors (all zero, one element, NaN/Inf) and registers (th = 0, gmax = th);
4. the integer-GEMM decomposition vs a direct float64 product;
5. the component in the Amaranth simulator vs golden (variants, degenerate registers, gaps and
   stalls), and mutation checks: wrong golden models must fail there.
"""

from __future__ import annotations

import numpy as np
import pytest

from golden.dagq_quantizer import (MAGNITUDE_FACTORS, DagqQuantizerConfig, chain_seed,
                                   dagq_dequantize, dagq_gemm, dagq_quantize_bits,
                                   dagq_quantize_fast, dagq_registers, dagq_scaled_bits, ots,
                                   random_stream, rlsru_config, run)
from golden.fp32 import from_bits, to_bits
from golden.params import ConfigError
from golden.rlsru import generate
from hw.dagq_quantizer import DagqQuantizer, DagqSelect
from sim.amaranth_harness import layouts_of, run_amaranth
from sim.blocks.dagq_quantizer import beats_scenario
from sim.blocks.quantizer import special_bits

from .spec_oracles import spec_rlsru_stream

TINY = 2.0 ** -126


# --------------------------------------------------------------------------------------------
# Oracles
# --------------------------------------------------------------------------------------------


def _f32(x):
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(x, dtype=np.float64).astype(np.float32).astype(np.float64)


def _flush(v):
    v = np.asarray(v, dtype=np.float64)
    return np.where(np.abs(v) < TINY, np.copysign(0.0, v), v)


def oracle_registers(th, gmax, b=8):
    """Float64 re-statement of the host registers (s, 1/s rounded once to float32; 0 for s = 0);
    ``L = 2**(b-1) - 1`` codes per region."""
    th, gmax, L = float(th), float(gmax), 2 ** (b - 1) - 1
    s1 = float(_f32(th / L))
    s2 = float(_f32(float(_f32(gmax - th)) / L))
    inv = [0.0 if abs(s) < TINY else float(_f32(1 / s)) for s in (s1, s2)]
    return s1, s2, inv[0], inv[1]


def oracle_quantize(x32, th, gmax, r, F, b=8):
    """DAGQ in float64 per docs/spec.md#dagq (registers via :func:`oracle_registers`), codes of
    width ``b``."""
    _, _, inv1, inv2 = oracle_registers(th, gmax, b)
    L = 2 ** (b - 1) - 1
    th = float(th)
    with np.errstate(invalid="ignore"):
        x = _flush(np.asarray(x32, dtype=np.float32).astype(np.float64))
    with np.errstate(invalid="ignore", over="ignore"):
        outer = np.abs(x) > th                                      # NaN compares false: inner
        d = _flush(_f32(np.abs(x) - th)) * np.where(np.signbit(x), -1.0, 1.0)
        v = np.where(outer, _flush(_f32(d * inv2)), _flush(_f32(x * inv1)))
        nan = np.isnan(v)
        vv = np.clip(np.where(nan, 0.0, v), -(L + 1.0), L + 1.0)
        q = np.floor((np.floor(vv * 2.0 ** F) + r) / 2.0 ** F)
    sat = np.abs(q) > L
    q = np.where(nan, 0, np.clip(q, -L, L)).astype(np.int64)
    region = np.where(outer, np.where(x < 0, 1, 2), 0)
    return q, region, nan, sat, v


def spec_dagq_quant(x32, th, gmax, r8, F=8):
    """The spec's literal NumPy code (docs/spec.md#dagq), valid for ordinary values."""
    s1 = np.float32(th / np.float32(127)); s2 = np.float32((gmax - th) / np.float32(127))
    inv1, inv2 = np.float32(1) / s1, np.float32(1) / s2
    inner = np.abs(x32) <= th
    sgn = np.where(x32 < 0, np.float32(-1), np.float32(1))
    v = np.where(inner, x32 * inv1, (x32 - sgn * th) * inv2).astype(np.float32)
    vfx = np.floor(v.astype(np.float64) * 2**F).astype(np.int64)
    q = np.clip((vfx + r8) >> F, -127, 127).astype(np.int8)
    region = np.where(inner, 0, np.where(x32 < 0, 1, 2)).astype(np.uint8)
    return q, region


def oracle_ots(g32, r, F, b=8):
    """OTS in float64 (docs/spec.md#ots) on finite tensors, with the given replayed stream."""
    g = g32.astype(np.float64).reshape(-1)
    gmax = np.float32(np.abs(g).max())
    sigma = np.float32(np.sqrt(np.sum((g - g.mean()) ** 2) / (g.size - 1)))
    cands = [np.float32(f * float(sigma)) for f in np.linspace(0.0280, 0.0601, 5)]
    mses = []
    for th in cands:
        s1, s2, _, _ = oracle_registers(th, gmax, b)
        q, reg, _, _, _ = oracle_quantize(g32.reshape(-1), th, gmax, r, F, b)
        deq = np.where(reg == 0, _f32(q * s1),
                       np.where(reg == 1, _f32(_f32(q * s2) - float(th)),
                                _f32(_f32(q * s2) + float(th))))
        sub = np.abs(g) > float(th)
        mses.append(np.mean((deq[sub] - g[sub]) ** 2) if sub.any() else np.inf)
    return gmax, sigma, np.array(cands), np.array(mses), int(np.argmin(mses))


def _tensor(rng, n, scale=1e-3):
    g = rng.standard_normal(n) * scale
    g[rng.random(n) < 0.1] *= 1e-3
    g[rng.random(n) < 0.01] *= 8
    return g.astype(np.float32)


def _boundaries(*vals):
    b = to_bits(np.array(vals, dtype=np.float32))
    out = np.concatenate([b + d for d in range(-3, 4)])
    out = out[(out >= 0) & (out < 0x7F80_0000)]
    return np.concatenate([out, out | 0x8000_0000])


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"lanes": 0}, "dagq_quantizer parameter lanes=0 is out of range: allowed values are an "
                   "integer in 1..64."),
    ({"frac_bits": 17}, "dagq_quantizer parameter frac_bits=17 is out of range: allowed values "
                        "are an integer in 1..16."),
    ({"scheme": "lfsr"}, "dagq_quantizer parameter scheme='lfsr' is invalid: allowed values are "
                         "one of per_lane, leap, split, replay, phase."),
    ({"seed": 0}, "dagq_quantizer parameter seed=0 is invalid: the all-zero state never leaves "
                  "itself; allowed values are 1..65535."),
    ({"seed": 0x10000}, "dagq_quantizer parameter seed=65536 is out of range"),
    ({"lanes": 2, "frac_bits": 16, "scheme": "phase"}, "dagq_quantizer parameter lanes=2 is out of range for "
                                       "scheme 'phase'"),
])
def test_bad_parameters_rejected(kwargs, message):
    with pytest.raises(ConfigError) as e:
        DagqQuantizerConfig(**kwargs)
    assert str(e.value).startswith(message)
    with pytest.raises(ConfigError):
        DagqQuantizer(**kwargs)


def test_config_names_latency_and_bad_inputs():
    cfg = DagqQuantizerConfig()
    assert cfg.module_name == "dagq_quantizer_l2_f8_replay_s44257_p1_b8"
    assert cfg.latency == 2 and DagqQuantizerConfig(pipelined=False).latency == 1
    assert cfg.out_cycles([1, 1, 1]) == [2, 3, 4]
    with pytest.raises(ConfigError, match=r"dagq_quantizer input has shape \(4,\): expected"):
        run(cfg, np.zeros(4, dtype=np.int64), None, dagq_registers(1.0, 2.0).bits())
    with pytest.raises(ConfigError, match="dagq_quantizer tensor has dtype float64"):
        ots(cfg, np.zeros(4))
    with pytest.raises(ConfigError, match="out of range: allowed values are 0..255"):
        dagq_quantize_bits(np.zeros(2, dtype=np.int64), 0, 0, 0, 8, np.array([0, 256]))


# --------------------------------------------------------------------------------------------
# Random stream
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["split", "replay"])
def test_stream_is_the_spec_rlsru_stream(scheme):
    cfg = DagqQuantizerConfig(lanes=2, frac_bits=8, scheme=scheme, seed=0xBEEF)
    assert np.array_equal(random_stream(cfg, 1001), spec_rlsru_stream(0xBEEF, 1001))
    assert list(random_stream(DagqQuantizerConfig(), 6)) == [86, 112, 171, 56, 85, 156]


def test_stream_table_path_equals_generate():
    """random_stream's period-table path (split/replay, P <= 16) = golden.rlsru.generate with
    restart on the first beat; other schemes go through generate itself."""
    for lanes, F, scheme, seed in ((2, 8, "replay", 0xACE1), (5, 3, "split", 0x1234),
                                   (16, 16, "replay", 0xFFFF), (1, 8, "split", 1),
                                   (3, 8, "per_lane", 77)):
        cfg = DagqQuantizerConfig(lanes=lanes, frac_bits=F, scheme=scheme, seed=seed)
        n = 70_000 * lanes + 1                     # more than one LFSR period of beats
        beats = -(-n // lanes)
        if scheme == "per_lane":
            n, beats = 3001, 1001
        restarts = np.zeros(beats, dtype=bool)
        restarts[0] = True
        ref = generate(rlsru_config(cfg), beats, restarts).reshape(-1)[:n]
        assert np.array_equal(random_stream(cfg, n), ref)


def test_chain_seed_is_the_last_state_used():
    cfg = DagqQuantizerConfig(lanes=2, scheme="replay")
    for n in (2, 7, 1000):
        r = random_stream(cfg, n + (n % 2))
        s = chain_seed(cfg, n)
        assert (s >> 8, s & 0xFF) == (r[-2], r[-1])
    big = DagqQuantizerConfig(lanes=20, scheme="split")       # G = 2 steps per beat
    r = generate(rlsru_config(big), 5)
    s = chain_seed(big, 100)
    assert s >> 8 == r[-1, 16]                                 # group 1, lane 0: s16_{2*5}


# --------------------------------------------------------------------------------------------
# Golden lanes vs oracles
# --------------------------------------------------------------------------------------------

def _register_sets(rng, g):
    gmax = np.float32(np.abs(g).max())
    sigma = np.float32(g.astype(np.float64).std(ddof=1))
    sets = [(np.float32(f * float(sigma)), gmax) for f in MAGNITUDE_FACTORS]
    sets += [(np.float32(0.0), gmax), (gmax, gmax), (np.float32(gmax * 0.5), gmax),
             (np.float32(1.5e-38), gmax), (np.float32(3.0), np.float32(3.0000002))]
    return sets


@pytest.mark.parametrize("F", [8, 3, 16])
def test_golden_matches_float64_oracle(F):
    rng = np.random.default_rng(F)
    g = _tensor(rng, 6000)
    checked = 0
    for th, gmax in _register_sets(rng, g):
        x = np.concatenate([to_bits(g), special_bits(), _boundaries(th, gmax, 2.0 ** -126),
                            rng.integers(0, 1 << 32, 2000)])
        r = rng.integers(0, 1 << F, x.size)
        regs = dagq_registers(th, gmax)
        assert (float(regs.s1), float(regs.s2), float(regs.inv1), float(regs.inv2)) == \
            oracle_registers(th, gmax)
        b = regs.bits()
        q, reg, nan, sat = dagq_quantize_bits(x, b["th"], b["inv1"], b["inv2"], F, r)
        qo, rego, nano, sato, vo = oracle_quantize(from_bits(x), th, gmax, r, F)
        v, _ = dagq_scaled_bits(x, b["th"], b["inv1"], b["inv2"])
        vo32 = vo.astype(np.float32)
        assert np.array_equal(np.isnan(from_bits(v)), np.isnan(vo32))
        ok = ~np.isnan(vo32)
        assert np.array_equal(v[ok], to_bits(vo32)[ok])             # v bit for bit (signed zeros)
        assert np.array_equal(q.astype(np.int64), qo)
        assert np.array_equal(reg.astype(np.int64), rego)
        assert np.array_equal(nan, nano) and np.array_equal(sat, sato)
        checked += x.size
    assert checked > 80_000


@pytest.mark.parametrize("b", [2, 4, 6, 12])
def test_width_golden_matches_float64_oracle(b):
    """Registers, codes, regions and flags at code width b (8 is the test above), the fast
    path (OTS, training) equal to the bit-level one, OTS against its float64 oracle."""
    rng = np.random.default_rng(40 + b)
    F = 8
    g = _tensor(rng, 3000)
    L = 2 ** (b - 1) - 1
    for th, gmax in _register_sets(rng, g)[::2]:
        x = np.concatenate([to_bits(g), special_bits(), _boundaries(th, gmax, 2.0 ** -126),
                            rng.integers(0, 1 << 32, 1000)])
        r = rng.integers(0, 1 << F, x.size)
        regs = dagq_registers(th, gmax, bits=b)
        assert (float(regs.s1), float(regs.s2), float(regs.inv1), float(regs.inv2)) == \
            oracle_registers(th, gmax, b)
        rb = regs.bits()
        q, reg, nan, sat = dagq_quantize_bits(x, rb["th"], rb["inv1"], rb["inv2"], F, r, bits=b)
        assert q.dtype == (np.int8 if b <= 8 else np.int16)
        qo, rego, nano, sato, _ = oracle_quantize(from_bits(x), th, gmax, r, F, b)
        assert np.array_equal(q.astype(np.int64), qo) and np.array_equal(reg.astype(np.int64), rego)
        assert np.array_equal(nan, nano) and np.array_equal(sat, sato)
        assert np.abs(qo).max() == L
        ok = np.isfinite(from_bits(x))
        fq, freg, fnan, fsat = dagq_quantize_fast(from_bits(x[ok]), regs.th, regs.inv1, regs.inv2,
                                                  F, r[ok], bits=b)
        assert np.array_equal(fq, q[ok]) and np.array_equal(freg, reg[ok])
        assert np.array_equal(fsat, sat[ok])
    cfg = DagqQuantizerConfig(lanes=2, scheme="replay", seed=0x1234, bits=b)
    gt = _tensor(rng, 600).reshape(20, 30)
    res = ots(cfg, gt)
    rr = spec_rlsru_stream(0x1234, gt.size)
    gmax, sigma, cands, mses, k = oracle_ots(gt, rr, 8, b)
    np.testing.assert_allclose(res.mse, mses, rtol=1e-9)
    assert res.index == k
    q, reg, _, _, _ = oracle_quantize(gt.reshape(-1), cands[k], gmax, rr, 8, b)
    assert np.array_equal(res.codes.reshape(-1).astype(np.int64), q)
    wrong, _, _, _, _ = oracle_quantize(gt.reshape(-1), cands[k], gmax, rr, 8, 8)
    assert not np.array_equal(wrong, q)                 # the width changes the codes


def test_fast_path_is_bit_identical():
    """dagq_quantize_fast (NumPy float32, used by OTS and training) = dagq_quantize_bits,
    ordinary and odd registers (negative/NaN threshold, Inf/NaN/subnormal reciprocals)."""
    rng = np.random.default_rng(21)
    g = _tensor(rng, 20000)
    n = 0
    for F in (8, 3):
        for th, gmax in _register_sets(rng, g)[4:]:
            x = np.concatenate([to_bits(g), special_bits(), _boundaries(th, gmax, 2.0 ** -126),
                                rng.integers(0, 1 << 32, 5000),
                                (to_bits(np.float32(th)) + rng.integers(1, 1 << 22, 300))
                                & 0xFFFF_FFFF])
            r = rng.integers(0, 1 << F, x.size)
            b = dagq_registers(th, gmax).bits()
            for rb in (b, {"th": b["th"] | 0x8000_0000, "inv1": 0x7F80_0000, "inv2": 5},
                       {"th": 0x7FC0_0000, "inv1": 0xC200_0000, "inv2": 0x7FC0_0000}):
                ref = dagq_quantize_bits(x, rb["th"], rb["inv1"], rb["inv2"], F, r)
                got = dagq_quantize_fast(from_bits(x), *(from_bits(np.int64(rb[k]))
                                                        for k in ("th", "inv1", "inv2")), F, r)
                for a, b2 in zip(ref, got):
                    assert np.array_equal(np.asarray(a), np.asarray(b2))
                n += x.size
    assert n > 300_000


def test_golden_matches_spec_code_on_ordinary_values():
    rng = np.random.default_rng(3)
    g = _tensor(rng, 20000)
    g = g[np.abs(g) > 1e-30]
    for th, gmax in _register_sets(rng, g)[:7]:
        if th == 0 or th == gmax:
            continue
        r = rng.integers(0, 256, g.size)
        b = dagq_registers(th, gmax).bits()
        q, reg, _, _ = dagq_quantize_bits(to_bits(g), b["th"], b["inv1"], b["inv2"], 8, r)
        qs, regs = spec_dagq_quant(g, th, gmax, r)
        assert np.array_equal(q, qs) and np.array_equal(reg, regs)


def test_special_values_and_register_edges():
    F = 8
    regs = dagq_registers(np.float32(0.25), np.float32(4.0))
    b = regs.bits()
    x = np.array([np.inf, -np.inf, np.nan, 0.25, -0.25, np.float32(0.25) * (1 + 2 ** -23),
                  1e-40, -1e-40, 4.0, -4.0, 0.0, -0.0], dtype=np.float32)
    q, reg, nan, sat = dagq_quantize_bits(to_bits(x), b["th"], b["inv1"], b["inv2"], F,
                                          np.full(x.size, 255))
    assert list(reg) == [2, 1, 0, 0, 0, 2, 0, 0, 2, 1, 0, 0]
    assert list(q[:3]) == [127, -127, 0] and list(sat[:3]) == [True, True, False]
    assert list(nan) == [False, False, True] + [False] * 9
    assert list(q[3:5]) == [127, -127] and not sat[3:5].any()     # |x| = th: inner, exact 127
    assert q[8] == 127 and q[9] == -127 and not sat[8] and not sat[9]
    # the sign bit of th is ignored; a NaN threshold makes every non-NaN element inner
    bn = dict(b, th=b["th"] | 0x8000_0000)
    assert np.array_equal(dagq_quantize_bits(to_bits(x), bn["th"], b["inv1"], b["inv2"], F,
                                             np.full(x.size, 7))[1],
                          dagq_quantize_bits(to_bits(x), b["th"], b["inv1"], b["inv2"], F,
                                             np.full(x.size, 7))[1])
    reg_nan = dagq_quantize_bits(to_bits(x), 0x7FC0_0000, b["inv1"], b["inv2"], F, 0)[1]
    assert not reg_nan.any()


def test_degenerate_registers():
    g = np.array([0.0, 1e-3, -2e-3, 5e-3, -5e-3], dtype=np.float32)
    r = np.arange(5) * 50
    # th = 0: s1 = 0 -> inv1 = 0 (not Inf): zeros stay 0 in region 0, every nonzero is outer
    regs = dagq_registers(0.0, 5e-3)
    assert regs.inv1 == 0 and regs.s1 == 0
    b = regs.bits()
    q, reg, nan, _ = dagq_quantize_bits(to_bits(g), b["th"], b["inv1"], b["inv2"], 8, r)
    assert list(reg) == [0, 2, 1, 2, 1] and q[0] == 0 and not nan.any()
    assert abs(int(q[3])) == 127 and q[4] == -127
    # gmax = th: s2 = 0 -> inv2 = 0: outer codes forced to 0 and dequantized to +-th
    regs = dagq_registers(2e-3, 2e-3)
    assert regs.inv2 == 0
    b = regs.bits()
    q, reg, nan, _ = dagq_quantize_bits(to_bits(g), b["th"], b["inv1"], b["inv2"], 8, r)
    assert list(reg) == [0, 0, 0, 2, 1] and q[3] == 0 and q[4] == 0 and not nan.any()
    deq = dagq_dequantize(q, reg, regs)
    assert deq[3] == np.float32(2e-3) and deq[4] == -np.float32(2e-3)


def test_dequantize_error_within_one_lsb():
    rng = np.random.default_rng(5)
    g = _tensor(rng, 20000)
    res = ots(DagqQuantizerConfig(), g)
    deq = dagq_dequantize(res.codes, res.region, res.regs).astype(np.float64)
    err = np.abs(deq - g.astype(np.float64))
    lsb = np.where(res.region == 0, float(res.regs.s1), float(res.regs.s2))
    assert np.all(err <= lsb * (1 + 1e-5) + 1e-12)
    assert (res.region != 0).mean() > 0.5 and (res.region == 0).sum() > 100


# --------------------------------------------------------------------------------------------
# OTS
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("scale, shape", [(1e-3, (4, 8, 6, 6)), (2.0, (3, 5, 7)),
                                          (1e-6, (1000,))])
def test_ots_matches_float64_oracle(scale, shape):
    rng = np.random.default_rng(int(scale * 1e6) % 97)
    g = _tensor(rng, int(np.prod(shape)), scale).reshape(shape)
    cfg = DagqQuantizerConfig(lanes=2, scheme="replay", seed=0x1234)
    res = ots(cfg, g)
    r = spec_rlsru_stream(0x1234, g.size)               # the same stream for every pass
    gmax, sigma, cands, mses, k = oracle_ots(g, r, 8)
    assert res.gmax == gmax and res.sigma == sigma
    assert np.array_equal(res.candidates, cands.astype(np.float32))
    np.testing.assert_allclose(res.mse, mses, rtol=1e-9)
    assert res.index == k
    q, reg, _, _, _ = oracle_quantize(g.reshape(-1), cands[k], gmax, r, 8)
    assert np.array_equal(res.codes.reshape(-1).astype(np.int64), q)
    assert np.array_equal(res.region.reshape(-1).astype(np.int64), reg)


def test_ots_replay_is_what_makes_passes_comparable():
    """Every pass uses the same r per element: the final pass equals the chosen candidate's pass,
    and a stream that is not replayed (continuing after the candidates) gives other codes."""
    rng = np.random.default_rng(9)
    g = _tensor(rng, 4000)
    cfg = DagqQuantizerConfig()
    res = ots(cfg, g)
    r = random_stream(cfg, g.size)
    b = res.regs.bits()
    q, _, _, _ = dagq_quantize_bits(to_bits(g), b["th"], b["inv1"], b["inv2"], 8, r)
    assert np.array_equal(q, res.codes)
    cont = generate(rlsru_config(cfg),
                    6 * g.size // 2).reshape(-1)[5 * g.size:]
    q2, _, _, _ = dagq_quantize_bits(to_bits(g), b["th"], b["inv1"], b["inv2"], 8, cont)
    assert not np.array_equal(q2, res.codes)


def test_ots_degenerate_tensors():
    cfg = DagqQuantizerConfig()
    z = ots(cfg, np.zeros((3, 4), dtype=np.float32))           # all zero
    assert z.index == 0 and np.all(np.isinf(z.mse)) and z.regs.th == 0
    assert not z.codes.any() and not z.region.any() and not z.nan.any()
    one = ots(cfg, np.array([-0.5], dtype=np.float32))         # one element: sigma = 0
    assert one.sigma == 0 and one.regs.th == 0 and list(one.region) == [1]
    assert one.codes[0] in (-127, -126)
    g = np.array([1e-3, -2e-3, np.inf, -np.inf, np.nan, 3e-3, -1e-4, 0.0], dtype=np.float32)
    s = ots(cfg, g)                                            # non-finite excluded from stats
    fin = g[np.isfinite(g)].astype(np.float64)
    assert s.gmax == np.float32(3e-3) and s.sigma == np.float32(np.std(fin, ddof=1))
    assert list(s.codes[2:5]) == [127, -127, 0] and list(s.region[2:5]) == [2, 1, 0]
    assert list(s.sat[2:4]) == [True, True] and s.nan[4] and s.nan.sum() == 1


# --------------------------------------------------------------------------------------------
# Integer GEMM decomposition
# --------------------------------------------------------------------------------------------

def _direct(q, reg, regs, wq, sw):
    s1, s2, th = float(regs.s1), float(regs.s2), float(regs.th)
    t = np.where(reg == 1, -1.0, np.where(reg == 2, 1.0, 0.0))
    gdeq = np.where(reg == 0, q * s1, q * s2 + t * th)
    return gdeq @ (wq.astype(np.float64) * float(sw))


def test_integer_gemm_matches_float64_product():
    rng = np.random.default_rng(11)
    for M, K, N in ((16, 300, 8), (4, 4000, 3)):
        g = _tensor(rng, M * K).reshape(M, K)
        res = ots(DagqQuantizerConfig(), g)
        wq = rng.integers(-127, 128, (K, N))
        sw = np.float32(0.0123)
        out, accs = dagq_gemm(res.codes, res.region, res.regs, wq, sw)
        ref = _direct(res.codes.astype(np.float64), res.region, res.regs, wq, sw)
        terms = sum(np.abs(a.astype(np.float64)) * float(s) * float(sw)
                    for a, s in zip(accs, (res.regs.s1, res.regs.s2, res.regs.th)))
        assert np.all(np.abs(out - ref) <= 2.0 ** -21 * terms + 1e-30)
        # the decomposition itself is exact in real arithmetic
        exact = sum(a.astype(np.float64) * float(s) * float(sw)
                    for a, s in zip(accs, (res.regs.s1, res.regs.s2, res.regs.th)))
        np.testing.assert_allclose(exact, ref, rtol=1e-9, atol=1e-15 * np.abs(terms).max())
        # a wrong decomposition (offset sign flipped) is far outside the bound
        bad = _direct(res.codes.astype(np.float64), np.where(res.region == 1, 2,
                      np.where(res.region == 2, 1, 0)), res.regs, wq, sw)
        assert np.any(np.abs(out - bad) > 2.0 ** -21 * terms + 1e-30)


# --------------------------------------------------------------------------------------------
# Hardware vs golden
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    {"lanes": 3, "scheme": "per_lane", "pipelined": False},
    {"lanes": 2, "frac_bits": 4, "scheme": "leap"},
    {"lanes": 1, "frac_bits": 16, "scheme": "split"},
    {"lanes": 2, "scheme": "phase", "seed": 0x1234},
])
def test_amaranth_variants_with_gaps_and_stalls(params):
    cfg = DagqQuantizerConfig(**params)
    comp = DagqQuantizer(cfg)
    for k, case in enumerate(("ots", "th_zero", "gmax_eq_th")):
        sc, _ = beats_scenario(cfg, layouts_of(comp), np.random.default_rng(k), 40, case=case)
        res = run_amaranth(comp, sc, seed=k, gap=0.3, stall=0.3)
        assert res.ok, res.mismatches[:3]


def test_amaranth_odd_registers_and_replayed_passes():
    """NaN/negative/subnormal registers, and an OTS-like run: the same tensor streamed three
    times with restart on each first beat gives three identical passes."""
    cfg = DagqQuantizerConfig(lanes=2)
    comp = DagqQuantizer(cfg)
    rng = np.random.default_rng(2)
    g = _tensor(rng, 40)
    x = np.concatenate([to_bits(g), special_bits()[:24]])
    for th, inv1, inv2 in ((0xBE80_0000, 0x4300_0000, 0x4200_0000),      # th = -0.25
                           (0x7FC0_0000, 0x4300_0000, 0x4200_0000),      # NaN threshold
                           (0x0000_1234, 0x7F80_0000, 0x7FC0_0001),      # subnormal th, Inf/NaN inv
                           (0x3A80_0000, 0x0000_0001, 0xC300_0000)):     # negative inv2
        regs = type("R", (), {"bits": lambda self, t=th, a=inv1, b=inv2:
                              {"th": t, "inv1": a, "inv2": b}})()
        sc, d = beats_scenario(cfg, layouts_of(comp), rng, x_bits=x, regs=regs)
        assert run_amaranth(comp, sc, seed=1, gap=0.2, stall=0.2).ok
    res = ots(cfg, g)
    n = g.size // 2
    restarts = np.zeros(3 * n, dtype=bool)
    restarts[[0, n, 2 * n]] = True
    sc, d = beats_scenario(cfg, layouts_of(comp), rng, x_bits=np.tile(to_bits(g), 3),
                           regs=res.regs, restarts=restarts)
    assert run_amaranth(comp, sc, seed=3, gap=0.3, stall=0.3).ok
    codes = d["codes"].reshape(3, -1)
    assert np.array_equal(codes[0], codes[1]) and np.array_equal(codes[0], codes[2])
    assert np.array_equal(codes[0], res.codes)


def _select_mismatches(x, regs_bits, expect):
    """Run :class:`DagqSelect` on every pattern of ``x``; count differences from ``expect``."""
    from amaranth.sim import Simulator
    dut = DagqSelect()
    bad = []

    async def tb(ctx):
        for k, name in (("th", dut.th), ("inv1", dut.inv1), ("inv2", dut.inv2)):
            ctx.set(name, regs_bits[k])
        for i, xi in enumerate(x):
            ctx.set(dut.x, int(xi))
            got = (ctx.get(dut.v), ctx.get(dut.region))
            if got != (int(expect[0][i]), int(expect[1][i])):
                bad.append(i)

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()
    return len(bad)


def test_hw_select_matches_golden_scaled_value_bit_for_bit():
    """v (FP32) and region of the comparator/subtractor/multiplier front, bit for bit -- the
    codes alone would hide a one-ulp error of v (SR changes a code with probability 2**-F)."""
    rng = np.random.default_rng(8)
    g = _tensor(rng, 600)
    res = ots(DagqQuantizerConfig(), g)
    cases = [res.regs.bits(), dagq_registers(np.float32(2.0 ** -125), np.float32(2.0 ** -100)).bits(),
             {"th": 0xBE80_0000, "inv1": 0x7F80_0000, "inv2": 0x0000_0001}]
    n = 0
    for rb in cases:
        th = float(abs(from_bits(np.int64(rb["th"] & 0x7FFF_FFFF))))
        x = np.concatenate([to_bits(g), special_bits(), _boundaries(th, 2.0 ** -126),
                            (to_bits(np.float32(th)) + rng.integers(1, 1 << 22, 50)) & 0xFFFF_FFFF,
                            rng.integers(0, 1 << 32, 300)])
        v, reg = dagq_scaled_bits(x, rb["th"], rb["inv1"], rb["inv2"])
        v = np.where(np.isnan(from_bits(v)), 0x7FC0_0000, v)
        assert _select_mismatches(x, rb, (v, reg)) == 0
        n += x.size
        if rb is cases[0]:                      # mutation: multiply first, then subtract
            mv = _mul_sub_v(x, rb)
            mv = np.where(reg != 0, mv, v)
            assert _select_mismatches(x, rb, (mv, reg)) > 10
    assert n > 2500


def _mul_sub_v(x, rb):
    from golden.fp32 import fp32_mul_bits
    a = from_bits(fp32_mul_bits(x & 0x7FFF_FFFF, rb["inv2"]))
    b = from_bits(fp32_mul_bits(rb["th"] & 0x7FFF_FFFF, rb["inv2"]))
    with np.errstate(invalid="ignore", over="ignore"):
        return (to_bits(a - b) & 0x7FFF_FFFF) | (x & 0x8000_0000)


def _mutant(fn):
    def golden(cfg, x, restarts, regs):
        return fn(cfg, np.asarray(x, dtype=np.int64), restarts, regs)
    return golden


def _region_ge(cfg, x, restarts, regs):
    """Mutation: |x| >= th is outer (the spec says |x| <= th is inner)."""
    codes, region, nan, sat, r = run(cfg, x, restarts, regs)
    eq = ((x & 0x7FFF_FFFF) == (regs["th"] & 0x7FFF_FFFF)) & (region == 0)
    region = np.where(eq, np.where(x >> 31 == 1, 1, 2), region).astype(np.uint8)
    return codes, region, nan, sat, r


def _no_replay(cfg, x, restarts, regs):
    """Mutation: the random source ignores restart."""
    r = generate(rlsru_config(cfg), x.shape[0])
    out = dagq_quantize_bits(x, regs["th"], regs["inv1"], regs["inv2"], cfg.frac_bits, r)
    return (*out, r)


def test_mutations_are_caught_by_the_hardware_comparison():
    cfg = DagqQuantizerConfig(lanes=2)
    comp = DagqQuantizer(cfg)
    lay = layouts_of(comp)
    rng = np.random.default_rng(4)
    g = _tensor(rng, 120)
    regs = ots(cfg, g).regs
    x = np.concatenate([to_bits(g), np.full(4, int(to_bits(regs.th))), [int(to_bits(-regs.th))]])
    restarts = np.zeros(-(-x.size // 2), dtype=bool)
    restarts[[0, 20, 40]] = True
    for mut in (_region_ge, _no_replay):
        sc, d = beats_scenario(cfg, lay, rng, x_bits=x, regs=regs, restarts=restarts,
                               golden=_mutant(mut))
        res = run_amaranth(comp, sc, seed=2)
        assert not res.ok, mut.__name__
    sc, _ = beats_scenario(cfg, lay, rng, x_bits=x, regs=regs, restarts=restarts)
    assert run_amaranth(comp, sc, seed=2).ok


def test_dagq_error_below_single_scale_sr():
    """The mechanism LowGradQ claims: with the same random stream, DAGQ's dequantization error is
    below that of the single-scale SR quantizer (s = max|g|/127) overall, and by orders of
    magnitude on the small-magnitude (inner) elements, which single-scale SR mostly rounds to
    0 or +-s."""
    from golden.quantizer import quantize_bits, reciprocal_scale
    cfg = DagqQuantizerConfig()
    rng = np.random.default_rng(0)
    for g in (rng.standard_normal(100_000) * 1e-3, _tensor(rng, 100_000),
              rng.laplace(size=100_000) * 1e-3):
        g = g.astype(np.float32)
        res = ots(cfg, g)
        deq = dagq_dequantize(res.codes, res.region, res.regs).astype(np.float64)
        s = np.float32(np.float32(np.abs(g).max()) / np.float32(127))
        q, _, _ = quantize_bits(to_bits(g), int(to_bits(reciprocal_scale(s))), "sr", 8,
                                random_stream(cfg, g.size))
        g64 = g.astype(np.float64)
        e_d, e_s = (deq - g64) ** 2, (q * float(s) - g64) ** 2
        assert e_d.mean() < 0.97 * e_s.mean()
        inner = res.region == 0
        assert e_d[inner].mean() < 1e-3 * e_s[inner].mean()


def test_trainer_dagq_mode_is_the_golden_decomposition():
    """``lobit train --grad dagq``: the input gradient of a layer is dagq_gemm of the OTS result
    with the replayed stream (bit for bit), and the seed is chained to the next tensor."""
    from train.arith import Int8Arith
    rng = np.random.default_rng(30)
    ar = Int8Arith("dagq", seed=0x1357)
    x = rng.standard_normal((48, 20)).astype(np.float32)
    w = (rng.standard_normal((20, 12)) * 0.2).astype(np.float32)
    dy = _tensor(rng, 48 * 12).reshape(48, 12)
    _, ctx = ar.forward(x, w)
    dx, dw = ar.backward(dy, ctx)
    cfg = DagqQuantizerConfig(lanes=2, scheme="replay", seed=0x1357)
    res = ots(cfg, dy)
    qw, sw = ctx[2], ctx[3]
    ref, _ = dagq_gemm(res.codes, res.region, res.regs, qw.T, sw)
    assert np.array_equal(dx.view(np.uint32), ref.view(np.uint32))
    assert ar.dagq.seed == res.next_seed
    qx, sx = ctx[0], ctx[1]
    refw, _ = dagq_gemm(res.codes.T, res.region.T, res.regs, qx, sx)   # (G^T X)^T = X^T G
    np.testing.assert_allclose(dw, refw.T, rtol=1e-6, atol=1e-7 * np.abs(refw).max())
