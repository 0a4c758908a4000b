"""Transactions of the sequential FP accumulator ``fp_acc``: dot products -> addend beats,
golden sums (:func:`golden.dga.acc_seq`) -> output beats."""

from __future__ import annotations

import numpy as np

from golden.dga import FpAccConfig, fp_acc_block
from golden.params import ConfigError
from .dga import random_dot
from ..transactors import Scenario, dot_product_beats, result_beats

__all__ = ["scenario_from_dots", "scenario", "SPEC"]


def scenario_from_dots(cfg: FpAccConfig, layouts, dots) -> Scenario:
    """A scenario for explicit dot products (a list of addend bit-pattern arrays)."""
    if not dots:
        raise ConfigError("an fp_acc scenario needs at least one dot product.")
    res = [fp_acc_block(cfg, np.asarray(d, dtype=np.int64)) for d in dots]
    beats = dot_product_beats(layouts["inp"], dots)
    outs, cols = result_beats(layouts["out"], res, ("bits", "nan", "ovf"))
    nan, ovf = cols["nan"], cols["ovf"]
    return Scenario(inputs={"inp": beats}, outputs={"out": outs},
                    out_cycles={"out": cfg.out_cycles([len(d) for d in dots])}, vectors=len(dots),
                    check_ports={"nan_seen": int(nan.any()), "overflow": int(ovf.any())})


def scenario(cfg: FpAccConfig, layouts, rng: np.random.Generator, vectors: int,
             nmax: int = 64) -> Scenario:
    """``vectors`` random dot products of length ``1..nmax`` (the first of length 1), addends
    from :func:`sim.dga.random_dot` (all kinds: swamping, wide exponent range, random patterns,
    specials, saturation)."""
    vectors = max(1, int(vectors))
    lengths = [1] + [int(x) for x in rng.integers(1, nmax + 1, vectors - 1)]
    return scenario_from_dots(cfg, layouts, [random_dot(cfg.fmt, n, rng) for n in lengths])


from . import BlockSpec  # noqa: E402

SPEC = BlockSpec(
    name="fp_acc",
    config=FpAccConfig,
    hw_class="hw.fp_acc:FpAccumulator",
    scenario=scenario,
    summary="sequential FP(e, m) accumulator (default FP12 E5M6, up to FP32 E8M23): one FP adder, "
            "S = S + v, one addend per cycle (the DGA area baseline)",
    demo_configs=({}, {"exp_bits": 5, "man_bits": 10}, {"exp_bits": 8, "man_bits": 23}),
)
