"""Configuration and golden model of the parameterized FP(e, m) adder block (``fp_add``).

The arithmetic is :func:`golden.minifloat.fp_add` (format, rounding and the Inf/NaN/saturation
policy are documented in :mod:`golden.minifloat`); this module adds the validated parameter set
shared with :mod:`hw.fp_add` and the block's cycle model.
"""

from __future__ import annotations

import numpy as np

from .minifloat import MAN_BITS_MAX, FpFormat, FpResult, fp_add
from .params import BlockConfig, Param

__all__ = ["FpAddConfig", "fp_add_block"]


class FpAddConfig(BlockConfig):
    """Parameters of the FP(e, m) adder (defaults: FP12 E5M6, RNE, IEEE-like Inf/NaN)."""
    BLOCK = "fp_add"
    PARAMS = (
        Param("exp_bits", int, 5, "exponent bits e of FP(e, m)", lo=2, hi=8),
        Param("man_bits", int, 6, "mantissa bits m of FP(e, m) (1..12 FP formats, up to 23 for "
              "FP32 E8M23)", lo=1, hi=MAN_BITS_MAX),
        Param("rounding", str, "rne", "rounding of every sum: to nearest even or toward zero",
              choices=("rne", "rtz")),
        Param("inf_nan", bool, True, "all-ones exponent is Inf/NaN (false: finite, saturating "
              "no-Inf/NaN mode)"),
        Param("pipelined", bool, False, "register between add and normalize/round (+1 cycle)"),
    )
    TAGS = {"exp_bits": "e", "man_bits": "m", "rounding": "", "inf_nan": "inf",
            "pipelined": "p"}
    TRANSACTION = "operand pair"
    TIMING_NOTE = "latency = 1 (registered output) + 1 with pipelined; one result per cycle"

    @property
    def fmt(self) -> FpFormat:
        """The operand and result format."""
        return FpFormat(self.exp_bits, self.man_bits, self.inf_nan)

    @property
    def latency(self) -> int:
        """Cycles from an input transfer to its result's transfer (output always ready)."""
        return 1 + int(self.pipelined)


def fp_add_block(cfg: FpAddConfig, a, b) -> FpResult:
    """What the block returns for operand bit patterns ``a``, ``b`` (arrays of equal shape)."""
    return fp_add(cfg.fmt, np.asarray(a), np.asarray(b), cfg.rounding)
