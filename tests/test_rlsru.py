"""RLSRU: golden schemes against independent oracles, random-quality statistics, hardware.

Oracles: the spec's ``lfsr16_step``/``rlsru_stream`` (docs/spec.md#lfsr and docs/spec.md#rlsru) and plain
bit-by-bit stepping of :func:`golden.lfsr.step` (itself checked against galois/scipy/pylfsr in
``tests/test_lfsr.py``); the golden model uses leap-forward matrices instead.

Statistical thresholds (fixed seeds, so the tests are deterministic):

* SR bias. With a uniform F-bit ``r``, ``E[SR_F(v, r)] = floor(v) + floor(frac(v) 2^F) / 2^F``,
  within ``2^-F`` of ``v``. One lane's ``r_t`` are F-bit windows of an m-sequence that may
  overlap for ``|t - t'| < F`` (sliding windows) and are independent beyond, so the round-up
  decisions are an (F-1)-dependent series: ``Var(mean) <= (2F - 1) p (1 - p) / N``. Threshold
  ``|mean - v| <= 2^-F + 4.5 sqrt((2F-1) p (1-p) / N)``.
* Lane correlation. Each lane value is a weighted sum of m-sequence bits; distinct positions of
  an m-sequence are pairwise uncorrelated (up to ``-1/(2^W - 1)``), so the same-cycle correlation
  of two lanes is predicted exactly from the bits they share: ``rho = sum_shared w w' / sum w^2``.
  The sample correlation of two such series has standard deviation at most
  ``sqrt((1 + 2 sum_k 4^-k) / N) <= sqrt(5 / (3 N))``; threshold ``4.5`` of those.
* Chi-square. Samples decimated by F cycles, from lanes that share no bits, are independent;
  their F-bit histogram must stay below the ``1 - 1e-4`` quantile of ``chi2(2^F - 1)``. In
  ``split``/``replay`` lane 1 at cycle ``c + F`` repeats lane 0 at cycle ``c``, so only lane 0 is
  used there.
"""

import time

import numpy as np
import pytest

from golden.lfsr import LfsrConfig, output_bits, step
from golden.params import ConfigError
from golden.rlsru import SCHEMES, RlsruConfig, generate, leap_seed, leap_width, sr
from hw.rlsru import Rlsru
from sim.amaranth_harness import layouts_of, run_amaranth
from sim.blocks.rlsru import request_scenario
from sim.rlsru_sweep import bias_tolerance, chi2_limit, corr_tolerance, predicted_corr


def spec_lfsr16_step(s):
    bit = ((s >> 0) ^ (s >> 2) ^ (s >> 3) ^ (s >> 5)) & 1
    return ((s >> 1) | (bit << 15)) & 0xFFFF


def spec_rlsru_stream(seed, n):
    """Verbatim from docs/spec.md#rlsru (with the spec's lfsr16_step)."""
    s = seed & 0xFFFF or 0xACE1
    out = np.empty(n, np.int64)
    for i in range(0, n, 2):
        s = spec_lfsr16_step(s)
        out[i] = s >> 8
        if i + 1 < n:
            out[i + 1] = s & 0xFF
    return out


def rotl16(s, r):
    r %= 16
    return ((s << r) | (s >> (16 - r))) & 0xFFFF


# --- golden model vs independent oracles -------------------------------------------------------

def test_split_two_lanes_equals_spec_rlsru_stream():
    for seed in (0xACE1, 1, 0xFFFF, 12345):
        cfg = RlsruConfig(lanes=2, frac_bits=8, scheme="split", seed=seed)
        assert np.array_equal(generate(cfg, 3000).reshape(-1), spec_rlsru_stream(seed, 6000))


