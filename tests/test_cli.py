"""The lobit CLI: help everywhere, every registered block emits Verilog, clean errors."""

import json
import subprocess
import sys

import pytest

from sim.blocks import all_blocks
from hw.toolchain import REPO


def lobit(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "sim.cli", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("cmd", [[], ["blocks"], ["verilog"], ["sim"], ["synth"], ["cycles"]])
def test_help(cmd):
    r = lobit(*cmd, "--help")
    assert r.returncode == 0 and "usage: lobit" in r.stdout


def test_blocks_lists_params_with_ranges():
    r = lobit("blocks", "--json")
    assert r.returncode == 0
    d = json.loads(r.stdout)
    assert set(d) == set(all_blocks())
    rows = {p["name"]: p for p in d["mac_array"]["params"]}
    assert rows["rows"]["range"] == [1, 64] and rows["rows"]["default"] == 4
    assert rows["overflow"]["choices"] == ["wrap", "saturate"]


@pytest.mark.parametrize("name", sorted(all_blocks()))
def test_verilog_and_sidecar_for_every_block(tmp_path, name):
    r = lobit("verilog", name, "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    block = all_blocks()[name]
    cfg = block.config()
    v = tmp_path / f"{cfg.module_name}.v"
    side = json.loads((tmp_path / f"{cfg.module_name}.json").read_text())
    assert f"module {cfg.module_name}(" in v.read_text()
    assert side["config"] == json.loads(json.dumps(cfg.to_dict()))
    assert side["streams"] and "timing" in side and "latency" in side["timing"]


def test_verilog_with_params(tmp_path):
    r = lobit("verilog", "mac_array", "--param", "rows=2", "-p", "cols=3", "-p", "pipelined=true",
              "-o", str(tmp_path))
    assert r.returncode == 0, r.stderr
    side = json.loads((tmp_path / "mac_array_r2_c3_a8_b8_acc32_p1_wrap.json").read_text())
    assert side["timing"]["latency"] == 3 + 1 + 1


def test_sim_amaranth_reports_counts():
    r = lobit("sim", "mac_array", "-p", "rows=2", "-p", "cols=2", "--vectors", "40", "--gap", "0.2",
              "--stall", "0.2")
    assert r.returncode == 0, r.stderr
    assert "mismatches:      0" in r.stdout and "cycles/s:" in r.stdout
    assert "vectors checked: 40" in r.stdout


def test_sim_writes_vcd(tmp_path):
    vcd = tmp_path / "w.vcd"
    r = lobit("sim", "mac_array", "-p", "rows=2", "-p", "cols=2", "--vectors", "8", "--vcd", str(vcd))
    assert r.returncode == 0, r.stderr
    assert "inp__valid" in vcd.read_text() or "valid" in vcd.read_text()


def test_cycles_command():
    r = lobit("cycles", "mac_array", "-p", "rows=8", "-p", "cols=8", "--gemm", "64", "256", "8")
    assert r.returncode == 0
    assert "2064 cycles" in r.stdout        # 8 tiles x 256 + cols + rows
    # a huge GEMM is closed-form: instant, no M x N array
    r = lobit("cycles", "mac_array", "--gemm", str(1 << 30), "64", str(1 << 30), timeout=60)
    assert r.returncode == 0 and "tiles" in r.stdout


@pytest.mark.parametrize("args, msg", [
    (["sim", "mac_array", "-p", "rows=0"],
     "mac_array parameter rows=0 is out of range: allowed values are an integer in 1..64."),
    (["verilog", "mac_array", "-p", "a_width=99", "-o", "x"],
     "mac_array parameter a_width=99 is out of range: allowed values are an integer in 2..16."),
    (["sim", "nosuchblock"], "unknown block 'nosuchblock': known blocks are"),
    (["sim", "mac_array", "-p", "rows"], "malformed --param 'rows': expected NAME=VALUE"),
    (["sim", "mac_array", "-p", "rows=eight"],
     "mac_array parameter rows='eight' is invalid: allowed values are an integer in 1..64."),
    (["synth", "mac_array", "--target", "ecp5"],
     "target 'ecp5' is unknown: allowed values are ice40, ice40-dsp, generic, asic."),
    (["sim", "mac_array", "--simulator", "vcs"], "invalid choice: 'vcs'"),
    (["sim", "mac_array", "--vectors", "0"], "--vectors 0 is out of range"),
    (["cycles", "mac_array", "--gemm", "0", "4", "4"], "GEMM dimension M=0 is out of range"),
    (["sim", "mac_array", "--simulator", "verilator", "--vcd", "x.vcd"], "--vcd is supported with"),
    # paths, sizes and numeric ranges of every option (issue: tracebacks and unbounded memory)
    (["verilog", "mac_array", "-o", "/proc/x"], "-o/--output '/proc/x' cannot be used as a directory"),
    (["verilog", "mac_array", "-o", "README.md/sub"],
     "-o/--output 'README.md/sub' cannot be used as a directory"),
    (["sim", "mac_array", "--vectors", "1000000000000000"],
     "--vectors 1000000000000000 is out of range for --simulator amaranth: allowed values are "
     "1..1,000,000 (use --simulator native"),
    (["sim", "mac_array", "--simulator", "native", "--vectors", "1000000000000000"],
     "--vectors 1000000000000000 is out of range for --simulator native"),
    (["sim", "mac_array", "--seed", "-1"], "--seed -1 is out of range: allowed values are 0..2**63-1."),
    (["sim", "mac_array", "--gap", "nan"], "--gap nan is out of range"),
    (["sim", "mac_array", "--stall", "1"], "--stall 1.0 is out of range"),
    (["sim", "mac_array", "--vcd", "/no/such/dir/w.vcd"],
     "--vcd '/no/such/dir/w.vcd' cannot be written: its directory does not exist"),
    (["sim", "mac_array", "--vcd", "docs"], "--vcd 'docs' is a directory"),
    (["sim", "mac_array", "--simulator", "icarus", "--build-dir", "/proc/b"],
     "--build-dir '/proc/b' cannot be used as a directory"),
    (["synth", "lfsr", "--workdir", "/proc/w"], "--workdir '/proc/w' cannot be used as a directory"),
    (["cycles", "mac_array", "--gemm", "4", "4", str(1 << 41)],
     "GEMM dimension N=2199023255552 is out of range: allowed values are 1..1099511627776"),
    (["cycles", "mac_array", "--gemm", "4", "x", "4"], "invalid int value: 'x'"),
    (["sim", "mac_array", "--simulator", "native", "--batch-vectors", "0"],
     "--batch-vectors 0 is out of range"),
])
def test_bad_input_exits_2_without_traceback(args, msg):
    r = lobit(*args)
    assert r.returncode == 2
    assert msg in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


def test_icarus_vcd(tmp_path):
    vcd = tmp_path / "ic.vcd"
    r = lobit("sim", "mac_array", "-p", "rows=2", "-p", "cols=2", "--vectors", "8", "--simulator",
              "icarus", "--vcd", str(vcd), "--build-dir", str(tmp_path / "b"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "out__valid" in vcd.read_text()


def test_output_pipe_closed_early_is_quiet():
    """`lobit blocks | head -1`: the closed pipe ends the command quietly (no traceback)."""
    r = subprocess.run(f"{sys.executable} -m sim.cli blocks | head -1", shell=True, cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.stdout.count("\n") == 1
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr

