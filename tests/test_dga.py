"""DGA accumulator: golden schemes vs independent oracles, the study model vs the golden, and the
hardware against the golden on the Amaranth simulator, Icarus and Verilator."""

import math
import time
from fractions import Fraction

import numpy as np
import pytest
from amaranth.hdl import Fragment

from golden.dga import (DgaConfig, acc_dga, acc_dga_exp, acc_group, acc_seq, accumulate,
                        dga_block, dga_group_size)
from golden.minifloat import FpFormat, decode, encode
from golden.params import ConfigError
from hw.dga import DgaAccumulator
from sim.amaranth_harness import layouts_of, run_amaranth
from sim.blocks.dga import random_dot, scenario, scenario_from_dots
from sim import dga_study

from .conftest import check_cocotb, check_native, check_netlist

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


# --- configuration ----------------------------------------------------------------------------

@pytest.mark.parametrize("bad, msg", [
    (dict(group_size=0), "dga parameter group_size=0 is out of range: allowed values are an "
                         "integer in 1..4096."),
    (dict(variant="dynamic"), "dga parameter variant='dynamic' is invalid: allowed values are "
                              "one of static, dga, dga_exp."),
    (dict(man_bits=24), "dga parameter man_bits=24 is out of range: allowed values are an "
                        "integer in 1..23."),
    (dict(threshold=-1), "dga parameter threshold=-1 is out of range: allowed values are an "
                         "integer in 0..255."),
    (dict(gmax=2), "dga parameter gmax=2 is out of range: allowed values are an integer in "
                   "4..4096."),
    (dict(G=64), "dga has no parameter 'G': known parameters are exp_bits, man_bits, rounding, "
                 "inf_nan, variant, group_size, threshold, gmax, adders, addend_man."),
    (dict(addend_man=4), "dga parameter addend_man=4 is out of range: allowed values are 0 or "
                         "an integer in 6..23 (at least man_bits=6)."),
    (dict(adders=3), "dga parameter adders=3 is out of range: allowed values are an integer in "
                     "1..2."),
])
def test_bad_parameters(bad, msg):
    with pytest.raises(ConfigError) as exc:
        DgaAccumulator(**bad)
    assert str(exc.value) == msg


def test_bad_golden_arguments():
    f = FpFormat(5, 6)
    with pytest.raises(ConfigError, match=r"^group size 0 is out of range: allowed values are an "
                                          r"integer in 1\.\.4096\.$"):
        accumulate(f, [1, 2], 0)
    with pytest.raises(ConfigError, match=r"^dot-product length N=0 is out of range"):
        dga_group_size(0)
    with pytest.raises(ConfigError, match=r"^dot-product length N=0 is out of range"):
        accumulate(f, np.zeros((2, 0), dtype=np.int64), 4)
    cfg = DgaConfig()
    with pytest.raises(ConfigError, match="need different group-size registers"):
        scenario_from_dots(cfg, layouts_of(DgaAccumulator(cfg)), [[1] * 16, [1] * 64])


def test_defaults_and_group_size_rule():
    cfg = DgaConfig()
    assert (cfg.fmt.e, cfg.fmt.m, cfg.variant, cfg.group_size, cfg.gmax) == (5, 6, "dga", 64, 256)
    assert cfg.module_name == "dga_e5_m6_rne_inf1_dga_g64_t6_gmax256_a2"
    assert cfg.adders == 2 and DgaConfig(adders=1).module_name.endswith("_a1")
    assert [dga_group_size(n) for n in (576, 4608, 25088)] == [32, 64, 128]   # spec examples
    assert [dga_group_size(n) for n in (1, 16, 100, 512, 2048, 10 ** 6)] == [4, 4, 8, 16, 64, 256]
    assert dga_group_size(10 ** 6, gmax=1024) == 1024
    assert [DgaConfig(variant=v).register_value(4608) for v in ("static", "dga", "dga_exp")] \
        == [64, 64, 256]


# --- golden model vs independent oracles --------------------------------------------------------

def _gfloat_adder(fmt, mode):
    from gfloat import FormatInfo, RoundMode, round_float
    from gfloat.types import Domain
    fi = FormatInfo(fmt.name, fmt.width, fmt.m + 1, bias=fmt.bias, is_signed=True,
                    domain=Domain.Extended, has_nz=True, num_high_nans=(1 << fmt.m) - 1,
                    has_subnormals=True, is_twos_complement=False)
    rm = RoundMode.TiesToEven if mode == "rne" else RoundMode.TowardZero

    def add(a, b):                     # a + b is exact in float64 for FP(5, m <= 10) operands
        return float(round_float(fi, a + b, rm, sat=True))
    return add


