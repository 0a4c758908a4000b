"""GVQ + MCS: golden vs float64 per-channel oracles, degenerate channels, hardware vs golden.

The generic rungs (Icarus, Verilator, native, iCE40 netlist, corrupted golden) run from
tests/test_ladder.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from golden.fp32 import from_bits, to_bits
from golden.gvq_quantizer import (GvqQuantizerConfig, channel_stats, classify, gvq_quantize_bits,
                                  gvq_registers, gvq_scales, run)
from golden.params import ConfigError
from hw.gvq_quantizer import GvqQuantizer
from sim.amaranth_harness import layouts_of, run_amaranth
from sim.blocks.gvq_quantizer import beats_scenario, channel_tensor, lengths_of
from sim.blocks.quantizer import special_bits

TINY = 2.0 ** -126


# --------------------------------------------------------------------------------------------
# Oracles
# --------------------------------------------------------------------------------------------

def spec_dai8_scales(G, state):
    """docs/spec.md#dai8, the chosen code as written there (finite tensors)."""
    LAMBDA, K, A = 0.3, 1.0, 0.8
    g = G.astype(np.float64)
    gc = np.moveaxis(g, 1, 0).reshape(g.shape[1], -1)
    gmax = np.abs(gc).max(axis=1)
    sd = gc.std(axis=1)
    rho = (np.abs(gc) > sd[:, None]).mean(axis=1)
    gauss = rho > LAMBDA
    prev = state.get("s", gmax)
    s = np.where(gauss, gmax, (1 - K * A) * prev + A * gmax)
    state["s"] = s
    return s.astype(np.float32), gauss


def spec_dai8_quant(x32, s32):
    inv = np.float32(127) / s32
    return np.clip(np.rint(np.clip(x32, -s32, s32) * inv), -127, 127).astype(np.int8)


def oracle_channel(g32):
    """One channel in plain Python float64: (gmax, sigma32, count, n, gauss)."""
    vals = [float(v) for v in g32 if np.isfinite(v)]
    n = len(vals)
    gmax = max((abs(v) for v in vals), default=0.0)
    mean = sum(vals) / n if n else 0.0
    sigma = float(np.float32(np.sqrt(sum((v - mean) ** 2 for v in vals) / n))) if n else 0.0
    count = sum(1 for v in vals if (abs(v) if abs(v) >= TINY else 0.0) > sigma)
    return gmax, sigma, count, n, 10 * count > 3 * n


def oracle_quantize(x32, s, mode, F, r, b=8):
    """Clip, scale, round in float64 (cast once to float32 per FP32 operation), ``b``-bit codes."""
    c = float(np.float32(s))
    L = 2 ** (b - 1) - 1
    with np.errstate(invalid="ignore", over="ignore"):
        inv = 0.0 if abs(c) < TINY else float(np.float32(L / c))
        x = np.asarray(x32, dtype=np.float32).astype(np.float64)
        x = np.where(np.abs(x) < TINY, np.copysign(0.0, x), x)
        clipped = np.abs(x) > abs(c)
        xc = np.where(clipped, np.copysign(abs(c), x), x)
        v = np.asarray(xc * inv, dtype=np.float64).astype(np.float32).astype(np.float64)
        v = np.where(np.abs(v) < TINY, 0.0, v)
        nan = np.isnan(v)
        vv = np.clip(np.where(nan, 0, v), -(L + 1), L + 1)
        q = np.rint(vv) if mode == "rne" else np.floor((np.floor(vv * 2.0 ** F) + r) / 2.0 ** F)
    sat = np.abs(q) > L
    return np.where(nan, 0, np.clip(q, -L, L)).astype(np.int64), nan, sat, clipped


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"lanes": 65}, "gvq_quantizer parameter lanes=65 is out of range: allowed values are an "
                    "integer in 1..64."),
    ({"channels": 0}, "gvq_quantizer parameter channels=0 is out of range: allowed values are an "
                      "integer in 1..4096."),
    ({"mode": "rtz"}, "gvq_quantizer parameter mode='rtz' is invalid: allowed values are one of "
                      "rne, sr."),
    ({"seed": 0}, "gvq_quantizer parameter seed=0 is invalid"),
])
def test_bad_parameters_rejected(kwargs, message):
    with pytest.raises(ConfigError) as e:
        GvqQuantizerConfig(**kwargs)
    assert str(e.value).startswith(message)
    with pytest.raises(ConfigError):
        GvqQuantizer(**kwargs)


