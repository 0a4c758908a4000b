"""Configuration and golden model of the dynamic group accumulator (``dga``, docs/spec.md#dga).

A dot product of ``N`` addends is accumulated in two FP(e, m) registers: the **intra-group**
accumulator ``A`` and the **inter-group** accumulator ``S``. The addends are bit patterns of the
accumulator format itself (a product rounded once to FP(e, m), e.g. by :mod:`hw.fp_mul` with
``fout`` = the accumulator format) or, with ``addend_man`` > ``m``, of the wider FP(e,
addend_man) (E4M3 x E4M3 products are exact in E5M7): then every intra-group addition rounds the
exact ``A + v`` once to FP(e, m), and the product is never rounded on its own. Every addition is
:func:`golden.minifloat.fp_add` (one rounding, the saturation and Inf/NaN policy of
:mod:`golden.minifloat`), so the functions here are bit-exact
models of :class:`hw.dga.DgaAccumulator`.

Order of additions (identical for every variant; ``n`` = addends in the current group)::

    S = A = +0; n = 0
    for v in p:                                  # hardware K-loop order
        if n > 0 and (n >= G or exp_close(A, v)):
            S = fp_add(S, A); n = 0              # close the group (inter-group add)
        A = fp_add(A if n > 0 else +0, v); n += 1  # intra-group add (the first one adds to +0)
    result = fp_add(S, A)                        # the last group closes at the end

``G`` is the group-size register. ``exp_close`` is ``False`` for ``static`` and ``dga``; for
``dga_exp`` it is ``A != 0 and v != 0 and ee(A) - ee(v) > T`` with ``ee(x) = max(E_x, 1)``, the
exponent *field* (a subnormal counts as the smallest normal exponent; this is what the hardware's
e-bit subtractor sees and differs from the spec's ``frexp`` only for a subnormal ``v``).

Variants (``DgaConfig.variant``) differ only in how ``G`` is chosen:

* ``static``: ``G = group_size`` (static group accumulation, baseline 64; ``G >= N`` is the plain
  sequential accumulation ``acc_seq``, because ``fp_add(+0, A) == A`` for every ``A`` the
  intra-group register can hold);
* ``dga``: ``G = dga_group_size(N) = 2**round(log2(sqrt(N)))`` clamped to ``4..gmax``, set by
  the controller per layer from ``N``;
* ``dga_exp``: ``G = gmax`` (a cap) and the data-driven ``exp_close`` rule with threshold ``T``.

Flags of one dot product: ``nan`` -- the result is NaN; ``ovf`` -- at least one of its additions
(intra, inter or final) saturated to +-max.

``adders`` (``DgaConfig.adders``) selects the hardware's schedule, not the arithmetic: with
``adders=1`` one FP adder does both sums and the first addend of a group is loaded without an
addition (:class:`hw.dga.DgaAccumulator`); the results and the cycle model are those above.

The plain **sequential accumulator** block ``fp_acc`` (:class:`FpAccConfig`,
:class:`hw.fp_acc.FpAccumulator`: one adder, ``S = fp_add(S, v)``) is modelled by
:func:`acc_seq` / :func:`fp_acc_block`; it is the baseline of the area comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .minifloat import ADDEND_PARAM, FP_FORMAT_PARAMS, FpFormat, FpFormatParams, check_addend_format, fp_add
from .params import BlockConfig, ConfigError, Param

__all__ = ["DgaConfig", "FpAccConfig", "fp_acc_block", "DgaResult", "VARIANTS", "GROUP_SIZE_MAX", "dga_group_size",
           "accumulate", "exp_field", "acc_seq", "acc_group", "acc_dga", "acc_dga_exp", "dga_block"]

VARIANTS = ("static", "dga", "dga_exp")
#: largest group size the configuration (and the hardware's 13-bit register) accepts
GROUP_SIZE_MAX = 4096


class DgaConfig(FpFormatParams, BlockConfig):
    """Parameters of the DGA accumulator (defaults: FP12 E5M6, RNE, variant ``dga``)."""
    BLOCK = "dga"
    PARAMS = FP_FORMAT_PARAMS + (
        Param("variant", str, "dga", "group rule: static G, DGA G from N, or data-driven "
              "DGA-exp", choices=VARIANTS),
        Param("group_size", int, 64, "static group size G (variant static)", lo=1,
              hi=GROUP_SIZE_MAX),
        Param("threshold", int, 6, "DGA-exp exponent-gap threshold T (close when "
              "ee(A) - ee(v) > T)", lo=0, hi=255),
        Param("gmax", int, 256, "largest group: DGA clamp and DGA-exp cap", lo=4,
              hi=GROUP_SIZE_MAX),
        Param("adders", int, 2, "FP adders: 2 (intra- and inter-group) or 1 shared (the "
              "first addition of a group, to +0, needs none; same cycles)", lo=1, hi=2),
        ADDEND_PARAM,
    )
    TAGS = {"exp_bits": "e", "man_bits": "m", "rounding": "", "inf_nan": "inf", "variant": "",
            "group_size": "g", "threshold": "t", "gmax": "gmax", "adders": "a",
            "addend_man": "am"}
    TRANSACTION = "dot product"
    THROUGHPUT = "1 addend per cycle, dot products back to back"

    @property
    def TIMING_NOTE(self) -> str:
        """The adder schedule, stated in the sidecar formula."""
        if self.adders == 1:
            return ("one FP adder shared by the intra-group sum A + v and the inter-group sum "
                    "A + S (group close and the final sum); the first addend of a group is "
                    "loaded into A without an addition (the golden's exact +0 + v), so no extra "
                    "cycle: the same cycles as with two adders")
        return ("two FP adders: the intra-group sum and the inter-group sum (group close, "
                "final sum) in the same cycle")

    def _timing_extra(self) -> dict:
        return {"adders": self.adders}

    def _check(self):
        self._check_addend()

    def register_value(self, n: int) -> int:
        """The value the controller loads into the group-size register for dot products of
        length ``n``: ``group_size`` (static), ``dga_group_size(n)`` (dga) or ``gmax`` (dga_exp)."""
        _check_length(n)
        if self.variant == "static":
            return self.group_size
        if self.variant == "dga":
            return dga_group_size(n, gmax=self.gmax)
        return self.gmax

    @property
    def latency(self) -> int:
        """Cycles from the transfer of a dot product's ``last`` addend to its result's transfer
        (output always ready)."""
        return 2



class FpAccConfig(FpFormatParams, BlockConfig):
    """Parameters of the sequential FP(e, m) accumulator ``fp_acc`` (defaults: FP12 E5M6, RNE).

    One adder, ``S = fp_add(S, v)`` per addend (:func:`acc_seq`); the comparison baseline of the
    DGA accumulator (FP12, FP16 = E5M10 and FP32 = E8M23 in ``docs/blocks/dga.md``).
    """
    BLOCK = "fp_acc"
    PARAMS = FP_FORMAT_PARAMS
    TAGS = {"exp_bits": "e", "man_bits": "m", "rounding": "", "inf_nan": "inf"}
    TRANSACTION = "dot product"
    THROUGHPUT = "1 addend per cycle, dot products back to back"

    @property
    def latency(self) -> int:
        """Cycles from the transfer of a dot product's ``last`` addend to its result's transfer
        (output always ready)."""
        return 1



@dataclass
class DgaResult:
    """Result of one or more dot products.

    Attributes
    ----------
    bits : int64 array, shape ``(B,)`` -- result bit patterns.
    nan : bool array -- the result is NaN.
    ovf : bool array -- some addition of the dot product saturated.
    groups : int64 array -- number of groups (inter-group additions incl. the final one).
    """
    bits: np.ndarray
    nan: np.ndarray
    ovf: np.ndarray
    groups: np.ndarray


def _check_length(n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"dot-product length N={n!r} is out of range: allowed values are an "
                          f"integer >= 1.")


def _check_group(g):
    if isinstance(g, bool) or not isinstance(g, (int, np.integer)) or not 1 <= g <= GROUP_SIZE_MAX:
        raise ConfigError(f"group size {g!r} is out of range: allowed values are an integer in "
                          f"1..{GROUP_SIZE_MAX}.")


def dga_group_size(n: int, gmin: int = 4, gmax: int = 256) -> int:
    """DGA group size for a dot product of length ``n``: ``2**round(log2(sqrt(n)))`` (NumPy
    ``rint``, ties to even) clamped to ``gmin..gmax`` (the spec's rule, docs/spec.md#dga).

    Examples: 576 -> 32, 4608 -> 64, 25088 -> 128.
    """
    _check_length(n)
    return int(min(max(2 ** int(np.rint(np.log2(np.sqrt(n)))), gmin), gmax))


def exp_field(fmt: FpFormat, bits) -> np.ndarray:
    """``ee = max(E, 1)`` of bit patterns (the exponent the DGA-exp comparator uses)."""
    b = np.asarray(bits, dtype=np.int64)
    return np.maximum((b >> fmt.m) & fmt.exp_ones, 1)


def accumulate(fmt: FpFormat, addends, group_size: int, mode: str = "rne",
               threshold: int | None = None, addend_fmt: FpFormat | None = None) -> DgaResult:
    """Accumulate dot products in the hardware's exact order (module docstring).

    Parameters
    ----------
    fmt : FpFormat
        Accumulator format (``A``, ``S``, the result).
    addends : int array, shape ``(N,)`` or ``(B, N)``
        Addend bit patterns of ``addend_fmt``; each row is one dot product (all rows share
        ``N`` and ``G``).
    group_size : int
        The group-size register ``G`` (1..4096; the cap for DGA-exp).
    mode : ``"rne"`` or ``"rtz"``
    threshold : int or None
        ``None``: no data-driven closing (static/DGA); an int ``T``: the DGA-exp rule.
    addend_fmt : FpFormat or None
        Format of the addends (default ``fmt``). A wider format (e.g. exact E5M7 products into
        an E5M6 accumulator) makes every intra-group addition the mixed-format
        :func:`golden.minifloat.fp_add` (``A + v`` rounded once to ``fmt``); the first addend of
        a group is ``+0 + v``, i.e. ``v`` rounded once to ``fmt``. The DGA-exp rule compares the
        exponent fields, which have the same width and bias in both formats.

    Returns
    -------
    DgaResult with arrays of shape ``(B,)`` (``(1,)`` for a 1-D input).
    """
    _check_group(group_size)
    fb = check_addend_format(fmt, addend_fmt)
    if fb.e != fmt.e:
        raise ConfigError(f"addend format {fb.name} has {fb.e} exponent bits: the accumulator "
                          f"{fmt.name} needs the same exponent width.")
    P = fb.check_bits(addends)
    if P.ndim == 1:
        P = P[None, :]
    if P.ndim != 2:
        raise ConfigError(f"addends have {P.ndim} dimensions: expected (N,) or (B, N).")
    B, N = P.shape
    _check_length(N)
    mag = fmt.mag_mask
    S = np.zeros(B, dtype=np.int64)
    A = np.zeros(B, dtype=np.int64)
    n = np.zeros(B, dtype=np.int64)
    ovf = np.zeros(B, dtype=bool)
    groups = np.zeros(B, dtype=np.int64)
    for i in range(N):
        v = P[:, i]
        close = (n > 0) & (n >= group_size)
        if threshold is not None:
            gap = exp_field(fmt, A) - exp_field(fb, v)
            close |= (n > 0) & ((A & mag) != 0) & ((v & fb.mag_mask) != 0) & (gap > threshold)
        if close.any():
            r = fp_add(fmt, S, A, mode)
            S = np.where(close, r.bits, S)
            ovf |= close & r.ovf
            groups += close
        r = fp_add(fmt, np.where(close | (n == 0), 0, A), v, mode, fb)
        A = r.bits
        ovf |= r.ovf
        n = np.where(close, 1, n + 1)
    r = fp_add(fmt, S, A, mode)
    return DgaResult(r.bits, r.nan, ovf | r.ovf, groups + 1)


def acc_seq(fmt: FpFormat, p, mode: str = "rne") -> DgaResult:
    """Sequential accumulation ``S = fp_add(S, v)`` over the whole dot product.

    For ``N <= 4096`` this equals :func:`accumulate` with ``G >= N`` (the hardware with its
    group-size register at ``N``), because ``fp_add(+0, A) == A`` for every value the intra-group
    register can hold (it never holds -0 or a non-canonical NaN).
    """
    P = fmt.check_bits(p)
    P = P[None, :] if P.ndim == 1 else P
    _check_length(P.shape[1])
    S = np.zeros(P.shape[0], dtype=np.int64)
    ovf = np.zeros(P.shape[0], dtype=bool)
    for i in range(P.shape[1]):
        r = fp_add(fmt, S, P[:, i], mode)
        S, ovf = r.bits, ovf | r.ovf
    return DgaResult(S, r.nan, ovf, np.ones(P.shape[0], dtype=np.int64))


def acc_group(fmt: FpFormat, p, G: int, mode: str = "rne") -> DgaResult:
    """Static group accumulation with group size ``G`` (intra-group, then inter-group)."""
    return accumulate(fmt, p, G, mode)


def acc_dga(fmt: FpFormat, p, mode: str = "rne", gmax: int = 256) -> DgaResult:
    """DGA: static grouping with ``G = dga_group_size(N)``."""
    return accumulate(fmt, p, dga_group_size(np.asarray(p).shape[-1], gmax=gmax), mode)


def acc_dga_exp(fmt: FpFormat, p, mode: str = "rne", T: int | None = None,
                gmax: int = 256) -> DgaResult:
    """DGA-exp: close a group when the addend would be swamped (``ee(A) - ee(v) > T``, default
    ``T = m``) or when it holds ``gmax`` addends."""
    return accumulate(fmt, p, gmax, mode, fmt.m if T is None else T)


def dga_block(cfg: DgaConfig, addends, group_size: int | None = None) -> DgaResult:
    """What the block returns for dot products ``addends`` (``(N,)`` or ``(B, N)``) with the
    group-size register at ``group_size`` (default: :meth:`DgaConfig.register_value`); the
    addends are bit patterns of :attr:`DgaConfig.addend_fmt`."""
    p = np.asarray(addends)
    G = cfg.register_value(p.shape[-1]) if group_size is None else group_size
    T = cfg.threshold if cfg.variant == "dga_exp" else None
    return accumulate(cfg.fmt, p, G, cfg.rounding, T, cfg.addend_fmt)


def fp_acc_block(cfg: FpAccConfig, addends) -> "DgaResult":
    """What the sequential accumulator ``fp_acc`` returns for dot products ``addends``
    (``(N,)`` or ``(B, N)``): :func:`acc_seq`."""
    return acc_seq(cfg.fmt, np.asarray(addends), cfg.rounding)
