"""Transactions of the quantizer: FP32 stimulus -> input beats, golden codes -> expected beats."""

from __future__ import annotations

import numpy as np

from golden.fp32 import EXP_MASK, SIGN_MASK, from_bits, to_bits
from golden.quantizer import QuantizerConfig, code_max, quantize_bits
from ..transactors import Scenario, pack

__all__ = ["special_bits", "boundary_bits", "stimulus_bits", "beats_scenario", "scenario", "TYPICAL_INV_SCALES",
           "SPEC"]

#: reciprocal scales used by random scenarios: ordinary fp32(127/max|g|) values and powers of two
TYPICAL_INV_SCALES = (1.0, 0.5, 1.5, 3.0517578125e-05, 127.0 / 0.37, 127.0 / 3.2e-4, 1.0e6, 7.25)


def special_bits() -> np.ndarray:
    """One or more bit patterns of every FP32 class, both signs.

    Zeros, smallest/largest/random subnormals, smallest/largest normals, 1.0, infinities, quiet
    and signalling NaNs with several payloads.
    """
    mags = [
        0x0000_0000,                       # zero
        0x0000_0001, 0x0000_0002, 0x0040_0000, 0x007F_FFFF, 0x0012_3456,   # subnormals
        0x0080_0000, 0x0080_0001, 0x00FF_FFFF,                           # smallest normals
        0x3F80_0000, 0x3F00_0000, 0x3FC0_0000,                           # 1.0, 0.5, 1.5
        0x7F7F_FFFF, 0x7F00_0000,                                        # largest normals
        0x7F80_0000,                                                     # infinity
        0x7FC0_0000, 0x7FC0_0001, 0x7FFF_FFFF,                           # quiet NaNs
        0x7F80_0001, 0x7FA0_0000, 0x7FBF_FFFF,                           # signalling NaNs
    ]
    mags = np.array(mags, dtype=np.int64)
    return np.concatenate([mags, mags | SIGN_MASK])


def _neighbours(x32, k=2):
    """Bit patterns within ``k`` ulps of each finite float32 in ``x32`` (same sign)."""
    b = to_bits(x32)
    out = [b + d for d in range(-k, k + 1)]
    out = np.concatenate(out) & 0xFFFF_FFFF
    return out[(out & EXP_MASK) != EXP_MASK]


def boundary_bits(inv_scale, bits=8) -> np.ndarray:
    """Inputs whose scaled value ``x * inv_scale`` lies next to a decision boundary.

    Around ``v`` = integers and half-integers up to 130 and around the code limit ``L`` and
    ``2**(bits-1)`` of the code width (ties, saturation), ``+-2**-F`` for small ``F``,
    ``2**-126`` (the flush threshold of the product), the largest finite float (overflow of the
    product), all with both signs and within two ulps of the nearest representable input.
    """
    inv = np.float32(inv_scale)
    if not np.isfinite(inv) or inv == 0:
        return np.zeros(0, dtype=np.int64)
    L = code_max(bits)
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        targets = np.concatenate([
            np.arange(0, 131, dtype=np.float64), np.arange(0, 130, dtype=np.float64) + 0.5,
            np.arange(L - 2, L + 4, dtype=np.float64), np.arange(L - 2, L + 3) + 0.5,
            2.0 ** -np.arange(1, 17), [2.0 ** -126, 2.0 ** -126 * (1 - 2.0 ** -24), 2.0 ** -127,
                                      float(np.finfo(np.float32).max), 2.0 ** 127],
        ])
        x = (targets / np.float64(abs(inv))).astype(np.float32)
    x = x[np.isfinite(x)]
    b = _neighbours(x)
    return np.unique(np.concatenate([b, b | SIGN_MASK]))


