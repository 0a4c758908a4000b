"""Golden model of ARC: round-toward-zero gradient quantization with z-score clipping.

docs/spec.md#arc (ARC, ISCAS 2024). Per tensor ``g`` (FP32 output gradient of a layer):

1. statistics of the finite elements: mean ``mu`` and standard deviation ``sd`` (``ddof=1``);
2. inliers are the finite elements with ``|g - mu| <= z* sd`` (``z* = 3`` by default); the clip
   value ``c`` is the **largest inlier magnitude** (``max |g|`` over the inliers);
3. clip to ``[-c, c]``, scale ``s = fp32(c / L)``, ``inv = fp32(1 / s)``, and round toward zero
   to the symmetric range ``[-L, L]`` through the shared quantizer lane (:func:`golden.quantizer.
   quantize_bits` in ``"rtz"`` mode); dequantization is ``q * s``. ``L = 2**(b-1) - 1`` for the
   code width ``b = bits`` (default 8: INT8, ``L = 127``).

The statistics are computed **on chip** by the ``arc_stats`` unit (:mod:`hw.arc_stats`), whose
every arithmetic step is defined here (:func:`stats_accumulate`); the host does only the scalar
steps (:func:`host_thresholds`, :func:`arc_scale`, :func:`adaptive_mode`).

This module holds the host-side flow (the scalar steps between the two blocks, and the whole
method :func:`arc_quantize`); the blocks are :mod:`golden.arc_stats` and
:mod:`golden.arc_quantizer`. The statistics unit's non-finite and degenerate-tensor policy is
stated in :mod:`golden.arc_stats`.

Host thresholds [CHOSEN]
------------------------
``mu = sum / n * 2^(ebase-150)`` and ``var = (n*sumsq - sum^2) / (n (n-1)) * 2^(2(ebase-150))``
are exact rationals, rounded once to float64; ``sd = math.sqrt(var)``; ``lo64 = mu - z*sd`` and
``hi64 = mu + z*sd`` in float64; the FP32 registers are ``lo = `` the smallest float32 ``>= lo64``
and ``hi = `` the largest float32 ``<= hi64``, so ``lo <= x <= hi`` holds for a float32 ``x``
exactly when ``lo64 <= x <= hi64``.

Adaptive rounding [CHOSEN, off by default]
------------------------------------------
Per layer, ``mode = "rne"`` when RTZ's dead zone ``|x| < s`` swallows more than ``rho`` (default
0.25) of the tensor's finite non-zero elements, else ``"rtz"``. The count ``n_dz`` of finite
``|x| < s`` comes from one more pass 2 with ``lo = -pred(s)``, ``hi = pred(s)`` (``pred`` = the
next float32 toward zero); the fraction is ``(n_dz - n_zero) / (count - n_zero)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .arc_quantizer import arc_quantize_bits
from .arc_stats import INF_BITS, NEG_INF_BITS, ArcStatsConfig, StatsResult, stats_accumulate
from .fp32 import EXP_MASK, from_bits, to_bits
from .params import ConfigError
from .quantizer import code_max, reciprocal_scale

__all__ = ["Z_STAR", "RHO", "ROUNDING", "default_ebase", "host_moments",
           "host_thresholds", "ClipResult", "clip_value", "arc_scale",
           "dead_zone_thresholds", "adaptive_mode", "ArcResult", "arc_quantize"]

#: default z-score threshold (the classic 3-sigma rule, docs/spec.md#arc)
Z_STAR = 3.0


#: default dead-zone fraction above which the adaptive rule picks RNE
RHO = 0.25


#: rounding choices of the ARC quantizer
ROUNDING = ("rtz", "rne", "adaptive")


def _check_z(z):
    if not (isinstance(z, (int, float, np.floating)) and math.isfinite(z) and z > 0):
        raise ConfigError(f"arc z-score threshold z={z!r} is invalid: allowed values are finite "
                          f"numbers > 0.")
    return float(z)


def default_ebase(window: int) -> int:
    """First-guess window register: the window's top binade is ``[1, 2)`` (``ebase = 128 - W``)."""
    return max(0, 128 - int(window))