def _reference(p, add, G, T=None, fmt=None):
    """Straightforward scalar loop of the spec's schemes (floats, gfloat rounding per add)."""
    emin1 = fmt.emin + 1 if fmt else 0
    ee = lambda x: max(math.frexp(abs(x))[1], emin1)           # noqa: E731
    S = A = 0.0
    n = 0
    for v in p:
        if n and (n == G or (T is not None and A != 0 and v != 0 and ee(A) - ee(v) > T)):
            S, A, n = add(S, A), 0.0, 0
        A = add(A, v)
        n += 1
    return add(S, A)


@pytest.mark.parametrize("e, m, mode", [(5, 6, "rne"), (5, 6, "rtz"), (5, 3, "rne"),
                                        (5, 10, "rtz")])
def test_golden_schemes_vs_gfloat_per_addition(e, m, mode):
    """Sequential, static G (1, 5, 64), DGA and DGA-exp (T = m, T = 0, gmax 8) on finite dot
    products of every length class (1, below G, multiple of G, not a multiple), bit for bit
    (values and zero signs) against a scalar loop rounding each sum with gfloat."""
    fmt = FpFormat(e, m)
    add = _gfloat_adder(fmt, mode)
    rng = np.random.default_rng(e * 100 + m)
    cases = 0
    for n in (1, 3, 4, 64, 128, 130, 257):
        for kind in (0, 1, 4):
            p = random_dot(fmt, n, rng, kind)
            pv = decode(fmt, p)
            runs = [(acc_seq(fmt, p, mode), _reference(pv, add, None)),
                    (acc_dga(fmt, p, mode), _reference(pv, add, dga_group_size(n))),
                    (acc_dga_exp(fmt, p, mode), _reference(pv, add, 256, m, fmt)),
                    (acc_dga_exp(fmt, p, mode, T=0, gmax=8), _reference(pv, add, 8, 0, fmt))]
            runs += [(acc_group(fmt, p, G, mode), _reference(pv, add, G)) for G in (1, 5, 64)]
            for got, ref in runs:
                gv = decode(fmt, got.bits)[0]
                assert gv == ref and np.signbit(gv) == np.signbit(ref), (n, kind, gv, ref)
                cases += 1
    assert cases == 7 * 3 * 7


def test_sequential_is_one_group_and_batches_agree():
    fmt = FpFormat(5, 6)
    rng = np.random.default_rng(3)
    P = np.stack([random_dot(fmt, 300, rng, k % 5) for k in range(10)])
    seq = acc_seq(fmt, P)
    one = accumulate(fmt, P, 300)
    assert np.array_equal(seq.bits, one.bits) and np.array_equal(seq.ovf, one.ovf)
    assert np.array_equal(seq.nan, one.nan) and (one.groups == 1).all()
    rows = [accumulate(fmt, P[i], 7, threshold=2) for i in range(10)]
    batch = accumulate(fmt, P, 7, threshold=2)
    assert [int(r.bits[0]) for r in rows] == batch.bits.tolist()
    assert [int(r.groups[0]) for r in rows] == batch.groups.tolist()
    assert acc_group(fmt, P, 64).groups.tolist() == [5] * 10


def test_flags_and_specials():
    fmt = FpFormat(5, 6)
    big = int(encode(fmt, 60000.0)[0])
    res = acc_group(fmt, [big] * 4 + [big | fmt.sign_bit] * 4, 4)       # intra saturates twice
    assert res.ovf[0] and not res.nan[0] and decode(fmt, res.bits)[0] == 0.0
    one = int(encode(fmt, 1.0)[0])
    res = acc_group(fmt, [one, fmt.inf_code, one, fmt.inf_code | fmt.sign_bit, one], 2)
    assert res.nan[0] and res.bits[0] == fmt.nan_code                    # Inf + -Inf in S
    res = acc_seq(fmt, [fmt.sign_bit] * 3)                               # -0 addends give +0
    assert res.bits[0] == 0


# --- the study's float model vs the golden --------------------------------------------------

def test_study_model_equals_golden():
    """The vectorized float model of ``sim.dga_study`` gives the golden (= hardware) values for
    all four schemes: E5M7 and E5M8 with exact E4M3 products (exact in those formats) and the
    ``E5M6 hw`` row (products rounded to E5M6)."""
    rng = np.random.default_rng(8)
    for N in (1, 130, 300):
        P = dga_study.fp8_dot_products(N, 4, rng)
        sums = dga_study.run_schemes(P, (7, 8))
        for row, m in ((0, 7), (1, 8), (2, 6)):
            fmt = FpFormat(5, m)
            bits, _ = encode(fmt, P)
            if row < 2:
                assert np.array_equal(decode(fmt, bits), P)               # products exact
            gold = {"sequential": acc_seq(fmt, bits), "static64": acc_group(fmt, bits, 64),
                    "dga": acc_dga(fmt, bits), "dga_exp": acc_dga_exp(fmt, bits)}
            for s, g in gold.items():
                assert np.array_equal(decode(fmt, g.bits), sums[s][row]), (N, m, s)


