"""Synthesis flows (:mod:`hw.synth`): cell counts, netlist re-simulation, mutants, Fmax.

Every test uses its own cache directory, so the real Yosys/nextpnr flow runs each time (about
1-2 minutes for the whole file on two cores, most of it the Fmax run).
"""

import numpy as np
import pytest

from hw.toolchain import setup_env

setup_env()

from golden.mac_array import MacArrayConfig  # noqa: E402
from golden.params import ConfigError  # noqa: E402
from hw.emit import to_verilog  # noqa: E402
from hw.mac_array import MacArray  # noqa: E402
from hw.synth import harness_verilog, netlist, synthesize, verilog_ports  # noqa: E402

from .conftest import require  # noqa: E402

pytestmark = pytest.mark.synth


CFG = MacArrayConfig(rows=2, cols=2)
# 2 x 2 PEs, each with a 32-bit accumulator and a 32-bit shadow register
MIN_FF = CFG.rows * CFG.cols * CFG.acc_width * 2


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A synthesis cache private to this test module (shared by its tests)."""
    return tmp_path_factory.mktemp("synth_cache")


def _scenario(comp):
    from sim.amaranth_harness import layouts_of
    from sim.blocks.mac_array import tiles_scenario
    sc, _ = tiles_scenario(CFG, layouts_of(comp), np.random.default_rng(0), n_tiles=4, K=(1, 8))
    return sc


def _is_count(x):
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def test_counts_ice40_and_generic(tmp_path, cache):
    comp = MacArray(CFG)
    r = synthesize(CFG, comp, target="ice40", workdir=tmp_path, cache=cache)
    assert r["block"] == "mac_array" and r["module"] == CFG.module_name
    assert r["config"] == CFG.to_dict()
    for key in ("lut", "ff", "carry", "dsp", "ram", "cells"):
        assert _is_count(r[key]), (key, r[key])
    assert r["lut"] > 0 and r["carry"] > 0
    assert r["dsp"] == 0 and r["ram"] == 0
    assert r["ff"] >= MIN_FF
    assert r["ff"] == sum(n for t, n in r["cells_by_type"].items() if t.startswith("SB_DFF"))
    assert r["cells"] == sum(r["cells_by_type"].values())
    assert r["lut"] + r["ff"] + r["carry"] <= r["cells"]
    assert r["yosys_version"].startswith("Yosys ")
    assert r["fmax_mhz"] is None and not r["cached"]

    g = synthesize(CFG, comp, target="generic", workdir=tmp_path, cache=cache)
    assert _is_count(g["cells"]) and g["cells"] > r["lut"]
    assert g["cells"] == sum(g["cells_by_type"].values())
    assert g["ff"] >= MIN_FF and g["lut"] is None
    assert g["transistors"] and int(g["transistors"].rstrip("+")) > 0

    again = synthesize(CFG, comp, target="ice40", workdir=tmp_path / "again", cache=cache)
    assert again["cached"]
    assert {k: again[k] for k in ("lut", "ff", "carry", "cells_by_type")} == \
        {k: r[k] for k in ("lut", "ff", "carry", "cells_by_type")}


@pytest.mark.parametrize("target", ["ice40", "ice40-dsp", "generic", "asic"])
def test_netlist_resimulation_matches_golden(tmp_path, cache, target):
    from sim.runner import run_cocotb
    require("iverilog")
    comp = MacArray(CFG)
    sources = netlist(CFG, comp, workdir=tmp_path / "synth", target=target, cache=cache)
    assert all(p.exists() for p in sources)
    res = run_cocotb(CFG, comp, _scenario(comp), simulator="icarus", build_dir=tmp_path / "sim",
                     sources=sources)
    assert res.checked > 0
    assert res.mismatches == []
    if target == "ice40-dsp":
        r = synthesize(CFG, comp, target=target, workdir=tmp_path / "synth", cache=cache)
        assert r["cached"] and r["dsp"] >= 1


@pytest.mark.parametrize("change", [{"acc_width": 17}, {"pipelined": True}],
                         ids=["acc_width17", "pipelined"])
def test_mutant_netlist_is_caught(tmp_path, cache, change):
    """A netlist of another configuration, run against the 32-bit golden, must mismatch."""
    from sim.runner import run_cocotb
    require("iverilog")
    comp = MacArray(CFG)
    mutant = to_verilog(MacArray(CFG.replace(**change)), CFG.module_name)
    sources = netlist(CFG, comp, workdir=tmp_path / "synth", target="generic", verilog=mutant,
                      cache=cache)
    res = run_cocotb(CFG, comp, _scenario(comp), simulator="icarus", build_dir=tmp_path / "sim",
                     sources=sources)
    assert res.mismatches


def _liberty_areas(path):
    """Cell name -> area, read from the Liberty text (independently of Yosys's parser)."""
    import re
    areas = {}
    for chunk in re.split(r"\bcell\s*\(", open(path).read())[1:]:
        areas[re.match(r"\s*(\w+)", chunk).group(1)] = \
            float(re.search(r"\barea\s*:\s*([0-9.]+)", chunk).group(1))
    return areas


def test_asic_fp_add_area_and_delay(tmp_path, cache):
    """The default FP12 adder on the OSU 0.18 um cells: the area is the Liberty area of the
    cells reported, its flip-flops are its 17 output-register bits, OpenSTA gives a delay."""
    from golden.fp_add import FpAddConfig
    from hw.fp_add import FpAdd
    from hw.synth.flow import ASIC_NOTE, liberty_path
    require("sta")
    cfg = FpAddConfig()
    r = synthesize(cfg, FpAdd(cfg), target="asic", workdir=tmp_path, cache=cache)
    areas = _liberty_areas(liberty_path())
    assert len(areas) == 32
    assert set(r["cells_by_type"]) <= set(areas)
    assert r["cells"] == sum(r["cells_by_type"].values()) > 0
    assert r["area_um2"] == pytest.approx(sum(areas[t] * n for t, n in r["cells_by_type"].items()))
    # registered output: 12-bit result + nan/ovf flags, valid, two sticky flags
    assert r["ff"] == r["cells_by_type"]["DFFPOSX1"] == 12 + 2 + 1 + 2
    assert r["sequential_area_um2"] == 17 * areas["DFFPOSX1"]
    assert r["lut"] is None and r["asic_note"] == ASIC_NOTE and "no placement" in ASIC_NOTE
    if r["yosys_version"] == "Yosys 0.70":
        # the manual trial recorded in issue 12 (Yosys 0.70, same passes): 603 cells, 19,244
        assert (r["cells"], r["area_um2"]) == (603, 19244.0)
    assert r["delay_source"].startswith("OpenSTA")
    assert 0.5 < r["critical_path_ns"] < 50
    again = synthesize(cfg, FpAdd(cfg), target="asic", workdir=tmp_path / "again", cache=cache)
    assert again["cached"]
    assert {k: again[k] for k in ("area_um2", "cells_by_type", "critical_path_ns")} == \
        {k: r[k] for k in ("area_um2", "cells_by_type", "critical_path_ns")}


def test_asic_without_opensta_still_reports_area(tmp_path, monkeypatch):
    """Without OpenSTA the area is reported and the delay is None with a one-sentence reason."""
    from golden.fp_add import FpAddConfig
    from hw.fp_add import FpAdd
    monkeypatch.setattr("shutil.which", lambda name, *a, **k: None if name == "sta" else
                        "/usr/bin/" + name)
    cfg = FpAddConfig()
    r = synthesize(cfg, FpAdd(cfg), target="asic", workdir=tmp_path, cache=False)
    assert r["area_um2"] > 0 and r["critical_path_ns"] is None and r["delay_source"] is None
    assert "OpenSTA" in r["sta_error"] and "make setup" in r["sta_error"]


def test_asic_missing_liberty_is_one_sentence(tmp_path, monkeypatch, capsys):
    from sim.cli import main
    missing = tmp_path / "nowhere" / "cells.lib"
    monkeypatch.setenv("LOBIT_LIBERTY", str(missing))
    with pytest.raises(ConfigError, match=r"Liberty file .*nowhere/cells\.lib does not exist: "
                                          r"run `make setup`"):
        synthesize(CFG, None, target="asic", workdir=tmp_path, verilog="module x; endmodule\n")
    assert main(["synth", "fp_add", "--target", "asic", "--workdir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lobit: error: the standard-cell Liberty file ")
    assert str(missing) in err and "make setup" in err and err.count(". ") == 0 and "\n" not in err


def test_unknown_target_and_device_rejected(tmp_path):
    # validation happens before the component is emitted, so none is needed
    with pytest.raises(ConfigError, match=r"'xilinx'.*ice40, ice40-dsp, generic, asic"):
        synthesize(CFG, None, target="xilinx", workdir=tmp_path)
    with pytest.raises(ConfigError, match=r"'ecp5'.*hx8k"):
        synthesize(CFG, None, target="ice40", workdir=tmp_path, fmax=True, device="ecp5")


def test_yosys_failure_names_log(tmp_path):
    bad = f"module {CFG.module_name}(input clk); wire [3:0] x = ; endmodule\n"
    with pytest.raises(RuntimeError, match=r"script\.log"):
        synthesize(CFG, None, target="generic", workdir=tmp_path, verilog=bad, cache=False)


def test_harness_covers_every_port():
    comp = MacArray(CFG)
    text = to_verilog(comp, CFG.module_name)
    ports = verilog_ports(text, CFG.module_name)
    hv, info = harness_verilog(text, CFG.module_name)
    ins = [p for p in ports if p["direction"] == "input" and p["name"] not in ("clk", "rst")]
    outs = [p for p in ports if p["direction"] == "output"]
    assert info["shift_bits"] == sum(p["width"] for p in ins) == 2 * 8 + 2 * 8 + 1 + 2
    assert info["observed_bits"] == sum(p["width"] for p in outs)
    for p in ports:
        assert f".{p['name']}(" in hv
    assert f"module {info['module']}(clk, rst, din, q);" in hv


def test_fmax_2x2(tmp_path, cache):
    comp = MacArray(CFG)
    r = synthesize(CFG, comp, target="ice40", workdir=tmp_path, fmax=True, cache=cache)
    assert "fmax_error" not in r, r.get("fmax_error")
    assert isinstance(r["fmax_mhz"], float) and 10 < r["fmax_mhz"] < 500
    assert r["device"] == "hx8k-ct256"
    assert 0 <= r["harness_lut"] < r["lut"]
    assert r["harness_ff"] >= r["harness_shift_bits"]
    assert r["utilization"]["SB_IO"]["used"] == 4