def stimulus_bits(rng: np.random.Generator, n: int, inv_scale, bits=8) -> np.ndarray:
    """``n`` FP32 input patterns: every special class and boundary first, then a random mix.

    The random part draws uniform bit patterns, Gaussian "gradients" scaled so that the codes
    spread over the ``bits``-bit range (sd ``40 L / 127`` codes), and values landing on integers
    and half-integers up to ``L + 4`` after scaling.
    The order is shuffled; when ``n`` is smaller than the special and boundary sets, a random
    subset of them is taken (the specials always first).
    """
    fixed = np.concatenate([special_bits(), boundary_bits(inv_scale, bits)])
    inv = float(np.float32(inv_scale))
    L = code_max(bits)
    k = max(0, n - fixed.size)
    parts = [rng.integers(0, 1 << 32, k // 3, dtype=np.int64)]
    scale = 40.0 * L / 127 / inv if np.isfinite(inv) and inv != 0 else 1.0
    with np.errstate(over="ignore"):
        parts.append(to_bits((rng.standard_normal(k // 3) * scale).astype(np.float32)))
        halves = rng.integers(-2 * (L + 4), 2 * (L + 4) + 1, k - 2 * (k // 3)) / 2.0
        parts.append(to_bits((halves * (1.0 / inv if np.isfinite(inv) and inv != 0 else 1.0))
                             .astype(np.float32)))
    if fixed.size > n:
        sp = special_bits()
        rest = rng.permutation(fixed[sp.size:])[:max(0, n - sp.size)]
        fixed = np.concatenate([sp, rest])[:n]
    out = np.concatenate([fixed] + parts)[:n]
    return rng.permutation(out).astype(np.int64)


def beats_scenario(cfg: QuantizerConfig, layouts, rng: np.random.Generator, n_beats=64,
             inv_scale=1.0, inv_bits=None, x_bits=None, rnd=None, golden=quantize_bits):
    """A run of ``n_beats`` beats of ``cfg.lanes`` inputs with the reciprocal scale ``inv_scale``.

    ``inv_bits`` gives the register as a bit pattern instead (for NaN payloads, subnormals).

    ``x_bits`` may give the inputs explicitly (flattened, padded with zeros to whole beats);
    ``rnd`` the SR random integers (drawn from ``rng`` when omitted). ``golden`` computes the
    expectations (replaceable for mutation tests; it gets ``bits=cfg.bits`` unless the width is
    the default 8, so a replacement written for 8-bit codes needs no such argument). Returns
    ``(scenario, data)`` with ``data`` a dict of the flattened ``x_bits``, ``rnd``, ``codes``, ``nan`` and ``sat`` arrays.
    """
    P = cfg.lanes
    if inv_bits is None:
        inv_bits = int(to_bits(np.float32(inv_scale)))
    inv_bits = int(inv_bits)
    if x_bits is None:
        x_bits = stimulus_bits(rng, n_beats * P, from_bits(inv_bits), cfg.bits)
    x_bits = np.asarray(x_bits, dtype=np.int64)
    n_beats = -(-x_bits.size // P)
    x_bits = np.concatenate([x_bits, np.zeros(n_beats * P - x_bits.size, dtype=np.int64)])
    sr = cfg.mode == "sr"
    if sr and rnd is None:
        rnd = rng.integers(0, 1 << cfg.frac_bits, x_bits.size, dtype=np.int64)
    if sr:
        rnd = np.asarray(rnd, dtype=np.int64).reshape(-1)
    width = {} if cfg.bits == 8 else {"bits": cfg.bits}
    codes, nan, sat = golden(x_bits, inv_bits, cfg.mode, cfg.frac_bits, rnd if sr else None, **width)
    inputs = {"inp": [pack(layouts["inp"], [int(v) for v in x_bits[b * P:(b + 1) * P]])
                      for b in range(n_beats)]}
    if sr:
        inputs["rnd"] = [pack(layouts["rnd"], [int(v) for v in rnd[b * P:(b + 1) * P]])
                         for b in range(n_beats)]
    outputs = {"out": [pack(layouts["out"], {
        "code": [int(v) for v in codes[b * P:(b + 1) * P]],
        "nan": [int(v) for v in nan[b * P:(b + 1) * P]],
        "sat": [int(v) for v in sat[b * P:(b + 1) * P]],
    }) for b in range(n_beats)]}
    sc = Scenario(inputs=inputs, outputs=outputs,
                  statics={"inv_scale": inv_bits, "flag_clear": 0},
                  out_cycles={"out": cfg.out_cycles([1] * n_beats)},
                  vectors=int(x_bits.size),
                  check_ports={"nan_flag": int(nan.any()), "sat_flag": int(sat.any())})
    data = {"x_bits": x_bits, "rnd": rnd, "codes": codes, "nan": nan, "sat": sat,
            "inv_bits": inv_bits}
    return sc, data


def scenario(cfg, layouts, rng, vectors):
    n = max(1, -(-vectors // cfg.lanes))
    inv = float(rng.choice(TYPICAL_INV_SCALES))
    sc, _ = beats_scenario(cfg, layouts, rng, n_beats=n, inv_scale=inv)
    return sc


from . import BlockSpec  # noqa: E402

SPEC = BlockSpec(
    name="quantizer",
    config=QuantizerConfig,
    hw_class="hw.quantizer:Quantizer",
    scenario=scenario,
    summary="P FP32 -> b-bit quantizer lanes: x * inv_scale (IEEE RNE, flush-to-zero), then RNE, "
            "RTZ or SR_F with a swappable random-source stream, saturated to +-(2^(b-1)-1) "
            "(b = bits, default 8: [-127, 127])",
    demo_configs=({}, {"mode": "rtz"}, {"mode": "sr"}, {"mode": "sr", "bits": 4}),
    netlist_params={"lanes": 1},
)