def host_moments(res: StatsResult, ebase: int):
    """Exact ``(mu, var)`` as :class:`fractions.Fraction` from a pass-1 result (``None`` if n = 0).

    ``var`` uses ``ddof = 1``; it is 0 for ``n = 1`` [CHOSEN].
    """
    n = res.count
    if n == 0:
        return None
    unit = Fraction(2) ** (int(ebase) - 150)
    mu = Fraction(res.sum, n) * unit
    if n == 1:
        return mu, Fraction(0)
    var = Fraction(n * res.sumsq - res.sum * res.sum, n * (n - 1)) * unit * unit
    return mu, max(var, Fraction(0))


def _f32_up(x: float) -> int:
    """Bit pattern of the smallest float32 ``>= x`` (float64 ``x``)."""
    with np.errstate(over="ignore"):
        f = np.float32(x)
    if float(f) < x:
        f = np.nextafter(f, np.float32(np.inf))
    return int(to_bits(f))


def _f32_down(x: float) -> int:
    """Bit pattern of the largest float32 ``<= x`` (float64 ``x``)."""
    with np.errstate(over="ignore"):
        f = np.float32(x)
    if float(f) > x:
        f = np.nextafter(f, np.float32(-np.inf))
    return int(to_bits(f))


def host_thresholds(res: StatsResult, ebase: int, z: float = Z_STAR):
    """FP32 registers ``(lo_bits, hi_bits, mu, sd)`` from a pass-1 result (module docstring).

    Returns ``None`` when the tensor has no finite element.
    """
    z = _check_z(z)
    mom = host_moments(res, ebase)
    if mom is None:
        return None
    mu = float(mom[0])
    sd = math.sqrt(float(mom[1]))
    lo64, hi64 = mu - z * sd, mu + z * sd
    return _f32_up(lo64), _f32_down(hi64), mu, sd


@dataclass
class ClipResult:
    """How the clip value was found: the register values and every pass result."""
    c_bits: int
    mu: float | None
    sd: float | None
    lo_bits: int | None
    hi_bits: int | None
    ebase: int
    pass1: StatsResult
    pass2: StatsResult | None
    passes: int
    fallback: bool = False
    history: list = field(default_factory=list)

    @property
    def c(self) -> np.float32:
        return from_bits(np.int64(self.c_bits))[()]


def clip_value(cfg: ArcStatsConfig, bits, z: float = Z_STAR, ebase: int | None = None) -> ClipResult:
    """The clip value of one tensor the way host and statistics unit find it together.

    Pass 1 with ``ebase`` (default :func:`default_ebase`); if the ``over`` flag is set, pass 1
    again with ``ebase = max(0, emax - W + 1)``; host thresholds; pass 2; if no inlier, pass 2
    with ``lo = -Inf``, ``hi = +Inf``. Raises :class:`ConfigError` for an empty tensor.
    """
    b = np.asarray(bits, dtype=np.int64).reshape(-1)
    if b.size == 0:
        raise ConfigError("arc input tensor is empty: at least one element is needed.")
    z = _check_z(z)
    eb = default_ebase(cfg.window) if ebase is None else int(ebase)
    if not 0 <= eb <= 255:
        raise ConfigError(f"arc_stats register ebase={eb} is out of range: allowed values are "
                          f"0..255.")
    passes = 1
    r1 = stats_accumulate(cfg, b, False, eb)
    hist = [("pass1", eb, r1)]
    if r1.over:
        eb = max(0, r1.emax - cfg.window + 1)
        r1 = stats_accumulate(cfg, b, False, eb)
        passes += 1
        hist.append(("pass1", eb, r1))
    th = host_thresholds(r1, eb, z)
    if th is None:
        return ClipResult(0, None, None, None, None, eb, r1, None, passes, history=hist)
    lo, hi, mu, sd = th
    r2 = stats_accumulate(cfg, b, True, eb, lo, hi)
    passes += 1
    hist.append(("pass2", (lo, hi), r2))
    fallback = False
    if r2.n_in == 0:
        r2 = stats_accumulate(cfg, b, True, eb, NEG_INF_BITS, INF_BITS)
        passes += 1
        fallback = True
        hist.append(("pass2", (NEG_INF_BITS, INF_BITS), r2))
    return ClipResult(r2.cmax, mu, sd, lo, hi, eb, r1, r2, passes, fallback, hist)


