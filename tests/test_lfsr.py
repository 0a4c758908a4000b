"""LFSR: golden model against independent oracles, then hardware against the golden model.

Oracles: the spec's test vector and ``lfsr16_step`` (docs/spec.md#lfsr), ``galois`` (primitive
polynomials, FLFSR/GLFSR state sequences), ``scipy.signal.max_len_seq`` and ``pylfsr``
(the same m-sequence), plus exhaustive period checks.
"""

import random
import time

import numpy as np
import pytest

from golden.lfsr import (TAPS, LfsrConfig, beat_states, generate, leap, leap_matrix,
                         mat_apply_np, output_bits, seed_or_default, step)
from golden.params import ConfigError
from hw.lfsr import Lfsr
from sim.amaranth_harness import layouts_of, run_amaranth
from sim.blocks.lfsr import request_scenario

SPEC_VECTOR = [0x5670, 0xAB38, 0x559C, 0x2ACE, 0x1567, 0x8AB3, 0x4559, 0x22AC]


def spec_lfsr16_step(s):
    """Verbatim from docs/spec.md#lfsr."""
    bit = ((s >> 0) ^ (s >> 2) ^ (s >> 3) ^ (s >> 5)) & 1
    return ((s >> 1) | (bit << 15)) & 0xFFFF


def msb_first(s, n):
    return [(s >> (n - 1 - i)) & 1 for i in range(n)]


def from_msb_first(bits):
    v = 0
    for b in bits:
        v = (v << 1) | int(b)
    return v


# --- golden model vs oracles -------------------------------------------------------------------

def test_spec_test_vector():
    cfg = LfsrConfig()
    assert cfg.taps == (16, 14, 13, 11) and cfg.seed == 0xACE1
    assert [int(x) for x in generate(cfg, 8)] == SPEC_VECTOR
    s, ref = 0xACE1, []
    for _ in range(5000):
        s = spec_lfsr16_step(s)
        ref.append(s)
    assert [int(x) for x in generate(cfg, 5000)] == ref


def test_taps_table_primitive_galois():
    import galois
    assert sorted(TAPS) == list(range(2, 65))
    for n, exps in TAPS.items():
        assert exps[0] == n and len(set(exps)) == len(exps)
        assert galois.Poly.Degrees(list(exps) + [0]).is_primitive(), n


@pytest.mark.parametrize("width", [2, 3, 5, 8, 13, 16, 24, 33, 47, 64])
def test_states_equal_galois_flfsr_glfsr(width):
    import galois
    poly = galois.Poly.Degrees(list(TAPS[width]) + [0])
    seed = (0x9E3779B97F4A7C15 >> (64 - width)) | 1
    for form, cls in (("fibonacci", galois.FLFSR), ("galois", galois.GLFSR)):
        cfg = LfsrConfig(width=width, form=form, seed=seed)
        ref = cls(poly, state=msb_first(seed, width))
        got = generate(cfg, 300)
        for t in range(300):
            ref.step(1)
            assert from_msb_first(ref.state) == int(got[t]), (form, t)


def test_full_period_sequence_equals_scipy_max_len_seq():
    from scipy.signal import max_len_seq
    for n in range(2, 17):
        cfg = LfsrConfig(width=n, seed=1)
        L = (1 << n) - 1
        taps = [n - e for e in cfg.taps if e != n]
        state = [(cfg.seed >> i) & 1 for i in range(n)]
        seq, _ = max_len_seq(n, state=state, taps=taps, length=L)
        got = output_bits(cfg, L)
        assert np.array_equal(seq.astype(np.uint8), got), n
        assert int(got.sum()) == 1 << (n - 1)          # m-sequence balance: 2^(n-1) ones


@pytest.mark.parametrize("width", [4, 8, 16, 31, 64])
def test_sequence_equals_pylfsr(width):
    import pylfsr
    cfg = LfsrConfig(width=width, seed=(0xC0FFEE1234567 & ((1 << width) - 1)) | 1)
    ref = pylfsr.LFSR(fpoly=list(cfg.taps), initstate=msb_first(cfg.seed, width),
                      conf="fibonacci", verbose=False)
    assert np.array_equal(np.array(ref.runKCycle(700), dtype=np.uint8), output_bits(cfg, 700))


