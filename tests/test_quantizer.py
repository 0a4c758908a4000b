"""Quantizer lanes: golden model vs external oracles, Amaranth simulation and cocotb vs golden.

Ladder
------
1. golden multiply (:func:`golden.fp32.fp32_mul_bits`) vs NumPy ``float32`` around the flush
   policy, bit for bit, over a dense sample with every special class and the underflow/overflow
   binades;
2. golden rounding vs ``gfloat.round_float`` (TiesToEven, TowardZero, StochasticFastest with
   explicit ``srbits``) and the vectorised ``gfloat.round_ndarray`` used by the exhaustive sweep;
3. hardware pieces (:class:`hw.fp32.Fp32Mul`, :class:`hw.quantizer.QuantizerLane`, :class:`hw.rounding.RoundStage`) vs golden;
4. the streaming component in the Amaranth simulator vs golden, with random gaps and stalls, and
   against the cycle model without them;
5. the emitted Verilog under cocotb on Icarus (each mode) and Verilator;
6. mutation checks: deliberately wrong golden models must be caught;
7. ``@pytest.mark.slow``: all 2**32 FP32 inputs for one fixed scale, every mode.

SR oracle mapping
-----------------
gfloat rounds sign-magnitude: ``StochasticFastest`` rounds ``|v|`` away from zero iff
``floor(frac(|v|) * 2**F) + srbits >= 2**F``. That is ``SR_F`` for ``v >= 0`` with ``srbits = r``.
For ``v < 0`` write ``|v| * 2**F = I + t`` (``I`` integer, ``0 <= t < 1``, ``s = (t != 0)``);
``SR_F(v, r) = floor((r - s - I) / 2**F)``, which is gfloat's result for ``v`` with
``srbits = 2**F - 1 - (r - s)`` when ``r - s >= 0``, and ``RoundMode.TowardNegative`` when
``r - s = -1`` (``r = 0`` and ``t != 0``).
"""

from __future__ import annotations

import gc
import math
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from amaranth.hdl import Fragment, UnusedElaboratable
from amaranth.sim import Simulator
from gfloat import FormatInfo, RoundMode, round_float, round_ndarray
from gfloat.types import Domain

from golden.fp32 import (CANONICAL_NAN, EXP_MASK, SIGN_MASK, flush_bits, fp32_mul_bits,
                         fp32_mul_reference, from_bits, split_bits, to_bits)
from golden.params import ConfigError
from golden.quantizer import (MODES, QuantizerConfig, code_dtype, code_max, fp32_to_fixed,
                              quantize, quantize_bits, reciprocal_scale, round_fixed,
                              saturate_codes, saturate_int8)
from hw.fp32 import Fp32Mul
from hw.quantizer import Quantizer, QuantizerLane
from hw.rounding import RoundStage
from sim.amaranth_harness import layouts_of, run_amaranth
from sim.blocks.quantizer import beats_scenario, boundary_bits, special_bits, stimulus_bits

# --------------------------------------------------------------------------------------------
# Oracles
# --------------------------------------------------------------------------------------------


def _int_format(k):
    """gfloat format whose values are exactly the integers -(2**(k-1)-1) .. 2**(k-1)-1."""
    return FormatInfo(f"int{k}_sym", k, k, bias=2 - k, is_signed=True, domain=Domain.Finite,
                      has_nz=True, num_high_nans=0, has_subnormals=True, is_twos_complement=False)


FI8 = _int_format(8)       # the symmetric INT8 range [-127, 127] of docs/spec.md#decision-a
FI16 = _int_format(16)     # wide enough to see whether a value saturates the INT8 range


def _sr_srbits(v, F, r):
    """gfloat ``srbits`` (and the TowardNegative selector) reproducing ``SR_F`` for any sign."""
    a = np.abs(v.astype(np.float64)) * 2.0 ** F
    with np.errstate(invalid="ignore"):
        s = np.where(np.isfinite(a), a != np.floor(a), False).astype(np.int64)
    neg = np.signbit(v)
    r2 = np.asarray(r, dtype=np.int64) - s
    srbits = np.where(neg, np.where(r2 >= 0, (1 << F) - 1 - r2, 0), r)
    return srbits.astype(np.int64), neg & (r2 < 0)


def oracle_scalar(v32, mode, F, r=None):
    """Codes, NaN and saturation flags of float32 values ``v32`` via ``gfloat.round_float``."""
    v32 = np.asarray(v32, dtype=np.float32)
    srb, down = _sr_srbits(v32, F, r if r is not None else np.zeros(v32.shape, np.int64))
    codes = np.zeros(v32.shape, dtype=np.int64)
    nan = np.isnan(v32)
    sat = np.zeros(v32.shape, dtype=bool)
    for i, v in enumerate(v32.astype(np.float64)):
        if math.isnan(v):
            continue
        if mode == "rne":
            kw = {"rnd": RoundMode.TiesToEven}
        elif mode == "rtz":
            kw = {"rnd": RoundMode.TowardZero}
        elif down[i]:
            kw = {"rnd": RoundMode.TowardNegative}
        else:
            kw = {"rnd": RoundMode.StochasticFastest, "srbits": int(srb[i]), "srnumbits": F}
        codes[i] = int(round_float(FI8, v, sat=True, **kw))
        sat[i] = abs(round_float(FI16, v, sat=True, **kw)) > 127
    return codes, nan, sat


def oracle_vector(v32, mode, F, r=None):
    """As :func:`oracle_scalar`, vectorised with ``gfloat.round_ndarray``.

    One pass in the wide format, clipped to [-127, 127]: rounding to integers is the same in both
    formats, and everything the wide format saturates is beyond 127 anyway.
    """
    v32 = np.asarray(v32, dtype=np.float32)
    nan = np.isnan(v32)
    v = np.where(nan, 0.0, v32.astype(np.float64))
    if mode == "rne":
        q = round_ndarray(FI16, v, RoundMode.TiesToEven, sat=True)
    elif mode == "rtz":
        q = round_ndarray(FI16, v, RoundMode.TowardZero, sat=True)
    else:
        srb, down = _sr_srbits(v32, F, r)
        q = round_ndarray(FI16, v, RoundMode.StochasticFastest, sat=True, srbits=srb, srnumbits=F)
        if down.any():
            q[down] = round_ndarray(FI16, v[down], RoundMode.TowardNegative, sat=True)
    q = q.astype(np.int64)
    return np.clip(q, -127, 127), nan, (np.abs(q) > 127) & ~nan


