"""Every registered block on every simulator rung, on its built-in defaults.

Per-block files test the details; this file guarantees that no block misses a rung: Amaranth
simulator and emitted Verilog on Icarus and Verilator, all with random gaps and stalls, against the
golden expectations of the block's own scenario builder. The integer-code quantizers are also run
at code widths other than 8 (``bits``, last section).
"""

import numpy as np
import pytest

from sim.amaranth_harness import layouts_of, run_amaranth
from sim.blocks import all_blocks

from .conftest import check_cocotb, check_native, check_netlist, require

BLOCKS = sorted(all_blocks())


def _setup(name, vectors=96, **params):
    block = all_blocks()[name]
    cfg = block.config(**params)
    comp = block.component(cfg)
    sc = block.scenario(cfg, layouts_of(comp), np.random.default_rng(12), vectors)
    return cfg, comp, sc


@pytest.mark.parametrize("name", BLOCKS)
def test_amaranth_rung(name):
    cfg, comp, sc = _setup(name)
    res = run_amaranth(comp, sc, seed=4, gap=0.25, stall=0.25)
    assert res.ok, res.mismatches[:5]
    assert res.checked > 0


@pytest.mark.parametrize("name", BLOCKS)
def test_amaranth_timing_rung(name):
    """One timing contract for every block: the config's cycle model gives the cycle of every
    output transfer (no gaps, no stalls), the component and the sidecar read the same latency,
    and a cycle model shifted by one cycle fails."""
    cfg, comp, sc = _setup(name, vectors=48)
    assert comp.latency == cfg.latency == comp.timing_info()["latency"]
    assert str(cfg.latency) in comp.timing_info()["formula"]
    assert set(sc.out_cycles or {}) == set(sc.outputs), "every output stream has a cycle model"
    res = run_amaranth(comp, sc, seed=4)
    assert res.ok, res.mismatches[:5]
    assert res.out_cycles == sc.out_cycles
    stream = next(s for s, o in sc.outputs.items() if o)
    sc.out_cycles[stream] = [c + 1 for c in sc.out_cycles[stream]]
    res = run_amaranth(comp, sc, seed=4)
    assert any("cycle model says" in m for m in res.mismatches), res.mismatches[:3]


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("name", BLOCKS)
def test_cocotb_rung(tmp_path, name, simulator):
    check_cocotb(*_setup(name), simulator, tmp_path)


@pytest.mark.cocotb
@pytest.mark.parametrize("name", BLOCKS)
def test_native_rung(name):
    """The emitted Verilog on the native path (Verilator model + generated C++ harness): the same
    scenario, seed, gaps and stalls as the cocotb rung, plus a timed run without gaps/stalls in
    which every output transfer must fall in the cycle the cycle model gives."""
    check_native(*_setup(name))


@pytest.mark.synth
@pytest.mark.cocotb
@pytest.mark.parametrize("name", BLOCKS)
def test_netlist_rung(tmp_path, name):
    """The synthesized iCE40 netlist (whose LUTs are reported) passes the same cocotb test."""
    check_netlist(*_setup(name, vectors=48, **all_blocks()[name].netlist_params), tmp_path)