def test_config_and_bad_beats():
    cfg = GvqQuantizerConfig(channels=5)
    assert cfg.module_name == "gvq_quantizer_l2_c5_rne_f8_split_s44257_p1_b8"
    assert cfg.ch_width == 3 and GvqQuantizerConfig(channels=1).ch_width == 1
    assert lengths_of([1, 1, 0, 0, 1, 0]) == [3, 1, 2]
    assert cfg.out_cycles([3, 1, 2]) == [4, 5, 7]
    z = np.zeros((2, 2), dtype=np.int64)
    with pytest.raises(ConfigError, match="gvq_quantizer channel 5 is out of range: allowed "
                                          "values are 0..4."):
        run(cfg, [True, False], [5, 5], z, [0, 0], [0, 0])
    with pytest.raises(ConfigError, match="channel 1 is read at beat 1 before it was loaded"):
        run(cfg, [True, False], [0, 1], z, [0, 0], [0, 0])
    with pytest.raises(ConfigError, match="gvq gradient has dtype float64"):
        channel_stats(np.zeros((1, 2, 3)))


# --------------------------------------------------------------------------------------------
# Statistics, classification, MCS
# --------------------------------------------------------------------------------------------

def test_statistics_and_classes_match_python_oracle_per_channel():
    rng = np.random.default_rng(1)
    g = channel_tensor(rng, 10, 301).reshape(2, 5, 301)       # (N, C, L): channels on axis 1
    g[1, 3, 7] = np.nan
    g[0, 3, 9] = -np.inf
    st = channel_stats(g, axis=1)
    gauss = classify(st)
    for c in range(5):
        gm, sig, cnt, n, ga = oracle_channel(g[:, c].reshape(-1))
        assert st.gmax[c] == gm and float(st.sigma[c]) == sig
        assert st.count[c] == cnt and st.n[c] == n and gauss[c] == ga
    assert gauss.any() and not gauss.all()


def test_mcs_matches_spec_code_over_iterations():
    rng = np.random.default_rng(2)
    state, spec_state = {}, {}
    clipped_any = False
    for it in range(4):
        g = channel_tensor(rng, 10, 200).reshape(2, 5, 200)
        if it == 2:
            g *= 3                                         # maxima jump: inverted-T clips
        s, gauss, st = gvq_scales(g, state, axis=1)
        s_ref, gauss_ref = spec_dai8_scales(g, spec_state)
        assert np.array_equal(gauss, gauss_ref)
        np.testing.assert_allclose(state["s"], spec_state["s"], rtol=1e-13, atol=0)
        assert np.array_equal(s, s_ref)
        clipped_any |= bool(np.any(s.astype(np.float64) < st.gmax))
    assert clipped_any


def test_input_gradient_path_is_one_channel():
    rng = np.random.default_rng(3)
    g = channel_tensor(rng, 4, 100).reshape(2, 2, 100)
    st = channel_stats(g, axis=None)
    gm, sig, cnt, n, _ = oracle_channel(g.reshape(-1))
    assert st.gmax.shape == (1,) and st.gmax[0] == gm and st.count[0] == cnt and st.n[0] == n