def oracle_quantize(x_bits, inv_bits, mode, F, r=None, oracle=oracle_vector):
    """End-to-end oracle: NumPy float32 multiply around the flush policy, then gfloat rounding."""
    v = from_bits(fp32_mul_reference(x_bits, inv_bits))
    return oracle(v, mode, F, r)


def _mismatches(got, want):
    c, n, s = got
    oc, on, os_ = want
    return int(((np.asarray(c, np.int64) != oc) | (n != on) | (s != os_)).sum())


#: register values: ordinary reciprocal scales plus every degenerate register class
INV_SCALES = (1.0, 0.5, 1.5, 127.0 / 0.37, 127.0 / 3.2e-4, 7.25, 1.0e6, 3.0e-5, -2.0)
DEGENERATE_INV_BITS = (0x0000_0000, 0x8000_0000, 0x7F80_0000, 0xFF80_0000, 0x7FC0_0000,
                       0x0000_1234, 0x7F7F_FFFF, 0x0080_0000)


def _bits(x):
    return int(to_bits(np.float32(x)))


def _pair_sample(rng, n):
    """Operand pairs for the multiply: specials x specials, random patterns, and exponent pairs
    whose product lands in the underflow binades, next to 2**-126 or in the overflow range."""
    sp = special_bits()
    a = [np.repeat(sp, sp.size)]
    b = [np.tile(sp, sp.size)]
    a.append(rng.integers(0, 1 << 32, n, dtype=np.int64))
    b.append(rng.integers(0, 1 << 32, n, dtype=np.int64))
    for target in (0, 1, 255):                 # biased exponent of the product ~ target
        ea = rng.integers(1, 255, n)
        eb = np.clip(target + 127 - ea + rng.integers(-2, 3, n), 1, 254)
        sgn = rng.integers(0, 2, (2, n), dtype=np.int64) << 31
        a.append(sgn[0] | (ea << 23) | rng.integers(0, 1 << 23, n))
        b.append(sgn[1] | (eb << 23) | rng.integers(0, 1 << 23, n))
    # exact products straddling 2**-126: significands with few bits set
    ea = rng.integers(1, 127, n)
    a.append((ea << 23) | (rng.integers(0, 1 << 6, n) << 17))
    b.append(((127 - ea) << 23) | (rng.integers(0, 1 << 6, n) << 17) | 0x007E_0000)
    return np.concatenate(a).astype(np.int64), np.concatenate(b).astype(np.int64)


# --------------------------------------------------------------------------------------------
# 1. Configuration and stimulus errors: one sentence each, pinned
# --------------------------------------------------------------------------------------------

BAD_PARAMS = [
    ({"lanes": 0}, "quantizer parameter lanes=0 is out of range: allowed values are an integer in 1..64."),
    ({"lanes": 65}, "quantizer parameter lanes=65 is out of range: allowed values are an integer in 1..64."),
    ({"frac_bits": 0},
     "quantizer parameter frac_bits=0 is out of range: allowed values are an integer in 1..16."),
    ({"frac_bits": 17},
     "quantizer parameter frac_bits=17 is out of range: allowed values are an integer in 1..16."),
    ({"lanes": 2.5}, "quantizer parameter lanes=2.5 is invalid: allowed values are an integer in 1..64."),
    ({"mode": "rhaz"}, "quantizer parameter mode='rhaz' is invalid: allowed values are one of rne, rtz, sr."),
    ({"pipelined": 2}, "quantizer parameter pipelined=2 is invalid: allowed values are true or false."),
    ({"width": 8}, "quantizer has no parameter 'width': known parameters are lanes, mode, frac_bits, "
                   "pipelined, bits."),
    ({"bits": 1}, "quantizer parameter bits=1 is out of range: allowed values are an integer in 2..16."),
    ({"bits": 17}, "quantizer parameter bits=17 is out of range: allowed values are an integer in 2..16."),
]


@pytest.mark.parametrize("kwargs,message", BAD_PARAMS, ids=[str(k) for k, _ in BAD_PARAMS])
def test_bad_parameters_rejected(kwargs, message):
    with pytest.raises(ConfigError) as e:
        QuantizerConfig(**kwargs)
    assert str(e.value) == message
    with warnings.catch_warnings():
        # the half-constructed component is dropped here, not reported as an unused elaboratable
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(ConfigError) as e:               # the component validates the same way
            Quantizer(**kwargs)
        got = str(e.value)
        del e
        gc.collect()
    assert got == message


def test_bad_round_lane_parameters_rejected():
    with pytest.raises(ConfigError, match=r"^quantizer parameter frac_bits=0 is out of range: "
                                          r"allowed values are an integer in 1\.\.16\.$"):
        QuantizerLane(0, ("rne",))
    with pytest.raises(ConfigError, match=r"^quantizer parameter mode='up' is invalid: "
                                          r"allowed values are one of rne, rtz, sr\.$"):
        QuantizerLane(8, ("up",))
    with pytest.raises(ConfigError, match=r"^RoundStage modes=\('rne', 'rne'\) is invalid: "
                                          r"allowed values are distinct names from rne, rtz, sr\.$"):
        RoundStage(16, 8, ("rne", "rne"))
    with pytest.raises(ConfigError, match=r"^RoundStage code_bits=1 is out of range: "
                                          r"allowed values are 2\.\.16\.$"):
        RoundStage(16, 8, ("rtz",), code_bits=1)


