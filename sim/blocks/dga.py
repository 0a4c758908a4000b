"""Transactions of the DGA accumulator: dot products -> addend beats, golden sums -> output beats."""

from __future__ import annotations

import numpy as np

from golden.dga import DgaConfig, dga_block
from golden.minifloat import FpFormat, encode
from golden.params import ConfigError
from .fp_add import special_operands
from ..transactors import Scenario, dot_product_beats, result_beats

__all__ = ["random_dot", "scenario_from_dots", "scenario", "ACCUMULATORS", "measure_accumulators",
           "bench", "SPEC"]


def random_dot(fmt: FpFormat, n: int, rng: np.random.Generator, kind: int | None = None):
    """Addend bit patterns of one dot product of length ``n``.

    ``kind`` (random when ``None``): 0 -- Gaussian values with a random mean and scale (mostly
    normal numbers of a common size, swamping for long dot products); 1 -- values spread over
    the whole exponent range (many DGA-exp closes); 2 -- uniform random bit patterns (all
    classes, incl. Inf/NaN with ``inf_nan``); 3 -- kind 0 with ~5% special operands (zeros of
    both signs, subnormals, max, Inf/NaN); 4 -- large same-sign values (saturation).
    """
    if kind is None:
        kind = int(rng.choice(5, p=[0.35, 0.2, 0.1, 0.25, 0.1]))
    top = fmt.emax
    if kind in (0, 3):
        scale = 2.0 ** rng.integers(fmt.emin, max(fmt.emin + 1, top - 8))
        x = scale * (rng.normal(size=n) + rng.normal() * 2)
    elif kind == 1:
        x = rng.choice([-1.0, 1.0], n) * np.ldexp(rng.uniform(1, 2, n),
                                                 rng.integers(fmt.emin - fmt.m, top, n))
    elif kind == 4:
        x = fmt.max_value * rng.uniform(0.25, 1.0, n) * rng.choice([-1.0, 1.0])
    if kind == 2:
        return rng.integers(0, 1 << fmt.width, n, dtype=np.int64)
    bits, _ = encode(fmt, x)
    if kind == 3:
        k = rng.random(n) < 0.05
        bits[k] = rng.choice(special_operands(fmt), int(k.sum()))
    return bits.astype(np.int64)


def scenario_from_dots(cfg: DgaConfig, layouts, dots, group_size: int | None = None,
                       expect_group_size: int | None = None) -> Scenario:
    """A scenario for explicit dot products (a list of addend arrays).

    The group-size port is held at ``group_size`` (default: :meth:`DgaConfig.register_value` of
    the first dot product's length; with the ``dga`` variant every dot product must then have
    that length's register value). ``expect_group_size`` computes the expectations with another
    group size (only used to show that a wrong group boundary is caught).
    """
    if not dots:
        raise ConfigError("a dga scenario needs at least one dot product.")
    if group_size is None:
        group_size = cfg.register_value(len(dots[0]))
        for d in dots:
            if cfg.register_value(len(d)) != group_size:
                raise ConfigError(f"dot products of lengths {len(dots[0])} and {len(d)} need "
                                  f"different group-size registers: one scenario holds one "
                                  f"register value.")
    g_exp = group_size if expect_group_size is None else expect_group_size
    res = [dga_block(cfg, np.asarray(d, dtype=np.int64), g_exp) for d in dots]
    beats = dot_product_beats(layouts["inp"], dots)
    outs, cols = result_beats(layouts["out"], res, ("bits", "nan", "ovf"))
    nan, ovf = cols["nan"], cols["ovf"]
    return Scenario(inputs={"inp": beats}, outputs={"out": outs},
                    statics={"group_size": int(group_size)},
                    out_cycles={"out": cfg.out_cycles([len(d) for d in dots])}, vectors=len(dots),
                    check_ports={"nan_seen": int(nan.any()), "overflow": int(ovf.any())})


