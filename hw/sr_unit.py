"""SR unit: one RLSRU random source and P stochastic-rounding stages that consume its lanes.

See ``docs/blocks/rlsru.md`` (section "SR unit"). The golden model is :mod:`golden.sr_unit`;
this component is correct when every transferred output beat equals
:func:`golden.sr_unit.run` bit for bit.
"""

from amaranth import Module, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.sr_unit import SrUnitConfig, rlsru_config
from .block import BlockComponent
from .rlsru import Rlsru
from .rounding import RoundStage

__all__ = ["SrUnit"]


class SrUnit(BlockComponent):
    """``lanes`` SR stages fed by one :class:`hw.rlsru.Rlsru` of the configured scheme.

    Parameters
    ----------
    cfg : :class:`golden.sr_unit.SrUnitConfig`, optional
        The validated configuration; keyword arguments build one when it is omitted.

    Members
    -------
    inp : ``In(stream.Signature(StructLayout({"x": ArrayLayout(signed(I+F), lanes), "restart": 1})))``
        One fixed-point value per lane and beat; ``restart`` is forwarded to the random source
        with the beat (honoured by the ``replay`` scheme only); ``replay`` has a ``chain`` field
        too (seed chaining, forwarded likewise).
    out : ``Out(stream.Signature(StructLayout({"code": ArrayLayout(signed(bits), lanes), "sat": ArrayLayout(1, lanes)})))``
        Saturated codes and per-lane saturation flags.

    Timing
    ------
    Latency 0: ``out.valid = inp.valid``, ``inp.ready = out.ready``; the output beat of input
    beat ``t`` is transferred in the same cycle, and the random source advances exactly on a
    transfer, so beat ``t`` is rounded with ``golden.rlsru.generate()[t]`` whatever the gaps
    and stalls. The only registers are the random source's state, which makes the synthesized
    cell counts "random source + lanes" and nothing else.
    """

    CONFIG = SrUnitConfig

    def _members(self, c):
        return {
            "inp": In(stream.Signature(data.StructLayout({
                "x": data.ArrayLayout(signed(c.in_width), c.lanes), "restart": 1,
                **({"chain": 1} if c.scheme == "replay" else {})}))),
            "out": Out(stream.Signature(data.StructLayout({
                "code": data.ArrayLayout(signed(c.bits), c.lanes),
                "sat": data.ArrayLayout(unsigned(1), c.lanes)}))),
        }


    def elaborate(self, platform):
        m = Module()
        c = self._cfg
        m.submodules.rlsru = src = Rlsru(rlsru_config(c))
        m.d.comb += [
            src.inp.valid.eq(self.inp.valid),
            src.inp.payload.restart.eq(self.inp.payload.restart),
            *([src.inp.payload.chain.eq(self.inp.payload.chain)] if c.scheme == "replay" else []),
            src.out.ready.eq(self.out.ready),
            self.out.valid.eq(self.inp.valid),
            self.inp.ready.eq(self.out.ready),
        ]
        for l in range(c.lanes):
            # the shared rounding stage, SR_F on the two's-complement fixed-point input
            lane = RoundStage(c.in_width, c.frac_bits, ("sr",), code_bits=c.bits, twos=True)
            m.submodules[f"sr{l}"] = lane
            m.d.comb += [
                lane.x.eq(self.inp.payload.x[l]),
                lane.rnd.eq(src.out.payload[l]),
                self.out.payload.code[l].eq(lane.code),
                self.out.payload.sat[l].eq(lane.sat),
            ]
        return m
