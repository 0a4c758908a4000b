"""Transactions of the GVQ quantizer: per-channel tensors, MCS scales, load and data beats."""

from __future__ import annotations

import numpy as np

from golden.fp32 import to_bits
from golden.gvq_quantizer import GvqQuantizerConfig, gvq_registers, gvq_scales, run
from ..transactors import Scenario, pack
from .quantizer import special_bits

__all__ = ["channel_tensor", "beats_scenario", "lengths_of", "scenario", "SPEC"]


def channel_tensor(rng: np.random.Generator, channels: int, per_channel: int) -> np.ndarray:
    """A ``(1, channels, per_channel)`` float32 gradient with mixed channel distributions.

    Channel kinds cycle through Gaussian, inverted-T (most elements near 0, a wide tail),
    all-zero, Gaussian with outliers, and tiny magnitudes (near the flush threshold).
    """
    g = np.empty((channels, per_channel))
    for c in range(channels):
        kind = c % 5
        scale = float(rng.choice([1e-4, 1e-2, 1.0]))
        if kind == 0:
            g[c] = rng.standard_normal(per_channel) * scale
        elif kind == 1:
            g[c] = rng.standard_normal(per_channel) * scale * 1e-3
            tail = rng.random(per_channel) < 0.15
            g[c, tail] = rng.uniform(-1, 1, tail.sum()) * scale
        elif kind == 2:
            g[c] = 0.0
        elif kind == 3:
            g[c] = rng.standard_normal(per_channel) * scale
            g[c, rng.integers(0, per_channel)] *= 50
        else:
            g[c] = rng.standard_normal(per_channel) * 1e-37
    return g.astype(np.float32)[None]


def lengths_of(load) -> list:
    """Transaction lengths: every data beat with the load beats right before it."""
    out, run_len = [], 0
    for ld in load:
        run_len += 1
        if not ld:
            out.append(run_len)
            run_len = 0
    return out


def beats_scenario(cfg: GvqQuantizerConfig, layouts, rng: np.random.Generator, n_beats=64,
                   load=None, ch=None, x=None, clip=None, inv=None, golden=run):
    """A beat sequence: explicit (``load``, ``ch``, ``x``, ``clip``, ``inv``) or random.

    The random sequence: two MCS iterations on :func:`channel_tensor` tensors (the second one
    clips where a maximum jumped), a load beat per used channel, data beats of the channels in
    random order with special values mixed in, and one mid-stream reload of a channel with the
    first iteration's registers. Returns ``(scenario, data)``.
    """
    P = cfg.lanes
    if load is None:
        used = min(cfg.channels, 6)
        per = max(P, (n_beats * P) // used)
        state = {}
        gvq_scales(channel_tensor(rng, used, per), state, axis=1)
        s_old = state["s"].astype(np.float32)
        g = channel_tensor(rng, used, per)
        g[0, :, : per // 8] *= 2.5                       # the maximum jumps: MCS clips
        s, _, _ = gvq_scales(g, state, axis=1)
        cb, ib = gvq_registers(s, cfg.bits)
        cb_old, ib_old = gvq_registers(s_old, cfg.bits)
        chans = rng.permutation(cfg.channels)[:used]     # tensor channel j -> entry chans[j]
        xb = to_bits(g[0])
        sp = special_bits()
        xb[:, :4] = rng.choice(sp, (used, 4))
        rows = []                                        # (load, ch, x, clip, inv)
        for j in range(used):
            rows.append((1, chans[j], [0] * P, cb[j], ib[j]))
        data = []
        for j in range(used):
            for b in range(0, per - per % P, P):
                data.append((0, chans[j], list(xb[j, b:b + P]), 0, 0))
        data = [data[k] for k in rng.permutation(len(data))][:max(1, n_beats - used - 1)]
        k = len(data) // 2
        data.insert(k, (1, chans[0], [0] * P, cb_old[0], ib_old[0]))   # reload mid-stream
        if data[-1][0]:
            data.append((0, chans[0], list(xb[0, :P]), 0, 0))
        rows += data
        load = np.array([r[0] for r in rows], dtype=bool)
        ch = np.array([r[1] for r in rows], dtype=np.int64)
        x = np.array([r[2] for r in rows], dtype=np.int64).reshape(-1, P)
        clip = np.array([r[3] for r in rows], dtype=np.int64)
        inv = np.array([r[4] for r in rows], dtype=np.int64)
    load = np.asarray(load, dtype=bool)
    codes, nan, sat, clipped, r = golden(cfg, load, ch, x, clip, inv)
    inputs = {"inp": [pack(layouts["inp"], {"x": [int(v) for v in x[t]], "ch": int(ch[t]),
                                            "load": int(load[t]), "clip": int(clip[t]),
                                            "inv": int(inv[t])}) for t in range(load.size)]}
    outputs = {"out": [pack(layouts["out"], {
        "code": [int(v) for v in codes[t]], "nan": [int(v) for v in nan[t]],
        "sat": [int(v) for v in sat[t]], "clip": [int(v) for v in clipped[t]],
    }) for t in range(codes.shape[0])]}
    sc = Scenario(inputs=inputs, outputs=outputs, statics={"flag_clear": 0},
                  out_cycles={"out": cfg.out_cycles(lengths_of(load))},
                  vectors=int(codes.size),
                  check_ports={"nan_flag": int(nan.any()), "sat_flag": int(sat.any())})
    return sc, {"load": load, "ch": ch, "x": x, "clip": clip, "inv": inv, "codes": codes,
                "nan": nan, "sat": sat, "clipped": clipped, "r": r}


def scenario(cfg, layouts, rng, vectors):
    n = max(1, -(-vectors // cfg.lanes))
    sc, _ = beats_scenario(cfg, layouts, rng, n_beats=n)
    return sc


from . import BlockSpec  # noqa: E402

SPEC = BlockSpec(
    name="gvq_quantizer",
    config=GvqQuantizerConfig,
    hw_class="hw.gvq_quantizer:GvqQuantizer",
    scenario=scenario,
    summary="Distribution-Adaptive INT8 GVQ: per-channel (clip, inv) register file indexed by each "
            "beat's channel, ARC clip + FP32 multiply + RNE/SR to b-bit codes (MCS update on the host)",
    demo_configs=({}, {"mode": "sr"}),
    netlist_params={"lanes": 1, "channels": 4},
)
