"""FP8 MAC array study: area/Fmax of INT8 vs FP8 arrays, and the FP12 array's accumulation error.

Run ``python -m sim.fp8_array_study`` (``--part area``, ``--part error`` or both). Writes
``bench/fp8_array_study.json`` and, with ``--results``, the area table under the key
``fp8_array`` of ``bench/results.json`` (only that key is replaced).

Area
----
2x2 and 4x4 arrays (:class:`hw.mac_array.MacArray`), each synthesized for iCE40 (Yosys
``synth_ice40`` LUT/FF/carry, nextpnr-ice40 hx8k Fmax when it fits), Yosys generic cells and
the OSU 0.18 um ASIC flow (area, critical path) -- :func:`hw.synth.synthesize`; designs above
:data:`FMAX_LUT_LIMIT` LUTs do not fit the HX8K and get no Fmax:

* ``int8``: INT8 x INT8 -> INT32 (the default PE);
* ``fp8_seq_fp12``: E4M3 x E4M3, product rounded to FP12 E5M6, sequential (one FP adder);
* ``fp8_dga_fp12``: the same with DGA groups, two FP adders per PE (intra and inter group);
* ``fp8_dga1_fp12``: DGA, one shared FP adder per PE;
* ``fp8_seq_fp32``: E4M3 x E4M3, FP32 E8M23 sequential accumulation (the products are exact
  in FP32, so this is the usual FP8/FP32 baseline).

Error
-----
The FP8 GEMMs of one training step of the trainer's MNIST-1D network (:mod:`train.trainer`, batch
64, He-normal initial weights, the fp8 arithmetic's operand scaling and formats: E4M3 activations
and weights forward, E5M2 output gradient backward), computed with the array's golden model
:func:`golden.mac_array.fp8_gemm` for the orders ``seq``, ``static`` (G = 64) and ``dga``.
Reference: the float64 dot product of the exact FP8 products (every product is exact in
float64; float64 summation error is below 1e-12 relative, far below FP12's). Metric per GEMM,
as the standalone DGA study (``bench/dga_study.json``, row ``E5M6 hw``, whose addends are also
products rounded to E5M6): mean over output elements of ``|C - exact| / ||p||_2`` (``p`` the
element's products), and the median relative error over elements with ``exact != 0``. For the
E4M3 x E4M3 (forward) GEMMs the ``<order>_exact`` rows are the array with ``product="exact"``
(products not rounded on their own: one rounding per MAC).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from golden.mac_array import MacArrayConfig, fp8_gemm
from golden.minifloat import FpFormat, decode
from hw.toolchain import REPO

__all__ = ["AREA_CONFIGS", "area_configs", "gemm_error", "main", "run_area", "run_error"]

#: name -> (description, MacArrayConfig parameters without rows/cols)
AREA_CONFIGS = {
    "int8": ("INT8 x INT8 -> INT32", {}),
    "fp8_seq_fp12": ("FP8 E4M3 x E4M3, FP12 E5M6 sequential", {"pe": "fp8", "order": "seq"}),
    "fp8_dga_fp12": ("FP8 E4M3 x E4M3, FP12 E5M6 DGA, 2 adders/PE",
                     {"pe": "fp8", "order": "dga", "adders": 2}),
    "fp8_dga1_fp12": ("FP8 E4M3 x E4M3, FP12 E5M6 DGA, 1 adder/PE",
                      {"pe": "fp8", "order": "dga", "adders": 1}),
    "fp8_seq_fp32": ("FP8 E4M3 x E4M3, FP32 E8M23 sequential",
                     {"pe": "fp8", "order": "seq", "exp_bits": 8, "man_bits": 23}),
}
SIZES = (2, 4)
#: designs with more iCE40 LUTs than the HX8K's 7,680 logic cells are not placed (their
#: ``fmax_mhz`` is None); smaller ones are placed and may still not fit (carry chains need cells)
FMAX_LUT_LIMIT = 7680


def area_configs(sizes=SIZES):
    """``[(key, description, MacArrayConfig)]`` of the area study."""
    out = []
    for n in sizes:
        for name, (desc, kw) in AREA_CONFIGS.items():
            out.append((f"{n}x{n}_{name}", desc, MacArrayConfig(rows=n, cols=n, **kw)))
    return out


def run_area(sizes=SIZES, workdir=None, log=print) -> dict:
    """Synthesize every configuration (serially); returns ``{key: row}``."""
    from hw.mac_array import MacArray
    from hw.synth import synthesize
    workdir = Path(workdir or REPO / ".cache" / "synth")
    rows = {}
    for key, desc, cfg in area_configs(sizes):
        comp = MacArray(cfg)
        t0 = time.perf_counter()
        ice = synthesize(cfg, comp, target="ice40", workdir=workdir)
        if ice["lut"] <= FMAX_LUT_LIMIT:           # place and route only what can fit the HX8K
            ice = synthesize(cfg, comp, target="ice40", workdir=workdir, fmax=True)
        gen = synthesize(cfg, comp, target="generic", workdir=workdir)
        asic = synthesize(cfg, comp, target="asic", workdir=workdir)
        row = {"description": desc, "module": cfg.module_name, "config": cfg.to_dict(),
               "pes": cfg.rows * cfg.cols, "latency": cfg.latency,
               "lut": ice["lut"], "ff": ice["ff"], "carry": ice["carry"],
               "fmax_mhz": ice.get("fmax_mhz"), "device": ice.get("device") or "hx8k",
               "generic_cells": gen["cells"],
               "asic_area_um2": asic["area_um2"], "asic_cells": asic["cells"],
               "asic_critical_path_ns": asic.get("critical_path_ns"),
               "seconds": round(time.perf_counter() - t0, 1)}
        if ice["lut"] > FMAX_LUT_LIMIT:
            row["fmax_error"] = f"not placed: {ice['lut']} LUTs do not fit the HX8K (7,680 LCs)"
        elif ice.get("fmax_error"):
            row["fmax_error"] = ice["fmax_error"][:200]
        rows[key] = row
        log(f"  {key:22s} {row['lut']:6d} LUT {row['ff']:5d} FF  Fmax {row['fmax_mhz']} MHz  "
            f"generic {row['generic_cells']:6d}  asic {row['asic_area_um2']:>10,.0f} um^2  "
            f"{row['asic_critical_path_ns']} ns  ({row['seconds']} s)")
    for n in sizes:
        base = rows.get(f"{n}x{n}_fp8_seq_fp32")
        if base:
            for name in AREA_CONFIGS:
                r = rows[f"{n}x{n}_{name}"]
                r["asic_area_vs_fp8_fp32"] = round(r["asic_area_um2"] / base["asic_area_um2"], 3)
                r["lut_vs_fp8_fp32"] = round(r["lut"] / base["lut"], 3)
    return rows


# --- error on the trainer's GEMMs ----------------------------------------------------------------

def _codes(fmt: FpFormat, values):
    """Bit patterns of values exactly representable in ``fmt`` (the trainer's fp8 tensors)."""
    from golden.minifloat import encode
    bits, _ = encode(fmt, values)
    assert np.array_equal(decode(fmt, bits), values), "operand not representable"
    return bits


def training_step_gemms(seed=0, batch=64):
    """The FP8 GEMM operands of one training step of the MNIST-1D network: a list of
    ``(name, a_fmt, A values, b_fmt, B values)`` (values exactly representable). Forward GEMMs
    are E4M3 x E4M3; each backward step issues ``dW = x^T @ g`` (E4M3 x E5M2) and then, except
    in the first layer, ``dX = g @ W^T`` (E5M2 x E4M3), as :class:`train.arith.Fp8Arith` does."""
    from train import arith as ta
    from train.data import load
    from train.layers import softmax_ce
    from train.trainer import backward, build_network, forward

    gemms = []

    class Recorder(ta.Fp8Arith):
        phase = "fwd"

        def _gemm(self, a, b, ka, kb):
            if self.phase == "fwd":
                kind, fa, fb = "fwd", "e4m3", "e4m3"
            elif self.phase == "dw":
                kind, fa, fb = "dW", "e4m3", "e5m2"
                self.phase = "dx"
            else:
                kind, fa, fb = "dX", "e5m2", "e4m3"
            gemms.append((kind, fa, a, fb, b))
            return super()._gemm(a, b, ka, kb)

        def backward(self, dy, ctx, need_dx=True):
            self.phase = "dw"
            return super().backward(dy, ctx, need_dx)

    rng = np.random.default_rng(seed)
    net = build_network("mnist1d", rng)
    ds = load("mnist1d")
    x, y = ds.x_train[:batch], ds.y_train[:batch]
    ar = Recorder("dga")
    logits = forward(net, x, ar)
    _, g = softmax_ce(logits, y)
    ar.phase = "bwd"
    backward(net, g, ar)
    count = {}
    out = []
    for kind, fa, a, fb, b in gemms:
        count[kind] = count.get(kind, 0) + 1
        out.append((f"{kind}{count[kind] - 1}", fa, a, fb, b))
    return out


def gemm_error(order, a_fmt, A, b_fmt, B, product="rounded") -> dict:
    """Error of the FP12 array (``order``, ``product``) on ``A @ B`` against the exact sum."""
    cfg = MacArrayConfig(pe="fp8", order=order, a_fmt=a_fmt, b_fmt=b_fmt, product=product)
    Ab, Bb = _codes(cfg.fmt_a, A), _codes(cfg.fmt_b, B)
    C, ovf = fp8_gemm(cfg, Ab, Bb)
    got = decode(cfg.fmt, C)
    exact = A @ B
    norm = np.sqrt((A * A) @ (B * B))
    nz = norm > 0
    err = np.abs(got - exact)
    rel = err[exact != 0] / np.abs(exact[exact != 0])
    return {"norm_err_mean": float(np.mean(err[nz] / norm[nz])),
            "norm_err_max": float(np.max(err[nz] / norm[nz])),
            "rel_err_median": float(np.median(rel)) if rel.size else None,
            "saturated_elements": int(ovf.sum())}


def run_error(seed=0, batch=64, orders=("seq", "static", "dga"), log=print) -> dict:
    """Per-GEMM errors of one training step (module docstring); returns a JSON-ready dict."""
    from golden.dga import dga_group_size
    t0 = time.perf_counter()
    res = {}
    for name, fa, A, fb, B in training_step_gemms(seed, batch):
        M, K = A.shape
        N = B.shape[1]
        row = {"M": M, "K": K, "N": N, "a_fmt": fa, "b_fmt": fb,
               "dga_group_size": dga_group_size(K)}
        for order in orders:
            row[order] = gemm_error(order, fa, A, fb, B)
            if fa == fb == "e4m3":                 # exact E5M7 products: one rounding per MAC
                row[f"{order}_exact"] = gemm_error(order, fa, A, fb, B, "exact")
        res[name] = row
        log(f"  {name:5s} {M:5d} x {K:5d} x {N:4d} ({fa} x {fb}, G={row['dga_group_size']}): " +
            "  ".join(f"{o} {row[o]['norm_err_mean']:.2e}" for o in orders))
    study = REPO / "bench" / "dga_study.json"
    ref = None
    if study.exists():
        d = json.loads(study.read_text())
        ref = {n: {s: d["results"][n][s]["E5M6 hw"]["norm_err_mean"]
                   for s in d["results"][n]} for n in d["results"]}
    return {"setup": {"network": "mnist1d (train.trainer.build_network)", "batch": batch,
                      "seed": seed, "accumulator": "FP12 E5M6, products rounded once to E5M6, RNE",
                      "static_group": 64, "reference": "float64 dot product of the exact "
                      "products"},
            "gemms": res, "dga_study_E5M6_hw_norm_err_mean": ref,
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m sim.fp8_array_study",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=("area", "error", "all"), default="all")
    ap.add_argument("--sizes", default="2,4", help="array sizes n (n x n), comma separated")
    ap.add_argument("--out", default=str(REPO / "bench" / "fp8_array_study.json"))
    ap.add_argument("--results", action="store_true",
                    help="also write the area rows to bench/results.json under 'fp8_array'")
    args = ap.parse_args(argv)
    out = Path(args.out)
    data = json.loads(out.read_text()) if out.exists() else {}
    if args.part in ("area", "all"):
        sizes = tuple(int(s) for s in args.sizes.split(","))
        print("area (serial synthesis):", flush=True)
        data["area"] = run_area(sizes, log=lambda s: print(s, flush=True))
        try:
            data["area_load_average"] = list(__import__("os").getloadavg())
        except OSError:
            pass
    if args.part in ("error", "all"):
        print("error on the trainer's GEMMs:", flush=True)
        data["error"] = run_error(log=lambda s: print(s, flush=True))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {out}")
    if args.results and "area" in data:
        res_path = REPO / "bench" / "results.json"
        res = json.loads(res_path.read_text()) if res_path.exists() else {}
        res["fp8_array"] = {"area": data["area"],
                            "source": "python -m sim.fp8_array_study --part area --results",
                            "error_on_trainer_gemms": "bench/fp8_array_study.json key error"}
        res_path.write_text(json.dumps(res, indent=2) + "\n")
        print(f"updated {res_path} (key fp8_array)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
