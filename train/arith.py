"""Arithmetic modes of the trainer: how every GEMM of a training step is computed.

A layer calls ``ctx = arith.forward(x, w, tag)`` (``x`` activations ``M x K``, ``w`` weights
``K x N``, returns ``y`` and a context) and ``dx, dw = arith.backward(dy, ctx)``. Three modes:

``fp32`` (:class:`Fp32Arith`)
    NumPy float32 (float64 for gradient checks) matrix products: the reference.

``int8`` (:class:`Int8Arith`)
    Weights and activations are quantized per tensor to symmetric INT8 with RNE by the golden
    quantizer lane (:func:`golden.quantizer.quantize_bits`; scale ``s = fp32(max|x| / 127)``,
    register ``inv = reciprocal_scale(s)``). The output gradient ``dy`` is quantized per tensor by
    the gradient rule (``rne``, ``rtz``, ``sr`` with RLSRU random bits, or ``arc``: ARC's z-score
    clip + RTZ with the adaptive rule, :func:`golden.arc.arc_quantize`). ``dagq``: LowGradQ's
    dual-scale quantizer with its threshold search (:func:`golden.dagq_quantizer.ots`, replayed
    RLSRU stream, seeds chained from tensor to tensor); each backward GEMM is the integer
    decomposition of docs/spec.md#dagq (two INT8 GEMMs split by the region and one ternary GEMM,
    combined as ``fp32(fp32(t1 + t2) + t3)``). ``gvq``: Distribution-Adaptive INT8
    (:func:`golden.gvq_quantizer.gvq_scales`): per-output-channel MCS scales for the weight
    gradient, one per-layer scale for the input gradient, clip + RNE, per-column dequantization.
    All three GEMMs (``x @ w``, ``dy @ w^T``, ``x^T @ dy``) run as INT8 x INT8 -> INT32 with the MAC array's
    accumulator and overflow policy (:func:`train.fastgolden.int_gemm`) and are dequantized with
    the product of the two scales in float32.

``fp8`` (:class:`Fp8Arith`)
    Operands are FP8 with a per-tensor power-of-two scale (the largest magnitude is scaled into
    ``[4, 8)``): **E4M3 for weights and activations (forward), E5M2 for the output gradient
    (backward)**; the weights and activations keep their E4M3 codes in the backward GEMMs. Each
    product of two FP8 values is computed exactly and rounded once into the FP12 E5M6 accumulator
    format; the dot products are accumulated by ``acc``: ``fp32`` (exact products summed in
    float32), ``seq`` (sequential FP12), ``static`` (FP12, static groups G = 64), ``dga`` (FP12,
    G from the dot-product length) or ``dga_exp`` (FP12, data-driven groups), all bit-exact to
    :mod:`golden.dga` (:func:`train.fastgolden.fp_accumulate`).

Every mode records the GEMM shapes ``(M, K, N)`` of the step for the MAC-array cycle model.
"""

from __future__ import annotations

import numpy as np

from golden.arc import arc_quantize
from golden.dagq_quantizer import DagqQuantizerConfig, ots
from golden.fp32 import to_bits
from golden.gvq_quantizer import gvq_quantize_bits, gvq_registers, gvq_scales
from golden.mac_array import MacArrayConfig
from golden.minifloat import FpFormat
from golden.quantizer import code_dtype, code_max, quantize_bits, reciprocal_scale
from golden.rlsru import RlsruConfig

from .fastgolden import RandomStream, fp_accumulate, int_gemm, round_fp

ARITHS = ("fp32", "int8", "fp8", "sakr")
#: code widths the integer modes accept
BITS_MIN, BITS_MAX = 2, 16
GRADS = ("rne", "rtz", "sr", "arc", "dagq", "gvq")
SCHEMES = ("per_lane", "leap", "split", "replay", "phase")
ACCS = ("fp32", "seq", "static", "dga", "dga_exp")

#: quantizer fraction bits F (the RLSRU delivers F-bit random numbers)
FRAC_BITS = 8
#: RLSRU lanes feeding the quantizer
LANES = 16

