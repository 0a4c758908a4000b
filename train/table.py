"""``make train``: the whole accuracy / cycles / area / speed table -> ``bench/train.json``.

Runs every mode of the table (3 seeds each) in two worker processes, then a side-by-side speed
benchmark (``fp32`` vs ``int8`` epochs on MNIST-1D, alternating in one process) and the quantizer
throughput before/after its rewrite, and draws test accuracy vs epoch per mode into
``docs/img/train_<dataset>.png``. The JSON is rewritten after every finished mode, so a partial
table survives an interruption.

``python -m train.table [--quick]`` (``--quick``: 1 seed, 2 epochs, a smoke run to /tmp). The
table resumes: the rows already in ``bench/train.json`` are kept and only missing rows run
(``--fresh`` recomputes everything).
"""

from __future__ import annotations

import os

# one BLAS thread per worker: the workers already fill the cores, and the GEMMs are small
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor, as_completed  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

#: (dataset, mode, epochs); epochs None = the dataset default (30 MNIST-1D, 20 digits). The
#: FP12 accumulation modes cost ~20 s per MNIST-1D epoch on an idle core, so the FP8 block runs 6
#: epochs on MNIST-1D only and carries its own FP32 and FP8/FP32-accumulation references at the
#: same epoch count.
FP8_EPOCHS = 6
#: Sakr rows: every assigned width above the integer arithmetic's 16-bit limit is capped at 16
SAKR_CAP = 16


def jobs():
    """The table's runs, slowest first (FP12 accumulation), so two workers finish together."""
    J = []
    for a in ("seq", "static", "dga", "dga_exp"):
        J.append(("mnist1d", {"arith": "fp8", "grad": None, "rlsru": None, "acc": a}, FP8_EPOCHS))
    J.append(("mnist1d", {"arith": "fp32", "grad": None, "rlsru": None, "acc": None}, FP8_EPOCHS))
    J.append(("mnist1d", {"arith": "fp8", "grad": None, "rlsru": None, "acc": "fp32"}, FP8_EPOCHS))
    for ds in ("mnist1d", "digits"):
        J.append((ds, {"arith": "fp32", "grad": None, "rlsru": None, "acc": None}, None))
        for g in ("rne", "rtz", "arc"):
            J.append((ds, {"arith": "int8", "grad": g, "rlsru": None, "acc": None}, None))
        for s in ("per_lane", "leap", "split", "replay"):
            J.append((ds, {"arith": "int8", "grad": "sr", "rlsru": s, "acc": None}, None))
    # the seed methods and the phase RLSRU (issue 11), and Sakr & Shanbhag's per-layer widths
    for ds in ("mnist1d", "digits"):
        J.append((ds, {"arith": "int8", "grad": "sr", "rlsru": "phase", "acc": None}, None))
        for g in ("dagq", "gvq"):
            J.append((ds, {"arith": "int8", "grad": g, "rlsru": None, "acc": None}, None))
        J.append((ds, {"arith": "sakr", "grad": "rne", "rlsru": None, "acc": None,
                       "max_bits": SAKR_CAP}, None))
    return J


def _one(ds, mode, epochs, seeds, first_seed=0):
    from .cli import run_mode
    m = dict(mode, dataset=ds)
    chain = None
    if m["arith"] == "sakr":                  # FP32 statistics -> assignment -> widths
        from .sakr import sakr_chain
        lb, sdoc, adoc = sakr_chain(ds, epochs, m.get("max_bits"))
        m["layer_bits"] = [list(b) for b in lb]
        chain = {"stats": sdoc, "assignment": adoc}
    rec = run_mode(m, epochs, seeds, log=sys.stderr, first_seed=first_seed)
    if chain:
        rec["sakr"] = chain
    return rec


