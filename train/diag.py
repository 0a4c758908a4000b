"""Why ARC loses accuracy here: quantization error of the logit gradient, ARC vs RTZ vs RNE.

``python -m train.diag`` trains the MNIST-1D network in FP32 for 5 epochs (seed 0, constant
learning rate 0.05), takes the gradient of the loss with respect to the logits on the first
training batch, quantizes it per tensor with ARC (adaptive), RTZ and RNE, and prints the relative
L2 error and cosine of the dequantized gradient and the fraction of clipped elements.
"""

from __future__ import annotations

import numpy as np

from golden.arc import arc_quantize

from .arith import Fp32Arith, quantize_tensor
from .data import load
from .layers import softmax_ce
from .trainer import SGD, backward, build_network, forward


def logit_gradient_errors(epochs=5, seed=0) -> dict:
    """Errors of the three per-tensor quantizers on one logit gradient (module docstring)."""
    ds = load("mnist1d")
    net = build_network("mnist1d", np.random.default_rng(seed))
    ar, opt = Fp32Arith(), SGD(net)
    x, y = ds.x_train, ds.y_train
    for _ in range(epochs):
        for i in range(0, len(x), 64):
            _, g = softmax_ce(forward(net, x[i:i + 64], ar), y[i:i + 64])
            backward(net, g, ar)
            opt.step(0.05)
    _, g = softmax_ce(forward(net, x[:64], ar), y[:64])
    g = g.astype(np.float32)
    out = {}
    r = arc_quantize(g, rounding="adaptive")
    cands = {"arc": (r.codes.astype(np.float32) * r.s, float(r.clip.mean()), r.mode)}
    for m in ("rtz", "rne"):
        q, s = quantize_tensor(g, m)
        cands[m] = (q.astype(np.float32) * s, 0.0, m)
    for k, (d, clipped, mode) in cands.items():
        out[k] = {"rel_l2_error": float(np.linalg.norm(d - g) / np.linalg.norm(g)),
                  "cosine": float((d * g).sum() / np.linalg.norm(d) / np.linalg.norm(g)),
                  "clipped_fraction": clipped, "rounding": mode}
    return out


if __name__ == "__main__":
    for k, v in logit_gradient_errors().items():
        print(f"{k}: relative L2 error {v['rel_l2_error']:.3f}, cosine {v['cosine']:.3f}, "
              f"clipped {100 * v['clipped_fraction']:.1f} %, rounding {v['rounding']}")
