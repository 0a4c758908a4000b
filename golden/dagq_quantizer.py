"""Golden model of LowGradQ's dual-scale gradient quantizer (DAGQ) and its threshold search (OTS).

Definitions: docs/spec.md#ots and docs/spec.md#dagq (equations sourced from the authors' code;
FP32 operation order, random source, registers and degenerate cases chosen).

Datapath of one lane (block ``dagq_quantizer``)
-----------------------------------------------
Registers (FP32 bit patterns written by the host, :func:`dagq_registers`): the threshold ``th``
and the reciprocal scales ``inv1 = fp32(1/s1)``, ``inv2 = fp32(1/s2)`` with
``s1 = fp32(th/L)``, ``s2 = fp32(fp32(gmax - th)/L)``, ``L = 2**(b-1) - 1`` for the code width
``b = bits`` (default 8: ``L = 127``). For an FP32 input ``x``:

1. subnormals of ``x`` and ``th`` are flushed to zero; the sign bit of ``th`` is ignored;
2. region: ``outer = |x| > |th|`` compared as 31-bit magnitudes (exact, integer), NaN inputs are
   inner; ``region = 0`` (inner), ``1`` (outer, ``x < 0``), ``2`` (outer, ``x > 0``);
3. inner: ``v = fp32(x * inv1)``; outer: ``d = fp32(|x| - |th|)`` (IEEE subtraction, RNE),
   flushed when subnormal, given the sign of ``x``, then ``v = fp32(d * inv2)``; both multiplies
   are :func:`golden.fp32.fp32_mul_bits` (flush-to-zero policy, docs/spec.md#decision-b);
4. ``code = sat_L(SR_F(v, r))`` through the shared rounding stage (:func:`golden.quantizer.
   fp32_to_fixed`, :func:`golden.quantizer.round_fixed` mode ``"sr"``, :func:`golden.quantizer.
   saturate_codes`) with ``r`` from the RLSRU (:func:`golden.rlsru.generate`).

Code width: each region maps its magnitude range onto the ``L = 2**(b-1) - 1`` positive codes of
a ``b``-bit symmetric code (the paper's INT8 form is ``b = 8``); the region field is 2 bits at
every width. Codes are ``int8`` up to 8 bits and ``int16`` above.

Special values: NaN input -> region 0, code 0, ``nan``; +-Inf -> outer region with its sign,
``Inf - th = Inf``, code ``+-L`` with ``sat`` (when ``inv2`` is positive and finite).

Degenerate registers (chosen, :func:`dagq_registers`): a scale that is zero (``th = 0`` or
``gmax = th``) gets the reciprocal 0 instead of Inf, so ``th = 0`` quantizes only the zeros in
the inner region (code 0) and ``gmax = th`` forces every outer code to 0 (dequantized to +-th).

OTS (host side, :func:`ots`)
----------------------------
Statistics over the *finite* elements (chosen; NaN/Inf are excluded as in ARC): ``gmax =
fp32(max|g|)``, ``sigma = fp32(std(g, ddof=1))`` in float64 (``sigma = 0`` with fewer than two
finite elements). Five candidates ``th_i = fp32(mf_i * sigma)``, ``mf`` evenly spaced from 0.0280
to 0.0601. Candidate ``i``: the whole tensor is quantized with ``th_i`` (element ``e`` always
uses random number ``e`` of the stream: the stream restarts from the seed for every pass, the
RLSRU ``replay``), dequantized, and the float64 MSE is taken over ``|g| > th_i`` (empty subset:
+Inf). The first minimum wins; the final pass quantizes the tensor with it, again from the seed.

Random stream: element ``e`` of a tensor (row-major) is lane ``e mod P`` of beat ``e div P`` of
:func:`golden.rlsru.generate` with the block's ``lanes``, ``frac_bits``, ``scheme`` and ``seed``;
for ``P = 2, F = 8`` and ``split``/``replay`` this is the spec's ``rlsru_stream`` (checked).
Seed chaining (:func:`chain_seed`): the next tensor's seed is the 16-bit LFSR state ``s16`` after
``n_beats * ceil(P/16)`` steps from this tensor's seed (the last state the ``split``/``replay``
source used in the final pass).

Overflow policy (docs/spec.md#decision-c): saturate to ``+-L``, per-lane ``sat`` and sticky flags.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .fp32 import SIGN_MASK, from_bits, fp32_mul_bits, to_bits
from .lfsr import leap
from .params import BlockConfig, ConfigError, Param
from .quantizer import code_max, fp32_to_fixed, quantize_bits, round_fixed, saturate_codes
from .rlsru import (PERIOD, SCHEMES, RlsruConfig, check_phase_lanes, generate, lfsr16,
                    period_states, split_rotation)

__all__ = ["DagqQuantizerConfig", "MAGNITUDE_FACTORS", "rlsru_config", "recip_or_zero",
           "DagqRegisters", "dagq_registers", "dagq_scaled_bits", "dagq_quantize_bits",
           "dagq_quantize_fast", "dagq_dequantize", "random_stream", "run", "OtsResult", "tensor_stats", "ots", "chain_seed",
           "dagq_gemm"]

#: OTS magnitude factors (sourced): five values evenly spaced from 0.0280 to 0.0601
MAGNITUDE_FACTORS = tuple(float(v) for v in np.linspace(0.0280, 0.0601, 5))

_ABS = 0x7FFF_FFFF
_INF = 0x7F80_0000


class DagqQuantizerConfig(BlockConfig):
    """Parameters of the DAGQ quantizer lanes (datapath and policies in the module docstring)."""
    BLOCK = "dagq_quantizer"
    PARAMS = (
        Param("lanes", int, 2, "P: parallel lanes (FP32 inputs, codes + 2-bit regions per "
              "beat)", lo=1, hi=64),
        Param("frac_bits", int, 8, "F: fraction bits of the fixed-point value = random bits per "
              "lane of SR_F", lo=1, hi=16),
        Param("scheme", str, "replay", "RLSRU random-number generation / reuse scheme",
              choices=SCHEMES),
        Param("seed", int, 0xACE1, "16-bit LFSR seed of the RLSRU (nonzero)", lo=0, hi=0xFFFF),
        Param("pipelined", bool, True, "register the FP32 product before the rounder (+1 cycle)"),
        Param("bits", int, 8, "code width b: symmetric codes in [-(2^(b-1)-1), 2^(b-1)-1]",
              lo=2, hi=16),
    )
    TAGS = {"lanes": "l", "frac_bits": "f", "scheme": "", "seed": "s", "pipelined": "p",
            "bits": "b"}
    TIMING_NOTE = ("latency = 1 (output register) + 1 with pipelined (product register); beat t "
                   "is rounded with golden.rlsru.generate()[t]")

    def _check(self):
        if self.seed == 0:
            raise ConfigError("dagq_quantizer parameter seed=0 is invalid: the all-zero state "
                              "never leaves itself; allowed values are 1..65535.")
        check_phase_lanes("dagq_quantizer", self.scheme, self.lanes, self.frac_bits)

    @property
    def latency(self) -> int:
        """Output register, plus the product register when ``pipelined``."""
        return 1 + int(self.pipelined)


def rlsru_config(cfg: DagqQuantizerConfig) -> RlsruConfig:
    """The configuration of the block's random source."""
    return RlsruConfig(lanes=cfg.lanes, frac_bits=cfg.frac_bits, scheme=cfg.scheme, seed=cfg.seed)


