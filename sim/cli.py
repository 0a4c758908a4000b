"""The ``lobit`` command line: list blocks, emit Verilog, simulate against the golden model, synthesize.

Every error caused by the user (unknown block, bad parameter, malformed ``--param``, a path that
cannot be written, a size or number out of range) prints one sentence and exits with status 2,
without a traceback; a simulation mismatch exits with status 1.

Bounds: ``--vectors`` is at most :data:`MAX_VECTORS_IN_MEMORY` on the amaranth, icarus and
verilator simulators (their scenario is built in memory before the run); ``--simulator native``
streams batches with bounded memory up to ``sim.native.MAX_VECTORS``. GEMM dimensions of
``lobit cycles`` are at most :data:`MAX_GEMM_DIM`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from golden.params import ConfigError

__all__ = ["main", "MAX_VECTORS_IN_MEMORY", "MAX_GEMM_DIM"]

#: largest --vectors of a simulator whose whole scenario is built in memory (about 1 GB for the
#: widest blocks); --simulator native streams batches instead
MAX_VECTORS_IN_MEMORY = 1_000_000
#: largest M, K or N of `lobit cycles` (the model is closed-form; the bound keeps numbers sane)
MAX_GEMM_DIM = 1 << 40


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"lobit: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parse_params(block, items):
    pairs = {}
    for item in items or []:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise ConfigError(f"malformed --param {item!r}: expected NAME=VALUE, e.g. --param rows=8.")
        k, v = item.split("=", 1)
        pairs[k.strip()] = v
    return block.config.from_strings(pairs)


def _writable_dir(path, flag) -> Path:
    """Create directory ``path`` (given by option ``flag``) or raise one-sentence ConfigError."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"{flag} {str(path)!r} cannot be used as a directory: "
                          f"{e.strerror or e} (choose a writable directory).") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {str(path)!r} is not writable: choose a writable directory.")
    return p