def scenario(cfg: DgaConfig, layouts, rng: np.random.Generator, vectors: int,
             nmax: int = 64) -> Scenario:
    """``vectors`` random dot products (see :func:`random_dot`).

    Lengths: ``static``/``dga_exp`` -- random in ``1..nmax`` per dot product, plus one of length
    1 (rarely a multiple of ``G``); ``dga`` -- one random length in ``1..nmax`` for the whole
    scenario (the register holds ``dga_group_size(N)``).
    """
    vectors = max(1, int(vectors))
    if cfg.variant == "dga":
        n = int(rng.integers(1, nmax + 1))
        lengths = [n] * vectors
    else:
        lengths = [1] + [int(x) for x in rng.integers(1, nmax + 1, vectors - 1)]
    dots = [random_dot(cfg.addend_fmt, n, rng) for n in lengths]
    return scenario_from_dots(cfg, layouts, dots)


#: the accumulators of the area comparison: (row key, block, parameters, description)
ACCUMULATORS = (
    ("dga_fp12", "dga", {}, "DGA FP12 E5M6, two adders (variant dga; static/dga_exp share "
     "the datapath)"),
    ("dga1_fp12", "dga", {"adders": 1}, "DGA FP12 E5M6, one shared adder (adders=1)"),
    ("seq_fp12", "fp_acc", {}, "sequential FP12 E5M6"),
    ("seq_fp16", "fp_acc", {"exp_bits": 5, "man_bits": 10}, "sequential FP16 E5M10"),
    ("seq_fp32", "fp_acc", {"exp_bits": 8, "man_bits": 23}, "sequential FP32 E8M23"),
    ("dga_fp32", "dga", {"exp_bits": 8, "man_bits": 23}, "DGA FP32 E8M23 (same datapath, "
     "for scale)"),
    ("int32", "int_acc", {}, "INT32, 16-bit addends (INT8 x INT8 products)"),
    ("int32_in32", "int_acc", {"in_bits": 32}, "INT32, 32-bit addends"),
)


def measure_accumulators(workdir, fmax=True, say=print) -> dict:
    """Synthesize every accumulator of :data:`ACCUMULATORS` with Yosys (iCE40, plus nextpnr Fmax
    on hx8k when ``fmax``; the generic gate library; the OSU 0.18 um standard cells).

    Every accumulator takes one addend per cycle (the one-adder DGA too: no extra cycle), so its
    throughput is its clock: Fmax on the iCE40, ``1 / critical path`` on the ASIC estimate.

    Returns
    -------
    dict
        ``rows``: per key ``{block, module, config, description, addends_per_cycle, lut, ff,
        carry, ice40_cells, generic_cells, fmax_mhz, asic_area_um2, asic_cells, asic_ff,
        asic_critical_path_ns, asic_mhz}``; LUT and ASIC-area savings (``1 - ratio``) of the DGA
        FP12 rows against the sequential FP32 accumulator, ``goal`` and ``goal_met`` (the
        two-adder LUT goal of the DGA issue), ``goal_one_adder`` and ``goal_one_adder_met``
        (``lut`` and ``asic``: at least 50 % fewer iCE40 LUTs / ASIC area with one adder).
    """
    from hw.synth import synthesize
    from . import get_block
    rows = {}
    for key, block, params, desc in ACCUMULATORS:
        spec = get_block(block)
        cfg = spec.config(**params)
        comp = spec.component(cfg)
        say(f"  {key}: {cfg.module_name} ...")
        ice = synthesize(cfg, comp, target="ice40", workdir=workdir, fmax=fmax)
        gen = synthesize(cfg, spec.component(cfg), target="generic", workdir=workdir)
        asic = synthesize(cfg, spec.component(cfg), target="asic", workdir=workdir)
        cp = asic["critical_path_ns"]
        rows[key] = {"block": block, "module": cfg.module_name, "config": cfg.to_dict(),
                     "description": desc, "addends_per_cycle": 1,
                     "lut": ice["lut"], "ff": ice["ff"],
                     "carry": ice["carry"], "ice40_cells": ice["cells"],
                     "generic_cells": gen["cells"], "fmax_mhz": ice.get("fmax_mhz"),
                     "asic_area_um2": asic["area_um2"], "asic_cells": asic["cells"],
                     "asic_ff": asic["ff"], "asic_critical_path_ns": cp,
                     "asic_mhz": round(1000.0 / cp, 1) if cp else None}
        r = rows[key]
        say(f"    iCE40 {r['lut']} LUT {r['ff']} FF {r['carry']} carry {r['ice40_cells']} cells, "
            f"Fmax {r['fmax_mhz']} MHz; generic {r['generic_cells']} cells; ASIC "
            f"{r['asic_area_um2']:.0f} um^2, {cp} ns")
    lut = {k: r["lut"] for k, r in rows.items()}
    area = {k: r["asic_area_um2"] for k, r in rows.items()}
    saving = 1 - lut["dga_fp12"] / lut["seq_fp32"]
    one_lut = 1 - lut["dga1_fp12"] / lut["seq_fp32"]
    one_area = 1 - area["dga1_fp12"] / area["seq_fp32"]
    return {"rows": rows, "lut_saving_dga_fp12_vs_seq_fp32": round(saving, 4),
            "lut_saving_dga_fp12_vs_dga_fp32": round(1 - lut["dga_fp12"] / lut["dga_fp32"], 4),
            "lut_saving_seq_fp12_vs_seq_fp32": round(1 - lut["seq_fp12"] / lut["seq_fp32"], 4),
            "lut_saving_dga1_fp12_vs_seq_fp32": round(one_lut, 4),
            "asic_saving_dga_fp12_vs_seq_fp32": round(1 - area["dga_fp12"] / area["seq_fp32"], 4),
            "asic_saving_dga1_fp12_vs_seq_fp32": round(one_area, 4),
            "asic_note": "OSU 0.18 um cell area from Yosys (dfflibmap/abc -liberty), critical "
                         "path from OpenSTA: a synthesis estimate without placement or wires",
            "goal": "DGA FP12 uses >= 50 % fewer iCE40 LUTs than the FP32 accumulator",
            "goal_met": bool(saving >= 0.5),
            "goal_one_adder": "DGA FP12 with one adder uses >= 50 % fewer iCE40 LUTs and >= 50 % "
                              "less ASIC area than the sequential FP32 accumulator",
            "goal_one_adder_met": {"lut": bool(one_lut >= 0.5), "asic": bool(one_area >= 0.5)}}


