"""MAC array: golden vs independent oracles, Amaranth simulator, cocotb on Icarus/Verilator."""

import random
import re

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

from golden.mac_array import MacArrayConfig, assemble_gemm, gemm_tile, random_tile, tile_gemm
from golden.params import ConfigError
from hw.mac_array import MacArray
from sim.amaranth_harness import AmaranthAdapter, layouts_of, run_amaranth
from sim.blocks.mac_array import tile_beats, tile_rows, tiles_scenario
from sim.runner import run_cocotb
from sim.transactors import Scenario, pack, unpack

from .conftest import require


# --- golden model vs independent oracles ----------------------------------------------------

def _oracle_sequential(A, B, width, policy):
    """Plain-Python reference: element by element, k by k, exact ints."""
    lo, hi, mod = -(1 << (width - 1)), (1 << (width - 1)) - 1, 1 << width
    R, K = A.shape
    C = B.shape[1]
    out = [[0] * C for _ in range(R)]
    flags = [False] * R
    for i in range(R):
        for j in range(C):
            acc = 0
            for k in range(K):
                s = acc + int(A[i, k]) * int(B[k, j])
                if s < lo or s > hi:
                    flags[i] = True
                    s = ((s - lo) % mod + lo) if policy == "wrap" else min(max(s, lo), hi)
                acc = s
            out[i][j] = acc
    return np.array(out, dtype=np.int64), np.array(flags)


def test_all_int8_products_against_python_ints():
    cfg = MacArrayConfig(rows=64, cols=64)
    vals = np.arange(-128, 128)
    count = 0
    for ai in range(4):
        for bi in range(4):
            a = vals[ai * 64:(ai + 1) * 64].reshape(64, 1)
            b = vals[bi * 64:(bi + 1) * 64].reshape(1, 64)
            C, ovf = gemm_tile(cfg, a, b)
            expect = np.array([[int(x) * int(y) for y in b[0]] for x in a[:, 0]])
            assert np.array_equal(C, expect) and not ovf.any()
            count += C.size
    assert count == 65536


@pytest.mark.parametrize("shape", [(4, 4, 16), (8, 8, 256), (3, 5, 1), (1, 7, 33)])
def test_gemm_tile_matches_numpy_int64(shape):
    R, C, K = shape
    cfg = MacArrayConfig(rows=R, cols=C)
    rng = np.random.default_rng(R * 100 + K)
    A, B = random_tile(cfg, K, rng, extreme=0.2)
    got, ovf = gemm_tile(cfg, A, B)
    assert np.array_equal(got, np.matmul(A.astype(np.int64), B.astype(np.int64)))
    assert not ovf.any()


def test_extreme_values_everywhere():
    cfg = MacArrayConfig(rows=4, cols=4)
    for a, b in [(-128, -128), (127, 127), (-128, 127)]:
        A = np.full((4, 300), a)
        B = np.full((300, 4), b)
        got, ovf = gemm_tile(cfg, A, B)
        assert (got == 300 * a * b).all() and not ovf.any()


@pytest.mark.parametrize("policy", ["wrap", "saturate"])
@pytest.mark.parametrize("width", [16, 20])
def test_overflow_policy_against_sequential_oracle(policy, width):
    cfg = MacArrayConfig(rows=3, cols=2, acc_width=width, overflow=policy)
    rng = np.random.default_rng(width)
    for K in (3, 40, 90):
        A, B = random_tile(cfg, K, rng, extreme=0.7)
        got, ovf = gemm_tile(cfg, A, B)
        exp, eflags = _oracle_sequential(A, B, width, policy)
        assert np.array_equal(got, exp)
        assert np.array_equal(ovf, eflags)


def test_overflow_cases_really_overflow():
    # all(-128) with acc_width 16: 2 products already exceed 32767
    cfg = MacArrayConfig(rows=2, cols=2, acc_width=16, overflow="saturate")
    got, ovf = gemm_tile(cfg, np.full((2, 3), -128), np.full((3, 2), -128))
    assert (got == 32767).all() and ovf.all()
    cfg = cfg.replace(overflow="wrap")
    got, ovf = gemm_tile(cfg, np.full((2, 3), -128), np.full((3, 2), -128))
    assert (got == 3 * 16384 - 65536).all() and ovf.all()


