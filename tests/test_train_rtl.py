"""Tie to the hardware: one real training step's tensors through the emitted RTL (Verilator).

An ``int8`` step with SR gradients (RLSRU ``split``) runs on an MNIST-1D batch with tracing on;
the classifier layer's forward GEMM (INT8 codes of activations and weights, the INT32
accumulators the trainer dequantized) is streamed through the MAC array's Verilog, and the
gradient quantization of the same layer (FP32 gradient, reciprocal-scale register, the RLSRU
numbers, the codes the trainer used) through the quantizer's Verilog. The expected values in
both scenarios are the trainer's own, so a pass means the trainer used exactly what the
hardware computes.
"""

import numpy as np
import pytest

from golden.mac_array import MacArrayConfig, tile_gemm
from golden.quantizer import QuantizerConfig
from hw.mac_array import MacArray
from hw.quantizer import Quantizer
from sim.amaranth_harness import layouts_of
from sim.blocks.mac_array import tile_beats
from sim.blocks.quantizer import beats_scenario
from sim.runner import run_cocotb
from sim.transactors import Scenario, pack
from train.arith import Int8Arith
from train.data import load
from train.layers import softmax_ce
from train.trainer import backward, build_network, forward

from .conftest import require


@pytest.fixture(scope="module")
def step_trace():
    ds = load("mnist1d")
    rng = np.random.default_rng(0)
    net = build_network("mnist1d", rng)
    ar = Int8Arith("sr", "split", seed=0xACE1)
    ar.trace = []
    x, y = ds.x_train[:64], ds.y_train[:64]
    _, g = softmax_ce(forward(net, x, ar), y)
    backward(net, g, ar)
    gemms = [t for t in ar.trace if t["kind"] == "gemm"]
    quants = [t for t in ar.trace if t["kind"] == "quantize"]
    # forward GEMMs come first (4 layers); the classifier is the 4th; the first gradient
    # quantization in the backward pass is the classifier's output gradient
    return gemms[3], quants[0]


def _gemm_scenario(cfg, layouts, A, B, C, ovf):
    """Beats of every tile of A @ B, expected rows = the trainer's accumulators ``C``."""
    R, Cc = cfg.rows, cfg.cols
    M, N = C.shape
    nct = -(-N // Cc)
    Cp = np.zeros((-(-M // R) * R, nct * Cc), dtype=np.int64)
    Fp = np.zeros(Cp.shape, dtype=bool)
    Cp[:M, :N], Fp[:M, :N] = C, ovf
    beats, rows, Ks = [], [], []
    for t, (At, Bt) in enumerate(tile_gemm(cfg, A, B)):
        mt, nt = divmod(t, nct)
        beats += [pack(layouts["inp"], b) for b in tile_beats(At, Bt)]
        blk = Cp[mt * R:(mt + 1) * R, nt * Cc:(nt + 1) * Cc]
        fl = Fp[mt * R:(mt + 1) * R, nt * Cc:(nt + 1) * Cc].any(axis=1)
        rows += [pack(layouts["out"], {"data": [int(v) for v in blk[i]], "row": i,
                                       "last": int(i == R - 1), "ovf": int(fl[i])})
                 for i in range(R)]
        Ks.append(At.shape[1])
    return Scenario(inputs={"inp": beats}, outputs={"out": rows},
                    out_cycles={"out": cfg.out_cycles(Ks)}, vectors=M * N,
                    check_ports={"overflow": int(ovf.any())})


@pytest.mark.cocotb
def test_training_step_gemm_on_verilator(tmp_path, step_trace):
    require("verilator")
    g, _ = step_trace
    A, B, C = g["A"].astype(np.int64), g["B"].astype(np.int64), g["C"]
    assert A.shape == (64, 160) and B.shape == (160, 10)
    cfg = MacArrayConfig(rows=4, cols=4)
    dut = MacArray(cfg)
    sc = _gemm_scenario(cfg, layouts_of(dut), A, B, C, g["ovf"])
    res = run_cocotb(cfg, dut, sc, simulator="verilator", build_dir=tmp_path, seed=1)
    assert res.ok, res.mismatches[:3]
    assert res.checked == len(sc.outputs["out"]) + 1
    # the comparison can fail: one accumulator off by one is reported
    C2 = C.copy()
    C2[5, 3] += 1
    bad = _gemm_scenario(cfg, layouts_of(dut), A, B, C2, g["ovf"])
    res2 = run_cocotb(cfg, dut, bad, simulator="verilator", build_dir=tmp_path, seed=1)
    assert not res2.ok


@pytest.mark.cocotb
def test_training_step_gradient_quantization_on_verilator(tmp_path, step_trace):
    require("verilator")
    _, q = step_trace
    assert q["mode"] == "sr" and q["x"].shape == (64, 10)
    cfg = QuantizerConfig(mode="sr", lanes=2, frac_bits=8)
    dut = Quantizer(cfg)
    x_bits = q["x"].reshape(-1).view(np.uint32).astype(np.int64)
    trainer_codes = q["codes"].reshape(-1)

    def trainer(xb, inv_bits, mode, F, rnd):           # expectations = what the trainer used
        from golden.quantizer import quantize_bits
        _, nan, sat = quantize_bits(xb, inv_bits, mode, F, rnd)
        return trainer_codes, nan, sat

    sc, _ = beats_scenario(cfg, layouts_of(dut), np.random.default_rng(0), x_bits=x_bits,
                           inv_bits=q["inv_bits"], rnd=q["rnd"], golden=trainer)
    res = run_cocotb(cfg, dut, sc, simulator="verilator", build_dir=tmp_path, seed=3,
                     gap=0.2, stall=0.2)
    assert res.ok, res.mismatches[:3]
    assert res.checked == x_bits.size // 2 + 2
    # the comparison can fail: one code changed is reported
    trainer_codes = trainer_codes.copy()
    trainer_codes[7] = trainer_codes[7] + (1 if trainer_codes[7] < 127 else -1)
    bad, _ = beats_scenario(cfg, layouts_of(dut), np.random.default_rng(0), x_bits=x_bits,
                            inv_bits=q["inv_bits"], rnd=q["rnd"], golden=trainer)
    assert not run_cocotb(cfg, dut, bad, simulator="verilator", build_dir=tmp_path, seed=3).ok
