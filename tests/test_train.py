"""Trainer: float64 finite-difference gradient checks, datasets, determinism, CLI errors."""

import json

import numpy as np
import pytest

from train.arith import Fp32Arith
from train.data import load
from train.layers import Conv1d, Conv2d, Flatten, Linear, Pool, ReLU, softmax_ce
from train.trainer import backward, build_network, forward, train_run


def _loss(layers, x, y, ar):
    return softmax_ce(forward(layers, x, ar), y)[0]


def _gradcheck(layers, x, y, n_probe=12, eps=1e-6, seed=0, corrupt=None):
    """Largest relative error between analytic and central-difference gradients.

    Probes ``n_probe`` random entries of every parameter and of the input. ``corrupt``
    (a callable on the analytic input gradient) is the deliberately wrong variant.
    """
    ar = Fp32Arith()
    rng = np.random.default_rng(seed)
    loss, g = softmax_ce(forward(layers, x, ar), y)
    dx = g
    for i in range(len(layers) - 1, -1, -1):
        dx = layers[i].backward(dx, ar, need_dx=True)
    if corrupt is not None:
        dx = corrupt(dx)
    worst = 0.0
    targets = [(x, dx)] + [(l.params[k], l.grads[k]) for l in layers for k in l.params]
    for arr, grad in targets:
        flat, gflat = arr.reshape(-1), grad.reshape(-1)
        for j in rng.choice(flat.size, min(n_probe, flat.size), replace=False):
            old = flat[j]
            flat[j] = old + eps
            lp = _loss(layers, x, y, ar)
            flat[j] = old - eps
            lm = _loss(layers, x, y, ar)
            flat[j] = old
            num = (lp - lm) / (2 * eps)
            worst = max(worst, abs(num - gflat[j]) / max(1e-7, abs(num) + abs(gflat[j])))
    return worst


def _head(n_in, rng):
    return [Flatten(), Linear(n_in, 5, rng, np.float64)]


