"""Configuration and golden model of the parameterized FP(e, m) adder block (``fp_add``).

The arithmetic is :func:`golden.minifloat.fp_add` (format, rounding and the Inf/NaN/saturation
policy are documented in :mod:`golden.minifloat`); this module adds the validated parameter set
shared with :mod:`hw.fp_add` and the block's cycle model.
"""

from __future__ import annotations

import numpy as np

from .minifloat import ADDEND_PARAM, FP_FORMAT_PARAMS, FpFormatParams, FpResult, fp_add
from .params import BlockConfig, Param

__all__ = ["FpAddConfig", "fp_add_block"]


class FpAddConfig(FpFormatParams, BlockConfig):
    """Parameters of the FP(e, m) adder (defaults: FP12 E5M6, RNE, IEEE-like Inf/NaN).

    ``addend_man`` > ``man_bits`` makes it the mixed-format adder: operand ``b`` is
    FP(e, addend_man) (e.g. an exact E4M3 x E4M3 product in E5M7), ``a`` and the sum are
    FP(e, m), and the exact sum is rounded once.
    """
    BLOCK = "fp_add"
    PARAMS = FP_FORMAT_PARAMS + (
        Param("pipelined", bool, False, "register between add and normalize/round (+1 cycle)"),
        ADDEND_PARAM,
    )
    TAGS = {"exp_bits": "e", "man_bits": "m", "rounding": "", "inf_nan": "inf",
            "pipelined": "p", "addend_man": "am"}
    TRANSACTION = "operand pair"
    TIMING_NOTE = "latency = 1 (registered output) + 1 with pipelined; one result per cycle"

    def _check(self):
        self._check_addend()

    @property
    def latency(self) -> int:
        """Cycles from an input transfer to its result's transfer (output always ready)."""
        return 1 + int(self.pipelined)


def fp_add_block(cfg: FpAddConfig, a, b) -> FpResult:
    """What the block returns for operand bit patterns ``a`` (FP(e, m)) and ``b`` (the addend
    format, :attr:`FpAddConfig.addend_fmt`), arrays of equal shape."""
    return fp_add(cfg.fmt, np.asarray(a), np.asarray(b), cfg.rounding, cfg.addend_fmt)
