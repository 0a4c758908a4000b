"""Maximal-length LFSR with leap-forward, as a stream source.

See ``docs/blocks/lfsr.md``. The golden model is :mod:`golden.lfsr`; this component is correct
when the sequence of transferred beats equals the golden state sequence bit for bit.
"""

from functools import reduce
from operator import xor

from amaranth import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.lfsr import LfsrConfig, leap_matrix, step

from .block import BlockComponent

__all__ = ["Lfsr", "gf2_matvec"]


def gf2_matvec(rows, value):
    """Amaranth expression for ``M value`` over GF(2).

    Parameters
    ----------
    rows : list of int
        Row masks: output bit ``i`` is the XOR of the bits of ``value`` selected by ``rows[i]``.
    value : Value
        Input vector (bit ``j`` is ``value[j]``).

    Returns
    -------
    Value
        ``len(rows)`` bits; a fixed XOR network (no registers).
    """
    bits = []
    for r in rows:
        terms = [value[j] for j in range(len(value)) if (r >> j) & 1]
        bits.append(reduce(xor, terms) if terms else Const(0, 1))
    return Cat(*bits)


class Lfsr(BlockComponent):
    """LFSR random source with ``steps_per_cycle`` leap-forward steps per output beat.

    The source is *pulled*: every beat of ``inp`` (a request) produces exactly one beat of
    ``out`` in the same cycle, so a consumer (e.g. a stochastic rounder) joins its data stream
    with the random stream one to one, and backpressure on either side never loses or repeats
    a state.

    Parameters
    ----------
    cfg : :class:`golden.lfsr.LfsrConfig`, optional
        The validated configuration; keyword arguments build one when it is omitted.

    Members
    -------
    inp : ``In(stream.Signature(StructLayout({"restart": 1})))``
        One request per random beat. ``restart = 1`` restarts the sequence from the seed: that
        beat carries ``s_1 .. s_k`` again and the following beats continue as after reset (the
        replay of docs/spec.md#rlsru). ``inp.ready = out.ready``.
    out : ``Out(stream.Signature(unsigned(width)))`` when ``steps_per_cycle == 1``, otherwise
        ``Out(stream.Signature(ArrayLayout(unsigned(width), steps_per_cycle)))``.
        ``out.valid = inp.valid``. Without restarts, beat ``t`` carries the states
        ``s_{t*k+1} .. s_{t*k+k}`` (element ``j`` is ``s_{t*k+j+1}``; ``s_0`` is the seed);
        the golden sequence is :func:`golden.lfsr.beat_states`.

    Implementation
    --------------
    One ``width``-bit register ``r`` holds the first state of the next beat (reset value
    ``step(seed)``, a constant ``R0``). ``cur = restart ? R0 : r``; element ``j`` is ``M^j cur``
    (element 0 is ``cur`` itself) and a transfer loads ``M^k cur``: ``width`` flip-flops, a
    ``width``-bit 2:1 multiplexer and fixed XOR networks.

    Timing
    ------
    Latency 0: the output beat of a request is transferred in the request's cycle; with
    ``inp`` always valid and ``out`` always ready, beat ``t`` is transferred in cycle ``t``.
    """

    CONFIG = LfsrConfig

    def _members(self, c):
        if c.steps_per_cycle == 1:
            shape = unsigned(c.width)
        else:
            shape = data.ArrayLayout(unsigned(c.width), c.steps_per_cycle)
        return {
            "inp": In(stream.Signature(data.StructLayout({"restart": 1}))),
            "out": Out(stream.Signature(shape)),
        }

    @property
    def width(self):
        return self._cfg.width

    @property
    def taps(self):
        """Polynomial exponents used (see :data:`golden.lfsr.TAPS`)."""
        return self._cfg.taps

    @property
    def form(self):
        return self._cfg.form

    @property
    def steps_per_cycle(self):
        return self._cfg.steps_per_cycle


    def elaborate(self, platform):
        m = Module()
        c = self._cfg
        k = c.steps_per_cycle
        r0 = step(c, c.seed)
        r = Signal(c.width, init=r0)
        cur = Signal(c.width)
        m.d.comb += cur.eq(Mux(self.inp.payload.restart, Const(r0, c.width), r))
        if k == 1:
            m.d.comb += self.out.payload.eq(cur)
        else:
            m.d.comb += self.out.payload[0].eq(cur)
            for j in range(1, k):
                m.d.comb += self.out.payload[j].eq(gf2_matvec(leap_matrix(c, j), cur))
        m.d.comb += [self.out.valid.eq(self.inp.valid), self.inp.ready.eq(self.out.ready)]
        with m.If(self.inp.valid & self.out.ready):
            m.d.sync += r.eq(gf2_matvec(leap_matrix(c, k), cur))
        return m
