"""``make bench``: measured speed and size numbers, written to ``bench/results.json``.

Sections:

* ``sim_speed`` -- every registered block on its defaults on the four simulators side by side
  (``native``, ``verilator`` = cocotb + Verilator, ``icarus`` = cocotb + Icarus, ``amaranth``),
  all on the same stimulus with no gaps/stalls (so the cycle of every output is checked too),
  with cycles/s and the ratio native/verilator; the native build time is reported apart from
  the run time (:mod:`sim.native`).
* ``native_mac_array_8x8`` -- the 8x8 MAC array: the four simulators on one stream of K=256
  tiles, a long random stream on the native path alone, and a 64 x 576 x 64 GEMM tiled on the
  array and checked bit-exactly against a NumPy int64 matmul.
* every block whose :class:`sim.blocks.BlockSpec` has a ``bench`` function adds its own section
  (the MAC array: utilization, area and Fmax; the DGA accumulators; the RLSRU sweep).
* ``area`` -- every block on its defaults: iCE40 LUT/FF, generic cells and the ASIC estimate
  (OSU 0.18 um cell area and OpenSTA critical path, :func:`sim.demo.block_areas`).

``BENCH_BLOCKS=a,b`` restricts the run to those blocks and ``BENCH_SECTIONS=speed`` (or
``hooks``, ``area``) to those kinds of section; a restricted run merges its result into the
existing file.
Numbers are measurements on the machine that runs the command (``machine`` in the file).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time

import numpy as np

from .blocks import all_blocks
from hw.toolchain import REPO, setup_env

#: target length of the per-block side-by-side run, in cycles
SPEED_CYCLES = 4000
#: the native run is repeated on fresh models until its C++ loop time reaches this many seconds
NATIVE_MIN_SECONDS = 0.3


def _say(msg):
    print(msg, flush=True)


def _native_rate(cfg, comp, sc, min_seconds=NATIVE_MIN_SECONDS):
    """Build (cached) and run ``sc`` natively, repeating on fresh models; check every run.

    ``cycles_per_s`` divides by the wall time of the C++ loop, ``cycles_per_cpu_s`` by the CPU
    time of the thread that ran it (what one core delivers when the machine is shared).
    """
    from .native import NativeSim, build, run_native
    res = run_native(cfg, comp, sc, seed=0)
    if not res.ok:
        raise SystemExit(f"bench: native mismatches on {cfg.module_name}: {res.mismatches[:3]}")
    nb = build(cfg, comp)
    cycles = seconds = cpu = 0.0
    runs = 0
    while seconds < min_seconds or runs < 2:
        with NativeSim(nb, seed=0, statics=sc.statics) as s:
            b = s.run_batch(sc)
        if b.inline_mismatches or b.hung or b.cycles != res.cycles:
            raise SystemExit(f"bench: native repeat failed on {cfg.module_name}")
        cycles, seconds, cpu, runs = cycles + b.cycles, seconds + b.seconds, cpu + b.cpu_seconds, runs + 1
    return res, {"cycles": res.cycles, "runs": runs, "seconds": round(seconds, 6),
                 "cycles_per_s": round(cycles / seconds),
                 "cycles_per_cpu_s": round(cycles / cpu) if cpu > 0 else None,
                 "build_seconds": round(res.build_seconds, 2), "build_cached": res.build_cached}


def four_simulators(cfg, comp, sc, tag):
    """The same scenario (no gaps/stalls) on native, verilator, icarus and amaranth."""
    from .amaranth_harness import run_amaranth
    from .runner import run_cocotb
    out = {}
    res, out["native"] = _native_rate(cfg, comp, sc)
    cycles = res.cycles
    for simulator in ("verilator", "icarus", "amaranth"):
        t0 = time.perf_counter()
        if simulator == "amaranth":
            r = run_amaranth(comp, sc, seed=0)
        else:
            r = run_cocotb(cfg, comp, sc, simulator=simulator, seed=0, quiet=True,
                           build_dir=REPO / "build" / "bench" / f"{tag}_{simulator}")
        wall = time.perf_counter() - t0
        if not r.ok:
            raise SystemExit(f"bench: {simulator} mismatches on {cfg.module_name}: "
                             f"{r.mismatches[:3]}")
        if r.out_cycles != res.out_cycles:
            raise SystemExit(f"bench: {simulator} and native disagree on output cycles of "
                             f"{cfg.module_name}")
        out[simulator] = {"cycles": r.cycles, "seconds": round(r.seconds, 4),
                          "cycles_per_s": round(r.cycles / r.seconds),
                          "wall_seconds_with_build": round(wall, 2)}
    out["native_over_verilator"] = round(out["native"]["cycles_per_s"]
                                         / out["verilator"]["cycles_per_s"], 1)
    out["outputs_checked"] = res.checked
    out["cycles_per_run"] = cycles
    return out


def sim_speed(report, only=()):
    """``sim_speed``: every block's default configuration on the four simulators."""
    from .amaranth_harness import layouts_of
    from .native import run_native
    sec = report.setdefault("sim_speed", {})
    for name, spec in sorted(all_blocks().items()):
        if only and name not in only:
            continue
        cfg = spec.config()
        comp = spec.component(cfg)
        layouts = layouts_of(comp)
        probe = spec.scenario(cfg, layouts, np.random.default_rng(0), 64)
        r = run_native(cfg, comp, probe, seed=0)
        vectors = max(8, min(200_000, int(64 * SPEED_CYCLES / max(r.cycles, 1))))
        sc = spec.scenario(cfg, layouts, np.random.default_rng(0), vectors)
        _say(f"  {name}: {sc.vectors} vectors on native, verilator, icarus, amaranth ...")
        row = four_simulators(cfg, comp, sc, f"speed_{name}")
        row["module"] = cfg.module_name
        row["vectors"] = sc.vectors
        sec[name] = row
        _say("    " + "  ".join(f"{s} {row[s]['cycles_per_s']:,}/s" for s in
                                ("native", "verilator", "icarus", "amaranth"))
             + f"  native/verilator {row['native_over_verilator']}x"
             + f"  (native build {row['native']['build_seconds']} s)")


