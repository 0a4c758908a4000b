"""Simulator-independent stream transactors: driver, monitor, scoreboard and the cycle loop.

The same code drives the Amaranth simulator (:mod:`sim.amaranth_harness`) and cocotb on Icarus,
Verilator or a synthesized netlist (:mod:`sim.cocotb_tb`); only a small adapter differs (how a
port is set, read, and how a cycle advances). Payloads travel as packed integers; the layout
description from the JSON sidecar (:func:`hw.emit.layout_fields`) converts them to and from dicts.

Protocol (``amaranth.lib.stream``): a transfer happens on a rising clock edge when ``valid`` and
``ready`` are both high. Each loop iteration sets this cycle's inputs, lets combinational logic
settle, samples ``valid``/``ready``/``payload`` (those are the values the coming edge sees), and
advances one cycle. Cycle numbers count from the first iteration.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

__all__ = ["pack", "unpack", "pack_columns", "dot_product_beats", "result_beats", "Scenario", "StreamDriver", "StreamMonitor", "Scoreboard",
           "RunResult", "run_cycles"]


def _get_path(d, path):
    for p in path:
        d = d[p]
    return d


def pack(fields, value) -> int:
    """Pack a payload given as nested dicts/lists (or a plain int) into an unsigned integer."""
    if not isinstance(value, (dict, list, tuple)):
        f = fields[0]
        return int(value) & ((1 << f["width"]) - 1)
    word = 0
    for f in fields:
        v = int(_get_path(value, f["path"]))
        w = f["width"]
        lo, hi = (-(1 << (w - 1)), (1 << (w - 1)) - 1) if f["signed"] else (0, (1 << w) - 1)
        if not lo <= v <= hi:
            name = ".".join(str(p) for p in f["path"]) or "payload"
            raise ValueError(f"payload field {name}={v} is out of range: allowed values are {lo}..{hi}.")
        word |= (v & ((1 << w) - 1)) << f["offset"]
    return word


def unpack(fields, word: int):
    """Inverse of :func:`pack`: nested dicts/lists of (signed) ints, or an int for a plain port."""
    if len(fields) == 1 and not fields[0]["path"]:
        f = fields[0]
        v = word & ((1 << f["width"]) - 1)
        return v - (1 << f["width"]) if f["signed"] and v >> (f["width"] - 1) else v
    root: dict = {}
    for f in fields:
        w = f["width"]
        v = (word >> f["offset"]) & ((1 << w) - 1)
        if f["signed"] and v >> (w - 1):
            v -= 1 << w
        node = root
        for p in f["path"][:-1]:
            node = node.setdefault(p, {})
        node[f["path"][-1]] = v

    def listify(n):
        if isinstance(n, dict):
            if n and all(isinstance(k, int) for k in n):
                return [listify(n[k]) for k in sorted(n)]
            return {k: listify(v) for k, v in n.items()}
        return n
    return listify(root)


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
    ``columns`` maps each field name to an array. Vectorized form of :func:`pack`.
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


@dataclass
class Scenario:
    """Stimulus and expectations for one run, in packed-integer form.

    ``inputs``/``outputs`` map a stream name to its list of packed payloads (expected outputs in
    order); ``statics`` maps plain input ports to the value held for the whole run;
    ``out_cycles`` optionally gives, per output stream, the cycle (relative to the first input
    transfer) at which each output must be transferred -- checked only when the run has no
    valid gaps and no ready stalls; ``vectors`` is the number of checked items for reporting.
    """
    inputs: dict
    outputs: dict
    statics: dict = field(default_factory=dict)
    out_cycles: dict | None = None
    vectors: int = 0
    check_ports: dict = field(default_factory=dict)   # plain output port -> value at the end

    def to_json(self):
        return {"inputs": {k: [hex(v) for v in vs] for k, vs in self.inputs.items()},
                "outputs": {k: [hex(v) for v in vs] for k, vs in self.outputs.items()},
                "statics": {k: hex(v) for k, v in self.statics.items()},
                "out_cycles": self.out_cycles, "vectors": self.vectors,
                "check_ports": {k: hex(v) for k, v in self.check_ports.items()}}

    @classmethod
    def from_json(cls, d):
        return cls(inputs={k: [int(v, 16) for v in vs] for k, vs in d["inputs"].items()},
                   outputs={k: [int(v, 16) for v in vs] for k, vs in d["outputs"].items()},
                   statics={k: int(v, 16) for k, v in d["statics"].items()},
                   out_cycles=d.get("out_cycles"), vectors=d.get("vectors", 0),
                   check_ports={k: int(v, 16) for k, v in d.get("check_ports", {}).items()})


class StreamDriver:
    """Drives ``valid``/``payload`` of an input stream, with random idle cycles.

    Per cycle, when no beat is pending, the driver stays idle with probability ``gap``. Once
    ``valid`` is raised, payload and valid stay until the transfer (the stream rule).
    """

    def __init__(self, name, beats, rng: random.Random, gap=0.0):
        self.name, self.beats, self.rng, self.gap = name, list(beats), rng, gap
        self.pos, self.valid = 0, False
        self.transfer_cycles = []

    @property
    def done(self):
        return self.pos >= len(self.beats)

    def drive(self):
        if not self.valid and not self.done:
            self.valid = not (self.gap and self.rng.random() < self.gap)
        return int(self.valid), (self.beats[self.pos] if not self.done else 0)

    def observe(self, ready, cycle):
        if self.valid and ready:
            self.transfer_cycles.append(cycle)
            self.pos += 1
            self.valid = False


class StreamMonitor:
    """Drives ``ready`` of an output stream (low with probability ``stall``) and records transfers."""

    def __init__(self, name, rng: random.Random, stall=0.0):
        self.name, self.rng, self.stall = name, rng, stall
        self.ready = True
        self.received, self.cycles = [], []

    def drive(self):
        self.ready = not (self.stall and self.rng.random() < self.stall)
        return int(self.ready)

    def observe(self, valid, payload, cycle):
        if valid and self.ready:
            self.received.append(payload)
            self.cycles.append(cycle)


@dataclass
class RunResult:
    checked: int = 0
    mismatches: list = field(default_factory=list)
    cycles: int = 0
    seconds: float = 0.0
    out_cycles: dict = field(default_factory=dict)

    @property
    def ok(self):
        return not self.mismatches

    def to_json(self):
        return {"checked": self.checked, "mismatches": self.mismatches[:50],
                "n_mismatches": len(self.mismatches), "cycles": self.cycles,
                "seconds": self.seconds, "out_cycles": self.out_cycles}


class Scoreboard:
    """In-order comparison of received payloads (and, optionally, transfer cycles) with the golden."""

    def __init__(self, scenario: Scenario, layouts=None):
        self.scenario = scenario
        self.layouts = layouts or {}

    def _show(self, stream, word):
        fields = self.layouts.get(stream)
        return unpack(fields, word) if fields else hex(word)

    def check(self, monitors, first_in_cycle, timed: bool, port_values=None) -> RunResult:
        res = RunResult()
        for name, expected in self.scenario.outputs.items():
            mon = monitors[name]
            got = mon.received
            for i, exp in enumerate(expected):
                if i >= len(got):
                    res.mismatches.append(f"{name}[{i}]: missing (expected {self._show(name, exp)})")
                    continue
                res.checked += 1
                if got[i] != exp:
                    res.mismatches.append(f"{name}[{i}]: got {self._show(name, got[i])}, "
                                          f"expected {self._show(name, exp)}")
            for i in range(len(expected), len(got)):
                res.mismatches.append(f"{name}[{i}]: unexpected extra output {self._show(name, got[i])}")
            rel = [c - first_in_cycle for c in mon.cycles]
            res.out_cycles[name] = rel
            if timed and self.scenario.out_cycles and name in self.scenario.out_cycles:
                for i, (g, e) in enumerate(zip(rel, self.scenario.out_cycles[name])):
                    if g != e:
                        res.mismatches.append(f"{name}[{i}]: transferred in cycle {g}, "
                                              f"cycle model says {e}")
                        break
        for port, exp in self.scenario.check_ports.items():
            got = (port_values or {}).get(port)
            res.checked += 1
            if got != exp:
                res.mismatches.append(f"port {port}: got {got}, expected {exp}")
        return res


async def run_cycles(adapter, scenario: Scenario, rng: random.Random, gap=0.0, stall=0.0,
                     layouts=None, max_idle=10_000, progress=None) -> RunResult:
    """Run ``scenario`` through ``adapter`` until every expected output arrived (or a timeout).

    ``adapter`` provides ``set(port, value)``, ``get(port)`` (unsigned int), ``async settle()``
    and ``async step()`` (advance one clock cycle). Ports are named ``<stream>__valid``,
    ``<stream>__ready``, ``<stream>__payload`` or by their plain name. ``max_idle`` bounds the
    number of cycles without any transfer before the run is declared hung.
    """
    import time
    drivers = {n: StreamDriver(n, beats, rng, gap) for n, beats in scenario.inputs.items()}
    monitors = {n: StreamMonitor(n, rng, stall) for n in scenario.outputs}
    for port, v in scenario.statics.items():
        adapter.set(port, v)
    want = sum(len(v) for v in scenario.outputs.values())
    cycle, idle, t0 = 0, 0, time.perf_counter()
    total_in = sum(len(d.beats) for d in drivers.values())
    while True:
        for d in drivers.values():
            v, p = d.drive()
            adapter.set(f"{d.name}__valid", v)
            adapter.set(f"{d.name}__payload", p)
        for mon in monitors.values():
            adapter.set(f"{mon.name}__ready", mon.drive())
        await adapter.settle()
        moved = False
        for d in drivers.values():
            before = d.pos
            d.observe(adapter.get(f"{d.name}__ready"), cycle)
            moved |= d.pos != before
        for mon in monitors.values():
            n = len(mon.received)
            mon.observe(adapter.get(f"{mon.name}__valid"), adapter.get(f"{mon.name}__payload"), cycle)
            moved |= len(mon.received) != n
        await adapter.step()
        cycle += 1
        idle = 0 if moved else idle + 1
        got = sum(len(m.received) for m in monitors.values())
        if progress and cycle % 5000 == 0:
            progress(cycle, got, want)
        if got >= want and all(d.done for d in drivers.values()):
            break
        if idle > max_idle:
            break
    # a few extra cycles to catch spurious extra outputs
    for _ in range(4):
        for d in drivers.values():
            adapter.set(f"{d.name}__valid", 0)
        for mon in monitors.values():
            adapter.set(f"{mon.name}__ready", 1)
            mon.ready = True
        await adapter.settle()
        for mon in monitors.values():
            mon.observe(adapter.get(f"{mon.name}__valid"), adapter.get(f"{mon.name}__payload"), cycle)
        await adapter.step()
        cycle += 1
    seconds = time.perf_counter() - t0
    firsts = [d.transfer_cycles[0] for d in drivers.values() if d.transfer_cycles]
    first = min(firsts) if firsts else 0
    port_values = {p: adapter.get(p) for p in scenario.check_ports}
    res = Scoreboard(scenario, layouts).check(monitors, first, timed=(gap == 0 and stall == 0),
                                              port_values=port_values)
    res.cycles, res.seconds = cycle, seconds
    if total_in and sum(len(d.transfer_cycles) for d in drivers.values()) < total_in:
        res.mismatches.append("input stream stalled: not every input beat was accepted")
    return res
