"""Configuration and golden model of the exact FP8 x FP8 multiplier block (``fp_mul``).

Operands are ``FP(a_exp, a_man)`` and ``FP(b_exp, b_man)`` bit patterns (defaults E4M3 x E5M2, the
HFP8 activation/weight x gradient pair); the product is returned **exactly**, with no rounding, in
the smallest FP(e, m) that holds every product (:func:`golden.minifloat.exact_product_format`):

=================  ======================  ===========================================
operands           product format          range of finite products
=================  ======================  ===========================================
E4M3 x E4M3        E5M7 (13 bits, bias 15)  2**-18 .. 57,600 (``inf_nan=True``)
E4M3 x E5M2        E6M6 (13 bits, bias 31)  2**-25 .. 13,762,560
E5M2 x E5M2        E6M5 (12 bits, bias 31)  2**-32 .. 3,288,334,336
=================  ======================  ===========================================

All three formats share ``inf_nan`` (Inf/NaN policy of :mod:`golden.minifloat`: NaN or Inf*0 ->
canonical NaN with the ``nan`` flag; Inf * nonzero -> Inf; zero signs are XORed).
"""

from __future__ import annotations

import numpy as np

from .minifloat import FpFormat, FpResult, exact_product_format, fp_mul
from .params import BlockConfig, ConfigError, Param

__all__ = ["FpMulConfig", "fp_mul_block"]


class FpMulConfig(BlockConfig):
    """Parameters of the exact minifloat multiplier (defaults: E4M3 x E5M2 -> E6M6)."""
    BLOCK = "fp_mul"
    PARAMS = (
        Param("a_exp", int, 4, "exponent bits of operand a", lo=2, hi=6),
        Param("a_man", int, 3, "mantissa bits of operand a", lo=1, hi=5),
        Param("b_exp", int, 5, "exponent bits of operand b", lo=2, hi=6),
        Param("b_man", int, 2, "mantissa bits of operand b", lo=1, hi=5),
        Param("inf_nan", bool, True, "all-ones exponent is Inf/NaN in operands and product"),
        Param("pipelined", bool, False, "register the significand product (+1 cycle)"),
    )
    TAGS = {"a_exp": "ae", "a_man": "am", "b_exp": "be", "b_man": "bm", "inf_nan": "inf",
            "pipelined": "p"}
    TRANSACTION = "operand pair"
    TIMING_NOTE = "latency = 1 (registered output) + 1 with pipelined; one product per cycle"

    def _check(self):
        for name, e, m in (("a", self.a_exp, self.a_man), ("b", self.b_exp, self.b_man)):
            if e + m > 7:
                raise ConfigError(f"fp_mul operand {name} format E{e}M{m} is out of range: "
                                  f"{name}_exp + {name}_man must be at most 7 (an 8-bit float).")

    @property
    def fmt_a(self) -> FpFormat:
        return FpFormat(self.a_exp, self.a_man, self.inf_nan)

    @property
    def fmt_b(self) -> FpFormat:
        return FpFormat(self.b_exp, self.b_man, self.inf_nan)

    @property
    def fmt_out(self) -> FpFormat:
        """The exact product format."""
        return exact_product_format(self.fmt_a, self.fmt_b)

    @property
    def latency(self) -> int:
        """Cycles from an input transfer to its product's transfer (output always ready)."""
        return 1 + int(self.pipelined)

    def _timing_extra(self) -> dict:
        """The exact product format, recorded in the sidecar next to the timing."""
        fo = self.fmt_out
        return {"product_format": {"exp_bits": fo.e, "man_bits": fo.m, "bias": fo.bias,
                                   "inf_nan": fo.inf_nan}}


def fp_mul_block(cfg: FpMulConfig, a, b) -> FpResult:
    """What the block returns for operand bit patterns ``a`` (format a) and ``b`` (format b)."""
    return fp_mul(cfg.fmt_a, np.asarray(a), cfg.fmt_b, np.asarray(b))