def gemm_on_array(cfg, M, K, N, seed=0):
    """``(M x K) @ (K x N)`` with random INT8 operands through the RTL on the native path.

    The GEMM is tiled on the array (:func:`golden.mac_array.tile_gemm`), streamed as one
    scenario (the Scoreboard checks every output row against the golden tile model and the
    cycle model), and the rows that left the hardware are stitched back together
    (:func:`golden.mac_array.assemble_gemm`) and compared with ``A.astype(int64) @ B``.
    Returns a dict of results and times.
    """
    from golden.mac_array import assemble_gemm, tile_gemm
    from hw.mac_array import MacArray
    from .amaranth_harness import layouts_of
    from .blocks.mac_array import tiles_scenario
    from .native import run_native
    from .transactors import unpack
    rng = np.random.default_rng(seed)
    alo, ahi = cfg.input_range("a")
    blo, bhi = cfg.input_range("b")
    A = rng.integers(alo, ahi + 1, size=(M, K))
    B = rng.integers(blo, bhi + 1, size=(K, N))
    comp = MacArray(cfg)
    layouts = layouts_of(comp)
    t0 = time.perf_counter()
    sc, tiles = tiles_scenario(cfg, layouts, rng, tiles=tile_gemm(cfg, A, B))
    t1 = time.perf_counter()
    res = run_native(cfg, comp, sc, seed=seed)
    t2 = time.perf_counter()
    rows = [unpack(layouts["out"], w) for w in res.received["out"]]
    R = cfg.rows
    results = [np.array([rows[t * R + i]["data"] for i in range(R)], dtype=np.int64)
               for t in range(len(tiles))] if len(rows) == len(tiles) * R else []
    C = assemble_gemm(cfg, results, M, N) if results else None
    ref = A.astype(np.int64) @ B.astype(np.int64)
    t3 = time.perf_counter()
    exact = C is not None and bool(np.array_equal(C, ref))
    model = cfg.gemm_cycles(M, K, N)
    return {"M": M, "K": K, "N": N, "tiles": len(tiles), "scoreboard_ok": res.ok,
            "mismatches": res.mismatches[:3], "bit_exact_vs_numpy_int64": exact,
            "cycles": res.cycles, "model_cycles_first_in_to_last_out": model["cycles"],
            "run_seconds": round(res.seconds, 4), "cycles_per_s": round(res.cycles / res.seconds),
            "build_seconds": round(res.build_seconds, 2),
            "stimulus_seconds": round(t1 - t0, 2),
            "wall_seconds": round(t3 - t0, 2)}


