"""Accuracy against code width: ``python -m train.bits_sweep`` -> ``bench/train_bits.json``.

Two sweeps per dataset (MNIST-1D and digits), each point trained with seeds 0, 1, 2:

* **gradient bits** 2..8 (weights and activations at 8 bits, RNE) for the gradient rules
  ``rne``, ``rtz``, ``arc`` (RTZ + z-score clip, adaptive), ``sr`` with the ``per_lane`` and the
  ``phase`` RLSRU, and ``dagq``;
* **forward bits** 2..8 (weights and activations), gradients at 8 bits with RNE;

plus the FP32 reference at the same epoch count. The runs are ordered seed-major (every point of
seed 0, then seed 1, then seed 2), so an interrupted sweep leaves complete curves; the JSON is
rewritten after every run, and a new start reuses every record already in it (same dataset, mode,
epochs and seed) and runs only the missing ones. One worker process; a progress line per run on
stderr.

``--quick``: 1 seed, 1 epoch, widths 2, 4, 8, to ``/tmp/train_bits_quick.json`` (a smoke run).
``--plot-only`` redraws ``docs/img/train_bits_*.png`` from the JSON; ``--markdown`` prints its
tables.
"""

from __future__ import annotations

import os

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from .arith import int_mode_name  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
#: epochs per dataset, chosen so the ~300 runs fit about 50 minutes of one core (docs/training.md)
EPOCHS = {"mnist1d": 7, "digits": 10}
DATASETS = ("mnist1d", "digits")
BITS = tuple(range(2, 9))
SEEDS = 3
#: gradient rules of the gradient-width sweep: (label, grad, rlsru)
GRAD_MODES = (("rne", "rne", None), ("rtz", "rtz", None), ("arc", "arc", None),
              ("sr-per_lane", "sr", "per_lane"), ("sr-phase", "sr", "phase"),
              ("dagq", "dagq", None))


def points(bits=BITS, datasets=DATASETS):
    """The sweep's runs of one seed: ``(dataset, arith, grad, rlsru, bits_fwd, bits_grad)``,
    without duplicates (forward 8 / gradient 8 RNE is one run)."""
    out, seen = [], set()
    for ds in datasets:
        cand = [(ds, "fp32", None, None, 8, 8)]
        cand += [(ds, "int8", g, r, 8, b) for _, g, r in GRAD_MODES for b in bits]
        cand += [(ds, "int8", "rne", None, b, 8) for b in bits]
        for p in cand:
            if p not in seen:
                seen.add(p)
                out.append(p)
    return out


def name_of(p) -> str:
    ds, arith, grad, rlsru, bf, bg = p
    return "fp32" if arith == "fp32" else int_mode_name(grad, rlsru, bf, bg)


def _run(p, epochs, seed):
    from .trainer import Diverged, train_run
    ds, arith, grad, rlsru, bf, bg = p
    t0 = time.perf_counter()
    rec = {"dataset": ds, "mode": name_of(p), "arith": arith, "grad": grad, "rlsru": rlsru,
           "bits_fwd": bf, "bits_grad": bg, "epochs": epochs, "seed": seed}
    try:
        r = train_run(ds, arith, grad or "rne", rlsru or "split", "dga", epochs, seed,
                      bits_fwd=bf, bits_grad=bg)
        rec.update(status="ok", final_acc=r.final_acc, test_acc=[round(a, 4) for a in r.test_acc],
                   train_loss=[round(x, 5) for x in r.train_loss], int_overflows=r.int_overflows)
    except Diverged as e:
        rec.update(status="diverged", epoch=e.epoch, step=e.step, loss=str(e.loss))
    rec["seconds"] = round(time.perf_counter() - t0, 2)
    return rec


def summarize(records):
    """``{(dataset, mode): {"mean", "std", "n", "diverged", ...}}`` over the seeds present."""
    groups = {}
    for r in records:
        groups.setdefault((r["dataset"], r["mode"]), []).append(r)
    out = {}
    for k, rs in groups.items():
        ok = [r["final_acc"] for r in rs if r["status"] == "ok"]
        r0 = rs[0]
        out[k] = {"dataset": k[0], "mode": k[1], "grad": r0["grad"], "rlsru": r0["rlsru"],
                  "arith": r0["arith"], "bits_fwd": r0["bits_fwd"], "bits_grad": r0["bits_grad"],
                  "epochs": r0["epochs"], "n": len(ok), "diverged": len(rs) - len(ok),
                  "mean": float(np.mean(ok)) if ok else None,
                  "std": float(np.std(ok)) if ok else None,
                  "seeds": sorted(r["seed"] for r in rs)}
    return out