def bench(report):
    """``make bench`` section ``dga``: the accumulator area/Fmax comparison
    (:func:`measure_accumulators`, iCE40 hx8k + generic + OSU 0.18 um, cached in
    ``.cache/synth``)."""
    from hw.toolchain import REPO
    res = measure_accumulators(REPO / ".cache" / "synth")
    report.setdefault("dga", {})["accumulators"] = res
    met = res["goal_one_adder_met"]
    print(f"  DGA FP12 vs FP32 LUT saving {100 * res['lut_saving_dga_fp12_vs_seq_fp32']:.1f} % "
          f"(goal >= 50 %: {'met' if res['goal_met'] else 'not met'}); one adder: LUT "
          f"{100 * res['lut_saving_dga1_fp12_vs_seq_fp32']:.1f} % "
          f"({'met' if met['lut'] else 'not met'}), ASIC area "
          f"{100 * res['asic_saving_dga1_fp12_vs_seq_fp32']:.1f} % "
          f"({'met' if met['asic'] else 'not met'})", flush=True)


from . import BlockSpec  # noqa: E402

SPEC = BlockSpec(
    name="dga",
    config=DgaConfig,
    hw_class="hw.dga:DgaAccumulator",
    scenario=scenario,
    bench=bench,
    summary="dynamic group accumulator (default FP12 E5M6): intra-/inter-group FP registers, "
            "group-size register (static G, DGA G = 2^round(log2 sqrt N), or data-driven "
            "DGA-exp), two adders or one shared (adders=1), one addend per cycle; optional "
            "wider addends (addend_man, e.g. exact E5M7 products) rounded once per addition",
    demo_configs=({}, {"variant": "static"}, {"variant": "dga_exp"},
                  {"exp_bits": 6, "man_bits": 5}, {"adders": 1},
                  {"variant": "dga_exp", "adders": 1}, {"addend_man": 7},
                  {"addend_man": 7, "adders": 1}),
)