def combine(parts):
    """One record from per-seed records of the same mode (runs concatenated, stats recomputed)."""
    parts = sorted(parts, key=lambda r: r.get("first_seed", 0))
    rec = dict(parts[0])
    rec["runs"] = [x for p in parts for x in p["runs"]]
    rec["seeds"] = len(rec["runs"])
    rec["first_seed"] = 0
    ok = [x["final_acc"] for x in rec["runs"] if x["status"] == "ok"]
    rec["status"] = "ok" if len(ok) == len(rec["runs"]) else "diverged"
    rec["acc_mean"] = float(np.mean(ok)) if rec["status"] == "ok" else None
    rec["acc_std"] = float(np.std(ok)) if rec["status"] == "ok" else None
    rec["seconds_per_epoch"] = float(np.mean([s for x in rec["runs"] if x["status"] == "ok"
                                              for s in x["epoch_seconds"]]))
    rec["wall_seconds"] = sum(p["wall_seconds"] for p in parts)
    return rec


def speed_benchmark(epochs=3):
    """fp32 and int8 (RNE gradients) epochs on MNIST-1D, alternating in this process."""
    from .trainer import train_run
    t = {"fp32": [], "int8-rne": []}
    for i in range(epochs):
        t["fp32"] += train_run("mnist1d", "fp32", epochs=1, seed=i).epoch_seconds
        t["int8-rne"] += train_run("mnist1d", "int8", "rne", epochs=1, seed=i).epoch_seconds
    f, q = float(np.median(t["fp32"])), float(np.median(t["int8-rne"]))
    return {"dataset": "mnist1d", "epochs_each": epochs, "fp32_s": t["fp32"],
            "int8_rne_s": t["int8-rne"], "fp32_median_s": round(f, 3),
            "int8_median_s": round(q, 3), "ratio": round(q / f, 2), "goal_ratio": 3.0}


def quantizer_speed(n=4_000_000):
    """Elements per second of the golden quantizer: the fixed-point chain it had before the
    rewrite (``fp32_mul_bits`` -> ``fp32_to_fixed`` -> ``round_fixed`` -> ``saturate_int8``,
    still the bodies of those functions) vs today's ``quantize_bits`` on the trainer's uint32
    views and on int64 bit patterns (``golden.fp32.to_bits``), one core."""
    from golden.fp32 import fp32_mul_bits, to_bits
    from golden.quantizer import fp32_to_fixed, quantize_bits, round_fixed, saturate_int8
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(n) * 40).astype(np.float32)
    bits64, u32 = to_bits(x), x.view(np.uint32)
    inv = int(to_bits(np.float32(1.3)))
    rnd = rng.integers(0, 256, n)
    out = {}
    for mode in ("rne", "rtz", "sr"):
        r = rnd if mode == "sr" else None
        t0 = time.perf_counter()
        v = fp32_mul_bits(bits64, inv)
        saturate_int8(round_fixed(fp32_to_fixed(v, 8), 8, mode, r))
        t_old = time.perf_counter() - t0
        t0 = time.perf_counter()
        quantize_bits(u32, inv, mode, 8, r)
        t_new = time.perf_counter() - t0
        t0 = time.perf_counter()
        quantize_bits(bits64, inv, mode, 8, r)
        t_new64 = time.perf_counter() - t0
        out[mode] = {"before_elem_per_s": round(n / t_old), "after_elem_per_s": round(n / t_new),
                     "after_int64_bits_elem_per_s": round(n / t_new64)}
    return out