def arc_scale(c_bits: int, bits: int = 8):
    """Host: ``(s, inv)`` as ``np.float32`` from the clip value's bit pattern.

    ``s = fp32(c / L)``, ``L = 2**(bits-1) - 1`` (one float32 division), ``inv = fp32(1 / s)``;
    when ``s`` is zero or subnormal, ``s = 0`` and ``inv = +0`` (every finite element then gets
    code 0).
    """
    c = from_bits(np.int64(c_bits) & 0x7FFF_FFFF)[()]
    s = np.float32(c / np.float32(code_max(bits)))
    if (int(to_bits(s)) & EXP_MASK) == 0:
        return np.float32(0), np.float32(0)
    return s, reciprocal_scale(s)


def dead_zone_thresholds(s) -> tuple:
    """Pass-2 registers ``(lo, hi)`` selecting the finite ``|x| < s`` (``s > 0`` float32)."""
    s = np.float32(s)
    p = np.nextafter(s, np.float32(0))
    return int(to_bits(-p)), int(to_bits(p))


def adaptive_mode(pass1: StatsResult, n_dz: int, rho: float = RHO) -> str:
    """The adaptive rule: ``"rne"`` if ``(n_dz - n_zero) > rho * (count - n_zero)``, else ``"rtz"``.

    Integer/float comparison of the exact counts; a tensor without non-zero finite elements is
    ``"rtz"``.
    """
    if not (0.0 <= rho <= 1.0):
        raise ConfigError(f"arc adaptive threshold rho={rho!r} is out of range: allowed values "
                          f"are 0..1.")
    nz = pass1.count - pass1.n_zero
    if nz <= 0:
        return "rtz"
    return "rne" if (n_dz - pass1.n_zero) > rho * nz else "rtz"


@dataclass
class ArcResult:
    """Result of :func:`arc_quantize`."""
    codes: np.ndarray
    nan: np.ndarray
    sat: np.ndarray
    clip: np.ndarray
    s: np.float32
    inv: np.float32
    c: np.float32
    mode: str
    clip_info: ClipResult
    dead_zone_fraction: float | None = None

    def dequantize(self) -> np.ndarray:
        """``q * s`` in float32."""
        return (self.codes.astype(np.float32) * self.s).astype(np.float32)


def arc_quantize(g32, z: float = Z_STAR, rounding: str = "rtz", rho: float = RHO,
                 cfg: ArcStatsConfig | None = None, ebase: int | None = None,
                 bits: int = 8) -> ArcResult:
    """Quantize one FP32 tensor with ARC: on-chip statistics, host scalars, ARC lanes.

    Parameters
    ----------
    g32 : array_like of float32
        The tensor (any shape; flattened).
    z : float
        ``z*`` (> 0).
    rounding : {"rtz", "rne", "adaptive"}
        RTZ (the paper's choice, default), RNE, or the per-layer adaptive rule.
    rho : float
        Threshold of the adaptive rule.
    cfg : ArcStatsConfig, optional
        Statistics-unit parameters (default config).
    ebase : int, optional
        First window register (default :func:`default_ebase`).
    bits : int
        Code width ``b`` (2..16): codes in ``[-(2**(b-1)-1), 2**(b-1)-1]``, ``int8`` up to 8
        bits, ``int16`` above.
    """
    g = np.asarray(g32)
    if g.dtype != np.float32:
        raise ConfigError(f"arc input has dtype {g.dtype}: expected float32.")
    if rounding not in ROUNDING:
        raise ConfigError(f"arc rounding {rounding!r} is invalid: allowed values are "
                          f"{', '.join(ROUNDING)}.")
    cfg = cfg or ArcStatsConfig()
    code_max(bits)                                  # validate the width before any pass
    xbits = to_bits(g.reshape(-1))
    info = clip_value(cfg, xbits, z, ebase)
    s, inv = arc_scale(info.c_bits, bits)
    mode, frac = rounding, None
    if rounding == "adaptive":
        mode = "rtz"
        if s > 0:
            lo, hi = dead_zone_thresholds(s)
            n_dz = stats_accumulate(cfg, xbits, True, info.ebase, lo, hi).n_in
            mode = adaptive_mode(info.pass1, n_dz, rho)
            nz = info.pass1.count - info.pass1.n_zero
            frac = (n_dz - info.pass1.n_zero) / nz if nz > 0 else 0.0
    codes, nan, sat, clip = arc_quantize_bits(xbits, info.c_bits, int(to_bits(inv)), mode, bits)
    shp = g.shape
    return ArcResult(codes.reshape(shp), nan.reshape(shp), sat.reshape(shp), clip.reshape(shp),
                     s, inv, info.c, mode, info, frac)