E4M3 = FpFormat(4, 3)
E5M2 = FpFormat(5, 2)
E5M6 = FpFormat(5, 6)


class Arith:
    """Base class: records GEMM shapes; ``name`` describes the mode."""
    name = "base"

    def __init__(self):
        self.shapes = []
        self.record = True

    def _shape(self, M, K, N):
        if self.record:
            self.shapes.append((int(M), int(K), int(N)))

    def forward(self, x, w, tag=None):
        raise NotImplementedError

    def backward(self, dy, ctx, need_dx=True):
        raise NotImplementedError


class Fp32Arith(Arith):
    """Plain floating-point GEMMs in the dtype of the operands."""
    name = "fp32"

    def forward(self, x, w, tag=None):
        self._shape(x.shape[0], x.shape[1], w.shape[1])
        return x @ w, (x, w)

    def backward(self, dy, ctx, need_dx=True):
        x, w = ctx
        self._shape(x.shape[1], x.shape[0], dy.shape[1])
        dw = x.T @ dy
        dx = None
        if need_dx:
            self._shape(dy.shape[0], dy.shape[1], w.shape[0])
            dx = dy @ w.T
        return dx, dw


# ------------------------------------------------------------------------------------------------
# INT8
# ------------------------------------------------------------------------------------------------


def int_scale(x, bits: int = 8):
    """Per-tensor symmetric scale ``s = fp32(max|x| / (2**(bits-1) - 1))`` and its register ``inv``."""
    amax = np.float32(np.max(np.abs(x))) if x.size else np.float32(0)
    s = np.float32(amax / np.float32(code_max(bits)))
    if not np.isfinite(s) or s == 0 or s < np.finfo(np.float32).tiny:
        return np.float32(0), np.float32(0)
    return s, reciprocal_scale(s)


def int8_scale(x):
    """Per-tensor symmetric scale ``s = fp32(max|x| / 127)`` and its register ``inv``."""
    return int_scale(x, 8)


def quantize_tensor(x, mode="rne", rnd=None, trace=None, bits: int = 8):
    """Quantize a float32 tensor per tensor with the golden quantizer lane at ``bits`` bits.

    Returns ``(codes, s float32)``; ``x ~ codes * s``, codes in ``[-code_max(bits),
    code_max(bits)]``. With a list ``trace``, appends a record of the lane's inputs and outputs
    (used to replay them on the RTL).
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    s, inv = int_scale(x, bits)
    if s == 0:
        codes = np.zeros(x.shape, dtype=code_dtype(bits))
    else:
        codes, _nan, _sat = quantize_bits(x.view(np.uint32), int(to_bits(inv)), mode, FRAC_BITS,
                                          None if rnd is None else rnd.reshape(x.shape),
                                          bits=bits)
    if trace is not None:
        trace.append({"kind": "quantize", "mode": mode, "x": x.copy(), "inv_bits": int(to_bits(inv)),
                      "rnd": None if rnd is None else np.array(rnd), "codes": codes.copy(),
                      "bits": bits})
    return codes, s


class _LayerCtx(tuple):
    """The integer forward context ``(qx, sx, qw, sw)``; ``key`` identifies the layer and
    ``bits`` holds the layer's widths."""
    key = None
    bits = None


class LayerBits(tuple):
    """Widths of one layer's tensors: ``(act, weight, out_grad, weight_grad)``; ``weight_grad``
    ``None`` leaves the weight gradient in float32 (the GEMM result dequantized)."""

    def __new__(cls, act, weight, out_grad, weight_grad=None):
        return super().__new__(cls, (int(act), int(weight), int(out_grad),
                                     None if weight_grad is None else int(weight_grad)))


