"""Speed of the sweep engine: a 16-point synthesis sweep with ``-j 1`` and ``-j 2`` (synthesis
cache off, fresh databases) and the fully cached re-run; writes key ``sweep`` of
``bench/results.json``.

Run ``python -m sim.sweep.bench`` on a machine as idle as it gets: the pairs of runs are
interleaved, the best of each ``-j`` is kept, and the load average (1 min) is recorded before and
after every run.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path

from hw.toolchain import REPO

from .engine import run_sweep
from .spec import load_spec

SPEC = REPO / "sweeps" / "bench_speedup.toml"
RESULTS = REPO / "bench" / "results.json"


def _timed(spec, db, jobs):
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    run = run_sweep(spec, db=db, jobs=jobs, progress=False)
    wall = time.perf_counter() - t0
    if run.failed:
        raise SystemExit(f"bench: {len(run.failed)} synthesis task(s) failed")
    return {"jobs": jobs, "wall_seconds": round(wall, 2), "counts": run.counts,
            "task_seconds_sum": round(sum(o.row["wall_seconds"] or 0 for o in run.outcomes), 2),
            "loadavg_1min_before": round(load0, 2),
            "loadavg_1min_after": round(os.getloadavg()[0], 2)}


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(prog="python -m sim.sweep.bench",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=2,
                    help="-j 1 / -j 2 pairs, interleaved (default 2); the best of each is kept")
    args = ap.parse_args(argv)
    from hw.toolchain import setup_env
    setup_env()
    spec = load_spec(SPEC)
    runs = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="lobit_sweep_bench_") as d:
        for r in range(args.repeats):
            for jobs in (1, 2):
                res = _timed(spec, Path(d) / f"j{jobs}_{r}.sqlite", jobs)
                runs[jobs].append(res)
                print(f"-j {jobs}: {res}", flush=True)
        cached = _timed(spec, Path(d) / "j2_0.sqlite", 2)
        print(f"cached re-run: {cached}", flush=True)
    best = {j: min(rs, key=lambda x: x["wall_seconds"]) for j, rs in runs.items()}
    out = {"spec": str(SPEC.relative_to(REPO)), "points": len(spec.points),
           "tasks": len(spec.tasks), "runs_j1": runs[1], "runs_j2": runs[2],
           "best_j1_seconds": best[1]["wall_seconds"], "best_j2_seconds": best[2]["wall_seconds"],
           "speedup_j2_over_j1": round(best[1]["wall_seconds"] / best[2]["wall_seconds"], 2),
           "speedup_per_pair": [round(a["wall_seconds"] / b["wall_seconds"], 2)
                                for a, b in zip(runs[1], runs[2])],
           "cached_rerun": cached, "cpus": os.cpu_count(), "machine": platform.platform(),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "note": "wall times on a 2-core machine shared with other jobs: see the 1-minute "
                   "load averages next to every run"}
    doc = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    doc["sweep"] = out
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if not k.startswith("runs")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
