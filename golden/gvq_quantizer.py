"""Golden model of Distribution-Adaptive INT8's per-channel gradient quantizer (GVQ) with the
magnitude-aware clipping strategy (MCS). Definitions: docs/spec.md#dai8 (secondary equations,
chosen details marked there).

Host side (per layer and iteration)
-----------------------------------
:func:`channel_stats` reduces the gradient ``G`` per channel (axis 1 of ``(N, C, H, W)``, or
one channel for the input-gradient path) over its **finite** elements (NaN/Inf excluded, chosen):
``gmax = max|g|`` (exact, float64), ``sigma = fp32(population std)`` (float64, cast once),
``count = #(|g| > sigma)`` compared on FP32 magnitudes (exact; subnormals flushed) and ``n``.
:func:`classify`: Gaussian when ``count / n > lambda`` (``lambda = 3/10``, compared as integers
``10 count > 3 n``), "inverted-T" otherwise. :func:`mcs_update`: Gaussian channels take
``s = gmax``; inverted-T channels ``s = (1 - k A) s_prev + A gmax`` (``k = 1``, ``A = 0.8``),
``s_prev = gmax`` on the first call; the state is kept in float64 and the register is
``fp32(s)``.

Degenerate channels (chosen): an all-zero channel has ``count = 0``: inverted-T, ``s`` decays
toward 0 (``s = 0`` on a first call); one element: ``sigma = 0``, Gaussian if it is nonzero
(``s = |g|``); a channel without finite elements has ``gmax = 0``, ``count = n = 0``
(inverted-T). A zero (or subnormal) scale gives the reciprocal register 0, so its codes are 0
(never ``0 * Inf = NaN``).

Datapath of one lane (block ``gvq_quantizer``)
----------------------------------------------
Per channel two FP32 registers: ``clip = fp32(s)`` and ``inv = fp32(L / fp32(s))``
(:func:`gvq_registers`), ``L = 2**(b-1) - 1`` for the code width ``b = bits`` (default 8:
``L = 127``; the MCS scale ``s`` itself does not depend on ``b``). For an input ``x`` of
channel ``c``: clip to ``[-|clip_c|, |clip_c|]`` (magnitude comparison of bit patterns after flushing a subnormal ``x``; NaN passes; +-Inf is
clipped), ``v = fp32(x * inv_c)`` (:func:`golden.fp32.fp32_mul_bits`), then the shared rounding
stage: RNE or ``SR_F`` (random numbers from the RLSRU, one beat per data beat), saturation to
``+-L`` (docs/spec.md#decision-a; codes ``int8`` up to 8 bits, ``int16`` above) with per-lane
``sat`` (docs/spec.md#decision-c) and ``nan`` flags, and a per-lane ``clip`` flag (the MCS clipping event).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fp32 import EXP_MASK, SIGN_MASK, flush_bits, to_bits
from .params import BlockConfig, ConfigError, Param
from .quantizer import code_max, quantize_bits
from .rlsru import SCHEMES, RlsruConfig, check_phase_lanes, generate

__all__ = ["GvqQuantizerConfig", "LAMBDA", "K", "A", "ChannelStats", "channel_stats", "classify",
           "mcs_update", "gvq_scales", "gvq_registers", "gvq_clip_bits", "gvq_quantize_bits",
           "rlsru_config", "run"]

#: ``lambda`` as a ratio (numerator, denominator): Gaussian when ``count / n > 3 / 10``
LAMBDA = (3, 10)
#: MCS update constants (secondary): ``s_t = (1 - K A) s_(t-1) + A gmax_t``
K, A = 1.0, 0.8


class GvqQuantizerConfig(BlockConfig):
    """Parameters of the GVQ quantizer lanes with their per-channel register file."""
    BLOCK = "gvq_quantizer"
    PARAMS = (
        Param("lanes", int, 2, "P: parallel lanes (FP32 inputs and codes per beat)",
              lo=1, hi=64),
        Param("channels", int, 16, "C: entries of the per-channel (clip, inv) register file",
              lo=1, hi=4096),
        Param("mode", str, "rne", "rounding: round to nearest even or stochastic (RLSRU)",
              choices=("rne", "sr")),
        Param("frac_bits", int, 8, "F: fraction bits of the fixed-point value (SR uses F random "
              "bits)", lo=1, hi=16),
        Param("scheme", str, "split", "RLSRU scheme of the random source (mode sr)",
              choices=SCHEMES),
        Param("seed", int, 0xACE1, "16-bit LFSR seed of the RLSRU (nonzero)", lo=0, hi=0xFFFF),
        Param("pipelined", bool, True, "register the FP32 product before the rounder (+1 cycle)"),
        Param("bits", int, 8, "code width b: symmetric codes in [-(2^(b-1)-1), 2^(b-1)-1]",
              lo=2, hi=16),
    )
    TAGS = {"lanes": "l", "channels": "c", "mode": "", "frac_bits": "f", "scheme": "",
            "seed": "s", "pipelined": "p", "bits": "b"}
    TRANSACTION = "data beat (with the load beats before it)"
    TIMING_NOTE = ("latency = 1 (output register) + 1 with pipelined; a load beat writes the "
                   "register file and has no output")

    def _check(self):
        if self.seed == 0:
            raise ConfigError("gvq_quantizer parameter seed=0 is invalid: the all-zero state "
                              "never leaves itself; allowed values are 1..65535.")
        check_phase_lanes("gvq_quantizer", self.scheme, self.lanes, self.frac_bits)

    @property
    def latency(self) -> int:
        """Output register, plus the product register when ``pipelined``."""
        return 1 + int(self.pipelined)

    @property
    def ch_width(self) -> int:
        """Width of the channel index field."""
        return max(1, (self.channels - 1).bit_length())


def rlsru_config(cfg: GvqQuantizerConfig) -> RlsruConfig:
    """The configuration of the block's random source (mode ``sr``)."""
    return RlsruConfig(lanes=cfg.lanes, frac_bits=cfg.frac_bits, scheme=cfg.scheme, seed=cfg.seed)


