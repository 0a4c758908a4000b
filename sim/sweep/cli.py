"""``lobit sweep SPEC`` and ``lobit report SPEC`` (docs/sweeps.md).

``add_parser(subparsers)`` registers both commands on the ``lobit`` parser. A bad spec, option or
database raises :class:`golden.params.ConfigError` (one sentence), which ``lobit`` turns into exit
status 2. ``lobit sweep`` exits 1 when a measurement failed twice (its row is stored as failed),
0 otherwise.
"""

from __future__ import annotations

import json
import sys

__all__ = ["add_parser", "cmd_sweep", "cmd_report"]


def _common(s):
    s.add_argument("spec", help="sweep spec, a TOML file (docs/sweeps.md)")
    s.add_argument("--db", help="SQLite result database (default .cache/sweeps.sqlite)")
    s.add_argument("-j", "--jobs", type=int, default=1, help="local worker processes (default 1)")
    s.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the tasks on this dask.distributed scheduler (tcp://host:8786)")
    s.add_argument("--out", help="report folder (default: the spec's [report] out, else "
                   "build/sweeps/<name>)")


def add_parser(subparsers):
    s = subparsers.add_parser("sweep", help="run a design-space sweep from a TOML spec and "
                              "write its report (docs/sweeps.md)")
    _common(s)
    s.add_argument("--retry-failed", action="store_true",
                   help="run again the measurements stored as failed")
    s.add_argument("--no-report", action="store_true", help="store the results only")
    s.add_argument("--quiet", action="store_true", help="no progress line")
    s.set_defaults(func=cmd_sweep)
    r = subparsers.add_parser("report", help="write the Markdown/PNG/CSV report of a sweep from "
                              "the stored results (runs nothing)")
    _common(r)
    r.set_defaults(func=cmd_report)


def _summary(run, rep):
    c = run.counts
    print(f"{run.spec.name}: {c['tasks']} measurements, {c['done']} run, {c['cached']} cached, "
          f"{c['failed']} failed" + (f", {c['missing']} not stored yet" if c.get("missing") else "")
          + f" ({run.wall_seconds} s, {run.workers})")
    if rep:
        for k, v in rep["paths"].items():
            print(f"  {k:<14} {v}")
        if rep["front"]:
            x, y = run.spec.report["x"], run.spec.report["y"]
            print(f"  Pareto front ({len(rep['front'])} points, {x} vs {y}):")
            extra = [run.spec.report.get(k) for k in ("facet", "color")]
            for r in rep["front"]:
                params = {k: v for k, v in r.items() if ("." not in k or k in extra)
                          and k not in ("block",)}
                print(f"    {json.dumps(params)}  {x}={r.get(x)}  {y}={r.get(y)}")


def cmd_sweep(args):
    from .engine import run_sweep
    from .report import write_report
    from .spec import load_spec
    spec = load_spec(args.spec)
    run = run_sweep(spec, db=args.db, jobs=args.jobs, scheduler=args.scheduler,
                    retry_failed=args.retry_failed, progress=not args.quiet)
    rep = None if args.no_report else write_report(run, args.out)
    _summary(run, rep)
    for o in run.failed:
        print(f"lobit: {o.task.point.block or o.task.point.label} {o.task.point.params} "
              f"{o.task.measure}:{o.task.target} failed: "
              f"{(o.row.get('stderr') or '').splitlines()[0]}", file=sys.stderr)
    return 1 if run.failed else 0


def cmd_report(args):
    from .engine import run_sweep
    from .report import write_report
    from .spec import load_spec
    spec = load_spec(args.spec)
    run = run_sweep(spec, db=args.db, jobs=args.jobs, scheduler=args.scheduler, progress=False,
                    lookup_only=True)
    rep = write_report(run, args.out)
    _summary(run, rep)
    return 0
