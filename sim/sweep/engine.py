"""The sweep driver: keys, skip what is stored, run the rest on a process pool or a Dask cluster,
retry a failure once, store every result (the driver is the database's only writer).

Order of a run:

1. the Verilog of every point with hardware is emitted (on the workers) and hashed;
2. every task's key is computed (:func:`sim.sweep.store.task_key`) and looked up: a stored
   ``ok`` row is reused (``cached``), so is a stored ``failed`` row unless ``retry_failed``;
3. the remaining tasks are submitted; a failed result is submitted once more, and a task that
   fails twice is stored as ``failed`` while the sweep goes on;
4. every result is stored as soon as it arrives, so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import sys
import time
from dataclasses import dataclass, field

from golden.params import ConfigError

from .store import Store, default_db, task_key
from .tasks import emit_verilog, run_task, tool_versions, verilog_sha

__all__ = ["Outcome", "SweepRun", "LocalExecutor", "DaskExecutor", "Progress", "run_sweep",
           "task_keys", "MAX_ATTEMPTS"]

#: a task is tried at most this often per sweep run (one retry)
MAX_ATTEMPTS = 2


@dataclass
class Outcome:
    """One task of a run: its key, where its row came from, and the row."""
    task: object
    key: str
    source: str            # "cached" (stored before this run) or "run"
    row: dict


@dataclass
class SweepRun:
    spec: object
    db: str
    outcomes: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    wall_seconds: float = 0.0
    workers: str = ""

    @property
    def failed(self):
        return [o for o in self.outcomes if o.row["status"] == "failed"]


class LocalExecutor:
    """A local process pool of ``jobs`` workers (``fork``: workers start in milliseconds)."""

    def __init__(self, jobs: int):
        self.jobs = jobs
        self._new()

    def _new(self):
        ctx = multiprocessing.get_context("fork")
        self.pool = cf.ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx)

    def submit(self, fn, *args):
        try:
            return self.pool.submit(fn, *args)
        except cf.process.BrokenProcessPool:
            self._new()
            return self.pool.submit(fn, *args)

    def wait(self, futures):
        done, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
        return done

    def result(self, fut):
        return fut.result()

    def describe(self):
        return f"local process pool, {self.jobs} worker(s)"

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """The tasks on a ``dask.distributed`` cluster (``address`` of its scheduler, or a Client)."""

    def __init__(self, address, timeout=30):
        try:
            from distributed import Client
        except ImportError:
            raise ConfigError("--scheduler needs dask.distributed: pip install "
                              "'dask[distributed]' (pyproject.toml lists it).") from None
        if isinstance(address, Client):
            self.client, self._own = address, False
        else:
            try:
                self.client, self._own = Client(address, timeout=timeout), True
            except (OSError, TimeoutError, ValueError) as e:
                raise ConfigError(f"--scheduler {address!r} cannot be reached: {e}.") from None

    def submit(self, fn, *args):
        return self.client.submit(fn, *args, pure=False)

    def wait(self, futures):
        from distributed import wait
        return wait(list(futures), return_when="FIRST_COMPLETED").done

    def result(self, fut):
        return fut.result()

    def describe(self):
        n = len(self.client.scheduler_info().get("workers", {}))
        return f"Dask cluster {self.client.scheduler.address}, {n} worker(s)"

    def close(self):
        if self._own:
            self.client.close()


class Progress:
    """One status line: done / failed / cached of the total, and an ETA from the run so far."""

    def __init__(self, total, stream=None, enabled=True):
        self.total, self.done, self.failed, self.cached = total, 0, 0, 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.t0 = time.monotonic()
        self.ran = 0

    def line(self) -> str:
        finished = self.done + self.failed + self.cached
        left = self.total - finished
        eta = "--"
        if self.ran and left:
            s = (time.monotonic() - self.t0) / self.ran * left
            eta = f"{int(s // 60)}:{int(s % 60):02d}"
        elif not left:
            eta = "0:00"
        width = 24
        fill = int(width * finished / self.total) if self.total else width
        return (f"[{'#' * fill}{'.' * (width - fill)}] {finished}/{self.total}  done {self.done}  "
                f"failed {self.failed}  cached {self.cached}  ETA {eta}")

    def update(self, what="", note=""):
        if what == "cached":
            self.cached += 1
        elif what:
            self.ran += 1
            if what == "ok":
                self.done += 1
            else:
                self.failed += 1
        if not self.enabled:
            return
        if self.tty:
            print("\r" + self.line(), end="", file=self.stream, flush=True)
        elif note:
            print(self.line() + "  " + note, file=self.stream, flush=True)

    def close(self):
        if self.enabled:
            if self.tty:
                print(file=self.stream)
            else:
                print(self.line(), file=self.stream, flush=True)


def _describe(task) -> str:
    p = task.point
    name = p.block or p.label
    params = ",".join(f"{k}={v}" for k, v in p.params.items())
    return f"{name}({params}) {task.measure}:{task.target}"


def _emit_all(spec, ex, progress_stream, say) -> dict:
    """``{point ident: (verilog text or None, error or None)}`` for the points with hardware."""
    hw = {}
    for t in spec.tasks:
        if t.measure in ("synth", "sim") and t.point.ident not in hw:
            hw[t.point.ident] = t.point
    futs = {ex.submit(emit_verilog, p): ident for ident, p in hw.items()}
    out = {}
    pending = set(futs)
    while pending:
        for f in ex.wait(pending):
            pending.discard(f)
            try:
                out[futs[f]] = (ex.result(f), None)
            except Exception as e:              # recorded as the failure of the point's tasks
                out[futs[f]] = (None, f"{type(e).__name__}: {e}")
    if hw:
        say(f"emitted Verilog of {len(hw)} design(s)")
    return out


def task_keys(spec, verilog: dict) -> list:
    """``[(task, key, verilog text or None, emission error or None)]`` in spec order."""
    out = []
    for t in spec.tasks:
        text = err = None
        if t.measure in ("synth", "sim"):
            text, err = verilog[t.point.ident]
        sha = verilog_sha(text) if text is not None else None
        out.append((t, task_key(t.ident, sha, tool_versions(t)), text, err))
    return out


def _row(spec, task, key, text, res, attempts):
    p = task.point
    return {"key": key, "block": p.block, "design": p.design, "params": p.params,
            "measure": task.measure, "target": task.target, "options": task.options,
            "verilog_sha": verilog_sha(text) if text is not None else None,
            "tools": tool_versions(task), "status": res["status"], "report": res["report"],
            "stderr": res["stderr"], "wall_seconds": res["wall_seconds"], "host": res["host"],
            "attempts": attempts, "sweep": spec.name, "finished_at": time.time()}


def run_sweep(spec, db=None, jobs=1, scheduler=None, retry_failed=False, progress=True,
              stream=None, say=None, lookup_only=False, connect_timeout=30) -> SweepRun:
    """Run every task of ``spec`` that the database ``db`` does not hold yet.

    Parameters
    ----------
    spec : sim.sweep.spec.Spec
    db : path-like, optional
        The SQLite database (default :func:`sim.sweep.store.default_db`).
    jobs : int
        Local worker processes (ignored with ``scheduler``).
    scheduler : str or distributed.Client, optional
        Run on this Dask cluster instead of the local pool.
    retry_failed : bool
        Run again the tasks stored as failed (default: reuse them like ok rows).
    progress : bool
        Print the status line to ``stream`` (default stderr).
    connect_timeout : float
        Seconds to wait for the Dask scheduler before giving up (:class:`ConfigError`).
    lookup_only : bool
        Run nothing: return the stored rows only (``lobit report``); ``counts["missing"]``
        tells how many tasks have no row yet.
    """
    say = say or (lambda m: print(m, file=stream or sys.stderr, flush=True))
    if not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"-j {jobs!r} is out of range: allowed values are integers >= 1.")
    t0 = time.monotonic()
    db = default_db() if db is None else db
    run = SweepRun(spec=spec, db=str(db))
    with Store(db) as store:
        ex = (DaskExecutor(scheduler, connect_timeout) if scheduler is not None
              else LocalExecutor(jobs))
        run.workers = ex.describe()
        say(f"sweep {spec.name}: {len(spec.points)} point(s), {len(spec.tasks)} task(s) on "
            f"{run.workers}; database {db}")
        try:
            verilog = _emit_all(spec, ex, stream, say) if any(
                t.measure in ("synth", "sim") for t in spec.tasks) else {}
            keyed = task_keys(spec, verilog)
            stored = store.status(k for _, k, _, _ in keyed)
            prog = Progress(len(keyed), stream, progress)
            todo = []
            by_key = {}
            for t, k, text, err in keyed:
                st = stored.get(k)
                if st == "ok" or (st == "failed" and not retry_failed):
                    by_key[k] = Outcome(t, k, "cached", store.get(k))
                    prog.update("cached")
                elif lookup_only:
                    continue
                elif err is not None:
                    res = {"status": "failed", "report": None, "host": None, "wall_seconds": 0.0,
                           "stderr": f"Verilog emission failed: {err}"}
                    row = _row(spec, t, k, None, res, 1)
                    store.put(row)
                    by_key[k] = Outcome(t, k, "run", row)
                    prog.update("failed", _describe(t) + ": emission failed")
                else:
                    todo.append((t, k, text))
            if progress and not lookup_only:
                say(f"{prog.cached} stored already, {len(todo)} to run")
            futs = {}
            for t, k, text in todo:
                fut = ex.submit(run_task, t, text if t.measure == "synth" else None)
                futs[fut] = (t, k, text, 1)
            pending = set(futs)
            while pending:
                for f in ex.wait(pending):
                    pending.discard(f)
                    t, k, text, attempt = futs.pop(f)
                    try:
                        res = ex.result(f)
                    except Exception as e:          # the worker itself died
                        res = {"status": "failed", "report": None, "host": None,
                               "wall_seconds": None,
                               "stderr": f"worker lost: {type(e).__name__}: {e}"}
                    if res["status"] == "failed" and attempt < MAX_ATTEMPTS:
                        if progress:
                            say(f"\n{_describe(t)} failed (attempt {attempt}); retrying: "
                                f"{res['stderr'].splitlines()[0]}")
                        nf = ex.submit(run_task, t, text if t.measure == "synth" else None)
                        futs[nf] = (t, k, text, attempt + 1)
                        pending.add(nf)
                        continue
                    row = _row(spec, t, k, text, res, attempt)
                    store.put(row)
                    by_key[k] = Outcome(t, k, "run", row)
                    note = f"{_describe(t)} ({res['wall_seconds']} s)"
                    if res["status"] == "failed":
                        note += " FAILED: " + res["stderr"].splitlines()[0]
                    prog.update(res["status"], note)
            prog.close()
        finally:
            ex.close()
    run.outcomes = [by_key[k] for _, k, _, _ in keyed if k in by_key]
    run.counts = {"tasks": len(keyed), "done": prog.done, "failed": prog.failed,
                  "cached": prog.cached, "missing": len(keyed) - len(run.outcomes)}
    run.wall_seconds = round(time.monotonic() - t0, 2)
    return run