class Int8Arith(Arith):
    """Integer operands (``bits_fwd``-bit weights and activations, ``bits_grad``-bit output
    gradients; INT8 by default), INT32 MAC-array accumulation, gradient rounding ``grad``.

    ``layer_bits`` (optional, a list of :class:`LayerBits` in layer order, bound to the network
    by :meth:`bind`) overrides the widths per layer (Sakr & Shanbhag's assignment).
    """

    def __init__(self, grad="rne", rlsru="split", seed=0xACE1, mac: MacArrayConfig | None = None,
                 arc_z=3.0, bits_fwd=8, bits_grad=8, layer_bits=None):
        super().__init__()
        self.grad = grad
        self.mac = mac or MacArrayConfig(rows=8, cols=8)
        self._macs = {}
        self.bits_fwd, self.bits_grad = int(bits_fwd), int(bits_grad)
        self.layer_bits = list(layer_bits) if layer_bits is not None else None
        self._bits_of = {}                   # id(W) -> LayerBits, filled by bind()
        self.scheme = rlsru if grad == "sr" else None
        self.stream = (RandomStream(RlsruConfig(lanes=LANES, frac_bits=FRAC_BITS, scheme=rlsru,
                                                seed=seed)) if grad == "sr" else None)
        self.arc_z = arc_z
        self.dagq = DagqQuantizerConfig(lanes=2, scheme="replay", seed=seed) if grad == "dagq" \
            else None
        self.gvq_state = {}                  # MCS state per (layer weights, path)
        self.overflows = 0
        self.name = int_mode_name(grad, rlsru if grad == "sr" else None, self.bits_fwd,
                                  self.bits_grad, self.layer_bits is not None)
        #: set to a list to record every GEMM and gradient quantization (tests replay them on RTL)
        self.trace = None

    def bind(self, weights):
        """Attach ``layer_bits`` to the layers whose weight arrays are ``weights`` (layer order)."""
        if self.layer_bits is None:
            return
        if len(weights) != len(self.layer_bits):
            raise ValueError(f"{len(self.layer_bits)} layer widths for {len(weights)} layers")
        self._bits_of = {id(w): b for w, b in zip(weights, self.layer_bits)}

    def _layer_bits(self, key) -> LayerBits:
        b = self._bits_of.get(key)
        return b if b is not None else LayerBits(self.bits_fwd, self.bits_fwd, self.bits_grad)

    def _mac(self, a_width, b_width) -> MacArrayConfig:
        k = (int(a_width), int(b_width))
        if k not in self._macs:
            self._macs[k] = self.mac.replace(a_width=k[0], b_width=k[1])
        return self._macs[k]

    def _gemm(self, A, B, sa, sb, wa=8, wb=8):
        C, ovf = int_gemm(self._mac(wa, wb), A, B)
        self.overflows += int(ovf.sum())
        if self.trace is not None:
            self.trace.append({"kind": "gemm", "A": A.copy(), "B": B.copy(), "C": C.copy(),
                               "ovf": ovf.copy(), "a_width": wa, "b_width": wb})
        return C.astype(np.float32) * np.float32(sa * sb)

    def quantize_grad(self, dy, bits=None):
        """Codes and scale of an output gradient by the configured rule at ``bits`` bits."""
        bits = self.bits_grad if bits is None else int(bits)
        dy = np.ascontiguousarray(dy, dtype=np.float32)
        if self.grad in ("rne", "rtz"):
            return quantize_tensor(dy, self.grad, trace=self.trace, bits=bits)
        if self.grad == "sr":
            return quantize_tensor(dy, "sr", self.stream.take(dy.size), trace=self.trace, bits=bits)
        r = arc_quantize(dy, z=self.arc_z, rounding="adaptive", bits=bits)
        return r.codes, np.float32(r.s)

    def forward(self, x, w, tag=None):
        self._shape(x.shape[0], x.shape[1], w.shape[1])
        lb = self._layer_bits(id(w))
        qx, sx = quantize_tensor(x, "rne", bits=lb[0])
        qw, sw = quantize_tensor(w, "rne", bits=lb[1])
        ctx = _LayerCtx((qx, sx, qw, sw))
        ctx.key = id(w)                      # the layer's weight array: its MCS state (gvq)
        ctx.bits = lb
        return self._gemm(qx, qw, sx, sw, lb[0], lb[1]), ctx

    def _gemm_cols(self, A, B, scale, wa, wb):
        """INT GEMM dequantized with a float32 scale per output column."""
        C, ovf = int_gemm(self._mac(wa, wb), A, B)
        self.overflows += int(ovf.sum())
        return C.astype(np.float32) * scale.astype(np.float32)

    def _backward_dagq(self, dy, qx, sx, qw, sw, lb, need_dx):
        res = ots(self.dagq.replace(bits=lb[2]), np.ascontiguousarray(dy, dtype=np.float32))
        self.dagq = self.dagq.replace(seed=res.next_seed)
        q, reg, r = res.codes, res.region, res.regs
        parts = (np.where(reg == 0, q, 0).astype(q.dtype), np.where(reg != 0, q, 0).astype(q.dtype),
                 ((reg == 2).astype(np.int8) - (reg == 1).astype(np.int8)))
        scales = (r.s1, r.s2, r.th)
        widths = (lb[2], lb[2], 2)           # the ternary part is a 2-bit operand
        self._shape(qx.shape[1], qx.shape[0], q.shape[1])
        t = [self._gemm(qx.T, g, sx, s, lb[0], wg) for g, s, wg in zip(parts, scales, widths)]
        dw = (t[0] + t[1]).astype(np.float32) + t[2]
        dx = None
        if need_dx:
            self._shape(q.shape[0], q.shape[1], qw.shape[0])
            t = [self._gemm(g, qw.T, s, sw, wg, lb[1]) for g, s, wg in zip(parts, scales, widths)]
            dx = (t[0] + t[1]).astype(np.float32) + t[2]
        return dx, dw

    def _backward_gvq(self, dy, qx, sx, qw, sw, key, lb, need_dx):
        dy = np.ascontiguousarray(dy, dtype=np.float32)
        qm = np.float32(code_max(lb[2]))
        s, _, _ = gvq_scales(dy, self.gvq_state.setdefault((key, "w"), {}), axis=1)
        cb, ib = gvq_registers(s, lb[2])
        qg, _, _, _ = gvq_quantize_bits(dy.view(np.uint32), cb[None, :], ib[None, :], "rne",
                                        bits=lb[2])
        self._shape(qx.shape[1], qx.shape[0], qg.shape[1])
        dw = self._gemm_cols(qx.T, qg, np.float32(sx) * (s / qm)[None, :], lb[0], lb[2])
        dx = None
        if need_dx:
            s1, _, _ = gvq_scales(dy, self.gvq_state.setdefault((key, "x"), {}), axis=None)
            cb, ib = gvq_registers(s1, lb[2])
            qg1, _, _, _ = gvq_quantize_bits(dy.view(np.uint32), cb[0], ib[0], "rne", bits=lb[2])
            self._shape(qg1.shape[0], qg1.shape[1], qw.shape[0])
            dx = self._gemm(qg1, qw.T, np.float32(s1[0] / qm), sw, lb[2], lb[1])
        return dx, dw

    def backward(self, dy, ctx, need_dx=True):
        qx, sx, qw, sw = ctx
        key = getattr(ctx, "key", None)
        lb = getattr(ctx, "bits", None) or LayerBits(self.bits_fwd, self.bits_fwd, self.bits_grad)
        if self.grad == "dagq":
            dx, dw = self._backward_dagq(dy, qx, sx, qw, sw, lb, need_dx)
        elif self.grad == "gvq":
            dx, dw = self._backward_gvq(dy, qx, sx, qw, sw, key, lb, need_dx)
        else:
            qg, sg = self.quantize_grad(dy, lb[2])
            self._shape(qx.shape[1], qx.shape[0], qg.shape[1])
            dw = self._gemm(qx.T, qg, sx, sg, lb[0], lb[2])
            dx = None
            if need_dx:
                self._shape(qg.shape[0], qg.shape[1], qw.shape[0])
                dx = self._gemm(qg, qw.T, sg, sw, lb[2], lb[1])
        if lb[3] is not None:                # the weight gradient itself at its assigned width
            q, s = quantize_tensor(dw, "rne", bits=lb[3])
            dw = q.astype(np.float32) * s
        return dx, dw