def recip_or_zero(s) -> np.float32:
    """Host register ``fp32(1/s)`` for a float32 scale; 0 when ``s`` is zero or subnormal."""
    s = np.float32(s)
    if not np.isnan(s) and abs(s) < np.finfo(np.float32).tiny:
        return np.float32(0.0)
    with np.errstate(divide="ignore", over="ignore"):
        return np.float32(np.float32(1) / s)


@dataclass(frozen=True)
class DagqRegisters:
    """Host-side values of one tensor: the scales and the three FP32 registers (as float32)."""
    th: np.float32
    gmax: np.float32
    s1: np.float32
    s2: np.float32
    inv1: np.float32
    inv2: np.float32

    def bits(self) -> dict:
        """The register bit patterns as the component's ports take them."""
        return {"th": int(to_bits(self.th)), "inv1": int(to_bits(self.inv1)),
                "inv2": int(to_bits(self.inv2))}


def dagq_registers(th, gmax, bits: int = 8) -> DagqRegisters:
    """Scales ``s1 = fp32(th/L)``, ``s2 = fp32(fp32(gmax - th)/L)`` and their reciprocals,
    ``L = 2**(bits-1) - 1`` (127 for 8 bits)."""
    L = np.float32(code_max(bits))
    th, gmax = np.float32(th), np.float32(gmax)
    with np.errstate(over="ignore", invalid="ignore"):
        s1 = np.float32(th / L)
        s2 = np.float32(np.float32(gmax - th) / L)
    return DagqRegisters(th=th, gmax=gmax, s1=s1, s2=s2, inv1=recip_or_zero(s1),
                         inv2=recip_or_zero(s2))


