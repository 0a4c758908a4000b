"""Golden model of ARC: round-toward-zero gradient quantization with z-score clipping.

docs/spec.md#arc (ARC, ISCAS 2024). Per tensor ``g`` (FP32 output gradient of a layer):

1. statistics of the finite elements: mean ``mu`` and standard deviation ``sd`` (``ddof=1``);
2. inliers are the finite elements with ``|g - mu| <= z* sd`` (``z* = 3`` by default); the clip
   value ``c`` is the **largest inlier magnitude** (``max |g|`` over the inliers);
3. clip to ``[-c, c]``, scale ``s = fp32(c / 127)``, ``inv = fp32(1 / s)``, and round toward zero
   to the symmetric INT8 range through the shared quantizer lane (:func:`golden.quantizer.
   quantize_bits` in ``"rtz"`` mode); dequantization is ``q * s``.

The statistics are computed **on chip** by the ``arc_stats`` unit (:mod:`hw.arc_stats`), whose
every arithmetic step is defined here (:func:`stats_accumulate`); the host does only the scalar
steps (:func:`host_thresholds`, :func:`arc_scale`, :func:`adaptive_mode`).

Statistics unit (pass 1: moments)
---------------------------------
A finite, normal element ``x = (-1)^sgn * m * 2^(e - 150)`` (``m`` the 24-bit significand, ``e``
the biased exponent) is converted to an integer ``fix`` in units of ``2^(ebase - 150)``, where
``ebase`` is a host-set 8-bit register and ``W = window`` a parameter::

    r   = clip(ebase + W - 1 - e, 0, 23 + W)            # right-shift amount
    fix = (m << (W - 1)) >> r                           # = m * 2^(e - ebase), exact if e >= ebase
    sq  = (m*m << 2(W - 1)) >> 2r                       # = m^2 * 2^(2(e - ebase)), exact if e >= ebase

So the exponent window ``[ebase, ebase + W - 1]`` is exact; elements below it are truncated
toward zero in magnitude (flag ``under``); elements above it are clamped to ``r = 0`` (their
contribution is wrong, flag ``over``: the host re-runs pass 1 with ``ebase = emax - W + 1``).
The unit accumulates ``count`` (finite elements), ``n_zero`` (zeros and flushed subnormals),
``sum = sum(+-fix)`` (two's complement, ``24 + W + count_bits`` bits), ``sumsq = sum(sq)``
(``46 + 2W + count_bits`` bits) and ``emax`` (largest biased exponent of a finite non-zero
element). Counters **saturate** at ``2^count_bits - 1`` with the ``cnt_ovf`` flag; ``sum`` and
``sumsq`` **wrap** (they cannot overflow while no counter saturated).

Statistics unit (pass 2: largest inlier)
----------------------------------------
With host-set FP32 registers ``lo``/``hi``, a finite element is an inlier when
``key(lo) <= key(x) <= key(hi)``, ``key(b) = sgn ? -mag : mag`` with ``mag`` the low 31 bits
(0 for zeros and subnormals, which are flushed): the signed-integer image of the FP32 order, in
which ``-0 == +0``. The unit outputs ``n_in`` (inlier count, saturating) and ``cmax`` (largest
``mag`` among the inliers, i.e. the FP32 bit pattern of the largest inlier magnitude; 0 if none).

Non-finite values and degenerate tensors [CHOSEN]
--------------------------------------------------
* NaN and +-Inf are **excluded** from every statistic (flags ``nan``/``inf``); subnormals count as
  zeros. The quantizer maps NaN to code 0 (NaN flag) and clips +-Inf to ``+-c``.
* One finite element: ``sd = 0`` (``ddof = 1`` is undefined for n = 1), so ``c = |x|``.
* All identical (including all zeros): ``sd = 0``, every element is an inlier, ``c = |x|``.
* No finite element (all NaN/Inf): ``c = 0``.
* ``c == 0``, or ``fp32(c / 127)`` zero or subnormal: ``s = 0`` and ``inv = +0``; every finite
  element gets code 0 (dequantizes to exactly 0).
* No inlier (impossible with exact moments and ``z* >= 1``, possible with ``z* < 1``): a second
  pass 2 with ``lo = -Inf``, ``hi = +Inf`` gives ``c = max |x|`` over finite elements.
* An empty tensor raises :class:`golden.params.ConfigError`.

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

from .fp32 import EXP_MASK, SIGN_MASK, flush_bits, from_bits, split_bits, to_bits
from .params import BlockConfig, ConfigError, Param
from .quantizer import INT8_MAX, quantize_bits, reciprocal_scale

__all__ = ["Z_STAR", "RHO", "ROUNDING", "ArcStatsConfig", "ArcQuantizerConfig", "StatsResult",
           "ClipResult", "ArcResult", "fp32_key", "lane_terms", "stats_accumulate",
           "host_moments", "host_thresholds", "default_ebase", "clip_value", "arc_scale",
           "clip_bits", "arc_quantize_bits", "dead_zone_thresholds", "adaptive_mode",
           "arc_quantize", "clip_value_float64", "FLT_MAX_BITS", "INF_BITS", "NEG_INF_BITS"]

#: default z-score threshold (the classic 3-sigma rule, docs/spec.md#arc)
Z_STAR = 3.0
#: default dead-zone fraction above which the adaptive rule picks RNE
RHO = 0.25
#: rounding choices of the ARC quantizer
ROUNDING = ("rtz", "rne", "adaptive")
FLT_MAX_BITS = 0x7F7F_FFFF
INF_BITS = 0x7F80_0000
NEG_INF_BITS = 0xFF80_0000
#: fraction bits of the ARC lane: RTZ and RNE are exact for every F, so the narrowest is used
ARC_FRAC_BITS = 1


class ArcStatsConfig(BlockConfig):
    """Parameters of the ARC statistics unit (arithmetic in the module docstring)."""
    BLOCK = "arc_stats"
    PARAMS = (
        Param("lanes", int, 1, "P: FP32 elements per input beat", lo=1, hi=16),
        Param("window", int, 12, "W: binades [ebase, ebase+W-1] accumulated exactly", lo=1, hi=40),
        Param("count_bits", int, 20, "width of the saturating element counters", lo=4, hi=40),
    )
    TAGS = {"lanes": "l", "window": "w", "count_bits": "n"}
    TRANSACTION = "tensor (its beats up to last)"

    @property
    def fix_width(self) -> int:
        """Width of one element's ``|fix|`` (``m << (W-1)``)."""
        return 23 + self.window

    @property
    def sq_width(self) -> int:
        """Width of one element's ``sq`` (``m*m << 2(W-1)``)."""
        return 46 + 2 * self.window

    @property
    def sum_width(self) -> int:
        """Two's-complement width of the ``sum`` accumulator."""
        return 24 + self.window + self.count_bits

    @property
    def sumsq_width(self) -> int:
        """Width of the ``sumsq`` accumulator."""
        return 46 + 2 * self.window + self.count_bits

    @property
    def count_max(self) -> int:
        """Saturation value of the counters."""
        return (1 << self.count_bits) - 1

    @property
    def latency(self) -> int:
        """Cycles from the transfer of a tensor's ``last`` beat to its result beat (no stalls)."""
        return 2


