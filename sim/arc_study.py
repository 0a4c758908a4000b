"""ARC's claims measured side by side: lane area, CPU latency, quantization error.

Run ``python -m sim.arc_study`` (a few minutes on a cold synthesis cache, seconds when cached).
It writes ``bench/arc_study.json`` and ``docs/img/arc_area.png``, ``docs/img/arc_error.png`` and
prints markdown tables.

(a) Area. The rounder alone (:class:`hw.quantizer.QuantizerLane`) and the whole lane
    (:class:`hw.quantizer.Quantizer`) with ``mode`` = rtz / rne / sr (``frac_bits = 8``,
    pipelined) for ``lanes`` in :data:`AREA_LANES` (default 1: wider designs repeat the FP32
    multiplier and took minutes per design, see docs/blocks/arc.md), synthesized with :func:`hw.synth.synthesize`
    for iCE40 (LUT/FF/carry) and the generic target (cells). SR adds its random source: the
    RLSRU ``split`` scheme (:class:`hw.rlsru.Rlsru`, one 16-bit LFSR shared by up to 16 lanes)
    with the same ``lanes`` and ``frac_bits``, reported separately and as a sum. The ARC
    quantizer (clip + RTZ) and the statistics unit are measured too. Synthesis seconds are
    recorded (cached results keep the seconds of the run that produced them).
(b) CPU latency. The golden RTZ lane (:func:`golden.quantizer.quantize_bits`, ``"rtz"``) against
    the golden SR lane (``"sr"``, F = 8) on the same ``10**7``-element tensor, median of repeated
    runs; SR is timed with pre-drawn random bits and with the draw included. A float-path pair
    (NumPy ``trunc`` vs ``floor(v + U)``) is timed too, being closer to a framework quantizer.
(c) Quantization error. On Gaussian, Laplace and heavy-tailed-with-outliers tensors: ARC (RTZ with
    the z-score clip, :func:`golden.arc.arc_quantize`), ARC with RNE, and max-scaled RNE and SR
    (``c = max |g|``): MSE, bias (mean of ``q*s - g``) and cosine similarity to the FP32 tensor.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from golden.arc import Z_STAR, arc_quantize
from golden.arc_quantizer import ArcQuantizerConfig
from golden.arc_stats import ArcStatsConfig
from golden.fp32 import to_bits
from golden.params import BlockConfig, Param
from golden.quantizer import QuantizerConfig, quantize_bits, reciprocal_scale

__all__ = ["area_table", "latency_table", "error_table", "distributions", "run_study",
           "AREA_LANES"]

from hw.toolchain import REPO  # noqa: E402
#: lane counts of the area comparison (see the module docstring and docs/blocks/arc.md)
AREA_LANES = (1,)
F = 8


# ------------------------------------------------------------------------------------------------
# (a) area
# ------------------------------------------------------------------------------------------------

def _synth(cfg, comp, target, workdir):
    from hw.synth import synthesize
    t0 = time.monotonic()
    r = synthesize(cfg, comp, target=target, workdir=workdir)
    keep = {k: r[k] for k in ("module", "cells", "lut", "ff", "carry", "seconds", "cached")}
    keep["wall_seconds"] = round(time.monotonic() - t0, 2)
    return keep


class RoundLaneArea(BlockConfig):
    """Synthesis-only configuration of one :class:`hw.quantizer.QuantizerLane` (the rounder alone,
    without the FP32 multiplier that every mode shares)."""
    BLOCK = "round_lane"
    PARAMS = (
        Param("mode", str, "rtz", "rounding mode", choices=("rne", "rtz", "sr")),
        Param("frac_bits", int, F, "fraction bits F", lo=1, hi=16),
    )
    TAGS = {"mode": "", "frac_bits": "f"}


def area_table(lanes=AREA_LANES, workdir=None, log=print) -> list:
    """Synthesis results, one row per design and lane count (module docstring, part (a)).

    Rows: the rounder alone (:class:`hw.quantizer.QuantizerLane`, ``F = 8``) per mode; the whole
    :class:`hw.quantizer.Quantizer` (multiplier + rounder + registers) per mode and lane count;
    the RLSRU ``split`` source for those lane counts and for 16 lanes; SR's sum of both; the ARC
    quantizer and the default ARC statistics unit.
    """
    from golden.rlsru import RlsruConfig
    from hw.arc_quantizer import ArcQuantizer
    from hw.arc_stats import ArcStats
    from hw.quantizer import Quantizer, QuantizerLane
    from hw.rlsru import Rlsru
    workdir = Path(workdir or REPO / ".cache" / "arc_study")
    rows = []
    designs = []
    for mode in ("rtz", "rne", "sr"):
        c = RoundLaneArea(mode=mode)
        designs.append((f"round_lane {mode}", 1, c, QuantizerLane(F, (mode,))))
    for P in lanes:
        for mode in ("rtz", "rne", "sr"):
            c = QuantizerConfig(lanes=P, mode=mode, frac_bits=F)
            designs.append((f"quantizer {mode}", P, c, Quantizer(c)))
        c = ArcQuantizerConfig(lanes=P)
        designs.append(("arc_quantizer", P, c, ArcQuantizer(c)))
    for P in sorted(set(lanes) | {16}):
        c = RlsruConfig(lanes=P, frac_bits=F, scheme="split")
        designs.append(("rlsru split", P, c, Rlsru(c)))
    c = ArcStatsConfig()
    designs.append(("arc_stats", c.lanes, c, ArcStats(c)))
    for name, P, cfg, comp in designs:
        row = {"design": name, "lanes": P, "module": cfg.module_name}
        for target in ("ice40", "generic"):
            r = _synth(cfg, comp, target, workdir)
            if target == "ice40":
                row.update(lut=r["lut"], ff=r["ff"], carry=r["carry"],
                           ice40_seconds=r["seconds"], ice40_cached=r["cached"])
            else:
                row.update(cells=r["cells"], generic_ff=r["ff"], generic_seconds=r["seconds"])
        log(f"  {name:14s} P={P:2d}: {row['lut']} LUT, {row['ff']} FF, {row['cells']} cells "
            f"({row['ice40_seconds']} s + {row['generic_seconds']} s synthesis)")
        rows.append(row)
    for P in lanes:                                           # SR including its random source
        q = next(r for r in rows if r["design"] == "quantizer sr" and r["lanes"] == P)
        g = next(r for r in rows if r["design"] == "rlsru split" and r["lanes"] == P)
        rows.append({"design": "quantizer sr + rlsru split", "lanes": P, "module": None,
                     "lut": q["lut"] + g["lut"], "ff": q["ff"] + g["ff"],
                     "carry": q["carry"] + g["carry"], "cells": q["cells"] + g["cells"]})
    return rows


# ------------------------------------------------------------------------------------------------
# (b) CPU latency
# ------------------------------------------------------------------------------------------------

def _median_time(fn, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)), [round(t, 4) for t in ts]


def latency_table(n=10_000_000, repeats=5, seed=0) -> dict:
    """CPU latency of the golden RTZ and SR quantizers on one ``n``-element tensor."""
    rng = np.random.default_rng(seed)
    g = (rng.standard_normal(n) * 1e-3).astype(np.float32)
    c = np.float32(np.abs(g).max())
    s = np.float32(c / np.float32(127))
    inv = int(to_bits(reciprocal_scale(s)))
    xb = to_bits(g)
    r = rng.integers(0, 1 << F, n, dtype=np.int64)
    out = {"n": n, "repeats": repeats}
    fns = {
        "golden_rtz": lambda: quantize_bits(xb, inv, "rtz", F),
        "golden_sr": lambda: quantize_bits(xb, inv, "sr", F, r),
        "golden_sr_with_rng": lambda: quantize_bits(
            xb, inv, "sr", F, np.random.default_rng(1).integers(0, 1 << F, n, dtype=np.int64)),
        "float_rtz": lambda: np.clip(np.trunc(g * np.float32(1 / s)), -127, 127).astype(np.int8),
        "float_sr_with_rng": lambda: np.clip(np.floor(g * np.float32(1 / s) + np.random.default_rng(
            1).random(n, dtype=np.float32)), -127, 127).astype(np.int8),
    }
    for name, fn in fns.items():
        fn()                                                   # warm-up
        med, all_t = _median_time(fn, repeats)
        out[name] = {"median_s": round(med, 4), "runs_s": all_t}
    for sr in ("golden_sr", "golden_sr_with_rng"):
        out[f"rtz_vs_{sr}_reduction"] = round(1 - out["golden_rtz"]["median_s"] /
                                              out[sr]["median_s"], 4)
    out["float_rtz_vs_float_sr_with_rng_reduction"] = round(
        1 - out["float_rtz"]["median_s"] / out["float_sr_with_rng"]["median_s"], 4)
    out["paper_claim_reduction"] = 0.43
    return out


# ------------------------------------------------------------------------------------------------
# (c) quantization error
# ------------------------------------------------------------------------------------------------

def distributions(n, seed=0) -> dict:
    """The three test tensors (float32, scale about 1e-3)."""
    rng = np.random.default_rng(seed)
    heavy = rng.standard_t(3, n) * 1e-3
    k = max(1, n // 1000)                                      # 0.1 % outliers at 30-100 x
    idx = rng.choice(n, k, replace=False)
    heavy[idx] = np.sign(rng.standard_normal(k)) * rng.uniform(30, 100, k) * 1e-3
    return {
        "gaussian": (rng.standard_normal(n) * 1e-3).astype(np.float32),
        "laplace": (rng.laplace(size=n) * 1e-3).astype(np.float32),
        "heavy_tailed_outliers": heavy.astype(np.float32),
    }


def _metrics(g, deq, inl=None) -> dict:
    """MSE, relative MSE, bias, cosine, fraction of zeros; with ``inl`` (a mask, ARC's inlier
    magnitudes ``|g| <= c``) also the MSE restricted to those elements."""
    g64, d64 = g.astype(np.float64), deq.astype(np.float64)
    err = d64 - g64
    mse = float(np.mean(err ** 2))
    out = {"mse": mse, "rel_mse": mse / float(np.mean(g64 ** 2)), "bias": float(err.mean()),
           "cosine": float(g64 @ d64 / (np.linalg.norm(g64) * np.linalg.norm(d64) or 1.0)),
           "zero_frac": float(np.mean(deq == 0))}
    if inl is not None:
        out["mse_inliers"] = float(np.mean(err[inl] ** 2))
    return out


def _max_scaled(g, mode, rng):
    c = np.float32(np.abs(g).max())
    s = np.float32(c / np.float32(127))
    inv = int(to_bits(reciprocal_scale(s)))
    r = rng.integers(0, 1 << F, g.size, dtype=np.int64) if mode == "sr" else None
    codes, _, _ = quantize_bits(to_bits(g), inv, mode, F, r)
    return (codes.astype(np.float32) * s).astype(np.float32)


def error_table(n=1 << 20, seed=0, zs=(2.0, 2.5, 3.0, 3.5, 4.0)) -> dict:
    """Error metrics per distribution and method, plus ARC's MSE over a ``z*`` sweep."""
    rng = np.random.default_rng(seed + 1)
    out = {}
    for name, g in distributions(n, seed).items():
        arc = arc_quantize(g)
        arc_rne = arc_quantize(g, rounding="rne")
        inl = np.abs(g) <= arc.c
        row = {
            "arc_rtz_zclip": _metrics(g, arc.dequantize(), inl),
            "arc_rne_zclip": _metrics(g, arc_rne.dequantize(), inl),
            "max_rne": _metrics(g, _max_scaled(g, "rne", rng), inl),
            "max_sr": _metrics(g, _max_scaled(g, "sr", rng), inl),
        }
        row["clip_value"] = float(arc.c)
        row["max_abs"] = float(np.abs(g).max())
        row["clipped_frac"] = float(arc.clip.mean())
        row["adaptive_mode"] = arc_quantize(g, rounding="adaptive").mode
        row["z_sweep_arc_rtz_mse"] = {str(z): _metrics(g, arc_quantize(g, z=z).dequantize())["mse"]
                                      for z in zs}
        out[name] = row
    return out


