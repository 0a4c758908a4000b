"""Transactions of the integer accumulator ``int_acc``: signed dot products -> addend beats,
golden wrapped sums (:func:`golden.int_acc.int_accumulate`) -> output beats."""

from __future__ import annotations

import numpy as np

from golden.int_acc import IntAccConfig, int_acc_block
from golden.params import ConfigError
from ..transactors import Scenario, dot_product_beats, result_beats

__all__ = ["random_int_dot", "scenario_from_dots", "scenario", "SPEC"]


def random_int_dot(cfg: IntAccConfig, n: int, rng: np.random.Generator, kind: int | None = None):
    """Signed addends of one dot product of length ``n``.

    ``kind`` (random when ``None``): 0 -- uniform over the addend range; 1 -- extremes of one
    sign (``-2**(in_bits-1)`` or ``2**(in_bits-1) - 1``, overflows when ``n`` is large enough
    relative to ``2**(acc_bits-in_bits)``); 2 -- small values (``-8..7``).
    """
    if kind is None:
        kind = int(rng.choice(3, p=[0.5, 0.3, 0.2]))
    lo, hi = -(1 << (cfg.in_bits - 1)), (1 << (cfg.in_bits - 1)) - 1
    if kind == 1:
        return np.full(n, lo if rng.random() < 0.5 else hi, dtype=np.int64)
    if kind == 2:
        return np.clip(rng.integers(-8, 8, n), lo, hi).astype(np.int64)
    return rng.integers(lo, hi + 1, n, dtype=np.int64)


def scenario_from_dots(cfg: IntAccConfig, layouts, dots) -> Scenario:
    """A scenario for explicit dot products (a list of signed addend arrays)."""
    if not dots:
        raise ConfigError("an int_acc scenario needs at least one dot product.")
    res = [int_acc_block(cfg, np.asarray(d, dtype=np.int64)) for d in dots]
    beats = dot_product_beats(layouts["inp"], dots, width=cfg.in_bits)
    outs, cols = result_beats(layouts["out"], res, ("bits", "ovf"))
    ovf = cols["ovf"]
    return Scenario(inputs={"inp": beats}, outputs={"out": outs},
                    out_cycles={"out": cfg.out_cycles([len(d) for d in dots])}, vectors=len(dots),
                    check_ports={"overflow": int(ovf.any())})


def scenario(cfg: IntAccConfig, layouts, rng: np.random.Generator, vectors: int,
             nmax: int = 64) -> Scenario:
    """``vectors`` random dot products of length ``1..nmax`` (the first of length 1)."""
    vectors = max(1, int(vectors))
    lengths = [1] + [int(x) for x in rng.integers(1, nmax + 1, vectors - 1)]
    return scenario_from_dots(cfg, layouts, [random_int_dot(cfg, n, rng) for n in lengths])


from . import BlockSpec  # noqa: E402

SPEC = BlockSpec(
    name="int_acc",
    config=IntAccConfig,
    hw_class="hw.int_acc:IntAccumulator",
    scenario=scenario,
    summary="integer dot-product accumulator (default INT16 addends, e.g. INT8 x INT8 products, "
            "into a wrapping INT32 register, overflow flag), one addend per cycle",
    demo_configs=({}, {"in_bits": 32}),
)