def _mag_flushed(bits):
    m = np.asarray(bits, dtype=np.int64) & _ABS
    return np.where((m >> 23) == 0, 0, m)


def dagq_scaled_bits(x_bits, th_bits, inv1_bits, inv2_bits):
    """Steps 1-3 of the module docstring: the scaled FP32 value ``v`` and the region.

    Parameters
    ----------
    x_bits : array_like of int
        FP32 bit patterns.
    th_bits, inv1_bits, inv2_bits : int
        Register bit patterns.

    Returns
    -------
    v : numpy.ndarray of int64
        Bit patterns of ``v`` (what the rounding stage receives).
    region : numpy.ndarray of uint8
        0 inner (and NaN), 1 outer negative, 2 outer positive.
    """
    xb = np.asarray(x_bits, dtype=np.int64) & 0xFFFF_FFFF
    xm = _mag_flushed(xb)
    thm = int(_mag_flushed(int(th_bits)))
    outer = (xm > thm) & (xm <= _INF)
    with np.errstate(over="ignore", invalid="ignore"):
        d = from_bits(xm) - from_bits(np.int64(thm))
    db = to_bits(d) & _ABS
    db = np.where((db >> 23) == 0, 0, db) | (xb & SIGN_MASK)
    v = np.where(outer, fp32_mul_bits(db, int(inv2_bits)), fp32_mul_bits(xb, int(inv1_bits)))
    region = np.where(outer, np.where(xb >> 31 == 1, 1, 2), 0).astype(np.uint8)
    return v.astype(np.int64), region


def dagq_quantize_bits(x_bits, th_bits, inv1_bits, inv2_bits, frac_bits: int, rnd, bits: int = 8):
    """Quantize FP32 bit patterns with the DAGQ registers (module docstring, steps 1-4).

    Parameters
    ----------
    x_bits : array_like of int
        FP32 bit patterns.
    th_bits, inv1_bits, inv2_bits : int
        Register bit patterns.
    frac_bits : int
        ``F``, 1..16.
    rnd : array_like of int
        ``r`` in ``[0, 2**F)`` per element.
    bits : int
        Code width ``b`` (2..16).

    Returns
    -------
    codes : numpy.ndarray of int8 (int16 above 8 bits)
    region : numpy.ndarray of uint8
        0 inner, 1 outer negative, 2 outer positive.
    nan, sat : numpy.ndarray of bool
    """
    v, region = dagq_scaled_bits(x_bits, th_bits, inv1_bits, inv2_bits)
    raw = fp32_to_fixed(v, frac_bits, bits)
    codes, sat = saturate_codes(round_fixed(raw, frac_bits, "sr", rnd), bits)
    return codes, region, raw.nan, sat


def dagq_quantize_fast(x32, th, inv1, inv2, frac_bits: int, rnd, bits: int = 8):
    """:func:`dagq_quantize_bits` on float32 arrays with NumPy float32 arithmetic (for training).

    Bit-identical to :func:`dagq_quantize_bits` (tested): NumPy's float32 subtraction and
    multiplication are the IEEE operations, to which the flushes of the golden datapath are
    applied explicitly; the rounding is :func:`golden.quantizer.quantize_bits` of ``v`` with the
    register 1.0 (``v * 1`` is exact and keeps the flush).

    Parameters
    ----------
    x32 : numpy.ndarray of float32
    th, inv1, inv2 : numpy.float32
        Register values.
    frac_bits : int
    rnd : numpy.ndarray of int
        One random integer per element.
    bits : int
        Code width ``b`` (2..16).

    Returns
    -------
    ``(codes, region, nan, sat)`` as :func:`dagq_quantize_bits`.
    """
    tiny = np.float32(np.finfo(np.float32).tiny)
    x = np.asarray(x32, dtype=np.float32)
    tm = np.abs(np.float32(th))
    tm = np.float32(0) if tm < tiny else tm
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        ax = np.abs(x)
        ax = np.where(ax < tiny, np.float32(0), ax)
        outer = ax > tm                                  # False for NaN
        d = ax - tm
        d = np.where(d < tiny, np.float32(0), d)
        d = np.where(np.signbit(x), -d, d)
        i1 = np.float32(0) * np.sign(inv1) if abs(np.float32(inv1)) < tiny else np.float32(inv1)
        i2 = np.float32(0) * np.sign(inv2) if abs(np.float32(inv2)) < tiny else np.float32(inv2)
        xf = np.where(ax == 0, np.where(np.signbit(x), np.float32(-0.0), np.float32(0)), x)
        v = np.where(outer, d * i2, xf * i1).astype(np.float32)
    codes, nan, sat = quantize_bits(v.view(np.uint32), 0x3F80_0000, "sr", frac_bits, rnd, bits)
    region = np.where(outer, np.where(np.signbit(x), 1, 2), 0).astype(np.uint8)
    return codes, region, nan, sat


