"""RLSRU: golden schemes against independent oracles, random-quality statistics, hardware.

Oracles: the spec's ``lfsr16_step``/``rlsru_stream`` (docs/spec.md#lfsr and docs/spec.md#rlsru) and plain
bit-by-bit stepping of :func:`golden.lfsr.step` (itself checked against galois/scipy/pylfsr in
``tests/test_lfsr.py``); the golden model uses leap-forward matrices instead. ``phase``: every
lane's bit stream is the plainly stepped m-sequence shifted by the lane's phase; the phases (a
discrete-log table) are checked with matrix powers, the pairwise independence (polynomial gcd)
with GF(2) ranks and full-period histograms.

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

import golden.rlsru as grlsru
from golden.lfsr import LfsrConfig, mat_pow, output_bits, transition_matrix
from golden.params import ConfigError
from golden.rlsru import (PERIOD, SCHEMES, RlsruConfig, generate, generate_tensors,
                          leap_seed, leap_width,
                          pair_independence, phase_lanes, phase_max_lanes,
                          phase_min_independence, phase_order, phase_separation, sr)
from hw.rlsru import Rlsru
from sim.amaranth_harness import layouts_of, run_amaranth
from sim.blocks.rlsru import request_scenario
from sim.transactors import pack
from sim.rlsru_sweep import bias_tolerance, chi2_limit, corr_tolerance, predicted_corr

from .spec_oracles import spec_lfsr16_step, spec_rlsru_stream


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


def spec_m_sequence(seed):
    """``o_t`` (bit 0 of the state after ``t`` plain steps) for one period, and the states."""
    o = np.empty(PERIOD, np.int64)
    states = np.empty(PERIOD, np.int64)
    s = seed
    for t in range(PERIOD):
        o[t] = s & 1
        states[t] = s
        s = spec_lfsr16_step(s)
    assert s == seed
    return o, states


def phase_oracle(o, phases, F, n):
    """``r[c, l] = sum_b o_{c + 1 + phi_l + b} 2^b`` from the plainly stepped sequence."""
    c = np.arange(n)[:, None, None]
    pos = (c + 1 + np.asarray(phases)[None, :, None] + np.arange(F)[None, None, :]) % PERIOD
    return (o[pos] << np.arange(F)).sum(axis=2)


@pytest.mark.parametrize("lanes, F, seed", [(16, 8, 0xACE1), (32, 8, 0x1D2B), (64, 8, 1),
                                            (5, 3, 0xFFFF), (64, 1, 7), (29, 9, 0x2468),
                                            (6, 13, 0xBEEF), (1, 16, 3)])
def test_phase_lanes_are_shifted_m_sequences(lanes, F, seed):
    """Each lane's bits are the spec LFSR's output sequence at the lane's phase (+ bit index)."""
    cfg = RlsruConfig(lanes=lanes, frac_bits=F, scheme="phase", seed=seed)
    o, _ = spec_m_sequence(seed)
    phases = [ph for _, ph, _ in phase_lanes(cfg)]
    n = 300
    assert np.array_equal(generate(cfg, n), phase_oracle(o, phases, F, n))
    # the period wraps: beats 65,535 apart are equal
    r = generate(cfg, PERIOD + 3)
    assert np.array_equal(r[:3], r[PERIOD:])


def test_phase_table_matches_matrix_powers():
    """``phi(f)`` is a discrete log: row 0 of ``M^phi`` is ``f`` (repeated squaring)."""
    M = transition_matrix(LfsrConfig(width=16))
    masks = [o[0] for F in (1, 8, 12) for o in phase_order(F)[:20]]
    masks += [int(x) for x in np.random.default_rng(5).integers(1, 1 << 16, 40)]
    table = grlsru.phase_table()
    for m in masks:
        assert mat_pow(M, int(table[m]))[0] == m
    assert sorted(table[1:].tolist()) == list(range(PERIOD))      # a bijection onto phases


def _rank(vectors):
    basis = []
    for v in vectors:
        for b in basis:
            v = min(v, v ^ b)
        if v:
            basis.append(v)
    return len(basis)


