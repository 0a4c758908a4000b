import shutil

import pytest

from hw.toolchain import setup_env

setup_env()


def require(tool):
    """Fail (not skip) when a tool the suite depends on is missing: `make setup` installs it."""
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is not installed: run `make setup`")


# The compiled rungs, written once: every block test that runs a scenario on a compiled simulator
# or a synthesized netlist uses these, so a rung means the same checks wherever it appears.

def check_cocotb(cfg, comp, sc, simulator, build_dir, sources=None, gap=0.25, stall=0.25):
    """The scenario under cocotb on ``simulator`` with random gaps and stalls: every output
    matches and at least one was checked. Returns the result."""
    from sim.runner import run_cocotb
    require("iverilog" if simulator == "icarus" else "verilator")
    res = run_cocotb(cfg, comp, sc, simulator=simulator, build_dir=build_dir, seed=4, gap=gap,
                     stall=stall, sources=sources)
    assert res.ok, res.mismatches[:5]
    assert res.checked > 0
    return res


def check_native(cfg, comp, sc):
    """The native rung: the scenario with gaps and stalls, then a run without them in which every
    output transfer falls in the cycle the cycle model gives."""
    from sim.native import run_native
    require("verilator")
    res = run_native(cfg, comp, sc, seed=4, gap=0.25, stall=0.25)
    assert res.ok, res.mismatches[:5]
    assert res.checked > 0
    res = run_native(cfg, comp, sc, seed=4)
    assert res.ok, res.mismatches[:5]
    assert res.out_cycles == sc.out_cycles


def check_netlist(cfg, comp, sc, tmp_path, target="ice40", corrupt=False, cache=False):
    """The synthesized netlist (``target``; ``cache``: reuse a stored synthesis) passes the scenario on Icarus; with
    ``corrupt`` one wrong bit in the middle golden output of ``out`` must then fail on it."""
    from hw.synth import netlist
    sources = netlist(cfg, comp, workdir=tmp_path / "synth", target=target, cache=cache)
    res = check_cocotb(cfg, comp, sc, "icarus", tmp_path / "sim", sources=sources)
    if corrupt:
        from sim.runner import run_cocotb
        outs = sc.outputs["out"]
        outs[len(outs) // 2] ^= 1 << 3
        bad = run_cocotb(cfg, comp, sc, simulator="icarus", build_dir=tmp_path / "sim2", seed=4,
                         sources=sources)
        assert not bad.ok
    return res
