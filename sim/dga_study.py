"""Error study of low-bit FP dot-product accumulation: sequential, static G=64, DGA, DGA-exp.

Run ``python -m sim.dga_study`` (about a minute with the defaults: 256 trials per N; most of it
is the bit-level golden model of the ``E5M6 mixed`` row). The study is a sweep of
:mod:`sim.sweep` (:func:`spec_dict`, the same spec as ``sweeps/dga.toml``): one ``dga_error``
metric task per length, stored in the sweep database (``-j``, ``--db``, ``--scheduler``); a re-run
reads the stored results. It writes ``docs/img/dga_error.png`` and ``bench/dga_study.json``, the
engine's report in ``build/sweeps/dga`` (width vs error, Pareto front per N, CSV) and prints a
markdown table. :func:`run_study` computes the same numbers serially in-process.

Setup (docs/spec.md#dga): dot products of FP8 E4M3 activations (``ReLU(N(0, 1)) * 2``) and
E4M3 weights (``N(0, 1) / 4``), both rounded RNE to IEEE-like E4M3; **products exact** (float64);
lengths ``N`` in {576, 4608, 25088} (3x3x64, 3x3x512, 7x7x512 convolutions); accumulators
FP(5, m) for m = 6..14 (FP12 .. FP20), RNE, every addition rounded once; the schemes in the
hardware's order (:mod:`golden.dga`), DGA-exp with ``T = m`` and ``gmax = 256``. Two extra
rows compare one rounding with two: ``E5M6 hw`` feeds the FP12 accumulator with products first
rounded to E5M6 (the one-format accumulator, ``addend_man = 0``: two roundings per addition),
and ``E5M6 mixed`` feeds it the exact products as E5M7 bit patterns through the bit-exact golden
model of the mixed-format hardware (``DgaConfig(addend_man=7)``: :func:`golden.dga.accumulate`
with ``addend_fmt`` E5M7, and a loop of the mixed :func:`golden.minifloat.fp_add` for the
sequential scheme), one rounding per addition. The study checks that every ``E5M6 mixed`` sum
equals the float64 model's ``E5M6`` row (exact products, one rounding) bit for bit. Reference: the
exact sum (``math.fsum`` of the exact products, i.e. the exact sum correctly rounded to a
double). Metrics per configuration over ``trials`` dot products: mean of
``|S - exact| / ||p||_2`` (normalized error, robust when the exact sum is near 0) and median of
``|S - exact| / |exact|`` (relative error). ``two_minus_one_rounding`` pairs the two extra rows
dot product by dot product: mean and standard error of the normalized error of ``E5M6 hw``
minus that of ``E5M6 mixed``, and how many dot products each one wins.

The float64 model here (:func:`fp_add_f`, the spec's ``q_fp``) is vectorized over widths and
trials so that FP19/FP20 (beyond :class:`golden.minifloat.FpFormat`'s ``m <= 12``) and the
25,088-term sequential sums run in seconds; ``tests/test_dga.py`` checks it bit for bit against
:func:`golden.dga.accumulate` (and so against the hardware) where both apply.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from golden.dga import accumulate, dga_group_size
from golden.minifloat import FpFormat, decode, encode, fp_add

__all__ = ["q_fp", "fp_add_f", "acc_seq_f", "acc_group_f", "acc_dga_exp_f", "fp8_dot_products",
           "length_results", "run_study", "error_metric", "spec_dict", "run_sweep_study",
           "mixed_area_spec", "measure_mixed_area", "SCHEMES", "DEFAULT_N", "DEFAULT_MANTISSAS"]

from hw.toolchain import REPO  # noqa: E402
SCHEMES = ("sequential", "static64", "dga", "dga_exp")
DEFAULT_N = (576, 4608, 25088)
DEFAULT_MANTISSAS = tuple(range(6, 15))
E = 5
#: the extra rows: two roundings (pre-rounded addends) and one rounding (mixed-format adder)
HW_ROW = f"E{E}M6 hw"
MIXED_ROW = f"E{E}M6 mixed"


def q_fp(x, e, m):
    """Round exact float64 values to FP(e, m) RNE with saturation (``m`` may be an array that
    broadcasts against ``x``); the spec's ``q_fp``."""
    m = np.asarray(m)
    bias = (1 << (e - 1)) - 1
    emin = 1 - bias
    maxv = (2.0 - np.ldexp(1.0, -m)) * 2.0 ** bias
    a = np.abs(x)
    _, ex = np.frexp(a)
    quantum = np.ldexp(1.0, np.maximum(ex - 1, emin) - m)
    r = np.minimum(np.rint(a / quantum) * quantum, maxv)
    return np.where(a == 0, 0.0, np.copysign(r, x))