CASES = {
    "linear": lambda r: ([Linear(7, 5, r, np.float64)], (4, 7)),
    "conv1d_s2_p1": lambda r: ([Conv1d(3, 4, 3, r, stride=2, pad=1, dtype=np.float64)] + _head(4 * 6, r), (3, 11, 3)),
    "conv1d_k5_p2": lambda r: ([Conv1d(2, 3, 5, r, pad=2, dtype=np.float64)] + _head(3 * 9, r), (2, 9, 2)),
    "conv2d_p1": lambda r: ([Conv2d(2, 3, 3, r, pad=1, dtype=np.float64)] + _head(3 * 25, r), (2, 5, 5, 2)),
    "conv2d_s2": lambda r: ([Conv2d(2, 3, 3, r, stride=2, dtype=np.float64)] + _head(3 * 9, r), (2, 7, 7, 2)),
    "relu": lambda r: ([ReLU()] + _head(12, r), (3, 6, 2)),
    "maxpool1d": lambda r: ([Pool(2, "max")] + _head(3 * 4, r), (3, 6, 4)),
    "avgpool1d": lambda r: ([Pool(2, "avg")] + _head(3 * 4, r), (3, 6, 4)),
    "maxpool2d": lambda r: ([Pool(2, "max")] + _head(2 * 2 * 3, r), (2, 4, 4, 3)),
    "avgpool2d": lambda r: ([Pool(2, "avg")] + _head(2 * 2 * 3, r), (2, 4, 4, 3)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_gradients_against_finite_differences(name):
    rng = np.random.default_rng(1)
    layers, shape = CASES[name](rng)
    x = rng.standard_normal(shape)
    y = rng.integers(0, 5, shape[0])
    assert _gradcheck(layers, x, y) < 1e-5


@pytest.mark.parametrize("dataset,shape", [("mnist1d", (3, 40, 1)), ("digits", (3, 8, 8, 1))])
def test_whole_network_gradient(dataset, shape):
    rng = np.random.default_rng(2)
    net = build_network(dataset, rng, np.float64)
    x = rng.standard_normal(shape)
    y = rng.integers(0, 10, shape[0])
    assert _gradcheck(net, x, y, n_probe=6) < 1e-5


def test_gradient_check_catches_a_wrong_gradient():
    """Mutation: a 1 % error in the input gradient must fail the check."""
    rng = np.random.default_rng(1)
    layers, shape = CASES["conv1d_s2_p1"](rng)
    x = rng.standard_normal(shape)
    y = rng.integers(0, 5, shape[0])
    assert _gradcheck(layers, x, y, corrupt=lambda d: d * 1.01) > 1e-3


def test_datasets_offline_shapes():
    m = load("mnist1d")
    assert m.x_train.shape == (4000, 40, 1) and m.x_test.shape == (1000, 40, 1)
    assert set(np.unique(m.y_train)) == set(range(10))
    d = load("digits")
    assert d.x_train.shape == (1437, 8, 8, 1) and d.x_test.shape == (360, 8, 8, 1)


@pytest.mark.parametrize("kw", [dict(arith="fp32"), dict(arith="int8", grad="sr", rlsru="split"),
                                dict(arith="int8", grad="arc")])
def test_deterministic_per_seed(kw):
    a = train_run("digits", epochs=1, seed=3, limit_train=256, **kw)
    b = train_run("digits", epochs=1, seed=3, limit_train=256, **kw)
    c = train_run("digits", epochs=1, seed=4, limit_train=256, **kw)
    assert a.test_acc == b.test_acc and a.train_loss == b.train_loss
    assert a.train_loss != c.train_loss


def test_fp32_digits_learns():
    r = train_run("digits", "fp32", epochs=3, seed=0)
    assert r.final_acc > 0.85


def _cli(argv, capsys):
    from sim.cli import main
    rc = main(argv)
    return rc, capsys.readouterr()


@pytest.mark.parametrize("argv,word", [
    (["--dataset", "cifar"], "'cifar'"), (["--arith", "int4"], "'int4'"),
    (["--arith", "int8", "--grad", "sr2"], "'sr2'"),
    (["--arith", "int8", "--grad", "sr", "--rlsru", "lfsr"], "'lfsr'"),
    (["--arith", "fp8", "--acc", "fp16"], "'fp16'"),
    (["--arith", "int8", "--rlsru", "split"], "needs --grad sr"),
    (["--arith", "int8", "--grad", "rne", "--rlsru", "split"], "needs --grad sr"),
    (["--arith", "fp32", "--grad", "sr"], "needs --arith int8"),
    (["--epochs", "0"], "--epochs 0"), (["--seeds", "-2"], "--seeds -2")])
def test_cli_bad_input_one_sentence_exit_2(argv, word, capsys):
    rc, out = _cli(["train"] + argv, capsys)
    assert rc == 2
    lines = [l for l in out.err.splitlines() if l.strip()]
    assert len(lines) == 1 and word in lines[0] and "Traceback" not in out.err


def test_cli_diverged_run_is_recorded(tmp_path, capsys):
    p = tmp_path / "r.json"
    rc, out = _cli(["train", "--dataset", "digits", "--epochs", "1", "--lr", "1e5",
                    "--json", str(p)], capsys)
    rec = json.loads(p.read_text())
    assert rc == 1 and rec["status"] == "diverged" and rec["acc_mean"] is None
    assert "epoch 1, step" in out.err and rec["runs"][0]["step"] >= 1


def test_cli_run_writes_record(tmp_path, capsys):
    p = tmp_path / "r.json"
    rc, out = _cli(["train", "--dataset", "digits", "--epochs", "1", "--seeds", "2",
                    "--arith", "int8", "--grad", "sr", "--rlsru", "per_lane", "--json", str(p)],
                   capsys)
    rec = json.loads(p.read_text())
    assert rc == 0 and rec["status"] == "ok" and len(rec["runs"]) == 2
    assert "+-" in out.out and "epoch 1/1" in out.err
    assert rec["mac_array"]["cycles"] > 0 and 0 < rec["mac_array"]["utilization"] <= 1
    assert any(b["block"] == "rlsru" and b["lut"] for b in rec["blocks"])


def test_train_imports_no_hardware_layer():
    import subprocess
    import sys
    code = ("import sys, train.cli, train.trainer, train.arith, train.report, train.sakr, "
            "train.bits_sweep\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('hw', 'sim', 'amaranth')]\n"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