def test_bad_stimulus_rejected():
    cfg = QuantizerConfig(mode="sr", frac_bits=4)
    x = np.ones(3, np.float32)
    with pytest.raises(ConfigError) as e:
        quantize(cfg, x, 1.0)
    assert str(e.value) == ("quantizer mode 'sr' needs random bits rnd: pass an integer array "
                            "with one value per input.")
    with pytest.raises(ConfigError) as e:
        quantize(cfg, x, 1.0, rnd=np.array([0, 16, 1]))
    assert str(e.value) == ("quantizer random bits rnd hold 16, out of range: allowed values are "
                            "0..15 for frac_bits=4.")
    with pytest.raises(ConfigError) as e:
        quantize(cfg, x, 1.0, rnd=np.array([0.5, 1, 1]))
    assert str(e.value) == "quantizer random bits rnd have dtype float64: expected an integer array."
    with pytest.raises(ConfigError) as e:
        quantize(QuantizerConfig(mode="rtz"), x, 1.0, rnd=np.array([0, 1, 1]))
    assert str(e.value) == "quantizer mode 'rtz' takes no random bits: pass rnd=None."
    with pytest.raises(ConfigError) as e:
        quantize(QuantizerConfig(), x.astype(np.float64), 1.0)
    assert str(e.value) == ("quantizer input has dtype float64: expected float32 (use "
                            "quantize_bits for bit patterns).")
    with pytest.raises(ConfigError) as e:
        round_fixed(fp32_to_fixed(to_bits(x), 8), 8, "odd")
    assert str(e.value) == ("quantizer parameter mode='odd' is invalid: allowed values are one of "
                            "rne, rtz, sr.")


def test_config_names_and_latency():
    cfg = QuantizerConfig()
    assert cfg.to_dict() == {"lanes": 2, "mode": "rne", "frac_bits": 8, "pipelined": True, "bits": 8}
    assert cfg.module_name == "quantizer_l2_rne_f8_p1_b8"
    assert QuantizerConfig(mode="sr", lanes=2, pipelined=False).module_name == "quantizer_l2_sr_f8_p0_b8"
    assert QuantizerConfig(bits=4).module_name == "quantizer_l2_rne_f8_p1_b4"
    assert cfg.latency == 2 and QuantizerConfig(pipelined=False).latency == 1
    dut = Quantizer(mode="sr", frac_bits=5, lanes=3)
    lay = layouts_of(dut)
    assert set(lay) == {"inp", "rnd", "out"}
    assert [f["width"] for f in lay["rnd"]] == [5, 5, 5]
    assert dut.latency == 2 and dut.timing_info()["latency"] == 2
    rtz = Quantizer(mode="rtz")
    assert "rnd" not in layouts_of(rtz)
    for d in (dut, rtz):                    # both elaborate (and count as used)
        Fragment.get(d, None)


# --------------------------------------------------------------------------------------------
# 2. Golden model vs oracles
# --------------------------------------------------------------------------------------------


def test_golden_multiply_matches_numpy_float32():
    rng = np.random.default_rng(11)
    a, b = _pair_sample(rng, 60_000)
    got, want = fp32_mul_bits(a, b), fp32_mul_reference(a, b)
    assert np.array_equal(got, want), f"{int((got != want).sum())} mismatching products"
    # the sample really reaches every result class, including the round-up to 2**-126
    cls = {
        "nan": got == CANONICAL_NAN, "inf": (got & 0x7FFF_FFFF) == EXP_MASK,
        "zero": (got & 0x7FFF_FFFF) == 0, "min_normal": (got & 0x7FFF_FFFF) == 0x0080_0000,
        "normal": ((got & EXP_MASK) != 0) & ((got & EXP_MASK) != EXP_MASK),
    }
    for name, mask in cls.items():
        assert mask.sum() > 10, f"class {name} hit {int(mask.sum())} times"
    # products that are subnormal before the flush occur, and are flushed
    with np.errstate(under="ignore", over="ignore", invalid="ignore"):
        raw = to_bits(from_bits(flush_bits(a)) * from_bits(flush_bits(b)))
    sub = ((raw & EXP_MASK) == 0) & ((raw & 0x7F_FFFF) != 0)
    assert sub.sum() > 1000 and np.all((got[sub] & 0x7FFF_FFFF) == 0)
    # 0 * Inf and NaN operands give the canonical NaN
    assert fp32_mul_bits(0x7F80_0000, 0x8000_0000) == CANONICAL_NAN
    assert fp32_mul_bits(0xFFC0_1234, _bits(1.0)) == CANONICAL_NAN


def test_golden_special_value_policy():
    """The policy table of the doc page, row by row (SR with every r for F = 4)."""
    F = 4
    x = np.array([np.nan, -np.nan, np.inf, -np.inf, 1e-45, -1e-45, 0.0, -0.0, 200.0, -1e30,
                  127.49, -2.0 ** -100], dtype=np.float32)
    for mode in MODES:
        for r in range(1 << F) if mode == "sr" else [None]:
            rr = None if r is None else np.full(x.shape, r)
            c, n, s = quantize(QuantizerConfig(mode=mode, frac_bits=F), x, np.float32(1.0), rr)
            assert list(n) == [True, True] + [False] * 10
            assert list(c[:10]) == [0, 0, 127, -127, 0, 0, 0, 0, 127, -127]
            assert list(s[:10]) == [False, False, True, True, False, False, False, False, True, True]
            assert c[10] == 127                            # RTZ/RNE 127; SR 127 or 128 -> 127
            if mode == "sr":
                assert c[11] == (-1 if r == 0 else 0)      # normal tiny negative: floor-based SR
            else:
                assert c[11] == 0
    assert reciprocal_scale(np.float32(0.25)) == np.float32(4.0)
    assert np.isinf(reciprocal_scale(0.0))


def test_golden_rtz_rne_independent_of_frac_bits():
    rng = np.random.default_rng(3)
    x = stimulus_bits(rng, 20_000, 1.0)
    for mode in ("rne", "rtz"):
        ref = quantize_bits(x, _bits(1.0), mode, 1)
        for F in (2, 8, 16):
            assert _mismatches(quantize_bits(x, _bits(1.0), mode, F), ref) == 0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("F", [1, 8, 16])
def test_golden_rounding_matches_gfloat_round_float(mode, F):
    """Scalar ``gfloat.round_float`` on a dense sample of values, every special class included."""
    rng = np.random.default_rng(100 + F)
    total = 0
    for inv in INV_SCALES[:4]:
        x = stimulus_bits(rng, 1500, inv)
        r = rng.integers(0, 1 << F, x.size) if mode == "sr" else None
        got = quantize_bits(x, _bits(inv), mode, F, r)
        want = oracle_quantize(x, _bits(inv), mode, F, r, oracle=oracle_scalar)
        assert _mismatches(got, want) == 0
        total += x.size
    assert total == 6000


