"""Configuration and golden model of the integer dot-product accumulator (``int_acc``).

The INT baseline of the accumulator comparison in ``docs/blocks/dga.md``: addends are
``in_bits``-bit two's-complement integers (default 16, an INT8 x INT8 product already formed),
sign-extended and added into an ``acc_bits``-bit two's-complement register (default 32, INT32)::

    S = 0
    for v in p:  S = wrap(S + v)          # wrap = reduce modulo 2**acc_bits into the signed range
    result = S

**Overflow wraps** (modulo ``2**acc_bits``, the usual integer-accumulator behaviour); the
per-dot-product flag ``ovf`` is set when at least one addition overflowed the signed range
(the exact sum of that step was outside ``-2**(acc_bits-1) .. 2**(acc_bits-1) - 1``). With the
defaults an overflow needs more than ``2**16`` maximal INT8 x INT8 products.
Results are returned as unsigned ``acc_bits``-bit patterns (what the hardware's port carries).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import BlockConfig, ConfigError, Param

__all__ = ["IntAccConfig", "IntAccResult", "int_accumulate", "int_acc_block", "to_signed"]


class IntAccConfig(BlockConfig):
    """Parameters of the integer accumulator (defaults: 16-bit addends into INT32)."""
    BLOCK = "int_acc"
    PARAMS = (
        Param("in_bits", int, 16, "addend width (two's complement; 16 = an INT8 x INT8 product)",
              lo=2, hi=48),
        Param("acc_bits", int, 32, "accumulator width (two's complement, wraps on overflow)",
              lo=2, hi=48),
    )
    TAGS = {"in_bits": "i", "acc_bits": "a"}
    TRANSACTION = "dot product"
    THROUGHPUT = "1 addend per cycle, dot products back to back"

    def _check(self):
        if self.in_bits > self.acc_bits:
            raise ConfigError(f"int_acc addend width in_bits={self.in_bits} is out of range: it "
                              f"must be at most acc_bits={self.acc_bits}.")

    @property
    def latency(self) -> int:
        """Cycles from the transfer of a dot product's ``last`` addend to its result's transfer
        (output always ready)."""
        return 1



@dataclass
class IntAccResult:
    """Result of one or more dot products.

    Attributes
    ----------
    bits : int64 array, shape ``(B,)`` -- the sums as unsigned ``acc_bits``-bit patterns.
    ovf : bool array -- some addition of the dot product overflowed (the sum wrapped).
    """
    bits: np.ndarray
    ovf: np.ndarray


def to_signed(bits, width: int) -> np.ndarray:
    """Two's-complement value of unsigned ``width``-bit patterns (int64)."""
    b = np.asarray(bits, dtype=np.int64) & ((1 << width) - 1)
    return np.where(b >= (1 << (width - 1)), b - (1 << width), b)


def int_accumulate(addends, in_bits: int = 16, acc_bits: int = 32) -> IntAccResult:
    """Accumulate dot products of signed ``in_bits``-bit addends in ``acc_bits`` bits.

    Parameters
    ----------
    addends : int array, shape ``(N,)`` or ``(B, N)``
        Signed addend values in ``-2**(in_bits-1) .. 2**(in_bits-1) - 1`` (one row per dot
        product, ``N >= 1``).
    in_bits, acc_bits : int
        Widths, ``2 <= in_bits <= acc_bits <= 48`` (int64 holds every intermediate sum).

    Returns
    -------
    IntAccResult with arrays of shape ``(B,)``.
    """
    P = np.asarray(addends)
    if not np.issubdtype(P.dtype, np.integer):
        raise ConfigError(f"int_acc addends have dtype {P.dtype}: expected integers.")
    P = P.astype(np.int64)
    P = P[None, :] if P.ndim == 1 else P
    if P.ndim != 2 or P.shape[1] < 1:
        raise ConfigError(f"int_acc addends have shape {P.shape}: expected (N,) or (B, N) with "
                          f"N >= 1.")
    lo, hi = -(1 << (in_bits - 1)), (1 << (in_bits - 1)) - 1
    if P.size and (P.min() < lo or P.max() > hi):
        bad = int(P.min()) if P.min() < lo else int(P.max())
        raise ConfigError(f"int_acc addend {bad} is out of range: allowed values are "
                          f"{lo}..{hi} (in_bits={in_bits}).")
    amin, amax = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    S = np.zeros(P.shape[0], dtype=np.int64)
    ovf = np.zeros(P.shape[0], dtype=bool)
    for i in range(P.shape[1]):
        t = S + P[:, i]
        ovf |= (t < amin) | (t > amax)
        S = to_signed(t, acc_bits)
    return IntAccResult(S & ((1 << acc_bits) - 1), ovf)


def int_acc_block(cfg: IntAccConfig, addends) -> IntAccResult:
    """What the block returns for dot products ``addends`` (signed values)."""
    return int_accumulate(addends, cfg.in_bits, cfg.acc_bits)
