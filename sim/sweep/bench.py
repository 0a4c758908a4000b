"""Speed of the sweep engine: a 16-point synthesis sweep with ``-j 1`` and ``-j 2`` (synthesis
cache off, fresh databases) and the fully cached re-run; writes key ``sweep`` of
``bench/results.json``.

Run ``python -m sim.sweep.bench`` on a machine as idle as it gets: the load average (1 min) is
recorded before and after every run.
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


def main():
    from hw.toolchain import setup_env
    setup_env()
    spec = load_spec(SPEC)
    with tempfile.TemporaryDirectory(prefix="lobit_sweep_bench_") as d:
        j1 = _timed(spec, Path(d) / "j1.sqlite", 1)
        print(f"-j 1: {j1}", flush=True)
        j2 = _timed(spec, Path(d) / "j2.sqlite", 2)
        print(f"-j 2: {j2}", flush=True)
        cached = _timed(spec, Path(d) / "j2.sqlite", 2)
        print(f"cached re-run: {cached}", flush=True)
    out = {"spec": str(SPEC.relative_to(REPO)), "points": len(spec.points),
           "tasks": len(spec.tasks), "j1": j1, "j2": j2, "cached_rerun": cached,
           "speedup_j2_over_j1": round(j1["wall_seconds"] / j2["wall_seconds"], 2),
           "cpus": os.cpu_count(), "machine": platform.platform(),
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "note": "wall times on a machine shared with other jobs: see the load averages"}
    doc = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    doc["sweep"] = out
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