@pytest.mark.parametrize("mode", MODES)
def test_golden_quantize_matches_vector_oracle(mode):
    """``gfloat.round_ndarray`` (the exhaustive sweep's oracle) on a large sample, all scales and
    degenerate registers; it is also checked against ``round_float`` here."""
    rng = np.random.default_rng(7)
    F = 8
    for inv_bits in [_bits(s) for s in INV_SCALES] + list(DEGENERATE_INV_BITS):
        x = stimulus_bits(rng, 20_000, from_bits(inv_bits))
        r = rng.integers(0, 1 << F, x.size) if mode == "sr" else None
        got = quantize_bits(x, inv_bits, mode, F, r)
        want = oracle_quantize(x, inv_bits, mode, F, r)
        assert _mismatches(got, want) == 0, hex(inv_bits)
        if inv_bits == _bits(1.5):
            v = from_bits(fp32_mul_reference(x[:800], inv_bits))
            rr = None if r is None else r[:800]
            assert _mismatches(oracle_vector(v, mode, F, rr), oracle_scalar(v, mode, F, rr)) == 0
    # the sample exercises ties, saturation and NaN
    x = stimulus_bits(rng, 20_000, 1.0)
    c, n, s = quantize_bits(x, _bits(1.0), mode, F, rng.integers(0, 256, x.size))
    with np.errstate(invalid="ignore"):
        v = from_bits(flush_bits(x)).astype(np.float64)
        ties = np.isfinite(v) & (np.abs(v) < 127) & (v - np.floor(v) == 0.5)
    assert n.sum() >= 12 and s.sum() > 100
    assert ties.sum() > 500


def test_sr_oracle_mapping_for_negative_values():
    """The srbits mirror used by the oracle reproduces the floor-based SR_F definition of the spec
    (``(floor(v*2**F) + r) >> F`` evaluated in float64), for every r."""
    F = 4
    v = np.array([-0.3, -1.5, -2.0, -0.0625, -0.03, -127.7, -3.96875, 0.3, 2.5, -2.0 ** -30],
                 dtype=np.float32)
    for r in range(1 << F):
        spec = (np.floor(v.astype(np.float64) * 2 ** F).astype(np.int64) + r) >> F
        c, _, _ = oracle_scalar(v, "sr", F, np.full(v.shape, r))
        assert list(c) == list(np.clip(spec, -127, 127))


# --------------------------------------------------------------------------------------------
# 3. Hardware pieces vs golden (combinational, Amaranth simulator)
# --------------------------------------------------------------------------------------------


def _comb_run(dut, drive, read, vectors):
    out = []

    async def tb(ctx):
        for vec in vectors:
            for sig, val in zip(drive, vec):
                ctx.set(sig, int(val))
            out.append(tuple(ctx.get(s) for s in read))

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()
    return out


def test_hw_multiplier_matches_golden():
    rng = np.random.default_rng(5)
    a, b = _pair_sample(rng, 2_000)
    dut = Fp32Mul()
    got = np.array([p for (p,) in _comb_run(dut, (dut.a, dut.b), (dut.p,), zip(a, b))])
    want = fp32_mul_bits(a, b)
    assert np.array_equal(got, want), f"{int((got != want).sum())} mismatches"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("F", [1, 8, 16])
def test_hw_round_lane_matches_golden(mode, F):
    rng = np.random.default_rng(F)
    v = stimulus_bits(rng, 2_500, 1.0)
    r = rng.integers(0, 1 << F, v.size)
    dut = QuantizerLane(F, (mode,))
    drive = (dut.v, dut.rnd) if mode == "sr" else (dut.v,)
    vecs = zip(v, r) if mode == "sr" else zip(v)
    got = _comb_run(dut, drive, (dut.code, dut.nan, dut.sat), vecs)
    raw = fp32_to_fixed(v, F)
    codes, sat = saturate_int8(round_fixed(raw, F, mode, r if mode == "sr" else None))
    assert [g[0] for g in got] == [int(c) for c in codes]
    assert [g[1] for g in got] == [int(n) for n in raw.nan]
    assert [g[2] for g in got] == [int(s) for s in sat]


@pytest.mark.parametrize("F", [1, 8])
@pytest.mark.parametrize("modes", [("rne", "rtz", "sr"), ("sr", "rtz"), ("rtz", "rne")])
def test_hw_round_stage_runtime_mode(F, modes):
    """One rounding stage serves several modes, selected per value at run time."""
    rng = np.random.default_rng(len(modes) * 10 + F)
    v = stimulus_bits(rng, 2_000, 1.0)
    r = rng.integers(0, 1 << F, v.size)
    sel = rng.integers(0, len(modes), v.size)
    dut = QuantizerLane(F, modes)
    drive = (dut.v, dut.mode) + ((dut.rnd,) if "sr" in modes else ())
    vecs = zip(v, sel, r) if "sr" in modes else zip(v, sel)
    got = np.array(_comb_run(dut, drive, (dut.code, dut.sat), vecs))
    raw = fp32_to_fixed(v, F)
    want_code, want_sat = np.zeros(v.size, np.int64), np.zeros(v.size, bool)
    for k, md in enumerate(modes):
        codes, sat = saturate_int8(round_fixed(raw, F, md, r if md == "sr" else None))
        want_code = np.where(sel == k, codes, want_code)
        want_sat = np.where(sel == k, sat, want_sat)
    assert np.array_equal(got[:, 0], want_code)
    assert np.array_equal(got[:, 1].astype(bool), want_sat)
    # the comparison is live: the same values with the modes read in another order differ
    wrong = np.where(sel == 0, saturate_int8(round_fixed(raw, F, modes[-1], r))[0], want_code)
    assert not np.array_equal(got[:, 0], wrong)


# --------------------------------------------------------------------------------------------
# 4. Streaming component in the Amaranth simulator
# --------------------------------------------------------------------------------------------