def test_degenerate_channels():
    g = np.zeros((1, 5, 4), dtype=np.float32)
    g[0, 1, 0] = -0.5                                          # channel 1: one nonzero element
    g[0, 2] = [np.nan, np.inf, -np.inf, np.nan]                # channel 2: no finite element
    g[0, 3] = [np.nan, 0.25, -1.0, 0.5]                        # channel 3: NaN excluded
    g[0, 4] = [1e-40, -1e-40, 0.0, 0.0]                        # channel 4: subnormals
    state = {}
    s, gauss, st = gvq_scales(g, state, axis=1)
    assert list(st.n) == [4, 4, 0, 3, 4] and list(st.count[[0, 2, 4]]) == [0, 0, 0]
    assert list(gauss) == [False, False, False, True, False]   # 1 of 4 above sigma: not > 0.3
    assert s[0] == 0 and s[1] == 0.5 and s[2] == 0 and s[3] == 1.0
    one = channel_stats(np.array([[[3.0]]], dtype=np.float32))
    assert one.sigma[0] == 0 and one.count[0] == 1 and classify(one)[0]
    cb, ib = gvq_registers(s)
    assert ib[0] == 0 and ib[2] == 0                           # s = 0: inv register 0, not Inf
    codes, nan, sat, clip = gvq_quantize_bits(to_bits(g[0]), cb[:, None], ib[:, None])
    assert not codes[0].any() and not nan[0].any()
    assert list(codes[2]) == [0, 0, 0, 0] and list(nan[2]) == [True, False, False, True]
    assert list(clip[2]) == [False, True, True, False]         # +-Inf clipped to +-0
    assert list(codes[3]) == [0, 32, -127, 64] and nan[3, 0]
    assert not codes[4].any()
    # second call: the all-zero channel decays, the Gaussian one follows gmax
    g2 = g.copy()
    g2[0, 0] = [0.0, 0.0, 0.0, 1.0]
    s2, _, _ = gvq_scales(g2, state, axis=1)
    assert s2[0] == np.float32(0.8) and s2[1] == 0.5


# --------------------------------------------------------------------------------------------
# Quantizer lanes
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode, F", [("rne", 8), ("sr", 8), ("sr", 3)])
def test_quantizer_matches_float64_oracle(mode, F):
    rng = np.random.default_rng(F)
    n = 0
    for s in (np.float32(0.37), np.float32(3.2e-4), np.float32(1e-37), np.float32(0.0),
              np.float32(127.0), np.float32(5e-39)):
        x = np.concatenate([special_bits(),
                            to_bits((rng.standard_normal(3000) * float(s) * 1.5).astype(np.float32)),
                            rng.integers(0, 1 << 32, 1000),
                            to_bits(np.float32(s)) + np.arange(-3, 4)])
        r = rng.integers(0, 1 << F, x.size)
        cb, ib = gvq_registers(np.array([s]))
        q, nan, sat, clip = gvq_quantize_bits(x, cb[0], ib[0], mode, F, r)
        qo, nano, sato, clipo = oracle_quantize(from_bits(x & 0xFFFF_FFFF), s, mode, F, r)
        assert np.array_equal(q.astype(np.int64), qo)
        assert np.array_equal(nan, nano) and np.array_equal(sat, sato)
        assert np.array_equal(clip, clipo)
        n += x.size
    assert n > 24_000


@pytest.mark.parametrize("b", [2, 4, 6, 12])
@pytest.mark.parametrize("mode", ["rne", "sr"])
def test_width_quantizer_matches_float64_oracle(b, mode):
    rng = np.random.default_rng(60 + b)
    F = 8
    for s in (np.float32(0.37), np.float32(3.2e-4), np.float32(0.0), np.float32(127.0)):
        x = np.concatenate([special_bits(),
                            to_bits((rng.standard_normal(2000) * float(s) * 1.5).astype(np.float32)),
                            rng.integers(0, 1 << 32, 500), to_bits(np.float32(s)) + np.arange(-3, 4)])
        r = rng.integers(0, 1 << F, x.size)
        cb, ib = gvq_registers(np.array([s]), bits=b)
        q, nan, sat, clip = gvq_quantize_bits(x, cb[0], ib[0], mode, F, r, bits=b)
        assert q.dtype == (np.int8 if b <= 8 else np.int16)
        qo, nano, sato, clipo = oracle_quantize(from_bits(x & 0xFFFF_FFFF), s, mode, F, r, b)
        assert np.array_equal(q.astype(np.int64), qo)
        assert np.array_equal(nan, nano) and np.array_equal(sat, sato)
        assert np.array_equal(clip, clipo)
        if s > 1e-3:
            assert np.abs(qo).max() == 2 ** (b - 1) - 1
    cfg = GvqQuantizerConfig(lanes=2, channels=2, mode=mode, bits=b)
    load = np.array([1, 1, 0, 0, 0], bool)
    ch = np.array([0, 1, 0, 1, 1])
    xb = to_bits(rng.standard_normal((5, 2)).astype(np.float32))
    cb, ib = gvq_registers(np.array([0.5, 2.0, 0, 0, 0], np.float32), bits=b)
    codes, nan, sat, clip, rr = run(cfg, load, ch, xb, cb, ib)
    for k, sc in enumerate((0.5, 2.0, 2.0)):
        qo, _, _, _ = oracle_quantize(from_bits(xb[2 + k]), np.float32(sc), mode, F,
                                      rr[k] if rr is not None else 0, b)
        assert np.array_equal(codes[k].astype(np.int64), qo)


