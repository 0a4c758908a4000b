"""Native simulation: the emitted Verilog on a plain Verilator model driven by a C++ clock loop.

``lobit sim BLOCK --simulator native`` and the ``native`` rung of the ladder run here. The
cocotb path crosses from Python into the simulator every cycle; here Python hands the whole
stimulus and the expected outputs of a batch to a C++ harness in one call and gets every output
transfer (payload and cycle) back once per batch.

How a run works
---------------
1. :func:`harness_source` generates a C++ harness from the JSON sidecar (:func:`hw.emit.sidecar`):
   one setter/getter per port (Verilator's C++ port types: ``CData``..``QData`` up to 64 bits,
   ``VlWide`` arrays of 32-bit words above), the stream driver/monitor loop and a C ABI.
2. :func:`build` verilates the Verilog (top-level ports only, no ``--public-flat-rw``; ``-O3``,
   ``--x-assign fast --x-initial fast``) and links model + harness into a shared library under
   ``.cache/native/<module>-<hash>/``; the hash covers the Verilog, the harness, the Verilator
   version and every flag, and a file lock serializes concurrent builders (pytest-xdist).
3. :class:`NativeSim` loads the library with :mod:`ctypes` (no extra dependency; the ABI is a
   handful of functions taking pointers to NumPy buffers, so a binding generator buys nothing),
   resets the model, and runs batches: payloads travel as ``uint32`` word arrays (word ``k`` =
   bits ``32k .. 32k+31``), whatever their width.
4. The recorded transfers are fed to the existing :class:`sim.transactors.Scoreboard`, so the
   checks are those of every other rung: bit-exact payload equality, order, nothing lost or
   duplicated, ``check_ports`` at the end, and with no gaps/stalls the cycle of every output
   transfer against ``scenario.out_cycles``. The C++ loop also compares each transfer with the
   expected words as it arrives; both counts must agree.

Cycle semantics are those of :func:`sim.transactors.run_cycles`: per cycle the drivers and
monitors set ``valid``/``payload``/``ready``, the model settles (``eval`` with ``clk`` low), the
transfers are sampled, and one rising edge follows. Valid gaps and ready stalls come from
:class:`SplitMix64` generators, one per stream, whose sequence Python reproduces exactly.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .transactors import RunResult, Scenario, Scoreboard, unpack

__all__ = ["SplitMix64", "stream_seeds", "threshold", "harness_source", "build", "NativeBuild",
           "NativeSim", "NativeRunResult", "build_directory", "run_native", "run_native_batches", "to_words",
           "from_words", "transfer_report", "NativeError", "VERILATOR_FLAGS"]

MASK64 = (1 << 64) - 1

#: Verilator flags of every native build (part of the cache key).
VERILATOR_FLAGS = ("-O3", "--x-assign", "fast", "--x-initial", "fast", "-Wno-fatal",
                   "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-UNOPTFLAT")
#: C++ compiler flags of the model and the harness (part of the cache key).
CXX_FLAGS = ("-fPIC", "-fvisibility=hidden")
#: optimization levels of Verilator's generated makefile (part of the cache key): the model's
#: per-cycle code and the harness at -O2; constructors/initial code and the Verilator runtime
#: library, which are off the per-cycle path, at -O0 (shorter builds)
MAKE_OPT = "OPT_FAST=-O2 OPT_SLOW=-O0 OPT_GLOBAL=-O0"
RESET_CYCLES = 3


class NativeError(RuntimeError):
    """The native build or run failed for a reason outside the design (compiler, library)."""


# ------------------------------------------------------------------------------------------------
# The random generator shared by C++ and Python

class SplitMix64:
    """SplitMix64 (Steele, Lea, Flood 2014), the generator of the native harness's gaps/stalls.

    ``next()`` returns the same 64-bit sequence as ``lobit_splitmix64`` in the C++ harness.
    A decision with probability ``p`` is ``(next() >> 11) < threshold(p)``.
    """

    def __init__(self, state: int):
        self.state = int(state) & MASK64

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def hit(self, thr: int) -> bool:
        """One draw: True with probability ``thr / 2**53``."""
        return (self.next() >> 11) < thr


def threshold(p: float) -> int:
    """Integer threshold of probability ``p`` for :meth:`SplitMix64.hit` (``floor(p * 2**53)``)."""
    return int(p * (1 << 53))


def stream_seeds(seed: int, n: int) -> list:
    """Initial generator state of each of ``n`` streams (inputs in sidecar order, then outputs):
    the first ``n`` outputs of a SplitMix64 seeded with ``seed``."""
    g = SplitMix64(seed)
    return [g.next() for _ in range(n)]


# ------------------------------------------------------------------------------------------------
# Payload words

def _nwords(width: int) -> int:
    return max(1, -(-width // 32))


def to_words(values, width: int) -> np.ndarray:
    """Packed unsigned payloads -> C-contiguous ``uint32`` array ``[len(values), nwords]``."""
    w = _nwords(width)
    n = len(values)
    if n == 0:
        return np.zeros((0, w), dtype=np.uint32)
    if w == 1:
        return np.asarray(values, dtype=np.uint64).astype(np.uint32).reshape(n, 1)
    if w == 2:
        return np.ascontiguousarray(np.asarray(values, dtype=np.uint64).view(np.uint32).reshape(n, 2))
    nb = 4 * w
    buf = b"".join(int(v).to_bytes(nb, "little") for v in values)
    return np.frombuffer(buf, dtype=np.uint32).reshape(n, w).copy()


def from_words(arr: np.ndarray) -> list:
    """Inverse of :func:`to_words`: a ``[n, nwords]`` ``uint32`` array -> list of Python ints."""
    n, w = arr.shape
    if n == 0:
        return []
    if w == 1:
        return arr[:, 0].astype(np.int64).tolist()
    if w == 2:
        return np.ascontiguousarray(arr).view(np.uint64).reshape(n).tolist()
    raw = np.ascontiguousarray(arr).view(np.uint8).reshape(n, 4 * w)
    return [int.from_bytes(r.tobytes(), "little") for r in raw]


# ------------------------------------------------------------------------------------------------
# Harness generation

def vname(name: str) -> str:
    """Verilator's C++ name of a Verilog port: every ``__`` is encoded as ``___05F``."""
    out, i = [], 0
    while i < len(name):
        if name.startswith("__", i):
            out.append("___05F")
            i += 2
        else:
            out.append(name[i])
            i += 1
    return "".join(out)


