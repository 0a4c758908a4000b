"""Trainer at any code width (--bits-fwd / --bits-grad) and Sakr & Shanbhag's precision chain."""

import json

import numpy as np
import pytest

from golden.precision import assign, load_stats
from train.arith import Int8Arith, LayerBits, make_arith
from train.trainer import backward, build_network, forward, gemm_weights, train_run

GRADS = [("rne", None), ("rtz", None), ("sr", "phase"), ("sr", "per_lane"), ("arc", None),
         ("dagq", None), ("gvq", None)]


def _qmax(b):
    return 2 ** (b - 1) - 1


def _one_step(dataset, ar, n=32, seed=0):
    """One forward + backward step of the dataset's network on ``n`` examples with a trace."""
    from train.data import load
    from train.layers import softmax_ce
    ds = load(dataset)
    net = build_network(dataset, np.random.default_rng(seed))
    ar.bind(gemm_weights(net))
    ar.trace = []
    loss, g = softmax_ce(forward(net, ds.x_train[:n], ar), ds.y_train[:n])
    backward(net, g, ar)
    return net, ar.trace


@pytest.mark.parametrize("bits", [4, 2])
@pytest.mark.parametrize("grad,rlsru", GRADS)
def test_codes_within_range_at_low_widths(bits, grad, rlsru):
    """Every GEMM operand of a training step lies in the symmetric range of its declared width,
    the forward operands are at bits_fwd and the gradient operands at bits_grad, and the
    per-tensor max scale really reaches the top code (the width is used, not just respected)."""
    bf, bg = bits, 4 if bits == 2 else bits
    ar = make_arith("int8", grad, rlsru or "split", seed=1, bits_fwd=bf, bits_grad=bg)
    _, trace = _one_step("mnist1d", ar)
    gemms = [t for t in trace if t["kind"] == "gemm"]
    assert len(gemms) >= 7
    widths = set()
    for t in gemms:
        for op, w in (("A", t["a_width"]), ("B", t["b_width"])):
            assert np.abs(t[op].astype(np.int64)).max() <= _qmax(w)
            widths.add(w)
        assert not t["ovf"].any()
    assert widths <= {bf, bg, 2}             # 2: DAGQ's ternary operand
    fwd = gemms[:4]                          # the four forward GEMMs come first
    assert all(t["a_width"] == bf and t["b_width"] == bf for t in fwd)
    assert all(np.abs(t["B"].astype(np.int64)).max() == _qmax(bf) for t in fwd)
    back = gemms[4:]
    assert all(bg in (t["a_width"], t["b_width"]) or 2 in (t["a_width"], t["b_width"])
               for t in back)


def _oracle_codes(x, b, mode):
    """Per-tensor symmetric quantization restated in float64/int64 (no train/golden code):
    s = fp32(max|x| / L), inv = fp32(1/s), v = fp32(x * inv), RNE or RTZ, clamp to [-L, L]."""
    L = 2 ** (b - 1) - 1
    x = np.asarray(x, np.float32)
    s = np.float32(np.float64(np.abs(x).max()) / L)
    inv = np.float32(1.0 / np.float64(s))
    v = (x.astype(np.float64) * np.float64(inv)).astype(np.float32).astype(np.float64)
    q = np.round(v) if mode == "rne" else np.trunc(v)       # np.round: half to even
    return np.clip(q, -L, L).astype(np.int64), s


def _oracle_step(x, w, dy, bf, bg, mode, L_wrong=None):
    qx, sx = _oracle_codes(x, bf, "rne")
    qw, sw = _oracle_codes(w, bf, "rne")
    qg, sg = _oracle_codes(dy, L_wrong or bg, mode)
    y = (qx @ qw).astype(np.float32) * np.float32(sx * sw)
    dw = (qx.T @ qg).astype(np.float32) * np.float32(sx * sg)
    dx = (qg @ qw.T).astype(np.float32) * np.float32(sg * sw)
    return y, dx, dw