def test_int32_bound_from_the_spec():
    # K*127^2 < 2^31 for K <= 133,143 (docs/spec.md#decision-c): no overflow at the bound
    cfg = MacArrayConfig(rows=1, cols=1)
    K = 133_143
    got, ovf = gemm_tile(cfg, np.full((1, K), 127), np.full((K, 1), 127))
    assert int(got[0, 0]) == K * 127 * 127 and not ovf.any()
    K = 133_145
    got, ovf = gemm_tile(cfg, np.full((1, K), 127), np.full((K, 1), 127))
    assert ovf.all() and int(got[0, 0]) == K * 127 * 127 - (1 << 32)


# --- configuration and input errors --------------------------------------------------------

@pytest.mark.parametrize("kwargs, msg", [
    ({"rows": 0}, r"^mac_array parameter rows=0 is out of range: allowed values are an integer in 1\.\.64\.$"),
    ({"cols": 65}, r"^mac_array parameter cols=65 is out of range: allowed values are an integer in 1\.\.64\.$"),
    ({"a_width": 99}, r"^mac_array parameter a_width=99 is out of range: allowed values are an integer in 2\.\.16\.$"),
    ({"acc_width": 15}, r"^mac_array parameter acc_width=15 is out of range: allowed values are 16\.\.64 for a_width=8, b_width=8\.$"),
    ({"overflow": "clip"}, r"^mac_array parameter overflow='clip' is invalid: allowed values are one of wrap, saturate\.$"),
    ({"pipelined": 2}, r"^mac_array parameter pipelined=2 is invalid: allowed values are true or false\.$"),
    ({"depth": 3}, r"^mac_array has no parameter 'depth': known parameters are rows, cols, "),
])
def test_bad_parameters(kwargs, msg):
    with pytest.raises(ConfigError, match=msg):
        MacArrayConfig(**kwargs)
    with pytest.raises(ConfigError, match=msg):
        MacArray(**kwargs)


def test_bad_operands():
    cfg = MacArrayConfig(rows=2, cols=2)
    with pytest.raises(ConfigError, match=r"operand A holds 128, out of range: allowed values are -128\.\.127"):
        gemm_tile(cfg, np.full((2, 3), 128), np.zeros((3, 2), int))
    with pytest.raises(ConfigError, match=r"operand B has shape \(3, 3\): expected Kx2"):
        gemm_tile(cfg, np.zeros((2, 3), int), np.zeros((3, 3), int))
    with pytest.raises(ConfigError, match=r"dtype float64"):
        gemm_tile(cfg, np.zeros((2, 3)), np.zeros((3, 2), int))


# --- cycle model -----------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 1, 1), (4, 2, 4), (7, 9, 10), (64, 256, 64), (5, 1, 33)])
@pytest.mark.parametrize("rc", [(4, 4), (2, 8), (8, 3)])
def test_gemm_cycles_closed_form_equals_per_element(shape, rc):
    cfg = MacArrayConfig(rows=rc[0], cols=rc[1])
    full, fast = cfg.gemm_cycles(*shape), cfg.gemm_cycles(*shape, per_element=False)
    assert (fast["cycles"], fast["tiles"]) == (full["cycles"], full["tiles"])
    # the array drains all R rows of the last tile, padded ones included
    assert fast["cycles"] >= int(full["out_cycle"].max()) + 1
    if shape[0] % rc[0] == 0:
        assert fast["cycles"] == int(full["out_cycle"].max()) + 1


def test_cycle_model_formula():
    cfg = MacArrayConfig(rows=8, cols=8)
    t = cfg
    g = t.gemm_cycles(64, 256, 64)          # 64 tiles, K >= S: no bubbles
    assert g["tiles"] == 64
    assert g["cycles"] == 64 * 256 + cfg.cols + cfg.rows
    assert g["utilization"] > 0.99
    assert t.gemm_cycles(4, 2, 4)["cycles"] == 2 + 8 + 1 + 7 + 1 - 1   # one tile, K < S


# --- Amaranth simulator vs golden ------------------------------------------------------------

CONFIGS = [
    dict(rows=4, cols=4),
    dict(rows=2, cols=5, pipelined=True),
    dict(rows=5, cols=2, acc_width=18, overflow="saturate"),
    dict(rows=3, cols=3, acc_width=17, overflow="wrap", a_width=5, b_width=11),
    dict(rows=1, cols=1),
]


