"""SCALE-Sim 3.0's output-stationary GEMM cycle count: closed form, and a check against the tool.

`scalesim_os_cycles` is pure Python (standard library only) and is what `lobit cycles` prints
next to lobit's own cycle model. ``python -m sim.scalesim --check`` runs the real SCALE-Sim
(``pip install scalesim``, in its own virtual environment: ``make verify-scalesim``) on a grid of
GEMM shapes, records its "Total Cycles" in ``tests/data/scalesim_cycles.json`` and compares every
one with the closed form (exit status 1 on any difference). This module imports nothing from
``hw/`` or ``golden/`` and no Amaranth, so it runs inside the SCALE-Sim virtual environment.

How SCALE-Sim counts an output-stationary GEMM (read from its OS compute model and its memory
system, confirmed on the recorded grid): ``A (M x K) @ B (K x N)`` is cut into
``F = ceil(M/rows) * ceil(N/cols)`` folds (a partial fold costs a full one), run one after another
with no overlap. SCALE-Sim builds each fold as a cycle-by-cycle demand matrix of
``K + rows + cols - 2`` lines: on the input side K operand beats, ``cols - 1`` idle lines that let
the outputs drain before the next fold, and ``rows - 1`` lines of skew; on the output side
``K - 1`` idle lines, ``rows`` output lines (one array row per cycle, out of the bottom edge) and
``cols - 1`` lines of skew. With the bandwidth computed by the tool (``InterfaceBandwidth: CALC``)
reads never stall, and with large SRAMs writes never wait for a drain to DRAM, so demand line i is
served in cycle i. "Total Cycles" is the cycle of the last output write counted from 0 -- the
index of the last line, one less than the number of lines:

    Total Cycles = F * (K + rows + cols - 2) - 1
"""

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["scalesim_os_cycles", "scalesim_fold_cycles", "GRID_ARRAYS", "GRID_K", "EXTRA_RANDOM",
           "grid", "run_scalesim_gemm", "DATA_FILE"]

DATA_FILE = Path(__file__).resolve().parent.parent / "tests" / "data" / "scalesim_cycles.json"

GRID_ARRAYS = ((2, 2), (4, 4), (8, 8), (16, 16), (2, 8), (8, 2), (4, 16), (16, 4), (3, 5))
GRID_K = (1, 2, 7, 16, 64, 256)
EXTRA_RANDOM = 200

# SRAM sizes (kB) large enough that no output write ever waits for a drain to DRAM
SRAM_KB = 4096


def _check_dims(**dims):
    for name, v in dims.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}={v!r} is out of range: a positive integer is required")


def scalesim_fold_cycles(K, rows, cols):
    """Demand cycles SCALE-Sim spends on one output-stationary fold (K beats, skew in, drain)."""
    _check_dims(K=K, rows=rows, cols=cols)
    return K + rows + cols - 2


def scalesim_os_cycles(M, K, N, rows, cols):
    """SCALE-Sim 3.0's "Total Cycles" for the GEMM ``(M x K) @ (K x N)`` on a rows x cols OS array.

    Folds ``ceil(M/rows) * ceil(N/cols)`` run back to back, ``K + rows + cols - 2`` cycles each;
    SCALE-Sim reports the index of the last cycle (from 0), one less than the count. Valid for
    dataflow ``os``, ``InterfaceBandwidth: CALC`` and SRAMs large enough for no write stall (the
    configuration `run_scalesim_gemm` uses); checked against the tool by ``make verify-scalesim``.
    """
    _check_dims(M=M, K=K, N=N, rows=rows, cols=cols)
    folds = math.ceil(M / rows) * math.ceil(N / cols)
    return folds * scalesim_fold_cycles(K, rows, cols) - 1


def _dims_around(n):
    return {v for v in (1, n - 1, n, n + 1, 2 * n, 2 * n + 1) if v >= 1}


def grid():
    """The checked shapes, as (M, K, N, rows, cols) tuples.

    M takes the values around the multiples of the array height {1, R-1, R, R+1, 2R, 2R+1}, N the
    same around the width C; on a non-square array M also takes C+1 and N takes R+1 (the other
    dimension's boundary). K takes every value of `GRID_K`. Then `EXTRA_RANDOM` fixed pseudo-random
    shapes: any array from 2 x 2 to 16 x 16, M and N up to four folds, K from 1 to 256.
    """
    shapes = []
    for rows, cols in GRID_ARRAYS:
        ms = _dims_around(rows) | ({cols + 1} if rows != cols else set())
        ns = _dims_around(cols) | ({rows + 1} if rows != cols else set())
        for m in sorted(ms):
            for n in sorted(ns):
                for k in GRID_K:
                    shapes.append((m, k, n, rows, cols))
    rng = random.Random(8)  # plus fixed pseudo-random shapes off the boundaries, other arrays
    for _ in range(EXTRA_RANDOM):
        rows, cols = rng.randint(2, 16), rng.randint(2, 16)
        m, k, n = rng.randint(1, 4 * rows + 3), rng.randint(1, 256), rng.randint(1, 4 * cols + 3)
        shapes.append((m, k, n, rows, cols))
    return shapes