@pytest.mark.parametrize("lanes", [16, 32])
def test_phase_separation_and_pair_independence(lanes):
    """Separations from the phases; lane windows disjoint in a beat; the top F - 2 bits of every
    lane pair span 2(F - 2) dimensions (GF(2) rank of the window functionals ``e_0 M^(phi+b)``,
    not the gcd rule), and over a full period their joint histogram is exactly flat."""
    F = 8
    cfg = RlsruConfig(lanes=lanes, frac_bits=F, scheme="phase")
    lanes_ = phase_lanes(cfg)
    phases = np.array([ph for _, ph, _ in lanes_])
    d = np.abs(phases[:, None] - phases[None, :]) % PERIOD
    d = np.minimum(d, PERIOD - d)[~np.eye(lanes, dtype=bool)]
    sep = phase_separation(cfg)
    assert sep["lanes"] == int(d.min()) >= F and sep["bits"] == sep["lanes"] - (F - 1)
    pos = (phases[:, None] + np.arange(F)).reshape(-1) % PERIOD
    assert np.unique(pos).size == lanes * F                   # no bit used twice in a beat
    M = transition_matrix(LfsrConfig(width=16))
    k = phase_min_independence(F)
    assert k == F - 2
    window = {l: [mat_pow(M, int(ph) + b)[0] for b in range(F - k, F)]
              for l, (_, ph, _) in enumerate(lanes_)}
    r = generate(cfg, PERIOD)
    top = r >> (F - k)
    for a in range(lanes):
        for b in range(a + 1, lanes):
            assert _rank(window[a] + window[b]) == 2 * k, (a, b)
            assert pair_independence(lanes_[a][0], lanes_[b][0], F) >= k
            if a < 4 and b < 8:                               # exact histogram on some pairs
                h = np.bincount(top[:, a] * (1 << k) + top[:, b], minlength=1 << 2 * k)
                full = 1 << (16 - 2 * k)
                assert h[0] == full - 1 and np.all(h[1:] == full), (a, b)


def test_phase_recipes_and_lane0():
    """Every lane is one XOR of two earlier nodes; lane 0 is the top F bits (= per_lane lane 0)."""
    for F in (1, 8, 9, 13):
        order = phase_order(F)
        avail = {1 << k for k in range(16 - F + 1)}
        assert order[0][0] == 1 << (16 - F) and order[0][2] is None
        for mask, _, recipe, _ in order[1:]:
            a, b = recipe
            assert a ^ b == mask and a in avail and b in avail
            avail.add(mask)
    cfg = RlsruConfig(lanes=4, scheme="phase")
    assert np.array_equal(generate(cfg, 50)[:, 0],
                          generate(cfg.replace(scheme="per_lane"), 50)[:, 0])


def test_phase_wrong_taps_fail_the_oracle(monkeypatch):
    """Mutation: one tap of one lane changed -> the shifted-m-sequence oracle rejects it."""
    cfg = RlsruConfig(lanes=16, scheme="phase")
    o, _ = spec_m_sequence(cfg.seed)
    phases = [ph for _, ph, _ in phase_lanes(cfg)]
    good = phase_lanes(cfg)
    bad = list(good)
    m, ph, rec = bad[5]
    bad[5] = (m ^ 1, ph, rec)                                  # one more/less tap, same claim
    monkeypatch.setattr(grlsru, "phase_lanes", lambda c: tuple(bad))
    assert not np.array_equal(generate(cfg, 300), phase_oracle(o, phases, 8, 300))


def test_phase_lane_limit():
    """More lanes than the taps keep independent are rejected (one sentence, allowed range)."""
    assert phase_max_lanes(8) == 64
    n = phase_max_lanes(12)
    RlsruConfig(scheme="phase", frac_bits=12, lanes=n)
    with pytest.raises(ConfigError, match=rf"^rlsru parameter lanes={n + 1} is out of range for "
                       rf"scheme 'phase' with frac_bits=12: allowed values are 1\.\.{n} \(more "
                       rf"lanes would share random bits within a beat\)\.$"):
        RlsruConfig(scheme="phase", frac_bits=12, lanes=n + 1)


def test_replay_restart_repeats_the_pass():
    cfg = RlsruConfig(lanes=16, frac_bits=8, scheme="replay")
    n = 100
    restarts = np.zeros(3 * n, bool)
    restarts[n] = restarts[2 * n] = True
    r = generate(cfg, 3 * n, restarts)
    assert np.array_equal(r[:n], r[n:2 * n]) and np.array_equal(r[:n], r[2 * n:])
    assert np.array_equal(r[:n], generate(cfg.replace(scheme="split"), n))
    # every other scheme ignores restart
    for scheme in ("per_lane", "leap", "split", "phase"):
        c = cfg.replace(scheme=scheme)
        assert np.array_equal(generate(c, 3 * n, restarts), generate(c, 3 * n))


