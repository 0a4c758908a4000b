"""Transactions of the RLSRU: golden random numbers -> expected output beats."""

from __future__ import annotations

import numpy as np

from golden.rlsru import RlsruConfig, generate
from ..transactors import Scenario, pack

__all__ = ["request_scenario", "scenario", "bench", "SPEC"]


def request_scenario(cfg: RlsruConfig, layouts, n_beats: int, restarts=None,
                     chains=None) -> Scenario:
    """``n_beats`` requests (``restarts``, ``chains``: optional bool per request; ``chain`` is a
    field of the ``replay`` request only) and the golden beats.

    Output beat ``t`` is due in the cycle of request ``t``; ``vectors`` counts the random
    numbers checked (``n_beats * lanes``).
    """
    flags = [0] * n_beats if restarts is None else [int(bool(x)) for x in restarts]
    links = [0] * n_beats if chains is None else [int(bool(x)) for x in chains]
    if cfg.scheme != "replay":
        links = [0] * n_beats                 # no chain field: the request cannot carry it
    reqs = [pack(layouts["inp"], {"restart": f, "chain": k}) for f, k in zip(flags, links)]
    r = generate(cfg, n_beats, np.array(flags, dtype=bool), np.array(links, dtype=bool))
    beats = [pack(layouts["out"], [int(x) for x in row]) for row in r]
    return Scenario(inputs={"inp": reqs}, outputs={"out": beats},
                    out_cycles={"out": cfg.out_cycles([1] * n_beats)}, vectors=n_beats * cfg.lanes)


def scenario(cfg, layouts, rng: np.random.Generator, vectors):
    n = max(1, -(-vectors // cfg.lanes))
    restarts = rng.random(n) < 0.02
    chains = rng.random(n) < 0.01
    return request_scenario(cfg, layouts, n, restarts, chains)


def bench(report):
    """``make bench`` section ``rlsru``: the reuse-scheme sweep of :mod:`sim.rlsru_sweep`.

    Runs the same code as ``python -m sim.rlsru_sweep`` (synthesis cached in ``.cache/synth``),
    writes ``bench/rlsru_sweep.json`` and ``docs/img/rlsru_sweep.png``, and adds the per-scheme
    numbers at every P and the goal verdict to ``report``.
    """
    from ..rlsru_sweep import JSON_PATH, PNG_PATH, run_sweep, write
    from hw.toolchain import REPO
    sweep = write(run_sweep())
    report["rlsru"] = {
        "sweep_json": str(JSON_PATH.relative_to(REPO)),
        "plot": str(PNG_PATH.relative_to(REPO)),
        "setup": sweep["setup"],
        "per_scheme": {s: {P: {"source_ice40": {k: row["source"]["ice40"][k] for k in ("lut", "ff")},
                               "unit_ice40": {k: row["unit"]["ice40"][k]
                                              for k in ("lut", "ff", "carry")},
                               "source_generic_cells": row["source"]["generic"]["cells"],
                               "unit_generic_cells": row["unit"]["generic"]["cells"],
                               "sr_quality_ok": row["quality"]["sr_quality_ok"],
                               "sum_var_ratio": row["quality"]["sum_var_ratio"]}
                           for P, row in by_p.items()}
                       for s, by_p in sweep["results"].items()},
        "goal": sweep["goal"],
        "wall_seconds": sweep["wall_seconds"],
    }


from . import BlockSpec  # noqa: E402

SPEC = BlockSpec(
    name="rlsru",
    config=RlsruConfig,
    hw_class="hw.rlsru:Rlsru",
    scenario=scenario,
    bench=bench,
    summary="RLSRU random source: F-bit random numbers for P SR lanes per beat; schemes "
            "per_lane, leap (leap-forward), split (state-bit reuse), replay (split + restart), "
            "phase (one LFSR + XOR phase shifter)",
    demo_configs=({}, {"scheme": "per_lane"}, {"scheme": "leap"}, {"scheme": "replay"},
                  {"scheme": "phase"}),
)
