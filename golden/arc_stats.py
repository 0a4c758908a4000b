"""Golden model of the ARC statistics unit (block ``arc_stats``): exact on-chip moments and the
largest inlier of an FP32 gradient tensor.

The host-side flow that turns these results into a clip value, and the whole ARC method, are in
:mod:`golden.arc`; the quantizer lanes are :mod:`golden.arc_quantizer`.

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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fp32 import flush_bits, split_bits
from .params import BlockConfig, Param

__all__ = ["FLT_MAX_BITS", "INF_BITS", "NEG_INF_BITS", "ArcStatsConfig", "StatsResult",
           "fp32_key", "lane_terms", "stats_accumulate"]

FLT_MAX_BITS = 0x7F7F_FFFF


INF_BITS = 0x7F80_0000


NEG_INF_BITS = 0xFF80_0000


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
