"""Run a :class:`sim.transactors.Scenario` on an Amaranth component in the Amaranth simulator."""

from __future__ import annotations

import random

from amaranth.hdl import Value
from amaranth.lib import data
from amaranth.sim import Simulator

from hw.emit import port_list
from .transactors import RunResult, run_cycles

__all__ = ["AmaranthAdapter", "run_amaranth", "layouts_of"]


def _resolve(dut, port):
    if "__" in port:
        stream, member = port.split("__", 1)
        sig = getattr(getattr(dut, stream), member)
    else:
        sig = getattr(dut, port)
    if isinstance(sig, data.View):
        sig = sig.as_value()
    return Value.cast(sig)


class AmaranthAdapter:
    """Adapter between :func:`sim.transactors.run_cycles` and an Amaranth testbench context."""

    def __init__(self, ctx, dut):
        self.ctx, self.dut, self._cache = ctx, dut, {}

    def _sig(self, port):
        if port not in self._cache:
            self._cache[port] = _resolve(self.dut, port)
        return self._cache[port]

    def set(self, port, value):
        sig = self._sig(port)
        self.ctx.set(sig, int(value) & ((1 << len(sig)) - 1) if not sig.shape().signed else int(value))

    def get(self, port):
        sig = self._sig(port)
        return int(self.ctx.get(sig)) & ((1 << len(sig)) - 1)

    async def settle(self):
        return None          # testbench reads see the settled state after every set

    async def step(self):
        await self.ctx.tick()


def layouts_of(dut):
    d = port_list(dut)
    return {s["name"]: s["fields"] for s in d["streams"]}


def run_amaranth(dut, scenario, *, seed=0, gap=0.0, stall=0.0, vcd=None, progress=None,
                 testbench_extra=None) -> RunResult:
    """Simulate ``dut`` with ``scenario``; random gaps/stalls from ``seed``; optional VCD file."""
    rng = random.Random(seed)
    out = {}

    async def tb(ctx):
        out["res"] = await run_cycles(AmaranthAdapter(ctx, dut), scenario, rng, gap=gap,
                                      stall=stall, layouts=layouts_of(dut), progress=progress)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    if testbench_extra is not None:
        sim.add_testbench(testbench_extra, background=True)
    if vcd:
        with sim.write_vcd(str(vcd)):
            sim.run()
    else:
        sim.run()
    return out["res"]
