"""Networks, SGD and the training loop.

Networks (channels-last, see :mod:`train.layers`):

* ``mnist1d`` (input ``40 x 1``): Conv1d(1->32, k5, pad 2) ReLU MaxPool2 -> Conv1d(32->32, k3,
  pad 1) ReLU MaxPool2 -> Conv1d(32->32, k3, pad 1) ReLU AvgPool2 -> Linear(160->10).
* ``digits`` (input ``8 x 8 x 1``): Conv2d(1->16, k3, pad 1) ReLU MaxPool2 -> Conv2d(16->32, k3,
  pad 1) ReLU AvgPool2 -> Linear(128->10).

Training: SGD with momentum 0.9 and weight decay 5e-4 on FP32 master weights (``v = mu v + g +
wd w``, ``w -= lr v``), cosine learning-rate decay over the epochs, batch 64, He-normal
initialization. Everything random (initialization, shuffling, RLSRU seed) derives from the run
seed, so a run is deterministic for a given seed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from .arith import make_arith
from .data import load
from .layers import Conv1d, Conv2d, Flatten, Linear, Pool, ReLU, softmax_ce


def build_network(dataset: str, rng, dtype=np.float32):
    """The layer list of the CNN for ``dataset`` (module docstring)."""
    if dataset == "mnist1d":
        return [Conv1d(1, 32, 5, rng, pad=2, dtype=dtype), ReLU(), Pool(2, "max"),
                Conv1d(32, 32, 3, rng, pad=1, dtype=dtype), ReLU(), Pool(2, "max"),
                Conv1d(32, 32, 3, rng, pad=1, dtype=dtype), ReLU(), Pool(2, "avg"),
                Flatten(), Linear(160, 10, rng, dtype)]
    if dataset == "digits":
        return [Conv2d(1, 16, 3, rng, pad=1, dtype=dtype), ReLU(), Pool(2, "max"),
                Conv2d(16, 32, 3, rng, pad=1, dtype=dtype), ReLU(), Pool(2, "avg"),
                Flatten(), Linear(128, 10, rng, dtype)]
    raise ValueError(f"dataset {dataset!r} is unknown")


def gemm_layers(net):
    """The layers that issue GEMMs (convolutions and the classifier), in order."""
    return [layer for layer in net if "W" in layer.params]


def gemm_weights(net):
    """Their weight arrays, in order (the arithmetic keys per-layer state by them)."""
    return [layer.params["W"] for layer in gemm_layers(net)]


def forward(net, x, arith):
    for layer in net:
        x = layer.forward(x, arith)
    return x


def backward(net, g, arith):
    """Back-propagate ``g`` (gradient of the loss w.r.t. the logits); the first layer does not
    compute its input gradient (no GEMM is spent on it)."""
    for i in range(len(net) - 1, -1, -1):
        g = net[i].backward(g, arith, need_dx=i > 0)
    return g


class SGD:
    """SGD with momentum and decoupled-in-gradient weight decay on FP32 master weights."""

    def __init__(self, net, lr=0.05, momentum=0.9, wd=5e-4):
        self.net, self.lr, self.mu, self.wd = net, lr, momentum, wd
        self.v = [{k: np.zeros_like(p) for k, p in l.params.items()} for l in net]

    def step(self, lr=None):
        lr = self.lr if lr is None else lr
        for layer, vel in zip(self.net, self.v):
            for k, p in layer.params.items():
                g = layer.grads[k] + (self.wd * p if k == "W" else 0)
                vel[k] *= self.mu
                vel[k] += g
                p -= np.asarray(lr * vel[k], dtype=p.dtype)


def evaluate(net, x, y, arith, batch=500):
    """Accuracy of ``net`` on ``(x, y)`` with the run's arithmetic (forward GEMMs only)."""
    rec, arith.record = arith.record, False
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((forward(net, x[i:i + batch], arith).argmax(axis=1) == y[i:i + batch]).sum())
    arith.record = rec
    return correct / len(x)


class Diverged(Exception):
    """The loss became NaN or Inf."""

    def __init__(self, epoch, step, loss):
        super().__init__(f"training diverged: loss is {loss} at epoch {epoch}, step {step}")
        self.epoch, self.step, self.loss = epoch, step, loss


