"""Sakr & Shanbhag precision assignment: criteria vs a float re-statement, exact power-of-two
boundaries, the budget rule, the authors' published B_acc, the ``lobit precision`` command."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest

from golden.params import ConfigError
from golden.precision import (B_MIN_LOW, LayerStats, assign, ceil_log2_sqrt, floor_log2,
                              floor_log2_sqrt_inv, load_stats, mismatch_bound)
from sim.cli import main

# The authors' CIFAR-10 ResNet values (docs/spec.md#sakr), 22 weight tensors
B_W = [14, 13, 13, 13, 13, 14, 13, 14, 14, 14, 14, 14, 15, 14, 14, 14, 14, 14, 13, 13, 12, 10]
B_GW = [11, 12, 12, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 11, 12, 12, 14, 14]
E_GW = [-2, -4, -4] + [-5] * 11 + [-6] * 7 + [-2]
B_ACC = [9, 13, 13, 13, 13, 12, 13, 12, 12, 12, 12, 12, 11, 12, 13, 13, 13, 13, 15, 15, 18, 16]


def test_c5_reproduces_the_authors_accumulator_widths():
    """C5 with gamma_min = 0.001 from the authors' B_W, B_GW and r_GW gives their B_acc for all
    22 tensors (Delta_GW = r_GW 2**(1 - B_GW))."""
    got = []
    for bw, bgw, egw in zip(B_W, B_GW, E_GW):
        d_gw = egw - bgw + 1
        d_acc = floor_log2(0.001 * 2.0 ** d_gw)
        got.append(-bw - d_acc + 1)
    assert got == B_ACC


def oracle(layers, budget, gamma):
    """Float re-statement with math.log2, floor and ceil (valid away from exact boundaries)."""
    E = [(l.E_A, 2.0) for l in layers] + [(l.E_W, 1.0) for l in layers]
    emin = min(e for e, _ in E)
    offs = [round(math.log2(math.sqrt(e / emin))) for e, _ in E]   # ties to even, like np.rint
    for b in range(2, 65):
        if sum(e * (r * 2.0 ** (1 - (b + o))) ** 2 for (e, r), o in zip(E, offs)) <= budget:
            break
    n = len(layers)
    out = []
    for i, l in enumerate(layers):
        smin, smax = min(l.grad_std), max(l.grad_std)
        d_gw = math.floor(math.log2(smin / 4))
        e_gw = math.ceil(math.log2(2 * smax / math.sqrt(0.1)))
        e_ga = math.ceil(math.log2(8 * smax / math.sqrt(0.1)))
        d_ga = math.floor(math.log2(2.0 ** d_gw / math.sqrt(l.lambda_max)))
        d_acc = math.floor(math.log2(gamma * 2.0 ** d_gw))
        bw = b + offs[n + i]
        out.append((b + offs[i], bw, e_gw - d_gw + 1, e_ga - d_ga + 1, -bw - d_acc + 1))
    return b, out


def _random_layers(rng, n):
    return [LayerStats(name=f"l{i}", E_A=float(10 ** rng.uniform(-6, 0)),
                       E_W=float(10 ** rng.uniform(-6, 0)),
                       grad_std=tuple(float(v) for v in 10 ** rng.uniform(-7, -1, 5)),
                       lambda_max=float(10 ** rng.uniform(-1, 3))) for i in range(n)]


def test_assignment_matches_float_restatement():
    rng = np.random.default_rng(1)
    for k in range(150):
        layers = _random_layers(rng, int(rng.integers(1, 6)))
        budget = float(10 ** rng.uniform(-4, -1))
        a = assign(layers, budget, 0.001)
        b, ref = oracle(layers, budget, 0.001)
        assert a.B_min == b
        assert [(l.B_A, l.B_W, l.B_GW, l.B_GA, l.B_acc) for l in a.layers] == ref


def test_budget_rule_is_tight():
    rng = np.random.default_rng(2)
    for _ in range(50):
        layers = _random_layers(rng, 3)
        budget = float(10 ** rng.uniform(-6, -1))
        a = assign(layers, budget)
        E = [(l.E_A, 2) for l in layers] + [(l.E_W, 1) for l in layers]
        offs = [l.B_A - a.B_min for l in a.layers] + [l.B_W - a.B_min for l in a.layers]
        assert mismatch_bound(E, offs, a.B_min) <= Fraction(budget)
        assert a.B_min == B_MIN_LOW or mismatch_bound(E, offs, a.B_min - 1) > Fraction(budget)
        assert min(offs) == 0 and a.p_m <= budget
        assert assign(layers, budget / 16).B_min >= a.B_min + 1 or a.B_min == B_MIN_LOW


def test_exact_power_of_two_boundaries():
    for k in (-30, -7, 0, 5):
        assert floor_log2(2.0 ** k) == k and floor_log2(np.nextafter(2.0 ** k, 0)) == k - 1
        q = Fraction(4) ** k
        assert ceil_log2_sqrt(q) == k
        assert ceil_log2_sqrt(q * (1 + Fraction(1, 2 ** 60))) == k + 1
        assert ceil_log2_sqrt(q * (1 - Fraction(1, 2 ** 60))) == k
        assert floor_log2_sqrt_inv(3, q) == 3 - k
        assert floor_log2_sqrt_inv(3, q * (1 + Fraction(1, 2 ** 60))) == 2 - k
    # sigma_min = 4 * 2**-10 exactly: Delta_GW = 2**-10; one ulp below: 2**-11
    base = dict(E_A=1e-3, E_W=1e-3, lambda_max=4.0)
    a = assign([LayerStats("x", grad_std=(4 * 2.0 ** -10,), **base),
                LayerStats("y", grad_std=(np.nextafter(4 * 2.0 ** -10, 0),), **base)])
    assert a.layers[0].d_GW == -10 and a.layers[1].d_GW == -11
    assert a.layers[0].d_GA == -11                       # lambda = 4: one more bit below
    assert a.layers[0].e_acc == -a.layers[0].B_W and a.layers[0].d_acc == -10 - 10


@pytest.mark.parametrize("doc, message", [
    ({"layers": []}, "precision statistics hold no layer"),
    ({"layers": [{"E_A": 1, "E_W": 1}]}, "precision statistics layer 0 lacks grad_std, lambda_max"),
    ({"layers": [{"name": "c", "E_A": 0, "E_W": 1, "grad_std": [1], "lambda_max": 1}]},
     "precision statistics of layer 'c': E_A=0.0 is out of range: allowed values are positive"),
    ({"layers": [{"name": "c", "E_A": 1, "E_W": 1, "grad_std": [], "lambda_max": 1}]},
     "precision statistics of layer 'c': grad_std is empty"),
    ({"layers": [{"name": "c", "E_A": 1, "E_W": 1, "grad_std": ["x"], "lambda_max": 1}]},
     "precision statistics of layer 'c': grad_std='x' is not a number"),
    ({"budget": 2, "layers": [{"E_A": 1, "E_W": 1, "grad_std": [1], "lambda_max": 1}]},
     "precision budget 2.0 is out of range: allowed values are 0 < budget < 1."),
    ({"budget": 1e-300, "layers": [{"E_A": 1, "E_W": 1, "grad_std": [1], "lambda_max": 1}]},
     "precision budget 1e-300 cannot be met with B_min <= 64"),
])
def test_bad_statistics_rejected(doc, message):
    with pytest.raises(ConfigError) as e:
        assign(*load_stats(doc))
    assert str(e.value).startswith(message)


def test_cli_table_and_json(tmp_path, capsys):
    rng = np.random.default_rng(3)
    layers = _random_layers(rng, 3)
    doc = {"budget": 0.01, "layers": [{"name": l.name, "E_A": l.E_A, "E_W": l.E_W,
                                       "grad_std": list(l.grad_std), "lambda_max": l.lambda_max}
                                      for l in layers]}
    (tmp_path / "s.json").write_text(json.dumps(doc))
    assert main(["precision", str(tmp_path / "s.json"), "-o", str(tmp_path / "p.json")]) == 0
    text = capsys.readouterr().out
    a = assign(layers, 0.01)
    assert f"B_min = {a.B_min}" in text and all(l.name in text for l in layers)
    out = json.loads((tmp_path / "p.json").read_text())
    assert out["B_min"] == a.B_min and [l["B_GA"] for l in out["layers"]] == \
        [l.B_GA for l in a.layers]
    assert out["mac_array"] == {"a_width": max(l.B_A for l in a.layers),
                                "b_width": max(l.B_W for l in a.layers)}
    assert main(["precision", str(tmp_path / "s.json"), "--budget", "1e-6"]) == 0
    assert f"B_min = {assign(layers, 1e-6).B_min}" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text("{")
    for argv in (["precision", str(tmp_path / "none.json")],
                 ["precision", str(tmp_path / "bad.json")],
                 ["precision", str(tmp_path / "s.json"), "-o", str(tmp_path / "no" / "p.json")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("lobit: error: ") and err.count("\n") == 1


# --- lobit synth mac_array --precision FILE ---------------------------------------------------------

def test_synth_mac_array_from_precision(tmp_path, capsys):
    """The real tool chain: `lobit precision` on tests/data/precision_stats.json writes the
    assignment, `lobit synth mac_array --precision` builds the 2 x 2 array it asks for and the
    INT8/INT32 one (generic target) and reports both and their ratio."""
    from pathlib import Path
    from sim.precision import ACC_HEADROOM
    stats = Path(__file__).parent / "data" / "precision_stats.json"
    out = tmp_path / "p.json"
    assert main(["precision", str(stats), "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    a = max(l["B_A"] for l in doc["layers"])
    b = max(l["B_W"] for l in doc["layers"])
    capsys.readouterr()
    argv = ["synth", "mac_array", "--precision", str(out), "-p", "rows=2", "-p", "cols=2",
            "--target", "generic", "--workdir", str(tmp_path / "synth")]
    assert main(argv + ["--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["widths"]["a_width"] == a and rep["widths"]["b_width"] == b
    assert rep["precision"]["config"]["acc_width"] == a + b + ACC_HEADROOM
    assert rep["precision"]["module"] == f"mac_array_r2_c2_a{a}_b{b}_acc{a + b + ACC_HEADROOM}_p0_wrap"
    assert rep["int8"]["module"] == "mac_array_r2_c2_a8_b8_acc32_p0_wrap"
    assert rep["ratio"]["cells"] == round(rep["precision"]["cells"] / rep["int8"]["cells"], 4)
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert f"a_width={a} (max B_A), b_width={b} (max B_W)" in text
    assert f"{rep['ratio']['cells']:.3f}" in text


def test_mac_array_widths_clip_and_errors():
    from sim.precision import mac_array_widths
    w = mac_array_widths({"layers": [{"name": "x", "B_A": 16, "B_W": 16}]})
    assert (w["a_width"], w["b_width"], w["acc_width"], w["note"]) == (16, 16, 48, "")
    for doc, msg in (([], "must be a JSON object with a non-empty list 'layers'"),
                     ({"layers": [{"name": "c1", "B_A": 4}]}, "layer 'c1' lacks an integer B_W"),
                     ({"layers": [{"name": "c1", "B_A": 1, "B_W": 4}]},
                      "layer 'c1' has B_A=1, out of range for the MAC array's a_width: allowed "
                      "values are 2..16."),
                     ({"layers": [{"name": "c1", "B_A": 4, "B_W": 17}]}, "B_W=17, out of range")):
        with pytest.raises(ConfigError, match=msg.replace("(", r"\(").replace(")", r"\)")):
            mac_array_widths(doc)


def test_synth_precision_cli_errors(tmp_path, capsys):
    good = tmp_path / "p.json"
    good.write_text(json.dumps({"layers": [{"name": "c", "B_A": 4, "B_W": 5}]}))
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "wide.json").write_text(json.dumps({"layers": [{"name": "c", "B_A": 20, "B_W": 5}]}))
    for argv in (["synth", "mac_array", "--precision", str(tmp_path / "none.json")],
                 ["synth", "mac_array", "--precision", str(tmp_path / "bad.json")],
                 ["synth", "mac_array", "--precision", str(tmp_path / "wide.json")],
                 ["synth", "mac_array", "--precision", str(good), "-p", "b_width=4"],
                 ["synth", "mac_array", "--precision", str(good), "-p", "pe=fp8"],
                 ["synth", "fp_add", "--precision", str(good)]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("lobit: error: ") and err.count("\n") == 1, err