def test_quantizer_matches_spec_code_per_channel():
    rng = np.random.default_rng(4)
    g = channel_tensor(rng, 5, 400)[0]
    g[4] *= 1e30                                              # keep it normal for the spec code
    s, _, _ = gvq_scales(g[None], {}, axis=1)
    keep = s > 0
    cb, ib = gvq_registers(s)
    q, _, _, _ = gvq_quantize_bits(to_bits(g), cb[:, None], ib[:, None])
    ref = spec_dai8_quant(g[keep], s[keep][:, None])
    assert np.array_equal(q[keep], ref)


def test_weight_gradient_scale_factors_out_of_the_reduction():
    """G_W = (s_co/127)(s_X/127) qG @ qX: per-row dequantization of one integer GEMM equals
    the float64 product of the dequantized operands."""
    rng = np.random.default_rng(5)
    g = channel_tensor(rng, 5, 256)[0].astype(np.float32)
    s, _, _ = gvq_scales(g[None], {}, axis=1)
    cb, ib = gvq_registers(s)
    qg, _, _, _ = gvq_quantize_bits(to_bits(g), cb[:, None], ib[:, None])
    qx = rng.integers(-127, 128, (256, 7))
    sx = np.float32(0.9)
    acc = qg.astype(np.int64) @ qx
    out = acc * (s.astype(np.float64)[:, None] / 127) * (float(sx) / 127)
    deq_g = qg * (s.astype(np.float64)[:, None] / 127)
    ref = deq_g @ (qx * float(sx) / 127)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-300)


# --------------------------------------------------------------------------------------------
# Hardware vs golden
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("params", [
    {"lanes": 3, "channels": 5, "mode": "sr", "scheme": "per_lane", "pipelined": False},
    {"lanes": 1, "channels": 1},
    {"lanes": 2, "channels": 33, "mode": "sr", "frac_bits": 16},
])
def test_amaranth_variants_with_gaps_and_stalls(params):
    cfg = GvqQuantizerConfig(**params)
    comp = GvqQuantizer(cfg)
    for k in range(2):
        sc, d = beats_scenario(cfg, layouts_of(comp), np.random.default_rng(k), 60)
        assert d["load"].sum() >= 2
        assert d["clipped"].any() or cfg.channels < 5          # an inverted-T channel clips
        assert run_amaranth(comp, sc, seed=k, gap=0.3, stall=0.3).ok
        res = run_amaranth(comp, sc, seed=k)
        assert res.ok and res.out_cycles == sc.out_cycles


def _ignore_reloads(cfg, load, ch, x, clip, inv):
    """Mutation: a channel keeps its first loaded registers."""
    load = np.asarray(load, dtype=bool)
    first = {}
    clip, inv = np.array(clip), np.array(inv)
    for t in np.nonzero(load)[0]:
        c = int(ch[t])
        if c in first:
            clip[t], inv[t] = first[c]
        else:
            first[c] = (clip[t], inv[t])
    return run(cfg, load, ch, x, clip, inv)


def _rtz(cfg, load, ch, x, clip, inv):
    """Mutation: round toward zero instead of RNE."""
    from golden.quantizer import quantize_bits
    codes, nan, sat, cl, r = run(cfg, load, ch, x, clip, inv)
    load = np.asarray(load, dtype=bool)
    regs = {}
    rows = []
    for t in range(load.size):
        if load[t]:
            regs[int(ch[t])] = (clip[t], inv[t])
        else:
            rows.append(regs[int(ch[t])])
    rows = np.array(rows, dtype=np.int64)
    from golden.gvq_quantizer import gvq_clip_bits
    xc, _ = gvq_clip_bits(np.asarray(x)[~load], rows[:, :1])
    codes, _, _ = quantize_bits(xc, np.broadcast_to(rows[:, 1:], xc.shape), "rtz", 8)
    return codes, nan, sat, cl, r