def native_mac_array(report):
    """``native_mac_array_8x8``: the speed goal of the native path and the GEMM."""
    from golden.mac_array import MacArrayConfig
    from hw.mac_array import MacArray
    from .amaranth_harness import layouts_of
    from .blocks.mac_array import tiles_scenario
    sec = report.setdefault("native_mac_array_8x8", {})
    cfg = MacArrayConfig(rows=8, cols=8)
    comp = MacArray(cfg)
    layouts = layouts_of(comp)
    n_tiles, K = 32, 256
    sc, _ = tiles_scenario(cfg, layouts, np.random.default_rng(0), n_tiles=n_tiles, K=K)
    _say(f"  8x8, {n_tiles} tiles x K={K} on native, verilator, icarus, amaranth ...")
    sec["same_stimulus"] = dict(four_simulators(cfg, comp, sc, "mac8x8"), tiles=n_tiles, K=K)
    s = sec["same_stimulus"]
    _say("    " + "  ".join(f"{k} {s[k]['cycles_per_s']:,}/s" for k in
                            ("native", "verilator", "icarus", "amaranth"))
         + f"  native/verilator {s['native_over_verilator']}x")
    n_long = 2000
    sc, _ = tiles_scenario(cfg, layouts, np.random.default_rng(1), n_tiles=n_long, K=(1, 256),
                           extreme=0.05)
    _, r = _native_rate(cfg, comp, sc, min_seconds=1.0)
    sec["long_random_stream"] = dict(r, tiles=n_long, K="uniform 1..256")
    _say(f"  8x8 long random stream ({n_long} tiles, K 1..256): native "
         f"{r['cycles_per_s']:,} cycles/s over {r['cycles']:,} cycles x {r['runs']}")
    sec["goal"] = {"cycles_per_s": 2_000_000, "native_over_verilator": 100,
                   "met": bool(r["cycles_per_s"] >= 2_000_000
                               and s["native_over_verilator"] >= 100)}
    _say("  64 x 576 x 64 GEMM on the 8x8 array (native) ...")
    g = gemm_on_array(cfg, 64, 576, 64)
    sec["gemm_64x576x64"] = g
    _say(f"    {g['tiles']} tiles, {g['cycles']:,} cycles in {g['run_seconds']} s, "
         f"bit-exact vs NumPy: {g['bit_exact_vs_numpy_int64']}, wall {g['wall_seconds']} s")
    if not (g["bit_exact_vs_numpy_int64"] and g["scoreboard_ok"]):
        raise SystemExit(f"bench: the GEMM through the RTL is wrong: {g['mismatches']}")


def main():
    setup_env()
    report = {"machine": {"platform": platform.platform(), "python": platform.python_version(),
                          "cpus": os.cpu_count()},
              "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    path = REPO / "bench" / "results.json"
    only = [b for b in os.environ.get("BENCH_BLOCKS", "").split(",") if b]
    sections = [s for s in os.environ.get("BENCH_SECTIONS", "speed,hooks,area").split(",") if s]
    t0 = time.perf_counter()
    if "speed" in sections:
        _say("simulator speed (native, verilator, icarus, amaranth)")
        if not only or "mac_array" in only:
            native_mac_array(report)
        sim_speed(report, only)
    if "hooks" in sections:
        for name, spec in sorted(all_blocks().items()):
            if (only and name not in only) or spec.bench is None:
                continue
            _say(name)
            spec.bench(report)
    if "area" in sections:
        from .demo import block_areas
        _say("area (every block on its defaults: iCE40, generic, OSU 0.18 um ASIC estimate)")
        report["area"] = block_areas(only, say=_say)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    path.parent.mkdir(exist_ok=True)
    restricted = bool(only) or set(sections) != {"speed", "hooks", "area"}
    old = json.loads(path.read_text()) if path.exists() and restricted else {}
    for key, val in report.items():          # merge per block inside sim_speed
        if key in ("sim_speed", "area") and isinstance(old.get(key), dict):
            old[key].update(val)
        else:
            old[key] = val
    path.write_text(json.dumps(old, indent=2) + "\n")
    _say(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
