"""`scalesim_os_cycles` against the recorded output of the real SCALE-Sim.

tests/data/scalesim_cycles.json is written by `make verify-scalesim`, which runs SCALE-Sim itself
in its own virtual environment; this test needs no SCALE-Sim install.
"""

import json
import math
import subprocess
import sys

import pytest

from sim.scalesim import DATA_FILE, GRID_ARRAYS, GRID_K, grid, scalesim_os_cycles


@pytest.fixture(scope="module")
def record():
    return json.loads(DATA_FILE.read_text())


def _rows(record):
    fields = record["fields"]
    return [dict(zip(fields, row)) for row in record["shapes"]]


def _mismatches(model, record):
    return [r for r in _rows(record)
            if model(r["M"], r["K"], r["N"], r["rows"], r["cols"]) != r["total_cycles"]]


def test_record_is_from_real_scalesim(record):
    assert record["tool"] == "SCALE-Sim"
    assert record["scalesim_version"].startswith("3.0")
    assert record["column"] == "COMPUTE_REPORT.csv: Total Cycles"
    assert record["config"]["Dataflow"] == "os" and record["config"]["InterfaceBandwidth"] == "CALC"
    rows = _rows(record)
    assert len(rows) >= 100
    # no stall anywhere: the closed form is the stall-free count
    assert all(r["stall_cycles"] == 0 for r in rows)


def test_record_covers_the_grid(record):
    recorded = {(r["M"], r["K"], r["N"], r["rows"], r["cols"]) for r in _rows(record)}
    assert recorded == set(grid())
    assert {(r, c) for (_, _, _, r, c) in recorded} >= set(GRID_ARRAYS)
    assert {k for (_, k, _, _, _) in recorded} >= set(GRID_K)
    # M and N on both sides of one and two folds of every grid array
    for rows, cols in GRID_ARRAYS:
        ms = {m for (m, _, _, r, c) in recorded if (r, c) == (rows, cols)}
        ns = {n for (_, _, n, r, c) in recorded if (r, c) == (rows, cols)}
        assert {rows, rows + 1, 2 * rows, 2 * rows + 1} <= ms
        assert {cols, cols + 1, 2 * cols, 2 * cols + 1} <= ns


def test_closed_form_equals_scalesim_on_every_recorded_shape(record):
    bad = _mismatches(scalesim_os_cycles, record)
    assert not bad, f"{len(bad)} shapes differ from SCALE-Sim, first {bad[:3]}"


def _off_by_one_per_fold(M, K, N, rows, cols):
    folds = math.ceil(M / rows) * math.ceil(N / cols)
    return folds * (K + rows + cols - 1) - 1


def _cycle_count_not_index(M, K, N, rows, cols):
    return scalesim_os_cycles(M, K, N, rows, cols) + 1


def _paper_formula(M, K, N, rows, cols):
    return math.ceil(M / rows) * math.ceil(N / cols) * (2 * rows + cols + K - 2)


def _transposed_array(M, K, N, rows, cols):
    return scalesim_os_cycles(M, K, N, cols, rows)


@pytest.mark.parametrize("wrong", [_off_by_one_per_fold, _cycle_count_not_index, _paper_formula,
                                   _transposed_array])
def test_wrong_models_are_caught(record, wrong):
    bad = _mismatches(wrong, record)
    assert bad, f"{wrong.__name__} agrees with every recorded shape: the record proves nothing"


def test_known_values():
    # 4x16x4 and 8x64x8 on a 4x4 array: 21 and 279, as SCALE-Sim 3.0 reports them
    assert scalesim_os_cycles(4, 16, 4, 4, 4) == 21
    assert scalesim_os_cycles(8, 64, 8, 4, 4) == 279
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            scalesim_os_cycles(bad, 1, 1, 4, 4)


def test_module_imports_no_amaranth_and_no_hw():
    code = ("import sys, sim.scalesim; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('amaranth', 'hw', 'golden', 'numpy')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=DATA_FILE.parent.parent.parent)
    assert res.returncode == 0, res.stdout + res.stderr
