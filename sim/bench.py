"""``make bench``: measured speed and size numbers, written to ``bench/results.json``.

Sections: the MAC array (utilization on back-to-back tiles, simulator speed on the same
workload, iCE40/generic area and Fmax with and without the pipelined PE), then every
``sim/<block>.py`` module that defines ``bench(report)`` adds its own section.
Numbers are measurements on the machine that runs the command (``machine`` in the file).
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time

import numpy as np

from .amaranth_harness import layouts_of, run_amaranth
from .blocks import all_blocks
from hw.toolchain import REPO, setup_env


def _say(msg):
    print(msg, flush=True)


def bench_mac_array(report):
    from golden.mac_array import MacArrayConfig, MacArrayTiming
    from hw.mac_array import MacArray
    from hw.synth import synthesize
    from .mac_array import scenario
    from .runner import run_cocotb

    sec = report.setdefault("mac_array", {})
    cfg = MacArrayConfig(rows=8, cols=8)
    dut = MacArray(cfg)
    n_tiles, K = 8, 256
    sc, _ = scenario(cfg, layouts_of(dut), np.random.default_rng(0), n_tiles=n_tiles, K=K)
    model = MacArrayTiming(cfg).gemm(8 * n_tiles, K, 8)
    speed = {}
    for simulator in ("verilator", "icarus", "amaranth"):
        _say(f"  8x8, {n_tiles} tiles x K={K} on {simulator} ...")
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
        _say(f"    {res.cycles} cycles in {res.seconds:.2f} s = {res.cycles / res.seconds:,.0f} cycles/s; "
             f"utilization {100 * util:.2f}%")
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
        _say(f"  4x4 {key}: synth_ice40 + nextpnr (hx8k) ...")
        area[key] = {
            "ice40": synthesize(c4, comp, target="ice40", workdir=REPO / ".cache" / "synth", fmax=True),
            "generic": synthesize(c4, comp, target="generic", workdir=REPO / ".cache" / "synth"),
            "ice40_dsp": synthesize(c4, comp, target="ice40-dsp", workdir=REPO / ".cache" / "synth"),
        }
        a = area[key]
        _say(f"    ice40 {a['ice40']['lut']} LUT {a['ice40']['ff']} FF {a['ice40']['carry']} carry, "
             f"Fmax {a['ice40'].get('fmax_mhz')} MHz; generic {a['generic']['cells']} cells; "
             f"-dsp {a['ice40_dsp']['lut']} LUT {a['ice40_dsp']['dsp']} DSP")
    p, q = area["plain"]["ice40"], area["pipelined"]["ice40"]
    sec["area_4x4"] = area
    if p.get("fmax_mhz") and q.get("fmax_mhz"):
        sec["pipelined_vs_plain_4x4"] = {
            "fmax_ratio": round(q["fmax_mhz"] / p["fmax_mhz"], 3),
            "lut_ratio": round(q["lut"] / p["lut"], 3),
            "goal": "fmax_ratio >= 1.3 at lut_ratio <= 1.15"}


def main():
    setup_env()
    report = {"machine": {"platform": platform.platform(), "python": platform.python_version(),
                          "cpus": os.cpu_count()},
              "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    path = REPO / "bench" / "results.json"
    only = [b for b in os.environ.get("BENCH_BLOCKS", "").split(",") if b]
    t0 = time.perf_counter()
    if not only or "mac_array" in only:
        _say("mac_array")
        bench_mac_array(report)
    for name in sorted(all_blocks()):
        if only and name not in only:
            continue
        mod = importlib.import_module(f"sim.{name}")
        if hasattr(mod, "bench"):
            _say(name)
            mod.bench(report)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    path.parent.mkdir(exist_ok=True)
    old = json.loads(path.read_text()) if path.exists() and only else {}
    old.update(report)
    path.write_text(json.dumps(old, indent=2) + "\n")
    _say(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
