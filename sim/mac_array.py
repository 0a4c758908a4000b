"""Transactions of the MAC array: tiles -> input beats, golden rows -> expected output beats."""

from __future__ import annotations

import numpy as np

from golden.mac_array import MacArrayConfig, MacArrayTiming, gemm_tile, random_tile
from .transactors import Scenario, pack

__all__ = ["tile_beats", "tile_rows", "scenario", "SPEC"]


def tile_beats(A, B):
    """Input payloads for one tile: beat k carries column k of A and row k of B."""
    K = A.shape[1]
    return [{"a": [int(x) for x in A[:, k]], "b": [int(x) for x in B[k, :]], "last": int(k == K - 1)}
            for k in range(K)]


def tile_rows(cfg: MacArrayConfig, A, B):
    """Expected output payloads for one tile, from the golden model."""
    C, row_ovf = gemm_tile(cfg, A, B)
    return [{"data": [int(x) for x in C[i]], "row": i, "last": int(i == cfg.rows - 1),
             "ovf": int(row_ovf[i])} for i in range(cfg.rows)]


def scenario(cfg: MacArrayConfig, layouts, rng: np.random.Generator, n_tiles=4, K=16,
             extreme=0.0, tiles=None):
    """A run of ``n_tiles`` random tiles (``K`` an int or a ``(lo, hi)`` range per tile).

    ``tiles`` may give explicit ``(A, B)`` pairs instead. Returns ``(scenario, tiles)``.
    """
    if tiles is None:
        tiles = []
        for _ in range(n_tiles):
            k = int(rng.integers(K[0], K[1] + 1)) if isinstance(K, tuple) else int(K)
            tiles.append(random_tile(cfg, k, rng, extreme))
    beats, rows = [], []
    for A, B in tiles:
        beats += [pack(layouts["inp"], b) for b in tile_beats(A, B)]
        rows += [pack(layouts["out"], r) for r in tile_rows(cfg, A, B)]
    timing = MacArrayTiming(cfg)
    out_cycles = [int(c) for c in timing.row_cycles([A.shape[1] for A, _ in tiles]).reshape(-1)]
    any_ovf = any(r["ovf"] for A, B in tiles for r in tile_rows(cfg, A, B))
    sc = Scenario(inputs={"inp": beats}, outputs={"out": rows}, out_cycles={"out": out_cycles},
                  vectors=len(tiles) * cfg.rows * cfg.cols, check_ports={"overflow": int(any_ovf)})
    return sc, tiles


def _scenario_for_cli(cfg, layouts, rng, vectors):
    per_tile = cfg.rows * cfg.cols
    n = max(1, -(-vectors // per_tile))
    sc, _ = scenario(cfg, layouts, rng, n_tiles=n, K=(1, 64), extreme=0.05)
    return sc


def _component(cfg):
    from hw.mac_array import MacArray
    return MacArray(cfg)


from .blocks import BlockSpec  # noqa: E402

SPEC = BlockSpec(
    name="mac_array",
    config=MacArrayConfig,
    component=_component,
    scenario=_scenario_for_cli,
    summary="output-stationary systolic array, signed INT8 x INT8 -> wide accumulators, "
            "row-per-beat drain, double-buffered accumulators",
    demo_configs=({}, {"pipelined": True}),
)