def _writable_file(path, flag) -> Path:
    """Check that file ``path`` can be created in an existing, writable directory."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise ConfigError(f"{flag} {str(path)!r} is a directory: give a file name.")
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {str(path)!r} cannot be written: its directory does not exist "
                          f"or is not writable.")
    return p


def _block_and_cfg(args):
    from .blocks import get_block
    block = get_block(args.block)
    return block, _parse_params(block, args.param)


def cmd_blocks(args):
    from .blocks import all_blocks
    blocks = all_blocks()
    if args.json:
        print(json.dumps({n: {"summary": b.summary, "params": [p.describe() for p in b.config.PARAMS]}
                          for n, b in blocks.items()}, indent=2))
        return 0
    for name, b in blocks.items():
        print(f"{name}: {b.summary}")
        for p in b.config.PARAMS:
            print(f"    {p.name:<16} default {str(p.default):<8} {p.allowed():<32} {p.doc}")
        print()
    return 0


def cmd_verilog(args):
    from hw.emit import write_block
    from hw.toolchain import setup_env
    setup_env()
    block, cfg = _block_and_cfg(args)
    out = _writable_dir(args.output, "-o/--output")
    v, j = write_block(cfg, block.component(cfg), out)
    print(f"wrote {v}")
    print(f"wrote {j}")
    return 0


def print_run(res, vectors, vcd=None, rate_note=""):
    """The result lines every ``lobit sim`` run prints (counts, cycles, speed, first mismatches)."""
    rate = res.cycles / res.seconds if res.seconds else float("nan")
    print(f"vectors checked: {vectors}  (outputs compared: {res.checked})")
    print(f"mismatches:      {len(res.mismatches)}")
    print(f"cycles:          {res.cycles}")
    print(f"cycles/s:        {rate:,.0f}{rate_note}")
    if vcd:
        print(f"waveform:        {vcd}")
    for m in res.mismatches[:10]:
        print(f"  MISMATCH {m}")


def _progress(cycle, got, want):
    print(f"  ... cycle {cycle}: {got}/{want} outputs", file=sys.stderr, flush=True)


def cmd_sim(args):
    import numpy as np
    from .amaranth_harness import layouts_of, run_amaranth
    from hw.toolchain import setup_env
    setup_env()
    block, cfg = _block_and_cfg(args)
    if args.vectors < 1:
        raise ConfigError(f"--vectors {args.vectors} is out of range: allowed values are >= 1.")
    if args.vectors > MAX_VECTORS_IN_MEMORY and args.simulator != "native":
        raise ConfigError(f"--vectors {args.vectors} is out of range for --simulator "
                          f"{args.simulator}: allowed values are 1..{MAX_VECTORS_IN_MEMORY:,} "
                          f"(use --simulator native, which streams batches, for longer runs).")
    if not 0 <= args.seed < 2 ** 63:
        raise ConfigError(f"--seed {args.seed} is out of range: allowed values are 0..2**63-1.")
    if args.vcd:
        _writable_file(args.vcd, "--vcd")
    if args.build_dir:
        _writable_dir(args.build_dir, "--build-dir")
    for name, val in (("--gap", args.gap), ("--stall", args.stall)):
        if not 0.0 <= val < 1.0:
            raise ConfigError(f"{name} {val} is out of range: allowed values are 0 <= p < 1.")
    if args.vcd and args.simulator == "verilator":
        raise ConfigError("--vcd is supported with --simulator amaranth or icarus, not verilator.")
    if args.simulator == "native":          # Verilator model + C++ harness (sim/native.py)
        from .native import cli_sim
        return cli_sim(args, block, cfg)
    comp = block.component(cfg)
    scenario = block.scenario(cfg, layouts_of(comp), np.random.default_rng(args.seed), args.vectors)
    print(f"{cfg.module_name}: {scenario.vectors} vectors on {args.simulator} "
          f"(seed {args.seed}, gap {args.gap}, stall {args.stall})", flush=True)
    if args.simulator == "amaranth":
        res = run_amaranth(comp, scenario, seed=args.seed, gap=args.gap, stall=args.stall,
                           vcd=args.vcd, progress=_progress)
    else:
        from .runner import SimulatorMissing, run_cocotb
        build = Path(args.build_dir) if args.build_dir else Path(tempfile.mkdtemp(prefix="lobit_"))
        try:
            res = run_cocotb(cfg, comp, scenario, simulator=args.simulator, build_dir=build,
                             seed=args.seed, gap=args.gap, stall=args.stall, vcd=args.vcd,
                             quiet=not args.verbose)
        except SimulatorMissing as e:
            print(f"lobit: error: {e}", file=sys.stderr)
            return 2
    print_run(res, scenario.vectors, args.vcd)
    return 0 if res.ok else 1


def cmd_synth(args):
    from hw.synth import synthesize
    from hw.toolchain import setup_env
    setup_env()
    block, cfg = _block_and_cfg(args)
    if args.precision:                       # widths from `lobit precision -o` (precision.md)
        from .precision import synth_precision
        return synth_precision(args, block, cfg)
    workdir = _writable_dir(args.workdir if args.workdir else Path(".cache") / "synth",
                            "--workdir")
    rep = synthesize(cfg, block.component(cfg), target=args.target, workdir=workdir, fmax=args.fmax)
    if args.json:
        print(json.dumps(rep, indent=2))
        return 0
    print(f"{rep['module']} ({rep['target']})")
    for key in ("lut", "ff", "carry", "dsp", "ram", "cells", "transistors", "fmax_mhz",
                "area_um2", "critical_path_ns"):
        if rep.get(key) is not None:
            val = rep[key]
            print(f"  {key:<16} {val:.3f}" if key == "critical_path_ns" else
                  f"  {key:<16} {val:.1f}" if isinstance(val, float) else f"  {key:<16} {val}")
    if rep["target"] == "asic":
        print("  cells by type    " + ", ".join(f"{t} {n}" for t, n in rep["cells_by_type"].items()))
        print(f"  delay from       {rep['delay_source'] or rep.get('sta_error')}")
        print(f"  note             {rep['asic_note']}")
    return 0


def cmd_cycles(args):
    from golden.mac_array import MacArrayConfig
    from sim.scalesim import scalesim_os_cycles
    block, cfg = _block_and_cfg(args)
    if not isinstance(cfg, MacArrayConfig):
        raise ConfigError(f"block {args.block!r} has no GEMM cycle model: only mac_array has one.")
    M, K, N = args.gemm
    for name, v in (("M", M), ("K", K), ("N", N)):
        if not 1 <= v <= MAX_GEMM_DIM:
            raise ConfigError(f"GEMM dimension {name}={v} is out of range: allowed values are "
                              f"1..{MAX_GEMM_DIM} (2**40).")
    g = cfg.gemm_cycles(M, K, N, per_element=False)
    ss = scalesim_os_cycles(M, K, N, cfg.rows, cfg.cols)
    print(f"{cfg.module_name}: GEMM {M}x{K}x{N} in {g['tiles']} tiles")
    print(f"  lobit cycle model: {g['cycles']} cycles, utilization {100 * g['utilization']:.2f}%")
    print(f"  SCALE-Sim 3.0 (checked against the real tool, make verify-scalesim): {ss} cycles "
          f"({ss / g['cycles']:.3f}x)")
    return 0


def build_parser():
    p = _Parser(prog="lobit", description="Generate, simulate and verify low-bit training hardware.")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    s = sub.add_parser("blocks", help="list blocks and their parameters")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_blocks)

    def block_args(s):
        s.add_argument("block", help="block name (see `lobit blocks`)")
        s.add_argument("--param", "-p", action="append", metavar="NAME=VALUE",
                       help="set a block parameter (repeatable)")

    s = sub.add_parser("verilog", help="write Verilog and a JSON sidecar")
    block_args(s)
    s.add_argument("-o", "--output", required=True, help="output directory")
    s.set_defaults(func=cmd_verilog)

    s = sub.add_parser("sim", help="run random stimulus against the golden model")
    block_args(s)
    s.add_argument("--simulator", choices=("amaranth", "icarus", "verilator", "native"),
                   default="amaranth", help="native: Verilator model driven by a C++ loop "
                   "(docs/native.md)")
    s.add_argument("--vectors", type=int, default=256, help="number of output items to check")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--gap", type=float, default=0.0, help="probability of an idle input cycle")
    s.add_argument("--stall", type=float, default=0.0, help="probability of output back-pressure")
    s.add_argument("--vcd", metavar="FILE", help="write a waveform (amaranth, icarus: VCD)")
    s.add_argument("--batch-vectors", type=int, default=1 << 16,
                   help="native: vectors per streamed batch (default 65536)")
    s.add_argument("--build-dir", help="cocotb build directory (default: a temporary one)")
    s.add_argument("--verbose", action="store_true",
                   help="show the simulator's build and run output (default: build.log/sim.log)")
    s.set_defaults(func=cmd_sim)

    s = sub.add_parser("synth", help="synthesize with Yosys and report area (and Fmax)")
    block_args(s)
    s.add_argument("--target", default="ice40", help="ice40, ice40-dsp, generic or asic (OSU 0.18 um cells: area in um^2, OpenSTA delay)")
    s.add_argument("--fmax", action="store_true", help="place and route with nextpnr-ice40 for Fmax")
    s.add_argument("--json", action="store_true", help="print the full report as JSON")
    s.add_argument("--workdir", help="synthesis work/cache directory (default .cache/synth)")
    s.add_argument("--precision", metavar="FILE", help="mac_array only: operand widths from a "
                   "`lobit precision -o` file, synthesized next to the INT8/INT32 array")
    s.set_defaults(func=cmd_synth)

    s = sub.add_parser("cycles", help="GEMM cycle model of the MAC array vs SCALE-Sim 3.0")
    block_args(s)
    s.add_argument("--gemm", nargs=3, type=int, metavar=("M", "K", "N"), required=True)
    s.set_defaults(func=cmd_cycles)

    from .precision import add_parser as add_precision_parser   # docs/blocks/precision.md
    add_precision_parser(sub)

    from .sweep.cli import add_parser as add_sweep_parser    # lobit sweep / report (docs/sweeps.md)
    add_sweep_parser(sub)

    from train.cli import add_parser as add_train_parser     # lobit train (docs/training.md)
    add_train_parser(sub)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"lobit: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:              # output piped into `head` and closed early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:                 # a path the options did not pre-check (disk full, ...)
        where = f" ({e.filename})" if e.filename else ""
        print(f"lobit: error: {e.strerror or e}{where}.", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