@pytest.mark.parametrize("lanes, F", [(16, 8), (40, 5), (64, 16), (3, 1)])
def test_split_equals_stepping_oracle(lanes, F):
    cfg = RlsruConfig(lanes=lanes, frac_bits=F, scheme="split", seed=0x1D2B)
    G = -(-lanes // 16)
    n = 200
    states, s = [], cfg.seed
    for _ in range(n * G):
        s = spec_lfsr16_step(s)
        states.append(s)
    exp = np.empty((n, lanes), np.int64)
    for c in range(n):
        for j in range(lanes):
            q, i = divmod(j, 16)
            rho = i // 2 + 8 * (i % 2)
            exp[c, j] = rotl16(states[c * G + q], rho) >> (16 - F)
    assert np.array_equal(generate(cfg, n), exp)


@pytest.mark.parametrize("lanes, F", [(16, 8), (5, 3), (64, 1)])
def test_per_lane_equals_stepping_oracle(lanes, F):
    cfg = RlsruConfig(lanes=lanes, frac_bits=F, scheme="per_lane", seed=0x2468)
    D = 65535 // lanes
    seq, s = [], cfg.seed                     # whole period by plain stepping
    for _ in range(65535 + 300):
        seq.append(s)
        s = spec_lfsr16_step(s)
    n = 300
    exp = np.array([[seq[(l * D + c + 1) % 65535] >> (16 - F) for l in range(lanes)]
                    for c in range(n)], np.int64)
    assert np.array_equal(generate(cfg, n), exp)


@pytest.mark.parametrize("lanes, F", [(16, 8), (3, 5), (1, 4), (64, 16), (7, 9)])
def test_leap_equals_bit_stream_oracle(lanes, F):
    cfg = RlsruConfig(lanes=lanes, frac_bits=F, scheme="leap", seed=0xACE1)
    W = leap_width(cfg)
    assert W == min(64, 16 * -(-(lanes * F) // 16))
    # expanded seed: 16-bit seed states s16_0.. concatenated
    s, x0 = cfg.seed, 0
    for q in range(W // 16):
        x0 |= s << (16 * q)
        s = spec_lfsr16_step(s)
    assert leap_seed(cfg) == x0
    n, PF = 40, lanes * F
    bits = output_bits(LfsrConfig(width=W, seed=x0), (n + 1) * PF)     # plain stepping
    exp = np.empty((n, lanes), np.int64)
    for c in range(n):
        for l in range(lanes):
            chunk = bits[(c + 1) * PF + l * F:(c + 1) * PF + (l + 1) * F]
            exp[c, l] = int(sum(int(b) << i for i, b in enumerate(chunk)))
    assert np.array_equal(generate(cfg, n), exp)


def test_replay_restart_repeats_the_pass():
    cfg = RlsruConfig(lanes=16, frac_bits=8, scheme="replay")
    n = 100
    restarts = np.zeros(3 * n, bool)
    restarts[n] = restarts[2 * n] = True
    r = generate(cfg, 3 * n, restarts)
    assert np.array_equal(r[:n], r[n:2 * n]) and np.array_equal(r[:n], r[2 * n:])
    assert np.array_equal(r[:n], generate(cfg.replace(scheme="split"), n))
    # every other scheme ignores restart
    for scheme in ("per_lane", "leap", "split"):
        c = cfg.replace(scheme=scheme)
        assert np.array_equal(generate(c, 3 * n, restarts), generate(c, 3 * n))


def test_full_period_byte_histogram_spec_claim():
    """docs/spec.md#rlsru: over a period each byte value appears 256 times, 0 only 255 times."""
    cfg = RlsruConfig(lanes=2, frac_bits=8, scheme="split")
    r = generate(cfg, 65535)
    for lane in range(2):
        h = np.bincount(r[:, lane], minlength=256)
        assert h[0] == 255 and np.all(h[1:] == 256)
    m = sr(0.3, r[:, 0], 8).mean()
    assert abs(m - 0.296875) < 1e-4                  # spec: E[SR(0.3)] = 0.2969


@pytest.mark.parametrize("kwargs, pattern", [
    ({"lanes": 0}, r"^rlsru parameter lanes=0 is out of range: allowed values are an integer in 1\.\.64\.$"),
    ({"lanes": 65}, r"^rlsru parameter lanes=65 is out of range"),
    ({"frac_bits": 0}, r"^rlsru parameter frac_bits=0 is out of range: allowed values are an integer in 1\.\.16\.$"),
    ({"scheme": "xorshift"}, r"^rlsru parameter scheme='xorshift' is invalid: allowed values are one "
                             r"of per_lane, leap, split, replay\.$"),
    ({"seed": 0}, r"^rlsru parameter seed=0 is invalid: the all-zero state never leaves itself; "
                  r"allowed values are 1\.\.65535\.$"),
    ({"seed": 0x10000}, r"^rlsru parameter seed=65536 is out of range"),
])
def test_bad_parameters_rejected(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        RlsruConfig(**kwargs)


# --- random quality ------------------------------------------------------------------------------

N_STAT = 4096
STAT_CFGS = [RlsruConfig(scheme=s) for s in SCHEMES]


@pytest.fixture(scope="module")
def stat_samples():
    return {c.scheme: generate(c, N_STAT) for c in STAT_CFGS}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_sr_bias(stat_samples, scheme):
    r = stat_samples[scheme]
    F = 8
    worst = 0.0
    for v in np.linspace(-2, 2, 81)[:-1] + 0.0123:
        p = np.floor(v * 2 ** F) / 2 ** F - np.floor(v)
        ideal = np.floor(v) + p
        assert abs(ideal - v) <= 2.0 ** -F
        tol = bias_tolerance(p, F, N_STAT, 2 * F - 1)
        means = sr(v, r, F).mean(axis=0)                  # per lane
        dev = np.abs(means - v)
        worst = max(worst, float(dev.max()))
        assert np.all(dev <= tol + 1e-12), (scheme, v, dev.max(), tol)
    print(f"{scheme}: max |E[SR_8(v)] - v| over 80 v x 16 lanes = {worst:.5f}")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_lane_correlation_matches_bit_sharing_model(stat_samples, scheme):
    cfg = RlsruConfig(scheme=scheme)
    r = stat_samples[scheme].astype(np.float64)
    C = np.corrcoef(r, rowvar=False)
    tol = corr_tolerance(N_STAT)
    worst, worst_pred0 = 0.0, 0.0
    for a in range(cfg.lanes):
        for b in range(a + 1, cfg.lanes):
            pred = predicted_corr(cfg, a, b)
            assert abs(C[a, b] - pred) <= tol, (scheme, a, b, C[a, b], pred)
            worst = max(worst, abs(C[a, b]))
            if pred == 0:
                worst_pred0 = max(worst_pred0, abs(C[a, b]))
    if scheme in ("per_lane", "leap"):
        assert worst_pred0 == worst          # no lane pair shares a bit
    else:
        assert abs(predicted_corr(cfg, 0, 2) - 0.5) < 0.01   # neighbouring rotations
    print(f"{scheme}: max |corr| = {worst:.4f}, max |corr| of pairs sharing no bit = "
          f"{worst_pred0:.4f} (tol {tol:.4f})")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_chi_square_of_values(scheme):
    F = 8
    cfg = RlsruConfig(scheme=scheme, frac_bits=F)
    if scheme in ("per_lane", "leap"):
        n = 8 * 256
        samples = generate(cfg, n)[::F].reshape(-1)                 # all lanes independent
    else:
        # lane 1 at cycle c + F equals lane 0 at cycle c (one step per cycle, windows 8 bits
        # apart), so only lane 0 gives independent samples
        n = 32768
        samples = generate(cfg, n)[::F, 0]
    h = np.bincount(samples, minlength=2 ** F)
    e = samples.size / 2 ** F
    stat = float(((h - e) ** 2 / e).sum())
    limit = chi2_limit(F)
    assert stat < limit, (scheme, stat, limit)
    print(f"{scheme}: chi2 = {stat:.1f} on {samples.size} samples (limit {limit:.1f})")


def test_statistics_can_fail():
    """A degenerate source (every lane equal to lane 0) must break the correlation model."""
    cfg = RlsruConfig(scheme="per_lane")
    r = generate(cfg, N_STAT)
    r[:, 1] = r[:, 0]
    C = np.corrcoef(r.astype(np.float64), rowvar=False)
    assert abs(C[0, 1] - predicted_corr(cfg, 0, 1)) > corr_tolerance(N_STAT)


# --- hardware vs golden --------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    {"scheme": "per_lane"}, {"scheme": "leap"}, {"scheme": "split"}, {"scheme": "replay"},
    {"scheme": "leap", "lanes": 24, "frac_bits": 16, "seed": 7},
    {"scheme": "split", "lanes": 40, "frac_bits": 5},
    {"scheme": "replay", "lanes": 33, "frac_bits": 12, "seed": 0xFFFF},
    {"scheme": "per_lane", "lanes": 3, "frac_bits": 16},
    {"scheme": "leap", "lanes": 1, "frac_bits": 1},
])
def test_hw_matches_golden_with_backpressure(kwargs):
    cfg = RlsruConfig(**kwargs)
    dut = Rlsru(cfg)
    n = 400
    restarts = np.random.default_rng(4).random(n) < 0.03
    sc = request_scenario(cfg, layouts_of(dut), n, restarts)
    res = run_amaranth(dut, sc, seed=9, gap=0.2, stall=0.3)
    assert res.ok, res.mismatches[:3]
    assert res.checked == n
    timed = run_amaranth(Rlsru(cfg), sc, seed=9)
    assert timed.ok and timed.out_cycles["out"] == list(range(n))


@pytest.mark.cocotb
def test_cocotb_icarus(tmp_path):
    from sim.runner import run_cocotb
    for scheme in ("replay", "leap"):
        cfg = RlsruConfig(scheme=scheme)
        comp = Rlsru(cfg)
        restarts = np.random.default_rng(6).random(1000) < 0.02
        sc = request_scenario(cfg, layouts_of(comp), 1000, restarts)
        t0 = time.perf_counter()
        res = run_cocotb(cfg, comp, sc, simulator="icarus", build_dir=tmp_path / scheme,
                         seed=13, gap=0.1, stall=0.3)
        assert res.ok, res.mismatches[:3]
        assert res.checked == 1000
        print(f"icarus {scheme}: {res.checked} beats ({sc.vectors} numbers), {res.cycles} "
              f"cycles, {time.perf_counter() - t0:.2f} s")