@dataclass(frozen=True)
class ChannelStats:
    """Per-channel statistics of one gradient tensor (finite elements only).

    Attributes
    ----------
    gmax : numpy.ndarray of float64
        ``max|g|`` (0 without finite elements).
    sigma : numpy.ndarray of float32
        Population standard deviation, computed in float64 and cast once.
    count : numpy.ndarray of int64
        Elements with ``|g| > sigma`` (FP32 magnitudes, subnormals flushed).
    n : numpy.ndarray of int64
        Finite elements.
    """
    gmax: np.ndarray
    sigma: np.ndarray
    count: np.ndarray
    n: np.ndarray


def _rows(g32, axis):
    g = np.asarray(g32)
    if g.dtype != np.float32:
        raise ConfigError(f"gvq gradient has dtype {g.dtype}: expected float32.")
    if axis is None:
        return g.reshape(1, -1)
    return np.moveaxis(g, axis, 0).reshape(g.shape[axis], -1)


def channel_stats(g32, axis=1) -> ChannelStats:
    """Statistics per channel (``axis``; ``None``: the whole tensor as one channel)."""
    rows = _rows(g32, axis)
    fin = np.isfinite(rows)
    g = np.where(fin, rows, 0).astype(np.float64)
    n = fin.sum(axis=1).astype(np.int64)
    gmax = np.abs(g).max(axis=1) if g.shape[1] else np.zeros(g.shape[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = g.sum(axis=1) / np.maximum(n, 1)
        var = np.where(fin, (g - mean[:, None]) ** 2, 0).sum(axis=1) / np.maximum(n, 1)
    sigma = np.sqrt(var).astype(np.float32)
    mag = flush_bits(to_bits(rows)) & 0x7FFF_FFFF
    count = ((mag > (to_bits(sigma)[:, None] & 0x7FFF_FFFF)) & fin).sum(axis=1).astype(np.int64)
    return ChannelStats(gmax=gmax, sigma=sigma, count=count, n=n)


def classify(stats: ChannelStats, lam=LAMBDA) -> np.ndarray:
    """Gaussian (True) when ``count / n > lam[0] / lam[1]``, exactly (integer comparison)."""
    return lam[1] * stats.count > lam[0] * stats.n


def mcs_update(stats: ChannelStats, gauss, prev=None, k=K, a=A) -> np.ndarray:
    """MCS scale per channel (float64): ``gmax`` (Gaussian) or ``(1 - k a) prev + a gmax``."""
    prev = stats.gmax if prev is None else np.asarray(prev, dtype=np.float64)
    return np.where(gauss, stats.gmax, (1 - k * a) * prev + a * stats.gmax)


def gvq_scales(g32, state: dict, axis=1):
    """The spec's ``dai8_scales``: statistics, classification, MCS update; ``state["s"]`` keeps
    the float64 scales across iterations. Returns ``(s as float32, gauss, stats)``."""
    stats = channel_stats(g32, axis)
    gauss = classify(stats)
    s = mcs_update(stats, gauss, state.get("s"))
    state["s"] = s
    return s.astype(np.float32), gauss, stats


def gvq_registers(s32, bits: int = 8):
    """Register bit patterns ``(clip, inv)`` per channel: ``clip = s``, ``inv = fp32(L/s)``,
    ``L = 2**(bits-1) - 1`` (0 for a zero or subnormal ``s``)."""
    s = np.asarray(s32, dtype=np.float32)
    with np.errstate(divide="ignore", over="ignore"):
        inv = np.float32(code_max(bits)) / s
    inv = np.where(np.abs(s) < np.finfo(np.float32).tiny, np.float32(0.0), inv).astype(np.float32)
    return to_bits(s), to_bits(inv)


def gvq_clip_bits(x_bits, clip_bits):
    """Clip FP32 patterns to ``[-|c|, |c|]`` per element: ``(clipped bits, clip mask)``.

    A subnormal input is flushed first; a non-NaN element whose magnitude bits exceed those of
    ``c`` (+-Inf included) becomes ``c``'s magnitude with its own sign; NaN passes.
    """
    b = flush_bits(x_bits)
    mag = b & 0x7FFF_FFFF
    cm = np.asarray(clip_bits, dtype=np.int64) & 0x7FFF_FFFF
    clip = (mag > cm) & (mag <= EXP_MASK)
    return np.where(clip, (b & SIGN_MASK) | cm, b).astype(np.int64), clip


def gvq_quantize_bits(x_bits, clip_bits, inv_bits, mode="rne", frac_bits=8, rnd=None, bits=8):
    """One lane per element: clip, ``v = fp32(x * inv)``, RNE or ``SR_F``, saturate to
    ``bits``-bit codes.

    ``clip_bits``/``inv_bits`` broadcast against ``x_bits`` (per element, per channel or
    scalar). Returns ``(codes, nan, sat, clip)``.
    """
    x = np.asarray(x_bits, dtype=np.int64)
    c = np.broadcast_to(np.asarray(clip_bits, dtype=np.int64), x.shape)
    inv = np.broadcast_to(np.asarray(inv_bits, dtype=np.int64), x.shape)
    xc, clip = gvq_clip_bits(x, c)
    codes, nan, sat = quantize_bits(xc, inv, mode, frac_bits, rnd if mode == "sr" else None,
                                    bits)
    return codes, nan, sat, clip


def run(cfg: GvqQuantizerConfig, load, ch, x_bits, clip_bits, inv_bits):
    """What the block returns for a beat sequence.

    Parameters
    ----------
    load : array_like of bool, shape (n,)
        Load beat (writes ``clip_bits[t]``, ``inv_bits[t]`` into entry ``ch[t]``) or data beat.
    ch : array_like of int, shape (n,)
        Channel of the beat, ``0 .. channels - 1``.
    x_bits : array_like of int, shape (n, lanes)
        FP32 patterns of data beats (ignored on load beats).
    clip_bits, inv_bits : array_like of int, shape (n,)
        Register values of load beats (ignored on data beats).

    Returns
    -------
    codes, nan, sat, clip : numpy.ndarray, shape (m, lanes)
        One row per data beat, in order.
    r : numpy.ndarray of int64, shape (m, lanes) or None
        The random numbers (mode ``sr``).
    """
    load = np.asarray(load, dtype=bool)
    ch = np.asarray(ch, dtype=np.int64)
    x = np.asarray(x_bits, dtype=np.int64)
    if x.ndim != 2 or x.shape != (load.size, cfg.lanes):
        raise ConfigError(f"gvq_quantizer input has shape {x.shape}: expected "
                          f"({load.size}, {cfg.lanes}).")
    if ch.size and (ch.min() < 0 or ch.max() >= cfg.channels):
        bad = int(ch.min()) if ch.min() < 0 else int(ch.max())
        raise ConfigError(f"gvq_quantizer channel {bad} is out of range: allowed values are "
                          f"0..{cfg.channels - 1}.")
    rf_c = np.full(cfg.channels, -1, dtype=np.int64)
    rf_i = np.zeros(cfg.channels, dtype=np.int64)
    regs = []
    for t in range(load.size):
        if load[t]:
            rf_c[ch[t]], rf_i[ch[t]] = int(clip_bits[t]), int(inv_bits[t])
        else:
            if rf_c[ch[t]] < 0:
                raise ConfigError(f"gvq_quantizer channel {int(ch[t])} is read at beat {t} "
                                  f"before it was loaded: load every channel first.")
            regs.append((rf_c[ch[t]], rf_i[ch[t]]))
    data = x[~load]
    regs = np.array(regs, dtype=np.int64).reshape(-1, 2)
    r = None
    if cfg.mode == "sr":
        r = generate(rlsru_config(cfg), data.shape[0])
    codes, nan, sat, clip = gvq_quantize_bits(data, regs[:, :1], regs[:, 1:], cfg.mode,
                                              cfg.frac_bits, r, cfg.bits)
    return codes, nan, sat, clip, r
