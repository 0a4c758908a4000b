"""RLSRU: random numbers for P stochastic-rounding lanes, generated and reused.

See ``docs/blocks/rlsru.md``; the schemes are defined in :mod:`golden.rlsru`, and this component
is correct when every transferred beat equals :func:`golden.rlsru.generate` bit for bit.
"""

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden.lfsr import leap_matrix, mat_apply, mat_pow, transition_matrix
from golden.rlsru import (RlsruConfig, lane_seeds, leap_config, leap_word_matrix, lfsr16,
                          phase_lanes, split_rotation)
from .block import BlockComponent
from .lfsr import gf2_matvec

__all__ = ["Rlsru"]


class Rlsru(BlockComponent):
    """Random source for ``lanes`` SR lanes of ``frac_bits`` random bits each.

    Parameters
    ----------
    cfg : :class:`golden.rlsru.RlsruConfig`, optional
        The validated configuration; keyword arguments build one when it is omitted.

    Members
    -------
    inp : ``In(stream.Signature(StructLayout({"restart": 1})))``
        (``replay``: ``StructLayout({"restart": 1, "chain": 1})``)
        One request per beat of random numbers (``inp.ready = out.ready``). In the ``replay``
        scheme ``restart = 1`` restarts the sequence from the seed register (the first beat of
        the current tensor; after reset the first beat after the seed) and ``chain = 1`` starts
        a new tensor: the beat continues the stream and its state is loaded into the seed
        register (seed chaining, :func:`golden.rlsru.generate`); ``chain`` wins over
        ``restart``. The other schemes ignore ``restart``.
    out : ``Out(stream.Signature(ArrayLayout(unsigned(frac_bits), lanes)))``
        ``out.valid = inp.valid``; element ``l`` is lane ``l``'s ``r`` (element 0 in the LSBs of
        the flat Verilog port). The generator advances only on a transfer.

    Hardware per scheme
    -------------------
    * ``per_lane``: ``lanes`` 16-bit registers (reset values ``step(sigma_l)``), each one step per
      beat; output = top ``F`` bits of each register.
    * ``leap``: one ``W``-bit register; the word is ``G x`` (bits ``j < W`` are register bits,
      the rest fixed XOR networks); a transfer loads ``M_W^(P*F) x``.
    * ``phase``: one 16-bit register (one step per beat) and a XOR network: for every random
      bit ``b`` a copy of the lane DAG of :func:`golden.rlsru.phase_order` on the state bits
      shifted by ``b`` -- lane ``l``'s bit ``b`` is one XOR2 of two earlier nodes (state bits
      or earlier lanes' bit ``b``), lane 0 is the top ``F`` state bits (no gate).
    * ``split``/``replay``: one 16-bit register (``replay``: plus the 16-bit seed register,
      loaded on ``chain``, and a 16-bit 2:1 multiplexer that selects it on ``restart``); group
      ``q`` uses ``M^q`` of it, lanes are pure wiring (rotations); a transfer loads ``M^G`` of
      it, ``G = ceil(lanes / 16)``.

    Timing
    ------
    Latency 0: a request's beat is transferred in the request's cycle; with ``inp`` always valid
    and ``out`` always ready, beat ``t`` is transferred in cycle ``t``.
    """

    CONFIG = RlsruConfig

    def _members(self, c):
        fields = {"restart": 1, "chain": 1} if c.scheme == "replay" else {"restart": 1}
        return {
            "inp": In(stream.Signature(data.StructLayout(fields))),
            "out": Out(stream.Signature(data.ArrayLayout(unsigned(c.frac_bits), c.lanes))),
        }


    def elaborate(self, platform):
        m = Module()
        c = self._cfg
        P, F = c.lanes, c.frac_bits
        go = self.inp.valid & self.out.ready
        m.d.comb += [self.out.valid.eq(self.inp.valid), self.inp.ready.eq(self.out.ready)]
        base = lfsr16(c.seed)
        m1 = transition_matrix(base)

        if c.scheme == "per_lane":
            for l, sigma in enumerate(lane_seeds(c)):
                r = Signal(16, init=mat_apply(m1, sigma), name=f"lane{l}_state")
                m.d.comb += self.out.payload[l].eq(r[16 - F:])
                with m.If(go):
                    m.d.sync += r.eq(gf2_matvec(m1, r))
            return m

        if c.scheme == "leap":
            lc = leap_config(c)
            W = lc.width
            x = Signal(W, init=mat_apply(mat_pow(transition_matrix(lc), P * F), lc.seed))
            word = Signal(P * F)
            m.d.comb += word.eq(gf2_matvec(leap_word_matrix(c), x))
            for l in range(P):
                m.d.comb += self.out.payload[l].eq(word[l * F:(l + 1) * F])
            with m.If(go):
                m.d.sync += x.eq(gf2_matvec(leap_matrix(lc, P * F), x))
            return m

        if c.scheme == "phase":
            r = Signal(16, init=mat_apply(m1, c.seed))
            for b in range(F):
                node = {1 << k: r[k + b] for k in range(16 - F + 1)}      # state bits
                for l, (mask, _, recipe) in enumerate(phase_lanes(c)):
                    if recipe is not None:
                        x = Signal(name=f"lane{l}_bit{b}")
                        m.d.comb += x.eq(node[recipe[0]] ^ node[recipe[1]])
                        node[mask] = x
                    m.d.comb += self.out.payload[l][b].eq(node[mask])
            with m.If(go):
                m.d.sync += r.eq(gf2_matvec(m1, r))
            return m

        # split / replay
        groups = -(-P // 16)
        r0 = mat_apply(m1, c.seed)
        r = Signal(16, init=r0)
        cur = Signal(16)
        if c.scheme == "replay":
            sd = Signal(16, init=r0, name="seed_reg")
            chain = self.inp.payload.chain
            m.d.comb += cur.eq(Mux(self.inp.payload.restart & ~chain, sd, r))
            with m.If(go & chain):
                m.d.sync += sd.eq(r)
        else:
            m.d.comb += cur.eq(r)
        for q in range(groups):
            g = Signal(16, name=f"group{q}_state")
            m.d.comb += g.eq(cur if q == 0 else gf2_matvec(mat_pow(m1, q), cur))
            for i in range(16):
                lane = 16 * q + i
                if lane < P:
                    m.d.comb += self.out.payload[lane].eq(g.rotate_left(split_rotation(i))[16 - F:])
        with m.If(go):
            m.d.sync += r.eq(gf2_matvec(mat_pow(m1, groups), cur))
        return m