@pytest.mark.parametrize("name", BLOCKS)
def test_corrupted_golden_is_caught(name):
    """The comparison is live for every block: one wrong bit in one golden output must fail."""
    cfg, comp, sc = _setup(name)
    stream, outs = next((s, o) for s, o in sc.outputs.items() if o)
    i = len(outs) // 2
    outs[i] ^= 1 << (outs[i].bit_length() // 2)
    res = run_amaranth(comp, sc, seed=4, gap=0.25, stall=0.25)
    assert not res.ok
    assert any(m.startswith(f"{stream}[{i}]") for m in res.mismatches), res.mismatches[:3]


@pytest.mark.cocotb
@pytest.mark.parametrize("name", BLOCKS)
def test_corrupted_golden_is_caught_native(name):
    """The native rung's comparison is live too: one wrong bit in one golden output fails there
    (in the scoreboard and in the harness's own comparison), and the first failing transfer is
    reported field by field (the VCD window is tested in test_native.py)."""
    from sim.native import run_native
    require("verilator")
    cfg, comp, sc = _setup(name)
    stream, outs = next((s, o) for s, o in sc.outputs.items() if o)
    i = len(outs) // 2
    outs[i] ^= 1 << (outs[i].bit_length() // 2)
    res = run_native(cfg, comp, sc, seed=4, gap=0.25, stall=0.25)
    assert not res.ok
    assert any(m.startswith(f"{stream}[{i}]") for m in res.mismatches), res.mismatches[:3]
    assert res.inline_mismatches == 1
    assert res.report[0].startswith(f"{stream}[{i}]") and "differs" in res.report[1], res.report


# --------------------------------------------------------------------------------------------
# Code width bits (issue 15): the integer-code quantizers at widths other than the default 8
# --------------------------------------------------------------------------------------------

#: blocks whose codes have the width ``bits``; extra parameters per width (the SR unit's input
#: gets one integer bit more than the code, so its scenario reaches every code and saturates)
WIDTH_BLOCKS = {
    "quantizer": lambda b: {},
    "arc_quantizer": lambda b: {},
    "sr_unit": lambda b: {"int_bits": min(16, b + 1)},
    "dagq_quantizer": lambda b: {},
    "gvq_quantizer": lambda b: {},
}
#: widths of the Amaranth rung (8 is the default rung above)
WIDTHS = (2, 4, 6, 12)
#: the one non-8 width of the compiled rungs (Icarus, Verilator, native, netlist) that the default
#: suite runs, for the quantizer only (the shared lane of every other block; its budget is about
#: 60 s of CPU); every other (block, width) pair of these rungs is marked ``slow``
WIDTH_FAST = 4


def _width_setup(name, b, vectors=96):
    cfg, comp, sc = _setup(name, vectors, bits=b, **WIDTH_BLOCKS[name](b))
    field = comp.signature.members["out"].signature.members["payload"].shape
    assert field["code"].shape.elem_shape.width == b          # the port follows the width
    return cfg, comp, sc


def _slow_unless(cond):
    return [] if cond else [pytest.mark.slow]


def _width_params(default_pairs):
    """(name, b) for every width block and width; the pairs in ``default_pairs`` run in the
    default suite, the others behind ``slow``."""
    return [pytest.param(n, b, id=f"{n}-b{b}", marks=_slow_unless((n, b) in default_pairs))
            for n in WIDTH_BLOCKS for b in (2, 4, 6, 12)]


@pytest.mark.parametrize("name", list(WIDTH_BLOCKS))
@pytest.mark.parametrize("b", WIDTHS)
def test_amaranth_width_rung(name, b):
    """Gaps and stalls, and the exact output cycles, at every width; a wrong bit is caught."""
    cfg, comp, sc = _width_setup(name, b)
    res = run_amaranth(comp, sc, seed=4, gap=0.25, stall=0.25)
    assert res.ok, res.mismatches[:5]
    assert res.checked > 0
    res = run_amaranth(comp, sc, seed=4)
    assert res.ok and res.out_cycles == sc.out_cycles, res.mismatches[:5]
    if b == WIDTH_FAST:
        stream, outs = next((s, o) for s, o in sc.outputs.items() if o)
        i = len(outs) // 2
        outs[i] ^= 1 << (outs[i].bit_length() // 2)
        res = run_amaranth(comp, sc, seed=4, gap=0.25, stall=0.25)
        assert not res.ok and any(m.startswith(f"{stream}[{i}]") for m in res.mismatches)


@pytest.mark.cocotb
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("name, b", _width_params({("quantizer", WIDTH_FAST)}))
def test_cocotb_width_rung(tmp_path, name, b, simulator):
    check_cocotb(*_width_setup(name, b), simulator, tmp_path)


@pytest.mark.cocotb
@pytest.mark.parametrize("name, b", _width_params({("quantizer", WIDTH_FAST)}))
def test_native_width_rung(name, b):
    check_native(*_width_setup(name, b))


@pytest.mark.synth
@pytest.mark.cocotb
@pytest.mark.parametrize("name, b", _width_params({("quantizer", WIDTH_FAST)}))
def test_netlist_width_rung(tmp_path, name, b):
    params = dict(all_blocks()[name].netlist_params, bits=b, **WIDTH_BLOCKS[name](b))
    check_netlist(*_setup(name, vectors=48, **params), tmp_path)
