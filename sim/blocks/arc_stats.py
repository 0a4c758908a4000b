"""Transactions of the ARC statistics unit: tensors -> input beats, golden results -> result beats."""

from __future__ import annotations

import numpy as np

from golden.arc import clip_value
from golden.arc_stats import INF_BITS, NEG_INF_BITS, ArcStatsConfig, stats_accumulate
from golden.fp32 import to_bits
from .quantizer import special_bits
from ..transactors import Scenario, pack

__all__ = ["gradient_bits", "tensor_beats", "tensors_scenario", "scenario", "host_scenario", "SPEC"]


def gradient_bits(rng: np.random.Generator, n: int, scale=1e-3, specials=0.02) -> np.ndarray:
    """``n`` FP32 "gradient" patterns: Gaussian/Laplace mix with outliers, zeros and specials.

    About ``specials`` of the elements are drawn from :func:`sim.quantizer.special_bits`
    (zeros, subnormals, extremes, +-Inf, NaNs); 1 % are outliers at 20-50 times the scale.
    """
    g = np.where(rng.random(n) < 0.5, rng.standard_normal(n), rng.laplace(size=n)) * scale
    out = rng.random(n) < 0.01
    g[out] *= rng.uniform(20, 50, out.sum())
    g[rng.random(n) < 0.05] = 0.0
    b = to_bits(g.astype(np.float32))
    sp = rng.random(n) < specials
    if sp.any():
        b[sp] = rng.choice(special_bits(), sp.sum())
    return b.astype(np.int64)


def tensor_beats(cfg: ArcStatsConfig, bits, pass2: bool, rng: np.random.Generator | None = None,
                 drop=0.0) -> list:
    """Input payloads of one tensor: ``lanes`` elements per beat, ``keep = 0`` lanes inserted
    with probability ``drop`` (filled with random patterns that must be ignored), the last beat
    padded with ``keep = 0`` lanes and marked ``last``."""
    P = cfg.lanes
    bits = [int(b) for b in np.asarray(bits, dtype=np.int64).reshape(-1)]
    lanes = []                                   # (data, keep) in lane order
    for b in bits:
        while rng is not None and drop and rng.random() < drop:
            lanes.append((int(rng.integers(0, 1 << 32)), 0))
        lanes.append((b, 1))
    while len(lanes) % P or not lanes:
        lanes.append((int(rng.integers(0, 1 << 32)) if rng is not None else 0, 0))
    beats = []
    for k in range(0, len(lanes), P):
        chunk = lanes[k:k + P]
        beats.append({"data": [d for d, _ in chunk], "keep": [kp for _, kp in chunk],
                      "pass2": int(bool(pass2)), "last": int(k + P >= len(lanes))})
    return beats


def tensors_scenario(cfg: ArcStatsConfig, layouts, rng: np.random.Generator, tensors, ebase: int,
             lo_bits: int = NEG_INF_BITS, hi_bits: int = INF_BITS, drop=0.1, golden=None):
    """A run over ``tensors`` (a list of ``(bits, pass2)``) with fixed registers.

    ``golden(cfg, bits, pass2, ebase, lo, hi)`` computes each expected result (default
    :func:`golden.arc_stats.stats_accumulate`; replaceable for mutation tests). Returns
    ``(scenario, results)``.
    """
    golden = golden or stats_accumulate
    beats, outs, results, lengths = [], [], [], []
    for bits, p2 in tensors:
        tb = tensor_beats(cfg, bits, p2, rng, drop)
        beats += [pack(layouts["inp"], b) for b in tb]
        res = golden(cfg, bits, p2, ebase, lo_bits, hi_bits)
        results.append(res)
        outs.append(pack(layouts["out"], res.to_payload()))
        lengths.append(len(tb))
    sc = Scenario(inputs={"inp": beats}, outputs={"out": outs},
                  statics={"ebase": int(ebase), "lo": int(lo_bits), "hi": int(hi_bits)},
                  out_cycles={"out": cfg.out_cycles(lengths)},
                  vectors=int(sum(np.asarray(b).size for b, _ in tensors)))
    return sc, results


def host_scenario(cfg: ArcStatsConfig, layouts, rng: np.random.Generator, n_tensors=3, n=40,
                  drop=0.1):
    """Realistic run: for one gradient tensor the host already ran pass 1 (golden); the run
    repeats pass 1 and pass 2 (with the host's thresholds) on it and on ``n_tensors - 1`` more
    random tensors, alternating passes. Returns ``(scenario, results, clip_info)``."""
    first = gradient_bits(rng, n)
    info = clip_value(cfg, first)
    lo = info.lo_bits if info.lo_bits is not None else NEG_INF_BITS
    hi = info.hi_bits if info.hi_bits is not None else INF_BITS
    tensors = [(first, False), (first, True)]
    for k in range(n_tensors - 1):
        t = gradient_bits(rng, int(rng.integers(1, 2 * n)))
        tensors += [(t, bool(k % 2)), (t, not bool(k % 2))]
    sc, res = tensors_scenario(cfg, layouts, rng, tensors, info.ebase, lo, hi, drop)
    return sc, res, info


def scenario(cfg, layouts, rng, vectors):
    n = max(1, vectors // 6)
    sc, _, _ = host_scenario(cfg, layouts, rng, n_tensors=3, n=n)
    return sc


from . import BlockSpec  # noqa: E402

SPEC = BlockSpec(
    name="arc_stats",
    config=ArcStatsConfig,
    hw_class="hw.arc_stats:ArcStats",
    scenario=scenario,
    summary="ARC statistics unit: pass 1 exact count/sum/sum-of-squares of an FP32 stream over "
            "an exponent window, pass 2 count and largest magnitude of inliers lo <= x <= hi",
    demo_configs=({}, {"lanes": 2}),
)