class ArcQuantizerConfig(BlockConfig):
    """Parameters of the ARC quantizer lanes (clip to +-c, multiply by inv, RTZ/RNE to INT8)."""
    BLOCK = "arc_quantizer"
    PARAMS = (
        Param("lanes", int, 2, "P: parallel lanes (FP32 inputs and INT8 codes per beat)", lo=1, hi=64),
        Param("adaptive", bool, False, "add the run-time rne input (per-layer RTZ/RNE choice)"),
        Param("pipelined", bool, True, "register the FP32 product before the rounder (+1 cycle)"),
    )
    TAGS = {"lanes": "l", "adaptive": "a", "pipelined": "p"}
    TIMING_NOTE = "latency = 1 (output register) + 1 with pipelined (product register)"

    @property
    def latency(self) -> int:
        """Cycles from an input beat's transfer to its output beat's transfer (no stalls)."""
        return 1 + int(self.pipelined)


# ------------------------------------------------------------------------------------------------
# Statistics unit
# ------------------------------------------------------------------------------------------------

@dataclass
class StatsResult:
    """One result beat of the statistics unit (Python ints; field meanings in the module doc)."""
    count: int = 0
    n_zero: int = 0
    sum: int = 0
    sumsq: int = 0
    emax: int = 0
    n_in: int = 0
    cmax: int = 0
    nan: bool = False
    inf: bool = False
    over: bool = False
    under: bool = False
    cnt_ovf: bool = False

    def to_payload(self) -> dict:
        """The result as the ``out`` stream payload of :class:`hw.arc_stats.ArcStats`."""
        return {k: int(v) for k, v in self.__dict__.items()}


def fp32_key(bits) -> np.ndarray:
    """Signed-integer image of the FP32 order: ``sgn ? -mag : mag``, subnormals flushed."""
    b = flush_bits(bits)
    mag = b & 0x7FFF_FFFF
    return np.where((b >> 31) == 1, -mag, mag).astype(np.int64)


def _exact_sum(a) -> int:
    """Exact sum of a non-negative ``int64`` array with values ``< 2**62`` (31-bit chunks)."""
    a = np.asarray(a, dtype=np.int64)
    if a.size == 0:
        return 0
    lo = int(np.sum(a & 0x7FFF_FFFF, dtype=np.int64))
    hi = int(np.sum(a >> 31, dtype=np.int64))
    return lo + (hi << 31)


