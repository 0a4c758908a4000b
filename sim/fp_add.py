"""Transactions of the FP(e, m) adder: operand pairs -> input beats, golden sums -> output beats."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from golden.fp_add import FpAddConfig, fp_add_block
from golden.minifloat import FpFormat, classify, encode
from .transactors import Scenario

__all__ = ["pack_columns", "special_operands", "random_operands", "scenario_from_operands",
           "scenario", "enumeration_wrapper", "build_enumerator", "run_enumerated", "SPEC"]


def dot_product_beats(fields, dots, width=None) -> list:
    """Input beats ``{data, last}`` of an accumulator for a list of dot products (addend arrays);
    with ``width`` the addends are masked to that many bits (two's complement)."""
    data = np.concatenate([np.asarray(d, dtype=np.int64) for d in dots])
    if width is not None:
        data = data & ((1 << width) - 1)
    last = np.concatenate([np.arange(len(d)) == len(d) - 1 for d in dots]).astype(np.int64)
    return pack_columns(fields, {"data": data, "last": last})


def result_beats(fields, results, names):
    """Output beats of one result per dot product; returns ``(beats, {name: column})``."""
    cols = {n: np.array([int(getattr(r, n)[0]) for r in results]) for n in names}
    return pack_columns(fields, cols), cols


def pack_columns(fields, columns) -> list:
    """Pack payload fields given as equal-length integer arrays into a list of packed ints.

    ``fields`` is a layout from the sidecar/:func:`hw.emit.layout_fields` (top-level fields only);
    ``columns`` maps each field name to an array. Vectorized form of :func:`sim.transactors.pack`.
    """
    word = None
    for f in fields:
        name = f["path"][0]
        col = np.asarray(columns[name]).astype(np.int64)
        w = f["width"]
        if col.size and (col.min() < 0 or col.max() >= (1 << w)):
            raise ValueError(f"payload field {name} holds a value out of range: allowed values "
                             f"are 0..{(1 << w) - 1}.")
        part = col << f["offset"]
        word = part if word is None else word | part
    return [int(v) for v in word.tolist()]


def special_operands(fmt: FpFormat) -> np.ndarray:
    """Bit patterns of every special class, both signs: zeros, smallest/largest subnormal,
    smallest normal and its neighbours, one, largest finite and its neighbour, and (with
    ``inf_nan``) Inf, the canonical NaN and the NaNs with the smallest and largest payload."""
    m = fmt.m
    mags = {0, 1, (1 << m) - 1, 1 << m, (1 << m) + 1, fmt.bias << m, (fmt.bias << m) + 1,
            fmt.max_code, fmt.max_code - 1}
    if fmt.inf_nan:
        mags |= {fmt.inf_code, fmt.nan_code, fmt.inf_code + 1, fmt.inf_code | ((1 << m) - 1)}
    mags = sorted(v for v in mags if 0 <= v <= fmt.mag_mask)
    return np.array(mags + [v | fmt.sign_bit for v in mags], dtype=np.int64)


def random_operands(fmt: FpFormat, n: int, rng: np.random.Generator):
    """``n`` operand pairs ``(a, b)`` mixing uniform codes with the hard cases.

    About 35% uniform random patterns; 15% one special operand (see :func:`special_operands`);
    10% both special; 10% cancellations (``b`` = ``-a`` up to a few codes); 10% exact ties
    (``b = +-1/2`` or ``+-3/2`` ulp of ``a``); 10% near exponents (difference 0..m+3);
    10% near the saturation point (``a`` within a few codes of max, ``b`` of a similar size).
    """
    full = 1 << fmt.width
    sp = special_operands(fmt)
    a = rng.integers(0, full, n, dtype=np.int64)
    b = rng.integers(0, full, n, dtype=np.int64)
    kind = rng.choice(8, size=n, p=[0.35, 0.15, 0.10, 0.10, 0.10, 0.10, 0.05, 0.05])
    k = kind == 1
    a[k] = rng.choice(sp, k.sum())
    k = kind == 2
    a[k] = rng.choice(sp, k.sum())
    b[k] = rng.choice(sp, k.sum())
    k = kind == 3
    off = rng.integers(-3, 4, k.sum())
    b[k] = np.clip((a[k] & fmt.mag_mask) + off, 0, fmt.max_code) | ((a[k] ^ fmt.sign_bit) & fmt.sign_bit)
    k = np.flatnonzero(kind == 4)
    if k.size:
        ca = classify(fmt, a[k])
        a[k] = np.where(ca["nan"] | ca["inf"], a[k] & ~(1 << (fmt.e + fmt.m - 1)), a[k])
        ca = classify(fmt, a[k])
        mult = rng.choice([1.0, 3.0], k.size)
        sgn = rng.choice([-1.0, 1.0], k.size)
        v = sgn * mult * np.ldexp(1.0, (ca["q"] - 1).astype(np.int64))
        bb, _ = encode(fmt, v, "rtz")
        b[k] = bb
    k = np.flatnonzero(kind == 5)
    if k.size:
        ea = (a[k] >> fmt.m) & fmt.exp_ones
        eb = np.clip(ea - rng.integers(0, fmt.m + 4, k.size), 0, fmt.exp_ones)
        b[k] = (b[k] & (fmt.sign_bit | ((1 << fmt.m) - 1))) | (eb << fmt.m)
    k = np.flatnonzero(kind == 6)
    if k.size:
        a[k] = (fmt.max_code - rng.integers(0, 4, k.size)) | (rng.integers(0, 2, k.size) << (fmt.e + fmt.m))
        b[k] = (fmt.max_code - rng.integers(0, 3 << fmt.m, k.size)) | (a[k] & fmt.sign_bit)
    k = np.flatnonzero(kind == 7)
    if k.size:
        a[k] = fmt.max_code | (rng.integers(0, 2, k.size) << (fmt.e + fmt.m))
        b[k] = rng.integers(0, full, k.size)
    return a, b


def scenario_from_operands(cfg: FpAddConfig, layouts, a, b) -> Scenario:
    """A scenario for explicit operand arrays, expectations from the golden model."""
    res = fp_add_block(cfg, a, b)
    beats = pack_columns(layouts["inp"], {"a": a, "b": b})
    outs = pack_columns(layouts["out"], {"bits": res.bits, "nan": res.nan, "ovf": res.ovf})
    n = len(beats)
    return Scenario(inputs={"inp": beats}, outputs={"out": outs},
                    out_cycles={"out": cfg.out_cycles(n)}, vectors=n,
                    check_ports={"nan_seen": int(res.nan.any()), "overflow": int(res.ovf.any())})


def scenario(cfg: FpAddConfig, layouts, rng: np.random.Generator, vectors: int) -> Scenario:
    """``vectors`` random operand pairs from :func:`random_operands`."""
    a, b = random_operands(cfg.fmt, int(vectors), rng)
    return scenario_from_operands(cfg, layouts, a, b)


# --- enumerating self-checked run on Verilator (the exhaustive FP12 hardware check) -----------

_WRAPPER = "lobit_fp_add_enum"

_MAIN_CPP = f"""// lobit: clock driver of the enumerating fp_add testbench (generated by sim/fp_add.py)
#include "V{_WRAPPER}.h"
#include "verilated.h"
int main(int argc, char** argv) {{
    VerilatedContext ctx;
    ctx.commandArgs(argc, argv);
    V{_WRAPPER} top{{&ctx}};
    top.clk = 0;
    top.eval();
    while (!ctx.gotFinish()) {{
        top.clk = !top.clk;
        top.eval();
    }}
    top.final();
    return 0;
}}
"""


def enumeration_wrapper(cfg: FpAddConfig) -> str:
    """Verilog testbench module ``lobit_fp_add_enum`` around the emitted ``cfg.module_name``.

    It enumerates operand pairs in hardware: pair ``k`` (``k = 0 .. count-1``) is the input
    payload ``(start + k * stride) mod 2**(2w)`` (``a`` = low ``w`` bits, ``b`` = high ``w``
    bits; ``w = 1+e+m``), one pair per cycle with ``inp.valid`` held high and ``out.ready``
    high (``clk`` is the only port; reset is held for the first 3 cycles), and writes every
    transferred result payload ``{ovf, nan, bits}`` as one fixed-width hexadecimal line to the
    file ``+out=``. Plusargs: ``+start=``, ``+count=``, ``+stride=``,
    ``+out=``. At the end it prints ``LOBIT_ENUM outputs=<n> first_in=<cycle>
    last_out=<cycle> nan_seen=<0/1> overflow=<0/1>``; a run that does not finish within
    ``count + 64`` cycles prints ``LOBIT_ENUM timeout``.
    """
    w = cfg.fmt.width
    pw = 2 * w
    ow = w + 2
    return f"""// lobit: enumerating testbench for {cfg.module_name} (generated by sim/fp_add.py)
module {_WRAPPER}(input clk);
  reg [1:0] rst_count = 2'd0;
  wire rst = rst_count != 2'd3;
  reg [63:0] start, count, stride, k, cycle, outputs, first_in, last_out;
  reg done = 1'b0;
  reg [{pw - 1}:0] pair;
  reg [1023:0] path;
  integer fd;
  wire in_valid = !rst && (k < count);
  wire in_ready, out_valid, nan_seen, overflow;
  wire [{ow - 1}:0] out_payload;
  {cfg.module_name} dut (.clk(clk), .rst(rst), .inp__valid(in_valid), .inp__ready(in_ready),
    .inp__payload(pair), .out__valid(out_valid), .out__ready(1'b1),
    .out__payload(out_payload), .nan_seen(nan_seen), .overflow(overflow));
  initial begin
    if (!$value$plusargs("start=%d", start)) start = 0;
    if (!$value$plusargs("count=%d", count)) count = 0;
    if (!$value$plusargs("stride=%d", stride)) stride = 1;
    if (!$value$plusargs("out=%s", path)) path = "enum_out.hex";
    fd = $fopen(path, "w");
    k = 0; cycle = 0; outputs = 0; first_in = 0; last_out = 0;
    pair = start[{pw - 1}:0];
  end
  always @(posedge clk) if (rst) rst_count <= rst_count + 2'd1;
  always @(posedge clk) if (!rst) begin
    if (in_valid && in_ready) begin
      if (k == 0) first_in <= cycle;
      k <= k + 1;
      pair <= pair + stride[{pw - 1}:0];
    end
    if (out_valid) begin
      $fwrite(fd, "%h\\n", out_payload);
      outputs <= outputs + 1;
      last_out <= cycle;
      if (outputs + 1 == count) done <= 1'b1;
    end
    cycle <= cycle + 1;
    if (done) begin                   // one cycle later: the sticky flags include the last result
      $fclose(fd);
      $display("LOBIT_ENUM outputs=%0d first_in=%0d last_out=%0d nan_seen=%0d overflow=%0d",
               outputs, first_in, last_out, nan_seen, overflow);
      $finish;
    end
    if (cycle > count + 64) begin
      $fclose(fd);
      $display("LOBIT_ENUM timeout outputs=%0d", outputs);
      $finish;
    end
  end
endmodule
"""


def build_enumerator(cfg: FpAddConfig, cache_dir=None) -> Path:
    """Build (once) the Verilator binary of :func:`enumeration_wrapper` + the emitted adder.

    A small C++ main toggles the wrapper's ``clk`` until ``$finish`` (no Verilator timing
    support is needed).

    The build directory is ``<cache_dir>/<module>-<hash>`` with a hash of both Verilog texts and
    the Verilator version, so every run with identical Verilog reuses one build (a file lock
    serializes concurrent builders, e.g. pytest-xdist workers). Returns the binary's path.
    """
    import fcntl
    import hashlib
    import subprocess
    from hw.emit import to_verilog
    from .runner import VERILATOR_ARGS
    from hw.toolchain import REPO, setup_env
    setup_env()
    dut = to_verilog(_component(cfg), cfg.module_name)
    tb = enumeration_wrapper(cfg)
    ver = subprocess.run(["verilator", "--version"], capture_output=True, text=True,
                         check=True).stdout.strip()
    key = hashlib.sha256("\0".join([dut, tb, ver, *VERILATOR_ARGS]).encode()).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir is not None else REPO / ".cache" / "verilator_enum"
    d = (root / f"{cfg.module_name}-{key}").resolve()
    d.mkdir(parents=True, exist_ok=True)
    exe = d / "obj_dir" / f"V{_WRAPPER}"
    with open(d / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not exe.exists():
            (d / f"{cfg.module_name}.v").write_text(dut)
            (d / f"{_WRAPPER}.v").write_text(tb)
            (d / "main.cpp").write_text(_MAIN_CPP)
            cmd = ["verilator", "--cc", "--exe", "--build", "-j", "0", "-O3", *VERILATOR_ARGS,
                   "--top-module", _WRAPPER, f"{_WRAPPER}.v", f"{cfg.module_name}.v",
                   "main.cpp"]
            r = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
            if r.returncode != 0 or not exe.exists():
                (d / "build.log").write_text(r.stdout + r.stderr)
                raise RuntimeError(f"verilator build of the fp_add enumerator failed: see "
                                   f"{d / 'build.log'}")
    return exe


def _read_hex_lines(path, first, n, digits):
    """Lines ``first .. first+n-1`` of a file of fixed-width hex lines, as int64."""
    raw = np.fromfile(path, dtype=np.uint8, count=n * (digits + 1), offset=first * (digits + 1))
    if raw.size != n * (digits + 1):
        raise RuntimeError(f"{path} holds fewer than {first + n} result lines.")
    raw = raw.reshape(n, digits + 1)
    if not (raw[:, digits] == ord("\n")).all():
        raise RuntimeError(f"{path} is not a file of {digits}-digit hex lines.")
    d = raw[:, :digits].astype(np.int64)
    d = np.where(d >= ord("a"), d - ord("a") + 10, d - ord("0"))
    if d.min() < 0 or d.max() > 15:
        raise RuntimeError(f"{path} holds a non-hex digit (x/z in the simulation?).")
    v = np.zeros(n, dtype=np.int64)
    for j in range(digits):
        v = (v << 4) | d[:, j]
    return v


def run_enumerated(cfg: FpAddConfig, *, start=0, count=None, stride=1, workdir,
                   chunk=1 << 20, cache_dir=None, expect_cfg: FpAddConfig | None = None) -> dict:
    """Run ``count`` enumerated operand pairs (default: every pair, ``2**(2w)``) through the
    emitted Verilog on Verilator and compare every result bit-exactly with the golden model.

    Pair ``k`` is ``p = (start + k*stride) mod 2**(2w)``, ``a = p mod 2**w``, ``b = p >> w``
    (see :func:`enumeration_wrapper`). The golden sums are computed in chunks of ``chunk`` pairs
    and compared with the hardware's result file (``{bits, nan, ovf}`` per pair, integer
    equality); the cycle of the last result (``first_in + count - 1 + latency``) and the sticky
    flags are checked too. ``expect_cfg`` computes the expectations with another configuration
    of the same width (only used to show that a wrong adder is caught); ``cache_dir`` is where
    :func:`build_enumerator` keeps its builds (default ``.cache/verilator_enum``).

    Returns
    -------
    dict
        ``checked`` (pairs compared), ``mismatches`` (count), ``examples`` (up to 5
        ``(a, b, hw_bits, hw_nan, hw_ovf, golden_bits, golden_nan, golden_ovf)``),
        ``timing_ok``, ``flags_ok``, ``build_seconds``, ``sim_seconds``, ``check_seconds``.
    """
    import subprocess
    import time
    w = cfg.fmt.width
    total = 1 << (2 * w)
    count = total if count is None else int(count)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    exe = build_enumerator(cfg, cache_dir)
    t1 = time.perf_counter()
    out = workdir / "enum_out.hex"
    r = subprocess.run([str(exe), f"+start={start}", f"+count={count}", f"+stride={stride}",
                        f"+out={out}"], capture_output=True, text=True, cwd=workdir)
    t2 = time.perf_counter()
    line = [s for s in r.stdout.splitlines() if s.startswith("LOBIT_ENUM")]
    if r.returncode != 0 or not line or "timeout" in line[-1]:
        raise RuntimeError(f"enumerated fp_add run failed (rc {r.returncode}): "
                           f"{(r.stdout + r.stderr)[-2000:]}")
    info = dict(kv.split("=") for kv in line[-1].split()[1:])
    digits = -(-(w + 2) // 4)
    mismatches, examples = 0, []
    any_nan = any_ovf = False
    for first in range(0, count, chunk):
        n = min(chunk, count - first)
        p = (start + (first + np.arange(n, dtype=np.int64)) * stride) % total
        a, b = p & ((1 << w) - 1), p >> w
        g = fp_add_block(cfg if expect_cfg is None else expect_cfg, a, b)
        exp = g.bits | (g.nan.astype(np.int64) << w) | (g.ovf.astype(np.int64) << (w + 1))
        got = _read_hex_lines(out, first, n, digits)
        bad = np.flatnonzero(got != exp)
        mismatches += bad.size
        any_nan |= bool(g.nan.any())
        any_ovf |= bool(g.ovf.any())
        for i in bad[:5 - len(examples)]:
            examples.append((int(a[i]), int(b[i]), int(got[i]) & ((1 << w) - 1),
                             int(got[i] >> w) & 1, int(got[i] >> (w + 1)), int(g.bits[i]),
                             int(g.nan[i]), int(g.ovf[i])))
    t3 = time.perf_counter()
    lines = out.stat().st_size // (digits + 1)
    timing_ok = (int(info["last_out"]) - int(info["first_in"]) == count - 1 + cfg.latency
                 and int(info["outputs"]) == count == lines)
    flags_ok = (int(info["nan_seen"]), int(info["overflow"])) == (int(any_nan), int(any_ovf))
    out.unlink()
    return {"checked": count, "mismatches": int(mismatches), "examples": examples,
            "timing_ok": bool(timing_ok), "flags_ok": bool(flags_ok),
            "build_seconds": round(t1 - t0, 2), "sim_seconds": round(t2 - t1, 2),
            "check_seconds": round(t3 - t2, 2)}


def _component(cfg):
    from hw.fp_add import FpAdd
    return FpAdd(cfg)


from .blocks import BlockSpec  # noqa: E402

SPEC = BlockSpec(
    name="fp_add",
    config=FpAddConfig,
    component=_component,
    scenario=scenario,
    summary="parameterized FP(e, m) adder (default FP12 E5M6): align with guard/round/sticky, "
            "add, normalize, round RNE/RTZ; saturating, IEEE Inf/NaN or no-Inf/NaN mode",
    demo_configs=({}, {"pipelined": True}, {"exp_bits": 6, "man_bits": 5},
                  {"exp_bits": 4, "man_bits": 3}, {"rounding": "rtz"}),
)