def test_mutations_are_caught_by_the_hardware_comparison():
    cfg = GvqQuantizerConfig(lanes=2, channels=8)
    comp = GvqQuantizer(cfg)
    for mut in (_ignore_reloads, _rtz):
        sc, _ = beats_scenario(cfg, layouts_of(comp), np.random.default_rng(7), 80, golden=mut)
        assert not run_amaranth(comp, sc, seed=1).ok, mut.__name__
    sc, _ = beats_scenario(cfg, layouts_of(comp), np.random.default_rng(7), 80)
    assert run_amaranth(comp, sc, seed=1).ok


# --------------------------------------------------------------------------------------------
# Statistics unit (gvq_stats)
# --------------------------------------------------------------------------------------------

from golden.gvq_stats import GvqStatsConfig, pad_beats  # noqa: E402
from golden.gvq_stats import run as stats_run  # noqa: E402
from hw.gvq_stats import GvqStats  # noqa: E402
from sim.blocks.gvq_stats import beats_scenario as stats_scenario  # noqa: E402


def _stats_sequence(cfg, g, rng, reads_twice=False):
    """Load every channel's host sigma, stream its elements (beats of all channels shuffled,
    exact-sigma values included), read every channel."""
    st = channel_stats(g[None], axis=1)
    xb = to_bits(g)
    rows = [(1, c, [0] * cfg.lanes, int(to_bits(st.sigma[c]))) for c in range(g.shape[0])]
    data = [(0, c, list(b), 0) for c in range(g.shape[0]) for b in pad_beats(xb[c], cfg.lanes)]
    rows += [data[k] for k in rng.permutation(len(data))]
    rows += [(2, c, [0] * cfg.lanes, 0) for c in range(g.shape[0])] * (2 if reads_twice else 1)
    op, ch, x, sig = (np.array([r[i] for r in rows], dtype=np.int64) for i in range(4))
    return op, ch, x.reshape(-1, cfg.lanes), sig, st


def test_stats_unit_equals_host_statistics():
    rng = np.random.default_rng(9)
    cfg = GvqStatsConfig(lanes=3, channels=6)
    g = channel_tensor(rng, 6, 101)[0]
    g[1, :5] = [np.nan, np.inf, -np.inf, 1e-40, -0.0]
    op, ch, x, sig, st = _stats_sequence(cfg, g, rng, reads_twice=True)
    assert st.sigma[2] == 0 and st.count[2] == 0 and st.n[2] == 101   # |g| = sigma: not above
    gmax, count, n, ovf = stats_run(cfg, op, ch, x, sig)
    assert np.array_equal(from_bits(gmax[:6]).astype(np.float64), st.gmax)
    assert np.array_equal(count[:6], st.count) and np.array_equal(n[:6], st.n)
    assert not ovf.any() and not gmax[6:].any() and not n[6:].any()     # read clears
    comp = GvqStats(cfg)
    sc, _ = stats_scenario(cfg, layouts_of(comp), rng, op=op, ch=ch, x=x, sigma=sig)
    assert run_amaranth(comp, sc, seed=3, gap=0.3, stall=0.3).ok


def test_stats_counters_saturate_with_flag():
    cfg = GvqStatsConfig(lanes=2, channels=2, count_bits=3)
    x = np.full((10, 2), int(to_bits(np.float32(1.0))))
    op = np.array([1] + [0] * 8 + [2])
    ch = np.zeros(10, dtype=np.int64)
    gmax, count, n, ovf = stats_run(cfg, op, ch, x, np.zeros(10, dtype=np.int64))
    assert (int(count[0]), int(n[0]), bool(ovf[0])) == (7, 7, True)
    assert from_bits(gmax[0]) == 1.0
    comp = GvqStats(cfg)
    sc, _ = stats_scenario(cfg, layouts_of(comp), np.random.default_rng(0), op=op, ch=ch, x=x,
                           sigma=np.zeros(10, dtype=np.int64))
    assert run_amaranth(comp, sc, seed=1, gap=0.3, stall=0.3).ok
    with pytest.raises(ConfigError, match="gvq_stats operation 3 is invalid"):
        stats_run(cfg, [3], [0], np.zeros((1, 2)), [0])
    with pytest.raises(ConfigError, match="gvq_stats parameter count_bits=1 is out of range"):
        GvqStatsConfig(count_bits=1)