_CONFIG = """\
[general]
run_name = lobit

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: {sram}
FilterSramSzkB: {sram}
OfmapSramSzkB: {sram}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Dataflow: os
Bandwidth: 10
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""


def _read_compute_report(path):
    """{column name: value} of the one layer of a SCALE-Sim COMPUTE_REPORT.csv."""
    lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip()]
    header = [h.strip() for h in lines[0].split(",")]
    values = [v.strip() for v in lines[1].split(",")]
    return dict(zip(header, values))


def run_scalesim_gemm(M, K, N, rows, cols, workdir):
    """Run the real SCALE-Sim on one GEMM: (Total Cycles, Stall Cycles) of its compute report.

    GEMM topology row ``name, M, N, K,``: SCALE-Sim's M is the output rows (our M), its N the output
    columns (our N) and its K the reduction length (our K); it turns the row into a convolution with
    an M x K input, a 1 x K filter and N filters. The trailing comma is required (the parser drops
    the last field). A layout file must exist even when the custom layouts are off.
    """
    from scalesim.scale_sim import scalesim  # only inside the SCALE-Sim virtual environment

    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    cfg = work / "lobit.cfg"
    cfg.write_text(_CONFIG.format(rows=rows, cols=cols, sram=SRAM_KB))
    topo = work / "gemm.csv"
    topo.write_text(f"Layer, M, N, K,\ngemm, {M}, {N}, {K},\n")
    layout = work / "layout.csv"
    layout.write_text("Layer,\n")
    out = work / "out"
    sim = scalesim(save_disk_space=True, verbose=False, config=str(cfg), topology=str(topo),
                   layout=str(layout), input_type_gemm=True)
    sim.run_scale(top_path=str(out))
    rep = _read_compute_report(out / "lobit" / "COMPUTE_REPORT.csv")
    return int(rep["Total Cycles"]), int(rep["Stall Cycles"])


def check(out_path=DATA_FILE, shapes=None, stream=sys.stdout):
    """Run SCALE-Sim on every shape, write the JSON record, compare with the closed form.

    Returns the list of mismatching records (empty when everything agrees).
    """
    from importlib.metadata import version
    shapes = grid() if shapes is None else shapes
    ver = version("scalesim")
    records, bad = [], []
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lobit-scalesim-") as tmp, \
            open(os.devnull, "w") as devnull:
        for i, (m, k, n, rows, cols) in enumerate(shapes):
            # SCALE-Sim prints a few banner lines even when not verbose: keep the progress readable
            saved = sys.stdout
            sys.stdout = devnull
            try:
                total, stalls = run_scalesim_gemm(m, k, n, rows, cols, Path(tmp) / f"s{i}")
            finally:
                sys.stdout = saved
            model = scalesim_os_cycles(m, k, n, rows, cols)
            rec = [m, k, n, rows, cols, total, stalls]
            records.append(rec)
            if total != model or stalls != 0:
                bad.append((rec, model))
                print(f"MISMATCH M={m} K={k} N={n} on {rows}x{cols}: SCALE-Sim {total} "
                      f"(stalls {stalls}), closed form {model}", file=stream, flush=True)
            if (i + 1) % 100 == 0 or i + 1 == len(shapes):
                el = time.monotonic() - t0
                print(f"  {i + 1}/{len(shapes)} shapes, {len(bad)} mismatches, {el:.0f} s",
                      file=stream, flush=True)
    doc = {
        "tool": "SCALE-Sim",
        "scalesim_version": ver,
        "generated_by": "python -m sim.scalesim --check (make verify-scalesim)",
        "config": {"Dataflow": "os", "InterfaceBandwidth": "CALC", "IfmapSramSzkB": SRAM_KB,
                   "FilterSramSzkB": SRAM_KB, "OfmapSramSzkB": SRAM_KB,
                   "topology": "GEMM form: Layer, M, N, K,"},
        "column": "COMPUTE_REPORT.csv: Total Cycles",
        "fields": ["M", "K", "N", "rows", "cols", "total_cycles", "stall_cycles"],
        "shapes": records,
    }
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # one key (and one shape) per line: readable, and a re-run's diff shows exactly what changed
    lines = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in doc.items() if k != "shapes"]
    body = ",\n    ".join(json.dumps(r) for r in records)
    lines.append(f"  \"shapes\": [\n    {body}\n  ]")
    out_path.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    return bad


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m sim.scalesim",
                                description="Compare scalesim_os_cycles with the real SCALE-Sim.")
    p.add_argument("--check", action="store_true",
                   help="run SCALE-Sim on the grid, write the JSON record, exit 1 on a difference")
    p.add_argument("--out", default=str(DATA_FILE), help=f"JSON record (default {DATA_FILE})")
    p.add_argument("--limit", type=int, default=None, help="only the first N grid shapes (debug)")
    args = p.parse_args(argv)
    if not args.check:
        p.print_help()
        return 2
    try:
        import scalesim  # noqa: F401
    except ImportError:
        print("error: SCALE-Sim is not installed in this interpreter: run `make verify-scalesim`",
              file=sys.stderr)
        return 2
    shapes = grid()
    if args.limit is not None:
        shapes = shapes[:max(args.limit, 0)]
    print(f"SCALE-Sim vs scalesim_os_cycles on {len(shapes)} shapes, "
          f"{len(GRID_ARRAYS)} arrays", flush=True)
    t0 = time.monotonic()
    bad = check(args.out, shapes)
    print(f"{len(shapes)} shapes, {len(bad)} mismatches, {time.monotonic() - t0:.0f} s; "
          f"record written to {args.out}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
