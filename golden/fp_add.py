"""Configuration and golden model of the parameterized FP(e, m) adder block (``fp_add``).

The arithmetic is :func:`golden.minifloat.fp_add` (format, rounding and the Inf/NaN/saturation
policy are documented in :mod:`golden.minifloat`); this module adds the validated parameter set
shared with :mod:`hw.fp_add` and the block's cycle model.
"""

from __future__ import annotations

import numpy as np

from .minifloat import FP_FORMAT_PARAMS, FpFormatParams, FpResult, fp_add
from .params import BlockConfig, Param

__all__ = ["FpAddConfig", "fp_add_block"]


class FpAddConfig(FpFormatParams, BlockConfig):
    """Parameters of the FP(e, m) adder (defaults: FP12 E5M6, RNE, IEEE-like Inf/NaN)."""
    BLOCK = "fp_add"
    PARAMS = FP_FORMAT_PARAMS + (
        Param("pipelined", bool, False, "register between add and normalize/round (+1 cycle)"),
    )
    TAGS = {"exp_bits": "e", "man_bits": "m", "rounding": "", "inf_nan": "inf",
            "pipelined": "p"}
    TRANSACTION = "operand pair"
    TIMING_NOTE = "latency = 1 (registered output) + 1 with pipelined; one result per cycle"

    @property
    def latency(self) -> int:
        """Cycles from an input transfer to its result's transfer (output always ready)."""
        return 1 + int(self.pipelined)


def fp_add_block(cfg: FpAddConfig, a, b) -> FpResult:
    """What the block returns for operand bit patterns ``a``, ``b`` (arrays of equal shape)."""
    return fp_add(cfg.fmt, np.asarray(a), np.asarray(b), cfg.rounding)