@pytest.mark.parametrize("bf,bg", [(4, 4), (8, 4), (4, 8), (2, 3), (8, 8)])
@pytest.mark.parametrize("mode", ["rne", "rtz"])
def test_quantized_gemms_equal_int64_restatement(bf, bg, mode):
    """Forward, input-gradient and weight-gradient GEMMs of one layer at (bits_fwd, bits_grad)
    equal an independent int64 re-statement bit for bit; bits 8/8 is the INT8 trainer."""
    rng = np.random.default_rng(bf * 10 + bg)
    x = (rng.standard_normal((48, 40)) * 3).astype(np.float32)
    w = rng.standard_normal((40, 12)).astype(np.float32)
    dy = (rng.standard_normal((48, 12)) * 1e-3).astype(np.float32)
    ar = Int8Arith(mode, bits_fwd=bf, bits_grad=bg)
    y, ctx = ar.forward(x, w)
    dx, dw = ar.backward(dy, ctx)
    ey, edx, edw = _oracle_step(x, w, dy, bf, bg, mode)
    for got, exp in ((y, ey), (dx, edx), (dw, edw)):
        assert got.dtype == np.float32 and np.array_equal(got, exp)
    # a deliberately wrong oracle (gradient range one bit wider) is caught
    _, wdx, wdw = _oracle_step(x, w, dy, bf, bg, mode, L_wrong=bg + 1)
    assert not np.array_equal(dx, wdx) and not np.array_equal(dw, wdw)


def test_bits8_is_the_int8_trainer():
    """Explicit widths 8/8 give the same run as the INT8 default, with the INT8 mode names."""
    a = train_run("digits", "int8", "sr", "phase", epochs=1, seed=2, limit_train=192)
    b = train_run("digits", "int8", "sr", "phase", epochs=1, seed=2, limit_train=192,
                  bits_fwd=8, bits_grad=8)
    assert a.train_loss == b.train_loss and a.test_acc == b.test_acc
    assert make_arith("int8", "sr", "phase", bits_fwd=8, bits_grad=8).name == "int8-sr-phase"
    assert make_arith("int8", "dagq", bits_fwd=8, bits_grad=4).name == "int-f8g4-dagq"


def _cli(argv, capsys):
    from sim.cli import main
    rc = main(argv)
    return rc, capsys.readouterr()


@pytest.mark.parametrize("argv,word", [
    (["--arith", "int8", "--bits-fwd", "1"], "--bits-fwd 1"),
    (["--arith", "int8", "--bits-grad", "17"], "--bits-grad 17"),
    (["--arith", "fp32", "--bits-grad", "4"], "needs --arith int8"),
    (["--arith", "sakr"], "needs --precision"),
    (["--arith", "int8", "--precision", "p.json"], "needs --arith sakr"),
    (["--arith", "int8", "--stats-out", "s.json"], "needs --arith fp32"),
    (["--arith", "int8", "--max-bits", "12"], "needs --arith sakr"),
    (["--arith", "sakr", "--precision", "/nonexistent/p.json"], "does not exist")])
def test_cli_width_errors_one_sentence_exit_2(argv, word, capsys):
    rc, out = _cli(["train"] + argv, capsys)
    lines = [l for l in out.err.splitlines() if l.strip()]
    assert rc == 2 and len(lines) == 1 and word in lines[0] and "Traceback" not in out.err


def test_cli_low_width_run_names_the_widths(tmp_path, capsys):
    p = tmp_path / "r.json"
    rc, out = _cli(["train", "--dataset", "digits", "--epochs", "1", "--arith", "int8",
                    "--grad", "sr", "--rlsru", "phase", "--bits-fwd", "6", "--bits-grad", "4",
                    "--json", str(p)], capsys)
    rec = json.loads(p.read_text())
    assert rc == 0 and rec["mode"] == "int-f6g4-sr-phase" and "int-f6g4-sr-phase" in out.out
    assert rec["bits_fwd"] == 6 and rec["bits_grad"] == 4 and rec["acc_mean"] > 0.3


