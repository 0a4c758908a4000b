"""RLSRU reuse schemes: area (random source, and source + SR lanes) and random quality vs P.

Run ``python -m sim.rlsru_sweep`` (or ``lobit sweep sweeps/rlsru.toml`` for the measurements
and the generic report alone). For every scheme of :mod:`golden.rlsru` and every
``P in {4, 8, 16, 32}`` (``F = 8``, seed 0xACE1) it

* synthesizes the random source alone (:class:`hw.rlsru.Rlsru`) and the SR unit, source +
  ``P`` SR_F stages (:class:`hw.sr_unit.SrUnit`, 9 integer bits), with Yosys for ``ice40``
  (LUT / FF / carry), ``generic`` (cells) and ``asic`` (OSU 0.18 um cell area, um^2) -- 120
  runs;
* measures the random quality of the source with the statistics below (sweep metric
  ``rlsru_quality``);

all as one sweep of :mod:`sim.sweep` (:func:`spec_dict`, the same spec as
``sweeps/rlsru.toml``), so the results live in the sweep database and a re-run only reads them;
writes ``bench/rlsru_sweep.json`` and ``docs/img/rlsru_sweep.png``, the engine's report
(``build/sweeps/rlsru``: Pareto front of ASIC area vs the lane-sum margin, CSV) and prints a
markdown table (the one in ``docs/blocks/rlsru.md``). ``sim.rlsru.bench`` runs the same code for
``make bench``.

Statistical model and thresholds
--------------------------------
Every scheme draws its bits from an m-sequence (the 16-bit spec LFSR, or the ``W``-bit LFSR of
``leap``). Sample ``(c, l)`` (cycle ``c``, lane ``l``) is a weighted sum of the bits at a known
set of sequence positions (:func:`sample_positions`; bit ``k`` of a right-shifting Fibonacci
state ``s_t`` is sequence bit ``t + k``). Distinct positions are treated as independent fair
bits (exact for up to ``n`` consecutive positions of a degree-``n`` m-sequence, and pairwise up
to ``-1/(2^n - 1)`` in general); samples that share a position are dependent. All thresholds use
``z = 4.5`` standard deviations (per-comparison false-alarm probability below 1e-5 for a normal
statistic; the grid has 80 values, so a family-wise rate below 1e-3) and fixed seeds, so
results are deterministic.

``L`` below is a *dependence count*, computed from the positions by :func:`dependence`: the
number of samples (or cycles) inside the run that share at least one position with a given
one, maximized over lanes. Since ``|Cov(a, b)| <= Var`` for identically distributed ``a, b``,
the mean of ``N`` such samples has ``Var(mean) <= L Var / N``. For one lane whose F bits are
contiguous, ``L = 2F - 1`` (windows that slide by one bit a cycle), the constant of
``tests/test_rlsru.py``; ``split`` lanes whose rotation wraps around bit 15 span up to 16
positions and get a larger ``L``; ``leap`` never reuses a bit, ``L = 1``; ``phase`` lanes are
sliding windows like ``per_lane`` (``L = 2F - 1``) at the phases of
:func:`golden.rlsru.phase_lanes`.

* **SR bias** over the grid ``v = -2 + 0.0123 + 0.05 k``, ``k < 80``. With a uniform F-bit
  ``r``, ``E[SR_F(v)] = floor(v) + p`` with ``p = frac(floor(v 2^F) / 2^F)``, within ``2^-F``
  of ``v``; the round-up decisions of one lane have ``Var(mean) <= L_lane p(1-p) / N``.
  Threshold per lane: ``|mean - v| <= 2^-F + z sqrt(L_lane p(1-p) / N)``; pooled over all
  lanes: ``2^-F + z sqrt(L_pool p(1-p) / (P N))``.
* **Lane correlation** (same cycle). The correlation predicted from shared bits is
  ``rho = sum_shared w w' / sum w^2`` (:func:`predicted_corr`); the sample correlation of two
  such series has standard deviation at most ``sqrt(5 / (3N))`` (``1 + 2 sum_k 4^-k`` for
  sliding windows). Two criteria with ``t = z sqrt(5 / (3N))``: the model holds
  (``|C - rho| <= t`` for every pair) and the lanes are uncorrelated (``|C| <= t`` for every
  pair) -- a scheme with structural correlation passes the first and fails the second.
* **Chi-square** of the F-bit values: ``S = 4096`` samples chosen greedily (cycle by cycle,
  lane by lane) so that no two share a position, histogram over ``2^F`` bins, limit the
  ``1 - 1e-4`` quantile of ``chi2(2^F - 1)``.
* **Lane-sum rounding noise** (what lane correlation does to SR): for the SR errors ``e_l`` of
  ``P`` lanes rounding the same ``v``, ``R(v) = mean_c (sum_l (SR - floor v) - P p)^2 /
  (P p (1-p))`` estimates ``Var(sum_l e_l) / sum_l Var(e_l)``, which is 1 for uncorrelated
  lanes. Under that null the squared deviations have variance ``sigma^4 (2 + kappa)``,
  ``kappa = (1 - 6 p(1-p)) / (P p(1-p))`` (excess kurtosis of Binomial(P, p)), and are
  dependent at ``L_sum`` lags, so the threshold is ``|R - 1| <= z sqrt(L_sum (2 + kappa) / N)``.
  Reported besides (no threshold): ``R`` over 65,535 beats, the whole period of the 16-bit
  schemes (``per_lane``, ``split``, ``replay``, ``phase``), where it is the exact value of the
  ratio for that source rather than an estimate; its range over the grid shows structural
  lane coupling that a 16,384-beat window with a large ``L_sum`` cannot resolve.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from golden.rlsru import (SCHEMES, RlsruConfig, generate, leap_width, phase_lanes,
                          phase_separation, split_rotation, sr)

__all__ = ["LANES", "FRAC_BITS", "SEED", "N_CYCLES", "N_CHI", "Z", "V_GRID", "TARGET_KEYS",
           "GOAL_LANES", "GOAL_FRACTION", "goal", "goal_lut80", "goal_table", "lane_bits",
           "predicted_corr", "sample_positions", "dependence", "bias_tolerance",
           "corr_tolerance", "chi2_limit", "independent_samples", "quality", "quality_metric",
           "spec_dict", "run_sweep", "markdown_table", "plot", "main"]

from hw.toolchain import REPO  # noqa: E402
LANES = (4, 8, 16, 32)
#: synthesis targets of the sweep and the numbers kept from each
TARGET_KEYS = {"ice40": ("lut", "ff", "carry", "cells"), "generic": ("cells", "ff", "transistors"),
               "asic": ("area_um2", "sequential_area_um2", "cells", "ff", "critical_path_ns")}
#: the lane counts of the issue-12 goal
GOAL_LANES = (16, 32)
#: the goal: random source <= this fraction of per_lane (ASIC area and iCE40 LUT + FF)
GOAL_FRACTION = 0.25
FRAC_BITS = 8
SEED = 0xACE1
INT_BITS = 9
N_CYCLES = 16384
N_CHI = 4096
#: beats of the full-period lane-sum ratio (the period of the 16-bit LFSR)
PERIOD16 = 65535
Z = 4.5
CHI_ALPHA = 1e-4
#: the grid of ``tests/test_rlsru.py::test_sr_bias``
V_GRID = np.linspace(-2, 2, 81)[:-1] + 0.0123
JSON_PATH = REPO / "bench" / "rlsru_sweep.json"
PNG_PATH = REPO / "docs" / "img" / "rlsru_sweep.png"


def _say(msg):
    print(msg, flush=True)


# --- bit-sharing model ---------------------------------------------------------------------------

def lane_bits(cfg: RlsruConfig, j: int) -> dict:
    """Sequence positions (relative to the cycle) of lane ``j``'s F bits, with their weights.

    Returns
    -------
    dict
        ``{position: 2**b}`` for value bit ``b``. ``per_lane``: lane ``j`` reads the top bits of
        ``s16_{jD + c + 1}``; ``leap``: bits ``jF .. jF + F - 1`` of the cycle's word;
        ``split``/``replay``: the top bits of ``rotl16(s16_{cG + q + 1}, rho_i)``, ``j = 16q + i``
        (the constant ``+1`` is dropped); ``phase``: ``phi_j + b`` (bit ``b`` of lane ``j`` is
        ``o_{c + 1 + phi_j + b}``, :mod:`golden.rlsru`).
    """
    F = cfg.frac_bits
    if cfg.scheme == "per_lane":
        D = 65535 // cfg.lanes
        return {j * D + 16 - F + b: 1 << b for b in range(F)}
    if cfg.scheme == "phase":
        phi = phase_lanes(cfg)[j][1]
        return {phi + b: 1 << b for b in range(F)}
    if cfg.scheme == "leap":
        return {j * F + b: 1 << b for b in range(F)}
    q, i = divmod(j, 16)
    rho = split_rotation(i)
    return {q + (16 - F + b - rho) % 16: 1 << b for b in range(F)}


def predicted_corr(cfg: RlsruConfig, a: int, b: int) -> float:
    """Same-cycle correlation of lanes ``a`` and ``b`` predicted from their shared bits."""
    ba, bb = lane_bits(cfg, a), lane_bits(cfg, b)
    shared = sum(w * bb[k] for k, w in ba.items() if k in bb)
    return shared / sum(w * w for w in ba.values())


def _stride_period(cfg: RlsruConfig) -> tuple:
    """Sequence positions consumed per cycle and the period of the underlying m-sequence."""
    if cfg.scheme in ("per_lane", "phase"):
        return 1, 65535
    if cfg.scheme == "leap":
        return cfg.lanes * cfg.frac_bits, (1 << leap_width(cfg)) - 1
    return -(-cfg.lanes // 16), 65535


def sample_positions(cfg: RlsruConfig, n_cycles: int) -> np.ndarray:
    """Absolute sequence positions of every sample, ``int64 [cycle, lane, bit]``, modulo the
    period (:func:`lane_bits` shifted by ``cycle * stride``; restarts are not modelled)."""
    stride, period = _stride_period(cfg)
    rel = np.array([sorted(lane_bits(cfg, j)) for j in range(cfg.lanes)], dtype=np.int64)
    c = np.arange(n_cycles, dtype=np.int64)[:, None, None] * stride
    pos = rel[None, :, :] + c
    return pos % period if period < (1 << 62) else pos


def dependence(cfg: RlsruConfig, n_cycles: int) -> dict:
    """Dependence counts of a run of ``n_cycles`` cycles (see the module docstring).

    Returns
    -------
    dict
        ``lane`` (per lane: samples of the same lane sharing a position with a given sample,
        itself included, over lags ``-n < k < n``), ``pool`` (per lane: samples of any lane),
        ``sum`` (cycles whose samples share a position with a given cycle's samples). ``lane``
        and ``pool`` are lists over lanes; ``sum`` is an int.
    """
    pos = sample_positions(cfg, 2 * n_cycles - 1)
    ref = n_cycles - 1
    table = np.zeros(int(pos.max()) + 1, dtype=bool)
    lane, pool = [], []
    for j in range(cfg.lanes):
        table[pos[ref, j]] = True
        hit = table[pos].any(axis=-1)                # [cycle, lane]
        table[pos[ref, j]] = False
        lane.append(int(hit[:, j].sum()))
        pool.append(int(hit.sum()))
    table[pos[ref].reshape(-1)] = True
    total = int(table[pos].any(axis=(1, 2)).sum())
    return {"lane": lane, "pool": pool, "sum": total}


def bias_tolerance(p, frac_bits: int, n: int, lags) -> np.ndarray:
    """``2^-F + z sqrt(lags p (1-p) / n)``: the SR-bias threshold of the module docstring."""
    p = np.asarray(p, dtype=np.float64)
    return 2.0 ** -frac_bits + Z * np.sqrt(np.asarray(lags) * p * (1 - p) / n)


def corr_tolerance(n: int) -> float:
    """``z sqrt(5 / (3 n))``: the sampling tolerance of a same-cycle lane correlation."""
    return Z * math.sqrt(5 / (3 * n))


def chi2_limit(frac_bits: int, alpha: float = CHI_ALPHA) -> float:
    """The ``1 - alpha`` quantile of ``chi2(2^F - 1)``."""
    from scipy.stats import chi2
    return float(chi2.ppf(1 - alpha, 2 ** frac_bits - 1))


def independent_samples(cfg: RlsruConfig, r: np.ndarray, n_samples: int) -> np.ndarray:
    """``n_samples`` values of ``r`` (``[cycle, lane]``) of which no two share a position.

    Samples are taken greedily in cycle-major order; the choice depends on positions only, never
    on values. Raises ``ValueError`` when ``r`` has too few cycles.
    """
    pos = sample_positions(cfg, r.shape[0])
    used = np.zeros(int(pos.max()) + 1, dtype=bool)
    out = []
    for c in range(r.shape[0]):
        for j in range(cfg.lanes):
            p = pos[c, j]
            if not used[p].any():
                used[p] = True
                out.append(int(r[c, j]))
                if len(out) == n_samples:
                    return np.array(out, dtype=np.int64)
    raise ValueError(f"{cfg.module_name}: only {len(out)} position-disjoint samples in "
                     f"{r.shape[0]} cycles, {n_samples} requested.")


def _chi_cycles(cfg: RlsruConfig, n_samples: int) -> int:
    """Cycles needed for ``n_samples`` position-disjoint samples (fresh bits per cycle)."""
    stride, _ = _stride_period(cfg)
    fresh = cfg.lanes if cfg.scheme in ("per_lane", "phase") else stride
    return -(-n_samples * cfg.frac_bits // fresh) + 2 * 16


# --- quality and area of one configuration ---------------------------------------------------

def quality(cfg: RlsruConfig, n_cycles: int = N_CYCLES, n_chi: int = N_CHI,
            period_beats: int = PERIOD16) -> dict:
    """All random-quality metrics of one configuration and the pass/fail of each threshold.

    ``period_beats`` (0 skips it) is the length of the run for the reported full-period
    lane-sum ratio ``sum_var_ratio_period_min`` / ``_max`` (``None`` when skipped).
    """
    t0 = time.perf_counter()
    P, F = cfg.lanes, cfg.frac_bits
    n_gen = max(n_cycles, _chi_cycles(cfg, n_chi))
    r_all = generate(cfg, n_gen)
    r = r_all[:n_cycles]
    dep = dependence(cfg, n_cycles)
    lane_L = np.array(dep["lane"], dtype=np.float64)
    pool_L = max(dep["pool"])

    bias_lane = bias_pool = 0.0
    bias_lane_margin = bias_pool_margin = 0.0        # max |dev| / tolerance
    sum_ratio, sum_excess, sum_margin = 1.0, 0.0, 0.0
    for v in V_GRID:
        x = math.floor(v * 2 ** F)
        p = (x % (1 << F)) / 2 ** F
        up = sr(v, r, F) - math.floor(v)             # 0/1 round-up decisions [cycle, lane]
        dev_lane = np.abs(up.mean(axis=0) + math.floor(v) - v)
        tol_lane = bias_tolerance(p, F, n_cycles, lane_L)
        bias_lane = max(bias_lane, float(dev_lane.max()))
        bias_lane_margin = max(bias_lane_margin, float((dev_lane / tol_lane).max()))
        dev_pool = abs(float(up.mean()) + math.floor(v) - v)
        bias_pool = max(bias_pool, dev_pool)
        bias_pool_margin = max(bias_pool_margin,
                               dev_pool / float(bias_tolerance(p, F, n_cycles * P, pool_L)))
        if 0 < p < 1:
            var = p * (1 - p)
            R = float(((up.sum(axis=1) - P * p) ** 2).mean() / (P * var))
            kappa = (1 - 6 * var) / (P * var)
            tol = Z * math.sqrt(dep["sum"] * (2 + kappa) / n_cycles)
            if abs(R - 1) / tol > sum_margin:
                sum_margin = abs(R - 1) / tol
            if abs(R - 1) > abs(sum_excess):
                sum_excess, sum_ratio = R - 1, R

    C = np.corrcoef(r.astype(np.float64), rowvar=False) if P > 1 else np.ones((1, 1))
    t_corr = corr_tolerance(n_cycles)
    corr_max = model_err = corr_pred0 = pred_max = 0.0
    n_shared = 0
    for a in range(P):
        for b in range(a + 1, P):
            pred = predicted_corr(cfg, a, b)
            corr_max = max(corr_max, float(abs(C[a, b])))
            model_err = max(model_err, float(abs(C[a, b] - pred)))
            pred_max = max(pred_max, pred)
            if pred == 0:
                corr_pred0 = max(corr_pred0, float(abs(C[a, b])))
            else:
                n_shared += 1

    r_per = generate(cfg, period_beats) if period_beats else None
    R_per = []
    for v in (V_GRID if period_beats else ()):
        x = math.floor(v * 2 ** F)
        p = (x % (1 << F)) / 2 ** F
        if 0 < p < 1:
            up = sr(v, r_per, F) - math.floor(v)
            R_per.append(float(((up.sum(axis=1) - P * p) ** 2).mean() / (P * p * (1 - p))))
    del r_per

    samples = independent_samples(cfg, r_all, n_chi)
    h = np.bincount(samples, minlength=2 ** F)
    e = samples.size / 2 ** F
    chi = float(((h - e) ** 2 / e).sum())
    limit = chi2_limit(F)

    out = {
        "n_cycles": n_cycles, "dependence": {"lane_max": int(lane_L.max()), "pool": pool_L,
                                             "sum": dep["sum"]},
        "bias_lane_max": round(bias_lane, 6), "bias_lane_margin": round(bias_lane_margin, 4),
        "bias_lane_ok": bool(bias_lane_margin <= 1),
        "bias_pool_max": round(bias_pool, 6), "bias_pool_margin": round(bias_pool_margin, 4),
        "bias_pool_ok": bool(bias_pool_margin <= 1),
        "corr_max": round(corr_max, 5), "corr_max_unshared": round(corr_pred0, 5),
        "corr_pred_max": round(pred_max, 5), "pairs_sharing_bits": n_shared,
        "pairs": P * (P - 1) // 2, "corr_tol": round(t_corr, 5),
        "corr_model_err": round(model_err, 5), "corr_model_ok": bool(model_err <= t_corr),
        "corr_independent_ok": bool(corr_max <= t_corr),
        "chi2": round(chi, 2), "chi2_samples": int(samples.size), "chi2_limit": round(limit, 2),
        "chi2_ok": bool(chi < limit),
        "sum_var_ratio": round(sum_ratio, 4), "sum_var_margin": round(sum_margin, 4),
        "sum_var_ok": bool(sum_margin <= 1),
        "sum_var_ratio_period_min": round(min(R_per), 4) if R_per else None,
        "sum_var_ratio_period_max": round(max(R_per), 4) if R_per else None,
    }
    out["sr_quality_ok"] = bool(all(out[k] for k in ("bias_lane_ok", "bias_pool_ok", "chi2_ok",
                                                 "corr_independent_ok", "sum_var_ok")))
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


def _unit_config(cfg: RlsruConfig):
    from golden.sr_unit import SrUnitConfig
    return SrUnitConfig(lanes=cfg.lanes, frac_bits=cfg.frac_bits, int_bits=INT_BITS,
                        scheme=cfg.scheme, seed=cfg.seed)


def quality_metric(cfg, params, n_cycles=N_CYCLES, n_chi=N_CHI, period_beats=PERIOD16) -> dict:
    """The sweep metric ``rlsru_quality`` (:mod:`sim.sweep.metrics`): :func:`quality` of the
    point's :class:`golden.rlsru.RlsruConfig`."""
    return quality(cfg, n_cycles, n_chi, period_beats)


#: the spec of the sweep, also written out as ``sweeps/rlsru.toml`` (a test keeps them equal)
SPEC_TOML = REPO / "sweeps" / "rlsru.toml"


def spec_dict(lanes=LANES, frac_bits=FRAC_BITS, seed=SEED, n_cycles=N_CYCLES, n_chi=N_CHI,
              targets=tuple(TARGET_KEYS)) -> dict:
    """The sweep spec (:mod:`sim.sweep.spec`) of this study: every scheme at every ``P``, the
    source (block ``rlsru``) and the SR unit (block ``sr_unit``, ``INT_BITS`` integer bits)
    synthesized for ``targets``, and the source's random quality (metric ``rlsru_quality``)."""
    grid = {"lanes": list(lanes), "scheme": list(SCHEMES), "frac_bits": frac_bits, "seed": seed}
    return {
        "name": "rlsru",
        "description": "RLSRU reuse schemes: area of the random source and of the SR unit "
                       "(source + P SR lanes) vs the source's random quality (sim/rlsru_sweep.py).",
        "grid": [
            {"block": "rlsru", "params": dict(grid), "measure": ["synth", "metric"],
             "targets": list(targets),
             "metric": {"name": "rlsru_quality", "args": {"n_cycles": n_cycles, "n_chi": n_chi}}},
            {"block": "sr_unit", "params": dict(grid, int_bits=INT_BITS), "measure": ["synth"],
             "targets": list(targets)},
        ],
        "report": {"x": "asic.area_um2", "y": "rlsru_quality.sum_var_margin", "color": "scheme",
                   "facet": "lanes", "effects": ["scheme", "lanes"],
                   "where": {"label": "rlsru"}, "out": "build/sweeps/rlsru"},
    }


def _synth_numbers(outcome) -> dict:
    """The numbers of :data:`TARGET_KEYS` of one stored synthesis row."""
    rep = outcome.row["report"]
    keep = TARGET_KEYS[outcome.task.target]
    d = {k: rep.get(k) for k in keep}
    d.update(seconds=rep["seconds"], cached=bool(rep["cached"] or outcome.source == "cached"))
    if rep.get("workaround"):
        d["workaround"] = rep["workaround"]
    return d


def run_sweep(lanes=LANES, frac_bits=FRAC_BITS, seed=SEED, n_cycles=N_CYCLES, n_chi=N_CHI,
              jobs=1, say=None, targets=tuple(TARGET_KEYS), db=None, scheduler=None,
              progress=True) -> dict:
    """Area and quality of every scheme at every ``P`` through the sweep engine
    (:func:`sim.sweep.run_sweep`, results in its SQLite database); returns a JSON-ready dict."""
    from sim.sweep import parse_spec
    from sim.sweep import run_sweep as engine
    from sim.sweep.store import shown_path
    say = say or _say
    t0 = time.perf_counter()
    spec = parse_spec(spec_dict(lanes, frac_bits, seed, n_cycles, n_chi, targets))
    run = engine(spec, db=db, jobs=jobs, scheduler=scheduler, progress=progress, say=say)
    if run.failed:
        raise RuntimeError(f"rlsru sweep: {len(run.failed)} measurement(s) failed twice, e.g. "
                           f"{run.failed[0].row['stderr'].splitlines()[0]}; see the database "
                           f"{run.db}")
    syn, qual = {}, {}
    for o in run.outcomes:
        p = o.task.point.params
        if o.task.measure == "synth":
            from sim.sweep.spec import make_config
            name = make_config(o.task.point)[0].module_name
            syn.setdefault(name, {})[o.task.target] = _synth_numbers(o)
        else:
            qual[(p["scheme"], p["lanes"])] = o.row["report"]
    cfgs = [RlsruConfig(lanes=P, frac_bits=frac_bits, scheme=s, seed=seed)
            for s in SCHEMES for P in lanes]
    rows = {}
    for cfg in cfgs:
        q = qual[(cfg.scheme, cfg.lanes)]
        src, unit = syn[cfg.module_name], syn[_unit_config(cfg).module_name]
        row = rows.setdefault(cfg.scheme, {})[str(cfg.lanes)] = {
            "source": src, "unit": unit, "quality": q,
            "module": cfg.module_name, "unit_module": _unit_config(cfg).module_name}
        if cfg.scheme == "phase":
            row["phase_separation"] = phase_separation(cfg)
            row["phase_lanes"] = [{"mask": m, "phase": ph} for m, ph, _ in phase_lanes(cfg)]
    uncached = sum(d["seconds"] for m in syn.values() for d in m.values() if not d["cached"])
    out = {
        "setup": {"lanes": list(lanes), "frac_bits": frac_bits, "seed": seed,
                  "int_bits": INT_BITS, "n_cycles": n_cycles, "chi2_samples": n_chi, "z": Z,
                  "chi2_alpha": CHI_ALPHA, "v_grid": "linspace(-2, 2, 81)[:-1] + 0.0123",
                  "targets": {k: v for k, v in {
                      "ice40": "synth_ice40", "generic": "synth -flatten",
                      "asic": "synth -flatten, dfflibmap/abc -liberty, OSU 0.18 um "
                              "(hw.synth.TARGETS['asic']; cell area, no placement)"}.items()
                      if k in targets}},
        "results": rows,
        "sweep": {"spec": "sweeps/rlsru.toml", "database": shown_path(run.db), "counts": run.counts,
                  "workers": run.workers, "wall_seconds": run.wall_seconds},
        "synth_yosys_seconds_uncached": round(uncached, 1),
    }
    out["goal"] = goal(out) if "asic" in targets and all(
        str(P) in rows.get("per_lane", {}) for P in GOAL_LANES) else None
    out["goal_lut80"] = goal_lut80(out) if "16" in rows.get("per_lane", {}) else None
    out["wall_seconds"] = round(time.perf_counter() - t0, 1)
    out["_run"] = run
    return out


def _saving(base, other):
    return round(1 - other / base, 4) if base else None


def _lut_ff(d):
    return d["ice40"]["lut"] + d["ice40"]["ff"]


def goal(sweep, lanes=GOAL_LANES, fraction=GOAL_FRACTION) -> dict:
    """Issue 12's goal: random source <= 25 % of ``per_lane`` in ASIC area and in iCE40 LUT + FF
    at every ``P`` of ``lanes``, with SR quality indistinguishable from ``per_lane``.

    Returns
    -------
    dict
        ``by_P[P][scheme]``: the fractions of ``per_lane`` (source and source + lanes, iCE40
        LUT + FF, generic cells, ASIC area), ``sr_quality_ok``, ``meets_ice40``,
        ``meets_asic``, ``meets`` (both and quality); ``ice40_bound[P]``: ``P F / per_lane
        LUT+FF``, the smallest fraction any source reaches that drives ``P F`` distinct random
        bits per beat (each is the output of its own LUT or flip-flop); ``met_by``: schemes that
        meet the goal at every ``P``; ``met``.
    """
    res = sweep["results"]
    F = sweep["setup"]["frac_bits"]
    out = {"lanes": list(lanes), "fraction": fraction, "by_P": {}, "ice40_bound": {}}
    for P in lanes:
        base = res["per_lane"][str(P)]
        out["ice40_bound"][str(P)] = round(P * F / _lut_ff(base["source"]), 4)
        by = out["by_P"][str(P)] = {}
        for s, by_p in res.items():
            row = by_p[str(P)]
            d = {}
            for part in ("source", "unit"):
                b, r = base[part], row[part]
                d[f"{part}_lut_ff"] = _lut_ff(r)
                d[f"{part}_lut_ff_fraction"] = round(_lut_ff(r) / _lut_ff(b), 4)
                d[f"{part}_generic_fraction"] = round(r["generic"]["cells"]
                                                      / b["generic"]["cells"], 4)
                d[f"{part}_asic_um2"] = r["asic"]["area_um2"]
                d[f"{part}_asic_fraction"] = round(r["asic"]["area_um2"]
                                                   / b["asic"]["area_um2"], 4)
            d["sr_quality_ok"] = row["quality"]["sr_quality_ok"]
            d["meets_ice40"] = bool(d["source_lut_ff_fraction"] <= fraction)
            d["meets_asic"] = bool(d["source_asic_fraction"] <= fraction)
            d["meets"] = bool(d["meets_ice40"] and d["meets_asic"] and d["sr_quality_ok"])
            by[s] = d
    schemes = [s for s in res if s != "per_lane"]
    out["met_by"] = [s for s in schemes if all(out["by_P"][str(P)][s]["meets"] for P in lanes)]
    out["met_asic_with_quality_by"] = [
        s for s in schemes if all(out["by_P"][str(P)][s]["meets_asic"]
                                  and out["by_P"][str(P)][s]["sr_quality_ok"] for P in lanes)]
    out["met"] = bool(out["met_by"])
    return out


def goal_lut80(sweep, P=16) -> dict:
    """The earlier goal at ``P``: LUT saving of each scheme vs ``per_lane`` and its quality."""
    res = sweep["results"]
    base = res["per_lane"][str(P)]
    out = {"P": P, "target_saving": 0.8, "schemes": {}}
    for s, by_p in res.items():
        row = by_p[str(P)]
        out["schemes"][s] = {
            "source_lut_saving": _saving(base["source"]["ice40"]["lut"], row["source"]["ice40"]["lut"]),
            "source_lut_ff_saving": _saving(
                base["source"]["ice40"]["lut"] + base["source"]["ice40"]["ff"],
                row["source"]["ice40"]["lut"] + row["source"]["ice40"]["ff"]),
            "source_generic_saving": _saving(base["source"]["generic"]["cells"],
                                             row["source"]["generic"]["cells"]),
            "unit_lut_saving": _saving(base["unit"]["ice40"]["lut"], row["unit"]["ice40"]["lut"]),
            "unit_lut_ff_saving": _saving(
                base["unit"]["ice40"]["lut"] + base["unit"]["ice40"]["ff"],
                row["unit"]["ice40"]["lut"] + row["unit"]["ice40"]["ff"]),
            "sr_quality_ok": row["quality"]["sr_quality_ok"],
        }
    ok = {s: d for s, d in out["schemes"].items() if s != "per_lane" and d["sr_quality_ok"]}
    best = max(ok, key=lambda s: ok[s]["source_lut_saving"]) if ok else None
    out["best_scheme_without_quality_loss"] = best
    out["met_source_lut"] = bool(best and ok[best]["source_lut_saving"] >= 0.8)
    out["met_unit_lut"] = bool(best and ok[best]["unit_lut_saving"] >= 0.8)
    return out


def markdown_table(sweep) -> str:
    """The area / quality table of ``docs/blocks/rlsru.md`` (ASIC columns when synthesized)."""
    asic = "asic" in sweep["setup"]["targets"]
    head = ("| scheme | P | source LUT / FF (LUT+FF) / generic cells"
            + (" / ASIC um^2" if asic else "")
            + " | source + lanes LUT / FF / carry (LUT+FF) / generic cells"
            + (" / ASIC um^2" if asic else "")
            + " | bias lane (margin) | max \\|corr\\| (pairs sharing bits) | chi2 "
              "| R = Var(sum e) / sum Var(e) (margin) | R over 65,535 beats (min .. max) "
              "| SR quality |")
    lines = [head, "|---|---:|---|---|---|---|---|---|---|---|"]
    for s, by_p in sweep["results"].items():
        for P, row in by_p.items():
            a, u, q = row["source"], row["unit"], row["quality"]
            sa = f" / {a['asic']['area_um2']:.0f}" if asic else ""
            ua = f" / {u['asic']['area_um2']:.0f}" if asic else ""
            lines.append(
                f"| {s} | {P} | {a['ice40']['lut']} / {a['ice40']['ff']} ({_lut_ff(a)}) / "
                f"{a['generic']['cells']}{sa} | {u['ice40']['lut']} / {u['ice40']['ff']} / "
                f"{u['ice40']['carry']} ({_lut_ff(u)}) / {u['generic']['cells']}{ua} | "
                f"{q['bias_lane_max']:.4f} "
                f"({q['bias_lane_margin']:.2f}) | {q['corr_max']:.3f} ({q['pairs_sharing_bits']}/"
                f"{q['pairs']}) | {q['chi2']:.0f}{'' if q['chi2_ok'] else ' FAIL'} | "
                f"{q['sum_var_ratio']:.3f} ({q['sum_var_margin']:.2f}) | "
                f"{_f3(q['sum_var_ratio_period_min'])} .. {_f3(q['sum_var_ratio_period_max'])} | "
                f"{'ok' if q['sr_quality_ok'] else 'loss: ' + _failed(q)} |")
    return "\n".join(lines)


def _f3(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def goal_table(sweep) -> str:
    """Every scheme as a fraction of ``per_lane`` at the goal's ``P`` (markdown)."""
    g = sweep.get("goal")
    if not g:
        return "(goal not evaluated: the sweep lacks the asic target or a goal P)"
    lines = ["| scheme | P | source LUT+FF / per_lane | source ASIC / per_lane | source generic "
             "/ per_lane | source + lanes LUT+FF / per_lane | source + lanes ASIC / per_lane "
             "| SR quality | goal (<= 25 % in both, quality ok) |",
             "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for P, by in g["by_P"].items():
        for s, d in by.items():
            if s == "per_lane":
                continue
            lines.append(
                f"| {s} | {P} | {100 * d['source_lut_ff_fraction']:.1f} % | "
                f"{100 * d['source_asic_fraction']:.1f} % | "
                f"{100 * d['source_generic_fraction']:.1f} % | "
                f"{100 * d['unit_lut_ff_fraction']:.1f} % | "
                f"{100 * d['unit_asic_fraction']:.1f} % | "
                f"{'ok' if d['sr_quality_ok'] else 'loss'} | "
                f"{'met' if d['meets'] else 'not met'} |")
    return "\n".join(lines)


def _failed(q) -> str:
    names = {"bias_lane_ok": "bias", "bias_pool_ok": "pooled bias", "chi2_ok": "chi2",
             "corr_independent_ok": "corr", "sum_var_ok": "R"}
    return ", ".join(n for k, n in names.items() if not q[k])


def plot(sweep, path=PNG_PATH):
    """Three panels vs P: iCE40 LUT + FF and ASIC area (solid: source, dashed: source + lanes),
    and the lane-sum noise ratio ``R``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    res = sweep["results"]
    asic = "asic" in sweep["setup"]["targets"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    marks = dict(zip(SCHEMES, "osD^v"))
    for s, by_p in res.items():
        Ps = [int(p) for p in by_p]
        rows = list(by_p.values())
        line, = axes[0].plot(Ps, [_lut_ff(r["source"]) for r in rows], marker=marks[s],
                             label=f"{s}")
        col = line.get_color()
        axes[0].plot(Ps, [_lut_ff(r["unit"]) for r in rows], marker=marks[s], ls="--", color=col)
        if asic:
            axes[1].plot(Ps, [r["source"]["asic"]["area_um2"] for r in rows], marker=marks[s],
                         color=col, label=s)
            axes[1].plot(Ps, [r["unit"]["asic"]["area_um2"] for r in rows], marker=marks[s],
                         ls="--", color=col)
        R = [r["quality"]["sum_var_ratio"] for r in rows]
        axes[2].plot(Ps, R, marker=marks[s], color=col, label=s)
        lo = [r["quality"].get("sum_var_ratio_period_min") for r in rows]
        hi = [r["quality"].get("sum_var_ratio_period_max") for r in rows]
        if None not in lo + hi:
            worst = [a if abs(a - 1) > abs(b - 1) else b for a, b in zip(lo, hi)]
            axes[2].plot(Ps, worst, ls=":", color=col)
        for p, r_, row in zip(Ps, R, rows):
            if not row["quality"]["sr_quality_ok"]:
                axes[2].plot(p, r_, "x", color="red", ms=10)
    if "per_lane" in res:
        Ps = [int(p) for p in res["per_lane"]]
        base = list(res["per_lane"].values())
        axes[0].plot(Ps, [GOAL_FRACTION * _lut_ff(r["source"]) for r in base], ls=":",
                     color="gray", label="25 % of per_lane source")
        if asic:
            axes[1].plot(Ps, [GOAL_FRACTION * r["source"]["asic"]["area_um2"] for r in base],
                         ls=":", color="gray", label="25 % of per_lane source")
    axes[0].set_title("iCE40 LUT4 + FF (solid: source, dashed: + P SR lanes)")
    axes[1].set_title("ASIC area, OSU 0.18 um, um^2 (solid: source, dashed: + lanes)"
                      if asic else "ASIC area: not synthesized")
    for ax in axes[:2]:
        ax.set_yscale("log")
    axes[2].axhline(1.0, color="gray", lw=0.8)
    axes[2].set_title("worst lane-sum ratio R (solid: 16,384 beats, dotted: 65,535; x: loss)")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks(sweep["setup"]["lanes"])
        ax.set_xticklabels([str(p) for p in sweep["setup"]["lanes"]])
        ax.set_xlabel("lanes P")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    axes[2].legend(fontsize=8)
    q = sweep["setup"]
    fig.suptitle(f"RLSRU schemes, F = {q['frac_bits']}, seed {q['seed']:#x}, "
                 f"{q['n_cycles']} cycles")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(sweep, json_path=JSON_PATH, png_path=PNG_PATH):
    """Write the JSON result (with the markdown table) and the plot."""
    run = sweep.get("_run")
    sweep = {k: v for k, v in sweep.items() if k != "_run"}
    sweep = dict(sweep, markdown=markdown_table(sweep), goal_markdown=goal_table(sweep))
    Path(json_path).parent.mkdir(parents=True, exist_ok=True)
    Path(json_path).write_text(json.dumps(sweep, indent=1) + "\n")
    plot(sweep, png_path)
    if run is not None:                       # the engine's report: Pareto front, effects, CSV
        import shutil
        from sim.sweep import write_report
        sweep["report"] = write_report(run)["paths"]
        shutil.copyfile(sweep["report"]["pareto_png"], Path(png_path).with_name("rlsru_pareto.png"))
    return sweep


def main(argv=None):
    """Command line: run the sweep, write JSON and PNG, print the table and the goal."""
    from hw.toolchain import setup_env
    ap = argparse.ArgumentParser(prog="python -m sim.rlsru_sweep",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=lambda s: int(s, 0), default=SEED)
    ap.add_argument("--cycles", type=int, default=N_CYCLES)
    ap.add_argument("-j", "--jobs", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--db", help="sweep database (default .cache/sweeps.sqlite)")
    ap.add_argument("--scheduler", help="dask.distributed scheduler address")
    ap.add_argument("--json", default=str(JSON_PATH))
    ap.add_argument("--png", default=str(PNG_PATH))
    ap.add_argument("--lanes", type=int, nargs="+", default=list(LANES))
    args = ap.parse_args(argv)
    setup_env()
    sweep = write(run_sweep(lanes=tuple(args.lanes), seed=args.seed, n_cycles=args.cycles,
                            jobs=args.jobs, db=args.db, scheduler=args.scheduler),
                  args.json, args.png)
    print(sweep["markdown"])
    print(sweep["goal_markdown"])
    print(json.dumps({"met_by": (sweep["goal"] or {}).get("met_by"),
                      "ice40_bound": (sweep["goal"] or {}).get("ice40_bound")}, indent=1))
    print(f"wall time {sweep['wall_seconds']} s (sweep {sweep['sweep']['counts']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
