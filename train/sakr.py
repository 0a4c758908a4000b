"""Sakr & Shanbhag's precision chain on the trainer: statistics out, assigned widths in.

``lobit train --arith fp32 --stats-out stats.json`` records, during and after seed 0's FP32 run,
the per-layer statistics :mod:`golden.precision` defines (:class:`StatsRecorder`);
``lobit precision stats.json -o precision.json`` turns them into widths; ``lobit train --arith
sakr --precision precision.json`` trains on the integer arithmetic with those widths per layer
(:func:`load_precision`). A "layer" is a GEMM layer (convolution or classifier), in network
order; docs/training.md describes the estimators and where they approximate the paper's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from golden.params import ConfigError

from .arith import BITS_MAX, BITS_MIN, Fp32Arith, LayerBits

#: gradient-statistics sample points over the run (the paper's 200)
SAMPLES = 200
#: training examples the noise gains are averaged over (batch size 1 in the paper)
GAIN_EXAMPLES = 1000
#: batches of the training batch size the Jacobian's largest singular value is taken over
JACOBIAN_BATCHES = 10


class _Probe(Fp32Arith):
    """FP32 GEMMs that remember each layer's GEMM input ``x`` (forward) by weight array."""

    def __init__(self):
        super().__init__()
        self.record = False
        self.inputs = {}

    def forward(self, x, w, tag=None):
        self.inputs[id(w)] = x
        return super().forward(x, w, tag)

    def backward(self, dy, ctx, need_dx=True):
        self.dy = (id(ctx[1]), dy)
        return super().backward(dy, ctx, need_dx)


class StatsRecorder:
    """Collects ``grad_std`` during training and ``E_A``, ``E_W``, ``lambda_max`` at the end.

    * ``grad_std``: at ``SAMPLES`` evenly spaced training steps (every step of a shorter run),
      the standard deviation over the elements of each layer's weight gradient (the minibatch
      gradient the optimizer receives).
    * ``E_A``, ``E_W`` (C1): on the first ``GAIN_EXAMPLES`` training examples of the trained
      network, ``mean_x sum_{i != yhat} sum_h (d(z_i - z_yhat)/dh)^2 / (24 (z_i - z_yhat)^2)``
      with ``h`` over the layer's input activation tensor (``E_A``) or its weights (``E_W``); the
      derivatives are per example (float64 back-propagation of ``e_i - e_yhat``).
    * ``lambda_max`` (C4): the weight gradient ``dW = X^T dY`` is linear in the output gradient
      ``dY``; the largest singular value of that map is the largest singular value of the
      layer's GEMM input ``X`` (im2col matrix), taken as the maximum over ``JACOBIAN_BATCHES``
      training batches of the run's batch size.
    """

    def __init__(self):
        self.grad_std = None
        self.samples = []
        self.layers = None

    def step(self, net, it, total):
        from .trainer import gemm_layers
        if self.grad_std is None:
            self.layers = gemm_layers(net)
            self.grad_std = [[] for _ in self.layers]
            n = min(SAMPLES, total)
            self.samples = set(int(round(k * (total - 1) / max(n - 1, 1))) for k in range(n))
        if it in self.samples:
            for acc, layer in zip(self.grad_std, self.layers):
                acc.append(float(np.std(layer.grads["W"].astype(np.float64))))

    def finish(self, net, ds, batch=64):
        from .trainer import gemm_layers
        layers = gemm_layers(net)
        probe = _Probe()
        x = ds.x_train[:GAIN_EXAMPLES].astype(np.float64)
        n = len(x)
        h = x
        for layer in net:
            h = layer.forward(h, probe)
        z = h
        yhat = z.argmax(axis=1)
        e_a = np.zeros(len(layers))
        e_w = np.zeros(len(layers))
        gidx = [net.index(l) for l in layers]
        for i in range(z.shape[1]):
            d = z[:, i] - z[np.arange(n), yhat]
            use = yhat != i
            w = np.where(use, 1.0 / (24.0 * np.where(use, d, 1.0) ** 2), 0.0)
            g = np.zeros_like(z)
            g[np.arange(n), i] = use
            g[np.arange(n), yhat] -= use
            for j in range(len(net) - 1, -1, -1):
                g_in = net[j].backward(g, probe, need_dx=True)
                if j in gidx:
                    k = gidx.index(j)
                    e_a[k] += float(np.sum(w * np.sum(g_in.reshape(n, -1) ** 2, axis=1)))
                    X = probe.inputs[id(net[j].params["W"])]
                    dY = probe.dy[1]
                    r = X.shape[0] // n
                    dwn = np.einsum("brk,brn->bkn", X.reshape(n, r, -1), dY.reshape(n, r, -1))
                    e_w[k] += float(np.sum(w * np.sum(dwn.reshape(n, -1) ** 2, axis=1)))
                g = g_in
        self.E_A = (e_a / n).tolist()
        self.E_W = (e_w / n).tolist()
        lam = np.zeros(len(layers))
        for b in range(JACOBIAN_BATCHES):
            xb = ds.x_train[b * batch:(b + 1) * batch].astype(np.float64)
            if len(xb) == 0:
                break
            probe.inputs = {}
            h = xb
            for layer in net:
                h = layer.forward(h, probe)
            for k, layer in enumerate(layers):
                X = probe.inputs[id(layer.params["W"])]
                lam[k] = max(lam[k], float(np.linalg.norm(X, 2)))
        self.lambda_max = lam.tolist()
        self.names = [f"{type(l).__name__.lower()}{k + 1}" for k, l in enumerate(layers)]

    def to_json(self, dataset, epochs, seed) -> dict:
        return {"source": f"lobit train --arith fp32 --dataset {dataset} --epochs {epochs} "
                          f"(seed {seed})",
                "estimators": {"grad_std": f"{len(self.grad_std[0])} evenly spaced steps",
                               "E_A_E_W": f"first {GAIN_EXAMPLES} training examples",
                               "lambda_max": f"max over {JACOBIAN_BATCHES} batches of "
                                             f"sigma_max(im2col input)"},
                "layers": [{"name": nm, "E_A": ea, "E_W": ew, "grad_std": gs, "lambda_max": lm}
                           for nm, ea, ew, gs, lm in zip(self.names, self.E_A, self.E_W,
                                                         self.grad_std, self.lambda_max)]}

    def write(self, path, dataset, epochs, seed):
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_json(dataset, epochs, seed), indent=1) + "\n")


