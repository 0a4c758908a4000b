"""Golden model of the quantizer lane: FP32 gradient x FP32 reciprocal scale -> symmetric b-bit code.

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
4. saturation to the symmetric range ``[-L, L]``, ``L = code_max(b) = 2**(b-1) - 1`` of the code
   width ``b = bits`` (2..16, default 8: INT8, ``[-127, 127]``; docs/spec.md#decision-a),
   :func:`saturate_codes`.

Code width
----------
Every function that produces codes takes ``bits=8``. Codes are returned as ``int8`` for
``bits <= 8`` and ``int16`` above (:func:`code_dtype`). The table below is written for the
default ``b = 8`` (``L = 127``, saturation from ``|v| >= 128``); for another width read ``L`` for
127 and ``2**(b-1)`` for 128.

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

__all__ = ["QuantizerConfig", "INT8_MAX", "MODES", "BIG_EXP", "BITS_RANGE", "check_bits",
           "code_max", "code_dtype", "big_exp", "FixedRaw", "fp32_to_fixed", "round_fixed",
           "saturate_codes", "saturate_int8", "quantize_bits", "quantize", "reciprocal_scale"]

INT8_MAX = 127
MODES = ("rne", "rtz", "sr")
#: biased exponent from which ``|v| >= 128`` (the default width; :func:`big_exp` for any width)
BIG_EXP = 127 + 7
#: inclusive range of the code width ``bits``
BITS_RANGE = (2, 16)
#: ``bits + frac_bits`` up to which the float32 SR path of :func:`quantize_bits` is exact
FAST_SR_LIMIT = 24


def check_bits(bits, who: str = "quantizer") -> int:
    """Validate a code width: an integer in 2..16 (one-sentence :class:`ConfigError` otherwise)."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or \
            not BITS_RANGE[0] <= int(bits) <= BITS_RANGE[1]:
        raise ConfigError(f"{who} code width bits={bits!r} is out of range: allowed values are "
                          f"integers in {BITS_RANGE[0]}..{BITS_RANGE[1]}.")
    return int(bits)


def code_max(bits: int = 8) -> int:
    """Largest code ``L = 2**(bits-1) - 1`` of the symmetric range ``[-L, L]`` (127 for 8 bits)."""
    return (1 << (check_bits(bits) - 1)) - 1


def code_dtype(bits: int = 8):
    """NumPy dtype of the codes: ``int8`` for ``bits <= 8``, ``int16`` above."""
    return np.int8 if check_bits(bits) <= 8 else np.int16


def big_exp(bits: int = 8) -> int:
    """Biased FP32 exponent from which ``|v| >= 2**(bits-1)`` (every mode saturates)."""
    return 127 + check_bits(bits) - 1


class QuantizerConfig(BlockConfig):
    """Parameters of the quantizer (see the module docstring for the rounding and flag policy)."""
    BLOCK = "quantizer"
    PARAMS = (
        Param("lanes", int, 2, "parallel lanes P (FP32 inputs and codes per beat)", lo=1, hi=64),
        Param("mode", str, "rne", "rounding mode: round to nearest even, toward zero, stochastic",
              choices=MODES),
        Param("frac_bits", int, 8, "fraction bits F of the fixed-point value (SR uses F random bits)",
              lo=1, hi=16),
        Param("pipelined", bool, True, "register the FP32 product before the rounder (+1 cycle latency)"),
        Param("bits", int, 8, "code width b: symmetric codes in [-(2^(b-1)-1), 2^(b-1)-1]",
              lo=2, hi=16),
    )
    TAGS = {"lanes": "l", "mode": "", "frac_bits": "f", "pipelined": "p", "bits": "b"}

    TIMING_NOTE = "latency = 1 (output register) + 1 with pipelined (product register)"

    @property
    def latency(self) -> int:
        """Output register, plus the product register when ``pipelined``: input beat ``i`` of a
        back-to-back stream leaves in cycle ``i + latency`` (one beat per cycle, no bubbles)."""
        return 1 + int(self.pipelined)


