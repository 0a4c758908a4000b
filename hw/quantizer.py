"""Quantizer lanes: FP32 gradients x FP32 reciprocal scale -> symmetric b-bit codes, RNE / RTZ / SR.

The split follows HardFloat: :class:`hw.fp32.Fp32Mul` does the raw arithmetic (``v = fp32(x *
inv)``), :class:`hw.rounding.Fp32ToFixed` converts ``v`` to a raw sign-magnitude fixed-point value
with ``F`` fraction bits plus a sticky bit, and the shared :class:`hw.rounding.RoundStage` rounds
and saturates it. The golden model, the rounding and special-value policy and
the cycle model are in :mod:`golden.quantizer`; this component is correct when it is bit- and
cycle-identical to them.
"""

from amaranth import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.quantizer import QuantizerConfig
from .block import BlockComponent
from .fp32 import Fp32Mul
from .fp_add import register_values
from .rounding import Fp32ToFixed, RoundStage, sticky_flags

__all__ = ["QuantizerLane", "Quantizer", "round_and_register"]


class QuantizerLane(wiring.Component):
    """One combinational quantizer lane: FP32 ``v`` -> :class:`~hw.rounding.Fp32ToFixed` ->
    :class:`~hw.rounding.RoundStage` (``round_fixed`` + ``saturate_codes`` of the golden model).

    Parameters
    ----------
    frac_bits : int
        ``F`` (1..16): fraction bits of the fixed-point value, and random bits for ``"sr"``.
    modes : tuple of str
        Rounding modes of the stage (one: fixed; several: the ``mode`` input selects).
    bits : int
        Code width ``b`` (2..16).

    Members
    -------
    v : ``In(32)``
        FP32 bit pattern of the scaled value (subnormals are treated as zero).
    rnd : ``In(F)``, only with ``"sr"`` in ``modes``
        The random integer ``r`` of ``SR_F``.
    mode : ``In(range(len(modes)))``, only with several modes
        Index into ``modes``.
    code : ``Out(signed(b))``
        The rounded, saturated code in ``[-(2**(b-1)-1), 2**(b-1)-1]``.
    nan : ``Out(1)``
        ``v`` is NaN (``code`` is then 0).
    sat : ``Out(1)``
        The code was saturated (``v`` infinite, ``|v| >= 2**(b-1)``, or rounded outside the range).
    """

    def __init__(self, frac_bits, modes=("rne",), bits=8):
        self._F = QuantizerConfig.param("frac_bits").validate("quantizer", frac_bits)
        self._b = QuantizerConfig.param("bits").validate("quantizer", bits)
        if isinstance(modes, str):
            modes = (modes,)
        for md in modes:
            QuantizerConfig.param("mode").validate("quantizer", md)
        self._stage = RoundStage(self._b + self._F, self._F, tuple(modes), code_bits=self._b)
        members = {"v": In(32), "code": Out(signed(self._b)), "nan": Out(1), "sat": Out(1)}
        members.update({k: In(self._stage.signature.members[k].shape)
                        for k in ("rnd", "mode") if k in self._stage.signature.members})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.fix = fix = Fp32ToFixed(self._F, self._b)
        m.submodules.round = rs = self._stage
        m.d.comb += [fix.v.eq(self.v), rs.neg.eq(fix.neg), rs.mag.eq(fix.mag),
                     rs.sticky.eq(fix.sticky), self.code.eq(rs.code), self.nan.eq(fix.nan),
                     self.sat.eq(rs.sat)]
        for k in ("rnd", "mode"):
            if hasattr(rs, k):
                m.d.comb += getattr(rs, k).eq(getattr(self, k))
        return m


def round_and_register(m, comp, en, stage_valid, lanes, frac_bits, modes, bits, mode=None):
    """Stage 2 of every quantizer block: round each lane and register the output beat.

    ``lanes`` holds per lane ``(v, r, extra)``: the FP32 product ``v``, its random bits ``r``
    (``None`` without SR) and a dict of further per-lane payload fields of ``comp.out``
    (e.g. ``clip``, ``region``) registered with the lane's ``code``, ``nan`` and ``sat``. Each lane
    is a :class:`QuantizerLane` (``frac_bits``, ``modes``, ``bits``; ``mode`` drives its run-time
    mode input when ``modes`` has several). The output register loads, and ``out.valid`` takes
    ``stage_valid``, in cycles with ``en``; the sticky ``nan_flag``/``sat_flag`` of ``comp``
    follow :func:`hw.rounding.sticky_flags`.
    """
    with m.If(en):
        m.d.sync += comp.out.valid.eq(stage_valid)
    for i, (v, r, extra) in enumerate(lanes):
        lane = QuantizerLane(frac_bits, modes, bits)
        m.submodules[f"round{i}"] = lane
        m.d.comb += lane.v.eq(v)
        if r is not None:
            m.d.comb += lane.rnd.eq(r)
        if mode is not None:
            m.d.comb += lane.mode.eq(mode)
        fields = {"code": lane.code, "nan": lane.nan, "sat": lane.sat, **extra}
        with m.If(en):                                  # in the payload layout's field order
            m.d.sync += [getattr(comp.out.payload, f)[i].eq(fields[f])
                         for f, _ in comp.out.payload.shape() if f in fields]
    sticky_flags(m, comp.out, comp.flag_clear,
                 [(comp.nan_flag, comp.out.payload.nan), (comp.sat_flag, comp.out.payload.sat)])


