"""Transactions of the LFSR: golden state sequence -> expected output beats."""

from __future__ import annotations

import numpy as np

from golden.lfsr import LfsrConfig, beat_states
from ..transactors import Scenario, pack

__all__ = ["expected_beats", "request_scenario", "scenario", "SPEC"]


def expected_beats(cfg: LfsrConfig, n_beats: int, restarts=None):
    """Golden payloads of the first ``n_beats`` beats (an int, or a list of k states per beat)."""
    states = beat_states(cfg, n_beats, restarts)
    if cfg.steps_per_cycle == 1:
        return [int(s) for s in states[:, 0]]
    return [[int(s) for s in row] for row in states]


def request_scenario(cfg: LfsrConfig, layouts, n_beats: int, restarts=None) -> Scenario:
    """A run of ``n_beats`` requests, compared beat by beat with the golden model.

    ``restarts`` (optional bool sequence, one per request) sets the ``restart`` bit of the
    requests. Output beat ``t`` is due in the cycle of request ``t``; ``vectors`` counts the
    states checked (``n_beats * steps_per_cycle``).
    """
    flags = [0] * n_beats if restarts is None else [int(bool(x)) for x in restarts]
    reqs = [pack(layouts["inp"], {"restart": f}) for f in flags]
    beats = [pack(layouts["out"], b) for b in expected_beats(cfg, n_beats, flags)]
    return Scenario(inputs={"inp": reqs}, outputs={"out": beats},
                    out_cycles={"out": cfg.out_cycles([1] * n_beats)},
                    vectors=n_beats * cfg.steps_per_cycle)


def scenario(cfg, layouts, rng: np.random.Generator, vectors):
    n = max(1, -(-vectors // cfg.steps_per_cycle))
    restarts = rng.random(n) < 0.01
    return request_scenario(cfg, layouts, n, restarts)


from . import BlockSpec  # noqa: E402

SPEC = BlockSpec(
    name="lfsr",
    config=LfsrConfig,
    hw_class="hw.lfsr:Lfsr",
    scenario=scenario,
    summary="maximal-length Fibonacci/Galois LFSR (widths 2..64, XAPP052 taps), k leap-forward "
            "steps per beat, one output beat per request (restart = replay from the seed)",
    demo_configs=({}, {"form": "galois"}, {"width": 32, "steps_per_cycle": 8}),
)
