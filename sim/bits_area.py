"""Area against code width: the quantizer lane and a 4x4 MAC array at several ``bits``.

``python -m sim.bits_area`` synthesizes, through the project's synthesis API
(:func:`hw.synth.synthesize`, results cached under ``.cache/synth``):

* the quantizer with one lane (``lanes=1``, ``frac_bits=8``, pipelined) for the modes ``rne``,
  ``rtz`` and ``sr`` at ``bits`` = 2, 4, 6, 8, 12, 16;
* the 4x4 integer MAC array (``pe=int8``, ``a_width = b_width = bits``) at ``bits`` = 4, 6, 8 with
  a 32-bit accumulator and with the narrowest accumulator that holds a dot product of ``K``
  symmetric codes (default ``K = 1024``): ``acc = bit_length(K * L**2) + 1``, ``L = 2**(bits-1) - 1``;

for the targets ``ice40`` (``synth_ice40``: SB_LUT4 and flip-flops) and ``asic`` (OSU 0.18 um
cell area in um^2, a synthesis estimate without placement), and writes ``bench/bits_area.json``::

    {"machine": {...}, "date": ..., "setup": {...},
     "quantizer": [{"mode", "bits", "frac_bits", "lanes", "ice40_lut", "ice40_ff",
                    "asic_um2", ...}, ...],
     "mac_array_4x4": [{"bits", "acc_width", "ice40_lut", "ice40_ff", "asic_um2", ...}, ...]}

The file is rewritten after every row (``"complete": false`` until the last one), the widths
4, 6, 8 first.

``--table`` prints the Markdown tables of ``docs/blocks/quantizer.md`` from an existing JSON
instead of synthesizing. Bad arguments exit with status 2 and one sentence.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from golden.params import ConfigError
from golden.quantizer import code_max

REPO = Path(__file__).resolve().parent.parent

__all__ = ["QUANT_BITS", "QUANT_MODES", "MAC_BITS", "safe_acc_width", "measure", "tables", "main"]

#: code widths and modes of the quantizer-lane rows
QUANT_BITS = (2, 4, 6, 8, 12, 16)
QUANT_MODES = ("rne", "rtz", "sr")
#: operand widths of the 4x4 MAC-array rows
MAC_BITS = (4, 6, 8)
#: synthesis targets
TARGETS = ("ice40", "asic")


def safe_acc_width(bits: int, k: int) -> int:
    """Narrowest signed accumulator that holds any sum of ``k`` products of two symmetric
    ``bits``-bit codes: ``|sum| <= k * L**2``, so ``bit_length(k * L**2) + 1`` bits."""
    L = code_max(bits)
    return (k * L * L).bit_length() + 1


def _synth(block, params, workdir, say):
    """iCE40 and ASIC numbers of one configuration (cached synthesis)."""
    from hw.synth import synthesize
    from .blocks import get_block
    spec = get_block(block)
    cfg = spec.config(**params)
    row = {"module": cfg.module_name}
    for target in TARGETS:
        t = time.monotonic()
        rep = synthesize(cfg, spec.component(cfg), target=target, workdir=workdir)
        if target == "ice40":
            row.update(ice40_lut=rep["lut"], ice40_ff=rep["ff"], ice40_carry=rep["carry"])
        else:
            row.update(asic_um2=rep["area_um2"], asic_cells=rep["cells"], asic_ff=rep["ff"],
                       asic_critical_path_ns=rep["critical_path_ns"])
        row[f"{target}_seconds"] = round(time.monotonic() - t, 1)
        row[f"{target}_cached"] = bool(rep["cached"])
    say(f"  {row['module']}: {row['ice40_lut']} LUT, {row['ice40_ff']} FF, "
        f"{row['asic_um2']:,.0f} um^2 ({row['ice40_seconds'] + row['asic_seconds']:.0f} s)")
    return row


def measure(quant_bits=QUANT_BITS, modes=QUANT_MODES, mac_bits=MAC_BITS, k=1024,
            workdir=None, say=print, partial=None) -> dict:
    """Synthesize every row (serially) and return the report dict of the module docstring.

    The widths the accuracy-vs-area chart needs (4, 6, 8) come first; ``partial(report)`` is
    called after every row with the rows so far (``"complete": false``)."""
    workdir = Path(workdir or REPO / ".cache" / "synth")
    load0 = os.getloadavg()
    t0 = time.monotonic()
    quant, mac = [], []
    first = [b for b in (8, 4, 6) if b in quant_bits or b in mac_bits]
    order = first + [b for b in sorted(set(quant_bits) | set(mac_bits)) if b not in first]
    for b in order:
        for mode in modes if b in quant_bits else ():
            params = {"lanes": 1, "mode": mode, "frac_bits": 8, "bits": b}
            quant.append({"mode": mode, "bits": b, "frac_bits": 8, "lanes": 1, "pipelined": True,
                          **_synth("quantizer", params, workdir, say)})
            if partial:
                partial(_report(quant, mac, k, load0, t0, False))
        for acc in sorted({32, safe_acc_width(b, k)}) if b in mac_bits else ():
            params = {"rows": 4, "cols": 4, "a_width": b, "b_width": b, "acc_width": acc}
            mac.append({"bits": b, "acc_width": acc,
                        "acc_note": "32-bit" if acc == 32 else f"narrowest safe for K = {k}",
                        **_synth("mac_array", params, workdir, say)})
            if partial:
                partial(_report(quant, mac, k, load0, t0, False))
    return _report(quant, mac, k, load0, t0, True)


def _report(quant, mac, k, load0, t0, complete) -> dict:
    quant = sorted(quant, key=lambda r: (QUANT_MODES.index(r["mode"]), r["bits"]))
    mac = sorted(mac, key=lambda r: (r["bits"], r["acc_width"]))
    return {
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count()},
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "setup": {"targets": {"ice40": "Yosys synth_ice40 (SB_LUT4, flip-flops, SB_CARRY)",
                              "asic": "Yosys synth -flatten, dfflibmap/abc -liberty, OSU 0.18 um "
                                      "cell area (no placement or wires)"},
                  "quantizer": "lanes=1, frac_bits=8, pipelined (FP32 multiply + conversion + "
                               "rounding stage + registers)",
                  "mac_array_4x4": "rows=cols=4, pe=int8, a_width=b_width=bits, overflow=wrap, "
                                   "not pipelined",
                  "safe_acc_k": k,
                  "load_average_start": [round(v, 2) for v in load0],
                  "load_average_end": [round(v, 2) for v in os.getloadavg()],
                  "wall_seconds": round(time.monotonic() - t0, 1)},
        "complete": complete,
        "quantizer": quant,
        "mac_array_4x4": mac,
    }


def tables(report: dict) -> str:
    """Markdown tables: quantizer lane per mode and width, MAC array per width (with the change
    per code bit against the 8-bit row)."""
    out = ["| mode | bits | iCE40 LUT | iCE40 FF | ASIC um^2 | LUT vs 8 bits |",
           "|---|---|---|---|---|---|"]
    for r in report["quantizer"]:
        ref = next((x for x in report["quantizer"] if x["mode"] == r["mode"] and x["bits"] == 8),
                   None)
        diff = f"{r['ice40_lut'] - ref['ice40_lut']:+,}" if ref else "-"
        out.append(f"| {r['mode']} | {r['bits']} | {r['ice40_lut']:,} | {r['ice40_ff']} | "
                   f"{r['asic_um2']:,.0f} | {diff} |")
    out += ["", "| bits | acc_width | iCE40 LUT | iCE40 FF | ASIC um^2 |", "|---|---|---|---|---|"]
    for r in report["mac_array_4x4"]:
        out.append(f"| {r['bits']} | {r['acc_width']} | {r['ice40_lut']:,} | {r['ice40_ff']} | "
                   f"{r['asic_um2']:,.0f} |")
    return "\n".join(out)


def _widths(text):
    try:
        vals = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"widths {text!r} are invalid: give comma-separated "
                                         f"integers in 2..16.") from None
    for v in vals:
        if not 2 <= v <= 16:
            raise argparse.ArgumentTypeError(f"width {v} is out of range: allowed values are "
                                             f"2..16.")
    return vals


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m sim.bits_area", description=__doc__.split("\n")[0])
    ap.add_argument("--json", default=str(REPO / "bench" / "bits_area.json"),
                    help="output file (default bench/bits_area.json)")
    ap.add_argument("--quant-bits", type=_widths, default=QUANT_BITS,
                    help="code widths of the quantizer rows (default 2,4,6,8,12,16)")
    ap.add_argument("--mac-bits", type=_widths, default=MAC_BITS,
                    help="operand widths of the MAC-array rows (default 4,6,8)")
    ap.add_argument("--k", type=int, default=1024,
                    help="dot-product length for the narrowest safe accumulator (default 1024)")
    ap.add_argument("--table", action="store_true",
                    help="print the Markdown tables of an existing --json file and exit")
    args = ap.parse_args(argv)
    if args.k < 1:
        ap.exit(2, f"python -m sim.bits_area: --k {args.k} is out of range: allowed values are "
                   f">= 1.\n")
    if args.table:
        try:
            report = json.loads(Path(args.json).read_text())
        except (OSError, ValueError) as e:
            ap.exit(2, f"python -m sim.bits_area: cannot read {args.json}: {e}.\n")
        print(tables(report))
        return 0
    from hw.toolchain import setup_env
    setup_env()
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)

    def write(report):
        out.write_text(json.dumps(report, indent=1) + "\n")
    try:
        report = measure(args.quant_bits, QUANT_MODES, args.mac_bits, args.k, partial=write)
    except ConfigError as e:
        ap.exit(2, f"python -m sim.bits_area: {e}\n")
    write(report)
    print(tables(report))
    print(f"wrote {args.json} ({report['setup']['wall_seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