def dagq_dequantize(q, region, regs: DagqRegisters) -> np.ndarray:
    """``s1*q`` (region 0), ``s2*q - th`` (1), ``s2*q + th`` (2), each op in float32."""
    qf = np.asarray(q).astype(np.float32)
    region = np.asarray(region)
    with np.errstate(over="ignore", invalid="ignore"):
        inner = qf * regs.s1
        outer = qf * regs.s2
        out = np.where(region == 0, inner,
                       np.where(region == 1, outer - regs.th, outer + regs.th))
    return out.astype(np.float32)


@functools.lru_cache(maxsize=1)
def _state_index() -> tuple:
    """The 16-bit LFSR period from 0xACE1 and the position of every nonzero state in it."""
    states = period_states(0xACE1)
    pos = np.full(1 << 16, -1, dtype=np.int64)
    pos[states] = np.arange(states.size)
    return states, pos


def random_stream(cfg: DagqQuantizerConfig, n: int) -> np.ndarray:
    """The ``n`` random integers of one pass from the seed (element ``e`` = beat ``e div P``,
    lane ``e mod P``; the first beat carries ``restart``).

    ``split``/``replay`` with ``P <= 16`` are computed from a table of the LFSR period (beat
    ``c`` reads ``s16_{c+1}``, lane ``i`` the top ``F`` bits of ``rotl16(s, rho_i)``); equal to
    :func:`golden.rlsru.generate` (tested). Other configurations call it directly.
    """
    beats = -(-int(n) // cfg.lanes)
    if cfg.scheme in ("split", "replay") and cfg.lanes <= 16:
        states, pos = _state_index()
        s = states[(pos[cfg.seed] + 1 + np.arange(beats)) % PERIOD]
        out = np.empty((beats, cfg.lanes), dtype=np.int64)
        for i in range(cfg.lanes):
            k = split_rotation(i)
            rot = ((s << k) | (s >> (16 - k))) & 0xFFFF if k else s
            out[:, i] = rot >> (16 - cfg.frac_bits)
        return out.reshape(-1)[:n]
    restarts = np.zeros(beats, dtype=bool)
    if beats:
        restarts[0] = True
    return generate(rlsru_config(cfg), beats, restarts).reshape(-1)[:n]


def run(cfg: DagqQuantizerConfig, x_bits, restarts, regs: dict):
    """What the block returns for input beats ``x_bits`` (``[beat, lane]``) and ``restart`` bits.

    Returns ``(codes, region, nan, sat, r)`` as ``[beat, lane]`` arrays.
    """
    x = np.asarray(x_bits, dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != cfg.lanes:
        raise ConfigError(f"dagq_quantizer input has shape {x.shape}: expected (n, {cfg.lanes}).")
    r = generate(rlsru_config(cfg), x.shape[0], restarts)
    out = dagq_quantize_bits(x, regs["th"], regs["inv1"], regs["inv2"], cfg.frac_bits, r,
                             cfg.bits)
    return (*out, r)


@dataclass(frozen=True)
class OtsResult:
    """Outcome of the threshold search on one tensor.

    Attributes
    ----------
    gmax, sigma : numpy.float32
        ``fp32(max|g|)``, ``fp32(std(g, ddof=1))`` over the finite elements.
    candidates : numpy.ndarray of float32
        The five thresholds.
    mse : numpy.ndarray of float64
        MSE of each candidate over its subset ``|g| > th_i`` (+Inf when empty).
    index : int
        The chosen candidate (first minimum).
    regs : DagqRegisters
        The registers of the final pass.
    codes, region : numpy.ndarray
        The final pass, shaped like the tensor.
    nan, sat : numpy.ndarray of bool
        Flags of the final pass.
    next_seed : int
        Seed of the next tensor (:func:`chain_seed`).
    """
    gmax: np.float32
    sigma: np.float32
    candidates: np.ndarray
    mse: np.ndarray
    index: int
    regs: DagqRegisters
    codes: np.ndarray
    region: np.ndarray
    nan: np.ndarray
    sat: np.ndarray
    next_seed: int


def tensor_stats(g32):
    """``(gmax, sigma)`` of the finite elements, in float64, each cast once to float32."""
    g = np.asarray(g32, dtype=np.float64).reshape(-1)
    g = g[np.isfinite(g)]
    gmax = np.float32(np.max(np.abs(g))) if g.size else np.float32(0.0)
    sigma = np.float32(np.std(g, ddof=1)) if g.size >= 2 else np.float32(0.0)
    return gmax, sigma


def chain_seed(cfg: DagqQuantizerConfig, n: int) -> int:
    """Seed of the next tensor after a final pass of ``n`` elements (0 becomes 0xACE1)."""
    beats = -(-int(n) // cfg.lanes)
    s = leap(lfsr16(cfg.seed), cfg.seed, beats * -(-cfg.lanes // 16))
    return s or 0xACE1


def ots(cfg: DagqQuantizerConfig, g32, factors=MAGNITUDE_FACTORS) -> OtsResult:
    """OTS + final DAGQ pass on a float32 tensor with the block's random stream (module docstring).

    Parameters
    ----------
    cfg : DagqQuantizerConfig
        Lanes, ``frac_bits``, RLSRU scheme, seed and code width ``bits`` of the block that runs
        the passes.
    g32 : numpy.ndarray of float32
        The gradient tensor (any shape, row-major order is the stream order).
    factors : sequence of float
        Magnitude factors (default: the five sourced values).
    """
    g = np.asarray(g32)
    if g.dtype != np.float32:
        raise ConfigError(f"dagq_quantizer tensor has dtype {g.dtype}: expected float32.")
    flat = g.reshape(-1)
    r = random_stream(cfg, flat.size)
    gmax, sigma = tensor_stats(flat)
    cands = np.array([np.float32(f * np.float64(sigma)) for f in factors], dtype=np.float32)
    g64 = flat.astype(np.float64)
    mse = np.empty(len(cands))
    with np.errstate(invalid="ignore"):
        for i, th in enumerate(cands):
            regs = dagq_registers(th, gmax, cfg.bits)
            q, reg, _, _ = dagq_quantize_fast(flat, regs.th, regs.inv1, regs.inv2, cfg.frac_bits, r,
                                              cfg.bits)
            sub = np.abs(g64) > np.float64(th)
            err = dagq_dequantize(q[sub], reg[sub], regs).astype(np.float64) - g64[sub]
            mse[i] = np.mean(err * err) if sub.any() else np.inf
    k = int(np.argmin(mse))
    regs = dagq_registers(cands[k], gmax, cfg.bits)
    q, reg, nan, sat = dagq_quantize_fast(flat, regs.th, regs.inv1, regs.inv2, cfg.frac_bits, r,
                                          cfg.bits)
    return OtsResult(gmax=gmax, sigma=sigma, candidates=cands, mse=mse, index=k, regs=regs,
                     codes=q.reshape(g.shape), region=reg.reshape(g.shape),
                     nan=nan.reshape(g.shape), sat=sat.reshape(g.shape),
                     next_seed=chain_seed(cfg, flat.size))


def dagq_gemm(q, region, regs: DagqRegisters, wq, s_w):
    """``Gdeq @ Wdeq`` by the integer decomposition of docs/spec.md#dagq.

    ``acc_in = Q_in @ Wq``, ``acc_out = Q_out @ Wq``, ``acc_T = T @ Wq`` in int64, then
    ``t_k = fp32(fp32(acc_k) * fp32(s_k * sW))`` with ``s = s1, s2, th`` and
    ``out = fp32(fp32(t1 + t2) + t3)``.

    Parameters
    ----------
    q, region : numpy.ndarray, shape (M, K)
        DAGQ codes and regions of the gradient.
    regs : DagqRegisters
        Its scales and threshold.
    wq : numpy.ndarray of int, shape (K, N)
        INT8 codes of the other operand.
    s_w : float
        Its per-tensor float32 scale.

    Returns
    -------
    out : numpy.ndarray of float32, shape (M, N)
    accs : tuple of numpy.ndarray of int64
        ``(acc_in, acc_out, acc_T)``.
    """
    q = np.asarray(q, dtype=np.int64)
    region = np.asarray(region)
    w = np.asarray(wq, dtype=np.int64)
    q_in = np.where(region == 0, q, 0)
    q_out = np.where(region != 0, q, 0)
    t = np.where(region == 1, -1, np.where(region == 2, 1, 0)).astype(np.int64)
    accs = (q_in @ w, q_out @ w, t @ w)
    s_w = np.float32(s_w)
    terms = []
    with np.errstate(over="ignore", invalid="ignore"):
        for acc, s in zip(accs, (regs.s1, regs.s2, regs.th)):
            terms.append(acc.astype(np.float32) * np.float32(s * s_w))
        out = (terms[0] + terms[1]).astype(np.float32) + terms[2]
    return out.astype(np.float32), accs
