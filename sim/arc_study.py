"""ARC's claims measured side by side: lane area, CPU latency, quantization error.

Run ``python -m sim.arc_study`` (a few minutes on a cold synthesis cache, seconds when the sweep
database holds the results). The three parts below are one sweep of :mod:`sim.sweep`
(:func:`spec_dict`, the same spec as ``sweeps/arc.toml``): syntheses, the metric ``arc_latency``
and the metric ``arc_error`` per distribution are stored tasks. It writes
``bench/arc_study.json`` (area rows of lane counts not run this time are kept from the previous
file, :func:`merge_area`), ``docs/img/arc_area.png``, ``docs/img/arc_error.png``, the engine's
report in ``build/sweeps/arc`` (iCE40 LUT vs each quantizer's own error, Pareto front per
distribution) and prints markdown tables.

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

__all__ = ["area_rows", "latency_table", "error_table", "distributions", "run_study",
           "spec_dict", "round_lane_design", "error_metric", "method_error_metric",
           "latency_metric", "merge_area", "AREA_LANES", "DISTRIBUTIONS"]

from hw.toolchain import REPO  # noqa: E402
#: lane counts of the area comparison (see the module docstring and docs/blocks/arc.md)
AREA_LANES = (1,)
F = 8


# ------------------------------------------------------------------------------------------------
# (a) area
# ------------------------------------------------------------------------------------------------

class RoundLaneArea(BlockConfig):
    """Synthesis-only configuration of one :class:`hw.quantizer.QuantizerLane` (the rounder alone,
    without the FP32 multiplier that every mode shares)."""
    BLOCK = "round_lane"
    latency = 0
    PARAMS = (
        Param("mode", str, "rtz", "rounding mode", choices=("rne", "rtz", "sr")),
        Param("frac_bits", int, F, "fraction bits F", lo=1, hi=16),
    )
    TAGS = {"mode": "", "frac_bits": "f"}


def round_lane_design(mode="rtz", frac_bits=F):
    """Sweep design ``sim.arc_study:round_lane_design``: ``(config, component factory)``."""
    from hw.quantizer import QuantizerLane
    cfg = RoundLaneArea(mode=mode, frac_bits=frac_bits)
    return cfg, lambda: QuantizerLane(cfg.frac_bits, (cfg.mode,))


#: the spec of the study, also written out as ``sweeps/arc.toml`` (a test keeps them equal)
SPEC_TOML = REPO / "sweeps" / "arc.toml"


def spec_dict(lanes=AREA_LANES, n_latency=10_000_000, repeats=5, n_error=1 << 20, area=True,
              latency=True) -> dict:
    """The sweep spec (:mod:`sim.sweep.spec`) of the study: part (a) as syntheses for ``ice40``
    and ``generic`` (and the error of each quantizer's own method, metric ``arc_method_error``,
    for the report's area-vs-error front), part (b) as metric ``arc_latency``, part (c) as
    metric ``arc_error`` per distribution."""
    targets = ["ice40", "generic"]
    modes = ["rtz", "rne", "sr"]
    lanes = list(lanes)
    err = {"name": "arc_method_error", "args": {"n": n_error, "seed": 0}}
    grids = []
    if area:
        grids += [
            {"design": "sim.arc_study:round_lane_design", "params": {"mode": modes, "frac_bits": F},
             "measure": ["synth"], "targets": targets},
            {"block": "quantizer", "params": {"lanes": lanes, "mode": modes, "frac_bits": F},
             "measure": ["synth", "metric"], "targets": targets, "metric": err},
            {"block": "arc_quantizer", "params": {"lanes": lanes}, "measure": ["synth", "metric"],
             "targets": targets, "metric": err},
            {"block": "rlsru", "params": {"lanes": sorted(set(lanes) | {16}), "frac_bits": F,
                                          "scheme": "split"},
             "measure": ["synth"], "targets": targets},
            {"block": "arc_stats", "params": {}, "measure": ["synth"], "targets": targets},
        ]
    if latency:
        grids.append({"label": "latency", "params": {"n": n_latency, "repeats": repeats,
                                                      "seed": 0},
                      "measure": ["metric"], "metric": {"name": "arc_latency"}})
    grids.append({"label": "error", "params": {"distribution": list(DISTRIBUTIONS),
                                               "n": n_error, "seed": 0},
                  "measure": ["metric"], "metric": {"name": "arc_error"}})
    return {
        "name": "arc",
        "description": "ARC's claims: lane area (iCE40 LUT, generic cells), CPU latency of RTZ vs "
                       "SR, quantization error of ARC vs max-scaled RNE/SR (sim/arc_study.py).",
        "grid": grids,
        "report": {"x": "ice40.lut", "y": "arc_method_error.rel_mse",
                   "color": "arc_method_error.method",
                   "facet": "arc_method_error.distribution", "effects": ["mode"],
                   "where": {"label": ["quantizer", "arc_quantizer"]}, "out": "build/sweeps/arc"},
    }


def _design_name(point) -> str:
    p = point.params
    return {"round_lane_design": f"round_lane {p.get('mode')}", "quantizer": f"quantizer "
            f"{p.get('mode')}", "arc_quantizer": "arc_quantizer", "rlsru": "rlsru split",
            "arc_stats": "arc_stats"}[point.label]


def area_rows(run, lanes=AREA_LANES) -> list:
    """Part (a) rows from the sweep's synthesis results (module docstring): the rounder alone per
    mode, the whole quantizer per mode and lane count, the ARC quantizer, the RLSRU ``split``
    source, the ARC statistics unit, and SR's sum of quantizer and source."""
    from sim.sweep.spec import make_config
    rows = {}
    for o in run.outcomes:
        if o.task.measure != "synth":
            continue
        pt = o.task.point
        cfg = make_config(pt)[0]
        P = getattr(cfg, "lanes", 1)
        row = rows.setdefault((pt.ident), {"design": _design_name(pt), "lanes": P,
                                           "module": cfg.module_name})
        r = o.row["report"]
        if o.task.target == "ice40":
            row.update(lut=r["lut"], ff=r["ff"], carry=r["carry"], ice40_seconds=r["seconds"],
                       ice40_cached=bool(r["cached"] or o.source == "cached"))
        else:
            row.update(cells=r["cells"], generic_ff=r["ff"], generic_seconds=r["seconds"])
    out = list(rows.values())
    for P in lanes:                                           # SR including its random source
        q = next(r for r in out if r["design"] == "quantizer sr" and r["lanes"] == P)
        g = next(r for r in out if r["design"] == "rlsru split" and r["lanes"] == P)
        out.append({"design": "quantizer sr + rlsru split", "lanes": P, "module": None,
                    "lut": q["lut"] + g["lut"], "ff": q["ff"] + g["ff"],
                    "carry": q["carry"] + g["carry"], "cells": q["cells"] + g["cells"]})
    return out


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

DISTRIBUTIONS = ("gaussian", "laplace", "heavy_tailed_outliers")


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


def _error_row(g, rng, zs) -> dict:
    """The error metrics of one tensor (one row of :func:`error_table`); ``rng`` draws SR's bits."""
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
    return row


ZS = (2.0, 2.5, 3.0, 3.5, 4.0)


def _sr_rng(dist: str, n: int, seed: int):
    """The generator of SR's bits for ``dist`` as the serial :func:`error_table` leaves it: one
    generator for all distributions, ``n`` draws per distribution before this one."""
    rng = np.random.default_rng(seed + 1)
    for _ in range(DISTRIBUTIONS.index(dist)):
        rng.integers(0, 1 << F, n, dtype=np.int64)
    return rng


def error_table(n=1 << 20, seed=0, zs=ZS) -> dict:
    """Error metrics per distribution and method, plus ARC's MSE over a ``z*`` sweep."""
    rng = np.random.default_rng(seed + 1)
    return {name: _error_row(g, rng, zs) for name, g in distributions(n, seed).items()}


def error_metric(cfg, params, n=1 << 20, seed=0, zs=ZS) -> dict:
    """Sweep metric ``arc_error``: the :func:`error_table` row of ``params["distribution"]``
    (equal to the serial table's row: the SR bits are drawn as there, :func:`_sr_rng`)."""
    dist = params["distribution"]
    if dist not in DISTRIBUTIONS:
        raise ValueError(f"distribution {dist!r} is unknown: allowed values are "
                         f"{', '.join(DISTRIBUTIONS)}.")
    n, seed = params.get("n", n), params.get("seed", seed)
    return _error_row(distributions(n, seed)[dist], _sr_rng(dist, n, seed), list(zs))


def method_error_metric(cfg, params, n=1 << 20, seed=0) -> dict:
    """Sweep metric ``arc_method_error`` of a quantizer design point: the error of the method the
    hardware implements (``quantizer`` mode m: max-scaled m; ``arc_quantizer``: ARC's RTZ with
    the z-score clip) on every distribution, one row each (with the same SR bits as
    :func:`error_table`)."""
    if cfg.BLOCK == "arc_quantizer":
        method = "arc_rtz_zclip"
    elif cfg.BLOCK == "quantizer":
        method = f"max_{cfg.mode}"
    else:
        raise ValueError(f"arc_method_error measures quantizer and arc_quantizer points, not "
                         f"{cfg.BLOCK}.")
    rows = []
    for dist, g in distributions(n, seed).items():
        if method == "arc_rtz_zclip":
            arc = arc_quantize(g)
            m = _metrics(g, arc.dequantize(), np.abs(g) <= arc.c)
        else:
            arc_c = arc_quantize(g).c
            m = _metrics(g, _max_scaled(g, cfg.mode, _sr_rng(dist, n, seed)), np.abs(g) <= arc_c)
        rows.append({"distribution": dist, "method": method, **m})
    return {"method": method, "rows": rows}


def latency_metric(cfg, params, n=10_000_000, repeats=5, seed=0) -> dict:
    """Sweep metric ``arc_latency``: :func:`latency_table` (a timing: it differs run to run)."""
    return latency_table(params.get("n", n), params.get("repeats", repeats),
                         params.get("seed", seed))


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
              log=print, jobs=1, db=None, scheduler=None, progress=True) -> dict:
    """All three parts as one sweep (:func:`spec_dict` on :func:`sim.sweep.run_sweep`, results in
    the sweep database); returns the JSON-ready dict."""
    from sim.sweep import parse_spec
    from sim.sweep import run_sweep as engine
    from sim.sweep.store import shown_path
    t0 = time.monotonic()
    spec = parse_spec(spec_dict(lanes, n_latency, repeats, n_error, area))
    run = engine(spec, db=db, jobs=jobs, scheduler=scheduler, progress=progress, say=log)
    if run.failed:
        raise RuntimeError(f"arc study: {len(run.failed)} measurement(s) failed twice, e.g. "
                           f"{run.failed[0].row['stderr'].splitlines()[0]}; see the database "
                           f"{run.db}")
    res = {"z_star": Z_STAR, "frac_bits": F}
    if area:
        res["area"] = area_rows(run, lanes)
        res["area_lanes"] = list(lanes)
    by = {(o.task.target, o.task.point.params.get("distribution")): o.row["report"]
          for o in run.outcomes if o.task.measure == "metric"}
    res["latency"] = by[("arc_latency", None)]
    res["error"] = {d: by[("arc_error", d)] for d in DISTRIBUTIONS}
    res["sweep"] = {"spec": "sweeps/arc.toml", "database": shown_path(run.db), "counts": run.counts,
                    "workers": run.workers, "wall_seconds": run.wall_seconds}
    res["seconds"] = round(time.monotonic() - t0, 1)
    res["_run"] = run
    return res


