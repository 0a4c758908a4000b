"""Transactions of the GVQ statistics unit: per-channel tensors as data beats, sigma loads, reads."""

from __future__ import annotations

import numpy as np

from golden.fp32 import to_bits
from golden.gvq_quantizer import channel_stats
from golden.gvq_stats import GvqStatsConfig, pad_beats, run
from ..transactors import Scenario, pack
from .gvq_quantizer import channel_tensor
from .quantizer import special_bits

__all__ = ["beats_scenario", "lengths_of_reads", "scenario", "SPEC"]


def lengths_of_reads(op) -> list:
    """Transaction lengths: every read beat with the beats since the previous read."""
    out, k = [], 0
    for o in op:
        k += 1
        if o == 2:
            out.append(k)
            k = 0
    return out


def _round(cfg, rng, per):
    """One round: sigma loads, shuffled data beats of up to 5 channels, a read of each (and of an
    untouched channel when there is one)."""
    P = cfg.lanes
    used = min(cfg.channels, 5)
    g = channel_tensor(rng, used, per)[0]
    xb = to_bits(g)
    xb[:, :3] = rng.choice(special_bits(), (used, 3))
    st = channel_stats(g[None], axis=1)
    chans = rng.permutation(cfg.channels)[:used]
    rows = [(1, chans[j], [0] * P, int(to_bits(st.sigma[j]))) for j in range(used)]
    data = []
    for j in range(used):
        for beat in pad_beats(xb[j, :per - 1], P):
            data.append((0, chans[j], list(beat), 0))
    rows += [data[k] for k in rng.permutation(len(data))]
    rows += [(2, chans[j], [0] * P, 0) for j in range(used)]
    spare = [c for c in range(cfg.channels) if c not in set(chans)]
    if spare:
        rows.append((2, spare[0], [0] * P, 0))
    return rows


def beats_scenario(cfg: GvqStatsConfig, layouts, rng: np.random.Generator, vectors=16,
                   op=None, ch=None, x=None, sigma=None, golden=run):
    """A beat sequence: explicit (``op``, ``ch``, ``x``, ``sigma``) or random.

    Random: rounds of :func:`_round` (a :func:`channel_tensor` with special values mixed in, the
    host sigma of each channel loaded first, the channels' data beats interleaved in random order
    with partial beats padded with NaN, a read of every channel) until at least ``vectors`` reads.
    Returns ``(scenario, data)``.
    """
    P = cfg.lanes
    if op is None:
        rows = []
        while sum(1 for r in rows if r[0] == 2) < vectors:
            rows += _round(cfg, rng, int(rng.integers(4, 4 * P + 6)))
        op = np.array([r[0] for r in rows], dtype=np.int64)
        ch = np.array([r[1] for r in rows], dtype=np.int64)
        x = np.array([r[2] for r in rows], dtype=np.int64).reshape(-1, P)
        sigma = np.array([r[3] for r in rows], dtype=np.int64)
    op = np.asarray(op, dtype=np.int64)
    gmax, count, n, ovf = golden(cfg, op, ch, x, sigma)
    inputs = {"inp": [pack(layouts["inp"], {"x": [int(v) for v in x[t]], "ch": int(ch[t]),
                                            "op": int(op[t]), "sigma": int(sigma[t])})
                      for t in range(op.size)]}
    outputs = {"out": [pack(layouts["out"], {"gmax": int(gmax[k]), "count": int(count[k]),
                                             "n": int(n[k]), "ovf": int(ovf[k])})
                       for k in range(gmax.size)]}
    sc = Scenario(inputs=inputs, outputs=outputs,
                  out_cycles={"out": cfg.out_cycles(lengths_of_reads(op))},
                  vectors=int(gmax.size))
    return sc, {"op": op, "ch": ch, "x": x, "sigma": sigma, "gmax": gmax, "count": count,
                "n": n, "ovf": ovf}


def scenario(cfg, layouts, rng, vectors):
    sc, _ = beats_scenario(cfg, layouts, rng, vectors=vectors)
    return sc


from . import BlockSpec  # noqa: E402

SPEC = BlockSpec(
    name="gvq_stats",
    config=GvqStatsConfig,
    hw_class="hw.gvq_stats:GvqStats",
    scenario=scenario,
    summary="GVQ/MCS statistics: exact per-channel max|g|, count(|g| > sigma_c) and finite count "
            "(saturating counters) over P FP32 elements per beat",
    demo_configs=({},),
    netlist_params={"lanes": 2, "channels": 4},
)