@dataclass(frozen=True)
class FixedRaw:
    """An FP32 value as an unrounded sign-magnitude fixed-point number with ``F`` fraction bits.

    ``|v| * 2**F = mag + t`` with ``0 <= t < 1`` and ``sticky = (t != 0)``. Magnitudes of
    ``2**(b-1)`` and above (and infinities) are represented by ``mag = 2**(b-1) * 2**F``,
    ``sticky = False``: every mode rounds that to ``+-2**(b-1)``, which :func:`saturate_codes`
    turns into ``+-L`` with the ``sat`` flag (b = 8: 128 and 127). NaN has ``mag = 0``,
    ``neg = False`` and ``nan = True``.

    Attributes
    ----------
    neg : numpy.ndarray of bool
        Sign of ``v`` (false for NaN).
    mag : numpy.ndarray of int64
        ``floor(|v| * 2**F)``, in ``[0, 2**(b-1) * 2**F]``.
    sticky : numpy.ndarray of bool
        Some bit below ``2**-F`` of ``|v|`` is set.
    nan : numpy.ndarray of bool
        ``v`` is NaN.
    """
    neg: np.ndarray
    mag: np.ndarray
    sticky: np.ndarray
    nan: np.ndarray


def fp32_to_fixed(x_bits, frac_bits: int, bits: int = 8) -> FixedRaw:
    """Convert FP32 bit patterns to the raw fixed-point record (subnormals flushed to zero).

    For a normal ``v = 1.f * 2**(e-127)`` with ``|v| < 2**(bits-1)`` the magnitude is the 24-bit
    significand shifted right by ``k = 150 - F - e`` (at least ``25 - F - bits``), the
    shifted-out bits OR-ed into ``sticky``; shifts above 25 behave like 25. When
    ``F + bits > 25`` the shift can be negative (a left shift, exact, ``sticky = 0``).
    ``|v| >= 2**(bits-1)`` and infinities give ``mag = 2**(bits-1) * 2**F``.
    """
    F = int(frac_bits)
    b = check_bits(bits)
    s, e, f = split_bits(x_bits)
    nan = (e == 0xFF) & (f != 0)
    big = ((e == 0xFF) & (f == 0)) | ((e >= big_exp(b)) & (e != 0xFF))
    zero = e == 0
    sig = f | (1 << 23)
    sh = 150 - F - e
    k = np.clip(sh, 0, 25)
    mag = (sig << np.clip(-sh, 0, 8)) >> k
    sticky = (sig & ((np.int64(1) << k) - 1)) != 0
    mag = np.where(big, np.int64(1 << (b - 1)) << F, np.where(zero | nan, 0, mag)).astype(np.int64)
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
        Values in ``[-2**(b-1), 2**(b-1)]`` for a record from ``fp32_to_fixed(..., bits=b)``
        (the rounding itself does not depend on the code width).
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


def saturate_codes(q, bits: int = 8):
    """Clamp integers to ``[-L, L]``, ``L = code_max(bits)``; returns ``(codes, sat mask)``.

    ``codes`` has dtype :func:`code_dtype` (``int8`` up to 8 bits, ``int16`` above).
    """
    L = code_max(bits)
    q = np.asarray(q, dtype=np.int64)
    sat = (q > L) | (q < -L)
    return np.clip(q, -L, L).astype(code_dtype(bits)), sat


def saturate_int8(q):
    """:func:`saturate_codes` at the default width 8: clamp to ``[-127, 127]`` as ``int8``."""
    return saturate_codes(q, 8)


