"""Sweep reports: flat records, the Pareto front, Markdown, PNG plots and a CSV export.

A *record* is one design point with every measurement flattened into columns: the point's
parameters by name, then ``<target>.<key>`` for synthesis (``ice40.lut``, ``asic.area_um2``),
``sim.<simulator>.<key>`` for simulation, ``<metric>.<key>`` for a study metric and
``train.<key>`` for a trainer run; nested dicts become dotted names, lists are left out. A metric
that returns ``rows`` gives one record per row (``<metric>.<column>``).

``[report]`` of the spec chooses the axes: ``x`` (cost, e.g. ``asic.area_um2``), ``y`` (error or
accuracy), ``x_sense``/``y_sense`` (``min`` or ``max``, default ``min``), ``color`` and ``facet``
(columns), ``effects`` (parameters to plot one by one), ``where`` (``{column = value or [values]}``
filter) and ``out`` (output folder).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

__all__ = ["records", "pareto_front", "write_report", "flatten"]


def flatten(d, prefix="") -> dict:
    out = {}
    for k, v in d.items():
        name = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.update(flatten(v, name))
        elif isinstance(v, (int, float, str, bool)) or v is None:
            out[name] = v
    return out


def _prefix(task) -> str:
    if task.measure == "synth":
        return task.target
    if task.measure == "sim":
        return f"sim.{task.target}"
    if task.measure == "metric":
        return task.target.split(":")[-1]
    return "train"


def records(run) -> list:
    """Flat records of a :class:`sim.sweep.engine.SweepRun` (ok measurements only)."""
    by_point = {}
    order = []
    for o in run.outcomes:
        p = o.task.point
        if p.ident not in by_point:
            by_point[p.ident] = {"base": {"label": p.label, "block": p.block, **p.params},
                                 "rows": []}
            order.append(p.ident)
        if o.row["status"] != "ok":
            continue
        rep = dict(o.row["report"] or {})
        pre = _prefix(o.task)
        rows = rep.pop("rows", None)
        by_point[p.ident]["base"].update(flatten(rep, pre))
        if rows:
            by_point[p.ident]["rows"].append([flatten(r, pre) for r in rows])
    out = []
    for ident in order:
        e = by_point[ident]
        if not e["rows"]:
            out.append(e["base"])
        for rows in e["rows"]:
            out += [{**e["base"], **r} for r in rows]
    return out


def _num(v):
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)) and math.isfinite(v):
        return float(v)
    return None


def pareto_front(recs, x, y, x_sense="min", y_sense="min") -> list:
    """Indices of the records not dominated in (x, y) (records lacking either are skipped)."""
    sx = 1.0 if x_sense == "min" else -1.0
    sy = 1.0 if y_sense == "min" else -1.0
    pts = [(i, sx * _num(r.get(x)), sy * _num(r.get(y))) for i, r in enumerate(recs)
           if _num(r.get(x)) is not None and _num(r.get(y)) is not None]
    front = []
    for i, a, b in pts:
        if not any((c <= a and d <= b) and (c < a or d < b) for _, c, d in pts):
            front.append(i)
    return front


def _filter(recs, where):
    if not where:
        return recs
    out = []
    for r in recs:
        ok = True
        for k, v in where.items():
            allowed = v if isinstance(v, list) else [v]
            if r.get(k) not in allowed:
                ok = False
        if ok:
            out.append(r)
    return out


def _columns(recs) -> list:
    cols = []
    for r in recs:
        for k in r:
            if k not in cols:
                cols.append(k)
    return cols


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def _plot_pareto(recs, rep, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    x, y = rep["x"], rep["y"]
    color, facet = rep.get("color"), rep.get("facet")
    groups = {}
    for r in recs:
        groups.setdefault(r.get(facet) if facet else None, []).append(r)
    keys = sorted(groups, key=lambda v: (str(type(v)), v if v is not None else 0))
    fig, axes = plt.subplots(1, len(keys), figsize=(5.2 * len(keys), 4.2), squeeze=False)
    cvals = sorted({r.get(color) for r in recs}, key=str) if color else [None]
    cmap = plt.get_cmap("tab10")
    for ax, key in zip(axes[0], keys):
        rs = groups[key]
        for ci, cv in enumerate(cvals):
            sel = [r for r in rs if not color or r.get(color) == cv]
            pts = [(_num(r.get(x)), _num(r.get(y))) for r in sel]
            pts = [p for p in pts if None not in p]
            if pts:
                ax.scatter(*zip(*pts), color=cmap(ci % 10), s=22,
                           label=f"{color}={cv}" if color else None)
        front = sorted((_num(rs[i][x]), _num(rs[i][y])) for i in pareto_front(
            rs, x, y, rep.get("x_sense", "min"), rep.get("y_sense", "min")))
        if front:
            ax.plot(*zip(*front), color="black", lw=1.0, ls="--", zorder=0)
            ax.scatter(*zip(*front), s=110, facecolors="none", edgecolors="black",
                       label="Pareto front")
        vals = [v for v in (_num(r.get(x)) for r in rs) if v]
        if vals and min(vals) > 0 and max(vals) / min(vals) > 30:
            ax.set_xscale("log")
        vals = [v for v in (_num(r.get(y)) for r in rs) if v]
        if vals and min(vals) > 0 and max(vals) / min(vals) > 30:
            ax.set_yscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.grid(True, which="both", alpha=0.3)
        if facet:
            ax.set_title(f"{facet} = {key}")
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_effect(recs, param, cols, path):
    """Mean (and min..max) of each column in ``cols`` against the values of ``param``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    vals = sorted({r.get(param) for r in recs if r.get(param) is not None},
                  key=lambda v: (isinstance(v, str), v))
    fig, axes = plt.subplots(1, len(cols), figsize=(4.6 * len(cols), 3.6), squeeze=False)
    for ax, c in zip(axes[0], cols):
        xs, mean, lo, hi = [], [], [], []
        for i, v in enumerate(vals):
            ys = [_num(r.get(c)) for r in recs if r.get(param) == v]
            ys = [q for q in ys if q is not None]
            if ys:
                xs.append(i)
                mean.append(sum(ys) / len(ys))
                lo.append(min(ys))
                hi.append(max(ys))
        if xs:
            ax.plot(xs, mean, marker="o")
            ax.fill_between(xs, lo, hi, alpha=0.2)
            if min(lo) > 0 and max(hi) / min(lo) > 30:
                ax.set_yscale("log")
        ax.set_xticks(range(len(vals)), [str(v) for v in vals], fontsize=8)
        ax.set_xlabel(param)
        ax.set_title(f"{c} (mean, min..max)", fontsize=9)
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(run, out_dir=None) -> dict:
    """Write ``<name>.md``, ``<name>.csv``, ``<name>_pareto.png`` and one
    ``<name>_effect_<param>.png`` per effect parameter; returns the paths and the front."""
    spec = run.spec
    rep = spec.report
    from hw.toolchain import REPO
    out = Path(out_dir or rep.get("out") or REPO / "build" / "sweeps" / spec.name)
    if not out.is_absolute():
        out = REPO / out
    out.mkdir(parents=True, exist_ok=True)
    all_recs = records(run)
    recs = _filter(all_recs, rep.get("where"))
    cols = _columns(all_recs)
    csv_path = out / f"{spec.name}.csv"
    with csv_path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in all_recs:
            w.writerow({k: r.get(k) for k in cols})
    paths = {"csv": str(csv_path)}
    x, y = rep.get("x"), rep.get("y")
    lines = [f"# Sweep `{spec.name}`", ""]
    if spec.description:
        lines += [spec.description.strip(), ""]
    c = run.counts
    lines += [f"{c.get('tasks', 0)} measurements: {c.get('done', 0)} run, {c.get('cached', 0)} "
              f"from the database, {c.get('failed', 0)} failed in this run; "
              f"{len(all_recs)} records ({len(recs)} after `where`); database `{run.db}`; "
              f"CSV `{csv_path.name}`.", ""]
    front = []
    if x and y:
        for k in (x, y):
            if k not in cols:
                lines += [f"Axis `{k}` is not a column of the records (columns: "
                          f"{', '.join(cols)}).", ""]
        facet = rep.get("facet")
        groups = {}
        for r in recs:                        # one front per facet value
            groups.setdefault(r.get(facet) if facet else None, []).append(r)
        for rs in groups.values():
            front += [rs[i] for i in pareto_front(rs, x, y, rep.get("x_sense", "min"),
                                                  rep.get("y_sense", "min"))]
        png = out / f"{spec.name}_pareto.png"
        _plot_pareto(recs, rep, png, f"{spec.name}: {y} vs {x}")
        paths["pareto_png"] = str(png)
        params = [k for k in _columns([{k: v for k, v in r.items() if "." not in k} for r in recs])
                  if k not in ("label", "block")]
        show = ["label"] + params + [x, y]
        extra = [k for k in (rep.get("color"), rep.get("facet")) if k and k not in show]
        show += extra
        lines += [f"## Pareto front ({rep.get('x_sense', 'min')} `{x}`, "
                  f"{rep.get('y_sense', 'min')} `{y}`"
                  + (f", one front per `{facet}`" if facet else "") + ")", "",
                  f"![Pareto front]({png.name})", ""]
        lines += ["| " + " | ".join(show) + " |", "|" + "---|" * len(show)]
        for r in sorted(front, key=lambda r: (str(r.get(facet)) if facet else "", _num(r.get(x)))):
            lines.append("| " + " | ".join(_fmt(r.get(k)) for k in show) + " |")
        lines.append("")
        lines += ["## All records", "", "| " + " | ".join(show + ["Pareto"]) + " |",
                  "|" + "---|" * (len(show) + 1)]
        ids = {id(r) for r in front}
        for r in recs:
            lines.append("| " + " | ".join(_fmt(r.get(k)) for k in show)
                         + f" | {'*' if id(r) in ids else ''} |")
        lines.append("")
    for param in rep.get("effects", []):
        ycols = [k for k in (x, y) if k] or [k for k in cols if "." in k][:2]
        png = out / f"{spec.name}_effect_{param}.png"
        _plot_effect(recs, param, ycols, png)
        paths[f"effect_{param}"] = str(png)
        lines += [f"## Effect of `{param}`", "", f"![{param}]({png.name})", ""]
    if run.failed:
        lines += ["## Failed measurements", ""]
        for o in run.failed:
            first = (o.row.get("stderr") or "").splitlines()[:1]
            lines.append(f"* `{o.task.point.block or o.task.point.label}` {o.task.point.params} "
                         f"{o.task.measure}:{o.task.target}: {first[0] if first else ''}")
        lines.append("")
    md = out / f"{spec.name}.md"
    md.write_text("\n".join(lines))
    paths["markdown"] = str(md)
    return {"paths": paths, "front": front, "records": len(all_recs)}