# --- Sakr & Shanbhag ----------------------------------------------------------------------------

def _precision_doc(widths):
    return {"layers": [{"name": f"l{k}", "B_A": a, "B_W": w, "B_GA": ga, "B_GW": gw}
                       for k, (a, w, ga, gw) in enumerate(widths)]}


def test_sakr_layers_use_their_own_widths():
    widths = [(6, 5, 9, 10), (4, 7, 8, 12), (5, 3, 6, 7)]
    ar = make_arith("sakr", "rne", layer_bits=[LayerBits(*w) for w in widths])
    net, trace = _one_step("digits", ar, n=16)
    g = [t for t in trace if t["kind"] == "gemm"]
    fwd, back = g[:3], g[3:]
    for t, (a, w, _, _) in zip(fwd, widths):
        assert (t["a_width"], t["b_width"]) == (a, w)
        assert np.abs(t["A"].astype(np.int64)).max() == _qmax(a)
        assert np.abs(t["B"].astype(np.int64)).max() == _qmax(w)
    # backward runs from the last layer: dW = X^T dY (A_width, B_GA), dX = dY W^T (B_GA, B_W)
    exp = [(5, 6), (6, 3), (4, 8), (8, 7), (6, 9)]
    assert [(t["a_width"], t["b_width"]) for t in back] == exp
    for t in back:
        assert np.abs(t["A"].astype(np.int64)).max() <= _qmax(t["a_width"])
        assert np.abs(t["B"].astype(np.int64)).max() <= _qmax(t["b_width"])
    # the weight gradient reaches the optimizer on its B_GW grid: dW / s is an integer in range
    for layer, (_, _, _, gw) in zip([l for l in net if "W" in l.params], widths):
        d = layer.grads["W"].astype(np.float64)
        s = np.float32(np.float32(np.abs(layer.grads["W"]).max()) / np.float32(_qmax(gw)))
        k = d / np.float64(s)
        assert np.allclose(k, np.rint(k), atol=1e-3) and np.abs(np.rint(k)).max() == _qmax(gw)


@pytest.mark.parametrize("doc,word", [
    ({"layers": []}, "has 0 layers"),
    (_precision_doc([(8, 8, 8, 8)] * 4), "has 4 layers"),
    (_precision_doc([(8, 8, 8, 8), (8, 17, 8, 8), (8, 8, 8, 8)]), "B_W=17"),
    (_precision_doc([(1, 8, 8, 8), (8, 8, 8, 8), (8, 8, 8, 8)]), "B_A=1")])
def test_sakr_precision_file_errors(tmp_path, capsys, doc, word):
    p = tmp_path / "p.json"
    p.write_text(json.dumps(doc))
    rc, out = _cli(["train", "--dataset", "digits", "--arith", "sakr", "--precision", str(p)],
                   capsys)
    lines = [l for l in out.err.splitlines() if l.strip()]
    assert rc == 2 and len(lines) == 1 and word in lines[0]


