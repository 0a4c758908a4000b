"""Transactions of the ARC quantizer: FP32 stimulus -> input beats, golden codes -> output beats."""

from __future__ import annotations

import numpy as np

from golden.arc import arc_scale, clip_value
from golden.arc_quantizer import ArcQuantizerConfig, arc_quantize_bits
from golden.arc_stats import ArcStatsConfig
from golden.fp32 import EXP_MASK, SIGN_MASK, from_bits, to_bits
from .arc_stats import gradient_bits
from .quantizer import boundary_bits, special_bits
from ..transactors import Scenario, pack

__all__ = ["clip_boundary_bits", "stimulus_bits", "beats_scenario", "scenario", "SPEC"]


def clip_boundary_bits(c_bits: int) -> np.ndarray:
    """Patterns within two ulps of ``+-c`` (the clip comparator's decision boundary)."""
    cm = int(c_bits) & 0x7FFF_FFFF
    b = np.array([cm + d for d in range(-2, 3)], dtype=np.int64)
    b = b[(b >= 0) & ((b & EXP_MASK) != EXP_MASK)]
    return np.concatenate([b, b | SIGN_MASK])


def stimulus_bits(rng: np.random.Generator, n: int, c_bits: int, inv_bits: int,
                  bits: int = 8) -> np.ndarray:
    """``n`` inputs: specials, clip and rounding boundaries (code width ``bits``), then
    gradient-like values (shuffled)."""
    fixed = np.concatenate([special_bits(), clip_boundary_bits(c_bits)])
    bnd = boundary_bits(from_bits(np.int64(inv_bits))[()], bits)
    if bnd.size:
        fixed = np.concatenate([fixed, rng.choice(bnd, min(bnd.size, max(0, n // 4)),
                                                  replace=False)])
    rest = gradient_bits(rng, max(0, n - fixed.size), specials=0.0)
    out = np.concatenate([fixed, rest])
    if out.size > n:
        out = np.concatenate([special_bits(), rng.permutation(out[special_bits().size:])])[:n]
    return rng.permutation(out).astype(np.int64)


def beats_scenario(cfg: ArcQuantizerConfig, layouts, rng: np.random.Generator, n_beats=64, x_bits=None,
             c_bits=None, inv_bits=None, rne=False, golden=arc_quantize_bits):
    """``n_beats`` beats quantized with the registers ``c_bits``/``inv_bits``.

    Without registers, a random gradient tensor's clip value (golden statistics path) and its
    scale are used. ``x_bits`` may give the inputs explicitly (padded with zeros to whole
    beats); ``golden`` computes the expectations (replaceable for mutation tests). Returns
    ``(scenario, data)``.
    """
    P = cfg.lanes
    if c_bits is None:
        c_bits = clip_value(ArcStatsConfig(), gradient_bits(rng, 256, specials=0.0)).c_bits
    if inv_bits is None:
        inv_bits = int(to_bits(arc_scale(c_bits, cfg.bits)[1]))
    if x_bits is None:
        x_bits = stimulus_bits(rng, n_beats * P, c_bits, inv_bits, cfg.bits)
    x_bits = np.asarray(x_bits, dtype=np.int64).reshape(-1)
    n_beats = max(1, -(-x_bits.size // P))
    x_bits = np.concatenate([x_bits, np.zeros(n_beats * P - x_bits.size, dtype=np.int64)])
    mode = "rne" if rne else "rtz"
    width = {} if cfg.bits == 8 else {"bits": cfg.bits}     # as sim.blocks.quantizer
    codes, nan, sat, clip = golden(x_bits, c_bits, inv_bits, mode, **width)
    inputs = {"inp": [pack(layouts["inp"], [int(v) for v in x_bits[b * P:(b + 1) * P]])
                      for b in range(n_beats)]}
    outputs = {"out": [pack(layouts["out"], {
        "code": [int(v) for v in codes[b * P:(b + 1) * P]],
        "nan": [int(v) for v in nan[b * P:(b + 1) * P]],
        "sat": [int(v) for v in sat[b * P:(b + 1) * P]],
        "clip": [int(v) for v in clip[b * P:(b + 1) * P]],
    }) for b in range(n_beats)]}
    statics = {"clip": int(c_bits), "inv_scale": int(inv_bits), "flag_clear": 0}
    if cfg.adaptive:
        statics["rne"] = int(bool(rne))
    sc = Scenario(inputs=inputs, outputs=outputs, statics=statics,
                  out_cycles={"out": cfg.out_cycles([1] * n_beats)}, vectors=int(x_bits.size),
                  check_ports={"nan_flag": int(nan.any()), "sat_flag": int(sat.any())})
    data = {"x_bits": x_bits, "codes": codes, "nan": nan, "sat": sat, "clip": clip,
            "c_bits": int(c_bits), "inv_bits": int(inv_bits)}
    return sc, data


def scenario(cfg, layouts, rng, vectors):
    n = max(1, -(-vectors // cfg.lanes))
    sc, _ = beats_scenario(cfg, layouts, rng, n_beats=n, rne=bool(cfg.adaptive and rng.random() < 0.5))
    return sc


from . import BlockSpec  # noqa: E402

SPEC = BlockSpec(
    name="arc_quantizer",
    config=ArcQuantizerConfig,
    hw_class="hw.arc_quantizer:ArcQuantizer",
    scenario=scenario,
    summary="ARC lanes: clip FP32 to +-c, x * inv_scale (IEEE RNE, flush-to-zero), round toward "
            "zero (or RNE by a run-time select when adaptive) to +-(2^(b-1)-1) (b = bits, "
            "default 8)",
    demo_configs=({}, {"adaptive": True}),
)