def _setter(port: str, width: int, src: str) -> str:
    w = _nwords(width)
    top = f"m->top->{vname(port)}"
    topmask = (1 << (width - 32 * (w - 1))) - 1
    if width <= 32:
        return f"{top} = {src}[0] & 0x{(1 << width) - 1:x}u;"
    if width <= 64:
        return (f"{top} = ((((uint64_t){src}[1]) << 32) | (uint64_t){src}[0]) & "
                f"0x{(1 << width) - 1:x}ULL;")
    body = " ".join(f"{top}[{k}] = {src}[{k}];" for k in range(w - 1))
    return f"{body} {top}[{w - 1}] = {src}[{w - 1}] & 0x{topmask:x}u;"


def _zero(port: str, width: int) -> str:
    w = _nwords(width)
    top = f"m->top->{vname(port)}"
    if width <= 64:
        return f"{top} = 0;"
    return " ".join(f"{top}[{k}] = 0;" for k in range(w))


def _getter(port: str, width: int, dst: str) -> str:
    w = _nwords(width)
    top = f"m->top->{vname(port)}"
    if width <= 32:
        return f"{dst}[0] = (uint32_t){top};"
    if width <= 64:
        return f"{dst}[0] = (uint32_t){top}; {dst}[1] = (uint32_t)(((uint64_t){top}) >> 32);"
    return " ".join(f"{dst}[{k}] = {top}[{k}];" for k in range(w))


