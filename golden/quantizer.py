"""Golden model of the quantizer lane: FP32 gradient x FP32 reciprocal scale -> symmetric INT8.

One lane computes, for an IEEE binary32 input ``x`` and the host-set reciprocal scale ``inv``
(``inv = fp32(1/s)``, docs/spec.md#numeric-conventions):

1. ``v = fp32(x * inv)`` with :func:`golden.fp32.fp32_mul_bits` (IEEE multiply, round to nearest
   even, subnormal operands and subnormal results flushed to zero, overflow to infinity);
2. ``v`` as a fixed-point value with ``frac_bits = F`` fraction bits, :func:`fp32_to_fixed`: the
   magnitude ``floor(|v| * 2**F)`` plus a sticky bit for the bits below, the raw record that
   HardFloat passes from its arithmetic to its rounding stage;
3. rounding to an integer by mode, :func:`round_fixed`:

   * ``"rne"`` -- round to nearest, ties to even, of the exact ``v`` (``np.rint``);
   * ``"rtz"`` -- round toward zero (``np.trunc``);
   * ``"sr"``  -- ``SR_F(v, r) = (floor(v * 2**F) + r) >> F`` with an F-bit random integer ``r``
     (the adder form of docs/spec.md#decision-f; floor-based, so negative values round like positive ones
     shifted, not mirrored);
4. saturation to the symmetric INT8 range ``[-127, 127]`` (docs/spec.md#decision-a), :func:`saturate_int8`.

Special values (docs/spec.md#decision-b)
----------------------------------------
======================================  ==========  =======  ========
``v`` (after the multiply)              code        ``nan``  ``sat``
======================================  ==========  =======  ========
NaN (NaN input, ``0*Inf``, NaN register) 0           1        0
+Inf / -Inf (Inf input or overflow)      +127 / -127 0        1
``|v| >= 128`` (finite)                  +-127       0        1
rounded value outside ``[-127, 127]``    +-127       0        1
zero, flushed subnormal input or result  0           0        0
======================================  ==========  =======  ========

RNE and RTZ are exact roundings of ``v`` whatever ``F`` is (the sticky bit keeps the discarded
bits); ``F`` changes only the SR result and the datapath width. With an ordinary register
(``inv`` positive, finite, normal) this is the policy of docs/spec.md#decision-b: subnormal inputs give 0,
``+-Inf`` inputs give ``+-127``, NaN inputs give 0 and raise the NaN flag. Degenerate registers
follow IEEE through the multiply: ``inv = 0`` (or subnormal) makes ``Inf`` inputs NaN, and
``inv = Inf`` makes zero inputs NaN.

Overflow policy (docs/spec.md#decision-c): **saturate**. Each output beat carries a per-lane ``sat`` flag
and the component keeps sticky ``sat_flag`` and ``nan_flag`` outputs (set by a transferred beat
with a flagged lane, cleared by ``flag_clear`` or reset).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fp32 import fp32_mul_bits, split_bits, to_bits
from .params import BlockConfig, ConfigError, Param

__all__ = ["QuantizerConfig", "INT8_MAX", "MODES", "BIG_EXP", "FixedRaw",
           "fp32_to_fixed", "round_fixed", "saturate_int8", "quantize_bits", "quantize",
           "reciprocal_scale"]

INT8_MAX = 127
MODES = ("rne", "rtz", "sr")
#: biased exponent from which ``|v| >= 128``
BIG_EXP = 127 + 7


class QuantizerConfig(BlockConfig):
    """Parameters of the quantizer (see the module docstring for the rounding and flag policy)."""
    BLOCK = "quantizer"
    PARAMS = (
        Param("lanes", int, 2, "parallel lanes P (FP32 inputs and INT8 codes per beat)", lo=1, hi=64),
        Param("mode", str, "rne", "rounding mode: round to nearest even, toward zero, stochastic",
              choices=MODES),
        Param("frac_bits", int, 8, "fraction bits F of the fixed-point value (SR uses F random bits)",
              lo=1, hi=16),
        Param("pipelined", bool, True, "register the FP32 product before the rounder (+1 cycle latency)"),
    )
    TAGS = {"lanes": "l", "mode": "", "frac_bits": "f", "pipelined": "p"}

    TIMING_NOTE = "latency = 1 (output register) + 1 with pipelined (product register)"

    @property
    def latency(self) -> int:
        """Output register, plus the product register when ``pipelined``: input beat ``i`` of a
        back-to-back stream leaves in cycle ``i + latency`` (one beat per cycle, no bubbles)."""
        return 1 + int(self.pipelined)


@dataclass(frozen=True)
class FixedRaw:
    """An FP32 value as an unrounded sign-magnitude fixed-point number with ``F`` fraction bits.

    ``|v| * 2**F = mag + t`` with ``0 <= t < 1`` and ``sticky = (t != 0)``. Magnitudes of 128 and
    above (and infinities) are represented by ``mag = 128 * 2**F``, ``sticky = False``: every mode
    rounds that to +-128, which :func:`saturate_int8` turns into +-127 with the ``sat`` flag. NaN
    has ``mag = 0``, ``neg = False`` and ``nan = True``.

    Attributes
    ----------
    neg : numpy.ndarray of bool
        Sign of ``v`` (false for NaN).
    mag : numpy.ndarray of int64
        ``floor(|v| * 2**F)``, in ``[0, 128 * 2**F]``.
    sticky : numpy.ndarray of bool
        Some bit below ``2**-F`` of ``|v|`` is set.
    nan : numpy.ndarray of bool
        ``v`` is NaN.
    """
    neg: np.ndarray
    mag: np.ndarray
    sticky: np.ndarray
    nan: np.ndarray


def fp32_to_fixed(bits, frac_bits: int) -> FixedRaw:
    """Convert FP32 bit patterns to the raw fixed-point record (subnormals flushed to zero).

    For a normal ``v = 1.f * 2**(e-127)`` with ``|v| < 128`` the magnitude is the 24-bit
    significand shifted right by ``150 - F - e`` (at least ``17 - F >= 1``), the shifted-out bits
    OR-ed into ``sticky``; shifts above 25 behave like 25.
    """
    F = int(frac_bits)
    s, e, f = split_bits(bits)
    nan = (e == 0xFF) & (f != 0)
    big = ((e == 0xFF) & (f == 0)) | ((e >= BIG_EXP) & (e != 0xFF))
    zero = e == 0
    sig = f | (1 << 23)
    k = np.clip(150 - F - e, 1, 25)
    mag = sig >> k
    sticky = (sig & ((np.int64(1) << k) - 1)) != 0
    mag = np.where(big, np.int64(128) << F, np.where(zero | nan, 0, mag)).astype(np.int64)
    sticky = sticky & ~(big | zero | nan)
    neg = (s == 1) & ~nan
    return FixedRaw(neg=neg, mag=mag, sticky=sticky, nan=nan)



def _check_rnd(rnd, frac_bits, shape):
    if rnd is None:
        raise ConfigError("quantizer mode 'sr' needs random bits rnd: pass an integer array "
                          "with one value per input.")
    r = np.asarray(rnd)
    if not np.issubdtype(r.dtype, np.integer):
        raise ConfigError(f"quantizer random bits rnd have dtype {r.dtype}: expected an integer array.")
    r = np.broadcast_to(r.astype(np.int64), shape)
    hi = (1 << frac_bits) - 1
    if r.size and (r.min() < 0 or r.max() > hi):
        bad = r.min() if r.min() < 0 else r.max()
        raise ConfigError(f"quantizer random bits rnd hold {int(bad)}, out of range: allowed "
                          f"values are 0..{hi} for frac_bits={frac_bits}.")
    return r


def round_fixed(raw: FixedRaw, frac_bits: int, mode: str, rnd=None) -> np.ndarray:
    """Round the raw fixed-point record to integers (not yet saturated).

    Parameters
    ----------
    raw : FixedRaw
        From :func:`fp32_to_fixed` with the same ``frac_bits``.
    frac_bits : int
        ``F``, 1..16.
    mode : {"rne", "rtz", "sr"}
        Round to nearest even, toward zero, or ``SR_F`` (adder form, floor-based).
    rnd : array_like of int, optional
        ``r`` in ``[0, 2**F)`` per element; required for ``"sr"`` and ignored otherwise.

    Returns
    -------
    numpy.ndarray of int64
        Values in ``[-128, 128]``.
    """
    F = int(frac_bits)
    mode = QuantizerConfig.param("mode").validate("quantizer", mode)
    mag = raw.mag
    if mode == "rtz":
        q = mag >> F
    elif mode == "rne":
        q = mag >> F
        guard = (mag >> (F - 1)) & 1
        rest = ((mag & ((1 << (F - 1)) - 1)) != 0) | raw.sticky
        q = q + (guard & (rest | (q & 1)).astype(np.int64))
    elif mode == "sr":
        r = _check_rnd(rnd, F, mag.shape)
        vfx = np.where(raw.neg, -(mag + raw.sticky.astype(np.int64)), mag)   # floor(v * 2**F)
        return (vfx + r) >> F
    return np.where(raw.neg, -q, q)


def saturate_int8(q):
    """Clamp to ``[-127, 127]``; returns ``(codes as int8, sat mask)``."""
    q = np.asarray(q, dtype=np.int64)
    sat = (q > INT8_MAX) | (q < -INT8_MAX)
    return np.clip(q, -INT8_MAX, INT8_MAX).astype(np.int8), sat


def quantize_bits(x_bits, inv_bits, mode: str, frac_bits: int, rnd=None):
    """Quantize FP32 bit patterns with the reciprocal scale ``inv_bits`` (bit pattern).

    Returns
    -------
    codes : numpy.ndarray of int8
        In ``[-127, 127]``.
    nan : numpy.ndarray of bool
        The product ``v`` was NaN (code 0).
    sat : numpy.ndarray of bool
        The code was saturated (``v`` infinite, ``|v| >= 128`` or rounded outside the range).
    """
    # Fast form, bit-identical to fp32_mul_bits -> fp32_to_fixed -> round_fixed ->
    # saturate_int8 (tests/test_train_quantizer_speed.py keeps that chain as the oracle):
    # NumPy's float32 multiply is the IEEE product fp32_mul_bits computes before its flush, and
    # every mode's rounding of a float32 value in [-128, 128] is exact in float32.
    F = int(frac_bits)
    mode = QuantizerConfig.param("mode").validate("quantizer", mode)
    xb = np.asarray(x_bits)
    x = (xb if xb.dtype == np.uint32 else (xb.astype(np.int64) & 0xFFFF_FFFF).astype(np.uint32)
         ).view(np.float32)
    ib = np.asarray(inv_bits)
    inv = (ib if ib.dtype == np.uint32 else (ib.astype(np.int64) & 0xFFFF_FFFF).astype(np.uint32)
           ).view(np.float32)
    tiny = np.float32(np.finfo(np.float32).tiny)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        if inv.ndim == 0:
            iv = inv[()]
            iv = np.float32(0.0) * np.sign(iv) if abs(iv) < tiny else iv   # flush the register
            ax = np.abs(x)
            sub = ax < tiny
            xf = np.where(sub, np.float32(0.0), x) if sub.any() else x
            v = xf * iv
        else:
            inv = np.where(np.abs(inv) < tiny, np.float32(0.0), inv)
            x = np.where(np.abs(x) < tiny, np.float32(0.0), x)
            v = x * inv
        small = np.abs(v) < tiny                  # zeros and flushed subnormal products
        if small.any():
            v = np.where(small, np.float32(0.0), v)
        if mode == "rne":
            q = np.rint(v)
        elif mode == "rtz":
            q = np.trunc(v)
        else:
            if rnd is None:
                _check_rnd(rnd, F, v.shape)
            r = np.asarray(rnd)
            if not np.issubdtype(r.dtype, np.integer) or (r.size and (r.min() < 0 or
                                                                      r.max() > (1 << F) - 1)):
                _check_rnd(rnd, F, v.shape)
            r = np.broadcast_to(r, v.shape)
            t = np.floor(np.clip(v, np.float32(-128.0), np.float32(128.0)) * np.float32(1 << F))
            q = np.floor((t + r.astype(np.float32)) * np.float32(1.0 / (1 << F)))
        nan = np.isnan(v)
        sat = np.abs(q) > np.float32(INT8_MAX)
        codes = np.clip(q, np.float32(-INT8_MAX), np.float32(INT8_MAX))
        if nan.any():
            codes = np.where(nan, np.float32(0.0), codes)
    return codes.astype(np.int8), nan, sat


def quantize(cfg: QuantizerConfig, x32, inv_scale, rnd=None):
    """Quantize ``np.float32`` values ``x32`` with the ``np.float32`` reciprocal scale ``inv_scale``.

    ``rnd`` is required when ``cfg.mode == "sr"`` (one F-bit integer per element) and must be
    omitted otherwise. Returns ``(codes, nan, sat)`` as :func:`quantize_bits`.
    """
    x = np.asarray(x32)
    if x.dtype != np.float32:
        raise ConfigError(f"quantizer input has dtype {x.dtype}: expected float32 (use "
                          f"quantize_bits for bit patterns).")
    if cfg.mode != "sr" and rnd is not None:
        raise ConfigError(f"quantizer mode {cfg.mode!r} takes no random bits: pass rnd=None.")
    inv = np.float32(inv_scale)
    return quantize_bits(to_bits(x), int(to_bits(inv)), cfg.mode, cfg.frac_bits, rnd)


def reciprocal_scale(s) -> np.float32:
    """Host side: the register value ``inv = fp32(1 / s)`` for a float32 scale ``s``."""
    with np.errstate(divide="ignore"):
        return np.float32(np.float32(1) / np.float32(s))

