"""Sweep specifications: a TOML file read, validated and expanded into points and tasks.

A spec names one or more grids (``[[grid]]``). Each grid has a design (a registered ``block``, a
synthesis-only ``design = "module:function"``, or neither for pure study metrics and trainer runs),
a parameter grid (lists and ranges; the cartesian product is taken in the order written), and the
measurements of every point: ``measure = ["synth", "sim", "metric", "train"]``. The format is
documented with examples in docs/sweeps.md.

Every bad value raises :class:`golden.params.ConfigError` with one sentence naming it and what
is allowed; block parameters are validated here, by the block's configuration class, before any
task runs.
"""

from __future__ import annotations

import importlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from golden.params import ConfigError

__all__ = ["MEASURES", "SIMULATORS", "Point", "Task", "Spec", "load_spec", "parse_spec",
           "expand_values", "resolve_design", "canonical"]

#: measurement kinds a grid may request
MEASURES = ("synth", "sim", "metric", "train")
#: simulators of the ``sim`` measurement
SIMULATORS = ("amaranth", "icarus", "verilator", "native")
#: largest number of points of one spec (a typo such as a huge range should not start a sweep)
MAX_POINTS = 100_000

_GRID_KEYS = {"block", "design", "params", "measure", "targets", "synth", "sim", "metric", "train",
              "label"}
_TOP_KEYS = {"name", "description", "grid", "report", "defaults"}


def canonical(obj) -> str:
    """Canonical JSON text (sorted keys, no spaces): what keys and stored parameters use."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Point:
    """One design point: a grid's design and one parameter assignment."""
    grid: int
    label: str
    block: str | None          # registry name, the design's BLOCK, or None (metric/train only)
    design: str | None         # "module:function" of a synthesis-only design, else None
    params: dict

    @property
    def ident(self) -> str:
        return canonical({"block": self.block, "design": self.design, "params": self.params})


@dataclass(frozen=True)
class Task:
    """One measurement of one point (for ``synth``: of one target)."""
    point: Point
    measure: str               # synth | sim | metric | train
    target: str                # synthesis target, simulator, metric name, or "train"
    options: dict = field(default_factory=dict)

    @property
    def ident(self) -> str:
        return canonical({"point": self.point.ident, "measure": self.measure,
                          "target": self.target, "options": self.options})


@dataclass
class Spec:
    name: str
    description: str
    path: Path | None
    points: list
    tasks: list
    report: dict
    raw: dict


def expand_values(name: str, value) -> list:
    """A parameter's values: a list, a scalar (one value) or a range table.

    Range tables: ``{start = a, stop = b}`` (step 1), ``{start, stop, step}`` (arithmetic,
    ``stop`` included when reached) or ``{start, stop, factor}`` (geometric, e.g. powers of two).
    """
    if isinstance(value, list):
        if not value:
            raise ConfigError(f"parameter {name} has an empty list of values: give at least one.")
        return list(value)
    if isinstance(value, dict):
        keys = set(value)
        if not {"start", "stop"} <= keys or keys - {"start", "stop", "step", "factor"} or \
                {"step", "factor"} <= keys:
            raise ConfigError(f"parameter {name} range {value!r} is malformed: write "
                              f"{{start = A, stop = B}} with an optional step = S or factor = F.")
        a, b = value["start"], value["stop"]
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in value.values()):
            raise ConfigError(f"parameter {name} range {value!r} must have integer start, stop, "
                              f"step and factor.")
        out = []
        if "factor" in value:
            f = value["factor"]
            if f < 2 or a < 1:
                raise ConfigError(f"parameter {name} range {value!r}: factor must be >= 2 and "
                                  f"start >= 1.")
            x = a
            while x <= b:
                out.append(x)
                x *= f
        else:
            s = value.get("step", 1)
            if s == 0:
                raise ConfigError(f"parameter {name} range {value!r}: step must not be 0.")
            out = list(range(a, b + (1 if s > 0 else -1), s))
        if not out:
            raise ConfigError(f"parameter {name} range {value!r} is empty: start must not be "
                              f"past stop.")
        if len(out) > MAX_POINTS:
            raise ConfigError(f"parameter {name} range {value!r} has {len(out)} values: allowed "
                              f"are at most {MAX_POINTS}.")
        return out
    return [value]


def resolve_design(ref: str):
    """The callable named by ``"package.module:function"``."""
    if not isinstance(ref, str) or ref.count(":") != 1:
        raise ConfigError(f"design {ref!r} is malformed: write \"package.module:function\".")
    mod, fn = ref.split(":")
    try:
        obj = getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError):
        raise ConfigError(f"design {ref!r} cannot be imported: no function {fn!r} in module "
                          f"{mod!r}.") from None
    if not callable(obj):
        raise ConfigError(f"design {ref!r} is not callable.")
    return obj


def make_config(point: Point):
    """``(cfg, component_factory)`` of a point with a block or design (validates parameters)."""
    if point.design:
        fn = resolve_design(point.design)
        cfg, factory = fn(**point.params)
        return cfg, factory
    from ..blocks import get_block
    spec = get_block(point.block)
    cfg = spec.config(**point.params)
    return cfg, lambda: spec.component(cfg)


def _check_table(where, table, allowed):
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table, not {table!r}.")
    bad = set(table) - set(allowed)
    if bad:
        raise ConfigError(f"{where} has unknown key(s) {', '.join(sorted(bad))}: allowed keys "
                          f"are {', '.join(sorted(allowed))}.")