@dataclass
class RunResult:
    """Outcome of one training run (one seed)."""
    seed: int
    test_acc: list = field(default_factory=list)       # per epoch
    train_loss: list = field(default_factory=list)     # per epoch (mean over steps)
    epoch_seconds: list = field(default_factory=list)
    final_acc: float | None = None
    diverged: dict | None = None
    step_shapes: list = field(default_factory=list)    # GEMM (M, K, N) of one training step
    int_overflows: int = 0


HYPER = {"mnist1d": {"lr": 0.05, "epochs": 30}, "digits": {"lr": 0.05, "epochs": 20}}


def train_run(dataset="mnist1d", arith="fp32", grad="rne", rlsru="split", acc="dga", epochs=None,
              seed=0, batch=64, lr=None, momentum=0.9, wd=5e-4, progress=None,
              limit_train=None, bits_fwd=8, bits_grad=8, layer_bits=None,
              stats=None) -> RunResult:
    """Train the dataset's CNN once and return per-epoch test accuracy and timing.

    Parameters
    ----------
    dataset, arith, grad, rlsru, acc : str
        As ``lobit train`` (validated there).
    epochs : int, optional
        Default from :data:`HYPER`.
    seed : int
        Initialization, shuffling and RLSRU seed.
    progress : callable, optional
        ``progress(epoch, epochs, step, steps, loss)`` called after every step.
    limit_train : int, optional
        Use only the first ``limit_train`` training examples (tests).
    bits_fwd, bits_grad : int
        Code widths of weights/activations and of output gradients (``int8`` arithmetic).
    layer_bits : list of :class:`train.arith.LayerBits`, optional
        Per-layer widths of the ``sakr`` arithmetic, in the order of the network's GEMM layers.
    stats : :class:`train.sakr.StatsRecorder`, optional
        Records the per-layer statistics of Sakr & Shanbhag's precision assignment.
    """
    ds = load(dataset)
    hp = HYPER[dataset]
    epochs = hp["epochs"] if epochs is None else epochs
    lr = hp["lr"] if lr is None else lr
    rng = np.random.default_rng(seed)
    net = build_network(dataset, rng)
    ar = make_arith(arith, grad, rlsru, acc, seed, bits_fwd=bits_fwd, bits_grad=bits_grad,
                    layer_bits=layer_bits)
    if hasattr(ar, "bind"):
        ar.bind(gemm_weights(net))
    opt = SGD(net, lr, momentum, wd)
    xtr, ytr = ds.x_train, ds.y_train
    if limit_train:
        xtr, ytr = xtr[:limit_train], ytr[:limit_train]
    n = len(xtr)
    steps = math.ceil(n / batch)
    res = RunResult(seed=seed)
    total = epochs * steps
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        _loop(res, net, ar, opt, ds, xtr, ytr, epochs, steps, batch, lr, total, rng, progress,
              stats)
        if stats is not None:
            stats.finish(net, ds)
    res.final_acc = res.test_acc[-1]
    res.int_overflows = getattr(ar, "overflows", 0)
    return res


def _loop(res, net, ar, opt, ds, xtr, ytr, epochs, steps, batch, lr, total, rng, progress,
          stats=None):
    n = len(xtr)
    for ep in range(epochs):
        t0 = time.perf_counter()
        order = rng.permutation(n)
        losses = []
        for st in range(steps):
            idx = order[st * batch:(st + 1) * batch]
            ar.record = ep == 0 and st == 0
            logits = forward(net, xtr[idx], ar)
            loss, g = softmax_ce(logits, ytr[idx])
            if not np.isfinite(loss):
                res.diverged = {"epoch": ep + 1, "step": st + 1, "loss": str(loss)}
                res.step_shapes = list(ar.shapes)
                raise Diverged(ep + 1, st + 1, loss)
            backward(net, g, ar)
            it = ep * steps + st
            if stats is not None:
                stats.step(net, it, total)
            opt.step(0.5 * lr * (1 + math.cos(math.pi * it / total)))
            losses.append(loss)
            if progress:
                progress(ep + 1, epochs, st + 1, steps, loss)
        if ep == 0:
            res.step_shapes = list(ar.shapes)
        res.test_acc.append(evaluate(net, ds.x_test, ds.y_test, ar))
        res.train_loss.append(float(np.mean(losses)))
        res.epoch_seconds.append(time.perf_counter() - t0)