# ------------------------------------------------------------------------------------------------
# plots and driver
# ------------------------------------------------------------------------------------------------

METHODS = ("arc_rtz_zclip", "arc_rne_zclip", "max_rne", "max_sr")


def plot_error(err: dict, path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    dists = list(err)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    x = np.arange(len(dists))
    w = 0.2
    for k, m in enumerate(METHODS):
        axes[0].bar(x + (k - 1.5) * w, [err[d][m]["rel_mse"] for d in dists], w, label=m)
        axes[1].bar(x + (k - 1.5) * w, [err[d][m]["bias"] / np.sqrt(err[d][m]["mse"] + 1e-300)
                                        for d in dists], w, label=m)
        axes[2].bar(x + (k - 1.5) * w, [1 - err[d][m]["cosine"] for d in dists], w, label=m)
    axes[0].set_yscale("log")
    axes[0].set_title("MSE / mean(g^2)")
    axes[1].set_title("bias / RMSE")
    axes[2].set_yscale("log")
    axes[2].set_title("1 - cosine similarity")
    for ax in axes:
        ax.set_xticks(x, [d.replace("_", "\n") for d in dists], fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle("INT8 gradient quantization error vs the FP32 tensor (2^20 elements)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_area(rows: list, path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = ("round_lane rtz", "round_lane rne", "round_lane sr", "quantizer rtz", "quantizer rne",
             "quantizer sr", "quantizer sr + rlsru split", "arc_quantizer")
    lanes = [1]
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    x = np.arange(len(names))
    w = 0.8 / len(lanes)
    for k, P in enumerate(lanes):
        sel = [next(r for r in rows if r["design"] == n and r["lanes"] == P) for n in names]
        axes[0].bar(x + k * w, [r["lut"] for r in sel], w, label=f"P={P}")
        axes[1].bar(x + k * w, [r["cells"] for r in sel], w, label=f"P={P}")
    axes[0].set_title("iCE40 LUT4")
    axes[1].set_title("generic Yosys cells")
    for ax in axes:
        ax.set_xticks(x + w * (len(lanes) - 1) / 2,
                      [n.replace(" + ", "+\n").replace(" ", "\n") for n in names], fontsize=7)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_study(lanes=AREA_LANES, n_latency=10_000_000, repeats=5, n_error=1 << 20, area=True,
              log=print) -> dict:
    """All three parts; returns the JSON-ready dict."""
    t0 = time.monotonic()
    res = {"z_star": Z_STAR, "frac_bits": F}
    if area:
        log("(a) area")
        res["area"] = area_table(lanes, log=log)
        res["area_lanes"] = list(lanes)
    log("(b) CPU latency")
    res["latency"] = latency_table(n_latency, repeats)
    log("(c) quantization error")
    res["error"] = error_table(n_error)
    res["seconds"] = round(time.monotonic() - t0, 1)
    return res


def _tables(res) -> str:
    lines = []
    if "area" in res:
        lines += ["| design | P | iCE40 LUT | FF | carry | generic cells |", "|---|---|---|---|---|---|"]
        for r in res["area"]:
            lines.append(f"| {r['design']} | {r['lanes']} | {r['lut']} | {r['ff']} | {r['carry']} "
                         f"| {r['cells']} |")
        lines.append("")
    lat = res["latency"]
    lines += ["| CPU latency (n = %d) | median s |" % lat["n"], "|---|---|"]
    for k in ("golden_rtz", "golden_sr", "golden_sr_with_rng", "float_rtz", "float_sr_with_rng"):
        lines.append(f"| {k} | {lat[k]['median_s']} |")
    lines.append("")
    lines += ["| distribution | method | MSE | rel. MSE | MSE on |g| <= c | bias | cosine | zeros |",
              "|---|---|---|---|---|---|---|---|"]
    for d, row in res["error"].items():
        for m in METHODS:
            e = row[m]
            lines.append(f"| {d} | {m} | {e['mse']:.3e} | {e['rel_mse']:.3e} | "
                         f"{e['mse_inliers']:.3e} | {e['bias']:.3e} | {e['cosine']:.6f} | "
                         f"{e['zero_frac']:.4f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m sim.arc_study", description=__doc__.split("\n")[0])
    ap.add_argument("--lanes", type=int, nargs="+", default=list(AREA_LANES),
                    help="lane counts of the area comparison (default: %(default)s)")
    ap.add_argument("--n-latency", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--n-error", type=int, default=1 << 20)
    ap.add_argument("--no-area", action="store_true", help="skip synthesis")
    ap.add_argument("--out", default=str(REPO / "bench" / "arc_study.json"))
    args = ap.parse_args(argv)
    from hw.toolchain import setup_env
    setup_env()
    res = run_study(tuple(args.lanes), args.n_latency, args.repeats, args.n_error,
                    area=not args.no_area)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    img = REPO / "docs" / "img"
    img.mkdir(parents=True, exist_ok=True)
    plot_error(res["error"], img / "arc_error.png")
    if "area" in res:
        plot_area(res["area"], img / "arc_area.png")
    print(_tables(res))
    print(f"wrote {out} in {res['seconds']} s")


if __name__ == "__main__":
    main()
