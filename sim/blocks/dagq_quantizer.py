"""Transactions of the DAGQ quantizer: a gradient tensor, its OTS registers, beats and expectations."""

from __future__ import annotations

import numpy as np

from golden.dagq_quantizer import DagqQuantizerConfig, dagq_registers, ots, run
from golden.fp32 import SIGN_MASK, to_bits
from ..transactors import Scenario, pack
from .quantizer import special_bits

__all__ = ["REGISTER_CASES", "tensor_bits", "beats_scenario", "scenario", "SPEC"]

#: register choices of random scenarios: the OTS result, and the degenerate cases of the spec
REGISTER_CASES = ("ots", "ots", "ots", "th_zero", "gmax_eq_th")


def _around(x32, k=2):
    """Bit patterns within ``k`` ulps of each value of ``x32``, both signs (finite ones only)."""
    b = to_bits(np.asarray(x32, dtype=np.float32)) & 0x7FFF_FFFF
    out = np.concatenate([b + d for d in range(-k, k + 1)])
    out = out[(out >= 0) & (out < 0x7F80_0000)]
    return np.concatenate([out, out | SIGN_MASK])


def tensor_bits(rng: np.random.Generator, n: int):
    """``n`` FP32 gradient patterns: a Gaussian tensor with a spike at 0 and a few outliers.

    Returns ``(bits, g32)``: ``g32`` is the finite, Gaussian part the host statistics see.
    """
    scale = float(rng.choice([1e-4, 3e-3, 0.05, 2.0]))
    g = rng.standard_normal(n) * scale
    g[rng.random(n) < 0.1] *= 1e-3                       # spike near zero (inner region)
    g[rng.random(n) < 0.01] *= 8.0                        # outliers (near gmax)
    g32 = g.astype(np.float32)
    return to_bits(g32), g32


def beats_scenario(cfg: DagqQuantizerConfig, layouts, rng: np.random.Generator, n_beats=64,
                   case="ots", x_bits=None, regs=None, restarts=None, golden=run):
    """``n_beats`` beats of ``cfg.lanes`` inputs with registers from the case ``case``.

    ``x_bits`` (flattened, padded with zeros) and ``regs`` (a :class:`DagqRegisters`) may be
    given; ``restarts`` are the per-beat restart bits (default: beat 0 and about 3 % of the
    others). ``golden`` computes the expectations (replaceable for mutation tests). Returns
    ``(scenario, data)``.
    """
    P = cfg.lanes
    n = n_beats * P
    if x_bits is None:
        bits, g32 = tensor_bits(rng, n)
        if regs is None:
            res = ots(cfg, g32)
            th, gmax = res.regs.th, res.gmax
            if case == "th_zero":
                th = np.float32(0.0)
            elif case == "gmax_eq_th":
                th = gmax
            regs = dagq_registers(th, gmax, cfg.bits)
        fixed = np.concatenate([special_bits(), _around([regs.th, regs.gmax, 0.0])])
        fixed = rng.permutation(fixed)[:n // 2]
        x_bits = rng.permutation(np.concatenate([fixed, bits[:n - fixed.size]]))
    x_bits = np.asarray(x_bits, dtype=np.int64)
    n_beats = -(-x_bits.size // P)
    x_bits = np.concatenate([x_bits, np.zeros(n_beats * P - x_bits.size, dtype=np.int64)])
    x = x_bits.reshape(n_beats, P)
    if restarts is None:
        restarts = rng.random(n_beats) < 0.03
        restarts[0] = True
    restarts = np.asarray(restarts, dtype=bool)
    rb = regs.bits()
    codes, region, nan, sat, r = golden(cfg, x, restarts, rb)
    inputs = {"inp": [pack(layouts["inp"], {"x": [int(v) for v in x[t]],
                                            "restart": int(restarts[t])}) for t in range(n_beats)]}
    outputs = {"out": [pack(layouts["out"], {
        "code": [int(v) for v in codes[t]], "region": [int(v) for v in region[t]],
        "nan": [int(v) for v in nan[t]], "sat": [int(v) for v in sat[t]],
    }) for t in range(n_beats)]}
    sc = Scenario(inputs=inputs, outputs=outputs,
                  statics={**rb, "flag_clear": 0},
                  out_cycles={"out": cfg.out_cycles([1] * n_beats)},
                  vectors=int(x.size),
                  check_ports={"nan_flag": int(nan.any()), "sat_flag": int(sat.any())})
    return sc, {"x": x, "restarts": restarts, "regs": regs, "codes": codes, "region": region,
                "nan": nan, "sat": sat, "r": r}


def scenario(cfg, layouts, rng, vectors):
    n = max(1, -(-vectors // cfg.lanes))
    case = str(rng.choice(REGISTER_CASES))
    sc, _ = beats_scenario(cfg, layouts, rng, n_beats=n, case=case)
    return sc


from . import BlockSpec  # noqa: E402

SPEC = BlockSpec(
    name="dagq_quantizer",
    config=DagqQuantizerConfig,
    hw_class="hw.dagq_quantizer:DagqQuantizer",
    scenario=scenario,
    summary="LowGradQ DAGQ: P FP32 -> b-bit code + 2-bit region lanes, two scales and a threshold as "
            "registers, SR_F with an RLSRU random source (OTS on the host)",
    demo_configs=({},),
    netlist_params={"lanes": 1},
)