def harness_source(side: dict) -> str:
    """C++ source of the native harness for the module described by sidecar ``side``.

    The harness exports a C ABI (``lobit_open``, ``lobit_reset``, ``lobit_set_port``,
    ``lobit_get_port``, ``lobit_run``, ``lobit_trace``, ``lobit_close``, ``lobit_splitmix64``)
    used by :class:`NativeSim`; :func:`build` compiles it with ``-DLOBIT_TRACE`` for the traced
    (VCD) variant.
    """
    top = side["module"]
    ins = [s for s in side["streams"] if s["direction"] == "in"]
    outs = [s for s in side["streams"] if s["direction"] == "out"]
    pin = [p for p in side["ports"] if p["direction"] == "in"]
    pout = [p for p in side["ports"] if p["direction"] == "out"]
    NI, NO = len(ins), len(outs)
    L = []
    a = L.append
    a(f"// lobit native harness for {top} (generated by sim/native.py from the JSON sidecar)")
    a(f'#include "V{top}.h"')
    a('#include "verilated.h"')
    a("#ifdef LOBIT_TRACE")
    a('#include "verilated_vcd_c.h"')
    a("#endif")
    a("#include <cstdint>")
    a("#include <cstring>")
    a('#define LOBIT_API extern "C" __attribute__((visibility("default")))')
    a(f"static const int NI = {max(NI, 1)}, NO = {max(NO, 1)};")
    a("static inline uint64_t lobit_next(uint64_t& s) {")
    a("    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);")
    a("    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;")
    a("    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;")
    a("    return z ^ (z >> 31);")
    a("}")
    a("static inline bool lobit_hit(uint64_t& s, uint64_t thr) { return (lobit_next(s) >> 11) < thr; }")
    a("struct Model {")
    a("    VerilatedContext* ctx;")
    a(f"    V{top}* top;")
    a("    uint64_t rs_in[NI], rs_out[NO];     // generator state per stream")
    a("    uint64_t gap_thr = 0, stall_thr = 0;")
    a("    int valid[NI];                      // driver: a beat is offered and held")
    a("    int64_t cycle = 0;")
    a("#ifdef LOBIT_TRACE")
    a("    VerilatedVcdC* tfp = nullptr;")
    a("    int64_t tr_lo = 0, tr_hi = -1;")
    a("#endif")
    a("};")
    a("static inline void dump(Model* m, int half) {")
    a("#ifdef LOBIT_TRACE")
    a("    if (m->tfp && m->cycle >= m->tr_lo && m->cycle <= m->tr_hi) m->tfp->dump((uint64_t)(10 * m->cycle + 5 * half));")
    a("#else")
    a("    (void)m; (void)half;")
    a("#endif")
    a("}")
    a("LOBIT_API uint64_t lobit_splitmix64(uint64_t seed, int64_t n, uint64_t* out) {")
    a("    for (int64_t i = 0; i < n; i++) out[i] = lobit_next(seed);")
    a("    return seed;")
    a("}")
    a(f'LOBIT_API const char* lobit_module() {{ return "{top}"; }}')
    a("LOBIT_API void* lobit_open(uint64_t seed, uint64_t gap_thr, uint64_t stall_thr) {")
    a("    Model* m = new Model();")
    a("    m->ctx = new VerilatedContext();")
    a("#ifdef LOBIT_TRACE")
    a("    m->ctx->traceEverOn(true);")
    a("#endif")
    a(f"    m->top = new V{top}(m->ctx);")
    a("    uint64_t s = seed;")
    a(f"    for (int i = 0; i < {NI}; i++) m->rs_in[i] = lobit_next(s);")
    a(f"    for (int i = 0; i < {NO}; i++) m->rs_out[i] = lobit_next(s);")
    a("    m->gap_thr = gap_thr; m->stall_thr = stall_thr;")
    a("    for (int i = 0; i < NI; i++) m->valid[i] = 0;")
    a("    m->top->clk = 0; m->top->rst = 0;")
    for s in ins:
        a(f"    m->top->{vname(s['name'] + '__valid')} = 0; {_zero(s['name'] + '__payload', s['payload_width'])}")
    for s in outs:
        a(f"    m->top->{vname(s['name'] + '__ready')} = 0;")
    for p in pin:
        a(f"    {_zero(p['name'], p['width'])}")
    a("    m->top->eval();")
    a("    return m;")
    a("}")
    a("LOBIT_API int lobit_trace(void* h, const char* path, int64_t lo, int64_t hi) {")
    a("#ifdef LOBIT_TRACE")
    a("    Model* m = (Model*)h;")
    a("    m->tfp = new VerilatedVcdC();")
    a("    m->top->trace(m->tfp, 99);")
    a("    m->tfp->open(path);")
    a("    m->tr_lo = lo; m->tr_hi = hi;")
    a("    return 1;")
    a("#else")
    a("    (void)h; (void)path; (void)lo; (void)hi;")
    a("    return 0;")
    a("#endif")
    a("}")
    a("LOBIT_API void lobit_close(void* h) {")
    a("    Model* m = (Model*)h;")
    a("    m->top->final();")
    a("#ifdef LOBIT_TRACE")
    a("    if (m->tfp) { m->tfp->close(); delete m->tfp; }")
    a("#endif")
    a("    delete m->top; delete m->ctx; delete m;")
    a("}")
    a("LOBIT_API void lobit_set_port(void* h, int idx, const uint32_t* w) {")
    a("    Model* m = (Model*)h;")
    a("    switch (idx) {")
    for i, p in enumerate(pin):
        a(f"    case {i}: {_setter(p['name'], p['width'], 'w')} break;")
    a("    default: break;")
    a("    }")
    a("}")
    a("LOBIT_API void lobit_get_port(void* h, int idx, uint32_t* w) {")
    a("    Model* m = (Model*)h;")
    a("    m->top->eval();")
    a("    switch (idx) {")
    for i, p in enumerate(pout):
        a(f"    case {i}: {{ {_getter(p['name'], p['width'], 'w')} }} break;")
    a("    default: break;")
    a("    }")
    a("}")
    a("// Reset as the cocotb test does: rst high, every valid/ready low, `cycles` rising edges.")
    a("LOBIT_API void lobit_reset(void* h, int cycles) {")
    a("    Model* m = (Model*)h;")
    a("    m->top->rst = 1;")
    for s in ins:
        a(f"    m->top->{vname(s['name'] + '__valid')} = 0;")
    for s in outs:
        a(f"    m->top->{vname(s['name'] + '__ready')} = 0;")
    a("    for (int i = 0; i < cycles; i++) {")
    a("        m->top->clk = 0; m->top->eval();")
    a("        m->top->clk = 1; m->top->eval();")
    a("    }")
    a("    m->top->clk = 0; m->top->rst = 0; m->top->eval();")
    a("    for (int i = 0; i < NI; i++) m->valid[i] = 0;")
    a("}")
    # ---- the run loop
    a("// One batch. in_data[i]: in_n[i] beats of stream i (win[i] words each); exp_data[j]:")
    a("// exp_n[j] expected beats of output j; every output transfer is recorded into")
    a("// out_data[j]/out_cyc[j] (up to out_cap[j]; out_n[j] counts all). The loop ends once every")
    a("// input beat was accepted and every expected output arrived (or after max_idle cycles")
    a("// without a transfer), followed by `extra` cycles with valid low and ready high.")
    a("// stats: [0] first input transfer cycle (-1: none), [1] hung, [2] payload mismatches seen")
    a("// by the inline comparison, [3] first mismatching output stream, [4] its index,")
    a("// [5] cycle at the start of the batch, [6] input beats accepted. Returns the cycle count.")
    a("LOBIT_API int64_t lobit_run(void* h, const uint32_t** in_data, const int64_t* in_n,")
    a("                            const uint32_t** exp_data, const int64_t* exp_n,")
    a("                            uint32_t** out_data, int64_t** out_cyc, const int64_t* out_cap,")
    a("                            int64_t* out_n, int64_t max_idle, int64_t extra, int64_t* stats) {")
    a("    Model* m = (Model*)h;")
    a("    const int64_t start = m->cycle;")
    a("    int64_t pos[NI], got[NO];")
    a("    for (int i = 0; i < NI; i++) pos[i] = 0;")
    a("    for (int j = 0; j < NO; j++) { got[j] = 0; out_n[j] = 0; }")
    a("    int64_t first_in = -1, idle = 0, bad = 0, bad_s = -1, bad_i = -1, accepted = 0;")
    a("    int hung = 0;")
    a("    const uint64_t gthr = m->gap_thr, sthr = m->stall_thr;")
    a("    (void)exp_data;")
    for j, s in enumerate(outs):
        a(f"    const int W_o{j} = {_nwords(s['payload_width'])};")
        a(f"    uint32_t tmp{j}[W_o{j}];")
    a("    for (int64_t phase = 0; phase < 2; phase++) {")
    a("        int64_t left = extra;")
    a("        for (;;) {")
    a("            if (phase == 1 && left-- <= 0) break;")
    a("            // drive this cycle's inputs")
    for i, s in enumerate(ins):
        n = s["name"]
        w = _nwords(s["payload_width"])
        a("            if (phase == 0) {")
        a(f"                if (!m->valid[{i}] && pos[{i}] < in_n[{i}])")
        a(f"                    m->valid[{i}] = !(gthr && lobit_hit(m->rs_in[{i}], gthr));")
        a(f"                if (pos[{i}] < in_n[{i}]) {{ const uint32_t* p = in_data[{i}] + pos[{i}] * {w}; "
          f"{_setter(n + '__payload', s['payload_width'], 'p')} }}")
        a(f"                else {{ {_zero(n + '__payload', s['payload_width'])} }}")
        a("            } else {")
        a(f"                m->valid[{i}] = 0;")
        a("            }")
        a(f"            m->top->{vname(n + '__valid')} = m->valid[{i}];")
    for j, s in enumerate(outs):
        a(f"            const int rdy{j} = phase == 1 ? 1 : !(sthr && lobit_hit(m->rs_out[{j}], sthr));")
        a(f"            m->top->{vname(s['name'] + '__ready')} = rdy{j};")
    a("            m->top->eval();                 // settle with clk low")
    a("            dump(m, 0);")
    a("            int moved = 0;")
    for i, s in enumerate(ins):
        a(f"            if (phase == 0 && m->valid[{i}] && m->top->{vname(s['name'] + '__ready')}) {{")
        a("                if (first_in < 0) first_in = m->cycle;")
        a(f"                pos[{i}]++; accepted++; m->valid[{i}] = 0; moved = 1;")
        a("            }")
    for j, s in enumerate(outs):
        w = _nwords(s["payload_width"])
        a(f"            if (rdy{j} && m->top->{vname(s['name'] + '__valid')}) {{")
        a(f"                {_getter(s['name'] + '__payload', s['payload_width'], f'tmp{j}')}")
        a(f"                const int64_t k = out_n[{j}]++;")
        a(f"                if (k < out_cap[{j}]) {{ std::memcpy(out_data[{j}] + k * W_o{j}, tmp{j}, sizeof(tmp{j})); "
          f"out_cyc[{j}][k] = m->cycle; }}")
        a(f"                if (k >= exp_n[{j}] || std::memcmp(exp_data[{j}] + k * W_o{j}, tmp{j}, sizeof(tmp{j})) != 0) {{")
        a(f"                    if (bad_s < 0) {{ bad_s = {j}; bad_i = k; }}")
        a("                    bad++;")
        a("                }")
        a(f"                got[{j}]++; moved = 1;")
        a("            }")
    a("            m->top->clk = 1; m->top->eval();  // rising edge: the transfers happen")
    a("            dump(m, 1);")
    a("            m->top->clk = 0;")
    a("            m->cycle++;")
    a("            if (phase == 1) continue;")
    a("            idle = moved ? 0 : idle + 1;")
    a("            int done = 1;")
    for i in range(NI):
        a(f"            done &= pos[{i}] >= in_n[{i}];")
    for j in range(NO):
        a(f"            done &= got[{j}] >= exp_n[{j}];")
    a("            if (done) break;")
    a("            if (idle > max_idle) { hung = 1; break; }")
    a("        }")
    a("    }")
    a("    m->top->eval();")
    a("    stats[0] = first_in; stats[1] = hung; stats[2] = bad; stats[3] = bad_s; stats[4] = bad_i;")
    a("    stats[5] = start; stats[6] = accepted;")
    a("    return m->cycle - start;")
    a("}")
    return "\n".join(L) + "\n"


