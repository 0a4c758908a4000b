"""Layers of the trainer (channels-last tensors), each with forward and backward.

Convolutions are im2col + one GEMM through the run's arithmetic (:mod:`train.arith`), so the
GEMM is exactly what a systolic array computes: ``(B * L_out) x (k * C_in) @ (k * C_in) x C_out``.
Biases, ReLU, pooling and the loss stay in the master precision (float32, or float64 for the
gradient checks). Shapes: 1-D ``(B, L, C)``, 2-D ``(B, H, W, C)``.
"""

from __future__ import annotations

import numpy as np


class Layer:
    """Base class. ``params`` maps a name to an array; ``grads`` holds the matching gradients."""

    def __init__(self):
        self.params = {}
        self.grads = {}

    def forward(self, x, arith):
        raise NotImplementedError

    def backward(self, dy, arith):
        raise NotImplementedError


def _he(rng, fan_in, shape, dtype):
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


class Linear(Layer):
    """``y = x @ W + b`` with ``x`` of shape ``(B, in)``."""

    def __init__(self, n_in, n_out, rng, dtype=np.float32):
        super().__init__()
        self.params = {"W": _he(rng, n_in, (n_in, n_out), dtype), "b": np.zeros(n_out, dtype)}

    def forward(self, x, arith):
        y, self.ctx = arith.forward(x, self.params["W"])
        return y + self.params["b"]

    def backward(self, dy, arith, need_dx=True):
        dx, dw = arith.backward(dy, self.ctx, need_dx)
        self.grads = {"W": dw.astype(self.params["W"].dtype), "b": dy.sum(axis=0)}
        return dx


class Conv1d(Layer):
    """1-D convolution, stride ``stride``, zero padding ``pad``, im2col + GEMM."""

    def __init__(self, c_in, c_out, k, rng, stride=1, pad=0, dtype=np.float32):
        super().__init__()
        self.k, self.stride, self.pad = k, stride, pad
        self.params = {"W": _he(rng, k * c_in, (k * c_in, c_out), dtype),
                       "b": np.zeros(c_out, dtype)}

    def forward(self, x, arith):
        B, L, C = x.shape
        xp = np.pad(x, ((0, 0), (self.pad, self.pad), (0, 0)))
        Lo = (L + 2 * self.pad - self.k) // self.stride + 1
        idx = np.arange(Lo)[:, None] * self.stride + np.arange(self.k)[None, :]
        cols = xp[:, idx, :].reshape(B * Lo, self.k * C)          # (B*Lo, k*C), k-major
        y, self.ctx = arith.forward(cols, self.params["W"])
        self.shape = (B, L, C, Lo)
        return y.reshape(B, Lo, -1) + self.params["b"]

    def backward(self, dy, arith, need_dx=True):
        B, L, C, Lo = self.shape
        dy2 = dy.reshape(B * Lo, -1)
        dcols, dw = arith.backward(dy2, self.ctx, need_dx)
        self.grads = {"W": dw.astype(self.params["W"].dtype), "b": dy2.sum(axis=0)}
        if not need_dx:
            return None
        dcols = dcols.reshape(B, Lo, self.k, C)
        dxp = np.zeros((B, L + 2 * self.pad, C), dtype=dy.dtype)
        s = self.stride
        for j in range(self.k):
            dxp[:, j:j + s * (Lo - 1) + 1:s, :] += dcols[:, :, j, :]
        return dxp[:, self.pad:self.pad + L, :]


