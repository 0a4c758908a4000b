"""Transactions of the MAC array: tiles -> input beats, golden rows -> expected output beats."""

from __future__ import annotations

import numpy as np

from golden.mac_array import MacArrayConfig, gemm_tile, random_tile

from ..transactors import Scenario, pack

__all__ = ["SPEC", "bench", "scenario", "tile_beats", "tile_rows", "tiles_scenario"]


def tile_beats(A, B, group=None):
    """Input payloads for one tile: beat k carries column k of A and row k of B (and, for FP8
    DGA PEs, the tile's group size ``group`` in every beat; the array reads it with the first)."""
    K = A.shape[1]
    beats = [{"a": [int(x) for x in A[:, k]], "b": [int(x) for x in B[k, :]],
              "last": int(k == K - 1)} for k in range(K)]
    if group is not None:
        for b in beats:
            b["group"] = int(group)
    return beats


def tile_rows(cfg: MacArrayConfig, A, B):
    """Expected output payloads for one tile, from the golden model."""
    C, row_ovf = gemm_tile(cfg, A, B)
    return [{"data": [int(x) for x in C[i]], "row": i, "last": int(i == cfg.rows - 1),
             "ovf": int(row_ovf[i])} for i in range(cfg.rows)]


def tiles_scenario(cfg: MacArrayConfig, layouts, rng: np.random.Generator, n_tiles=4, K=16,
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
        group = cfg.register_value(A.shape[1]) if cfg.pe == "fp8" and cfg.order == "dga" else None
        beats += [pack(layouts["inp"], b) for b in tile_beats(A, B, group)]
        rows += [pack(layouts["out"], r) for r in tile_rows(cfg, A, B)]
    out_cycles = cfg.out_cycles([A.shape[1] for A, _ in tiles])
    any_ovf = any(r["ovf"] for A, B in tiles for r in tile_rows(cfg, A, B))
    sc = Scenario(inputs={"inp": beats}, outputs={"out": rows}, out_cycles={"out": out_cycles},
                  vectors=len(tiles) * cfg.rows * cfg.cols, check_ports={"overflow": int(any_ovf)})
    return sc, tiles


def scenario(cfg, layouts, rng, vectors):
    per_tile = cfg.rows * cfg.cols
    n = max(1, -(-vectors // per_tile))
    sc, _ = tiles_scenario(cfg, layouts, rng, n_tiles=n, K=(1, 64), extreme=0.05)
    return sc


def bench(report):
    """``make bench`` section ``mac_array``: 8x8 utilization on back-to-back K=256 tiles, simulator
    speed on that workload, 4x4 iCE40/generic/iCE40-DSP/ASIC (OSU 0.18 um) area and Fmax, plain
    and pipelined."""
    from hw.mac_array import MacArray
    from hw.synth import synthesize
    from hw.toolchain import REPO

    from ..amaranth_harness import layouts_of, run_amaranth
    from ..runner import run_cocotb

    sec = report.setdefault("mac_array", {})
    cfg = MacArrayConfig(rows=8, cols=8)
    dut = MacArray(cfg)
    n_tiles, K = 8, 256
    sc, _ = tiles_scenario(cfg, layouts_of(dut), np.random.default_rng(0), n_tiles=n_tiles, K=K)
    model = cfg.gemm_cycles(8 * n_tiles, K, 8)
    speed = {}
    for simulator in ("verilator", "icarus", "amaranth"):
        print(f"  8x8, {n_tiles} tiles x K={K} on {simulator} ...", flush=True)
        if simulator == "amaranth":
            res = run_amaranth(dut, sc, seed=0)
        else:
            res = run_cocotb(cfg, dut, sc, simulator=simulator, seed=0,
                             build_dir=REPO / "build" / "bench" / f"mac8x8_{simulator}")
        if not res.ok:
            raise SystemExit(f"bench: {simulator} mismatches: {res.mismatches[:3]}")
        last = res.out_cycles["out"][-1]
        speed[simulator] = {"cycles": res.cycles, "seconds": round(res.seconds, 3),
                            "cycles_per_s": round(res.cycles / res.seconds)}
        util = n_tiles * K / (last + 1)
        print(f"    {res.cycles} cycles in {res.seconds:.2f} s = {res.cycles / res.seconds:,.0f} cycles/s; "
              f"utilization {100 * util:.2f}%", flush=True)
    sec["utilization_8x8_k256"] = {
        "tiles": n_tiles, "K": K, "measured_cycles_first_in_to_last_out": last + 1,
        "utilization": round(util, 5), "model_cycles": model["cycles"],
        "model_utilization": round(model["utilization"], 5), "goal": 0.97}
    sec["sim_speed_8x8"] = speed

    area = {}
    for pipelined in (False, True):
        c4 = MacArrayConfig(rows=4, cols=4, pipelined=pipelined)
        comp = MacArray(c4)
        key = "pipelined" if pipelined else "plain"
        print(f"  4x4 {key}: synth_ice40 + nextpnr (hx8k) ...", flush=True)
        area[key] = {
            "ice40": synthesize(c4, comp, target="ice40", workdir=REPO / ".cache" / "synth", fmax=True),
            "generic": synthesize(c4, comp, target="generic", workdir=REPO / ".cache" / "synth"),
            "ice40_dsp": synthesize(c4, comp, target="ice40-dsp", workdir=REPO / ".cache" / "synth"),
            "asic": synthesize(c4, comp, target="asic", workdir=REPO / ".cache" / "synth"),
        }
        a = area[key]
        print(f"    ice40 {a['ice40']['lut']} LUT {a['ice40']['ff']} FF {a['ice40']['carry']} carry, "
              f"Fmax {a['ice40'].get('fmax_mhz')} MHz; generic {a['generic']['cells']} cells; "
              f"-dsp {a['ice40_dsp']['lut']} LUT {a['ice40_dsp']['dsp']} DSP; asic "
              f"{a['asic']['area_um2']:,.0f} um^2, {a['asic']['critical_path_ns']} ns", flush=True)
    p, q = area["plain"]["ice40"], area["pipelined"]["ice40"]
    sec["area_4x4"] = area
    if p.get("fmax_mhz") and q.get("fmax_mhz"):
        sec["pipelined_vs_plain_4x4"] = {
            "fmax_ratio": round(q["fmax_mhz"] / p["fmax_mhz"], 3),
            "lut_ratio": round(q["lut"] / p["lut"], 3),
            "goal": "fmax_ratio >= 1.3 at lut_ratio <= 1.15"}


from . import BlockSpec

SPEC = BlockSpec(
    name="mac_array",
    config=MacArrayConfig,
    hw_class="hw.mac_array:MacArray",
    scenario=scenario,
    bench=bench,
    summary="output-stationary systolic array, signed INT8 x INT8 -> wide accumulators or (pe=fp8) "
            "FP8 x FP8 -> FP(e, m) sequential/static/DGA accumulation per PE, row-per-beat drain, "
            "double-buffered accumulators",
    demo_configs=({}, {"pipelined": True}, {"pe": "fp8", "rows": 2, "cols": 2}),
)