def _run(cfg, inv_scale=1.0, n_beats=80, seed=0, gap=0.3, stall=0.3, inv_bits=None, golden=None):
    dut = Quantizer(cfg)
    rng = np.random.default_rng(seed)
    kw = {} if golden is None else {"golden": golden}
    sc, data = beats_scenario(cfg, layouts_of(dut), rng, n_beats=n_beats, inv_scale=inv_scale,
                        inv_bits=inv_bits, **kw)
    data["dut"] = dut
    return run_amaranth(dut, sc, seed=seed, gap=gap, stall=stall), data


@pytest.mark.parametrize("mode", MODES)
def test_amaranth_vs_golden_with_gaps_and_stalls(mode):
    cfg = QuantizerConfig(mode=mode, lanes=4)
    for k, inv in enumerate((1.0, 127.0 / 0.37)):
        res, data = _run(cfg, inv, n_beats=120, seed=k)
        assert res.ok, res.mismatches[:5]
        assert res.checked == 122
        x = data["x_bits"]
        assert set(special_bits()) <= set(x.tolist())          # every special class went through
        assert data["nan"].any() and data["sat"].any()


@pytest.mark.parametrize("cfg", [
    QuantizerConfig(mode="rne", lanes=1, pipelined=False, frac_bits=1),
    QuantizerConfig(mode="rtz", lanes=3, frac_bits=16),
    QuantizerConfig(mode="sr", lanes=3, frac_bits=1, pipelined=False),
    QuantizerConfig(mode="sr", lanes=2, frac_bits=16),
], ids=lambda c: c.module_name)
def test_amaranth_config_variants(cfg):
    res, _ = _run(cfg, 127.0 / 3.2e-4, n_beats=60, seed=3)
    assert res.ok, res.mismatches[:5]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("pipelined", [False, True])
def test_amaranth_cycle_model(mode, pipelined):
    """No gaps, no stalls: output beat i is transferred in cycle i + latency (checked by the
    scoreboard against ``Scenario.out_cycles``)."""
    cfg = QuantizerConfig(mode=mode, lanes=2, pipelined=pipelined)
    res, data = _run(cfg, 1.5, n_beats=40, gap=0.0, stall=0.0)
    assert res.ok, res.mismatches[:5]
    assert res.out_cycles["out"] == [i + cfg.latency for i in range(40)]
    assert data["dut"].latency == cfg.latency == 1 + int(pipelined)


def test_amaranth_degenerate_registers():
    """Zero, infinite, NaN, subnormal and extreme reciprocal scales: IEEE through the multiply,
    then the policy on the product."""
    cfg = QuantizerConfig(mode="sr", lanes=2, frac_bits=6)
    for k, ib in enumerate(DEGENERATE_INV_BITS):
        res, data = _run(cfg, inv_bits=ib, n_beats=24, seed=10 + k)
        assert res.ok, (hex(ib), res.mismatches[:5])
    _, data = _run(cfg, inv_bits=0x7FC0_0000, n_beats=4)
    assert data["nan"].all()


