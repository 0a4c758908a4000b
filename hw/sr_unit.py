"""SR unit: one RLSRU random source and P stochastic-rounding stages that consume its lanes.

See ``docs/blocks/rlsru.md`` (section "SR unit"). The golden model is :mod:`golden.sr_unit`;
this component is correct when every transferred output beat equals
:func:`golden.sr_unit.run` bit for bit.
"""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.quantizer import INT8_MAX
from golden.sr_unit import SrUnitConfig, rlsru_config
from .block import BlockComponent
from .rlsru import Rlsru

__all__ = ["SrStage", "SrUnit"]


class SrStage(wiring.Component):
    """Combinational saturated ``SR_F`` of one two's-complement fixed-point value.

    Parameters
    ----------
    in_width : int
        Width ``I + F`` of ``x``.
    frac_bits : int
        ``F``.

    Members
    -------
    x : ``In(signed(in_width))``
        ``floor(v * 2**F)``.
    rnd : ``In(F)``
        The random integer ``r``.
    code : ``Out(signed(8))``
        ``clip((x + r) >> F, -127, 127)``.
    sat : ``Out(1)``
        The rounded value was outside ``[-127, 127]``.

    Implementation
    --------------
    One ``in_width + 1``-bit adder, an arithmetic shift (wiring) and two comparisons with a
    3:1 multiplexer for the saturation.
    """

    def __init__(self, in_width, frac_bits):
        self._w, self._F = in_width, frac_bits
        super().__init__({"x": In(signed(in_width)), "rnd": In(unsigned(frac_bits)),
                          "code": Out(signed(8)), "sat": Out(1)})

    def elaborate(self, platform):
        m = Module()
        t = Signal(signed(self._w + 1 - self._F))
        m.d.comb += t.eq((self.x + self.rnd) >> self._F)
        over, under = t > INT8_MAX, t < -INT8_MAX
        m.d.comb += [
            self.code.eq(Mux(over, INT8_MAX, Mux(under, -INT8_MAX, t))),
            self.sat.eq(over | under),
        ]
        return m


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
        with the beat (honoured by the ``replay`` scheme only).
    out : ``Out(stream.Signature(StructLayout({"code": ArrayLayout(signed(8), lanes), "sat": ArrayLayout(1, lanes)})))``
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
                "x": data.ArrayLayout(signed(c.in_width), c.lanes), "restart": 1}))),
            "out": Out(stream.Signature(data.StructLayout({
                "code": data.ArrayLayout(signed(8), c.lanes),
                "sat": data.ArrayLayout(unsigned(1), c.lanes)}))),
        }


    def elaborate(self, platform):
        m = Module()
        c = self._cfg
        m.submodules.rlsru = src = Rlsru(rlsru_config(c))
        m.d.comb += [
            src.inp.valid.eq(self.inp.valid),
            src.inp.payload.restart.eq(self.inp.payload.restart),
            src.out.ready.eq(self.out.ready),
            self.out.valid.eq(self.inp.valid),
            self.inp.ready.eq(self.out.ready),
        ]
        for l in range(c.lanes):
            lane = SrStage(c.in_width, c.frac_bits)
            m.submodules[f"sr{l}"] = lane
            m.d.comb += [
                lane.x.eq(self.inp.payload.x[l]),
                lane.rnd.eq(src.out.payload[l]),
                self.out.payload.code[l].eq(lane.code),
                self.out.payload.sat[l].eq(lane.sat),
            ]
        return m