@pytest.mark.parametrize("kw", CONFIGS, ids=lambda kw: MacArrayConfig(**kw).module_name)
@pytest.mark.parametrize("gap, stall", [(0.0, 0.0), (0.3, 0.3), (0.0, 0.6)])
def test_amaranth_sim_random_tiles(kw, gap, stall):
    cfg = MacArrayConfig(**kw)
    dut = MacArray(cfg)
    rng = np.random.default_rng(hash((cfg.module_name, gap, stall)) % 2**32)
    sc, tiles = tiles_scenario(cfg, layouts_of(dut), rng, n_tiles=6, K=(1, 3 * max(cfg.rows, cfg.cols)),
                         extreme=0.4)
    res = run_amaranth(dut, sc, seed=7, gap=gap, stall=stall)
    assert res.ok, res.mismatches[:5]
    assert res.checked == 6 * cfg.rows + 1


def test_amaranth_gemm_with_cycle_model():
    """A whole GEMM tiled on the array: values and the cycle of every output element."""
    cfg = MacArrayConfig(rows=3, cols=4, pipelined=True)
    dut = MacArray(cfg)
    rng = np.random.default_rng(5)
    M, K, N = 7, 9, 10
    A = rng.integers(-128, 128, (M, K))
    B = rng.integers(-128, 128, (K, N))
    tiles = tile_gemm(cfg, A, B)
    sc, _ = tiles_scenario(cfg, layouts_of(dut), rng, tiles=tiles)
    res = run_amaranth(dut, sc, seed=1)
    assert res.ok, res.mismatches[:5]
    rows = [unpack(layouts_of(dut)["out"], w) for w in sc.outputs["out"]]
    results = [np.array([r["data"] for r in rows[t * cfg.rows:(t + 1) * cfg.rows]])
               for t in range(len(tiles))]
    assert np.array_equal(assemble_gemm(cfg, results, M, N), A @ B)
    model = cfg.gemm_cycles(M, K, N)
    got = np.array(res.out_cycles["out"]).reshape(len(tiles), cfg.rows)
    per_elem = np.zeros((3 * cfg.rows, 3 * cfg.cols), dtype=np.int64)
    for t in range(len(tiles)):
        mt, nt = divmod(t, 3)
        per_elem[mt * cfg.rows:(mt + 1) * cfg.rows, nt * cfg.cols:(nt + 1) * cfg.cols] = got[t][:, None]
    assert np.array_equal(per_elem[:M, :N], model["out_cycle"])
    assert res.out_cycles["out"][-1] + 1 == model["cycles"]


def test_back_to_back_tiles_have_no_bubbles():
    cfg = MacArrayConfig(rows=4, cols=4)
    dut = MacArray(cfg)
    sc, tiles = tiles_scenario(cfg, layouts_of(dut), np.random.default_rng(2), n_tiles=5, K=8)
    res = run_amaranth(dut, sc, seed=0)
    assert res.ok
    # 5 tiles x 8 beats accepted in 40 consecutive cycles, last row at 39 + latency + 3
    assert res.out_cycles["out"][-1] == 5 * 8 - 1 + (cfg.cols + 1) + cfg.rows - 1


def test_reset_in_the_middle_of_a_stream():
    """Reset while a tile is half streamed and another drains: no stale output, later tiles exact."""
    cfg = MacArrayConfig(rows=3, cols=3)
    dut = MacArray(cfg)
    lay = layouts_of(dut)
    rng = np.random.default_rng(11)
    old = [random_tile(cfg, 6, rng) for _ in range(2)]
    new = [random_tile(cfg, k, rng) for k in (5, 1, 7)]
    old_beats = [pack(lay["inp"], b) for A, B in old for b in tile_beats(A, B)][:9]   # 1.5 tiles
    sc_new, _ = tiles_scenario(cfg, lay, rng, tiles=new)
    out = {}

    async def tb(ctx):
        ad = AmaranthAdapter(ctx, dut)
        ad.set("out__ready", 1)
        for w in old_beats:
            ad.set("inp__valid", 1)
            ad.set("inp__payload", w)
            await ctx.tick()
        ad.set("inp__valid", 0)
        await ctx.tick().repeat(2)            # tile 0 is draining now
        ctx.set(cd.rst, 1)
        await ctx.tick()
        ctx.set(cd.rst, 0)
        from sim.transactors import run_cycles
        out["res"] = await run_cycles(ad, sc_new, random.Random(3), gap=0.2, stall=0.2, layouts=lay)

    top = Module()
    top.domains.sync = cd = ClockDomain("sync")
    top.submodules.dut = dut
    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    res = out["res"]
    assert res.ok, res.mismatches[:5]
    assert res.checked == 3 * cfg.rows + 1