class Quantizer(BlockComponent):
    """``lanes`` parallel quantizer lanes: FP32 stream in, ``bits``-bit code stream out.

    Parameters
    ----------
    cfg : :class:`golden.quantizer.QuantizerConfig`, optional
        The validated configuration; keyword arguments build one when it is omitted.

    Members
    -------
    inp : ``In(stream.Signature(ArrayLayout(unsigned(32), lanes)))``
        One FP32 bit pattern per lane and beat.
    rnd : ``In(stream.Signature(ArrayLayout(unsigned(frac_bits), lanes)))``
        Only with ``mode="sr"``: the random integer ``r`` of ``SR_F`` per lane. This is the
        swappable random-source port: an LFSR, a leap-forward LFSR, a reuse pattern or a test
        vector source connects here. It is consumed in lockstep with ``inp``: a beat is taken when
        both are valid, ``inp.ready = en & rnd.valid`` and ``rnd.ready = en & inp.valid``.
    out : ``Out(stream.Signature(StructLayout{code: lanes x signed(bits), nan: lanes x 1, sat: lanes x 1}))``
        Codes in ``[-(2**(bits-1)-1), 2**(bits-1)-1]`` with per-lane NaN and saturation flags.
    inv_scale : ``In(32)``
        Host-set FP32 reciprocal scale ``fp32(1/s)``; must be held while beats are in flight.
    flag_clear : ``In(1)``
        Clears the sticky flags at the next clock edge (a flagged beat transferred in the same
        cycle sets them again).
    nan_flag, sat_flag : ``Out(1)``
        Sticky: set when an output beat with a NaN (saturated) lane is transferred; cleared by
        ``flag_clear`` or reset.

    Timing
    ------
    Input beat ``i`` transferred in cycle ``T`` leaves in cycle ``T + latency`` when the output is
    ready, ``latency = 1`` (+1 with ``pipelined``): the multiplier is followed by an optional
    product register and the rounder by the output register. One beat per cycle. The pipeline
    advances when ``en = ~out.valid | out.ready``; ``inp.ready`` depends combinationally on
    ``out.ready`` (and, for SR, on ``rnd.valid``).
    """

    CONFIG = QuantizerConfig


    def _members(self, c):
        out_layout = data.StructLayout({
            "code": data.ArrayLayout(signed(c.bits), c.lanes),
            "nan": data.ArrayLayout(unsigned(1), c.lanes),
            "sat": data.ArrayLayout(unsigned(1), c.lanes),
        })
        members = {
            "inp": In(stream.Signature(data.ArrayLayout(unsigned(32), c.lanes))),
            "out": Out(stream.Signature(out_layout)),
            "inv_scale": In(32),
            "flag_clear": In(1),
            "nan_flag": Out(1),
            "sat_flag": Out(1),
        }
        if c.mode == "sr":
            members["rnd"] = In(stream.Signature(data.ArrayLayout(unsigned(c.frac_bits), c.lanes)))
        return members


    def elaborate(self, platform):
        m = Module()
        c = self._cfg
        sr = c.mode == "sr"

        en = Signal()
        take = Signal()
        m.d.comb += en.eq(~self.out.valid | self.out.ready)
        if sr:
            m.d.comb += [
                self.inp.ready.eq(en & self.rnd.valid),
                self.rnd.ready.eq(en & self.inp.valid),
                take.eq(en & self.inp.valid & self.rnd.valid),
            ]
        else:
            m.d.comb += [self.inp.ready.eq(en), take.eq(en & self.inp.valid)]

        # --- stage 1: multiply (optionally registered) -----------------------------------------
        stage_valid = take
        v_in, r_in = [], []
        for i in range(c.lanes):
            mul = Fp32Mul()
            m.submodules[f"mul{i}"] = mul
            m.d.comb += [mul.a.eq(self.inp.payload[i]), mul.b.eq(self.inv_scale)]
            v, r = mul.p, (self.rnd.payload[i] if sr else None)
            if c.pipelined:
                v, r = register_values(m, (v, r), en, f"lane{i}")
            v_in.append(v)
            r_in.append(r)
        if c.pipelined:
            stage_valid, = register_values(m, (take,), en, "stage1_valid")

        # --- stage 2: round, saturate, output register ------------------------------------------
        round_and_register(m, self, en, stage_valid, [(v, r, {}) for v, r in zip(v_in, r_in)],
                           c.frac_bits, (c.mode,), c.bits)
        return m