def network_layers(dataset) -> int:
    """Number of GEMM layers of the dataset's network."""
    from .trainer import build_network, gemm_layers
    return len(gemm_layers(build_network(dataset, np.random.default_rng(0))))


def load_precision(path, dataset, cap=None) -> list:
    """Per-layer :class:`LayerBits` ``(B_A, B_W, B_GA, B_GW)`` from a ``lobit precision`` JSON.

    ``cap`` (2..16, optional) lowers every width above it to ``cap`` (``--max-bits``): the
    integer arithmetic, like the ``mac_array`` block, takes operands of at most 16 bits, and the
    assignment can ask for more. Raises :class:`ConfigError` (one sentence) for a missing or
    malformed file, a layer count that differs from the network's, or a width outside 2..16
    without a cap.
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"--precision {str(p)!r} does not exist: give the JSON written by "
                          f"`lobit precision -o`.") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError(f"--precision {str(p)!r} is not valid JSON: give the JSON written by "
                          f"`lobit precision -o`.") from None
    return precision_bits(doc, dataset, cap, f"--precision {str(p)!r}")


def precision_bits(doc, dataset, cap=None, what="the precision assignment") -> list:
    """:class:`LayerBits` from an assignment document (:meth:`golden.precision.Assignment.
    to_json`); the checks of :func:`load_precision`."""
    layers = doc.get("layers") if isinstance(doc, dict) else None
    n = network_layers(dataset)
    if not isinstance(layers, list) or len(layers) != n:
        got = len(layers) if isinstance(layers, list) else "no"
        raise ConfigError(f"{what} has {got} layers: the {dataset} network has "
                          f"{n} GEMM layers.")
    out = []
    for k, l in enumerate(layers):
        ws = []
        for f in ("B_A", "B_W", "B_GA", "B_GW"):
            v = l.get(f) if isinstance(l, dict) else None
            if isinstance(v, int) and cap is not None and v > cap:
                v = cap
            if not isinstance(v, int) or not BITS_MIN <= v <= BITS_MAX:
                hint = " (or give --max-bits to cap the widths)" if isinstance(v, int) and \
                    v > BITS_MAX else ""
                raise ConfigError(f"--precision layer {k} {f}={v!r} is out of range: allowed "
                                  f"values are integers {BITS_MIN}..{BITS_MAX}{hint}.")
            ws.append(v)
        out.append(LayerBits(*ws))
    return out


def sakr_chain(dataset, epochs=None, cap=16, seed=0, log=None):
    """The whole chain for ``make train``: an FP32 run with :class:`StatsRecorder` (``seed``,
    ``epochs``), :func:`golden.precision.assign` on its statistics (default budget and
    ``gamma_min``), and the per-layer widths capped at ``cap``.

    Returns ``(layer_bits, stats document, assignment document)``.
    """
    from golden.precision import assign, load_stats

    from .trainer import HYPER, train_run
    epochs = epochs or HYPER[dataset]["epochs"]
    st = StatsRecorder()
    train_run(dataset, "fp32", epochs=epochs, seed=seed, stats=st)
    sdoc = st.to_json(dataset, epochs, seed)
    adoc = assign(*load_stats(sdoc)).to_json()
    return precision_bits(adoc, dataset, cap), sdoc, adoc
