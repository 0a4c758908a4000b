"""``make bench``: measured speed and size numbers, written to ``bench/results.json``.

Every block whose :class:`sim.blocks.BlockSpec` has a ``bench`` function adds its own section
(the MAC array: utilization, simulator speed, area and Fmax; the DGA accumulators; the RLSRU
reuse-scheme sweep). ``BENCH_BLOCKS=a,b`` restricts the run to those blocks and merges the
result into the existing file.
Numbers are measurements on the machine that runs the command (``machine`` in the file).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time

from .blocks import all_blocks
from hw.toolchain import REPO, setup_env


def _say(msg):
    print(msg, flush=True)


def main():
    setup_env()
    report = {"machine": {"platform": platform.platform(), "python": platform.python_version(),
                          "cpus": os.cpu_count()},
              "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    path = REPO / "bench" / "results.json"
    only = [b for b in os.environ.get("BENCH_BLOCKS", "").split(",") if b]
    t0 = time.perf_counter()
    for name, spec in sorted(all_blocks().items()):
        if (only and name not in only) or spec.bench is None:
            continue
        _say(name)
        spec.bench(report)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    path.parent.mkdir(exist_ok=True)
    old = json.loads(path.read_text()) if path.exists() and only else {}
    old.update(report)
    path.write_text(json.dumps(old, indent=2) + "\n")
    _say(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