def curves(summary, ds):
    """``(fp32, grad_curves {label: [(bits, mean, std)]}, fwd_curve [(bits, mean, std)])``."""
    fp = summary.get((ds, "fp32"))
    g = {}
    for label, grad, rl in GRAD_MODES:
        pts = []
        for b in BITS:
            s = summary.get((ds, int_mode_name(grad, rl, 8, b)))
            if s and s["mean"] is not None:
                pts.append((b, s["mean"], s["std"]))
        g[label] = pts
    f = []
    for b in BITS:
        s = summary.get((ds, int_mode_name("rne", None, b, 8)))
        if s and s["mean"] is not None:
            f.append((b, s["mean"], s["std"]))
    return fp, g, f


def plot(doc, img_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    summary = summarize(doc["records"])
    img_dir = Path(img_dir)
    paths = []

    def fp_line(ax, fp):
        if fp and fp["mean"] is not None:
            m, s = 100 * fp["mean"], 100 * fp["std"]
            ax.axhline(m, color="k", ls="--", lw=1, label=f"FP32 ({m:.1f} %)")
            ax.axhspan(m - s, m + s, color="k", alpha=0.08)

    def finish(fig, ax, fp, xlabel, title, name):
        fp_line(ax, fp)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy (%), mean +- std over seeds")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(img_dir / name, dpi=110)
        plt.close(fig)
        paths.append(img_dir / name)

    for ds in DATASETS:
        fp, g, f = curves(summary, ds)
        ep = doc["epochs"][ds]
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for k, (label, pts) in enumerate(g.items()):
            if pts:
                b, m, s = map(np.array, zip(*pts))
                ax.errorbar(b + (k - 2.5) * 0.05, 100 * m, yerr=100 * s, marker="o", ms=3,
                            capsize=2, label=label)
        finish(fig, ax, fp, "gradient code width (bits); weights and activations 8 bits",
               f"{ds}: accuracy vs gradient bits ({ep} epochs)", f"train_bits_grad_{ds}.png")
        fig, ax = plt.subplots(figsize=(7, 4.5))
        if f:
            b, m, s = map(np.array, zip(*f))
            ax.errorbar(b, 100 * m, yerr=100 * s, marker="o", capsize=2, label="RNE, gradients 8 bits")
        finish(fig, ax, fp, "weight and activation code width (bits)",
               f"{ds}: accuracy vs forward bits ({ep} epochs)", f"train_bits_fwd_{ds}.png")
    area = ROOT / "bench" / "bits_area.json"
    if area.exists():
        p = plot_area(json.loads(area.read_text()), summary, img_dir / "train_bits_area.png")
        if p:
            paths.append(p)
    return [str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in paths]


#: the quantizer mode of bench/bits_area.json that implements each gradient rule
AREA_MODE = {"rne": "rne", "rtz": "rtz", "sr-per_lane": "sr", "sr-phase": "sr", "arc": "arc",
             "dagq": "dagq"}


def plot_area(area, summary, path):
    """Gradient quantizer area (iCE40 LUTs and ASIC um^2 of ``bench/bits_area.json``) against
    the accuracy of the matching (rule, width) point, one marker per dataset."""
    import matplotlib.pyplot as plt
    rows = area.get("quantizer", [])
    if not rows:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    drawn = False
    for ax, key, unit in zip(axes, ("ice40_lut", "asic_um2"), ("iCE40 LUT4", "ASIC um^2")):
        for label, grad, rl in GRAD_MODES:
            for ds, mk in zip(DATASETS, ("o", "s")):
                xs, ys, bs = [], [], []
                for r in rows:
                    if r.get("mode") != AREA_MODE[label] or r.get(key) is None:
                        continue
                    s = summary.get((ds, int_mode_name(grad, rl, 8, int(r["bits"]))))
                    if s and s["mean"] is not None:
                        xs.append(r[key])
                        ys.append(100 * s["mean"])
                        bs.append(int(r["bits"]))
                if xs:
                    xs, ys, bs = zip(*sorted(zip(xs, ys, bs), key=lambda t: t[2]))
                    ax.plot(xs, ys, marker=mk, ls=":", label=f"{label} {ds}")
                    for x, y, b in zip(xs, ys, bs):
                        ax.annotate(str(b), (x, y), fontsize=6, xytext=(2, 2),
                                    textcoords="offset points")
                    drawn = True
        ax.set_xlabel(f"one gradient quantizer lane ({unit})")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
    fig.suptitle("accuracy vs gradient quantizer area (bench/bits_area.json; SR lane without its "
                 "RLSRU; labels: gradient bits)")
    fig.tight_layout()
    if not drawn:
        plt.close(fig)
        return None
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def markdown(doc) -> str:
    """Two tables per dataset: accuracy (mean +- std) by gradient rule x gradient bits, and by
    forward bits."""
    summary = summarize(doc["records"])
    lines = []
    for ds in DATASETS:
        fp, g, f = curves(summary, ds)
        ep = doc["epochs"][ds]
        ref = "" if not fp or fp["mean"] is None else \
            f"FP32 {100 * fp['mean']:.2f} +- {100 * fp['std']:.2f} ({fp['n']} seeds)"
        lines += [f"**{ds}**, {ep} epochs, {ref}; gradient bits (weights/activations 8 bits):", "",
                  "| rule | " + " | ".join(f"{b} bits" for b in BITS) + " |",
                  "|---|" + "---|" * len(BITS)]
        for label, grad, rl in GRAD_MODES:
            cells = []
            for b in BITS:
                s = summary.get((ds, int_mode_name(grad, rl, 8, b)))
                cells.append(_cell(s))
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines += ["", f"**{ds}** forward bits (gradients 8 bits, RNE):", "",
                  "| | " + " | ".join(f"{b} bits" for b in BITS) + " |",
                  "|---|" + "---|" * len(BITS)]
        cells = [_cell(summary.get((ds, int_mode_name("rne", None, b, 8)))) for b in BITS]
        lines += ["| rne | " + " | ".join(cells) + " |", ""]
    return "\n".join(lines)


def smallest_width(pts, ref, tol=0.01):
    """Smallest width ``b`` such that every swept width ``>= b`` has a mean within ``tol`` of
    ``ref`` (None if even the widest is not)."""
    best = None
    for b, m, _ in sorted(pts, reverse=True):
        if m < ref - tol:
            break
        best = b
    return best


def answers(doc) -> str:
    """The figures docs/training.md quotes, derived from the records (Markdown lines)."""
    summary = summarize(doc["records"])
    out = []
    for ds in DATASETS:
        fp, g, f = curves(summary, ds)
        if not fp or fp["mean"] is None:
            continue
        ref = fp["mean"]
        w = {k: smallest_width(v, ref) for k, v in g.items()}
        out.append(f"* {ds}: smallest gradient width within 1 point of FP32 ({100 * ref:.2f} %): "
                   + ", ".join(f"{k} {v if v else '> 8'}" for k, v in w.items())
                   + f"; forward width (gradients 8-bit RNE): {smallest_width(f, ref) or '> 8'}")
        det = {k: {b: (m, sd) for b, m, sd in v} for k, v in g.items()}
        rows = []
        for b in BITS:
            base = [det[k][b] for k in ("rne", "rtz") if b in det[k]]
            srs = [det[k][b] for k in ("sr-per_lane", "sr-phase") if b in det[k]]
            if not base or not srs:
                continue
            bm, bs = max(base)
            sm, ss = min(srs)
            tag = " (beyond both stds)" if sm - bm > max(bs, ss) else ""
            rows.append(f"{b}: {100 * (sm - bm):+.1f}{tag}")
        out.append(f"  * worse SR scheme minus better of RNE/RTZ, points, per gradient width: "
                   + "; ".join(rows))
        rows = []
        for b in BITS:
            if b in det["arc"] and b in det["rtz"]:
                rows.append(f"{b}: {100 * (det['arc'][b][0] - det['rtz'][b][0]):+.1f}")
        out.append("  * ARC minus RTZ, points: " + "; ".join(rows))
        rows = []
        for b in BITS:
            if b in det["dagq"] and b in det["sr-per_lane"]:
                rows.append(f"{b}: {100 * (det['dagq'][b][0] - det['sr-per_lane'][b][0]):+.1f}")
        out.append("  * DAGQ minus SR per-lane, points: " + "; ".join(rows))
    return "\n".join(out)


def _cell(s):
    if not s:
        return "-"
    if s["mean"] is None:
        return f"diverged ({s['diverged']})"
    d = f" ({s['diverged']} div.)" if s["diverged"] else ""
    return f"{100 * s['mean']:.1f} +- {100 * s['std']:.1f}{d}"


def _bar(done, total, width=20):
    k = int(round(width * done / total)) if total else width
    return "#" * k + "." * (width - k)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m train.bits_sweep")
    ap.add_argument("--quick", action="store_true", help="1 seed, 1 epoch, widths 2/4/8, to /tmp")
    ap.add_argument("--out", default=str(ROOT / "bench" / "train_bits.json"))
    ap.add_argument("--img", default=str(ROOT / "docs" / "img"))
    ap.add_argument("--seeds", type=int, default=SEEDS)
    ap.add_argument("--plot-only", action="store_true", help="redraw the PNGs from --out")
    ap.add_argument("--markdown", action="store_true", help="print the tables of --out")
    a = ap.parse_args(argv)
    if a.markdown or a.plot_only:
        doc = json.loads(Path(a.out).read_text())
        if a.plot_only:
            print("\n".join(plot(doc, a.img)))
        if a.markdown:
            print(markdown(doc))
            print(answers(doc))
        return 0
    bits = (2, 4, 8) if a.quick else BITS
    epochs = {ds: 1 for ds in DATASETS} if a.quick else dict(EPOCHS)
    seeds = 1 if a.quick else a.seeds
    out = Path("/tmp/train_bits_quick.json") if a.quick else Path(a.out)
    img = Path("/tmp") if a.quick else Path(a.img)
    doc = {"machine": {"platform": platform.platform(), "python": platform.python_version(),
                       "cpus": os.cpu_count(), "workers": 1},
           "epochs": epochs, "seeds": seeds, "bits": list(bits),
           "grad_modes": [m[0] for m in GRAD_MODES], "records": [], "sessions": []}
    have = {}
    if out.exists():
        old = json.loads(out.read_text())
        doc["sessions"] = old.get("sessions", [])
        for r in old.get("records", []):
            have[(r["dataset"], r["mode"], r["epochs"], r["seed"])] = r
    doc["records"] = list(have.values())
    todo = [(p, sd) for sd in range(seeds) for p in points(bits)
            if (p[0], name_of(p), epochs[p[0]], sd) not in have]
    session = {"start": time.strftime("%Y-%m-%d %H:%M:%S"), "runs": len(todo),
               "reused": len(have), "load_start": os.getloadavg()[0]}
    doc["sessions"].append(session)
    print(f"==> {len(todo)} runs to do, {len(have)} reused from {out}", file=sys.stderr)
    t0 = time.perf_counter()
    for k, (p, sd) in enumerate(todo):
        rec = _run(p, epochs[p[0]], sd)
        doc["records"].append(rec)
        el = time.perf_counter() - t0
        eta = el / (k + 1) * (len(todo) - k - 1)
        acc = f"{100 * rec['final_acc']:.1f} %" if rec["status"] == "ok" else rec["status"]
        print(f"[{_bar(k + 1, len(todo))}] {k + 1}/{len(todo)} {p[0]} {rec['mode']} seed {sd}: "
              f"{acc} in {rec['seconds']:.1f} s; elapsed {el / 60:.1f} min, eta {eta / 60:.1f} "
              f"min, load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
        session.update(end=time.strftime("%Y-%m-%d %H:%M:%S"), wall_seconds=round(el, 1),
                       done=k + 1, load_end=os.getloadavg()[0])
        out.write_text(json.dumps(doc, indent=1) + "\n")
    doc["images"] = plot(doc, img)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"==> {out} written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