def test_exact_reference_is_fsum():
    """``math.fsum`` of the exact products equals the ``Fraction`` sum rounded to a double."""
    P = dga_study.fp8_dot_products(4608, 3, np.random.default_rng(1))
    for row in P:
        exact = sum((Fraction(x) for x in row), Fraction(0))
        assert math.fsum(row) == float(exact)


def test_study_small_run(tmp_path):
    study = dga_study.run_study(Ns=(64,), trials=3, mantissas=(6, 8, 12))
    res = study["results"]["64"]
    assert set(res) == set(dga_study.SCHEMES)
    assert set(res["dga"]) == {"E5M6", "E5M8", "E5M12", "E5M6 hw", "E5M6 mixed"}
    for s in dga_study.SCHEMES:
        assert res[s]["E5M12"]["norm_err_mean"] < res[s]["E5M6"]["norm_err_mean"]
        # the mixed row (bit-level golden, E5M7 addends) is the float model's one-rounding row
        assert res[s]["E5M6 mixed"] == res[s]["E5M6"]
    assert set(study["answer"]["64"]["two_vs_one_rounding_error_ratio"]) == set(dga_study.SCHEMES)
    pair = study["two_minus_one_rounding"]["64"]["dga"]
    assert pair["one_rounding_better"] + pair["two_roundings_better"] <= 3
    assert "bits_static64_to_match_dga_fp12" in study["answer"]["64"]
    dga_study.plot(study, tmp_path / "e.png")
    assert (tmp_path / "e.png").stat().st_size > 1000
    assert "| E5M6 (FP12) |" in dga_study.markdown_table(study)
    assert "| E5M6 mixed (E5M7 addends, one rounding) |" in dga_study.markdown_table(study)


def test_study_mixed_row_rejects_inexact_products():
    """The mixed row needs products exact in E5M7; a value that is not raises."""
    with pytest.raises(ValueError, match="not exact in E5M7"):
        dga_study.run_mixed(np.array([[1.0 + 2.0 ** -9]]))


# --- hardware ---------------------------------------------------------------------------------

def _dots(fmt, lengths, rng, kinds=None):
    return [random_dot(fmt, n, rng, None if kinds is None else kinds[i % len(kinds)])
            for i, n in enumerate(lengths)]


def _check(cfg, dots, seed, group_size=None):
    dut = DgaAccumulator(cfg)
    sc = scenario_from_dots(cfg, layouts_of(dut), dots, group_size)
    res = run_amaranth(dut, sc, seed=seed)
    assert res.ok, res.mismatches[:5]
    assert res.out_cycles["out"] == cfg.out_cycles([len(d) for d in dots])
    res = run_amaranth(dut, sc, seed=seed + 1, gap=0.3, stall=0.3)
    assert res.ok, res.mismatches[:5]
    return sc


HW_CONFIGS = [
    dict(variant="static"),
    dict(variant="static", group_size=5, rounding="rtz"),
    dict(variant="static", group_size=1),
    dict(variant="dga_exp"),
    dict(variant="dga_exp", threshold=0, gmax=8),
    dict(variant="dga_exp", inf_nan=False, rounding="rtz"),
    dict(variant="dga_exp", exp_bits=6, man_bits=5),
    dict(variant="static", group_size=3, exp_bits=4, man_bits=3),
    dict(variant="dga_exp", exp_bits=8, man_bits=12, threshold=3),
    # one shared adder (adders=1): the same golden, the same cycle model
    dict(variant="static", group_size=5, rounding="rtz", adders=1),
    dict(variant="static", group_size=1, adders=1),
    dict(variant="dga_exp", adders=1),
    dict(variant="dga_exp", threshold=0, gmax=8, adders=1),
    dict(variant="dga_exp", inf_nan=False, rounding="rtz", adders=1),
    dict(variant="static", group_size=3, exp_bits=4, man_bits=3, adders=1),
    dict(variant="dga_exp", exp_bits=8, man_bits=23, threshold=3, adders=1),
    # mixed format: wider addends (exact E5M7 products into E5M6), one rounding per addition
    dict(variant="static", addend_man=7),
    dict(variant="dga_exp", addend_man=7, adders=1),
    dict(variant="static", group_size=3, exp_bits=4, man_bits=3, addend_man=7, adders=1),
    pytest.param(dict(variant="dga_exp", addend_man=7), marks=pytest.mark.slow),
    pytest.param(dict(variant="static", group_size=5, rounding="rtz", addend_man=7, adders=1),
                 marks=pytest.mark.slow),
    pytest.param(dict(variant="dga_exp", threshold=0, gmax=8, addend_man=9, inf_nan=False,
                      rounding="rtz", adders=1), marks=pytest.mark.slow),
]