def test_stats_estimators_on_the_classifier_layer():
    """E_A, E_W and lambda_max of the last (linear) layer against closed forms: for logits
    z = h W + b, d(z_i - z_yhat)/dh = W_i - W_yhat and the weight derivative's squared norm is
    2 |h|^2; the Jacobian of dW = X^T dY has the singular values of X."""
    from train.data import load
    from train.sakr import GAIN_EXAMPLES, JACOBIAN_BATCHES, StatsRecorder
    ds = load("digits")
    net = build_network("digits", np.random.default_rng(0))
    st = StatsRecorder()
    st.finish(net, ds)
    x = ds.x_train[:GAIN_EXAMPLES].astype(np.float64)
    h = x
    for layer in net[:-1]:
        h = layer.forward(h, make_arith("fp32"))
    W = net[-1].params["W"].astype(np.float64)
    z = h @ W + net[-1].params["b"]
    yh = z.argmax(1)
    ea = ew = 0.0
    for n in range(len(x)):
        for i in range(10):
            if i == yh[n]:
                continue
            d2 = 24.0 * (z[n, i] - z[n, yh[n]]) ** 2
            ea += np.sum((W[:, i] - W[:, yh[n]]) ** 2) / d2
            ew += 2.0 * np.sum(h[n] ** 2) / d2
    assert np.isclose(st.E_A[-1], ea / len(x), rtol=1e-9)
    assert np.isclose(st.E_W[-1], ew / len(x), rtol=1e-9)
    lam = 0.0
    for b in range(JACOBIAN_BATCHES):
        hb = ds.x_train[b * 64:(b + 1) * 64].astype(np.float64)
        for layer in net[:-1]:
            hb = layer.forward(hb, make_arith("fp32"))
        lam = max(lam, np.linalg.svd(hb, compute_uv=False)[0])
    assert np.isclose(st.lambda_max[-1], lam, rtol=1e-9)
    assert not np.isclose(st.E_W[-1], 2 * ew / len(x), rtol=1e-3)   # a wrong factor is caught


def test_stats_to_precision_to_sakr_chain(tmp_path, capsys):
    """fp32 --stats-out -> golden.precision.assign -> --arith sakr, through the CLI."""
    s = tmp_path / "stats.json"
    rc, _ = _cli(["train", "--dataset", "digits", "--epochs", "1", "--stats-out", str(s)], capsys)
    doc = json.loads(s.read_text())
    assert rc == 0 and len(doc["layers"]) == 3
    assert all(len(l["grad_std"]) == 23 for l in doc["layers"])      # 23 steps < 200 samples
    rc, out = _cli(["precision", str(s), "-o", str(tmp_path / "p.json")], capsys)
    assert rc == 0
    a = assign(*load_stats(doc))
    pdoc = json.loads((tmp_path / "p.json").read_text())
    assert [l["B_W"] for l in pdoc["layers"]] == [l.B_W for l in a.layers]
    rc, out = _cli(["train", "--dataset", "digits", "--epochs", "1", "--arith", "sakr",
                    "--precision", str(tmp_path / "p.json"), "--max-bits", "12",
                    "--json", str(tmp_path / "r.json")], capsys)
    rec = json.loads((tmp_path / "r.json").read_text())
    exp = [[min(l[f], 12) for f in ("B_A", "B_W", "B_GA", "B_GW")] for l in pdoc["layers"]]
    assert rc == 0 and "sakr-rne-max12" in out.out and rec["layer_bits"] == exp


@pytest.mark.parametrize("policy", ["wrap", "saturate"])
@pytest.mark.parametrize("scale", [0.02, 1.0])
def test_wide_operand_gemm_equals_gemm_tile(policy, scale):
    """16 x 12-bit operands into a 32-bit accumulator (a Sakr layer): small codes take the
    |A| @ |B| bound shortcut, full-range codes overflow; both equal golden gemm_tile."""
    from golden.mac_array import MacArrayConfig
    from tests.test_train_arith import _row_flags, _tiled
    from train.fastgolden import int_gemm
    cfg = MacArrayConfig(rows=4, cols=4, a_width=16, b_width=12, overflow=policy)
    rng = np.random.default_rng(7)
    lo = -1 if scale < 1 else 0.3              # full range: same signs, the sums overflow
    A = np.rint(rng.uniform(lo, 1, (9, 300)) * scale * 32767).astype(np.int64)
    B = np.rint(rng.uniform(lo, 1, (300, 6)) * scale * 2047).astype(np.int64)
    C, ovf = int_gemm(cfg, A, B)
    exp, rows = _tiled(cfg, A, B)
    assert np.array_equal(C, exp) and np.array_equal(_row_flags(cfg, ovf), rows)
    assert ovf.any() == (scale == 1.0)
