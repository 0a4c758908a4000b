"""IEEE-754 binary32 arithmetic on bit patterns, with the project's flush-to-zero policy.

Shared by every block that consumes FP32 gradients and host-set FP32 registers (quantizer, ARC,
DAGQ). Everything works on ``uint32`` bit patterns held in NumPy ``int64`` arrays, so the same
integer operations describe the golden model and the hardware in :mod:`hw.fp32`.

Special-value policy (docs/spec.md#decision-b)
----------------------------------------------
* Subnormal operands are flushed to a zero of the same sign before use.
* The product is rounded exactly as IEEE-754 binary32 does (round to nearest, ties to even, with
  gradual underflow); a result that is subnormal *after* that rounding is flushed to a zero of the
  same sign. The result therefore equals ``flush(np.float32(flush(a)) * np.float32(flush(b)))``
  bit for bit, except for NaN payloads.
* Overflow gives a signed infinity (IEEE round-to-nearest behaviour).
* ``NaN * y``, ``x * NaN``, ``0 * Inf`` and ``Inf * 0`` give the canonical quiet NaN
  ``0x7FC00000`` (sign and payload of NaN operands are not propagated).
"""

from __future__ import annotations

import numpy as np

__all__ = ["SIGN_MASK", "EXP_MASK", "FRAC_MASK", "CANONICAL_NAN", "BIAS", "to_bits", "from_bits",
           "split_bits", "is_subnormal_bits", "flush_bits",
           "fp32_mul_bits", "fp32_mul_reference"]

SIGN_MASK = 0x8000_0000
EXP_MASK = 0x7F80_0000
FRAC_MASK = 0x007F_FFFF
CANONICAL_NAN = 0x7FC0_0000
BIAS = 127
_HIDDEN = 1 << 23


def to_bits(x) -> np.ndarray:
    """Bit patterns of ``x`` converted to ``np.float32``, as an ``int64`` array in ``[0, 2**32)``."""
    return np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.int64)


def from_bits(bits) -> np.ndarray:
    """``np.float32`` array whose bit patterns are ``bits`` (any integer array in ``[0, 2**32)``)."""
    return np.asarray(bits, dtype=np.int64).astype(np.uint32).view(np.float32)


def _as_int64(bits) -> np.ndarray:
    return np.asarray(bits, dtype=np.int64) & 0xFFFF_FFFF


def split_bits(bits):
    """Split bit patterns into ``(sign, biased exponent, fraction)`` ``int64`` arrays."""
    b = _as_int64(bits)
    return b >> 31, (b >> 23) & 0xFF, b & FRAC_MASK


def is_subnormal_bits(bits) -> np.ndarray:
    """True where the pattern is a (non-zero) subnormal."""
    _, e, f = split_bits(bits)
    return (e == 0) & (f != 0)


def flush_bits(bits) -> np.ndarray:
    """Replace subnormal patterns by the zero of the same sign; other patterns are unchanged."""
    b = _as_int64(bits)
    return np.where(is_subnormal_bits(b), b & SIGN_MASK, b)


def fp32_mul_bits(a_bits, b_bits) -> np.ndarray:
    """Binary32 product of two bit patterns under the module's flush-to-zero policy.

    The datapath is the one :class:`hw.fp32.Fp32Mul` implements: the exact 48-bit product of the
    two 24-bit significands, a one-bit normalisation, round to nearest even at the binary32
    precision (one bit coarser in the binade just below the smallest normal, as gradual underflow
    requires), then flush of subnormal results and overflow to infinity.

    Parameters
    ----------
    a_bits, b_bits : array_like of int
        Bit patterns (values in ``[0, 2**32)``); broadcast against each other.

    Returns
    -------
    numpy.ndarray of int64
        Bit patterns of the products.
    """
    a, b = np.broadcast_arrays(_as_int64(a_bits), _as_int64(b_bits))
    sa, ea, ma = split_bits(a)
    sb, eb, mb = split_bits(b)
    sign = (sa ^ sb) << 31

    a_nan, b_nan = (ea == 0xFF) & (ma != 0), (eb == 0xFF) & (mb != 0)
    a_inf, b_inf = (ea == 0xFF) & (ma == 0), (eb == 0xFF) & (mb == 0)
    a_zero, b_zero = ea == 0, eb == 0                       # zeros and flushed subnormals
    nan = a_nan | b_nan | (a_inf & b_zero) | (a_zero & b_inf)
    inf = (a_inf | b_inf) & ~nan
    zero = (a_zero | b_zero) & ~nan & ~inf

    # Finite, normal operands: product in [2**46, 2**48), normalised to [2**46, 2**47).
    prod = (ma | _HIDDEN) * (mb | _HIDDEN)
    top = prod >> 47
    norm = prod >> top
    lost = prod & top                                       # the bit shifted out by normalisation
    exp = ea + eb - BIAS + top                              # biased exponent of the product

    # Binade [2**-127, 2**-126) (exp == 0): IEEE keeps one bit less (subnormal grid 2**-149).
    cut = 23 + (exp == 0).astype(np.int64)
    q = norm >> cut
    guard = (norm >> (cut - 1)) & 1
    sticky = ((norm & ((np.int64(1) << (cut - 1)) - 1)) != 0) | (lost != 0)
    q = q + (guard & (sticky | (q & 1)).astype(np.int64))

    # Normal binades: a carry out of the significand bumps the exponent.
    carry = q >> 24
    e_norm = exp + carry
    q_norm = q >> carry
    normal_bits = np.where(e_norm >= 0xFF, sign | EXP_MASK,
                           sign | (np.maximum(e_norm, 0) << 23) | (q_norm & FRAC_MASK))
    # Subnormal binade: only a round-up to 2**-126 survives the flush.
    sub_bits = np.where(q == _HIDDEN, sign | (1 << 23), sign)
    finite_bits = np.where(exp >= 1, normal_bits, np.where(exp == 0, sub_bits, sign))

    out = np.where(nan, CANONICAL_NAN,
                   np.where(inf, sign | EXP_MASK, np.where(zero, sign, finite_bits)))
    return out.astype(np.int64)


def fp32_mul_reference(a_bits, b_bits) -> np.ndarray:
    """The oracle for :func:`fp32_mul_bits`: NumPy ``float32`` multiply around the flush policy.

    Returns bit patterns as ``int64``; NaN results are returned as :data:`CANONICAL_NAN` so that
    the comparison does not depend on the host CPU's NaN propagation rules.
    """
    a = from_bits(flush_bits(a_bits))
    b = from_bits(flush_bits(b_bits))
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        p = (a * b).astype(np.float32)
    bits = flush_bits(to_bits(p))
    return np.where(np.isnan(p), CANONICAL_NAN, bits).astype(np.int64)