@pytest.mark.parametrize("kw", HW_CONFIGS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()))
def test_hw_random_lengths(kw):
    """Dot products of lengths 1, G-1, G, G+1, 2G, 2G+3 and random ones, every addend kind
    (specials, saturation, wide exponent ranges), timed against the cycle model, then with 30%
    valid gaps and 30% ready stalls."""
    cfg = DgaConfig(**kw)
    rng = np.random.default_rng(sum(map(ord, repr(kw))))
    G = cfg.register_value(1)
    lengths = [1, 1, max(G - 1, 1), G, G + 1, 2 * G, 2 * G + 3] + \
        [int(x) for x in rng.integers(1, 150, 25)]
    sc = _check(cfg, _dots(cfg.addend_fmt, lengths, rng), seed=3)
    assert sc.vectors == len(lengths)


@pytest.mark.parametrize("adders", [2, 1])
@pytest.mark.parametrize("n", [1, 37, 64, 100, 576])
def test_hw_dga_register_from_n(n, adders):
    """Variant dga: the register holds dga_group_size(N) (4, 8, 8, 8, 32)."""
    cfg = DgaConfig(adders=adders)
    rng = np.random.default_rng(n)
    count = max(2, min(12, 2000 // n))
    sc = _check(cfg, _dots(cfg.fmt, [n] * count, rng, kinds=(0, 3, 1, 2, 4)), seed=n)
    assert sc.statics["group_size"] == dga_group_size(n)


def test_hw_sequential_and_port_zero():
    """Register >= N is sequential accumulation; register 0 behaves like 1 (documented)."""
    cfg = DgaConfig(variant="static")
    fmt = cfg.fmt
    rng = np.random.default_rng(21)
    dots = _dots(fmt, [300, 1, 77, 300], rng, kinds=(0, 3))
    sc = _check(cfg, dots, seed=5, group_size=300)
    assert sc.outputs["out"][0] & fmt.mag_mask == int(acc_seq(fmt, dots[0]).bits[0]) & fmt.mag_mask
    dut = DgaAccumulator(cfg)
    sc = scenario_from_dots(cfg, layouts_of(dut), dots[1:3], group_size=0, expect_group_size=1)
    assert run_amaranth(dut, sc, seed=6, stall=0.3).ok


@pytest.mark.parametrize("adders", [2, 1])
@pytest.mark.parametrize("variant, wrong", [("static", 65), ("dga", 16), ("dga_exp", 4)])
def test_mutation_wrong_group_boundary_fails(variant, wrong, adders):
    """Expectations from a golden with a wrong group boundary must not pass."""
    cfg = DgaConfig(variant=variant, adders=adders)
    dut = DgaAccumulator(cfg)
    rng = np.random.default_rng(4)
    n = 576 if variant == "dga" else 300
    dots = _dots(cfg.fmt, [n] * 4, rng, kinds=(0,))
    right = scenario_from_dots(cfg, layouts_of(dut), dots)
    assert run_amaranth(dut, right, seed=1).ok
    bad = scenario_from_dots(cfg, layouts_of(dut), dots, expect_group_size=wrong)
    res = run_amaranth(dut, bad, seed=1)
    assert not res.ok and all("out[" in s for s in res.mismatches)


def test_latency_interface_and_registry():
    from hw.emit import sidecar, to_verilog
    from sim.blocks import get_block
    from hw.toolchain import setup_env
    setup_env()
    cfg = DgaConfig(variant="dga_exp")
    dut = DgaAccumulator(cfg)
    assert dut.latency == 2 == dut.timing_info()["latency"]
    side = sidecar(cfg, dut)
    fields = {s["name"]: {f["path"][0]: (f["offset"], f["width"]) for f in s["fields"]}
              for s in side["streams"]}
    assert fields == {"inp": {"data": (0, 12), "last": (12, 1)},
                      "out": {"bits": (0, 12), "nan": (12, 1), "ovf": (13, 1)}}
    ports = {p["name"]: p["width"] for p in side["ports"]}
    assert ports == {"group_size": 13, "nan_seen": 1, "overflow": 1}
    assert f"module {cfg.module_name}" in to_verilog(dut, cfg.module_name)
    spec = get_block("dga")
    assert spec.config is DgaConfig and isinstance(spec.component(DgaConfig()), DgaAccumulator)
    Fragment.get(spec.component(DgaConfig()), None)
    assert DgaConfig().out_cycles([1, 1, 5]) == [2, 3, 8]


def test_block_scenario_every_variant():
    for v in ("static", "dga", "dga_exp"):
        cfg = DgaConfig(variant=v)
        dut = DgaAccumulator(cfg)
        sc = scenario(cfg, layouts_of(dut), np.random.default_rng(2), 40)
        assert sc.vectors == 40
        res = run_amaranth(dut, sc, seed=2, gap=0.2, stall=0.2)
        assert res.ok, res.mismatches[:5]


# --- cocotb -----------------------------------------------------------------------------------

def _run(cfg, dots, tmp_path, simulator, **kw):
    from sim.runner import run_cocotb
    dut = DgaAccumulator(cfg)
    sc = scenario_from_dots(cfg, layouts_of(dut), dots)
    t0 = time.perf_counter()
    res = run_cocotb(cfg, dut, sc, simulator=simulator, build_dir=tmp_path / simulator, **kw)
    return res, time.perf_counter() - t0


@pytest.mark.cocotb
def test_icarus_static_with_gaps(tmp_path):
    cfg = DgaConfig(variant="static", group_size=5)
    rng = np.random.default_rng(31)
    dots = _dots(cfg.fmt, [1, 4, 5, 6, 10, 11] + [int(x) for x in rng.integers(1, 80, 40)], rng)
    res, _ = _run(cfg, dots, tmp_path, "icarus", gap=0.2, stall=0.2, seed=3)
    assert res.ok, res.mismatches[:5]
    assert res.checked == len(dots) + 2


@pytest.mark.cocotb
def test_verilator_dga_exp(tmp_path):
    cfg = DgaConfig(variant="dga_exp")
    rng = np.random.default_rng(32)
    lengths = [1] + [int(x) for x in rng.integers(1, 300, 200)]
    dots = _dots(cfg.fmt, lengths, rng)
    res, seconds = _run(cfg, dots, tmp_path, "verilator")
    assert res.ok, res.mismatches[:5]
    assert res.out_cycles["out"] == cfg.out_cycles(lengths)
    print(f"verilator dga_exp {sum(lengths)} addends, {len(dots)} dot products: {seconds:.1f} s")


# --- one shared adder (adders=1) -----------------------------------------------------------------

def _fp_add_triple(fmt, a, b, mode):
    from golden.minifloat import fp_add
    r = fp_add(fmt, a, b, mode)
    return r.bits, r.nan, r.ovf


def _commutes(fmt, a, b, mode):
    x, y = _fp_add_triple(fmt, a, b, mode), _fp_add_triple(fmt, b, a, mode)
    return all(np.array_equal(p, q) for p, q in zip(x, y))


@pytest.mark.parametrize("inf_nan", [True, False])
@pytest.mark.parametrize("mode", ["rne", "rtz"])
def test_one_adder_identities(mode, inf_nan):
    """What the one-adder schedule relies on, against the golden adder:
    (1) fp_add(A, S) == fp_add(S, A) bit for bit (bits, nan, ovf): every pair of E4M3 and E2M1,
        2^20 random FP12 pairs and 2^16 random E8M23 pairs (all FP12 pairs: the slow test below);
    (2) fp_add(+0, v) differs from v only by -0 -> +0 and NaN -> the canonical NaN, and never
        overflows: every pattern of every format with e + m <= 15, 2^20 random E8M23 patterns."""
    rng = np.random.default_rng(7)
    for e, m in ((4, 3), (2, 1)):
        fmt = FpFormat(e, m, inf_nan)
        a, b = np.meshgrid(np.arange(1 << fmt.width), np.arange(1 << fmt.width))
        assert _commutes(fmt, a.ravel().astype(np.int64), b.ravel().astype(np.int64), mode)
    for e, m, k in ((5, 6, 20), (8, 23, 16)):
        fmt = FpFormat(e, m, inf_nan)
        a, b = (rng.integers(0, 1 << fmt.width, 1 << k, dtype=np.int64) for _ in range(2))
        assert _commutes(fmt, a, b, mode)
    formats = [(e, m) for e in range(2, 9) for m in range(1, 24) if e + m <= 15] + [(8, 23)]
    for e, m in formats:
        fmt = FpFormat(e, m, inf_nan)
        v = (np.arange(1 << fmt.width, dtype=np.int64) if fmt.width <= 16 else
             rng.integers(0, 1 << fmt.width, 1 << 20, dtype=np.int64))
        bits, nan, ovf = _fp_add_triple(fmt, np.zeros_like(v), v, mode)
        E, M = (v >> m) & fmt.exp_ones, v & ((1 << m) - 1)
        is_nan = (E == fmt.exp_ones) & (M != 0) if inf_nan else np.zeros(v.shape, bool)
        canon = np.where((v & fmt.mag_mask) == 0, 0, v)
        if inf_nan:
            canon = np.where(is_nan, fmt.nan_code, canon)
        assert np.array_equal(bits, canon), (e, m)
        assert not ovf.any() and np.array_equal(nan, is_nan)


def _accumulate_raw_first(fmt, dots, G, mode, T=None):
    """The one-adder hardware's order, written independently of golden.dga.accumulate: scalar
    loop, the first addend of a group loaded as it is (no +0 + v), the inter-group and final sums
    as A + S."""
    from golden.minifloat import fp_add
    add = lambda a, b: fp_add(fmt, np.int64(a), np.int64(b), mode)   # noqa: E731
    out = []
    for p in dots:
        S, A, n, ovf = 0, 0, 0, False
        for v in map(int, p):
            gap_close = False
            if T is not None and A & fmt.mag_mask and v & fmt.mag_mask:
                ee = lambda x: max((x >> fmt.m) & fmt.exp_ones, 1)    # noqa: E731
                gap_close = ee(A) - ee(v) > T
            if n > 0 and (n >= G or gap_close):
                r = add(A, S)
                S, ovf, n = int(r.bits), ovf or bool(r.ovf), 0
            if n == 0:
                A = v
            else:
                r = add(A, v)
                A, ovf = int(r.bits), ovf or bool(r.ovf)
            n += 1
        r = add(A, S)
        out.append((int(r.bits), bool(r.nan), ovf or bool(r.ovf)))
    return out


@pytest.mark.parametrize("e, m, inf_nan, mode", [(5, 6, True, "rne"), (5, 6, True, "rtz"),
                                                 (5, 6, False, "rne"), (4, 3, True, "rtz")])
def test_raw_first_addend_gives_golden_results(e, m, inf_nan, mode):
    """Loading a group's first addend raw (A may hold -0 or a NaN payload where the golden holds
    +0 / the canonical NaN) and adding A + S instead of S + A gives the golden's outputs (bits,
    nan, ovf) -- on dot products full of zeros of both signs, NaN payloads and Inf."""
    fmt = FpFormat(e, m, inf_nan)
    rng = np.random.default_rng(e * 100 + m)
    negz = 1 << (fmt.width - 1)
    dots = [random_dot(fmt, int(n), rng, kind) for n, kind in
            zip(rng.integers(1, 40, 120), [2, 3, 0, 1, 4] * 24)]
    dots += [np.full(n, negz) for n in (1, 2, 5, 9)]                        # only -0
    dots += [np.array([negz, negz, 1, negz, negz, negz, negz, negz, negz | 1, negz])]
    if inf_nan:
        dots += [np.array([fmt.nan_code + 1, negz]), np.array([negz] * 3 + [fmt.inf_code + 3])]
    for G, T in ((1, None), (3, None), (64, None), (8, 0), (256, m)):
        want = [accumulate(fmt, d, G, mode, T) for d in dots]
        got = _accumulate_raw_first(fmt, dots, G, mode, T)
        assert got == [(int(r.bits[0]), bool(r.nan[0]), bool(r.ovf[0])) for r in want], (G, T)


@pytest.mark.slow
@pytest.mark.parametrize("inf_nan", [True, False])
@pytest.mark.parametrize("mode", ["rne", "rtz"])
def test_fp12_adder_commutes_exhaustive(mode, inf_nan):
    """All 2^24 FP12 E5M6 operand pairs: fp_add(a, b) == fp_add(b, a) (about 6 s each)."""
    fmt = FpFormat(5, 6, inf_nan)
    b = np.arange(1 << 12, dtype=np.int64)
    for hi in range(0, 1 << 12, 256):
        a = np.repeat(np.arange(hi, hi + 256, dtype=np.int64), 1 << 12)
        assert _commutes(fmt, a, np.tile(b, 256), mode)


def test_one_adder_timing_and_sidecar():
    """adders=1 keeps the two-adder cycle model (no extra cycle per group close): measured
    against it on a scenario with many closes (G = 2), and a model that spends one extra cycle
    per close (throughput G/(G+1)) or one shifted by a cycle fails; the sidecar states it."""
    from hw.emit import sidecar
    cfg = DgaConfig(variant="static", group_size=2, adders=1)
    dut = DgaAccumulator(cfg)
    rng = np.random.default_rng(40)
    lengths = [1, 2, 3, 9, 1, 1, 16, 5]
    dots = _dots(cfg.fmt, lengths, rng, kinds=(0, 3))
    sc = scenario_from_dots(cfg, layouts_of(dut), dots)
    res = run_amaranth(dut, sc, seed=1)
    assert res.ok and res.out_cycles["out"] == cfg.out_cycles(lengths) == \
        DgaConfig(variant="static", group_size=2).out_cycles(lengths)
    closes = [(n - 1) // 2 for n in lengths]           # inter-group adds inside each dot product
    extra = np.cumsum(closes).tolist()
    for wrong in ([c + x for c, x in zip(cfg.out_cycles(lengths), extra)],
                  [c + 1 for c in cfg.out_cycles(lengths)]):
        sc.out_cycles["out"] = wrong
        bad = run_amaranth(dut, sc, seed=1)
        assert any("cycle model says" in m for m in bad.mismatches), bad.mismatches[:3]
    info = sidecar(cfg, dut)["timing"]
    assert info["adders"] == 1 and info["latency"] == 2 == dut.latency
    assert "one FP adder" in info["formula"] and "no extra cycle" in info["formula"]
    assert "two FP adders" in DgaConfig().timing_info()["formula"]
    assert DgaConfig().timing_info()["adders"] == 2


def test_one_adder_is_one_adder():
    """The elaborated design has one fp_add datapath (submodule ``adder``), the default two."""
    def subs(cfg):
        frag = Fragment.get(DgaAccumulator(cfg), None)
        return sorted(name for _, name, _ in frag.subfragments)
    assert subs(DgaConfig(adders=1)) == ["adder"]
    assert subs(DgaConfig(adders=2)) == ["inter", "intra"]


ONE_ADDER = [dict(variant="dga_exp", adders=1), dict(variant="static", group_size=5, adders=1)]


def _one_adder_setup(kw, n=60, seed=50):
    cfg = DgaConfig(**kw)
    dut = DgaAccumulator(cfg)
    rng = np.random.default_rng(seed)
    lengths = [1, 5, 6, 10] + [int(x) for x in rng.integers(1, 120, n)]
    return cfg, dut, scenario_from_dots(cfg, layouts_of(dut), _dots(cfg.addend_fmt, lengths, rng))


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("kw", ONE_ADDER, ids=["dga_exp", "static5"])
def test_one_adder_cocotb(tmp_path, kw, simulator):
    cfg, dut, sc = _one_adder_setup(kw)
    assert check_cocotb(cfg, dut, sc, simulator, tmp_path).checked == sc.vectors + 2


@pytest.mark.cocotb
@pytest.mark.parametrize("kw", ONE_ADDER, ids=["dga_exp", "static5"])
def test_one_adder_native(kw):
    """Native rung: gaps/stalls, then timed against the cycle model; a corrupted golden fails."""
    from sim.native import run_native
    cfg, dut, sc = _one_adder_setup(kw)
    check_native(cfg, dut, sc)
    outs = sc.outputs["out"]
    outs[len(outs) // 2] ^= 1 << 3
    assert not run_native(cfg, dut, sc, seed=4, gap=0.25, stall=0.25).ok


@pytest.mark.synth
@pytest.mark.cocotb
@pytest.mark.parametrize("target", ["ice40", "asic"])
def test_one_adder_netlist(tmp_path, target):
    """The synthesized one-adder netlist (iCE40 and OSU 0.18 um cells) passes the same test, and
    a corrupted golden fails on it."""
    cfg, dut, sc = _one_adder_setup(ONE_ADDER[0], n=30)
    if target == "asic":                 # hierarchical design: only library cells are counted
        from hw.synth import synthesize
        r = synthesize(cfg, dut, target="asic", workdir=tmp_path / "synth")
        assert all(t[0].isupper() and not t.startswith("$") for t in r["cells_by_type"])
        assert r["cells"] == sum(r["cells_by_type"].values()) and r["area_um2"] > 0
    check_netlist(cfg, dut, sc, tmp_path, target=target, corrupt=True, cache=True)


def test_one_adder_corrupted_golden_is_caught():
    cfg, dut, sc = _one_adder_setup(ONE_ADDER[1], n=20)
    assert run_amaranth(dut, sc, seed=4, gap=0.25, stall=0.25).ok
    outs = sc.outputs["out"]
    i = len(outs) // 2
    outs[i] ^= 1 << 3
    res = run_amaranth(dut, sc, seed=4, gap=0.25, stall=0.25)
    assert any(m.startswith(f"out[{i}]") for m in res.mismatches), res.mismatches[:3]


# --- mixed format: addends wider than the accumulator (addend_man) ------------------------------

@pytest.mark.parametrize("e, m, am, mode", [(5, 6, 7, "rne"), (5, 6, 7, "rtz"), (4, 3, 7, "rne")])
def test_golden_mixed_schemes_vs_gfloat(e, m, am, mode):
    """Every scheme with FP(e, am) addends into FP(e, m): bit for bit against the scalar loop that
    rounds each exact sum A + v once with gfloat; pre-rounding the addends (two roundings) is a
    different model that this comparison rejects."""
    fmt, fb = FpFormat(e, m), FpFormat(e, am)
    add = _gfloat_adder(fmt, mode)                     # exact sum rounded once to fmt
    rng = np.random.default_rng(e * 100 + am)
    cases = differ = 0
    for n in (1, 3, 64, 130, 257):
        for kind in (0, 1, 4):
            p = random_dot(fb, n, rng, kind)
            pv = decode(fb, p)
            runs = [(accumulate(fmt, p, 4096, mode, None, fb), _reference(pv, add, None)),
                    (accumulate(fmt, p, dga_group_size(n), mode, None, fb),
                     _reference(pv, add, dga_group_size(n))),
                    (accumulate(fmt, p, 256, mode, m, fb), _reference(pv, add, 256, m, fmt)),
                    (accumulate(fmt, p, 5, mode, None, fb), _reference(pv, add, 5))]
            for got, ref in runs:
                gv = decode(fmt, got.bits)[0]
                assert gv == ref and np.signbit(gv) == np.signbit(ref), (n, kind, gv, ref)
                cases += 1
            p6, _ = encode(fmt, pv, mode)                      # the two-rounding model
            two = decode(fmt, accumulate(fmt, p6, 5, mode).bits)[0]
            differ += two != _reference(pv, add, 5)
    assert cases == 5 * 3 * 4 and differ > 0


def test_dga_block_mixed_and_bad_addend_format():
    cfg = DgaConfig(addend_man=7)
    assert cfg.addend_fmt == FpFormat(5, 7) and cfg.module_name.endswith("_a2_am7")
    assert DgaConfig(addend_man=6) == DgaConfig(addend_man=6) and \
        DgaConfig(addend_man=6).module_name == DgaConfig().module_name
    big = FpFormat(5, 7).max_code                                       # above E5M6's max
    r = dga_block(cfg, [big], 4)
    assert r.ovf[0] and r.bits[0] == FpFormat(5, 6).max_code
    with pytest.raises(ConfigError, match="E5M7 bit pattern 8192 is out of range"):
        dga_block(cfg, [8192], 4)
    with pytest.raises(ConfigError, match="needs the same exponent width"):
        accumulate(FpFormat(5, 6), [1], 4, "rne", None, FpFormat(6, 7))


@pytest.mark.parametrize("adders", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_hw_mixed_every_addend_alone(adders):
    """Every E5M7 pattern as a dot product of length 1 (the first-addend rounding of the
    one-adder DGA, fp_round_addend, and the intra adder's +0 + v), then in pairs."""
    cfg = DgaConfig(variant="static", group_size=1, addend_man=7, adders=adders)
    dut = DgaAccumulator(cfg)
    codes = FpFormat(5, 7).all_codes()
    dots = [[int(c)] for c in codes] + [list(map(int, codes[i:i + 2])) for i in range(0, 2048, 2)]
    sc = scenario_from_dots(cfg, layouts_of(dut), dots)
    res = run_amaranth(dut, sc, seed=2)
    assert res.ok, res.mismatches[:5]


MIXED_LADDER = dict(variant="dga_exp", addend_man=7, adders=1)


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator", ["icarus", pytest.param("verilator", marks=pytest.mark.slow)])
@pytest.mark.parametrize("kw", [MIXED_LADDER, dict(variant="static", group_size=5, addend_man=7)],
                         ids=["a1", "a2"])
def test_mixed_cocotb(tmp_path, kw, simulator):
    cfg, dut, sc = _one_adder_setup(kw)
    assert check_cocotb(cfg, dut, sc, simulator, tmp_path).checked == sc.vectors + 2


@pytest.mark.cocotb
@pytest.mark.slow
def test_mixed_native():
    check_native(*_one_adder_setup(MIXED_LADDER))


@pytest.mark.synth
@pytest.mark.cocotb
@pytest.mark.slow
def test_mixed_netlist(tmp_path):
    """The iCE40 netlist of the one-adder mixed DGA passes the same test; a corrupted golden
    fails on it."""
    check_netlist(*_one_adder_setup(MIXED_LADDER, n=30), tmp_path, corrupt=True)


def test_hw_mixed_two_rounding_expectations_fail():
    """The comparison sees one rounding vs two: expectations of the one-format DGA fed with the
    addends pre-rounded to E5M6 disagree with the mixed hardware on some dot products."""
    cfg = DgaConfig(**MIXED_LADDER)
    dut = DgaAccumulator(cfg)
    rng = np.random.default_rng(77)
    dots = _dots(cfg.addend_fmt, [1, 5, 6, 10] + [int(x) for x in rng.integers(1, 120, 40)], rng)
    sc = scenario_from_dots(cfg, layouts_of(dut), dots)
    assert run_amaranth(dut, sc, seed=4).ok
    one = cfg.replace(addend_man=0)
    pre = [encode(one.fmt, decode(cfg.addend_fmt, np.asarray(d)))[0] for d in dots]
    sc.outputs["out"] = scenario_from_dots(one, layouts_of(DgaAccumulator(one)), pre).outputs["out"]
    res = run_amaranth(dut, sc, seed=4)
    assert not res.ok and len(res.mismatches) >= 3
