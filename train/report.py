"""Hardware figures of a training mode: MAC-array cycles per step and LUTs of the blocks it needs.

Cycles come from the golden cycle model (:meth:`golden.mac_array.MacArrayConfig.gemm_cycles`)
applied to the GEMM shapes one training step really issues (recorded by the arithmetic, see
:mod:`train.arith`); GEMMs run one after another, so the step's cycles are the sum. LUTs are read
from the synthesis results already in ``bench/`` (iCE40 ``SB_LUT4`` counts written by ``make
bench`` and ``make studies``); nothing is synthesized here.
"""

from __future__ import annotations

import json
from pathlib import Path

from golden.mac_array import MacArrayConfig

BENCH = Path(__file__).resolve().parent.parent / "bench"


def step_cycles(shapes, rows=8, cols=8) -> dict:
    """Cycles of one training step's GEMMs on a ``rows x cols`` array.

    Returns ``{"array", "gemms", "macs", "cycles", "utilization", "per_gemm"}``; utilization is
    useful MACs / (rows * cols * cycles).
    """
    cfg = MacArrayConfig(rows=rows, cols=cols)
    per, total, macs = [], 0, 0
    for M, K, N in shapes:
        g = cfg.gemm_cycles(M, K, N)
        per.append({"M": M, "K": K, "N": N, "tiles": g["tiles"], "cycles": g["cycles"],
                    "utilization": round(g["utilization"], 4)})
        total += g["cycles"]
        macs += M * K * N
    return {"array": f"{rows}x{cols}", "gemms": len(per), "macs": macs, "cycles": total,
            "utilization": round(macs / (rows * cols * total), 4) if total else None,
            "per_gemm": per}


def _load(name):
    p = BENCH / name
    return json.loads(p.read_text()) if p.exists() else None


def _arc_area(design, lanes):
    d = _load("arc_study.json")
    for row in (d or {}).get("area", []):
        if row["design"] == design and row["lanes"] == lanes:
            return row["lut"]
    return None


def block_luts(arith, grad=None, rlsru=None, acc=None, lanes=16) -> list:
    """The blocks a mode needs besides the GEMM engine, with their iCE40 LUTs from ``bench/``.

    Each entry is ``{"block", "config", "lut", "source"}``; ``lut`` is ``None`` when no
    synthesis result exists in ``bench/`` for that block.
    """
    out = []
    res = _load("results.json") or {}
    if arith in ("fp32", "int8"):
        lut = (res.get("mac_array", {}).get("area_4x4", {}).get("plain", {}).get("ice40", {})
               .get("lut"))
        out.append({"block": "mac_array", "config": "4x4 INT8, acc32, wrap (8x8 not synthesized)",
                    "lut": lut if arith == "int8" else None,
                    "source": "bench/results.json mac_array.area_4x4.plain.ice40"
                    if arith == "int8" else "FP32 MAC array: not a lobit block"})
    if arith == "int8":
        out.append({"block": "quantizer", "config": f"{lanes} lanes, rne (weights/activations)",
                    "lut": _arc_area("quantizer rne", lanes),
                    "source": "bench/arc_study.json area"})
        if grad in ("rne", "rtz", "sr"):
            out.append({"block": "quantizer", "config": f"{lanes} lanes, {grad} (gradients)",
                        "lut": _arc_area(f"quantizer {grad}", lanes),
                        "source": "bench/arc_study.json area"})
        if grad == "sr":
            sw = _load("rlsru_sweep.json") or {}
            lut = (sw.get("results", {}).get(rlsru, {}).get(str(lanes), {}).get("source", {})
                   .get("ice40", {}).get("lut"))
            out.append({"block": "rlsru", "config": f"{lanes} lanes, F=8, {rlsru}", "lut": lut,
                        "source": "bench/rlsru_sweep.json results"})
        if grad in ("dagq", "gvq"):
            out.append({"block": f"{grad}_quantizer", "config": f"{lanes} lanes", "lut": None,
                        "source": "no 16-lane synthesis result in bench/"})
        if grad == "arc":
            out.append({"block": "arc_quantizer", "config": f"{lanes} lanes",
                        "lut": _arc_area("arc_quantizer", lanes),
                        "source": "bench/arc_study.json area"})
            out.append({"block": "arc_stats", "config": "1 lane, window 12",
                        "lut": _arc_area("arc_stats", 1), "source": "bench/arc_study.json area"})
    if arith == "fp8":
        out.append({"block": "fp_mul", "config": "E4M3 x E5M2 exact", "lut": None,
                    "source": "no synthesis result in bench/"})
        rows = res.get("dga", {}).get("accumulators", {}).get("rows", {})
        key, note = {"fp32": ("seq_fp32", "fp_acc FP32 E8M23"),
                     "seq": ("seq_fp12", "fp_acc FP12 E5M6"),
                     "static": ("dga_fp12", "dga FP12 (synthesized as variant dga)"),
                     "dga": ("dga_fp12", "dga FP12, variant dga"),
                     "dga_exp": ("dga_fp12", "dga FP12 (synthesized as variant dga)")}[acc]
        out.append({"block": "accumulator", "config": note, "lut": rows.get(key, {}).get("lut"),
                    "source": f"bench/results.json dga.accumulators.rows.{key} (one accumulator)"})
    return out