def _period_by_stepping(cfg):
    seen = bytearray(1 << cfg.width)
    s, count = cfg.seed, 0
    while True:
        assert s != 0 and not seen[s]
        seen[s] = 1
        s = step(cfg, s)
        count += 1
        if s == cfg.seed:
            return count


@pytest.mark.parametrize("form", ["fibonacci", "galois"])
def test_full_period_exhaustive_up_to_16(form):
    for n in range(2, 17):
        cfg = LfsrConfig(width=n, form=form, seed=1)
        assert _period_by_stepping(cfg) == (1 << n) - 1, n


def _period_by_doubling(cfg):
    """All states s_0 .. s_{2^n-2} via s_{L..2L-1} = M^L s_{0..L-1}; checks distinctness."""
    n = cfg.width
    N = (1 << n) - 1
    states = np.array([cfg.seed], dtype=np.uint64)
    while states.size < N:
        L = states.size
        nxt = mat_apply_np(leap_matrix(cfg, L), states[:min(L, N - L)])
        states = np.concatenate([states, nxt])
    counts = np.bincount(states.astype(np.int64), minlength=1 << n)
    wrap = mat_apply_np(leap_matrix(cfg, N), states[:1])
    return counts, int(wrap[0])


@pytest.mark.slow
@pytest.mark.parametrize("width", range(17, 25))
def test_full_period_exhaustive_17_to_24(width):
    for form in ("fibonacci", "galois"):
        cfg = LfsrConfig(width=width, form=form, seed=1)
        counts, wrap = _period_by_doubling(cfg)
        assert counts[0] == 0 and np.all(counts[1:] == 1), (width, form)
        assert wrap == cfg.seed


def test_period_checks_can_fail(monkeypatch):
    """Both period methods accept the table entry and reject a reducible polynomial."""
    import golden.lfsr as gl
    cfg = LfsrConfig(width=12, seed=5)
    counts, wrap = _period_by_doubling(cfg)
    assert counts[0] == 0 and np.all(counts[1:] == 1) and wrap == 5
    monkeypatch.setitem(gl.TAPS, 12, (12, 6))          # x^12 + x^6 + 1 = (x^6 + x^3 + 1)^2
    counts, _ = _period_by_doubling(cfg)
    assert not np.all(counts[1:] == 1)
    assert _period_by_stepping(cfg) < 4095


def test_leap_forward_equals_single_steps():
    rng = random.Random(1)
    for _ in range(40):
        n = rng.randint(2, 64)
        form = rng.choice(["fibonacci", "galois"])
        cfg = LfsrConfig(width=n, form=form, seed=rng.randint(1, (1 << n) - 1))
        k = rng.choice([0, 1, 2, 3, 7, 16, 64, 100, 257])
        s = cfg.seed
        for _ in range(k):
            s = step(cfg, s)
        assert leap(cfg, cfg.seed, k) == s, (n, form, k)
    cfg = LfsrConfig(width=20, seed=77)
    assert leap(cfg, 77, (1 << 20) - 1) == 77                # full period returns
    assert leap(cfg, 77, (1 << 20) - 1 + 5) == int(generate(cfg, 5)[-1])


def test_beat_states_restart():
    cfg = LfsrConfig(width=16, steps_per_cycle=3)
    b = beat_states(cfg, 6, [0, 0, 1, 0, 0, 0])
    assert np.array_equal(b[2:5], beat_states(cfg, 3))
    assert [int(x) for x in b[:2].reshape(-1)] == [int(x) for x in generate(cfg, 6)]


