"""SR unit (RLSRU + P SR_F stages): golden vs plain-Python SR, hardware vs golden, parameters,
and the statistics helpers of ``sim.rlsru_sweep``.

The oracle for the rounding is plain Python on ints: ``t = (x + r) >> F`` (Python's ``>>`` is
floor division by ``2**F`` for negative ints too), ``code = clip(t, -127, 127)``. The random
integers come from :func:`golden.rlsru.generate`, whose schemes ``tests/test_rlsru.py`` checks
against plain LFSR stepping.
"""

import numpy as np
import pytest

from golden.params import ConfigError
from golden.rlsru import SCHEMES, RlsruConfig, generate
from golden.sr_unit import SrUnitConfig, rlsru_config, run, sr_round
from hw.sr_unit import SrUnit
from sim.amaranth_harness import layouts_of, run_amaranth
from sim.rlsru_sweep import (dependence, independent_samples, predicted_corr, quality,
                             sample_positions)
from sim.blocks.sr_unit import stimulus, stimulus_scenario

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


def plain_sr(x, r, F, b=8):
    """Saturated SR_F of Python ints at code width ``b``: ``(code, sat)``."""
    t = (int(x) + int(r)) >> F
    L = 2 ** (b - 1) - 1
    return max(-L, min(L, t)), not -L <= t <= L


#: code widths whose oracles run in the default suite (issue 15)
WIDTHS = (2, 4, 6, 8, 12)


# --- golden model ------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    {}, {"scheme": "per_lane", "lanes": 5, "frac_bits": 3},
    {"scheme": "leap", "lanes": 7, "frac_bits": 16, "int_bits": 16},
    {"scheme": "replay", "lanes": 33, "frac_bits": 1, "int_bits": 2, "seed": 0xFFFF},
    {"scheme": "split", "lanes": 1, "frac_bits": 12, "int_bits": 8},
    {"scheme": "phase", "lanes": 20, "frac_bits": 7, "int_bits": 6, "seed": 0x1234},
])
def test_golden_equals_plain_python_sr(kwargs):
    cfg = SrUnitConfig(**kwargs)
    rng = np.random.default_rng(3)
    n = 200
    x = stimulus(cfg, rng, n)
    restarts = rng.random(n) < 0.05
    codes, sat, r = run(cfg, x, restarts)
    assert np.array_equal(r, generate(rlsru_config(cfg), n, restarts))
    for t in range(n):
        for l in range(cfg.lanes):
            c, s = plain_sr(x[t, l], r[t, l], cfg.frac_bits)
            assert (int(codes[t, l]), bool(sat[t, l])) == (c, s), (t, l, x[t, l], r[t, l])


def test_exhaustive_small_format():
    """Every (x, r) of I = 3, F = 3 against the plain oracle, through :func:`sr_round`."""
    F = 3
    xs, rs = np.meshgrid(np.arange(-32, 32), np.arange(8), indexing="ij")
    codes, sat = sr_round(xs, rs, F)
    for x, r, c, s in zip(xs.ravel(), rs.ravel(), codes.ravel(), sat.ravel()):
        assert (int(c), bool(s)) == plain_sr(x, r, F)