def plot(records, path_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    paths = []
    for ds in ("mnist1d", "digits"):
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        for ax, fp8 in zip(axes, (False, True)):
            for r in records:
                if r["dataset"] != ds or r["status"] != "ok":
                    continue
                is_fp8_block = r["epochs"] == FP8_EPOCHS
                if is_fp8_block != fp8:
                    continue
                acc = np.mean([x["test_acc"] for x in r["runs"]], axis=0) * 100
                ax.plot(np.arange(1, len(acc) + 1), acc, label=r["mode"],
                        ls="--" if r["arith"] == "fp32" else "-")
            ax.set_xlabel("epoch")
            ax.set_ylabel("test accuracy (%), mean of seeds")
            ax.set_title(f"{ds}: " + ("FP8 block" if fp8 else "FP32 and INT8"))
            ax.set_ylim(50 if ds == "mnist1d" else 70, 100)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        p = Path(path_dir) / f"train_{ds}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p))
    return paths


def _label(b) -> str:
    """Short block label for the table: ``quantizer-rne``, ``rlsru-split``, ``acc-FP12`` ..."""
    c = b["config"]
    if b["block"] == "quantizer":
        return "quantizer-" + c.split(", ")[1].split(" ")[0]
    if b["block"] == "rlsru":
        return "rlsru-" + c.split(", ")[-1]
    if b["block"] == "accumulator":
        return c.split(" (")[0].replace(", variant dga", "")
    return b["block"]


def markdown(doc) -> str:
    """The table of ``bench/train.json`` as Markdown (one row per dataset and mode)."""
    names = ["fp32", "int8-rne", "int8-rtz", "int8-sr-per_lane", "int8-sr-leap", "int8-sr-split",
             "int8-sr-replay", "int8-sr-phase", "int8-arc", "int8-dagq", "int8-gvq",
             "sakr-rne-max%d" % SAKR_CAP, "fp8-fp32", "fp8-seq", "fp8-static", "fp8-dga",
             "fp8-dga_exp"]
    recs = sorted(doc["records"], key=lambda r: (
        r["epochs"] == FP8_EPOCHS, ("mnist1d", "digits").index(r["dataset"]),
        names.index(r["mode"]) if r["mode"] in names else 99))
    ref = {(r["dataset"], r["epochs"]): r["acc_mean"] for r in recs
           if r["arith"] == "fp32" and r["status"] == "ok"}
    lines = ["| dataset | mode | epochs | test acc. (mean +- std, %d seeds) | vs FP32 | MAC cycles / "
             "step (8x8) | util. | LUTs of the mode's blocks | s / epoch |" % doc["seeds"],
             "|---|---|---|---|---|---|---|---|---|"]
    for r in recs:
        if r["status"] != "ok":
            lines.append(f"| {r['dataset']} | {r['mode']} | {r['epochs']} | diverged | | | | | |")
            continue
        f = ref.get((r["dataset"], r["epochs"]))
        d = "" if f is None or r["arith"] == "fp32" else f"{100 * (r['acc_mean'] - f):+.2f}"
        m = r.get("mac_array", {})
        blocks = r["blocks"]
        if r["arith"] in ("fp32", "fp8") or (r["arith"] == "int8" and "bits_fwd" not in r):
            from .report import block_luts      # read from bench/ now, as the record was
            blocks = block_luts(r["arith"], r["grad"], r["rlsru"], r["acc"])
        luts = " + ".join(f"{_label(b)} {b['lut'] if b['lut'] else 'n/a'}"
                          for b in blocks if b["lut"] or b["block"] != "mac_array") or "-"
        lines.append(f"| {r['dataset']} | {r['mode']} | {r['epochs']} | "
                     f"{100 * r['acc_mean']:.2f} +- {100 * r['acc_std']:.2f} | {d} | "
                     f"{m.get('cycles', '')} | {100 * m.get('utilization', 0):.1f} % | {luts} | "
                     f"{r['seconds_per_epoch']:.2f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m train.table")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 2 epochs, to /tmp")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "bench" / "train.json"))
    ap.add_argument("--img", default=str(ROOT / "docs" / "img"))
    ap.add_argument("--plot-only", action="store_true", help="redraw the PNGs from --out")
    ap.add_argument("--markdown", action="store_true", help="print the table of --out")
    ap.add_argument("--merge", nargs="*", default=[], metavar="JSON",
                    help="take finished records (and benchmarks) from these files; run only the "
                         "missing jobs")
    ap.add_argument("--fresh", action="store_true",
                    help="ignore the records already in --out (default: keep them and run only "
                         "the missing rows)")
    ap.add_argument("--subset", default="all", choices=("all", "int8", "fp8", "none"),
                    help="which jobs to run (int8: the FP32/INT8 rows; fp8: the FP8 block)")
    ap.add_argument("--per-seed", action="store_true",
                    help="one job per seed (more parallelism for few slow modes)")
    ap.add_argument("--datasets", nargs="*", default=None, help="run only these datasets")
    ap.add_argument("--only", nargs="*", default=None, metavar="MODE",
                    help="run only these mode names (e.g. fp8-dga_exp)")
    a = ap.parse_args(argv)
    if a.markdown:
        print(markdown(json.loads(Path(a.out).read_text())))
        return 0
    if a.plot_only:
        doc = json.loads(Path(a.out).read_text())
        print(plot(doc["records"], a.img))
        return 0
    seeds = 1 if a.quick else 3
    out = Path("/tmp/train_quick.json") if a.quick else Path(a.out)
    img = Path("/tmp") if a.quick else Path(a.img)
    t_start = time.perf_counter()
    doc = {"machine": {"platform": platform.platform(), "python": platform.python_version(),
                       "cpus": os.cpu_count(), "workers": a.workers},
           "date": time.strftime("%Y-%m-%d %H:%M:%S"), "seeds": seeds, "records": []}
    have = {}
    if not a.quick and not a.fresh and out.exists() and str(out) not in a.merge:
        a.merge = [str(out)] + list(a.merge)        # resume: finished rows are kept
    for f in a.merge:
        old = json.loads(Path(f).read_text())
        for k in ("quantizer_speed", "epoch_speed"):
            if k in old and k not in doc:
                doc[k] = old[k]
        for r in old.get("records", []):
            if r["status"] == "ok":
                have[(r["dataset"], r["mode"], r["epochs"])] = r
        doc.setdefault("merged_from", []).extend(old.get("merged_from", []))
        doc["merged_from"].append({"file": f, "date": old.get("date"),
                                                  "wall_seconds": old.get("wall_seconds")})
    doc["records"] = list(have.values())
    if "quantizer_speed" not in doc and a.subset in ("all", "int8"):
        print("==> quantizer throughput", file=sys.stderr)
        doc["quantizer_speed"] = quantizer_speed(400_000 if a.quick else 4_000_000)
    if "epoch_speed" not in doc and a.subset in ("all", "int8"):
        print("==> fp32 vs int8 epoch time, side by side", file=sys.stderr)
        doc["epoch_speed"] = speed_benchmark(1 if a.quick else 3)
    from .cli import mode_name
    from .trainer import HYPER
    J = [(ds, m, ep) for ds, m, ep in jobs()
         if (ds, mode_name(m), ep or HYPER[ds]["epochs"]) not in have
         and (a.subset == "all" or (a.subset == "fp8") == (ep == FP8_EPOCHS))
         and a.subset != "none" and (a.only is None or mode_name(m) in a.only)
         and (a.datasets is None or ds in a.datasets)]
    split = a.per_seed
    pending = {}
    with ProcessPoolExecutor(a.workers) as ex:
        futs = {}
        for ds, m, ep in J:
            if split:
                for sd in range(seeds):
                    futs[ex.submit(_one, ds, m, 2 if a.quick else ep, 1, sd)] = (ds, m, ep)
            else:
                futs[ex.submit(_one, ds, m, 2 if a.quick else ep, seeds)] = (ds, m, ep)
        for f in as_completed(futs):
            rec = f.result()
            if split:
                key = (rec["dataset"], rec["mode"], rec["epochs"])
                pending.setdefault(key, []).append(rec)
                if len(pending[key]) < seeds:
                    continue
                rec = combine(pending.pop(key))
            doc["records"].append(rec)
            print(f"==> {rec['dataset']} {rec['mode']} ({rec['epochs']} epochs): "
                  f"{rec['status']} {rec['acc_mean']}", file=sys.stderr)
            doc["wall_seconds"] = round(time.perf_counter() - t_start, 1)
            out.write_text(json.dumps(doc, indent=1) + "\n")
    order = {(ds, m.get("acc"), m["arith"], m.get("grad"), m.get("rlsru"), ep): i
             for i, (ds, m, ep) in enumerate(J)}
    doc["records"].sort(key=lambda r: order.get((r["dataset"], r["acc"], r["arith"], r["grad"],
                                                 r["rlsru"], r["epochs"] if r["epochs"] == FP8_EPOCHS
                                                 else None), 0))
    doc["images"] = plot(doc["records"], img)
    doc["wall_seconds"] = round(time.perf_counter() - t_start, 1)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"==> {out} written in {doc['wall_seconds']} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