def test_seed_chaining_between_tensors():
    """Chained tensors: every pass of a tensor repeats it, and the tensors' first passes
    together are the uninterrupted stream (each tensor starts where the previous one ended),
    with one seed register and no per-tensor seed."""
    cfg = RlsruConfig(lanes=8, frac_bits=8, scheme="replay", seed=0x5A5A)
    lengths = [50, 30, 70, 1]
    tensors = generate_tensors(cfg, lengths, passes=3)
    for tens, n in zip(tensors, lengths):
        assert tens.shape == (3, n, 8)
        assert np.array_equal(tens[0], tens[1]) and np.array_equal(tens[0], tens[2])
    stream = generate(cfg.replace(scheme="split"), sum(lengths))     # split = stepping oracle
    assert np.array_equal(np.concatenate([t[0] for t in tensors]), stream)
    # single pass: chaining is the plain stream for every scheme (no restarts)
    for scheme in ("per_lane", "leap", "split", "replay", "phase"):
        c = cfg.replace(scheme=scheme)
        one = generate_tensors(c, lengths)
        assert np.array_equal(np.concatenate([t[0] for t in one]), generate(c, sum(lengths)))


def test_chain_register_semantics():
    """Restart returns to the last chained state (not the seed); chain wins over restart on the
    same beat; before any chain, restart returns to the seed; non-replay schemes ignore both."""
    cfg = RlsruConfig(lanes=4, frac_bits=8, scheme="replay")
    plain = generate(cfg, 40)
    n = 40
    chains = np.zeros(n, bool)
    restarts = np.zeros(n, bool)
    chains[10] = True
    restarts[[5, 20, 30]] = True
    chains[30] = True                                  # chain and restart together: chain wins
    r = generate(cfg, n, restarts, chains)
    assert np.array_equal(r[:5], plain[:5]) and np.array_equal(r[5:10], plain[:5])
    assert np.array_equal(r[10:20], plain[5:15])       # chain continues the stream
    assert np.array_equal(r[20:30], r[10:20])          # restart returns to beat 10's state
    assert np.array_equal(r[30:], plain[15:25])        # chained again at 30 (continues)
    for scheme in ("per_lane", "leap", "split", "phase"):
        c = cfg.replace(scheme=scheme)
        assert np.array_equal(generate(c, n, restarts, chains), generate(c, n))
    with pytest.raises(ConfigError, match=r"^rlsru chains has shape \(3,\): expected \(40,\)\.$"):
        generate(cfg, n, None, [True] * 3)


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
                             r"of per_lane, leap, split, replay, phase\.$"),
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
    if scheme in ("per_lane", "leap", "phase"):
        assert worst_pred0 == worst          # no lane pair shares a bit
    else:
        assert abs(predicted_corr(cfg, 0, 2) - 0.5) < 0.01   # neighbouring rotations
    print(f"{scheme}: max |corr| = {worst:.4f}, max |corr| of pairs sharing no bit = "
          f"{worst_pred0:.4f} (tol {tol:.4f})")


@pytest.mark.parametrize("scheme", SCHEMES)
def test_chi_square_of_values(scheme):
    F = 8
    cfg = RlsruConfig(scheme=scheme, frac_bits=F)
    if scheme in ("per_lane", "leap", "phase"):
        # all lanes: per_lane/phase lanes are >= 2,442 beats apart in phase, leap never reuses
        n = 8 * 256
        samples = generate(cfg, n)[::F].reshape(-1)
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
    {"scheme": "phase"}, {"scheme": "phase", "lanes": 64, "frac_bits": 1, "seed": 3},
    {"scheme": "phase", "lanes": 29, "frac_bits": 9, "seed": 0xFFFF},
])
def test_hw_matches_golden_with_backpressure(kwargs):
    cfg = RlsruConfig(**kwargs)
    dut = Rlsru(cfg)
    n = 400
    rng = np.random.default_rng(4)
    restarts = rng.random(n) < 0.03
    chains = rng.random(n) < 0.02
    sc = request_scenario(cfg, layouts_of(dut), n, restarts, chains)
    res = run_amaranth(dut, sc, seed=9, gap=0.2, stall=0.3)
    assert res.ok, res.mismatches[:3]
    assert res.checked == n
    timed = run_amaranth(Rlsru(cfg), sc, seed=9)
    assert timed.ok and timed.out_cycles["out"] == list(range(n))


