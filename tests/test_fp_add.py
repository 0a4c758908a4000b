"""FP(e, m) adder hardware against the golden model: Amaranth simulator, Icarus, Verilator."""

import json
import time

import numpy as np
import pytest
from amaranth.hdl import Fragment

from golden.fp_add import FpAddConfig
from golden.params import ConfigError
from hw.fp_add import FpAdd
from sim.amaranth_harness import layouts_of, run_amaranth
from sim.blocks.fp_add import random_operands, scenario, scenario_from_operands, special_operands
from .conftest import check_native, check_netlist, require

# components built only to check a constructor error or the registry are never elaborated
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

CONFIGS = [
    dict(),                                            # FP12 E5M6, RNE
    dict(rounding="rtz"),
    dict(pipelined=True),
    dict(inf_nan=False),
    dict(exp_bits=4, man_bits=3),                      # FP8 E4M3
    dict(exp_bits=5, man_bits=2, rounding="rtz", pipelined=True),
    dict(exp_bits=6, man_bits=5),                      # FP12 E6M5
    dict(exp_bits=6, man_bits=5, inf_nan=False, rounding="rtz"),
    dict(exp_bits=5, man_bits=10),                     # binary16
    dict(exp_bits=8, man_bits=12, pipelined=True),
    dict(exp_bits=2, man_bits=1),
    dict(exp_bits=8, man_bits=23),                     # binary32 (man_bits extended to 23)
    dict(addend_man=7),                                # mixed: E5M7 addend into E5M6, one rounding
    dict(addend_man=7, rounding="rtz", pipelined=True),
    dict(addend_man=9, inf_nan=False),
    dict(exp_bits=4, man_bits=3, addend_man=7),        # E4M7 addend into FP8 E4M3
    dict(exp_bits=3, man_bits=2, addend_man=3, rounding="rtz"),
]


def _id(kw):
    return "-".join(f"{k}={v}" for k, v in kw.items()) or "default"


@pytest.mark.parametrize("kw", CONFIGS, ids=_id)
def test_amaranth_vs_golden(kw):
    """1,500 random pairs (specials, ties, cancellations, saturation) timed against the cycle
    model, then the same pairs with 30% valid gaps and 30% ready stalls."""
    cfg = FpAddConfig(**kw)
    dut = FpAdd(cfg)
    sc = scenario(cfg, layouts_of(dut), np.random.default_rng(5), 1500)
    res = run_amaranth(dut, sc, seed=1)
    assert res.ok, res.mismatches[:5]
    assert res.checked == 1502 and res.out_cycles["out"] == cfg.out_cycles([1] * 1500)
    res = run_amaranth(dut, sc, seed=2, gap=0.3, stall=0.3)
    assert res.ok, res.mismatches[:5]


def test_amaranth_specials_all_pairs():
    """Every pair of special operands of E5M6 (incl. Inf, NaN payloads, signed zeros)."""
    cfg = FpAddConfig()
    dut = FpAdd(cfg)
    sp = special_operands(cfg.fmt)
    a, b = np.meshgrid(sp, sp, indexing="ij")
    sc = scenario_from_operands(cfg, layouts_of(dut), a.ravel(), b.ravel())
    res = run_amaranth(dut, sc, seed=3, stall=0.2)
    assert res.ok, res.mismatches[:5]
    assert sc.check_ports == {"nan_seen": 1, "overflow": 1}


def test_e5m10_hardware_vs_float16():
    """The E5M10 adder's output bits equal NumPy float16 addition (with saturation)."""
    cfg = FpAddConfig(exp_bits=5, man_bits=10)
    dut = FpAdd(cfg)
    a, b = random_operands(cfg.fmt, 1500, np.random.default_rng(9))
    ha, hb = a.astype(np.uint16).view(np.float16), b.astype(np.uint16).view(np.float16)
    with np.errstate(over="ignore", invalid="ignore"):
        h = ha + hb
    fin = np.isfinite(ha) & np.isfinite(hb)
    h = np.where(fin & np.isinf(h), np.copysign(np.float16(65504.0), h), h)
    ref = np.where(np.isnan(h), cfg.fmt.nan_code, h.view(np.uint16).astype(np.int64))
    sc = scenario_from_operands(cfg, layouts_of(dut), a, b)
    assert [w & 0xFFFF for w in sc.outputs["out"]] == ref.tolist()
    res = run_amaranth(dut, sc, seed=4)
    assert res.ok, res.mismatches[:5]


