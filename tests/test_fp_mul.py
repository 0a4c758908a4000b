"""Exact FP8 x FP8 multiplier hardware against the golden model (Amaranth, Icarus, Verilator)."""

import numpy as np
import pytest
from amaranth.hdl import Fragment

from golden.fp_mul import FpMulConfig, fp_mul_block
from golden.minifloat import decode
from golden.params import ConfigError
from hw.fp_mul import FpMul
from sim.amaranth_harness import layouts_of, run_amaranth
from sim.blocks.fp_mul import all_pairs, scenario, scenario_from_operands

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

CONFIGS = [
    dict(),                                            # E4M3 x E5M2 -> E6M6
    dict(pipelined=True),
    dict(b_exp=4, b_man=3),                            # E4M3 x E4M3 -> E5M7
    dict(inf_nan=False),
    dict(b_exp=4, b_man=3, inf_nan=False, pipelined=True),
    dict(a_exp=5, a_man=2),                            # E5M2 x E5M2 -> E6M5
    dict(a_exp=6, a_man=1, b_exp=2, b_man=5),
    dict(a_exp=2, a_man=1, b_exp=2, b_man=1),
]


def _id(kw):
    return "-".join(f"{k}={v}" for k, v in kw.items()) or "default"


@pytest.mark.parametrize("kw", CONFIGS, ids=_id)
def test_amaranth_vs_golden(kw):
    """2,000 random pairs (a third with special operands), timed, then with gaps and stalls."""
    cfg = FpMulConfig(**kw)
    dut = FpMul(cfg)
    sc = scenario(cfg, layouts_of(dut), np.random.default_rng(6), 2000)
    res = run_amaranth(dut, sc, seed=1)
    assert res.ok, res.mismatches[:5]
    assert res.out_cycles["out"] == cfg.out_cycles([1] * 2000)
    res = run_amaranth(dut, sc, seed=2, gap=0.3, stall=0.3)
    assert res.ok, res.mismatches[:5]


def test_golden_products_are_exact():
    """The block's expectations are the exact float64 products for every pair (all configs)."""
    for kw in CONFIGS:
        cfg = FpMulConfig(**kw)
        a, b = all_pairs(cfg)
        r = fp_mul_block(cfg, a, b)
        with np.errstate(invalid="ignore"):
            p = decode(cfg.fmt_a, a) * decode(cfg.fmt_b, b)
        got = decode(cfg.fmt_out, r.bits)
        ok = ((got == p) & (np.signbit(got) == np.signbit(p))) | (np.isnan(got) & np.isnan(p))
        assert ok.all(), kw


def test_interface_latency_and_format():
    from hw.emit import sidecar
    cfg = FpMulConfig()
    dut = FpMul(cfg)
    side = sidecar(cfg, dut)
    Fragment.get(dut, None)
    piped = FpMul(pipelined=True)
    Fragment.get(piped, None)
    assert dut.latency == 1 and piped.latency == 2
    assert side["module"] == "fp_mul_ae4_am3_be5_bm2_inf1_p0"
    assert side["timing"]["product_format"] == {"exp_bits": 6, "man_bits": 6, "bias": 31,
                                                "inf_nan": True}
    fields = {s["name"]: {f["path"][0]: (f["offset"], f["width"]) for f in s["fields"]}
              for s in side["streams"]}
    assert fields == {"inp": {"a": (0, 8), "b": (8, 8)}, "out": {"bits": (0, 13), "nan": (13, 1)}}
    assert FpMulConfig(b_exp=4, b_man=3).fmt_out.name == "E5M7"


@pytest.mark.parametrize("bad, msg", [
    (dict(a_exp=1), "fp_mul parameter a_exp=1 is out of range: allowed values are an integer in 2..6."),
    (dict(a_man=0), "fp_mul parameter a_man=0 is out of range: allowed values are an integer in 1..5."),
    (dict(b_exp=6, b_man=2), "fp_mul operand b format E6M2 is out of range: b_exp + b_man must be at most 7 (an 8-bit float)."),
    (dict(inf_nan="no"), "fp_mul parameter inf_nan='no' is invalid: allowed values are true or false."),
])
def test_component_rejects_bad_parameters(bad, msg):
    with pytest.raises(ConfigError) as exc:
        FpMul(**bad)
    assert str(exc.value) == msg


def test_spec_registered():
    from sim.blocks import get_block
    spec = get_block("fp_mul")
    dut = spec.component(FpMulConfig())
    assert spec.config is FpMulConfig and isinstance(dut, FpMul)
    Fragment.get(dut, None)


# --- cocotb ---------------------------------------------------------------------------------

def _run(dut, sc, tmp_path, simulator, **kw):
    from sim.runner import run_cocotb
    return run_cocotb(dut.cfg, dut, sc, simulator=simulator,
                      build_dir=tmp_path / simulator, **kw)


@pytest.mark.cocotb
def test_icarus_e4m3_pipelined_with_gaps(tmp_path):
    dut = FpMul(b_exp=4, b_man=3, pipelined=True)
    sc = scenario(dut.cfg, layouts_of(dut), np.random.default_rng(13), 10_000)
    res = _run(dut, sc, tmp_path, "icarus", gap=0.2, stall=0.2, seed=5)
    assert res.ok, res.mismatches[:5]
    assert res.checked == 10_001


@pytest.mark.cocotb
@pytest.mark.slow
def test_verilator_all_pairs(tmp_path):
    """All 65,536 E4M3 x E5M2 operand pairs on Verilator, timed against the cycle model
    (about 31 s, 27 s of it the Verilator build)."""
    dut = FpMul()
    a, b = all_pairs(dut.cfg)
    sc = scenario_from_operands(dut.cfg, layouts_of(dut), a, b)
    res = _run(dut, sc, tmp_path, "verilator")
    assert res.ok, res.mismatches[:5]
    assert res.checked == 65_537


@pytest.mark.cocotb
def test_icarus_all_pairs_e4m3(tmp_path):
    """All 65,536 E4M3 x E4M3 pairs on Icarus with 10% ready stalls (about 8 s)."""
    dut = FpMul(b_exp=4, b_man=3)
    a, b = all_pairs(dut.cfg)
    sc = scenario_from_operands(dut.cfg, layouts_of(dut), a, b)
    res = _run(dut, sc, tmp_path, "icarus", stall=0.1, seed=7)
    assert res.ok, res.mismatches[:5]