def int_mode_name(grad, rlsru=None, bits_fwd=8, bits_grad=8, sakr=False) -> str:
    """``int8-rne``, ``int8-sr-split`` at 8 bits; ``int-f4g2-rne`` etc. when a width is not 8;
    ``sakr-<grad>`` with per-layer widths."""
    tail = grad + (f"-{rlsru}" if grad == "sr" and rlsru else "")
    if sakr:
        return "sakr-" + tail
    if int(bits_fwd) == 8 and int(bits_grad) == 8:
        return "int8-" + tail
    return f"int-f{int(bits_fwd)}g{int(bits_grad)}-" + tail


# ------------------------------------------------------------------------------------------------
# FP8
# ------------------------------------------------------------------------------------------------


def fp8_tensor(fmt: FpFormat, x, top: float = 8.0):
    """Scale ``x`` by a power of two so that ``max|x|`` lies in ``[top/2, top)`` and round to ``fmt``.

    Returns ``(values float64 exactly representable in fmt, scale exponent k)``;
    ``x ~ values * 2**-k``.
    """
    x = np.asarray(x, dtype=np.float64)
    amax = float(np.max(np.abs(x))) if x.size else 0.0
    if amax == 0.0 or not np.isfinite(amax):
        return np.zeros(x.shape), 0
    k = int(np.floor(np.log2(top / amax)))
    if amax * 2.0 ** k >= top:
        k -= 1
    return round_fp(fmt, np.ldexp(x, k)), k


