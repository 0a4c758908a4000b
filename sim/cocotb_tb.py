"""The one cocotb test module: runs a serialized Scenario on any emitted lobit block.

The runner (:mod:`sim.runner`) writes the scenario (packed payloads and golden expectations) and
the JSON sidecar; this module drives the streams with :mod:`sim.transactors` -- the same driver,
monitor and scoreboard as the Amaranth harness -- and writes a result JSON next to them.
"""

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly
from cocotb.types import Logic

from sim.transactors import Scenario, run_cycles


class CocotbAdapter:
    def __init__(self, dut):
        self.dut, self._h = dut, {}

    def _handle(self, port):
        h = self._h.get(port)
        if h is None:
            h = self._h[port] = getattr(self.dut, port)
        return h

    def set(self, port, value):
        self._handle(port).value = int(value)

    def get(self, port):
        v = self._handle(port).value
        try:
            return int(v) if isinstance(v, Logic) else v.to_unsigned()
        except ValueError:          # X or Z: never equal to a golden value
            return -1

    async def settle(self):
        await ReadOnly()

    async def step(self):
        await FallingEdge(self.dut.clk)


@cocotb.test()
async def run_scenario(dut):
    with open(os.environ["LOBIT_SCENARIO"]) as f:
        scenario = Scenario.from_json(json.load(f))
    with open(os.environ["LOBIT_SIDECAR"]) as f:
        side = json.load(f)
    layouts = {s["name"]: s["fields"] for s in side["streams"]}
    rng = random.Random(int(os.environ.get("LOBIT_SEED", "0")))
    gap = float(os.environ.get("LOBIT_GAP", "0"))
    stall = float(os.environ.get("LOBIT_STALL", "0"))

    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    for s in side["streams"]:
        getattr(dut, f"{s['name']}__{'valid' if s['direction'] == 'in' else 'ready'}").value = 0
    for p in side["ports"]:
        if p["direction"] == "in":
            getattr(dut, p["name"]).value = scenario.statics.get(p["name"], 0)
    await ClockCycles(dut.clk, 3)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    res = await run_cycles(CocotbAdapter(dut), scenario, rng, gap=gap, stall=stall, layouts=layouts)
    out = res.to_json()
    with open(os.environ["LOBIT_RESULT"], "w") as f:
        json.dump(out, f, indent=1)
    assert res.ok, f"{len(res.mismatches)} mismatches, first: {res.mismatches[:3]}"
