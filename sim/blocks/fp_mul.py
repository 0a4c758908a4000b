"""Transactions of the exact FP8 x FP8 multiplier: operand pairs -> beats, golden products."""

from __future__ import annotations

import numpy as np

from golden.fp_mul import FpMulConfig, fp_mul_block
from .fp_add import special_operands
from ..transactors import Scenario, pack_columns

__all__ = ["all_pairs", "random_operands", "scenario_from_operands", "scenario", "SPEC"]


def all_pairs(cfg: FpMulConfig):
    """Every operand pair ``(a, b)``, ``a`` major (65,536 pairs for two FP8 formats)."""
    a, b = np.meshgrid(cfg.fmt_a.all_codes(), cfg.fmt_b.all_codes(), indexing="ij")
    return a.ravel(), b.ravel()


def random_operands(cfg: FpMulConfig, n: int, rng: np.random.Generator):
    """``n`` pairs: 60% uniform codes, 20% ``a`` special, 10% ``b`` special, 10% both special
    (zeros of both signs, subnormal ends, smallest normal, one, max, Inf, NaNs)."""
    fa, fb = cfg.fmt_a, cfg.fmt_b
    a = rng.integers(0, 1 << fa.width, n, dtype=np.int64)
    b = rng.integers(0, 1 << fb.width, n, dtype=np.int64)
    kind = rng.choice(4, size=n, p=[0.6, 0.2, 0.1, 0.1])
    spa, spb = special_operands(fa), special_operands(fb)
    k = (kind == 1) | (kind == 3)
    a[k] = rng.choice(spa, k.sum())
    k = (kind == 2) | (kind == 3)
    b[k] = rng.choice(spb, k.sum())
    return a, b


def scenario_from_operands(cfg: FpMulConfig, layouts, a, b) -> Scenario:
    """A scenario for explicit operand arrays, expectations from the golden model."""
    res = fp_mul_block(cfg, a, b)
    beats = pack_columns(layouts["inp"], {"a": a, "b": b})
    outs = pack_columns(layouts["out"], {"bits": res.bits, "nan": res.nan})
    n = len(beats)
    return Scenario(inputs={"inp": beats}, outputs={"out": outs},
                    out_cycles={"out": cfg.out_cycles([1] * n)}, vectors=n,
                    check_ports={"nan_seen": int(res.nan.any())})


def scenario(cfg: FpMulConfig, layouts, rng: np.random.Generator, vectors: int) -> Scenario:
    """``vectors`` random operand pairs from :func:`random_operands`."""
    a, b = random_operands(cfg, int(vectors), rng)
    return scenario_from_operands(cfg, layouts, a, b)


from . import BlockSpec  # noqa: E402

SPEC = BlockSpec(
    name="fp_mul",
    config=FpMulConfig,
    hw_class="hw.fp_mul:FpMul",
    scenario=scenario,
    summary="exact FP8 x FP8 multiplier (E4M3 x E5M2 -> E6M6, E4M3 x E4M3 -> E5M7), "
            "IEEE Inf/NaN or no-Inf/NaN mode",
    demo_configs=({}, {"b_exp": 4, "b_man": 3}, {"pipelined": True}),
)