def lane_terms(bits, ebase: int, window: int):
    """Per-element pass-1 terms: ``(fix, shift_sq, sq_base, usable, neg)``.

    ``fix`` is the magnitude ``(m << (W-1)) >> r`` (``int64``); the square is
    ``sq = sq_base << shift_sq`` where ``shift_sq = 2(W-1) - 2r`` when non-negative (then
    ``sq_base = m*m``), otherwise ``sq = (m*m) >> (2r - 2(W-1))`` and ``sq_base`` holds it with
    ``shift_sq = 0``. ``usable`` marks finite non-zero elements (the others contribute 0).
    """
    W = int(window)
    s, e, f = split_bits(bits)
    usable = (e != 0) & (e != 0xFF)
    m = f | (1 << 23)
    r = np.clip(int(ebase) + W - 1 - e, 0, 23 + W)
    fix = np.where(usable, (m << (W - 1)) >> r, 0)
    m2 = m * m
    ls = 2 * (W - 1) - 2 * r
    sq_base = np.where(ls >= 0, m2, m2 >> np.clip(-ls, 0, 62))
    sq_base = np.where(usable, sq_base, 0)
    return fix, np.maximum(ls, 0), sq_base, usable, (s == 1)


def stats_accumulate(cfg: ArcStatsConfig, bits, pass2=False, ebase: int = 0, lo_bits: int = 0,
                     hi_bits: int = 0) -> StatsResult:
    """The result beat of one tensor (all beats up to and including ``last``).

    Parameters
    ----------
    cfg : ArcStatsConfig
    bits : array_like of int
        FP32 bit patterns of the kept elements (lanes with ``keep = 0`` are left out).
    pass2 : bool or array_like of bool
        Per element (or for all): ``False`` = pass-1 element (moments), ``True`` = pass-2 element
        (inlier search). The hardware takes the bit per beat.
    ebase : int
        The 8-bit window register (0..255).
    lo_bits, hi_bits : int
        The FP32 inlier bounds (bit patterns).

    Returns
    -------
    StatsResult
    """
    b = np.asarray(bits, dtype=np.int64).reshape(-1) & 0xFFFF_FFFF
    p2 = np.broadcast_to(np.asarray(pass2, dtype=bool), b.shape)
    W = cfg.window
    _, e, f = split_bits(b)
    nan = (e == 0xFF) & (f != 0)
    inf = (e == 0xFF) & (f == 0)
    res = StatsResult(nan=bool(nan.any()), inf=bool(inf.any()))
    cmax_total = cfg.count_max

    # --- pass 1 -------------------------------------------------------------------------------
    b1 = b[~p2]
    if b1.size:
        _, e1, _ = split_bits(b1)
        fin1 = e1 != 0xFF
        nz1 = fin1 & (e1 != 0)
        fix, ls, sqb, usable, neg = lane_terms(b1, ebase, W)
        pos_sum = _exact_sum(np.where(neg, 0, fix))
        neg_sum = _exact_sum(np.where(neg, fix, 0))
        total = pos_sum - neg_sum
        sumsq = 0
        for sh in np.unique(ls[usable]):
            sumsq += _exact_sum(sqb[usable & (ls == sh)]) << int(sh)
        count = int(fin1.sum())
        zeros = int((fin1 & (e1 == 0)).sum())
        res.count = min(count, cmax_total)
        res.n_zero = min(zeros, cmax_total)
        res.cnt_ovf |= count > cmax_total
        sw, qw = cfg.sum_width, cfg.sumsq_width
        total &= (1 << sw) - 1
        res.sum = total - (1 << sw) if total >> (sw - 1) else total
        res.sumsq = sumsq & ((1 << qw) - 1)
        res.emax = int(e1[nz1].max()) if nz1.any() else 0
        res.over = bool((nz1 & (e1 > int(ebase) + W - 1)).any())
        res.under = bool((nz1 & (e1 < int(ebase))).any())

    # --- pass 2 -------------------------------------------------------------------------------
    b2 = b[p2]
    if b2.size:
        _, e2, _ = split_bits(b2)
        key = fp32_key(b2)
        lo_k, hi_k = int(fp32_key(np.int64(lo_bits))), int(fp32_key(np.int64(hi_bits)))
        inl = (e2 != 0xFF) & (key >= lo_k) & (key <= hi_k)
        n_in = int(inl.sum())
        res.n_in = min(n_in, cmax_total)
        res.cnt_ovf |= n_in > cmax_total
        mag = flush_bits(b2) & 0x7FFF_FFFF
        res.cmax = int(mag[inl].max()) if inl.any() else 0
    return res


