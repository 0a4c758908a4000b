"""The native simulation path (sim/native.py): generator agreement, payload words, build cache,
streamed batches, the CLI, and a real GEMM through the RTL.

The per-block rung (every block, gaps/stalls, timed, corrupted golden) is in test_ladder.py.
"""

import subprocess
import sys

import numpy as np
import pytest

from golden.mac_array import MacArrayConfig
from hw.mac_array import MacArray
from sim.amaranth_harness import layouts_of
from sim.blocks import get_block
from sim.native import (NativeSim, SplitMix64, build, build_directory, chains, from_words, run_native,
                        run_native_batches, splitmix64_native, stream_seeds, threshold,
                        to_words, vname)

from .conftest import require

pytestmark = pytest.mark.cocotb


def _block(name, **params):
    block = get_block(name)
    cfg = block.config(**params)
    return block, cfg, block.component(cfg)


def test_splitmix64_python_matches_cpp():
    """The Python generator reproduces the harness's sequence exactly (several seeds)."""
    require("verilator")
    _, cfg, comp = _block("fp_mul")
    nb = build(cfg, comp)
    for seed in (0, 1, 12345, (1 << 64) - 1):
        g = SplitMix64(seed)
        py = np.array([g.next() for _ in range(5000)], dtype=np.uint64)
        assert np.array_equal(py, splitmix64_native(nb.lib, seed, 5000)), seed
    # the published first output of SplitMix64 seeded with 0 (reference implementation)
    assert SplitMix64(0).next() == 0xE220A8397B1DCDAF


def test_python_predicts_the_ready_stalls():
    """Output stream j draws once per cycle from its own generator (stream_seeds): Python
    reproduces the ready pattern, so every output transfer falls on a predicted ready-high
    cycle, and with stalls some cycles are predicted (and observed) low."""
    require("verilator")
    block, cfg, comp = _block("fp_add")
    sc = block.scenario(cfg, layouts_of(comp), np.random.default_rng(3), 300)
    nb = build(cfg, comp)
    seed, stall = 77, 0.4
    with NativeSim(nb, seed=seed, stall=stall, statics=sc.statics) as s:
        b = s.run_batch(sc, extra=0)
    n_in = sum(1 for x in nb.side["streams"] if x["direction"] == "in")
    g = SplitMix64(stream_seeds(seed, n_in + 1)[n_in])
    thr = threshold(stall)
    ready = [not g.hit(thr) for _ in range(b.cycles)]
    cycles = b.monitors["out"].cycles
    assert len(cycles) == len(sc.outputs["out"])
    assert all(ready[c] for c in cycles)
    # fp_add (not pipelined) offers a result whenever one is pending: every predicted
    # ready-high cycle between two transfers that has a result waiting carries one
    assert sum(ready) >= len(cycles) and not all(ready)


@pytest.mark.parametrize("width", [1, 13, 32, 33, 64, 65, 96, 250])
def test_payload_words_round_trip(width):
    rng = np.random.default_rng(width)
    vals = [int.from_bytes(rng.bytes(32), "little") & ((1 << width) - 1) for _ in range(50)]
    vals += [0, (1 << width) - 1]
    w = to_words(vals, width)
    assert w.dtype == np.uint32 and w.shape == (len(vals), -(-width // 32))
    assert from_words(w) == vals


def test_verilator_names():
    assert vname("inp__payload") == "inp___05Fpayload"
    assert vname("overflow") == "overflow"


def test_build_cache_and_traced_variant(tmp_path):
    """Builds are keyed by a hash: the second build is a cache hit in the same directory, and
    the traced variant and different Verilog map to other directories."""
    require("verilator")
    _, cfg, comp = _block("fp_mul")
    a = build(cfg, comp, cache_dir=tmp_path)
    b = build(cfg, comp, cache_dir=tmp_path)
    assert not a.cached and b.cached and a.lib == b.lib
    assert b.seconds < a.seconds
    assert (a.directory / ".lock").exists() and a.lib.exists()
    assert build_directory(cfg, comp, cache_dir=tmp_path) == a.directory
    t = build_directory(cfg, comp, trace=True, cache_dir=tmp_path)
    from hw.emit import to_verilog
    v = to_verilog(comp, cfg.module_name) + "\n// a comment changes the hash\n"
    c = build_directory(cfg, comp, cache_dir=tmp_path, verilog=v)
    assert len({a.directory, t, c}) == 3


def test_streamed_batches_keep_state_and_check_every_batch():
    """Several scenarios through one live model: all pass with and without gaps/stalls (timed
    per batch), cycles add up, and a corrupted expectation in a later batch is reported with
    its batch number."""
    require("verilator")
    block, cfg, comp = _block("mac_array")
    layouts = layouts_of(comp)

    def batches(seed):
        rng = np.random.default_rng(seed)
        return [block.scenario(cfg, layouts, rng, 200) for _ in range(4)]
    scs = batches(5)
    r0 = run_native_batches(cfg, comp, lambda k: scs[k], 4, seed=1)
    assert r0.ok, r0.mismatches[:3]
    assert r0.batches == 4 and r0.checked == sum(len(s.outputs["out"]) + len(s.check_ports)
                                                 for s in scs)
    r1 = run_native_batches(cfg, comp, lambda k: scs[k], 4, seed=1, gap=0.3, stall=0.3)
    assert r1.ok, r1.mismatches[:3]
    assert r1.cycles > r0.cycles
    scs[2].outputs["out"][3] ^= 1 << 40
    r2 = run_native_batches(cfg, comp, lambda k: scs[k], 4, seed=1, gap=0.3, stall=0.3)
    assert not r2.ok and r2.batches == 3
    assert r2.mismatches[0].startswith("batch 2: out[3]"), r2.mismatches[:2]
    assert r2.report[0] == "batch 2:" and "differs" in r2.report[2]


def test_generator_blocks_do_not_chain():
    """The LFSR's golden restarts from the seed in every scenario, so streaming it without a
    reset must fail the chaining probe (the CLI refuses to batch it); the MAC array chains."""
    require("verilator")
    block, cfg, comp = _block("lfsr")
    assert not chains(cfg, comp, block)
    block, cfg, comp = _block("mac_array")
    assert chains(cfg, comp, block)


def _lobit(*args):
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], capture_output=True,
                          text=True)