def _grid_tasks(i, g, defaults) -> tuple:
    from hw.synth.flow import TARGETS, check_target
    where = f"grid {i + 1}"
    g = {**defaults, **g}
    _check_table(where, g, _GRID_KEYS)
    block, design = g.get("block"), g.get("design")
    if block is not None and design is not None:
        raise ConfigError(f"{where} names both block {block!r} and design {design!r}: give one.")
    measure = g.get("measure", ["synth"])
    if isinstance(measure, str):
        measure = [measure]
    for m in measure:
        if m not in MEASURES:
            raise ConfigError(f"{where} measure {m!r} is unknown: allowed values are "
                              f"{', '.join(MEASURES)}.")
    hw = block is not None or design is not None
    for m in ("synth", "sim"):
        if m in measure and not hw:
            raise ConfigError(f"{where} measures {m!r} but names no block or design.")
    params = g.get("params", {})
    _check_table(f"{where} params", params, params)
    names = list(params)
    values = [expand_values(n, params[n]) for n in names]
    n_points = 1
    for v in values:
        n_points *= len(v)
    if n_points > MAX_POINTS:
        raise ConfigError(f"{where} has {n_points} points: allowed are at most {MAX_POINTS}.")

    targets = g.get("targets", ["ice40"])
    if isinstance(targets, str):
        targets = [targets]
    if "synth" in measure:
        if not targets:
            raise ConfigError(f"{where} measures synth but its targets list is empty: allowed "
                              f"values are {', '.join(TARGETS)}.")
        for t in targets:
            check_target(t)
    synth = g.get("synth", {})
    _check_table(f"{where} synth", synth, ("fmax", "cache", "device", "package", "seed"))
    sim = g.get("sim", {})
    _check_table(f"{where} sim", sim, ("simulator", "vectors", "seed", "gap", "stall"))
    sims = sim.get("simulator", "amaranth")
    sims = [sims] if isinstance(sims, str) else list(sims)
    for s in sims:
        if s not in SIMULATORS:
            raise ConfigError(f"{where} sim simulator {s!r} is unknown: allowed values are "
                              f"{', '.join(SIMULATORS)}.")
    vectors = sim.get("vectors", 256)
    if not isinstance(vectors, int) or not 1 <= vectors <= 1_000_000:
        raise ConfigError(f"{where} sim vectors {vectors!r} is out of range: allowed values are "
                          f"1..1000000.")
    metrics = g.get("metric", [])
    metrics = [metrics] if isinstance(metrics, dict) else list(metrics)
    if "metric" in measure and not metrics:
        raise ConfigError(f"{where} measures metric but has no [grid.metric] table naming it.")
    from .metrics import check_metric
    for mt in metrics:
        _check_table(f"{where} metric", mt, ("name", "args"))
        check_metric(mt.get("name"))
    train = g.get("train", {})
    _check_table(f"{where} train", train, ("dataset", "arith", "grad", "rlsru", "acc", "epochs",
                                           "seed", "batch", "lr", "limit_train"))

    points, tasks = [], []
    label = g.get("label", block or (design.split(":")[1] if design else
                                     (metrics[0]["name"] if metrics else "train")))
    for combo in itertools.product(*values):
        p = dict(zip(names, combo))
        blk = block
        if hw:
            pt = Point(i, label, block, design, p)
            cfg, _ = make_config(pt)           # validates the parameters now
            blk = cfg.BLOCK
            p = cfg.to_dict() if block else p  # registry blocks: every parameter explicit
        pt = Point(i, label, blk, design, p)
        points.append(pt)
        for m in measure:
            if m == "synth":
                opts = {k: synth[k] for k in ("fmax", "device", "package", "seed") if k in synth}
                if "cache" in synth:
                    opts["cache"] = bool(synth["cache"])
                tasks += [Task(pt, "synth", t, opts) for t in targets]
            elif m == "sim":
                opts = {"vectors": vectors, "seed": sim.get("seed", 0),
                        "gap": sim.get("gap", 0.0), "stall": sim.get("stall", 0.0)}
                tasks += [Task(pt, "sim", s, opts) for s in sims]
            elif m == "metric":
                tasks += [Task(pt, "metric", mt["name"], {"args": mt.get("args", {})})
                          for mt in metrics]
            else:
                tasks.append(Task(pt, "train", "train", dict(train)))
    return points, tasks


def parse_spec(raw: dict, path=None, name=None) -> Spec:
    """Validate a spec already read from TOML (a dict) and expand it."""
    _check_table("the spec", raw, _TOP_KEYS)
    grids = raw.get("grid")
    if not grids or not isinstance(grids, list):
        raise ConfigError("the spec has no [[grid]] table: give at least one.")
    defaults = raw.get("defaults", {})
    _check_table("[defaults]", defaults, _GRID_KEYS)
    points, tasks = [], []
    for i, g in enumerate(grids):
        p, t = _grid_tasks(i, g, defaults)
        points += p
        tasks += t
    seen = set()
    unique = []
    for t in tasks:                           # two grids may name the same measurement
        if t.ident not in seen:
            seen.add(t.ident)
            unique.append(t)
    report = raw.get("report", {})
    _check_table("[report]", report, ("x", "y", "x_sense", "y_sense", "color", "facet", "effects",
                                      "out", "where", "label"))
    for k in ("x_sense", "y_sense"):
        if report.get(k, "min") not in ("min", "max"):
            raise ConfigError(f"[report] {k} {report[k]!r} is unknown: allowed values are min, "
                              f"max.")
    name = raw.get("name") or name or (Path(path).stem if path else "sweep")
    return Spec(name=name, description=raw.get("description", ""), path=path, points=points,
                tasks=unique, report=report, raw=raw)


def load_spec(path) -> Spec:
    """Read and validate a TOML spec file."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"spec file {str(path)!r} cannot be read: {e.strerror or e}.") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"spec file {str(path)!r} is not valid TOML: {e}.") from None
    return parse_spec(raw, p)