# ------------------------------------------------------------------------------------------------
# Build (cached)

@dataclass
class NativeBuild:
    """A built native library: its path, the sidecar, and how long the build took."""
    lib: Path
    side: dict
    seconds: float
    cached: bool
    trace: bool
    directory: Path


@functools.lru_cache(maxsize=None)
def _verilator_version() -> str:
    r = subprocess.run(["verilator", "--version"], capture_output=True, text=True)
    if r.returncode != 0:
        raise NativeError("verilator --version failed: run `make setup`.")
    return r.stdout.strip()


def cache_root() -> Path:
    """``$LOBIT_CACHE/native`` (default ``<repo>/.cache/native``)."""
    from hw.toolchain import REPO
    return Path(os.environ.get("LOBIT_CACHE", REPO / ".cache")) / "native"


def _prepare(cfg, component, trace, cache_dir, verilog):
    """Sidecar, Verilog, harness, flags and the hash-keyed build directory of one build."""
    from hw.emit import sidecar, to_verilog
    side = json.loads(json.dumps(sidecar(cfg, component)))
    text = verilog if verilog is not None else to_verilog(component, cfg.module_name)
    src = harness_source(side)
    flags = list(VERILATOR_FLAGS) + (["--trace"] if trace else [])
    cxx = list(CXX_FLAGS) + (["-DLOBIT_TRACE"] if trace else [])
    key = hashlib.sha256("\0".join([text, src, _verilator_version(), *flags, "|", *cxx, MAKE_OPT])
                         .encode()).hexdigest()[:16]
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    d = (root / f"{cfg.module_name}-{'t' if trace else 'n'}{key}").resolve()
    return d, side, text, src, flags, cxx


def build_directory(cfg, component, *, trace=False, cache_dir=None, verilog=None) -> Path:
    """The cache directory :func:`build` uses for these inputs (nothing is built)."""
    from hw.toolchain import setup_env
    setup_env()
    return _prepare(cfg, component, trace, cache_dir, verilog)[0]