def test_cli_native_single_and_batched(tmp_path):
    require("verilator")
    r = _lobit("sim", "mac_array", "--simulator", "native", "--vectors", "500", "--gap", "0.2",
               "--stall", "0.2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "mismatches:      0" in r.stdout and "build:" in r.stdout
    r = _lobit("sim", "fp_add", "--simulator", "native", "--vectors", "3000",
               "--batch-vectors", "1000", "--stall", "0.1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "in 3 batches" in r.stdout and "batch 3/3" in r.stderr
    assert "vectors checked: 3000" in r.stdout
    vcd = tmp_path / "w.vcd"
    r = _lobit("sim", "fp_mul", "--simulator", "native", "--vectors", "20", "--vcd", str(vcd))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "$enddefinitions" in vcd.read_text()


@pytest.mark.parametrize("args, words", [
    (["--vectors", "0"], "--vectors 0 is out of range"),
    (["--vectors", str(10 ** 11)], "out of range for --simulator native"),
    (["--batch-vectors", "0"], "--batch-vectors 0 is out of range"),
    (["--gap", "1.5"], "--gap 1.5 is out of range"),
])
def test_cli_native_bad_arguments(args, words):
    r = _lobit("sim", "mac_array", "--simulator", "native", *args)
    assert r.returncode == 2
    assert words in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cli_refuses_to_batch_a_generator_block():
    require("verilator")
    r = _lobit("sim", "lfsr", "--simulator", "native", "--vectors", "100", "--batch-vectors",
               "50")
    assert r.returncode == 2 and "cannot be streamed in batches" in r.stderr
    assert "Traceback" not in r.stderr


def test_gemm_64x576x64_through_the_rtl():
    """A conv layer's im2col GEMM tiled on the 8x8 array, run through the emitted Verilog,
    stitched together from the output rows and compared with NumPy's int64 matmul."""
    require("verilator")
    from sim.bench import gemm_on_array
    g = gemm_on_array(MacArrayConfig(rows=8, cols=8), 64, 576, 64)
    assert g["scoreboard_ok"], g["mismatches"]
    assert g["bit_exact_vs_numpy_int64"]
    assert g["tiles"] == 64
    # the stream is back to back: the measured first-in-to-last-out span is the cycle model's
    assert g["cycles"] - 4 == g["model_cycles_first_in_to_last_out"]


def test_native_agrees_with_amaranth_on_output_cycles():
    """Without gaps/stalls the native run and the Amaranth simulator see every output in the
    same cycle (the cycle model), for a block with a deep pipeline and statics."""
    require("verilator")
    from sim.amaranth_harness import run_amaranth
    block, cfg, comp = _block("dga")
    sc = block.scenario(cfg, layouts_of(comp), np.random.default_rng(2), 40)
    rn = run_native(cfg, comp, sc, seed=0)
    ra = run_amaranth(comp, sc, seed=0)
    assert rn.ok and ra.ok
    assert rn.out_cycles == ra.out_cycles == sc.out_cycles
    assert rn.cycles == ra.cycles


def test_mismatch_report_and_vcd_window(tmp_path):
    """A corrupted expectation: the first failing transfer is reported field by field (only the
    differing field is listed) and a VCD of the cycles around it is written by the traced
    build; the waveform covers the failing transfer's cycle."""
    require("verilator")
    block, cfg, comp = _block("mac_array")
    sc = block.scenario(cfg, layouts_of(comp), np.random.default_rng(8), 200)
    ok = run_native(cfg, comp, sc, seed=2, gap=0.2, stall=0.2)
    assert ok.ok
    i = 7
    sc.outputs["out"][i] ^= 1 << 33          # bit 1 of data[1] (32-bit accumulators)
    res = run_native(cfg, comp, sc, seed=2, gap=0.2, stall=0.2, vcd_dir=tmp_path,
                     window=(30, 5))
    assert not res.ok and res.inline_mismatches == 1
    assert res.report[0].startswith(f"out[{i}] (cycle ")
    differing = [ln for ln in res.report if "<-- differs" in ln]
    assert len(differing) == 1 and differing[0].split()[0] == "data.1", res.report
    text = open(res.vcd).read()
    assert "$enddefinitions" in text
    stamps = [int(ln[1:]) for ln in text.splitlines() if ln.startswith("#")]
    cyc = ok.out_cycles["out"][i]
    assert stamps and min(stamps) <= 10 * cyc <= max(stamps)