class Fp8Arith(Arith):
    """FP8 operands (E4M3 forward, E5M2 gradients), exact products, accumulation ``acc``.

    For ``acc`` in seq/static/dga every GEMM equals, value for value, the golden model of the
    MAC array with FP8 PEs (:func:`golden.mac_array.fp8_gemm`, ``pe="fp8"``, ``order=acc``,
    FP12 E5M6, ``product="rounded"``): ``tests/test_mac_array_fp8.py`` compares the two on
    every GEMM of a training step. So these accuracy rows are those of that array.
    """

    def __init__(self, acc="dga"):
        super().__init__()
        self.acc = acc
        self.name = "fp8-" + acc

    def _gemm(self, a, b, ka, kb):
        if self.acc == "fp32":
            C = a.astype(np.float32) @ b.astype(np.float32)   # exact products, float32 sums
        else:
            C = fp_accumulate(E5M6, a, b, self.acc)
        return np.ldexp(C, -(ka + kb)).astype(np.float32)

    def forward(self, x, w, tag=None):
        self._shape(x.shape[0], x.shape[1], w.shape[1])
        a, ka = fp8_tensor(E4M3, x)
        b, kb = fp8_tensor(E4M3, w)
        return self._gemm(a, b, ka, kb), (a, ka, b, kb)

    def backward(self, dy, ctx, need_dx=True):
        a, ka, b, kb = ctx
        g, kg = fp8_tensor(E5M2, dy)
        self._shape(a.shape[1], a.shape[0], g.shape[1])
        dw = self._gemm(a.T, g, ka, kg)
        dx = None
        if need_dx:
            self._shape(g.shape[0], g.shape[1], b.shape[0])
            dx = self._gemm(g, b.T, kg, kb)
        return dx, dw


def make_arith(arith="fp32", grad="rne", rlsru="split", acc="dga", seed=0,
               mac: MacArrayConfig | None = None, bits_fwd=8, bits_grad=8,
               layer_bits=None) -> Arith:
    """Build the arithmetic of a run (arguments already validated by the CLI). ``sakr`` is the
    integer arithmetic with the per-layer widths ``layer_bits``."""
    if arith == "fp32":
        return Fp32Arith()
    if arith in ("int8", "sakr"):
        rseed = 1 + (0xACE1 + 7919 * int(seed)) % 65535        # nonzero 16-bit RLSRU seed
        return Int8Arith(grad, rlsru, rseed, mac, bits_fwd=bits_fwd, bits_grad=bits_grad,
                         layer_bits=layer_bits if arith == "sakr" else None)
    if arith == "fp8":
        return Fp8Arith(acc)
    raise ValueError(f"arithmetic {arith!r} is unknown: allowed values are {', '.join(ARITHS)}.")
