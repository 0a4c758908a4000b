"""The comparison accumulators: sequential FP(e, m) ``fp_acc`` (FP12/FP16/FP32) and integer
``int_acc`` (INT32), golden models against independent references and hardware on the Amaranth
simulator; the accumulator area table is produced by ``sim.blocks.dga.bench`` (``make bench``)."""

import numpy as np
import pytest
from amaranth.hdl import Fragment

from golden.dga import FpAccConfig, acc_seq, accumulate, fp_acc_block
from golden.int_acc import IntAccConfig, int_accumulate, to_signed
from golden.minifloat import FpFormat, fp_add
from golden.params import ConfigError
from hw.fp_acc import FpAccumulator
from hw.int_acc import IntAccumulator
from sim.amaranth_harness import layouts_of, run_amaranth
from sim.blocks import fp_acc, int_acc
from sim.blocks.dga import ACCUMULATORS, random_dot

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


# --- golden -------------------------------------------------------------------------------------

def test_fp_acc_golden_is_a_scalar_loop_of_fp_add():
    """``fp_acc_block`` = an explicit loop of scalar ``fp_add`` calls, and = the DGA accumulator
    with one group (G = N), for FP12, FP16 and FP32, random dot products of every kind."""
    rng = np.random.default_rng(3)
    for e, m in ((5, 6), (5, 10), (8, 23)):
        cfg = FpAccConfig(exp_bits=e, man_bits=m)
        for kind in range(5):
            p = random_dot(cfg.fmt, 97, rng, kind)
            s, ovf = 0, False
            for v in p.tolist():
                r = fp_add(cfg.fmt, s, v)
                s, ovf = int(r.bits), ovf or bool(r.ovf)
            got = fp_acc_block(cfg, p)
            assert int(got.bits[0]) == s and bool(got.ovf[0]) == ovf
            one = accumulate(cfg.fmt, p, 97)
            assert int(one.bits[0]) == s and bool(one.ovf[0]) == ovf


def test_fp_acc_fp32_vs_float32_loop():
    """E8M23 sequential accumulation equals a NumPy float32 running sum (RNE, finite values far
    from overflow, so the policies agree)."""
    f = FpFormat(8, 23)
    rng = np.random.default_rng(8)
    x = (rng.normal(size=(20, 300)) * 2.0 ** rng.integers(-20, 20, (20, 1))).astype(np.float32)
    bits = x.view(np.uint32).astype(np.int64)
    ref = np.zeros(20, dtype=np.float32)
    for i in range(300):
        ref = (ref + x[:, i]).astype(np.float32)
    got = acc_seq(f, bits)
    assert (got.bits == ref.view(np.uint32).astype(np.int64)).all()


def test_int_acc_golden_vs_python_ints():
    rng = np.random.default_rng(4)
    for in_bits, acc_bits in ((16, 32), (8, 10), (32, 32), (4, 48)):
        cfg = IntAccConfig(in_bits=in_bits, acc_bits=acc_bits)
        for kind in range(3):
            p = int_acc.random_int_dot(cfg, 200, rng, kind)
            s, ovf = 0, False
            for v in p.tolist():
                t = s + v
                ovf |= not -(1 << (acc_bits - 1)) <= t < (1 << (acc_bits - 1))
                s = (t + (1 << (acc_bits - 1))) % (1 << acc_bits) - (1 << (acc_bits - 1))
            r = int_accumulate(p, in_bits, acc_bits)
            assert int(to_signed(r.bits, acc_bits)[0]) == s and bool(r.ovf[0]) == ovf
    r = int_accumulate(np.full(3, 127 * 127), 16, 16)          # 48,387 wraps in 16 bits
    assert bool(r.ovf[0]) and int(to_signed(r.bits, 16)[0]) == 3 * 16129 - 65536


