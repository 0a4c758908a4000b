"""``make demo``: for every block on its built-in defaults, emit Verilog, simulate it against the
golden model on every simulator, synthesize it, and print one table.

Environment knobs: ``DEMO_VECTORS`` (default 256), ``DEMO_FMAX=1`` (also place and route for
Fmax; adds about a minute per configuration), ``DEMO_BLOCKS=a,b`` (a subset),
``DEMO_ALL_CONFIGS=1`` (every configuration in a block's ``demo_configs``, not only its defaults).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from .amaranth_harness import layouts_of, run_amaranth
from .blocks import all_blocks
from .runner import run_cocotb
from hw.toolchain import REPO, setup_env


def _say(msg):
    print(msg, flush=True)


def block_areas(only=(), say=_say) -> dict:
    """Every registered block (or those in ``only``) on its defaults, synthesized for the iCE40
    (``synth_ice40``), the generic gate library and the OSU 0.18 um standard cells (``asic``:
    a synthesis estimate without placement or wires, docs/asic.md); cached in ``.cache/synth``.

    Returns
    -------
    dict
        Per block ``{module, lut, ff, carry, generic_cells, asic_area_um2, asic_cells, asic_ff,
        asic_critical_path_ns, asic_delay_source}``.
    """
    from hw.synth import synthesize
    work = REPO / ".cache" / "synth"
    out = {}
    for name, block in sorted(all_blocks().items()):
        if only and name not in only:
            continue
        cfg = block.config()
        ice = synthesize(cfg, block.component(cfg), target="ice40", workdir=work)
        gen = synthesize(cfg, block.component(cfg), target="generic", workdir=work)
        asic = synthesize(cfg, block.component(cfg), target="asic", workdir=work)
        out[name] = {"module": cfg.module_name, "lut": ice["lut"], "ff": ice["ff"],
                     "carry": ice["carry"], "generic_cells": gen["cells"],
                     "asic_area_um2": asic["area_um2"], "asic_cells": asic["cells"],
                     "asic_ff": asic["ff"], "asic_critical_path_ns": asic["critical_path_ns"],
                     "asic_delay_source": asic["delay_source"]}
        r = out[name]
        say(f"  {name}: {r['lut']} LUT, {r['ff']} FF; generic {r['generic_cells']} cells; asic "
            f"{r['asic_area_um2']:,.0f} um^2, {r['asic_cells']} cells, "
            f"{r['asic_critical_path_ns']} ns")
    return out


def main():
    setup_env()
    from hw.emit import write_block
    from hw.synth import synthesize
    vectors = int(os.environ.get("DEMO_VECTORS", "256"))
    fmax = os.environ.get("DEMO_FMAX", "0") == "1"
    only = [b for b in os.environ.get("DEMO_BLOCKS", "").split(",") if b]
    out = REPO / "build" / "demo"
    blocks = {n: b for n, b in all_blocks().items() if not only or n in only}
    every = os.environ.get("DEMO_ALL_CONFIGS", "0") == "1"
    jobs = [(b, b.config(**kw)) for b in blocks.values()
            for kw in (b.demo_configs if every else ({},))]
    rows, failed = [], False
    t_start = time.perf_counter()
    for n, (block, cfg) in enumerate(jobs, 1):
        _say(f"[{n}/{len(jobs)}] {cfg.module_name}")
        comp = block.component(cfg)
        v, _ = write_block(cfg, comp, out / cfg.module_name)
        _say(f"    verilog    {v.relative_to(REPO)}")
        row = {"module": cfg.module_name}
        for simulator in ("amaranth", "icarus", "verilator"):
            sc = block.scenario(cfg, layouts_of(comp), np.random.default_rng(1), vectors)
            t0 = time.perf_counter()
            if simulator == "amaranth":
                res = run_amaranth(comp, sc, seed=1, gap=0.1, stall=0.1)
            else:
                res = run_cocotb(cfg, comp, sc, simulator=simulator, seed=1, gap=0.1, stall=0.1, quiet=True,
                                 build_dir=out / cfg.module_name / simulator)
            rate = res.cycles / res.seconds if res.seconds else 0.0
            status = "ok" if res.ok else f"{len(res.mismatches)} MISMATCHES"
            _say(f"    {simulator:<10} {sc.vectors} vectors, {res.cycles} cycles, "
                 f"{rate:,.0f} cycles/s, {status} ({time.perf_counter() - t0:.1f} s)")
            failed |= not res.ok
            row[f"{simulator}_ok"] = res.ok
        t0 = time.perf_counter()
        rep = synthesize(cfg, comp, target="ice40", workdir=REPO / ".cache" / "synth", fmax=fmax)
        gen = synthesize(cfg, comp, target="generic", workdir=REPO / ".cache" / "synth")
        asic = synthesize(cfg, comp, target="asic", workdir=REPO / ".cache" / "synth")
        _say(f"    synth      ice40 {rep['lut']} LUT, {rep['ff']} FF, {rep['carry']} carry; "
             f"generic {gen['cells']} cells; asic {asic['area_um2']:,.0f} um^2, "
             f"{asic['critical_path_ns']} ns ({time.perf_counter() - t0:.1f} s)")
        row.update(lut=rep["lut"], ff=rep["ff"], carry=rep["carry"], cells=gen["cells"],
                   fmax=rep.get("fmax_mhz"), asic=asic["area_um2"])
        rows.append(row)

    _say("")
    head = (f"{'module':<48} {'LUT4':>7} {'FF':>7} {'CARRY':>6} {'cells':>8} {'ASIC um2':>10} "
            f"{'Fmax MHz':>9}  sims")
    _say(head)
    _say("-" * len(head))
    for r in rows:
        f = f"{r['fmax']:.1f}" if r.get("fmax") else "-"
        sims = "/".join("ok" if r[f"{s}_ok"] else "FAIL" for s in ("amaranth", "icarus", "verilator"))
        _say(f"{r['module']:<48} {r['lut']:>7} {r['ff']:>7} {r['carry']:>6} {r['cells']:>8} "
             f"{r['asic']:>10,.0f} {f:>9}  {sims}")
    _say(f"\niCE40 counts from Yosys synth_ice40 (no DSP); generic = `synth -flatten` cells; "
         f"ASIC = OSU 0.18 um cell area (Yosys abc -liberty), a synthesis estimate without "
         f"placement or wires (docs/asic.md). "
         f"Sims: amaranth/icarus/verilator vs golden. Total {time.perf_counter() - t_start:.0f} s.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