def _count_nan_padding(cfg, op, ch, x, sigma):
    """Mutation: NaN elements (the padding) count in n."""
    gmax, count, n, ovf = stats_run(cfg, op, ch, x, sigma)
    extra = {}
    for t in range(len(op)):
        if op[t] == 0:
            e = (np.asarray(x[t]) >> 23) & 0xFF
            frac = np.asarray(x[t]) & 0x7F_FFFF
            extra[int(ch[t])] = extra.get(int(ch[t]), 0) + int(((e == 0xFF) & (frac != 0)).sum())
    reads = [int(ch[t]) for t in range(len(op)) if op[t] == 2]
    seen = set()
    add = []
    for c in reads:
        add.append(0 if c in seen else extra.get(c, 0))
        seen.add(c)
    return gmax, count, n + np.array(add, dtype=np.int64), ovf


def _count_ge_sigma(cfg, op, ch, x, sigma):
    """Mutation: |g| >= sigma counts (recounted per channel between reads)."""
    gmax, count, n, ovf = stats_run(cfg, op, ch, x, sigma)
    sig, acc, out = {}, {}, []
    for t in range(len(op)):
        c = int(ch[t])
        if op[t] == 1:
            sig[c] = int(sigma[t]) & 0x7FFF_FFFF
        elif op[t] == 0:
            e = (np.asarray(x[t]) >> 23) & 0xFF
            mag = np.where(e == 0, 0, np.asarray(x[t]) & 0x7FFF_FFFF)
            acc[c] = acc.get(c, 0) + int(((e != 0xFF) & (mag >= sig.get(c, 0))).sum())
        else:
            out.append(acc.pop(c, 0))
    return gmax, np.array(out, dtype=np.int64), n, ovf


def test_stats_mutations_are_caught():
    rng = np.random.default_rng(10)
    cfg = GvqStatsConfig(lanes=3, channels=4)
    g = channel_tensor(rng, 4, 31)[0]    # 31 elements: padded last beat; channel 2 all zero
    op, ch, x, sig, _ = _stats_sequence(cfg, g, rng)
    comp = GvqStats(cfg)
    for mut in (_count_nan_padding, _count_ge_sigma):
        sc, _ = stats_scenario(cfg, layouts_of(comp), rng, op=op, ch=ch, x=x, sigma=sig,
                               golden=mut)
        assert not run_amaranth(comp, sc, seed=2).ok, mut.__name__


def test_trainer_gvq_mode_per_channel_and_global_paths():
    """``lobit train --grad gvq``: the weight gradient uses one MCS scale per output channel, the
    input gradient one per-layer scale; both states persist across steps."""
    from train.arith import Int8Arith
    rng = np.random.default_rng(31)
    ar = Int8Arith("gvq")
    x = rng.standard_normal((64, 10)).astype(np.float32)
    w = (rng.standard_normal((10, 6)) * 0.3).astype(np.float32)
    dy = channel_tensor(rng, 6, 64)[0].T.copy()                 # (M, N): N = 6 channels
    _, ctx = ar.forward(x, w)
    dx, dw = ar.backward(dy, ctx)
    qx, sx, qw, sw = ctx
    key = ctx.key
    s, _, _ = gvq_scales(dy, {}, axis=1)
    cb, ib = gvq_registers(s)
    qg, _, _, _ = gvq_quantize_bits(to_bits(dy), cb[None, :], ib[None, :])
    ref = (qx.T.astype(np.int64) @ qg.astype(np.int64)).astype(np.float32) * \
        (np.float32(sx) * (s / np.float32(127))[None, :]).astype(np.float32)
    assert np.array_equal(dw, ref)
    s1, _, _ = gvq_scales(dy, {}, axis=None)
    cb1, ib1 = gvq_registers(s1)
    qg1, _, _, _ = gvq_quantize_bits(to_bits(dy), cb1[0], ib1[0])
    refx = (qg1.astype(np.int64) @ qw.T.astype(np.int64)).astype(np.float32) * \
        np.float32(np.float32(s1[0] / np.float32(127)) * sw)
    assert np.array_equal(dx, refx)
    assert set(ar.gvq_state) == {(key, "w"), (key, "x")}
    st = {}
    gvq_scales(dy, st, axis=1)
    gvq_scales(dy * np.float32(3), st, axis=1)
    ar.backward(dy * np.float32(3), ctx)                        # second step: MCS state used
    assert np.array_equal(ar.gvq_state[(key, "w")]["s"], st["s"])