def test_sticky_flags_clear_and_set():
    """``flag_clear`` clears both sticky flags; a flagged beat transferred in the clearing cycle
    wins; reset value is 0."""
    dut = Quantizer(QuantizerConfig(mode="rne", lanes=1, pipelined=False))
    seen = []

    async def tb(ctx):
        ctx.set(dut.inv_scale, _bits(1.0))
        ctx.set(dut.out.ready, 1)
        seen.append((ctx.get(dut.nan_flag), ctx.get(dut.sat_flag)))
        for x in (0x7FC0_0000, 0x7F80_0000):                  # NaN, then +Inf
            ctx.set(dut.inp.payload, [x])
            ctx.set(dut.inp.valid, 1)
            await ctx.tick()
        ctx.set(dut.inp.valid, 0)
        await ctx.tick()
        await ctx.tick()
        seen.append((ctx.get(dut.nan_flag), ctx.get(dut.sat_flag)))
        ctx.set(dut.flag_clear, 1)
        await ctx.tick()
        ctx.set(dut.flag_clear, 0)
        seen.append((ctx.get(dut.nan_flag), ctx.get(dut.sat_flag)))
        ctx.set(dut.inp.payload, [0x7FC0_0000])
        ctx.set(dut.inp.valid, 1)
        await ctx.tick()                                      # beat enters the output register
        ctx.set(dut.inp.valid, 0)
        ctx.set(dut.flag_clear, 1)                            # clear while the NaN beat leaves
        assert ctx.get(dut.out.valid) and ctx.get(dut.out.payload.nan[0])
        await ctx.tick()
        ctx.set(dut.flag_clear, 0)
        seen.append((ctx.get(dut.nan_flag), ctx.get(dut.sat_flag)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    assert seen == [(0, 0), (1, 1), (0, 0), (1, 0)]


def test_block_registry_scenario():
    from sim.blocks import get_block
    spec = get_block("quantizer")
    assert spec.config is QuantizerConfig
    for params in spec.demo_configs:
        cfg = QuantizerConfig(**params)
        dut = spec.component(cfg)
        sc = spec.scenario(cfg, layouts_of(dut), np.random.default_rng(1), 40)
        assert sc.vectors >= 40
        res = run_amaranth(dut, sc, seed=2, gap=0.2, stall=0.2)
        assert res.ok, res.mismatches[:5]


# --------------------------------------------------------------------------------------------
# 5. Mutation checks: wrong golden models must be caught
# --------------------------------------------------------------------------------------------


def _half_away_quantize_bits(x_bits, inv_bits, mode, F, rnd=None):
    """A deliberately wrong golden: RNE replaced by round-half-away-from-zero."""
    v = fp32_mul_bits(x_bits, inv_bits)
    raw = fp32_to_fixed(v, F)
    q = (raw.mag + (1 << (F - 1))) >> F
    codes, sat = saturate_int8(np.where(raw.neg, -q, q))
    return codes, raw.nan, sat


def _comparator_sr_quantize_bits(x_bits, inv_bits, mode, F, rnd=None):
    """A deliberately wrong golden: the comparator form of SR (``round up iff r < frac``)."""
    v = fp32_mul_bits(x_bits, inv_bits)
    raw = fp32_to_fixed(v, F)
    vfx = np.where(raw.neg, -(raw.mag + raw.sticky.astype(np.int64)), raw.mag)
    q = (vfx >> F) + (np.asarray(rnd) < (vfx & ((1 << F) - 1)))
    codes, sat = saturate_int8(q)
    return codes, raw.nan, sat


def _ftz_before_rounding_mul(a_bits, b_bits):
    """A deliberately wrong multiply: results below 2**-126 *before* rounding are flushed."""
    p = fp32_mul_bits(a_bits, b_bits)
    _, ea, _ = split_bits(a_bits)
    _, eb, _ = split_bits(b_bits)
    with np.errstate(under="ignore", over="ignore", invalid="ignore"):
        exact = from_bits(flush_bits(a_bits)).astype(np.float64) * \
            from_bits(flush_bits(b_bits)).astype(np.float64)
    tiny = (np.abs(exact) < 2.0 ** -126) & (ea != 0xFF) & (eb != 0xFF)
    return np.where(tiny, p & SIGN_MASK, p)


def test_mutation_half_away_caught_by_oracle_and_hardware():
    rng = np.random.default_rng(21)
    x = stimulus_bits(rng, 5_000, 1.0)
    bad = _mismatches(_half_away_quantize_bits(x, _bits(1.0), "rne", 8),
                      oracle_quantize(x, _bits(1.0), "rne", 8))
    assert bad > 100
    res, _ = _run(QuantizerConfig(mode="rne", lanes=4), 1.0, n_beats=60,
                  golden=_half_away_quantize_bits)
    assert not res.ok and any("out[" in m for m in res.mismatches)


def test_mutation_comparator_sr_caught():
    rng = np.random.default_rng(22)
    x = stimulus_bits(rng, 5_000, 1.0)
    r = rng.integers(0, 256, x.size)
    bad = _mismatches(_comparator_sr_quantize_bits(x, _bits(1.0), "sr", 8, r),
                      oracle_quantize(x, _bits(1.0), "sr", 8, r))
    assert bad > 100
    res, _ = _run(QuantizerConfig(mode="sr", lanes=4), 1.0, n_beats=60,
                  golden=_comparator_sr_quantize_bits)
    assert not res.ok


def test_mutation_flush_before_rounding_caught():
    rng = np.random.default_rng(23)
    a, b = _pair_sample(rng, 60_000)
    bad = int((_ftz_before_rounding_mul(a, b) != fp32_mul_reference(a, b)).sum())
    assert bad > 0


# --------------------------------------------------------------------------------------------
# 5b. Code width bits = 2..16: float64 oracle, fast path vs exact chain, wrong-width mutation
# --------------------------------------------------------------------------------------------

#: the widths whose oracles run in the default suite (issue 15)
WIDTHS = (2, 4, 6, 8, 12)


def oracle_width(v32, mode, F, r, b):
    """Independent float64 re-statement of one lane at code width ``b`` for float32 values ``v``.

    ``L = 2**(b-1) - 1``. Every ``|v| >= 2**(b-1)`` saturates in every mode, so ``v`` is first
    clipped to ``+-2**b`` (keeps every float64 step exact); RNE is ``np.rint``, RTZ ``np.trunc``,
    SR ``floor((floor(v * 2**F) + r) / 2**F)``; codes are clipped to ``[-L, L]``.
    """
    v32 = np.asarray(v32, dtype=np.float32)
    nan = np.isnan(v32)
    v = np.clip(np.where(nan, 0.0, v32.astype(np.float64)), -2.0 ** b, 2.0 ** b)
    if mode == "rne":
        q = np.rint(v)
    elif mode == "rtz":
        q = np.trunc(v)
    else:
        q = np.floor((np.floor(v * 2.0 ** F) + np.asarray(r, dtype=np.float64)) / 2.0 ** F)
    L = 2 ** (b - 1) - 1
    q = q.astype(np.int64)
    return np.clip(q, -L, L), nan, (np.abs(q) > L) & ~nan


def width_stimulus(rng, n, b):
    """FP32 patterns around the code range of width ``b``: every special class, values next to
    ``+-L``, ``+-(L + 1/2)``, ``+-2**(b-1)`` (up and down one ulp), half-integer ties, random
    values in and just beyond the range, tiny values."""
    L = 2 ** (b - 1) - 1
    edges = np.array([L, L + 0.5, L + 1, L - 0.5, 0.5, 1.5, 2.5, 1.0, 0.0], dtype=np.float32)
    near = np.concatenate([edges, np.nextafter(edges, np.float32(np.inf)),
                           np.nextafter(edges, np.float32(-np.inf))])
    near = np.concatenate([near, -near])
    ties = (rng.integers(-2 * L - 2, 2 * L + 3, n) + 0.5).astype(np.float32)
    inside = (rng.uniform(-1.2, 1.2, n) * 2.0 ** (b - 1)).astype(np.float32)
    tiny = (rng.standard_normal(n // 4) * 2.0 ** rng.integers(-30, 1, n // 4)).astype(np.float32)
    vals = np.concatenate([near, ties, inside, tiny])
    return np.concatenate([to_bits(vals), special_bits(),
                           rng.integers(0, 1 << 32, n // 4, dtype=np.int64)]).astype(np.int64)


@pytest.mark.parametrize("b", WIDTHS)
@pytest.mark.parametrize("mode", MODES)
def test_golden_width_matches_float64_oracle(b, mode):
    rng = np.random.default_rng(100 + b)
    x = width_stimulus(rng, 6_000, b)
    for F in (1, 8, 16):                               # F = 16 with b = 12: the int64 SR chain
        r = rng.integers(0, 1 << F, x.size) if mode == "sr" else None
        for inv in (1.0, 0.5, 1.5, 127.0 / 0.37):
            got = quantize_bits(x, _bits(inv), mode, F, r, bits=b)
            assert got[0].dtype == (np.int8 if b <= 8 else np.int16)
            want = oracle_width(from_bits(fp32_mul_reference(x, _bits(inv))), mode, F, r, b)
            assert _mismatches(got, want) == 0, (b, mode, F, inv)
            assert np.abs(got[0].astype(np.int64)).max() == 2 ** (b - 1) - 1 or inv != 1.0


def test_width_oracle_agrees_with_gfloat_at_8_bits():
    """The float64 oracle is the gfloat oracle of the default width (two re-statements agree)."""
    rng = np.random.default_rng(7)
    x = from_bits(width_stimulus(rng, 4_000, 8))
    for mode in MODES:
        r = rng.integers(0, 256, x.size)
        with np.errstate(invalid="ignore"):                # signalling NaN patterns
            assert _mismatches(oracle_width(x, mode, 8, r, 8), oracle_vector(x, mode, 8, r)) == 0


def _exact_chain(x_bits, inv_bits, mode, F, r, b):
    v = fp32_mul_bits(x_bits, inv_bits)
    raw = fp32_to_fixed(v, F, b)
    codes, sat = saturate_codes(round_fixed(raw, F, mode, r), b)
    return codes, raw.nan, sat


@pytest.mark.parametrize("b", range(2, 17))
def test_fast_path_matches_exact_chain_every_width(b):
    """quantize_bits (float32 fast path up to b + F = 24, int64 chain above) is the
    fp32_to_fixed -> round_fixed -> saturate_codes chain at every width and mode."""
    rng = np.random.default_rng(200 + b)
    x = width_stimulus(rng, 3_000, b)
    for F in (1, 8, 9, 16):
        r = rng.integers(0, 1 << F, x.size)
        for mode in MODES:
            rr = r if mode == "sr" else None
            got = quantize_bits(x, _bits(1.5), mode, F, rr, bits=b)
            want = _exact_chain(x, _bits(1.5), mode, F, rr, b)
            assert got[0].dtype == want[0].dtype
            assert _mismatches(got, (want[0].astype(np.int64), want[1], want[2])) == 0, (F, mode)


def test_width_helpers_and_errors():
    assert [code_max(b) for b in (2, 4, 8, 16)] == [1, 7, 127, 32767]
    assert code_dtype(8) is np.int8 and code_dtype(9) is np.int16
    c, s = saturate_codes([-9, -8, -7, 0, 7, 8], 4)
    assert list(c) == [-7, -7, -7, 0, 7, 7] and list(s) == [True, True, False, False, False, True]
    assert c.dtype == np.int8
    for bad in (1, 17, 8.0, True):
        with pytest.raises(ConfigError) as e:
            quantize_bits(np.zeros(2, np.int64), _bits(1.0), "rne", 8, bits=bad)
        assert str(e.value) == (f"quantizer code width bits={bad!r} is out of range: allowed "
                                f"values are integers in 2..16.")
    x = np.array([np.inf, -np.inf, 7.5, -8.0, 6.5, np.nan], np.float32)
    c, n, s = quantize(QuantizerConfig(bits=4), x, np.float32(1.0))
    assert list(c) == [7, -7, 7, -7, 6, 0] and list(s) == [1, 1, 1, 1, 0, 0] and n[-1]


@pytest.mark.parametrize("b, F", [(2, 1), (2, 16), (4, 8), (6, 16), (12, 8), (12, 16), (16, 1),
                                  (16, 9), (16, 16)])
def test_hw_round_lane_width_matches_oracle(b, F):
    """The combinational lane (Fp32ToFixed + RoundStage, all three modes selected at run time)
    at width b: port width b, codes against the float64 oracle; F + b > 25 exercises the
    left-shift path of the conversion."""
    rng = np.random.default_rng(b * 100 + F)
    v = width_stimulus(rng, 500, b)
    r = rng.integers(0, 1 << F, v.size)
    sel = rng.integers(0, 3, v.size)
    dut = QuantizerLane(F, MODES, bits=b)
    assert dut.code.shape().width == b and dut.code.shape().signed
    got = np.array(_comb_run(dut, (dut.v, dut.mode, dut.rnd), (dut.code, dut.nan, dut.sat),
                             zip(v, sel, r)))
    with np.errstate(invalid="ignore"):                    # signalling NaN patterns
        vf = from_bits(v)
        want = [oracle_width(vf, md, F, r, b) for md in MODES]
    for k in range(3):
        assert _mismatches(tuple(g[sel == k] for g in got.T.astype(np.int64)),
                           tuple(np.asarray(w)[sel == k] for w in want[k])) == 0, MODES[k]


def _wrong_width_quantize_bits(x_bits, inv_bits, mode, F, rnd=None, bits=8):
    """A deliberately wrong golden: saturates at 2**(b-1) instead of 2**(b-1) - 1."""
    raw = fp32_to_fixed(fp32_mul_bits(x_bits, inv_bits), F, bits)
    q = round_fixed(raw, F, mode, rnd)
    top = 1 << (bits - 1)
    return np.clip(q, -top, top), raw.nan, np.abs(q) > top


@pytest.mark.parametrize("b", WIDTHS)
def test_mutation_wrong_width_caught(b):
    rng = np.random.default_rng(300 + b)
    x = width_stimulus(rng, 2_000, b)
    want = oracle_width(from_bits(fp32_mul_reference(x, _bits(1.0))), "rne", 8, None, b)
    assert _mismatches(_wrong_width_quantize_bits(x, _bits(1.0), "rne", 8, None, b), want) > 10
    assert _mismatches(quantize_bits(x, _bits(1.0), "rne", 8, None, b), want) == 0
    if b == 4:
        # on the hardware rung such a code does not even fit the b-bit port ...
        with pytest.raises(ValueError, match=r"payload field code\.\d+=-?8 is out of range"):
            _run(QuantizerConfig(mode="rne", lanes=4, bits=b), 1.0, n_beats=60,
                 golden=_wrong_width_quantize_bits)

        def short(x_bits, inv_bits, mode, F, rnd=None, bits=8):     # ... and one code short fails
            c, n, sat = quantize_bits(x_bits, inv_bits, mode, F, rnd, bits)
            L = 2 ** (bits - 1) - 1
            return np.clip(c, 1 - L, L - 1), n, sat | (np.abs(c) == L)
        res, _ = _run(QuantizerConfig(mode="rne", lanes=4, bits=b), 1.0, n_beats=60, golden=short)
        assert not res.ok and any("out[" in m for m in res.mismatches)


# --------------------------------------------------------------------------------------------
# 6. Emitted Verilog under cocotb
# --------------------------------------------------------------------------------------------


def _cocotb(tmp_path, simulator, cfg, gap, stall, n_beats=50, inv=127.0 / 0.37):
    from sim.runner import run_cocotb
    from hw.toolchain import setup_env
    setup_env()
    dut = Quantizer(cfg)
    sc, _ = beats_scenario(cfg, layouts_of(dut), np.random.default_rng(8), n_beats=n_beats,
                     inv_scale=inv)
    return run_cocotb(cfg, dut, sc, simulator=simulator, build_dir=tmp_path / simulator,
                      seed=4, gap=gap, stall=stall)


@pytest.mark.cocotb
@pytest.mark.parametrize("mode,gap", [("rne", 0.0), ("rtz", 0.3), ("sr", 0.3)])
def test_cocotb_icarus(tmp_path, mode, gap):
    cfg = QuantizerConfig(mode=mode, lanes=2)
    res = _cocotb(tmp_path, "icarus", cfg, gap, gap)
    assert res.ok, res.mismatches[:5]
    assert res.checked == 50 + 2
    if gap == 0:
        assert res.out_cycles["out"] == [i + cfg.latency for i in range(50)]


@pytest.mark.cocotb
def test_cocotb_verilator(tmp_path):
    cfg = QuantizerConfig(mode="sr", lanes=2, frac_bits=8)
    res = _cocotb(tmp_path, "verilator", cfg, 0.3, 0.3)
    assert res.ok, res.mismatches[:5]
    assert res.checked == 50 + 2


# --------------------------------------------------------------------------------------------
# 7. Exhaustive: all 2**32 inputs, one scale, every mode (make verify-exhaustive)
# --------------------------------------------------------------------------------------------

SWEEP_INV = 1.5          # exact products -> many exact ties; inexact ones exercise the multiply
SWEEP_F = 8
_CHUNK = 1 << 16


def _sweep_rnd(x, F):
    """Deterministic per-input random integers (a multiplicative hash of the input pattern)."""
    return ((x * 0x9E37_79B1) >> 11) & ((1 << F) - 1)


def _sweep_block(start, stop):
    inv_bits = _bits(SWEEP_INV)
    bad = {"mul": 0, **{m: 0 for m in MODES}}
    hits = {"nan": 0, "sat": 0, "tie": 0}
    first = []
    for lo in range(start, stop, _CHUNK):
        x = np.arange(lo, min(lo + _CHUNK, stop), dtype=np.int64)
        v, vref = fp32_mul_bits(x, inv_bits), fp32_mul_reference(x, inv_bits)
        bad["mul"] += int((v != vref).sum())
        raw = fp32_to_fixed(v, SWEEP_F)
        r = _sweep_rnd(x, SWEEP_F)
        vf = from_bits(vref)
        for mode in MODES:
            codes, sat = saturate_int8(round_fixed(raw, SWEEP_F, mode, r if mode == "sr" else None))
            oc, on, os_ = oracle_vector(vf, mode, SWEEP_F, r)
            mis = (codes != oc) | (raw.nan != on) | (sat != os_)
            n = int(mis.sum())
            if n:
                bad[mode] += n
                if len(first) < 5:
                    i = int(np.nonzero(mis)[0][0])
                    first.append((mode, hex(int(x[i]))))
        hits["nan"] += int(raw.nan.sum())
        hits["sat"] += int(sat.sum())
        hits["tie"] += int(((raw.mag & ((1 << SWEEP_F) - 1)) == 1 << (SWEEP_F - 1)).sum())
    return bad, hits, first


@pytest.mark.slow
def test_exhaustive_all_fp32_inputs():
    """Every FP32 pattern x with inv = 1.5: golden multiply vs NumPy, golden codes and flags vs
    gfloat for RNE, RTZ and SR_8 (r from :func:`_sweep_rnd`). Runs on all CPU cores."""
    t0 = time.perf_counter()
    blocks = 256
    step = (1 << 32) // blocks
    bounds = [(k * step, (k + 1) * step) for k in range(blocks)]
    workers = max(1, os.cpu_count() or 1)
    total = {"mul": 0, **{m: 0 for m in MODES}}
    hits = {"nan": 0, "sat": 0, "tie": 0}
    first = []
    with ProcessPoolExecutor(workers) as pool:
        for bad, h, f in pool.map(_sweep_block, *zip(*bounds)):
            for k in total:
                total[k] += bad[k]
            for k in hits:
                hits[k] += h[k]
            first += f
    seconds = time.perf_counter() - t0
    print(f"\nexhaustive sweep: 2**32 inputs x {len(MODES)} modes in {seconds:.0f} s "
          f"on {workers} processes; mismatches {total}; hits {hits}")
    assert total == {"mul": 0, **{m: 0 for m in MODES}}, first
    assert hits["nan"] == 2 * ((1 << 23) - 1)          # every NaN pattern, both signs
    assert hits["sat"] > 0 and hits["tie"] > 0


# --------------------------------------------------------------------------------------------
# 8. Area against code width (sim/bits_area.py): the accumulator rule and the committed table
# --------------------------------------------------------------------------------------------


def test_bits_area_safe_accumulator_and_table(capsys):
    from sim.bits_area import main, safe_acc_width
    for b, k in ((2, 1), (4, 1024), (6, 1024), (8, 1024), (8, 133_144), (16, 7)):
        L = 2 ** (b - 1) - 1
        w = safe_acc_width(b, k)
        worst = k * L * L                                  # |sum| of k products of +-L codes
        assert worst <= 2 ** (w - 1) - 1 and worst > 2 ** (w - 2) - 1, (b, k, w)
    assert [safe_acc_width(b, 1024) for b in (4, 6, 8)] == [17, 21, 25]
    assert safe_acc_width(8, 133_144) == 32                 # the spec's 32-bit bound, decision (c)
    path = Path(__file__).resolve().parent.parent / "bench" / "bits_area.json"
    if path.exists():
        assert main(["--table", "--json", str(path)]) == 0
        out = capsys.readouterr().out
        assert "| sr | 16 |" in out and "| 8 | 25 |" in out
    with pytest.raises(SystemExit) as e:
        main(["--k", "0"])
    assert e.value.code == 2