@pytest.mark.parametrize("kwargs, pattern", [
    ({"width": 1}, r"^lfsr parameter width=1 is out of range: allowed values are an integer in 2\.\.64\.$"),
    ({"width": 65}, r"^lfsr parameter width=65 is out of range: allowed values are an integer in 2\.\.64\.$"),
    ({"seed": 0}, r"^lfsr parameter seed=0 is invalid: the all-zero state never leaves itself; "
                  r"allowed values are 1\.\.65535 for width=16\.$"),
    ({"width": 8, "seed": 256}, r"^lfsr parameter seed=256 is out of range: allowed values are "
                                r"1\.\.255 for width=8\.$"),
    ({"form": "ring"}, r"^lfsr parameter form='ring' is invalid: allowed values are one of "
                       r"fibonacci, galois\.$"),
    ({"steps_per_cycle": 0}, r"^lfsr parameter steps_per_cycle=0 is out of range"),
])
def test_bad_parameters_rejected(kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        LfsrConfig(**kwargs)


def test_seed_defaults():
    assert LfsrConfig(width=8).seed == 0xE1
    assert LfsrConfig(width=40).seed == 0xACE1
    assert seed_or_default(0) == 0xACE1 and seed_or_default(0x10000 + 5) == 5


# --- hardware vs golden ------------------------------------------------------------------------

def test_hw_full_period_default_lfsr():
    """The default 16-bit LFSR in the Amaranth simulator: all 65,535 states plus the wrap."""
    from amaranth.sim import Simulator
    cfg = LfsrConfig()
    dut = Lfsr(cfg)
    n = cfg.period + 1
    got = []

    async def tb(ctx):
        ctx.set(dut.inp.valid, 1)
        ctx.set(dut.out.ready, 1)
        for _ in range(n):
            assert ctx.get(dut.out.valid) == 1
            got.append(ctx.get(dut.out.payload))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    exp = [int(x) for x in generate(cfg, n)]
    assert got == exp
    assert len(set(got)) == cfg.period and got[-1] == got[0] == 0x5670


@pytest.mark.parametrize("kwargs", [
    {}, {"form": "galois"}, {"width": 12, "form": "galois", "seed": 0x5A5},
    {"width": 16, "steps_per_cycle": 3}, {"width": 40, "steps_per_cycle": 5, "seed": 123},
    {"width": 64, "form": "galois", "steps_per_cycle": 2, "seed": (1 << 64) - 1},
    {"width": 2, "seed": 3},
])
def test_hw_matches_golden_with_backpressure(kwargs):
    cfg = LfsrConfig(**kwargs)
    dut = Lfsr(cfg)
    restarts = np.random.default_rng(3).random(1500) < 0.01
    sc = request_scenario(cfg, layouts_of(dut), 1500, restarts)
    res = run_amaranth(dut, sc, seed=7, gap=0.2, stall=0.3)
    assert res.ok, res.mismatches[:3]
    assert res.checked == 1500
    timed = run_amaranth(Lfsr(cfg), sc, seed=7)          # no gaps: beat t in cycle t
    assert timed.ok, timed.mismatches[:3]
    assert timed.out_cycles["out"] == list(range(1500))


def test_hw_detects_a_wrong_tap(monkeypatch):
    """The harness must see a one-tap difference (guards against a vacuous comparison)."""
    import golden.lfsr as gl
    cfg = LfsrConfig()
    monkeypatch.setitem(gl.TAPS, 16, (16, 15, 13, 4))
    dut = Lfsr(cfg)
    monkeypatch.undo()
    sc = request_scenario(cfg, layouts_of(dut), 64)          # golden with the table's taps
    monkeypatch.setitem(gl.TAPS, 16, (16, 15, 13, 4))
    res = run_amaranth(dut, sc)                        # elaborated with the wrong taps
    assert not res.ok


@pytest.mark.cocotb
def test_cocotb_icarus(tmp_path):
    from sim.runner import run_cocotb
    cfg = LfsrConfig(width=24, steps_per_cycle=4, seed=0xBEEF)
    comp = Lfsr(cfg)
    restarts = np.random.default_rng(5).random(2000) < 0.01
    sc = request_scenario(cfg, layouts_of(comp), 2000, restarts)
    t0 = time.perf_counter()
    res = run_cocotb(cfg, comp, sc, simulator="icarus", build_dir=tmp_path,
                     seed=11, gap=0.1, stall=0.3)
    assert res.ok, res.mismatches[:3]
    assert res.checked == 2000
    print(f"icarus: {res.checked} beats ({sc.vectors} states), {res.cycles} cycles, "
          f"{time.perf_counter() - t0:.2f} s")