# ------------------------------------------------------------------------------------------------
# Host side
# ------------------------------------------------------------------------------------------------

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


def arc_scale(c_bits: int):
    """Host: ``(s, inv)`` as ``np.float32`` from the clip value's bit pattern.

    ``s = fp32(c / 127)`` (one float32 division), ``inv = fp32(1 / s)``; when ``s`` is zero or
    subnormal, ``s = 0`` and ``inv = +0`` (every finite element then gets code 0).
    """
    c = from_bits(np.int64(c_bits) & 0x7FFF_FFFF)[()]
    s = np.float32(c / np.float32(INT8_MAX))
    if (int(to_bits(s)) & EXP_MASK) == 0:
        return np.float32(0), np.float32(0)
    return s, reciprocal_scale(s)


# ------------------------------------------------------------------------------------------------
# Quantizer lanes
# ------------------------------------------------------------------------------------------------

def clip_bits(x_bits, c_bits: int):
    """Clip FP32 patterns to ``[-|c|, |c|]``: ``(clipped bits, clip mask)``.

    Subnormal inputs are flushed first; a non-NaN element whose magnitude bits exceed those of
    ``c`` (including +-Inf) is replaced by ``c``'s magnitude with the element's sign. NaN passes.
    """
    b = flush_bits(x_bits)
    mag = b & 0x7FFF_FFFF
    cm = int(c_bits) & 0x7FFF_FFFF
    nan = mag > EXP_MASK
    clip = (mag > cm) & ~nan
    return np.where(clip, (b & SIGN_MASK) | cm, b).astype(np.int64), clip


def arc_quantize_bits(x_bits, c_bits: int, inv_bits: int, mode: str = "rtz"):
    """One ARC lane: clip, ``v = fp32(x * inv)``, round (``"rtz"`` or ``"rne"``), saturate.

    Returns ``(codes, nan, sat, clip)`` (``int8`` codes and ``bool`` masks).
    """
    if mode not in ("rtz", "rne"):
        raise ConfigError(f"arc lane mode {mode!r} is invalid: allowed values are rtz, rne.")
    xc, clip = clip_bits(x_bits, c_bits)
    codes, nan, sat = quantize_bits(xc, int(inv_bits), mode, ARC_FRAC_BITS)
    return codes, nan, sat, clip


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
                 cfg: ArcStatsConfig | None = None, ebase: int | None = None) -> ArcResult:
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
    """
    g = np.asarray(g32)
    if g.dtype != np.float32:
        raise ConfigError(f"arc input has dtype {g.dtype}: expected float32.")
    if rounding not in ROUNDING:
        raise ConfigError(f"arc rounding {rounding!r} is invalid: allowed values are "
                          f"{', '.join(ROUNDING)}.")
    cfg = cfg or ArcStatsConfig()
    bits = to_bits(g.reshape(-1))
    info = clip_value(cfg, bits, z, ebase)
    s, inv = arc_scale(info.c_bits)
    mode, frac = rounding, None
    if rounding == "adaptive":
        mode = "rtz"
        if s > 0:
            lo, hi = dead_zone_thresholds(s)
            n_dz = stats_accumulate(cfg, bits, True, info.ebase, lo, hi).n_in
            mode = adaptive_mode(info.pass1, n_dz, rho)
            nz = info.pass1.count - info.pass1.n_zero
            frac = (n_dz - info.pass1.n_zero) / nz if nz > 0 else 0.0
    codes, nan, sat, clip = arc_quantize_bits(bits, info.c_bits, int(to_bits(inv)), mode)
    shp = g.shape
    return ArcResult(codes.reshape(shp), nan.reshape(shp), sat.reshape(shp), clip.reshape(shp),
                     s, inv, info.c, mode, info, frac)


def clip_value_float64(g32, z: float = Z_STAR) -> np.float32:
    """The spec's (docs/spec.md#arc-float64) ``arc_clip_value`` in float64, with this module's non-finite policy.

    NaN/Inf are dropped, subnormals flushed, ``np.std(ddof=1)`` (``sd = 0`` for one element), and
    ``max |g|`` over finite elements when nothing is an inlier. Raises for an empty tensor.
    """
    z = _check_z(z)
    g = from_bits(flush_bits(to_bits(np.asarray(g32, dtype=np.float32).reshape(-1))))
    if g.size == 0:
        raise ConfigError("arc input tensor is empty: at least one element is needed.")
    g = g[np.isfinite(g)].astype(np.float64)
    if g.size == 0:
        return np.float32(0)
    mu = g.mean()
    sd = g.std(ddof=1) if g.size > 1 else 0.0
    inlier = np.abs(g - mu) <= z * sd
    c = np.max(np.abs(g[inlier])) if inlier.any() else np.max(np.abs(g))
    return np.float32(c)
