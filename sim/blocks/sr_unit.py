"""Transactions of the SR unit: fixed-point stimulus -> input beats, golden codes -> output beats."""

from __future__ import annotations

import numpy as np

from golden.quantizer import code_max
from golden.sr_unit import SrUnitConfig, run
from ..transactors import Scenario, pack

__all__ = ["stimulus", "stimulus_scenario", "scenario", "SPEC"]


def stimulus(cfg: SrUnitConfig, rng: np.random.Generator, n_beats: int) -> np.ndarray:
    """``(n_beats, lanes)`` input integers: range ends, saturation edges and random values.

    The fixed part (first beats, shuffled) holds both ends of the input range, zero, ``+-1``,
    and the values around the saturation thresholds ``+-L * 2**F`` and ``+-(L + 1) * 2**F`` that
    fit (``L = 2**(bits-1) - 1``, 127 for 8 bits); the rest is half uniform over the whole range
    and half uniform over ``(-(L + 3), L + 3)`` in value units (so most codes are not saturated).
    """
    lo, hi = cfg.x_range
    one = 1 << cfg.frac_bits
    L = code_max(cfg.bits)
    edges = [lo, lo + 1, hi - 1, hi, 0, 1, -1, one - 1, -one, -one + 1]
    for k in (L, L + 1):
        for d in (-1, 0, 1):
            edges += [k * one + d, -k * one + d, -k * one - one + d]
    fixed = np.array(sorted({e for e in edges if lo <= e <= hi}), dtype=np.int64)
    n = n_beats * cfg.lanes
    k = max(0, n - fixed.size)
    wide = rng.integers(lo, hi, k // 2, endpoint=True)
    near = rng.integers(max(lo, -(L + 3) * one), min(hi, (L + 3) * one), k - k // 2, endpoint=True)
    x = np.concatenate([rng.permutation(fixed), rng.permutation(np.concatenate([wide, near]))])
    return x[:n].reshape(n_beats, cfg.lanes).astype(np.int64)


def stimulus_scenario(cfg: SrUnitConfig, layouts, x, restarts=None, golden=run,
                      chains=None) -> Scenario:
    """Input beats ``x`` (``[beat, lane]`` integers, optional ``restarts`` and ``chains``, the
    latter carried by the ``replay`` unit only) and golden outputs.

    Output beat ``t`` is due in the cycle of input beat ``t``; ``golden`` computes the
    expectations (replaceable for mutation tests) and returns ``(codes, sat, r)``.
    """
    x = np.asarray(x, dtype=np.int64)
    n = x.shape[0]
    flags = np.zeros(n, dtype=bool) if restarts is None else np.asarray(restarts, dtype=bool)
    links = (np.zeros(n, dtype=bool) if chains is None or cfg.scheme != "replay"
             else np.asarray(chains, dtype=bool))
    codes, sat, _ = (golden(cfg, x, flags, links) if links.any() else golden(cfg, x, flags))
    inputs = [pack(layouts["inp"], {"x": [int(v) for v in x[t]], "restart": int(flags[t]),
                                    "chain": int(links[t])}) for t in range(n)]
    outputs = [pack(layouts["out"], {"code": [int(v) for v in codes[t]],
                                     "sat": [int(v) for v in sat[t]]}) for t in range(n)]
    return Scenario(inputs={"inp": inputs}, outputs={"out": outputs},
                    out_cycles={"out": cfg.out_cycles([1] * n)}, vectors=int(x.size))


def scenario(cfg, layouts, rng: np.random.Generator, vectors):
    n = max(1, -(-vectors // cfg.lanes))
    return stimulus_scenario(cfg, layouts, stimulus(cfg, rng, n), rng.random(n) < 0.02,
                             chains=rng.random(n) < 0.01)


from . import BlockSpec  # noqa: E402

SPEC = BlockSpec(
    name="sr_unit",
    config=SrUnitConfig,
    hw_class="hw.sr_unit:SrUnit",
    scenario=scenario,
    summary="RLSRU random source + P SR_F stages on fixed-point inputs, saturated to b bits; "
            "synthesized per reuse scheme by sim.rlsru_sweep",
    demo_configs=({}, {"scheme": "per_lane"}, {"scheme": "phase"}),
)