class Conv2d(Layer):
    """2-D convolution (square kernel, stride 1 or more, zero padding), im2col + GEMM."""

    def __init__(self, c_in, c_out, k, rng, stride=1, pad=0, dtype=np.float32):
        super().__init__()
        self.k, self.stride, self.pad = k, stride, pad
        self.params = {"W": _he(rng, k * k * c_in, (k * k * c_in, c_out), dtype),
                       "b": np.zeros(c_out, dtype)}

    def forward(self, x, arith):
        B, H, W, C = x.shape
        p, k, s = self.pad, self.k, self.stride
        xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        Ho = (H + 2 * p - k) // s + 1
        Wo = (W + 2 * p - k) // s + 1
        ih = (np.arange(Ho)[:, None] * s + np.arange(k)[None, :])   # (Ho, k)
        iw = (np.arange(Wo)[:, None] * s + np.arange(k)[None, :])   # (Wo, k)
        cols = xp[:, ih[:, None, :, None], iw[None, :, None, :], :]  # (B, Ho, Wo, k, k, C)
        cols = cols.reshape(B * Ho * Wo, k * k * C)
        y, self.ctx = arith.forward(cols, self.params["W"])
        self.shape = (B, H, W, C, Ho, Wo)
        return y.reshape(B, Ho, Wo, -1) + self.params["b"]

    def backward(self, dy, arith, need_dx=True):
        B, H, W, C, Ho, Wo = self.shape
        p, k, s = self.pad, self.k, self.stride
        dy2 = dy.reshape(B * Ho * Wo, -1)
        dcols, dw = arith.backward(dy2, self.ctx, need_dx)
        self.grads = {"W": dw.astype(self.params["W"].dtype), "b": dy2.sum(axis=0)}
        if not need_dx:
            return None
        dcols = dcols.reshape(B, Ho, Wo, k, k, C)
        dxp = np.zeros((B, H + 2 * p, W + 2 * p, C), dtype=dy.dtype)
        for i in range(k):
            for j in range(k):
                dxp[:, i:i + s * (Ho - 1) + 1:s, j:j + s * (Wo - 1) + 1:s, :] += dcols[:, :, :, i, j, :]
        return dxp[:, p:p + H, p:p + W, :]


class ReLU(Layer):
    def forward(self, x, arith):
        self.mask = x > 0
        return x * self.mask

    def backward(self, dy, arith, need_dx=True):
        return dy * self.mask


class Pool(Layer):
    """Max or average pooling over non-overlapping windows of ``size`` along every spatial axis
    (1-D or 2-D; the spatial sizes must be multiples of ``size``). Max ties go to the first."""

    def __init__(self, size=2, kind="max"):
        super().__init__()
        self.size, self.kind = size, kind

    def _windows(self, x):
        s = self.size
        if x.ndim == 3:
            B, L, C = x.shape
            return x.reshape(B, L // s, s, C), (B, L // s, C)
        B, H, W, C = x.shape
        v = x.reshape(B, H // s, s, W // s, s, C).transpose(0, 1, 3, 2, 4, 5)
        return v.reshape(B, H // s, W // s, s * s, C), (B, H // s, W // s, C)

    def forward(self, x, arith):
        self.in_shape = x.shape
        v, _ = self._windows(x)
        ax = v.ndim - 2
        if self.kind == "avg":
            return v.mean(axis=ax)
        self.arg = v.argmax(axis=ax)
        return np.take_along_axis(v, np.expand_dims(self.arg, ax), ax).squeeze(ax)

    def backward(self, dy, arith, need_dx=True):
        s = self.size
        n = s if len(self.in_shape) == 3 else s * s
        ax = dy.ndim - 1
        if self.kind == "avg":
            g = np.repeat(np.expand_dims(dy / n, ax), n, axis=ax)
        else:
            g = (np.arange(n).reshape((1,) * ax + (n, 1)) == np.expand_dims(self.arg, ax)) \
                * np.expand_dims(dy, ax)
        if len(self.in_shape) == 3:
            return g.reshape(self.in_shape)
        B, H, W, C = self.in_shape
        g = g.reshape(B, H // s, W // s, s, s, C).transpose(0, 1, 3, 2, 4, 5)
        return g.reshape(self.in_shape)


class Flatten(Layer):
    def forward(self, x, arith):
        self.in_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy, arith, need_dx=True):
        return dy.reshape(self.in_shape)


def softmax_ce(logits, y):
    """Mean softmax cross-entropy and its gradient with respect to the logits."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    se = e.sum(axis=1, keepdims=True)
    p = e / se
    B = logits.shape[0]
    loss = float(np.mean(np.log(se[:, 0]) - z[np.arange(B), y]))
    g = p.copy()
    g[np.arange(B), y] -= 1
    return loss, (g / B).astype(logits.dtype)
