"""Run a block's Scenario on emitted Verilog under cocotb (Icarus, Verilator, or a netlist)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from hw.emit import write_block
from hw.toolchain import REPO, have_simulator, setup_env
from .transactors import RunResult

__all__ = ["run_cocotb", "SIMULATORS", "SimulatorMissing"]

SIMULATORS = ("amaranth", "icarus", "verilator")
VERILATOR_ARGS = ["-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-UNOPTFLAT"]


class SimulatorMissing(RuntimeError):
    """The requested simulator is not installed."""


def _add_dump(vpath: Path, module: str, dumpfile: Path):
    """Append a ``$dumpfile``/``$dumpvars`` block to ``module`` for a VCD from Icarus."""
    text = vpath.read_text()
    pat = re.compile(rf"(module {re.escape(module)}\b.*?)(\nendmodule)", re.S)
    add = f'\n  initial begin $dumpfile("{dumpfile}"); $dumpvars(0, {module}); end'
    text, n = pat.subn(lambda m: m.group(1) + add + m.group(2), text, count=1)
    if n != 1:
        raise RuntimeError(f"module {module} not found in {vpath}")
    vpath.write_text(text)


def run_cocotb(cfg, component, scenario, *, simulator="icarus", build_dir, seed=0, gap=0.0,
               stall=0.0, vcd=None, sources=None, quiet=False) -> RunResult:
    """Emit ``component`` (unless ``sources`` gives other Verilog, e.g. a netlist), build it with
    ``simulator`` and run ``scenario`` through :mod:`sim.cocotb_tb`.

    ``quiet=True`` sends the simulator's build and run output to ``build.log``/``sim.log`` in
    ``build_dir`` instead of the terminal (the CLI and ``make demo`` use it).

    Returns the :class:`sim.transactors.RunResult` written by the cocotb test (mismatches are
    reported there, not raised). Raises :class:`SimulatorMissing` when the simulator is absent and
    ``RuntimeError`` when the simulation did not produce a result.
    """
    setup_env()
    if simulator not in ("icarus", "verilator"):
        raise ValueError(f"simulator {simulator!r} is not a cocotb simulator: use icarus or verilator.")
    if not have_simulator(simulator):
        raise SimulatorMissing(f"simulator {simulator} is not installed: run `make setup`.")
    from cocotb_tools.runner import get_runner

    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    vpath, jpath = write_block(cfg, component, build_dir)
    if sources is None:
        sources = [vpath]
    if vcd and simulator == "icarus":
        _add_dump(Path(sources[0]), cfg.module_name, Path(vcd).resolve())
    scen_path = build_dir / "scenario.json"
    result_path = build_dir / "result.json"
    scen_path.write_text(json.dumps(scenario.to_json()))
    if result_path.exists():
        result_path.unlink()

    if str(REPO) not in sys.path:          # the runner exports sys.path as PYTHONPATH
        sys.path.insert(0, str(REPO))
    runner = get_runner(simulator)
    build_args = list(VERILATOR_ARGS) if simulator == "verilator" else []
    if simulator == "verilator" and vcd:
        raise ValueError("VCD output is supported on icarus (and the Amaranth simulator), not verilator.")
    try:
        runner.build(sources=[str(s) for s in sources], hdl_toplevel=cfg.module_name,
                     build_dir=str(build_dir), always=True, timescale=("1ns", "1ps"),
                     build_args=build_args,
                     log_file=str(build_dir / "build.log") if quiet else None)
    except RuntimeError as e:
        where = f"; see {build_dir / 'build.log'}" if quiet else ""
        raise RuntimeError(f"{simulator} build of {cfg.module_name} failed ({e}){where}") from None
    if vcd and simulator == "icarus":
        # the runner passes vvp `-none` (dumping suppressed) unless it adds its own FST dumper;
        # ask vvp for VCD instead so the $dumpfile added above is honoured
        plain = runner._test_command
        runner._test_command = lambda: [[("-vcd" if a == "-none" else a) for a in cmd]
                                        for cmd in plain()]
    env = {
        "LOBIT_SCENARIO": str(scen_path), "LOBIT_SIDECAR": str(jpath),
        "LOBIT_RESULT": str(result_path), "LOBIT_SEED": str(seed),
        "LOBIT_GAP": str(gap), "LOBIT_STALL": str(stall),
    }
    try:
        runner.test(hdl_toplevel=cfg.module_name, test_module="sim.cocotb_tb",
                    build_dir=str(build_dir), test_dir=str(build_dir), extra_env=env, seed=seed,
                    results_xml=str(build_dir / "results.xml"),
                    log_file=str(build_dir / "sim.log") if quiet else None)
    except SystemExit:
        pass          # under pytest a failing cocotb test exits; the result JSON tells why
    if not result_path.exists():
        raise RuntimeError(f"cocotb run on {simulator} produced no result; see the log above "
                           f"and {build_dir}")
    d = json.loads(result_path.read_text())
    res = RunResult(checked=d["checked"], mismatches=d["mismatches"], cycles=d["cycles"],
                    seconds=d["seconds"], out_cycles=d["out_cycles"])
    if d["n_mismatches"] > len(res.mismatches):
        res.mismatches.append(f"... {d['n_mismatches'] - len(res.mismatches)} more mismatches")
    return res