def quantize_bits(x_bits, inv_bits, mode: str, frac_bits: int, rnd=None, bits: int = 8):
    """Quantize FP32 bit patterns with the reciprocal scale ``inv_bits`` (bit pattern).

    Parameters
    ----------
    x_bits, inv_bits : array_like of int
        FP32 bit patterns, broadcast against each other.
    mode : {"rne", "rtz", "sr"}
    frac_bits : int
        ``F``, 1..16.
    rnd : array_like of int, optional
        ``r`` in ``[0, 2**F)`` per element (mode ``"sr"`` only).
    bits : int
        Code width ``b`` (2..16).

    Returns
    -------
    codes : numpy.ndarray of int8 (``bits <= 8``) or int16
        In ``[-L, L]``, ``L = 2**(b-1) - 1``.
    nan : numpy.ndarray of bool
        The product ``v`` was NaN (code 0).
    sat : numpy.ndarray of bool
        The code was saturated (``v`` infinite, ``|v| >= 2**(b-1)`` or rounded outside the range).
    """
    # Fast form, bit-identical to fp32_mul_bits -> fp32_to_fixed -> round_fixed ->
    # saturate_codes (tests/test_train_quantizer.py and tests/test_quantizer.py keep that chain
    # as the oracle): NumPy's float32 multiply is the IEEE product fp32_mul_bits computes before
    # its flush; RNE and RTZ of a float32 value are exact in float32 (np.rint, np.trunc); SR
    # computes t = floor(clip(v, +-2**(b-1)) * 2**F), exact (a power-of-two scaling and a floor),
    # then t + r, an integer of magnitude below 2**(b-1+F) + 2**F, exact while b + F <= 24
    # (every integer up to 2**24 is a float32). Above that the exact int64 chain is used.
    F = int(frac_bits)
    mode = QuantizerConfig.param("mode").validate("quantizer", mode)
    b = check_bits(bits)
    L = code_max(b)
    if mode == "sr" and b + F > FAST_SR_LIMIT:
        r = _check_rnd(rnd, F, np.broadcast(np.asarray(x_bits), np.asarray(inv_bits)).shape)
        v = fp32_mul_bits(np.asarray(x_bits, dtype=np.int64) & 0xFFFF_FFFF,
                          np.asarray(inv_bits, dtype=np.int64) & 0xFFFF_FFFF)
        raw = fp32_to_fixed(v, F, b)
        codes, sat = saturate_codes(round_fixed(raw, F, mode, r), b)
        return codes, raw.nan, sat
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
            top = np.float32(1 << (b - 1))
            t = np.floor(np.clip(v, -top, top) * np.float32(1 << F))
            q = np.floor((t + r.astype(np.float32)) * np.float32(1.0 / (1 << F)))
        nan = np.isnan(v)
        sat = np.abs(q) > np.float32(L)
        codes = np.clip(q, np.float32(-L), np.float32(L))
        if nan.any():
            codes = np.where(nan, np.float32(0.0), codes)
    return codes.astype(code_dtype(b)), nan, sat


def quantize(cfg: QuantizerConfig, x32, inv_scale, rnd=None):
    """Quantize ``np.float32`` values ``x32`` with the ``np.float32`` reciprocal scale ``inv_scale``.

    ``rnd`` is required when ``cfg.mode == "sr"`` (one F-bit integer per element) and must be
    omitted otherwise. Returns ``(codes, nan, sat)`` as :func:`quantize_bits` (width ``cfg.bits``).
    """
    x = np.asarray(x32)
    if x.dtype != np.float32:
        raise ConfigError(f"quantizer input has dtype {x.dtype}: expected float32 (use "
                          f"quantize_bits for bit patterns).")
    if cfg.mode != "sr" and rnd is not None:
        raise ConfigError(f"quantizer mode {cfg.mode!r} takes no random bits: pass rnd=None.")
    inv = np.float32(inv_scale)
    return quantize_bits(to_bits(x), int(to_bits(inv)), cfg.mode, cfg.frac_bits, rnd, cfg.bits)


def reciprocal_scale(s) -> np.float32:
    """Host side: the register value ``inv = fp32(1 / s)`` for a float32 scale ``s``."""
    with np.errstate(divide="ignore"):
        return np.float32(np.float32(1) / np.float32(s))

