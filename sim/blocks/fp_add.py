"""Transactions of the FP(e, m) adder: operand pairs -> input beats, golden sums -> output beats."""

from __future__ import annotations

import numpy as np

from golden.fp_add import FpAddConfig, fp_add_block
from golden.minifloat import FpFormat, classify, encode
from ..transactors import Scenario, pack_columns

__all__ = ["special_operands", "random_operands", "scenario_from_operands",
           "scenario", "SPEC"]


def special_operands(fmt: FpFormat) -> np.ndarray:
    """Bit patterns of every special class, both signs: zeros, smallest/largest subnormal,
    smallest normal and its neighbours, one, largest finite and its neighbour, and (with
    ``inf_nan``) Inf, the canonical NaN and the NaNs with the smallest and largest payload."""
    m = fmt.m
    mags = {0, 1, (1 << m) - 1, 1 << m, (1 << m) + 1, fmt.bias << m, (fmt.bias << m) + 1,
            fmt.max_code, fmt.max_code - 1}
    if fmt.inf_nan:
        mags |= {fmt.inf_code, fmt.nan_code, fmt.inf_code + 1, fmt.inf_code | ((1 << m) - 1)}
    mags = sorted(v for v in mags if 0 <= v <= fmt.mag_mask)
    return np.array(mags + [v | fmt.sign_bit for v in mags], dtype=np.int64)


def random_operands(fmt: FpFormat, n: int, rng: np.random.Generator,
                    addend_fmt: FpFormat | None = None):
    """``n`` operand pairs ``(a, b)`` mixing uniform codes with the hard cases.

    With a wider ``addend_fmt`` FP(e, m') (the mixed-format adder) the pairs are drawn in
    FP(e, m') and ``a`` is cut to FP(e, m) by dropping its ``m' - m`` lowest pattern bits (the
    classes survive: zeros, max, Inf, the canonical NaN), so ties, cancellations and
    saturation of the wide sum are hit while ``b`` keeps its extra fraction bits.

    About 35% uniform random patterns; 15% one special operand (see :func:`special_operands`);
    10% both special; 10% cancellations (``b`` = ``-a`` up to a few codes); 10% exact ties
    (``b = +-1/2`` or ``+-3/2`` ulp of ``a``); 10% near exponents (difference 0..m+3);
    10% near the saturation point (``a`` within a few codes of max, ``b`` of a similar size).
    """
    if addend_fmt is not None and addend_fmt != fmt:
        a, b = random_operands(addend_fmt, n, rng)
        return a >> (addend_fmt.m - fmt.m), b
    full = 1 << fmt.width
    sp = special_operands(fmt)
    a = rng.integers(0, full, n, dtype=np.int64)
    b = rng.integers(0, full, n, dtype=np.int64)
    kind = rng.choice(8, size=n, p=[0.35, 0.15, 0.10, 0.10, 0.10, 0.10, 0.05, 0.05])
    k = kind == 1
    a[k] = rng.choice(sp, k.sum())
    k = kind == 2
    a[k] = rng.choice(sp, k.sum())
    b[k] = rng.choice(sp, k.sum())
    k = kind == 3
    off = rng.integers(-3, 4, k.sum())
    b[k] = np.clip((a[k] & fmt.mag_mask) + off, 0, fmt.max_code) | ((a[k] ^ fmt.sign_bit) & fmt.sign_bit)
    k = np.flatnonzero(kind == 4)
    if k.size:
        ca = classify(fmt, a[k])
        a[k] = np.where(ca["nan"] | ca["inf"], a[k] & ~(1 << (fmt.e + fmt.m - 1)), a[k])
        ca = classify(fmt, a[k])
        mult = rng.choice([1.0, 3.0], k.size)
        sgn = rng.choice([-1.0, 1.0], k.size)
        v = sgn * mult * np.ldexp(1.0, (ca["q"] - 1).astype(np.int64))
        bb, _ = encode(fmt, v, "rtz")
        b[k] = bb
    k = np.flatnonzero(kind == 5)
    if k.size:
        ea = (a[k] >> fmt.m) & fmt.exp_ones
        eb = np.clip(ea - rng.integers(0, fmt.m + 4, k.size), 0, fmt.exp_ones)
        b[k] = (b[k] & (fmt.sign_bit | ((1 << fmt.m) - 1))) | (eb << fmt.m)
    k = np.flatnonzero(kind == 6)
    if k.size:
        a[k] = (fmt.max_code - rng.integers(0, 4, k.size)) | (rng.integers(0, 2, k.size) << (fmt.e + fmt.m))
        b[k] = (fmt.max_code - rng.integers(0, 3 << fmt.m, k.size)) | (a[k] & fmt.sign_bit)
    k = np.flatnonzero(kind == 7)
    if k.size:
        a[k] = fmt.max_code | (rng.integers(0, 2, k.size) << (fmt.e + fmt.m))
        b[k] = rng.integers(0, full, k.size)
    return a, b


def scenario_from_operands(cfg: FpAddConfig, layouts, a, b) -> Scenario:
    """A scenario for explicit operand arrays, expectations from the golden model."""
    res = fp_add_block(cfg, a, b)
    beats = pack_columns(layouts["inp"], {"a": a, "b": b})
    outs = pack_columns(layouts["out"], {"bits": res.bits, "nan": res.nan, "ovf": res.ovf})
    n = len(beats)
    return Scenario(inputs={"inp": beats}, outputs={"out": outs},
                    out_cycles={"out": cfg.out_cycles([1] * n)}, vectors=n,
                    check_ports={"nan_seen": int(res.nan.any()), "overflow": int(res.ovf.any())})


def scenario(cfg: FpAddConfig, layouts, rng: np.random.Generator, vectors: int) -> Scenario:
    """``vectors`` random operand pairs from :func:`random_operands`."""
    a, b = random_operands(cfg.fmt, int(vectors), rng, cfg.addend_fmt)
    return scenario_from_operands(cfg, layouts, a, b)


from . import BlockSpec  # noqa: E402

SPEC = BlockSpec(
    name="fp_add",
    config=FpAddConfig,
    hw_class="hw.fp_add:FpAdd",
    scenario=scenario,
    summary="parameterized FP(e, m) adder (default FP12 E5M6): align with guard/round/sticky, "
            "add, normalize, round RNE/RTZ; saturating, IEEE Inf/NaN or no-Inf/NaN mode; "
            "optional wider addend (addend_man, e.g. exact E5M7 products) rounded once",
    demo_configs=({}, {"pipelined": True}, {"exp_bits": 6, "man_bits": 5},
                  {"exp_bits": 4, "man_bits": 3}, {"rounding": "rtz"}, {"addend_man": 7}),
)
