"""The fast quantizer body (``golden.quantizer.quantize_bits``) equals the original chain.

The oracle is the implementation ``quantize_bits`` had before it was rewritten for speed: the
golden bit-level chain ``fp32_mul_bits`` -> ``fp32_to_fixed`` -> ``round_fixed`` ->
``saturate_int8``, which stays in ``golden/quantizer.py`` (the hardware's reference, checked
against NumPy float32, gfloat and the RTL in ``tests/test_quantizer.py``). Inputs: 10^6 random bit patterns plus every special class (zeros,
subnormals, infinities, NaNs, ties, saturation edges) against many reciprocal-scale registers,
for every mode and several ``F``.
"""

import numpy as np
import pytest

from golden.fp32 import fp32_mul_bits, to_bits
from golden.params import ConfigError
from golden.quantizer import fp32_to_fixed, quantize_bits, round_fixed, saturate_int8

def _oracle(x_bits, inv_bits, mode, F, rnd=None):
    """The bit-level chain of the golden model (the lane as the hardware computes it), itself
    checked against NumPy float32, gfloat (2^32 sweep) and the RTL in tests/test_quantizer.py."""
    raw = fp32_to_fixed(fp32_mul_bits(x_bits, inv_bits), F)
    codes, sat = saturate_int8(round_fixed(raw, F, mode, rnd if mode == "sr" else None))
    return codes, raw.nan, sat


def _inputs(n=1_000_000, seed=1):
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 1 << 32, n // 2, dtype=np.int64)               # every class
    vals = (rng.standard_normal(n // 2) * rng.choice([1e-3, 0.1, 1, 50], n // 2)).astype(np.float32)
    ties = np.arange(-260, 261, dtype=np.float32) / 2                      # k + 0.5 and integers
    edges = np.array([127.5, -127.5, 128, -128, 127.49999, 126.5, 0.5, -0.5, 1.5, 2.5, 1e-40,
                      -1e-40, 1.1754944e-38, -1.1754944e-38, 3e38, -3e38], dtype=np.float32)
    edges = np.concatenate([edges, np.nextafter(edges, np.float32(np.inf)),
                            np.nextafter(edges, np.float32(-np.inf))])
    special = np.array([0, 0x8000_0000, 1, 0x8000_0001, 0x007F_FFFF, 0x807F_FFFF, 0x7F80_0000,
                        0xFF80_0000, 0x7FC0_0000, 0xFFC0_0001, 0x7F80_0001, 0x0080_0000],
                       dtype=np.int64)
    return np.concatenate([raw, to_bits(vals), to_bits(ties), to_bits(edges), special])


INVS = [1.0, 30.0, 0.0123, 127.0 / 3.2, 2.0 ** -126, 2.0 ** 100, -4.0]
INV_BITS = [int(to_bits(np.float32(v))) for v in INVS] + [0, 0x8000_0000, 0x0000_0001,
                                                          0x7F80_0000, 0x7FC0_0000]


@pytest.mark.parametrize("mode,F", [("rne", 8), ("rtz", 8), ("sr", 8), ("rne", 1), ("sr", 1),
                                    ("sr", 16), ("rtz", 16)])
def test_fast_quantizer_equals_original(mode, F):
    x = _inputs()
    rng = np.random.default_rng(F)
    for inv in INV_BITS:
        rnd = None
        if mode == "sr":
            rnd = rng.integers(0, 1 << F, x.size)
            rnd[:3] = [0, (1 << F) - 1, 0]
        got = quantize_bits(x, inv, mode, F, rnd)
        want = _oracle(x, inv, mode, F, rnd)
        for g, w, name in zip(got, want, ("codes", "nan", "sat")):
            assert np.array_equal(g, w), (mode, F, hex(inv), name,
                                          int(np.flatnonzero(g != w)[0]))


def test_fast_quantizer_uint32_view_and_array_register():
    """The trainer passes float32 tensors as uint32 views; a register may also be an array."""
    x = _inputs(100_000, seed=3)
    u = (x & 0xFFFF_FFFF).astype(np.uint32)
    inv = np.array(INV_BITS * (x.size // len(INV_BITS) + 1))[:x.size]
    for mode in ("rne", "rtz"):
        got = quantize_bits(u, inv.astype(np.uint32), mode, 8)
        want = _oracle(x, inv, mode, 8)
        for g, w in zip(got, want):
            assert np.array_equal(g, w)


def test_inputs_catch_a_wrong_rounding():
    """Mutation: round-half-away-from-zero instead of RNE differs on the tie inputs."""
    x = _inputs(1000)
    inv = int(to_bits(np.float32(1.0)))
    want = _oracle(x, inv, "rne", 8)[0]
    with np.errstate(invalid="ignore", over="ignore"):     # signalling NaNs in the cast
        v = (x & 0xFFFF_FFFF).astype(np.uint32).view(np.float32).astype(np.float64)
        wrong = np.where(np.isfinite(v), np.clip(np.trunc(v + np.copysign(0.5, v)), -127, 127), 0)
    wrong = np.where(np.abs(v) < 2.0 ** -126, 0, wrong).astype(np.int8)
    assert not np.array_equal(wrong, want)


def test_sr_random_bits_checked():
    x = to_bits(np.float32([1.0, 2.0]))
    with pytest.raises(ConfigError, match="out of range"):
        quantize_bits(x, int(to_bits(np.float32(1.0))), "sr", 8, np.array([0, 256]))
    with pytest.raises(ConfigError, match="needs random bits"):
        quantize_bits(x, int(to_bits(np.float32(1.0))), "sr", 8, None)


def _sweep(stride, offset=0, inv=1.5, F=8, chunk=1 << 20):
    """``quantize_bits`` vs the oracle on the patterns ``offset + stride * k`` (all 2**32 for
    stride 1), every mode, SR with ``r`` = low ``F`` bits of a hash of the pattern."""
    inv_bits = int(to_bits(np.float32(inv)))
    bad = 0
    for lo in range(offset, 1 << 32, stride * chunk):
        x = np.arange(lo, min(lo + stride * chunk, 1 << 32), stride, dtype=np.int64)
        r = ((x * 2654435761) >> 13) & ((1 << F) - 1)
        for mode in ("rne", "rtz", "sr"):
            rnd = r if mode == "sr" else None
            got = quantize_bits(x, inv_bits, mode, F, rnd)
            want = _oracle(x, inv_bits, mode, F, rnd)
            bad += sum(int((g != w).sum()) for g, w in zip(got, want))
    return bad


def test_sweep_every_exponent_sampled():
    """2**20 patterns spread over every sign, exponent and fraction range (stride 4093)."""
    assert _sweep(4093, offset=17) == 0


@pytest.mark.slow
def test_sweep_all_fp32_inputs_fast_vs_original():
    """All 2**32 patterns through the fast body and the original chain (inv = 1.5, F = 8)."""
    assert _sweep(1) == 0