def fp_add_f(a, b, e, m):
    """``a + b`` rounded once to FP(e, m) RNE. The float64 sum is exact for the operands used
    here (FP(5, m <= 14) values and E4M3 products span fewer than 53 bits)."""
    return q_fp(a + b, e, m)


def acc_seq_f(P, e, m):
    """Sequential accumulation over the last axis of ``P``."""
    S = np.zeros(P.shape[:-1])
    for i in range(P.shape[-1]):
        S = fp_add_f(S, P[..., i], e, m)
    return S


def acc_group_f(P, G, e, m):
    """Static grouping with group size ``G`` over the last axis (groups accumulated in
    parallel; the zero padding of the last group is exact)."""
    N = P.shape[-1]
    ng = -(-N // G)
    Pg = np.zeros(P.shape[:-1] + (ng * G,))
    Pg[..., :N] = P
    Pg = Pg.reshape(P.shape[:-1] + (ng, G))
    mm = np.asarray(m)[..., None]
    A = np.zeros(Pg.shape[:-1])
    for j in range(G):
        A = fp_add_f(A, Pg[..., j], e, mm)
    S = np.zeros(P.shape[:-1])
    for k in range(ng):
        S = fp_add_f(S, A[..., k], e, m)
    return S


def _ee(x, e):
    """Exponent used by the DGA-exp comparator, in ``frexp`` units: ``max(frexp, emin + 1)``
    (``max(E, 1)`` of the bit pattern plus ``1 - bias``)."""
    emin = 2 - (1 << (e - 1))
    return np.maximum(np.frexp(np.abs(x))[1], emin + 1)


def acc_dga_exp_f(P, e, m, T, gmax=256):
    """DGA-exp: close the group before ``v`` when ``n == gmax`` or ``ee(A) - ee(v) > T``."""
    shape = P.shape[:-1]
    S = np.zeros(shape)
    A = np.zeros(shape)
    n = np.zeros(shape, dtype=np.int64)
    for i in range(P.shape[-1]):
        v = P[..., i]
        close = (n > 0) & ((n >= gmax) | ((A != 0) & (v != 0) & (_ee(A, e) - _ee(v, e) > T)))
        S = np.where(close, fp_add_f(S, A, e, m), S)
        A = fp_add_f(np.where(close, 0.0, A), v, e, m)
        n = np.where(close, 1, n + 1)
    return fp_add_f(S, A, e, m)


def fp8_dot_products(N, trials, rng):
    """Exact products ``(trials, N)`` of E4M3 activations x E4M3 weights (module docstring)."""
    f8 = FpFormat(4, 3)
    act = np.maximum(rng.normal(size=(trials, N)), 0.0) * 2.0
    wgt = rng.normal(size=(trials, N)) / 4.0
    qa = decode(f8, encode(f8, act)[0])
    qw = decode(f8, encode(f8, wgt)[0])
    return qa * qw


def run_schemes(P, mantissas, e=E, hw_row=True):
    """Sums of every scheme for products ``P`` ``(trials, N)``: dict scheme -> ``(rows, trials)``.

    Rows are the FP(e, m) widths of ``mantissas`` (exact products) plus, with ``hw_row``, FP(e, 6)
    fed with products rounded to FP(e, 6).
    """
    ms = np.array(list(mantissas) + ([6] if hw_row else []), dtype=np.int64)
    Pw = np.broadcast_to(P, (len(ms),) + P.shape).copy()
    if hw_row:
        Pw[-1] = q_fp(P, e, 6)
    mcol = ms[:, None]
    N = P.shape[-1]
    return {
        "sequential": acc_seq_f(Pw, e, mcol),
        "static64": acc_group_f(Pw, 64, e, mcol),
        "dga": acc_group_f(Pw, dga_group_size(N), e, mcol),
        "dga_exp": acc_dga_exp_f(Pw, e, mcol, mcol),
    }


def run_mixed(P, m=6, addend_m=7):
    """The ``E5M6 mixed`` row: every scheme on the bit-exact golden model of the mixed-format
    accumulator (exact products as FP(5, addend_m) patterns, FP(5, m) registers, one rounding
    per addition). Returns dict scheme -> float64 sums ``(trials,)``."""
    f, fb = FpFormat(E, m), FpFormat(E, addend_m)
    bits, ovf = encode(fb, P)
    if ovf.any() or not (decode(fb, bits) == P).all():
        raise ValueError(f"the products are not exact in {fb.name}.")
    N = P.shape[-1]
    S = np.zeros(P.shape[0], dtype=np.int64)
    for i in range(N):                                 # sequential: S = S + v, one rounding
        S = fp_add(f, S, bits[:, i], "rne", fb).bits
    out = {"sequential": S,
           "static64": accumulate(f, bits, 64, "rne", None, fb).bits,
           "dga": accumulate(f, bits, dga_group_size(N), "rne", None, fb).bits,
           "dga_exp": accumulate(f, bits, 256, "rne", m, fb).bits}
    return {k: decode(f, v) for k, v in out.items()}


def length_results(P, mantissas=DEFAULT_MANTISSAS) -> tuple:
    """Every scheme and format on the products ``P`` ``(trials, N)`` of one length: ``(results,
    paired)`` -- ``results[scheme][format]`` (normalized mean/max error, median relative error)
    and, with the ``E5M6 mixed`` row, ``paired[scheme]`` (two-minus-one-rounding statistics)."""
    rows = _formats(mantissas)
    exact = np.array([math.fsum(row) for row in P])
    norm = np.sqrt(np.array([math.fsum(row * row) for row in P]))
    sums = run_schemes(P, mantissas)
    if MIXED_ROW in rows:
        mixed = run_mixed(P)
        i6 = list(mantissas).index(6)
        for s in SCHEMES:
            if not np.array_equal(mixed[s], sums[s][i6]):
                raise AssertionError(f"{MIXED_ROW} {s} differs from the float64 model")
            sums[s] = np.concatenate([sums[s], mixed[s][None, :]])
    res = {}
    paired = {}
    for s in SCHEMES:
        err = np.abs(sums[s] - exact[None, :])
        res[s] = {r: {"norm_err_mean": float(np.mean(err[i] / norm)),
                      "norm_err_max": float(np.max(err[i] / norm)),
                      "rel_err_median": float(np.median(err[i] / np.abs(exact)))}
                  for i, r in enumerate(rows)}
        if MIXED_ROW in rows:
            # per dot product: normalized error with two roundings minus with one
            d = (err[rows.index(HW_ROW)] - err[rows.index(MIXED_ROW)]) / norm
            paired[s] = {"mean": float(np.mean(d)),
                         "sem": float(np.std(d, ddof=1) / np.sqrt(d.size)) if d.size > 1
                         else 0.0,
                         "one_rounding_better": int(np.sum(d > 0)),
                         "two_roundings_better": int(np.sum(d < 0))}
    return res, paired


def _formats(mantissas) -> list:
    return [f"E{E}M{m}" for m in mantissas] + [HW_ROW] + ([MIXED_ROW] if 6 in mantissas else [])


def _assemble(Ns, trials, seed, mantissas, per_length) -> dict:
    """The study's JSON from ``{N: (results, paired)}``."""
    out = {"setup": {"N": list(Ns), "trials": trials, "seed": seed, "formats": _formats(mantissas),
                     "schemes": list(SCHEMES), "dga_group_size": {str(n): dga_group_size(n)
                                                                  for n in Ns},
                     "operands": "E4M3 ReLU(N(0,1))*2 x E4M3 N(0,1)/4, exact products, RNE",
                     "dga_exp": "T = m, gmax = 256"},
           "results": {}}
    for N in Ns:
        res, paired = per_length[N]
        out["results"][str(N)] = res
        if paired:
            out.setdefault("two_minus_one_rounding", {})[str(N)] = paired
    return out


def run_study(Ns=DEFAULT_N, trials=256, mantissas=DEFAULT_MANTISSAS, seed=2024):
    """Run the study serially in this process; returns a JSON-ready dict (see the module
    docstring for the metrics). :func:`run_sweep_study` gives the same numbers as a sweep."""
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    per = {N: length_results(fp8_dot_products(N, trials, rng), mantissas) for N in Ns}
    out = _assemble(Ns, trials, seed, mantissas, per)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["answer"] = answer(out)
    return out


def error_metric(cfg, params, trials=256, seed=2024, mantissas=DEFAULT_MANTISSAS, order=()):
    """Sweep metric ``dga_error`` (:mod:`sim.sweep.metrics`) at one length ``params["N"]``.

    ``order`` lists the lengths that the serial :func:`run_study` draws from the same generator
    before this one (its ``Ns``); their operands are drawn and dropped first, so the numbers equal
    the serial study's. Returns ``results``, ``paired`` (:func:`length_results`) and ``rows``
    (one per scheme and format, with the accumulator width ``bits`` and the row ``kind``:
    ``exact`` products, ``hw`` (pre-rounded addends) or ``mixed``) for the report.
    """
    N = params["N"]
    rng = np.random.default_rng(seed)
    order = list(order)
    for n in order[:order.index(N)] if N in order else ():
        fp8_dot_products(n, trials, rng)
    mantissas = list(mantissas)
    res, paired = length_results(fp8_dot_products(N, trials, rng), mantissas)
    rows = []
    for s, by_fmt in res.items():
        for r, d in by_fmt.items():
            kind = "hw" if r == HW_ROW else "mixed" if r == MIXED_ROW else "exact"
            rows.append({"scheme": s, "format": r, "kind": kind,
                         "bits": 1 + E + int(r.split()[0][3:]), **d})
    return {"N": N, "results": res, "paired": paired, "rows": rows}


def spec_dict(Ns=DEFAULT_N, trials=256, mantissas=DEFAULT_MANTISSAS, seed=2024) -> dict:
    """The sweep spec of the study (the same as ``sweeps/dga.toml``): one metric task per
    length ``N``."""
    return {
        "name": "dga",
        "description": "DGA error study: normalized error of sequential, static G=64, DGA and "
                       "DGA-exp accumulation vs accumulator width per dot-product length "
                       "(sim/dga_study.py).",
        "grid": [{"label": "dga", "params": {"N": list(Ns)}, "measure": ["metric"],
                  "metric": {"name": "dga_error",
                             "args": {"trials": trials, "seed": seed,
                                      "mantissas": list(mantissas), "order": list(Ns)}}}],
        "report": {"x": "dga_error.bits", "y": "dga_error.norm_err_mean",
                   "color": "dga_error.scheme", "facet": "N", "effects": ["dga_error.scheme"],
                   "where": {"dga_error.kind": "exact"}, "out": "build/sweeps/dga"},
    }


def run_sweep_study(Ns=DEFAULT_N, trials=256, mantissas=DEFAULT_MANTISSAS, seed=2024, jobs=1,
                    db=None, scheduler=None, progress=True):
    """:func:`run_study` as a sweep (:func:`spec_dict` on :func:`sim.sweep.run_sweep`): one task
    per length, stored in the sweep database; returns ``(study dict, SweepRun)``."""
    from sim.sweep import parse_spec, run_sweep
    from sim.sweep.store import shown_path
    t0 = time.perf_counter()
    run = run_sweep(parse_spec(spec_dict(Ns, trials, mantissas, seed)), db=db, jobs=jobs,
                    scheduler=scheduler, progress=progress)
    if run.failed:
        raise RuntimeError(f"dga study: {len(run.failed)} task(s) failed twice, e.g. "
                           f"{run.failed[0].row['stderr'].splitlines()[0]}")
    per = {o.task.point.params["N"]: (o.row["report"]["results"], o.row["report"]["paired"])
           for o in run.outcomes}
    out = _assemble(Ns, trials, seed, mantissas, per)
    out["sweep"] = {"spec": "sweeps/dga.toml", "database": shown_path(run.db),
                    "counts": run.counts, "workers": run.workers, "wall_seconds": run.wall_seconds}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    out["answer"] = answer(out)
    return out, run


def _bits_needed(errs_by_bits, target):
    """Smallest width (interpolated in log2 error) at which a scheme reaches ``target``."""
    bits = sorted(errs_by_bits)
    for lo, hi in zip(bits, bits[1:]):
        a, b = errs_by_bits[lo], errs_by_bits[hi]
        if a <= target:
            return float(lo)
        if b <= target:
            t = (math.log2(a) - math.log2(target)) / (math.log2(a) - math.log2(b))
            return lo + t * (hi - lo)
    return float(bits[0]) if errs_by_bits[bits[0]] <= target else float("inf")


def answer(study):
    """Per N: DGA at FP12 vs static G=64 at FP18, and the width each scheme needs to match
    FP12 DGA (normalized mean error)."""
    ans = {}
    for N, res in study["results"].items():
        def curve(s):
            return {1 + E + int(r[3:]): v["norm_err_mean"] for r, v in res[s].items()
                    if r not in (HW_ROW, MIXED_ROW)}
        target = res["dga"]["E5M6"]["norm_err_mean"]
        ans[N] = {
            "dga_fp12": target,
            "dga_exp_fp12": res["dga_exp"]["E5M6"]["norm_err_mean"],
            "static64_fp12": res["static64"]["E5M6"]["norm_err_mean"],
            "static64_fp18": res["static64"]["E5M12"]["norm_err_mean"],
            "sequential_fp18": res["sequential"]["E5M12"]["norm_err_mean"],
            "bits_static64_to_match_dga_fp12": round(_bits_needed(curve("static64"), target), 2),
            "bits_sequential_to_match_dga_fp12": round(_bits_needed(curve("sequential"), target), 2),
        }
        if MIXED_ROW in res["dga"]:
            # one rounding vs two: error of pre-rounded E5M6 addends / error of the mixed adder
            ans[N]["two_vs_one_rounding_error_ratio"] = {
                s: round(res[s][HW_ROW]["norm_err_mean"] / res[s][MIXED_ROW]["norm_err_mean"], 3)
                for s in SCHEMES}
    return ans


def markdown_table(study) -> str:
    """Normalized mean error (x1e-3) per N, format and scheme."""
    lines = []
    for N, res in study["results"].items():
        lines.append(f"\n**N = {N}** (DGA G = {study['setup']['dga_group_size'][N]}), mean "
                     f"|S - exact| / ||p||_2 in units of 1e-3, median relative error "
                     f"|S - exact| / |exact| in brackets\n")
        lines.append("| format | " + " | ".join(SCHEMES) + " |")
        lines.append("|---|" + "---:|" * len(SCHEMES))
        for r in study["setup"]["formats"]:
            cells = [f"{1e3 * res[s][r]['norm_err_mean']:.3g} ({res[s][r]['rel_err_median']:.2g})"
                     for s in SCHEMES]
            if r == HW_ROW:
                name = f"{r} (E5M6 addends: two roundings)"
            elif r == MIXED_ROW:
                name = f"{r} (E5M7 addends, one rounding)"
            else:
                name = f"{r} (FP{1 + E + int(r[3:])})"
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(study, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    Ns = list(study["results"])
    fig, axes = plt.subplots(1, len(Ns), figsize=(4.2 * len(Ns), 3.6), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, N in zip(axes, Ns):
        res = study["results"][N]
        for s, mk in zip(SCHEMES, "osD^"):
            rs = [r for r in res[s] if r not in (HW_ROW, MIXED_ROW)]
            bits = [1 + E + int(r[3:]) for r in rs]
            line, = ax.semilogy(bits, [res[s][r]["norm_err_mean"] for r in rs], marker=mk,
                                label=s)
            if HW_ROW in res[s]:                   # two roundings: hollow marker at FP12
                ax.semilogy([1 + E + 6], [res[s][HW_ROW]["norm_err_mean"]], marker=mk,
                            linestyle="none", markerfacecolor="none", color=line.get_color())
        ax.set_title(f"N = {N} (DGA G = {study['setup']['dga_group_size'][N]})")
        ax.set_xlabel("accumulator width (E5M(w-6))")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("mean |S - exact| / ||p||_2")
    axes[0].legend()
    fig.suptitle(f"FP8 E4M3 dot products, RNE accumulation, {study['setup']['trials']} trials "
                 f"(hollow: FP12 fed with products rounded to E5M6, two roundings)")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


#: the area comparison of the mixed-format adder: (row key, block, parameters)
MIXED_AREA = (
    ("fp_add_e5m6", "fp_add", {}),
    ("fp_add_e5m6_am7", "fp_add", {"addend_man": 7}),
    ("dga2_e5m6", "dga", {}),
    ("dga2_e5m6_am7", "dga", {"addend_man": 7}),
    ("dga1_e5m6", "dga", {"adders": 1}),
    ("dga1_e5m6_am7", "dga", {"adders": 1, "addend_man": 7}),
)


def mixed_area_spec() -> dict:
    """The sweep spec of the mixed-format area comparison: one grid per row of
    :data:`MIXED_AREA`, iCE40 and ASIC synthesis."""
    return {"name": "dga_mixed_area",
            "description": "FP12 adder and DGA (two adders, one adder) with E5M6 and E5M7 addends "
                           "(sim/dga_study.py --mixed-area).",
            "grid": [{"block": block, "params": dict(params), "label": key, "measure": ["synth"],
                      "targets": ["ice40", "asic"]} for key, block, params in MIXED_AREA],
            "report": {"x": "ice40.lut", "y": "asic.area_um2", "color": "label",
                       "out": "build/sweeps/dga_mixed_area"}}


def measure_mixed_area(say=print, jobs=1, db=None, scheduler=None) -> dict:
    """iCE40 (LUT, FF, carry) and OSU 0.18 um (area, critical path) of the FP12 adder and the DGA
    (two adders, one adder) with E5M6 addends and with E5M7 addends (``addend_man=7``, one
    rounding); ratios E5M7 / E5M6 per pair. The syntheses are one sweep
    (:func:`mixed_area_spec`)."""
    from sim.sweep import parse_spec, run_sweep
    from sim.sweep.spec import make_config
    run = run_sweep(parse_spec(mixed_area_spec()), db=db, jobs=jobs, scheduler=scheduler)
    if run.failed:
        raise RuntimeError(f"dga mixed area: {len(run.failed)} synthesis task(s) failed twice, "
                           f"e.g. {run.failed[0].row['stderr'].splitlines()[0]}")
    syn = {}
    for o in run.outcomes:
        syn.setdefault(o.task.point.label, {})[o.task.target] = (o.task.point, o.row["report"])
    rows = {}
    for key, _block, _params in MIXED_AREA:
        point, ice = syn[key]["ice40"]
        asic = syn[key]["asic"][1]
        cfg = make_config(point)[0]
        rows[key] = {"module": cfg.module_name, "config": cfg.to_dict(), "lut": ice["lut"],
                     "ff": ice["ff"], "carry": ice["carry"], "asic_area_um2": asic["area_um2"],
                     "asic_critical_path_ns": asic["critical_path_ns"]}
        say(f"  {key}: {rows[key]}")
    ratios = {k: {m: round(rows[k + "_am7"][m] / rows[k][m], 4)
                  for m in ("lut", "ff", "asic_area_um2", "asic_critical_path_ns") if rows[k][m]}
              for k in ("fp_add_e5m6", "dga2_e5m6", "dga1_e5m6")}
    return {"rows": rows, "am7_over_e5m6": ratios,
            "asic_note": "OSU 0.18 um cell area from Yosys (dfflibmap/abc -liberty), critical path "
                         "from OpenSTA: a synthesis estimate without placement or wires"}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m sim.dga_study", description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=256)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--json", default=str(REPO / "bench" / "dga_study.json"))
    ap.add_argument("--png", default=str(REPO / "docs" / "img" / "dga_error.png"))
    ap.add_argument("-j", "--jobs", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--db", help="sweep database (default .cache/sweeps.sqlite)")
    ap.add_argument("--scheduler", help="dask.distributed scheduler address")
    ap.add_argument("--mixed-area", metavar="JSON", nargs="?",
                    const=str(REPO / "bench" / "dga_mixed_area.json"),
                    help="instead of the error study: synthesize the FP12 adder and the DGA with "
                         "E5M6 and E5M7 addends (iCE40 + OSU 0.18 um) into this JSON")
    args = ap.parse_args(argv)
    if args.mixed_area:
        from hw.toolchain import setup_env
        setup_env()
        t0 = time.perf_counter()
        res = measure_mixed_area(jobs=args.jobs, db=args.db, scheduler=args.scheduler)
        res["seconds"] = round(time.perf_counter() - t0, 1)
        Path(args.mixed_area).write_text(json.dumps(res, indent=1))
        print(json.dumps(res["am7_over_e5m6"], indent=1))
        print(f"{res['seconds']} s; wrote {args.mixed_area}")
        return
    study, run = run_sweep_study(trials=args.trials, seed=args.seed, jobs=args.jobs, db=args.db,
                                 scheduler=args.scheduler)
    table = markdown_table(study)
    study["markdown"] = table
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(study, indent=1))
    plot(study, args.png)
    from sim.sweep import write_report          # Pareto front of width vs error per N, CSV
    for k, v in write_report(run)["paths"].items():
        print(f"report {k}: {v}")
    print(table)
    print(json.dumps(study["answer"], indent=1))
    print(f"{study['seconds']} s; wrote {args.json} and {args.png}")


if __name__ == "__main__":
    main()