def merge_area(res, old) -> dict:
    """Keep the area rows of ``old`` (a previous ``bench/arc_study.json``) whose lane counts this
    run did not synthesize (the P = 16 rows of docs/blocks/arc.md come from a 45-minute run)."""
    if not old or "area" not in res:
        return res
    have = {(r["design"], r["lanes"]) for r in res["area"]}
    kept = [r for r in old.get("area", []) if (r["design"], r["lanes"]) not in have
            and r["lanes"] not in res["area_lanes"] and r["lanes"] != 1]
    if kept:
        res["area"] = res["area"] + kept
        res["area_lanes"] = sorted(set(res["area_lanes"]) | {r["lanes"] for r in kept})
        for k in ("area_p16_note",):
            if k in old:
                res[k] = old[k]
        res["area_kept_from_previous_file"] = sorted({f"{r['design']} P={r['lanes']}"
                                                      for r in kept})
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
    ap.add_argument("-j", "--jobs", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--db", help="sweep database (default .cache/sweeps.sqlite)")
    ap.add_argument("--scheduler", help="dask.distributed scheduler address")
    ap.add_argument("--img", default=str(REPO / "docs" / "img"), help="folder of the plots")
    args = ap.parse_args(argv)
    from hw.toolchain import setup_env
    setup_env()
    res = run_study(tuple(args.lanes), args.n_latency, args.repeats, args.n_error,
                    area=not args.no_area, jobs=args.jobs, db=args.db, scheduler=args.scheduler)
    run = res.pop("_run")
    out = Path(args.out)
    old = json.loads(out.read_text()) if out.exists() else None
    res = merge_area(res, old)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    img = Path(args.img)
    img.mkdir(parents=True, exist_ok=True)
    plot_error(res["error"], img / "arc_error.png")
    if "area" in res:
        plot_area(res["area"], img / "arc_area.png")
        import shutil
        from sim.sweep import write_report      # Pareto front of LUT vs error, CSV
        paths = write_report(run)["paths"]
        shutil.copyfile(paths["pareto_png"], img / "arc_pareto.png")
        for k, v in paths.items():
            print(f"report {k}: {v}")
    print(_tables(res))
    print(f"wrote {out} in {res['seconds']} s")


if __name__ == "__main__":
    main()