@pytest.mark.parametrize("b", WIDTHS)
def test_width_exhaustive_against_floor_division(b):
    """Every (x, r) of I = b + 1 integer bits and the largest F with 2**(I + 2F) <= 2**22,
    against NumPy floor division (an independent re-statement of ``>> F``) and the plain
    oracle on a sample; a model saturating at 2**(b-1) instead of 2**(b-1) - 1 disagrees."""
    I = b + 1
    F = max(1, min(8, (22 - I) // 2))
    xs, rs = np.meshgrid(np.arange(-(1 << (I + F - 1)), 1 << (I + F - 1)), np.arange(1 << F),
                         indexing="ij")
    codes, sat = sr_round(xs, rs, F, bits=b)
    assert codes.dtype == (np.int8 if b <= 8 else np.int16)
    L = 2 ** (b - 1) - 1
    t = np.floor_divide(xs + rs, 2 ** F)
    assert np.array_equal(codes.astype(np.int64), np.clip(t, -L, L))
    assert np.array_equal(sat, np.abs(t) > L)
    assert sat.any() and (~sat).any() and codes.max() == L and codes.min() == -L
    wrong = np.clip(t, -(L + 1), L + 1)
    assert not np.array_equal(wrong, codes.astype(np.int64))
    cfg = SrUnitConfig(lanes=3, frac_bits=F, int_bits=min(16, I), bits=b)
    x = stimulus(cfg, np.random.default_rng(b), 100)
    c, s, r = run(cfg, x)
    for (xv, rv, cv, sv) in zip(x.ravel(), r.ravel(), c.ravel(), s.ravel()):
        assert (int(cv), bool(sv)) == plain_sr(xv, rv, F, b)


def test_width_independent_of_int_bits():
    """int_bits below and above bits are both valid and exact (no relation is imposed)."""
    for I, b in ((2, 12), (16, 2), (5, 5)):
        cfg = SrUnitConfig(lanes=2, frac_bits=4, int_bits=I, bits=b)
        x = stimulus(cfg, np.random.default_rng(I), 50)
        c, s, r = run(cfg, x)
        for (xv, rv, cv, sv) in zip(x.ravel(), r.ravel(), c.ravel(), s.ravel()):
            assert (int(cv), bool(sv)) == plain_sr(xv, rv, 4, b)


def test_saturation_edges_and_stimulus_coverage():
    cfg = SrUnitConfig()                         # I = 9, F = 8: x in [-65536, 65535]
    one = 256
    x = np.array([[127 * one + 255, 127 * one + 255, 128 * one - 1, -127 * one - 1,
                   -127 * one, -128 * one, 65535, -65536]], dtype=np.int64)
    codes, sat = sr_round(x, np.array([0, 1, 1, 255, 0, 0, 0, 255]), 8)
    assert codes.tolist() == [[127, 127, 127, -127, -127, -127, 127, -127]]
    assert sat.tolist() == [[False, True, True, False, False, True, True, True]]
    xs = stimulus(cfg, np.random.default_rng(0), 64)
    assert xs.min() == -65536 and xs.max() == 65535
    c, s, _ = run(cfg, xs)
    assert s.any() and (~s).any() and (c == 127).any() and (c == -127).any()


def test_replay_restart_repeats_codes():
    cfg = SrUnitConfig(scheme="replay", lanes=8)
    x = stimulus(cfg, np.random.default_rng(5), 50)
    xx = np.concatenate([x, x])
    restarts = np.zeros(100, bool)
    restarts[50] = True
    codes, _, _ = run(cfg, xx, restarts)
    assert np.array_equal(codes[:50], codes[50:])
    codes_split, _, _ = run(cfg.replace(scheme="split"), xx, restarts)
    assert not np.array_equal(codes_split[:50], codes_split[50:])


@pytest.mark.parametrize("kwargs, pattern", [
    ({"lanes": 0}, r"^sr_unit parameter lanes=0 is out of range: allowed values are an integer "
                   r"in 1\.\.64\.$"),
    ({"lanes": 65}, r"^sr_unit parameter lanes=65 is out of range"),
    ({"frac_bits": 17}, r"^sr_unit parameter frac_bits=17 is out of range: allowed values are an "
                        r"integer in 1\.\.16\.$"),
    ({"int_bits": 1}, r"^sr_unit parameter int_bits=1 is out of range: allowed values are an "
                      r"integer in 2\.\.16\.$"),
    ({"int_bits": 17}, r"^sr_unit parameter int_bits=17 is out of range"),
    ({"scheme": "xorshift"}, r"^sr_unit parameter scheme='xorshift' is invalid: allowed values "
                             r"are one of per_lane, leap, split, replay, phase\.$"),
    ({"seed": 0}, r"^sr_unit parameter seed=0 is invalid: the all-zero state never leaves "
                  r"itself; allowed values are 1\.\.65535\.$"),
    ({"seed": 0x10000}, r"^sr_unit parameter seed=65536 is out of range"),
    ({"lanes": 4.0}, r"^sr_unit parameter lanes=4\.0 is invalid"),
    ({"scheme": "phase", "frac_bits": 13, "lanes": 7},
     r"^sr_unit parameter lanes=7 is out of range for scheme 'phase' with frac_bits=13: allowed "
     r"values are 1\.\.6 \(more lanes would share random bits within a beat\)\.$"),
])
def test_bad_parameters_rejected(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        SrUnitConfig(**kwargs)


def test_bad_inputs_rejected():
    cfg = SrUnitConfig(lanes=2, int_bits=2, frac_bits=2)        # x in [-8, 7]
    with pytest.raises(ConfigError, match=r"^sr_unit input value 8 is out of range: allowed "
                                          r"values are -8\.\.7 for int_bits=2, frac_bits=2\.$"):
        run(cfg, np.array([[0, 8]]))
    with pytest.raises(ConfigError, match=r"^sr_unit input value -9 is out of range"):
        run(cfg, np.array([[-9, 0]]))
    with pytest.raises(ConfigError, match=r"^sr_unit input has shape \(3,\): expected \(n, 2\)\.$"):
        run(cfg, np.array([1, 2, 3]))
    with pytest.raises(ConfigError, match=r"^sr_unit input has dtype float64: expected integers"):
        run(cfg, np.array([[0.5, 1.0]]))
    with pytest.raises(ConfigError, match=r"^rlsru restarts has shape \(2,\): expected \(1,\)\.$"):
        run(cfg, np.array([[0, 1]]), [True, False])


# --- hardware vs golden --------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    {"scheme": "per_lane"}, {"scheme": "leap"}, {"scheme": "split"}, {"scheme": "replay"},
    {"scheme": "replay", "lanes": 33, "frac_bits": 12, "int_bits": 16, "seed": 7},
    {"scheme": "leap", "lanes": 3, "frac_bits": 16, "int_bits": 16},
    {"scheme": "per_lane", "lanes": 2, "frac_bits": 1, "int_bits": 2},
    {"scheme": "split", "lanes": 5, "frac_bits": 5, "int_bits": 5},
    {"scheme": "phase"}, {"scheme": "phase", "lanes": 40, "frac_bits": 4, "int_bits": 3},
])
def test_hw_matches_golden_with_gaps_and_stalls(kwargs):
    cfg = SrUnitConfig(**kwargs)
    rng = np.random.default_rng(11)
    n = 150
    x = stimulus(cfg, rng, n)
    restarts = rng.random(n) < 0.05
    chains = rng.random(n) < 0.03                     # carried by the replay unit only
    dut = SrUnit(cfg)
    sc = stimulus_scenario(cfg, layouts_of(dut), x, restarts, chains=chains)
    res = run_amaranth(dut, sc, seed=2, gap=0.25, stall=0.3)
    assert res.ok, res.mismatches[:3]
    assert res.checked == n
    timed = run_amaranth(SrUnit(cfg), sc, seed=2)
    assert timed.ok and timed.out_cycles["out"] == list(range(n))


def test_hw_check_detects_ignored_restart():
    """A golden model that drops the restarts mismatches the replay hardware (the check can fail)."""
    cfg = SrUnitConfig(scheme="replay", lanes=4)
    rng = np.random.default_rng(1)
    x = stimulus(cfg, rng, 60)
    restarts = np.zeros(60, bool)
    restarts[30] = True
    dut = SrUnit(cfg)
    sc = stimulus_scenario(cfg, layouts_of(dut), x, restarts,
                  golden=lambda c, xx, flags: run(c, xx, None))
    res = run_amaranth(dut, sc, seed=3, gap=0.2, stall=0.2)
    assert not res.ok


def test_hw_check_detects_wrong_phase_taps(monkeypatch):
    """Mutation: a golden model whose phase source has one wrong tap mismatches the hardware."""
    import golden.rlsru as grlsru
    cfg = SrUnitConfig(scheme="phase", lanes=8)
    rng = np.random.default_rng(4)
    x = stimulus(cfg, rng, 80)
    dut = SrUnit(cfg)
    bad = list(grlsru.phase_lanes(rlsru_config(cfg)))
    m, ph, rec = bad[3]
    bad[3] = (m ^ 4, ph, rec)
    with monkeypatch.context() as mp:
        mp.setattr(grlsru, "phase_lanes", lambda c: tuple(bad))
        sc = stimulus_scenario(cfg, layouts_of(dut), x)
    res = run_amaranth(dut, sc, seed=5, gap=0.2, stall=0.2)
    assert not res.ok


# --- statistics helpers of the sweep --------------------------------------------------------------

def test_positions_model_matches_values():
    """Samples with equal position sets have equal values; the model's shared bits are real."""
    for scheme, P, n in (("split", 32, 300), ("per_lane", 4, 300), ("leap", 3, 300),
                         ("phase", 16, 2600)):
        cfg = RlsruConfig(scheme=scheme, lanes=P)
        r = generate(cfg, n)
        pos = sample_positions(cfg, n)
        seen, repeats = {}, 0
        for c in range(n):
            for j in range(P):
                key = tuple(pos[c, j])
                if key in seen:
                    assert r[c, j] == r[seen[key]], (scheme, c, j)
                    repeats += 1
                seen[key] = (c, j)
        if scheme == "phase":     # lanes 2,442+ beats apart in phase: repeats after that lag
            assert repeats > 0
    cfg = RlsruConfig(scheme="split", lanes=32)     # P = 32: 8 lanes of group 1 duplicate group 0
    dup = [(a, b) for a in range(32) for b in range(a + 1, 32) if predicted_corr(cfg, a, b) == 1]
    assert len(dup) == 8 and (0, 18) in dup
    r = generate(cfg, 50)
    assert np.array_equal(r[:, 0], r[:, 18])


def test_dependence_counts():
    F = 8
    assert dependence(RlsruConfig(scheme="leap", lanes=16), 512) == {
        "lane": [1] * 16, "pool": [1] * 16, "sum": 1}
    d = dependence(RlsruConfig(scheme="per_lane", lanes=4), 512)
    assert d["lane"] == [2 * F - 1] * 4 and d["sum"] == 2 * F - 1
    d = dependence(RlsruConfig(scheme="split", lanes=16), 512)
    assert max(d["lane"]) > 2 * F - 1                # wrapped rotations span 16 positions
    assert d["sum"] == 31


def test_independent_samples_share_no_position():
    cfg = RlsruConfig(scheme="split", lanes=16)
    r = generate(cfg, 2000)
    got = independent_samples(cfg, r, 200)
    assert got.size == 200
    with pytest.raises(ValueError, match="position-disjoint samples"):
        independent_samples(cfg, r[:100], 200)


def test_quality_flags_split_and_passes_leap():
    """At P = 4: leap passes every threshold; split's correlated lanes fail corr and R only."""
    q = quality(RlsruConfig(scheme="leap", lanes=4), n_cycles=16384, n_chi=1024, period_beats=0)
    assert q["sr_quality_ok"], q
    q = quality(RlsruConfig(scheme="split", lanes=4), n_cycles=16384, n_chi=1024,
                period_beats=0)
    assert q["bias_lane_ok"] and q["bias_pool_ok"] and q["chi2_ok"] and q["corr_model_ok"]
    assert not q["corr_independent_ok"] and not q["sum_var_ok"] and not q["sr_quality_ok"]
    assert q["sum_var_ratio"] > 1.3


@pytest.mark.parametrize("scheme", SCHEMES)
def test_sweep_configs_elaborate(scheme):
    """The SR unit of every sweep scheme builds and its ports have the documented widths."""
    cfg = SrUnitConfig(scheme=scheme, lanes=4)
    dut = SrUnit(cfg)
    lay = layouts_of(dut)
    assert sum(f["width"] for f in lay["inp"]) == 4 * 17 + 1 + (scheme == "replay")   # + chain
    assert sum(f["width"] for f in lay["out"]) == 4 * 9