def build(cfg, component, *, trace=False, cache_dir=None, verilog=None) -> NativeBuild:
    """Build (or find in the cache) the native library of ``component``.

    Parameters
    ----------
    cfg : golden.params.BlockConfig
        The block configuration (module name, sidecar).
    component : wiring.Component
        The Amaranth component to emit.
    trace : bool
        Build the VCD-capable variant (``verilator --trace``, ``-DLOBIT_TRACE``).
    cache_dir : path, optional
        Root of the build cache (default :func:`cache_root`).
    verilog : str, optional
        Verilog text to build instead of emitting ``component`` (its sidecar is still used).

    Returns
    -------
    NativeBuild
        ``seconds`` is the time of this call (emission, hashing and, on a miss, the build).
    """
    import fcntl
    from hw.toolchain import have_simulator, setup_env
    from .runner import SimulatorMissing
    setup_env()
    if not have_simulator("verilator"):
        raise SimulatorMissing("simulator verilator (needed by --simulator native) is not "
                               "installed: run `make setup`.")
    t0 = time.perf_counter()
    d, side, text, src, flags, cxx = _prepare(cfg, component, trace, cache_dir, verilog)
    d.mkdir(parents=True, exist_ok=True)
    lib = d / "obj" / "liblobit_native.so"
    cached = True
    with open(d / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not lib.exists():
            cached = False
            top = cfg.module_name
            (d / f"{top}.v").write_text(text)
            (d / "harness.cpp").write_text(src)
            (d / "sidecar.json").write_text(json.dumps(side, indent=1))
            jobs = "2" if (os.cpu_count() or 1) >= 2 else "1"
            cmd = ["verilator", "--cc", "--exe", "--build", "-j", jobs, *flags,
                   "--top-module", top, "-Mdir", "obj", "-o", "liblobit_native.so",
                   "-CFLAGS", " ".join(cxx), "-LDFLAGS", "-shared -Wl,-Bsymbolic",
                   "-MAKEFLAGS", MAKE_OPT,
                   f"{top}.v", "harness.cpp"]
            r = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
            (d / "build.log").write_text(" ".join(cmd) + "\n" + r.stdout + r.stderr)
            if r.returncode != 0 or not lib.exists():
                raise NativeError(f"native build of {top} failed: see {d / 'build.log'}")
    return NativeBuild(lib=lib, side=side, seconds=time.perf_counter() - t0, cached=cached,
                       trace=trace, directory=d)


# ------------------------------------------------------------------------------------------------
# Running

_P = ctypes.c_void_p
_I64P = ctypes.POINTER(ctypes.c_int64)
_LIBS: dict = {}


def _load(lib: Path):
    key = str(lib)
    if key not in _LIBS:
        L = ctypes.CDLL(key)
        L.lobit_open.restype = _P
        L.lobit_open.argtypes = [ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64]
        L.lobit_close.argtypes = [_P]
        L.lobit_trace.restype = ctypes.c_int
        L.lobit_trace.argtypes = [_P, ctypes.c_char_p, ctypes.c_int64, ctypes.c_int64]
        L.lobit_set_port.argtypes = [_P, ctypes.c_int, _P]
        L.lobit_get_port.argtypes = [_P, ctypes.c_int, _P]
        L.lobit_reset.argtypes = [_P, ctypes.c_int]
        L.lobit_run.restype = ctypes.c_int64
        L.lobit_run.argtypes = [_P, _P, _P, _P, _P, _P, _P, _P, _P, ctypes.c_int64,
                                ctypes.c_int64, _P]
        L.lobit_splitmix64.restype = ctypes.c_uint64
        L.lobit_splitmix64.argtypes = [ctypes.c_uint64, ctypes.c_int64, _P]
        _LIBS[key] = L
    return _LIBS[key]


def splitmix64_native(lib: Path, seed: int, n: int) -> np.ndarray:
    """The first ``n`` outputs of the C++ harness's generator (to test :class:`SplitMix64`)."""
    out = np.zeros(n, dtype=np.uint64)
    _load(lib).lobit_splitmix64(seed & MASK64, n, out.ctypes.data)
    return out


def _ptrs(arrays):
    return (ctypes.c_void_p * max(1, len(arrays)))(*[a.ctypes.data for a in arrays])


@dataclass
class Recorded:
    """The output transfers of one stream in one batch, shaped like a
    :class:`sim.transactors.StreamMonitor` (``received`` payloads, ``cycles``) for the Scoreboard."""
    name: str
    received: list
    cycles: list
    total: int = 0                  # transfers seen, including any beyond the recording capacity


@dataclass
class Batch:
    """What :meth:`NativeSim.run_batch` returns."""
    monitors: dict
    first_in: int                   # absolute cycle of the first input transfer (-1: none)
    start: int                      # absolute cycle at the start of the batch
    cycles: int
    seconds: float                  # wall time inside the C++ loop only
    cpu_seconds: float              # CPU time of this thread inside the C++ loop
    hung: bool
    inline_mismatches: int
    first_bad: tuple | None         # (stream, index) of the first mismatch seen by the C++ loop
    accepted: int
    in_total: int


class NativeSim:
    """One live native model: reset once, then any number of batches (state kept across them).

    Parameters
    ----------
    nb : NativeBuild
    seed : int
        Seed of the per-stream gap/stall generators (:func:`stream_seeds`).
    gap, stall : float
        Probability of an idle input cycle / of ``ready`` low, as in :mod:`sim.transactors`.
    statics : dict
        Plain input port -> value, set before reset.
    vcd : path, optional
        With a traced build, dump cycles ``window = (lo, hi)`` (inclusive) into this VCD.
    """

    def __init__(self, nb: NativeBuild, *, seed=0, gap=0.0, stall=0.0, statics=None, vcd=None,
                 window=(0, -1)):
        self.nb, self.side = nb, nb.side
        self.L = _load(nb.lib)
        self.ins = [s for s in self.side["streams"] if s["direction"] == "in"]
        self.outs = [s for s in self.side["streams"] if s["direction"] == "out"]
        self.pin = [p["name"] for p in self.side["ports"] if p["direction"] == "in"]
        self.pout = {p["name"]: p for p in self.side["ports"] if p["direction"] == "out"}
        self.pwidth = {p["name"]: p["width"] for p in self.side["ports"]}
        self.h = self.L.lobit_open(seed & MASK64, threshold(gap), threshold(stall))
        if vcd is not None:
            if not nb.trace:
                raise ValueError("a VCD needs the traced build: build(..., trace=True).")
            self.L.lobit_trace(self.h, str(vcd).encode(), int(window[0]), int(window[1]))
        self.statics = {}
        self.set_statics(statics or {})
        self.L.lobit_reset(self.h, RESET_CYCLES)

    def close(self):
        if self.h:
            self.L.lobit_close(self.h)
            self.h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def set_statics(self, statics: dict):
        """Hold plain input ports at ``statics`` (unknown names are a ``KeyError``)."""
        for name, v in statics.items():
            idx = self.pin.index(name)
            w = to_words([int(v)], self.pwidth[name])
            self.L.lobit_set_port(self.h, idx, w.ctypes.data)
            self.statics[name] = int(v)

    def port(self, name: str) -> int:
        """Current value of a plain output port."""
        idx = list(self.pout).index(name)
        w = np.zeros((1, _nwords(self.pwidth[name])), dtype=np.uint32)
        self.L.lobit_get_port(self.h, idx, w.ctypes.data)
        return from_words(w)[0]

    def run_batch(self, scenario: Scenario, *, extra=4, max_idle=10_000, slack=64) -> Batch:
        """Run the inputs of ``scenario`` until its expected outputs arrived; keep the state.

        ``extra`` cycles with every ``valid`` low and ``ready`` high follow (catching spurious
        extra outputs; use 0 between batches of a streamed run). Statics of the scenario that
        differ from the held ones are applied first (the previous batch has drained by then).
        """
        changed = {k: v for k, v in scenario.statics.items() if self.statics.get(k) != v}
        if changed:
            self.set_statics(changed)
        in_arrs = [to_words(scenario.inputs.get(s["name"], []), s["payload_width"])
                   for s in self.ins]
        exp_arrs = [to_words(scenario.outputs.get(s["name"], []), s["payload_width"])
                    for s in self.outs]
        caps = np.array([len(e) + slack for e in exp_arrs] or [0], dtype=np.int64)
        out_arrs = [np.zeros((int(c), e.shape[1]), dtype=np.uint32) for c, e in zip(caps, exp_arrs)]
        cyc_arrs = [np.zeros(int(c), dtype=np.int64) for c in caps[:len(exp_arrs)]]
        in_n = np.array([len(a) for a in in_arrs] or [0], dtype=np.int64)
        exp_n = np.array([len(e) for e in exp_arrs] or [0], dtype=np.int64)
        out_n = np.zeros(max(1, len(self.outs)), dtype=np.int64)
        stats = np.zeros(8, dtype=np.int64)
        t0, c0 = time.perf_counter(), time.thread_time()
        cycles = self.L.lobit_run(self.h, _ptrs(in_arrs), in_n.ctypes.data, _ptrs(exp_arrs),
                                  exp_n.ctypes.data, _ptrs(out_arrs), _ptrs(cyc_arrs),
                                  caps.ctypes.data, out_n.ctypes.data, int(max_idle), int(extra),
                                  stats.ctypes.data)
        seconds, cpu = time.perf_counter() - t0, time.thread_time() - c0
        mons = {}
        for j, s in enumerate(self.outs):
            k = min(int(out_n[j]), int(caps[j]))
            mons[s["name"]] = Recorded(s["name"], from_words(out_arrs[j][:k]),
                                       cyc_arrs[j][:k].tolist(), int(out_n[j]))
        bad = (self.outs[int(stats[3])]["name"], int(stats[4])) if stats[3] >= 0 else None
        return Batch(monitors=mons, first_in=int(stats[0]), start=int(stats[5]), cycles=int(cycles),
                     seconds=seconds, cpu_seconds=cpu, hung=bool(stats[1]), inline_mismatches=int(stats[2]),
                     first_bad=bad, accepted=int(stats[6]), in_total=int(in_n[:len(self.ins)].sum()))


@dataclass
class NativeRunResult(RunResult):
    """:class:`sim.transactors.RunResult` plus the native path's own numbers."""
    build_seconds: float = 0.0
    build_cached: bool = False
    inline_mismatches: int = 0
    report: list = field(default_factory=list)      # first failing transfer, field by field
    vcd: str | None = None
    batches: int = 1
    received: dict = field(default_factory=dict)    # single runs: stream -> received payloads


def _check_batch(scenario, batch: Batch, layouts, timed, port_values):
    """The Scoreboard verdict of one batch (plus the native-only checks)."""
    first = batch.first_in if batch.first_in >= 0 else batch.start
    res = Scoreboard(scenario, layouts).check(batch.monitors, first, timed=timed,
                                              port_values=port_values)
    for name, mon in batch.monitors.items():
        if mon.total > len(mon.received):
            res.mismatches.append(f"{name}: {mon.total - len(mon.received)} more unexpected "
                                  f"extra outputs beyond the recording capacity")
    if batch.in_total and batch.accepted < batch.in_total:
        res.mismatches.append("input stream stalled: not every input beat was accepted")
    return res


def _path_name(f) -> str:
    return ".".join(str(p) for p in f["path"]) or "payload"


def transfer_report(layouts, stream, index, got, exp, cycle=None) -> list:
    """Field-by-field lines for one output transfer (``got``/``exp`` packed ints or None).

    Every differing field is listed with both values; equal fields are counted.
    """
    fields = layouts.get(stream) or [{"path": [], "offset": 0, "width": 64, "signed": False}]
    where = f"{stream}[{index}]" + (f" (cycle {cycle})" if cycle is not None else "")
    if got is None:
        return [f"{where}: missing; expected {unpack(fields, exp)}"]
    if exp is None:
        return [f"{where}: unexpected extra output {unpack(fields, got)}"]
    lines, same = [f"{where}: payload differs"], 0
    for f in fields:
        one = [dict(f, offset=0, path=[])]
        g = unpack(one, got >> f["offset"])
        e = unpack(one, exp >> f["offset"])
        if g == e:
            same += 1
        else:
            lines.append(f"    {_path_name(f):<16} got {g:>12}  expected {e:>12}   <-- differs")
    lines.append(f"    ({same} of {len(fields)} fields equal)")
    return lines


def _first_failure(scenario, batch: Batch):
    """``(stream, index, got, exp, absolute cycle)`` of the first failing transfer, or None."""
    best = None
    for name, expected in scenario.outputs.items():
        mon = batch.monitors[name]
        got = mon.received
        for i in range(max(len(expected), len(got))):
            g = got[i] if i < len(got) else None
            e = expected[i] if i < len(expected) else None
            if g != e:
                cyc = mon.cycles[i] if i < len(mon.cycles) else None
                key = cyc if cyc is not None else batch.start + batch.cycles
                if best is None or key < best[-1]:
                    best = (name, i, g, e, key)
                break
    return best


def run_native(cfg, component, scenario: Scenario, *, seed=0, gap=0.0, stall=0.0,
               cache_dir=None, vcd_dir=None, window=(200, 20), max_idle=10_000,
               verilog=None) -> NativeRunResult:
    """Build (cached) and run ``scenario`` natively; the checks of :func:`sim.transactors.run_cycles`.

    On a mismatch the first failing transfer is reported field by field (``res.report``) and,
    with ``vcd_dir``, the run is repeated on the traced build dumping the cycles from
    ``window[0]`` before to ``window[1]`` after that transfer into ``vcd_dir/<module>.vcd``
    (``res.vcd``).
    """
    nb = build(cfg, component, cache_dir=cache_dir, verilog=verilog)
    layouts = {s["name"]: s["fields"] for s in nb.side["streams"]}
    with NativeSim(nb, seed=seed, gap=gap, stall=stall, statics=scenario.statics) as sim_:
        batch = sim_.run_batch(scenario, max_idle=max_idle)
        ports = {p: sim_.port(p) for p in scenario.check_ports}
    r = _check_batch(scenario, batch, layouts, timed=(gap == 0 and stall == 0), port_values=ports)
    res = NativeRunResult(checked=r.checked, mismatches=r.mismatches, cycles=batch.cycles,
                          seconds=batch.seconds, out_cycles=r.out_cycles,
                          build_seconds=nb.seconds, build_cached=nb.cached,
                          inline_mismatches=batch.inline_mismatches,
                          received={n: m.received for n, m in batch.monitors.items()})
    payload_bad = sum(1 for m in r.mismatches if ": got " in m or "missing" in m
                      or "extra output" in m)
    if (batch.inline_mismatches > 0) != (payload_bad > 0):
        res.mismatches.append(f"native inline comparison saw {batch.inline_mismatches} "
                              f"mismatching transfers, the scoreboard {payload_bad}")
    if not res.ok:
        ff = _first_failure(scenario, batch)
        if ff is not None:
            name, i, g, e, cyc = ff
            rel = cyc - (batch.first_in if batch.first_in >= 0 else 0)
            res.report = transfer_report(layouts, name, i, g, e, rel)
        if vcd_dir is not None:
            cyc = ff[-1] if ff is not None else batch.cycles
            res.vcd = str(trace_window(cfg, component, scenario, seed=seed, gap=gap, stall=stall,
                                       cycle=cyc, window=window, out_dir=vcd_dir,
                                       cache_dir=cache_dir, verilog=verilog))
    return res


def trace_window(cfg, component, scenario, *, seed, gap, stall, cycle, window=(200, 20),
                 out_dir, cache_dir=None, verilog=None, batches=None) -> Path:
    """Repeat a run on the traced build and dump cycles ``cycle - window[0] .. cycle + window[1]``.

    ``batches`` (an iterable of scenarios) replays a streamed run instead of one ``scenario``;
    the run is deterministic, so the same cycles repeat. Returns the VCD path.
    """
    nb = build(cfg, component, trace=True, cache_dir=cache_dir, verilog=verilog)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    vcd = (out_dir / f"{cfg.module_name}.vcd").resolve()
    lo, hi = max(0, cycle - window[0]), cycle + window[1]
    seq = list(batches) if batches is not None else [scenario]
    first = seq[0]
    with NativeSim(nb, seed=seed, gap=gap, stall=stall, statics=first.statics, vcd=vcd,
                   window=(lo, hi)) as s:
        for k, sc in enumerate(seq):
            b = s.run_batch(sc, extra=4 if k == len(seq) - 1 else 0)
            if b.start + b.cycles > hi:
                break
    return vcd


# ------------------------------------------------------------------------------------------------
# Streamed runs (bounded memory)

def run_native_batches(cfg, component, make_batch, n_batches, *, seed=0, gap=0.0, stall=0.0,
                       cache_dir=None, progress=None, max_report=20, vcd_dir=None,
                       window=(200, 20), replay=None) -> NativeRunResult:
    """Stream ``n_batches`` scenarios through one live model (no reset between batches).

    ``make_batch(k)`` returns the scenario of batch ``k`` (called in order, once each, so memory
    holds one batch at a time). Between batches nothing is reset: the model, the cycle counter
    and the gap/stall generators continue; a batch ends when its inputs were accepted and its
    expected outputs arrived, so the next batch (and any change of its statics) starts on a
    drained pipeline. Each batch is checked by the Scoreboard as it completes (with no
    gaps/stalls also its cycles, relative to its own first input transfer). ``check_ports`` are
    sticky flags: after batch ``k`` each must equal the OR of the expectations of batches
    ``0..k``. Only counts and the first ``max_report`` mismatch lines are kept.
    ``progress(k, cycles, checked, seconds)`` is called after every batch. On a mismatch, with
    ``vcd_dir`` and ``replay`` (``replay()`` returns a fresh ``make_batch`` that regenerates the
    same batches), the run up to the failing batch is repeated on the traced build and a VCD
    window around the first failing transfer is written (``res.vcd``).
    """
    nb = build(cfg, component, cache_dir=cache_dir)
    layouts = {s["name"]: s["fields"] for s in nb.side["streams"]}
    timed = gap == 0 and stall == 0
    res = NativeRunResult(build_seconds=nb.seconds, build_cached=nb.cached, batches=0)
    sticky: dict = {}
    sim_ = None
    n_bad = 0
    try:
        for k in range(n_batches):
            sc = make_batch(k)
            if sim_ is None:
                sim_ = NativeSim(nb, seed=seed, gap=gap, stall=stall, statics=sc.statics)
            last = k == n_batches - 1
            b = sim_.run_batch(sc, extra=4 if last else 0)
            for p, v in sc.check_ports.items():
                sticky[p] = sticky.get(p, 0) | int(v)
            ports = {p: sim_.port(p) for p in sticky}
            sc_ports = Scenario(inputs=sc.inputs, outputs=sc.outputs, statics=sc.statics,
                                out_cycles=sc.out_cycles, vectors=sc.vectors,
                                check_ports=dict(sticky))
            r = _check_batch(sc_ports, b, layouts, timed=timed, port_values=ports)
            res.checked += r.checked
            res.cycles += b.cycles
            res.seconds += b.seconds
            res.inline_mismatches += b.inline_mismatches
            res.batches += 1
            if r.mismatches:
                n_bad += len(r.mismatches)
                res.mismatches.extend(f"batch {k}: {m}" for m in r.mismatches[:max_report])
                if not res.report:
                    ff = _first_failure(sc, b)
                    if ff is not None:
                        name, i, g, e, cyc = ff
                        res.report = [f"batch {k}:"] + transfer_report(
                            layouts, name, i, g, e, cyc - (b.first_in if b.first_in >= 0 else 0))
                        if vcd_dir is not None and replay is not None:
                            again = replay()
                            res.vcd = str(trace_window(
                                cfg, component, None, seed=seed, gap=gap, stall=stall, cycle=cyc,
                                window=window, out_dir=vcd_dir, cache_dir=cache_dir,
                                batches=(again(j) for j in range(k + 1))))
                break
            if progress:
                progress(k, res.cycles, res.checked, res.seconds)
            del sc, sc_ports, b, r
    finally:
        if sim_ is not None:
            sim_.close()
    return res


def chains(cfg, component, block, seed=0, vectors=32, cache_dir=None) -> bool:
    """Whether ``block``'s scenarios can follow each other without a reset: two short
    scenarios streamed back to back (timed and with gaps/stalls) pass.

    Blocks whose golden model starts every scenario from the reset state of a generator (the
    LFSR family) fail this probe and are run in a single batch by the CLI.
    """
    from .amaranth_harness import layouts_of
    layouts = layouts_of(component)
    for gap, stall in ((0.0, 0.0), (0.2, 0.2)):
        rng = np.random.default_rng(seed)
        scs = [block.scenario(cfg, layouts, rng, vectors) for _ in range(3)]
        r = run_native_batches(cfg, component, lambda k: scs[k], len(scs), seed=seed, gap=gap,
                               stall=stall, cache_dir=cache_dir)
        if not r.ok:
            return False
    return True


# ------------------------------------------------------------------------------------------------
# The command line (``lobit sim BLOCK --simulator native``)

#: largest ``--vectors`` of a native run and the default / largest vectors per batch
MAX_VECTORS = 10 ** 10
BATCH_VECTORS = 1 << 16
MAX_BATCH_VECTORS = 10 ** 7


def cli_sim(args, block, cfg) -> int:
    """``lobit sim --simulator native``: one scenario, or a stream of batches (bounded memory).

    With ``--vectors`` up to ``--batch-vectors`` the run uses exactly the scenario the other
    simulators get for the same seed. Above, the CLI builds one scenario per batch of
    ``--batch-vectors`` vectors from one NumPy generator seeded with ``--seed`` and streams
    them through one live model (:func:`run_native_batches`: no reset between batches, the
    gap/stall generators continue); progress goes to stderr. Blocks whose scenarios do not
    chain (:func:`chains`) are refused with one sentence.
    """
    import tempfile
    import numpy as np
    from golden.params import ConfigError
    from .amaranth_harness import layouts_of
    from .runner import SimulatorMissing
    if args.vectors > MAX_VECTORS:
        raise ConfigError(f"--vectors {args.vectors} is out of range for --simulator native: "
                          f"allowed values are 1..{MAX_VECTORS}.")
    bv = args.batch_vectors
    if not 1 <= bv <= MAX_BATCH_VECTORS:
        raise ConfigError(f"--batch-vectors {bv} is out of range: allowed values are "
                          f"1..{MAX_BATCH_VECTORS}.")
    comp = block.component(cfg)
    layouts = layouts_of(comp)
    out_dir = Path(args.build_dir) if args.build_dir else Path(tempfile.mkdtemp(prefix="lobit_native_"))
    n_batches = -(-args.vectors // bv)
    try:
        if n_batches > 1 and args.vcd:
            raise ConfigError("--vcd with --simulator native needs a single batch: use --vectors "
                              "<= --batch-vectors (a mismatch writes a VCD window by itself).")
        if n_batches == 1:
            sc = block.scenario(cfg, layouts, np.random.default_rng(args.seed), args.vectors)
            print(f"{cfg.module_name}: {sc.vectors} vectors on native (seed {args.seed}, "
                  f"gap {args.gap}, stall {args.stall})", flush=True)
            res = run_native(cfg, comp, sc, seed=args.seed, gap=args.gap, stall=args.stall,
                             vcd_dir=out_dir)
            vectors = sc.vectors
            if args.vcd:
                trace_window(cfg, comp, sc, seed=args.seed, gap=args.gap, stall=args.stall,
                             cycle=0, window=(0, 1 << 62), out_dir=out_dir)
                os.replace(out_dir / f"{cfg.module_name}.vcd", args.vcd)
        else:
            if not chains(cfg, comp, block, seed=args.seed):
                raise ConfigError(f"block {block.name} cannot be streamed in batches: its "
                                  f"scenarios do not follow each other without a reset (the "
                                  f"golden restarts from the reset state); use --vectors <= "
                                  f"--batch-vectors ({bv}).")
            counted = [0]
            t0 = time.perf_counter()
            last = [t0]

            def factory():
                rng = np.random.default_rng(args.seed)

                def make(k):
                    return block.scenario(cfg, layouts, rng, min(bv, args.vectors - k * bv))
                return make
            make_plain = factory()

            def make(k):
                sc = make_plain(k)
                counted[0] += sc.vectors
                return sc

            def progress(k, cycles, checked, seconds):
                now = time.perf_counter()
                if now - last[0] >= 1.0 or k == n_batches - 1:
                    last[0] = now
                    print(f"  ... batch {k + 1}/{n_batches}: {cycles:,} cycles, {checked:,} "
                          f"outputs checked, {now - t0:.0f} s wall ({seconds:.1f} s in the model)",
                          file=sys.stderr, flush=True)

            print(f"{cfg.module_name}: {args.vectors} vectors on native in {n_batches} batches "
                  f"of {bv} (seed {args.seed}, gap {args.gap}, stall {args.stall})", flush=True)
            res = run_native_batches(cfg, comp, make, n_batches, seed=args.seed, gap=args.gap,
                                     stall=args.stall, progress=progress, vcd_dir=out_dir,
                                     replay=factory)
            vectors = counted[0]
    except SimulatorMissing as e:
        print(f"lobit: error: {e}", file=sys.stderr)
        return 2
    except NativeError as e:            # compiler or library trouble, not a design mismatch
        print(f"lobit: error: {e}", file=sys.stderr)
        return 1
    from .cli import print_run
    print_run(res, vectors, args.vcd, rate_note="  (C++ loop only)")
    print(f"build:           {res.build_seconds:.1f} s ({'cached' if res.build_cached else 'built'})")
    for line in res.report:
        print(f"  {line}")
    if res.vcd:
        print(f"waveform around the first mismatch: {res.vcd}")
    return 0 if res.ok else 1