def test_hw_check_detects_ignored_chain():
    """Mutation: a golden model without the seed register mismatches the replay hardware."""
    cfg = RlsruConfig(lanes=4, scheme="replay")
    dut = Rlsru(cfg)
    n = 60
    chains = np.zeros(n, bool)
    restarts = np.zeros(n, bool)
    chains[20] = restarts[40] = True
    sc = request_scenario(cfg, layouts_of(dut), n, restarts, chains)
    assert run_amaranth(Rlsru(cfg), sc, seed=2, gap=0.2, stall=0.2).ok
    wrong = request_scenario(cfg, layouts_of(dut), n, restarts, chains)
    wrong.outputs["out"] = [pack(layouts_of(dut)["out"], [int(x) for x in row])
                            for row in generate(cfg, n, restarts)]      # chain ignored
    res = run_amaranth(dut, wrong, seed=2, gap=0.2, stall=0.2)
    assert not res.ok


def test_phase_hw_check_detects_wrong_taps(monkeypatch):
    """Mutation: a golden model with one wrong tap mismatches the phase hardware."""
    cfg = RlsruConfig(lanes=16, scheme="phase")
    dut = Rlsru(cfg)                                # built from the right taps
    bad = list(phase_lanes(cfg))
    m, ph, rec = bad[9]
    bad[9] = (m ^ 2, ph, rec)
    with monkeypatch.context() as mp:
        mp.setattr(grlsru, "phase_lanes", lambda c: tuple(bad))
        sc = request_scenario(cfg, layouts_of(dut), 64)
    res = run_amaranth(dut, sc, seed=1, gap=0.1, stall=0.1)
    assert not res.ok


@pytest.mark.cocotb
def test_cocotb_icarus(tmp_path):
    from sim.runner import run_cocotb
    for scheme in ("replay", "leap", "phase"):
        cfg = RlsruConfig(scheme=scheme)
        comp = Rlsru(cfg)
        rng = np.random.default_rng(6)
        restarts = rng.random(1000) < 0.02
        chains = rng.random(1000) < 0.01
        sc = request_scenario(cfg, layouts_of(comp), 1000, restarts, chains)
        t0 = time.perf_counter()
        res = run_cocotb(cfg, comp, sc, simulator="icarus", build_dir=tmp_path / scheme,
                         seed=13, gap=0.1, stall=0.3)
        assert res.ok, res.mismatches[:3]
        assert res.checked == 1000
        print(f"icarus {scheme}: {res.checked} beats ({sc.vectors} numbers), {res.cycles} "
              f"cycles, {time.perf_counter() - t0:.2f} s")


@pytest.mark.cocotb
@pytest.mark.parametrize("block, rung", [
    ("rlsru", "verilator"), ("rlsru", "native"), ("sr_unit", "icarus"),
    pytest.param("rlsru", "netlist-asic", marks=pytest.mark.synth),
    pytest.param("sr_unit", "netlist-ice40", marks=pytest.mark.synth)])
def test_phase_on_every_rung(tmp_path, block, rung):
    """The ``phase`` scheme on the rungs the generic ladder runs only for the default scheme:
    Verilator, the native harness (with its timed run), and synthesized netlists on Icarus; the
    block's own scenario (random restarts/chains), gaps and stalls. The source alone hits Yosys
    issue 4349 in ``synth_ice40`` and is counted through the split-port workaround, whose
    netlist cannot be re-simulated; its ASIC netlist (OSU cell models) is, and the SR unit's
    iCE40 netlist, which contains the same source, synthesizes without the workaround."""
    from sim.blocks import all_blocks
    from sim.runner import run_cocotb
    from .conftest import require
    spec = all_blocks()[block]
    cfg = spec.config(scheme="phase")
    comp = spec.component(cfg)
    sc = spec.scenario(cfg, layouts_of(comp), np.random.default_rng(12), 256)
    if rung == "native":
        from sim.native import run_native
        require("verilator")
        res = run_native(cfg, comp, sc, seed=4, gap=0.25, stall=0.25)
        assert res.ok, res.mismatches[:5]
        timed = run_native(cfg, comp, sc, seed=4)
        assert timed.ok and timed.out_cycles == sc.out_cycles
    else:
        sources = None
        if rung.startswith("netlist"):
            from hw.synth import netlist
            require("iverilog")
            sources = netlist(cfg, comp, workdir=tmp_path / "synth", target=rung.split("-")[1],
                              cache=False)
        sim = "verilator" if rung == "verilator" else "icarus"
        require("verilator" if sim == "verilator" else "iverilog")
        res = run_cocotb(cfg, comp, sc, simulator=sim, build_dir=tmp_path / "sim", seed=4,
                         gap=0.25, stall=0.25, sources=sources)
        assert res.ok, res.mismatches[:5]
    assert res.checked > 0