@pytest.mark.parametrize("bad, msg", [
    (dict(in_bits=33, acc_bits=32), "int_acc addend width in_bits=33 is out of range: it must "
                                    "be at most acc_bits=32."),
    (dict(acc_bits=49), "int_acc parameter acc_bits=49 is out of range: allowed values are an "
                        "integer in 2..48."),
])
def test_int_acc_bad_parameters(bad, msg):
    with pytest.raises(ConfigError) as exc:
        IntAccumulator(**bad)
    assert str(exc.value) == msg


def test_bad_arguments():
    with pytest.raises(ConfigError, match=r"^int_acc addend 40000 is out of range: allowed "
                                          r"values are -32768\.\.32767 \(in_bits=16\)\.$"):
        int_accumulate([1, 40000])
    with pytest.raises(ConfigError, match=r"^fp_acc parameter man_bits=24 is out of range"):
        FpAccumulator(man_bits=24)
    with pytest.raises(ConfigError, match="needs at least one dot product"):
        fp_acc.scenario_from_dots(FpAccConfig(), layouts_of(FpAccumulator()), [])


# --- hardware on the Amaranth simulator ---------------------------------------------------------

FP_CONFIGS = [dict(), dict(rounding="rtz"), dict(exp_bits=5, man_bits=10),
              dict(exp_bits=8, man_bits=23)]


@pytest.mark.parametrize("kw", FP_CONFIGS, ids=lambda kw: "-".join(f"{k}={v}" for k, v in
                                                                  kw.items()) or "default")
def test_fp_acc_hardware(kw):
    """60 dot products of length 1..64 (all addend kinds incl. Inf/NaN and saturation), timed
    against the cycle model (latency 1), then with 30 % valid gaps and 30 % ready stalls."""
    cfg = FpAccConfig(**kw)
    dut = FpAccumulator(cfg)
    sc = fp_acc.scenario(cfg, layouts_of(dut), np.random.default_rng(6), 60)
    res = run_amaranth(dut, sc, seed=1)
    assert res.ok, res.mismatches[:5]
    assert res.out_cycles["out"] == sc.out_cycles["out"]
    res = run_amaranth(dut, sc, seed=2, gap=0.3, stall=0.3)
    assert res.ok, res.mismatches[:5]


@pytest.mark.parametrize("kw", [dict(), dict(in_bits=32), dict(in_bits=8, acc_bits=10)],
                         ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()) or "default")
def test_int_acc_hardware(kw):
    cfg = IntAccConfig(**kw)
    dut = IntAccumulator(cfg)
    sc = int_acc.scenario(cfg, layouts_of(dut), np.random.default_rng(7), 80)
    res = run_amaranth(dut, sc, seed=1)
    assert res.ok, res.mismatches[:5]
    assert res.out_cycles["out"] == sc.out_cycles["out"]
    res = run_amaranth(dut, sc, seed=2, gap=0.3, stall=0.3)
    assert res.ok, res.mismatches[:5]
    if kw.get("acc_bits") == 10:
        assert sc.check_ports["overflow"] == 1           # the wrap path is exercised


def test_registered_and_in_the_comparison():
    from sim.blocks import get_block
    for name, comp in (("fp_acc", FpAccumulator), ("int_acc", IntAccumulator)):
        spec = get_block(name)
        dut = spec.component(spec.config())
        assert isinstance(dut, comp)
        Fragment.get(dut, None)
    assert [(k, b, p) for k, b, p, _ in ACCUMULATORS][:5] == [
        ("dga_fp12", "dga", {}), ("dga1_fp12", "dga", {"adders": 1}), ("seq_fp12", "fp_acc", {}),
        ("seq_fp16", "fp_acc", {"exp_bits": 5, "man_bits": 10}),
        ("seq_fp32", "fp_acc", {"exp_bits": 8, "man_bits": 23})]
    assert FpAccConfig(exp_bits=8, man_bits=23).module_name == "fp_acc_e8_m23_rne_inf1"