def test_mutated_golden_is_caught():
    """The suite can fail: a golden model with one product dropped must give mismatches."""
    cfg = MacArrayConfig(rows=3, cols=3)
    dut = MacArray(cfg)
    lay = layouts_of(dut)
    rng = np.random.default_rng(4)
    tiles = [random_tile(cfg, 5, rng) for _ in range(3)]
    good, _ = tiles_scenario(cfg, lay, rng, tiles=tiles)
    bad_rows = []
    for A, B in tiles:
        A2 = A.copy()
        A2[1, 2] = 0                                  # the mutation: drop one product
        bad_rows += [pack(lay["out"], r) for r in tile_rows(cfg, A2, B)]
    bad = Scenario(inputs=good.inputs, outputs={"out": bad_rows}, out_cycles=good.out_cycles,
                   check_ports=good.check_ports)
    assert run_amaranth(dut, good, seed=1).ok
    res = run_amaranth(dut, bad, seed=1)
    assert not res.ok
    assert all(re.match(r"out\[\d+\]: got ", m) for m in res.mismatches)
    assert len(res.mismatches) == 3                   # row 1 of each tile


def test_mutated_timing_is_caught():
    cfg = MacArrayConfig(rows=2, cols=2)
    dut = MacArray(cfg)
    sc, _ = tiles_scenario(cfg, layouts_of(dut), np.random.default_rng(0), n_tiles=2, K=4)
    sc.out_cycles = {"out": [c + 1 for c in sc.out_cycles["out"]]}
    res = run_amaranth(dut, sc, seed=0)
    assert any("cycle model says" in m for m in res.mismatches)


# --- emitted Verilog under cocotb ------------------------------------------------------------

@pytest.mark.cocotb
@pytest.mark.parametrize("kw, gap, stall", [
    (dict(rows=4, cols=4), 0.0, 0.0),
    (dict(rows=4, cols=4), 0.3, 0.3),
    (dict(rows=3, cols=5, pipelined=True, acc_width=18, overflow="saturate"), 0.2, 0.4),
    (dict(rows=8, cols=8), 0.1, 0.1),
])
def test_icarus(tmp_path, kw, gap, stall):
    require("iverilog")
    cfg = MacArrayConfig(**kw)
    dut = MacArray(cfg)
    sc, _ = tiles_scenario(cfg, layouts_of(dut), np.random.default_rng(9), n_tiles=8,
                     K=(1, 2 * max(cfg.rows, cfg.cols)), extreme=0.3)
    res = run_cocotb(cfg, dut, sc, simulator="icarus", build_dir=tmp_path, seed=5, gap=gap, stall=stall)
    assert res.ok, res.mismatches[:5]
    assert res.checked == 8 * cfg.rows + 1


@pytest.mark.cocotb
def test_verilator(tmp_path):
    require("verilator")
    cfg = MacArrayConfig(rows=4, cols=4, pipelined=True)
    dut = MacArray(cfg)
    sc, _ = tiles_scenario(cfg, layouts_of(dut), np.random.default_rng(10), n_tiles=12, K=(1, 20),
                     extreme=0.3)
    res = run_cocotb(cfg, dut, sc, simulator="verilator", build_dir=tmp_path, seed=2, gap=0.2, stall=0.2)
    assert res.ok, res.mismatches[:5]
    full = run_cocotb(cfg, dut, sc, simulator="verilator", build_dir=tmp_path, seed=2)
    assert full.ok, full.mismatches[:5]           # full rate: cycle of every row checked too


@pytest.mark.cocotb
def test_all_int8_products_through_icarus(tmp_path):
    """All 65,536 INT8 x INT8 products through the emitted Verilog: 4,096 K=1 outer-product tiles."""
    require("iverilog")
    cfg = MacArrayConfig(rows=4, cols=4)
    dut = MacArray(cfg)
    v = np.arange(-128, 128)
    tiles = [(v[4 * i:4 * i + 4].reshape(4, 1), v[4 * j:4 * j + 4].reshape(1, 4))
             for i in range(64) for j in range(64)]
    sc, _ = tiles_scenario(cfg, layouts_of(dut), np.random.default_rng(0), tiles=tiles)
    assert sc.vectors == 65536
    res = run_cocotb(cfg, dut, sc, simulator="icarus", build_dir=tmp_path, seed=0)
    assert res.ok, res.mismatches[:5]
    assert res.checked == 4096 * 4 + 1