def test_e8m23_hardware_vs_float32():
    """The E8M23 adder's output bits equal NumPy float32 addition (RNE), with our saturation
    policy mapped in: a float32 Inf from finite operands is +-max here, with ``ovf``."""
    cfg = FpAddConfig(exp_bits=8, man_bits=23)
    dut = FpAdd(cfg)
    a, b = random_operands(cfg.fmt, 1500, np.random.default_rng(32))
    fa, fb = a.astype(np.uint32).view(np.float32), b.astype(np.uint32).view(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        h = fa + fb
    sat = np.isfinite(fa) & np.isfinite(fb) & np.isinf(h)
    h = np.where(sat, np.copysign(np.float32(cfg.fmt.max_value), h), h)
    ref = np.where(np.isnan(h), cfg.fmt.nan_code, h.view(np.uint32).astype(np.int64))
    sc = scenario_from_operands(cfg, layouts_of(dut), a, b)
    assert [w & 0xFFFFFFFF for w in sc.outputs["out"]] == ref.tolist()
    assert [(w >> 33) & 1 for w in sc.outputs["out"]] == sat.astype(int).tolist()
    res = run_amaranth(dut, sc, seed=4)
    assert res.ok, res.mismatches[:5]


def test_interface_latency_and_verilog():
    from hw.emit import sidecar, to_verilog
    from hw.toolchain import setup_env
    setup_env()
    for kw, lat in ((dict(), 1), (dict(pipelined=True), 2)):
        cfg = FpAddConfig(**kw)
        dut = FpAdd(cfg)
        assert dut.latency == lat == dut.timing_info()["latency"]
        side = sidecar(cfg, dut)
        assert side["module"] == f"fp_add_e5_m6_rne_inf1_p{lat - 1}"
        fields = {s["name"]: {f["path"][0]: (f["offset"], f["width"]) for f in s["fields"]}
                  for s in side["streams"]}
        assert fields == {"inp": {"a": (0, 12), "b": (12, 12)},
                          "out": {"bits": (0, 12), "nan": (12, 1), "ovf": (13, 1)}}
        assert "module fp_add_e5_m6_rne_inf1" in to_verilog(dut, cfg.module_name)
    json.dumps(side)
    cfg = FpAddConfig(addend_man=7)
    side = sidecar(cfg, FpAdd(cfg))
    assert side["module"] == "fp_add_e5_m6_rne_inf1_p0_am7"
    assert [f["width"] for f in side["streams"][0]["fields"]] == [12, 13]


@pytest.mark.parametrize("bad, msg", [
    (dict(exp_bits=1), "fp_add parameter exp_bits=1 is out of range: allowed values are an integer in 2..8."),
    (dict(man_bits=0), "fp_add parameter man_bits=0 is out of range: allowed values are an integer in 1..23."),
    (dict(man_bits=24), "fp_add parameter man_bits=24 is out of range: allowed values are an integer in 1..23."),
    (dict(rounding="rnd"), "fp_add parameter rounding='rnd' is invalid: allowed values are one of rne, rtz."),
    (dict(width=12), "fp_add has no parameter 'width': known parameters are exp_bits, man_bits, rounding, inf_nan, pipelined, addend_man."),
    (dict(addend_man=5), "fp_add parameter addend_man=5 is out of range: allowed values are 0 or an integer in 6..23 (at least man_bits=6)."),
    (dict(addend_man=24), "fp_add parameter addend_man=24 is out of range: allowed values are an integer in 0..23."),
])
def test_component_rejects_bad_parameters(bad, msg):
    with pytest.raises(ConfigError) as exc:
        FpAdd(**bad)
    assert str(exc.value) == msg


def test_spec_registered():
    from sim.blocks import get_block
    spec = get_block("fp_add")
    dut = spec.component(FpAddConfig())
    assert spec.config is FpAddConfig and isinstance(dut, FpAdd)
    Fragment.get(dut, None)


# --- cocotb ---------------------------------------------------------------------------------

def _run(dut, sc, tmp_path, simulator, **kw):
    from sim.runner import run_cocotb
    t0 = time.perf_counter()
    res = run_cocotb(dut.cfg, dut, sc, simulator=simulator, build_dir=tmp_path / simulator, **kw)
    return res, time.perf_counter() - t0


@pytest.mark.cocotb
def test_icarus_rtz_pipelined_with_gaps(tmp_path):
    dut = FpAdd(rounding="rtz", pipelined=True)
    sc = scenario(dut.cfg, layouts_of(dut), np.random.default_rng(11), 10_000)
    res, _ = _run(dut, sc, tmp_path, "icarus", gap=0.2, stall=0.2, seed=3)
    assert res.ok, res.mismatches[:5]
    assert res.checked == 10_002


def _verilator_sample(tmp_path, n):
    dut = FpAdd()
    sc = scenario(dut.cfg, layouts_of(dut), np.random.default_rng(2024), n)
    res, seconds = _run(dut, sc, tmp_path, "verilator")
    assert res.ok, res.mismatches[:5]
    assert res.checked == n + 2
    assert res.out_cycles["out"][-1] == n          # one result per cycle, latency 1
    print(f"verilator fp_add {n} pairs: {seconds:.1f} s total, {res.seconds:.1f} s simulation")


@pytest.mark.cocotb
def test_verilator_50k_pairs(tmp_path):
    """5*10**4 pairs of FP12 E5M6 through cocotb (the 2**20-pair sample runs on the enumerator below)."""
    _verilator_sample(tmp_path, 50_000)


@pytest.mark.cocotb
@pytest.mark.slow
def test_verilator_1m_pairs(tmp_path):
    """10**6 pairs of FP12 E5M6 on Verilator (75-92 s measured, build included)."""
    _verilator_sample(tmp_path, 1_000_000)


# --- enumerated pairs through the emitted Verilog (self-checking wrapper on Verilator) ----------

@pytest.mark.cocotb
def test_verilator_enumerated_1m_pairs(tmp_path):
    """2**20 (> 10**6) distinct pairs (every 17th pair index: odd stride, so no pair repeats) on
    the same Verilator enumerator as the exhaustive check; then the mutation: expectations from
    an RTZ adder must disagree with the RNE hardware."""
    from sim.fp_enumerator import run_enumerated
    require("verilator")
    cfg = FpAddConfig()
    t0 = time.perf_counter()
    r = run_enumerated(cfg, count=1 << 20, stride=17, workdir=tmp_path)
    assert r["mismatches"] == 0, r["examples"]
    assert r["checked"] == 1 << 20 and r["timing_ok"] and r["flags_ok"]
    bad = run_enumerated(cfg, count=1 << 16, stride=257, workdir=tmp_path,
                         expect_cfg=FpAddConfig(rounding="rtz"))
    assert bad["mismatches"] > 1000
    print(f"enumerated 2**20 pairs: {time.perf_counter() - t0:.1f} s ({r})")


EXHAUSTIVE = [dict(), dict(rounding="rtz"), dict(inf_nan=False), dict(pipelined=True)]


@pytest.mark.cocotb
@pytest.mark.slow
@pytest.mark.parametrize("kw", EXHAUSTIVE, ids=_id)
def test_verilator_exhaustive_fp12(tmp_path, kw):
    """Every one of the 2**24 FP12 E5M6 operand pairs through the emitted Verilog on Verilator,
    each result (bits, nan, ovf) equal to the golden model, one result per cycle."""
    from sim.fp_enumerator import run_enumerated
    require("verilator")
    t0 = time.perf_counter()
    r = run_enumerated(FpAddConfig(**kw), workdir=tmp_path)
    assert r["mismatches"] == 0, r["examples"]
    assert r["checked"] == 1 << 24 and r["timing_ok"] and r["flags_ok"]
    print(f"exhaustive E5M6 {kw}: {time.perf_counter() - t0:.1f} s ({r})")


# --- the mixed-format adder (E5M7 addends into E5M6) on every rung ----------------------------------

MIXED = FpAddConfig(addend_man=7)


def test_mixed_amaranth_exhaustive_small():
    """Every pair of E3M2 accumulator x E3M3 addend (8,192 pairs) through the Amaranth simulator."""
    cfg = FpAddConfig(exp_bits=3, man_bits=2, addend_man=3)
    dut = FpAdd(cfg)
    a, b = np.meshgrid(cfg.fmt.all_codes(), cfg.addend_fmt.all_codes(), indexing="ij")
    sc = scenario_from_operands(cfg, layouts_of(dut), a.ravel(), b.ravel())
    res = run_amaranth(dut, sc, seed=1)
    assert res.ok, res.mismatches[:5]
    assert res.checked == 8192 + 2


def test_mixed_double_rounding_golden_is_caught():
    """Expectations from a two-rounding model (addend first rounded to E5M6) must fail on the
    one-rounding hardware: the comparison sees the difference."""
    from golden.minifloat import encode, decode, fp_add
    dut = FpAdd(MIXED)
    a, b = random_operands(MIXED.fmt, 3000, np.random.default_rng(9), MIXED.addend_fmt)
    sc = scenario_from_operands(MIXED, layouts_of(dut), a, b)
    res = run_amaranth(dut, sc, seed=1)
    assert res.ok, res.mismatches[:5]
    b6, _ = encode(MIXED.fmt, decode(MIXED.addend_fmt, b))
    wrong = fp_add(MIXED.fmt, a, b6)
    from sim.transactors import pack_columns
    sc.outputs["out"] = pack_columns(layouts_of(dut)["out"], {"bits": wrong.bits, "nan": wrong.nan,
                                                             "ovf": wrong.ovf})
    res = run_amaranth(dut, sc, seed=1)
    assert not res.ok and len(res.mismatches) > 20


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator", ["icarus", pytest.param("verilator", marks=pytest.mark.slow)])
def test_mixed_cocotb_rung(tmp_path, simulator):
    """Icarus in the default suite; the Verilator rungs of the mixed adder (cocotb, native, the
    enumerator) are slow-only (their builds would exceed the suite's time budget)."""
    require("iverilog" if simulator == "icarus" else "verilator")
    dut = FpAdd(MIXED)
    sc = scenario(MIXED, layouts_of(dut), np.random.default_rng(4), 2000)
    res, _ = _run(dut, sc, tmp_path, simulator, gap=0.25, stall=0.25, seed=4)
    assert res.ok, res.mismatches[:5]
    assert res.checked == 2002


@pytest.mark.cocotb
@pytest.mark.slow
def test_mixed_native_rung():
    dut = FpAdd(MIXED)
    check_native(MIXED, dut, scenario(MIXED, layouts_of(dut), np.random.default_rng(6), 2000))


@pytest.mark.synth
@pytest.mark.cocotb
def test_mixed_netlist_rung(tmp_path):
    """The iCE40 netlist of the mixed adder passes the same cocotb test."""
    dut = FpAdd(MIXED)
    check_netlist(MIXED, dut, scenario(MIXED, layouts_of(dut), np.random.default_rng(8), 300),
                  tmp_path)


@pytest.mark.cocotb
@pytest.mark.slow
def test_mixed_verilator_enumerated(tmp_path):
    """2**18 distinct (E5M6, E5M7) pairs on the Verilator enumerator (odd stride)."""
    from sim.fp_enumerator import run_enumerated
    require("verilator")
    r = run_enumerated(MIXED, count=1 << 18, stride=101, workdir=tmp_path)
    assert r["mismatches"] == 0, r["examples"]
    assert r["checked"] == 1 << 18 and r["timing_ok"] and r["flags_ok"]


@pytest.mark.cocotb
@pytest.mark.slow
@pytest.mark.parametrize("kw", [dict(addend_man=7), dict(addend_man=7, rounding="rtz")], ids=_id)
def test_mixed_verilator_exhaustive(tmp_path, kw):
    """Every one of the 2**25 (E5M6, E5M7) pairs through the emitted Verilog on Verilator."""
    from sim.fp_enumerator import run_enumerated
    require("verilator")
    t0 = time.perf_counter()
    r = run_enumerated(FpAddConfig(**kw), workdir=tmp_path)
    assert r["mismatches"] == 0, r["examples"]
    assert r["checked"] == 1 << 25 and r["timing_ok"] and r["flags_ok"]
    print(f"exhaustive E5M6 + E5M7 {kw}: {time.perf_counter() - t0:.1f} s ({r})")
