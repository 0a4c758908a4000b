"""Quantizer lanes: FP32 gradients x FP32 reciprocal scale -> symmetric INT8, RNE / RTZ / SR.

The split follows HardFloat: :class:`hw.fp32.Fp32Mul` does the raw arithmetic (``v = fp32(x *
inv)``), :class:`RoundLane` converts ``v`` to a sign-magnitude fixed-point value with ``F`` fraction
bits plus a sticky bit and rounds it. The golden model, the rounding and special-value policy and
the cycle model are in :mod:`golden.quantizer`; this component is correct when it is bit- and
cycle-identical to them.
"""

from amaranth import C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.quantizer import BIG_EXP, INT8_MAX, QuantizerConfig
from .block import BlockComponent
from .fp32 import Fp32Mul

__all__ = ["RoundLane", "Quantizer"]


class RoundLane(wiring.Component):
    """Combinational FP32 -> INT8 rounder for one lane (``fp32_to_fixed`` + ``round_fixed``).

    Parameters
    ----------
    mode : {"rne", "rtz", "sr"}
        Rounding mode, fixed at elaboration.
    frac_bits : int
        ``F``: fraction bits of the fixed-point value, and random bits for ``"sr"``.

    Members
    -------
    v : ``In(32)``
        FP32 bit pattern of the scaled value (subnormals are treated as zero).
    rnd : ``In(F)``
        The random integer ``r`` of ``SR_F``; present only for ``mode="sr"``.
    code : ``Out(signed(8))``
        The rounded, saturated code in ``[-127, 127]``.
    nan : ``Out(1)``
        ``v`` is NaN (``code`` is then 0).
    sat : ``Out(1)``
        The code was saturated (``v`` infinite, ``|v| >= 128``, or rounded outside the range).
    """

    def __init__(self, mode, frac_bits):
        self._mode = QuantizerConfig.param("mode").validate("quantizer", mode)
        self._F = QuantizerConfig.param("frac_bits").validate("quantizer", frac_bits)
        members = {"v": In(32), "code": Out(signed(8)), "nan": Out(1), "sat": Out(1)}
        if self._mode == "sr":
            members["rnd"] = In(self._F)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        F = self._F
        s, e, f = self.v[31], self.v[23:31], self.v[:23]

        # --- FP32 -> sign-magnitude fixed point: |v| * 2**F = mag + t, sticky = (t != 0) ------
        nan, big, zero = Signal(), Signal(), Signal()
        m.d.comb += [
            nan.eq((e == 0xFF) & f.any()),
            big.eq(((e == 0xFF) & ~f.any()) | ((e >= BIG_EXP) & (e != 0xFF))),
            zero.eq(e == 0),
        ]
        sig = Signal(24)
        shift = Signal(range(26))          # 150 - F - e, clipped to 25 (>= 17 - F when not big)
        shifted = Signal(24)
        lost = Signal()
        m.d.comb += [
            sig.eq(Cat(f, C(1, 1))),
            shift.eq(Mux(e <= 125 - F, 25, (150 - F) - e)),
            shifted.eq(sig >> shift),
            lost.eq((shifted << shift)[:24] != sig),
        ]
        mag = Signal(8 + F)                # 0 .. 128 * 2**F
        sticky = Signal()
        neg = Signal()
        with m.If(big):
            m.d.comb += mag.eq((INT8_MAX + 1) << F)
        with m.Elif(~(zero | nan)):
            m.d.comb += [mag.eq(shifted), sticky.eq(lost)]
        m.d.comb += neg.eq(s & ~nan)

        # --- rounding ------------------------------------------------------------------------
        if self._mode == "sr":
            vfx = Signal(signed(10 + F))   # floor(v * 2**F)
            t = Signal(signed(10 + F))
            m.d.comb += [
                vfx.eq(Mux(neg, -(mag + sticky), mag)),
                t.eq((vfx + self.rnd) >> F),
            ]
            over, under = t > INT8_MAX, t < -INT8_MAX
            m.d.comb += [
                self.code.eq(Mux(over, INT8_MAX, Mux(under, -INT8_MAX, t[:8]))),
                self.sat.eq(over | under),
            ]
        else:
            q = Signal(9)                  # rounded magnitude, 0 .. 128
            if self._mode == "rtz":
                m.d.comb += q.eq(mag[F:])
            else:
                rest = sticky if F == 1 else (mag[:F - 1].any() | sticky)
                m.d.comb += q.eq(mag[F:] + (mag[F - 1] & (rest | mag[F])))
            over = q > INT8_MAX
            qs = Signal(unsigned(7))
            m.d.comb += [
                qs.eq(Mux(over, INT8_MAX, q[:7])),
                self.code.eq(Mux(neg, -qs, qs)),
                self.sat.eq(over),
            ]
        m.d.comb += self.nan.eq(nan)
        return m


class Quantizer(BlockComponent):
    """``lanes`` parallel quantizer lanes: FP32 stream in, INT8 stream out.

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
    out : ``Out(stream.Signature(StructLayout{code: lanes x signed(8), nan: lanes x 1, sat: lanes x 1}))``
        Codes in ``[-127, 127]`` with per-lane NaN and saturation flags.
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
            "code": data.ArrayLayout(signed(8), c.lanes),
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
                v_reg = Signal(32, name=f"v{i}")
                with m.If(en):
                    m.d.sync += v_reg.eq(v)
                v = v_reg
                if sr:
                    r_reg = Signal(c.frac_bits, name=f"r{i}")
                    with m.If(en):
                        m.d.sync += r_reg.eq(r)
                    r = r_reg
            v_in.append(v)
            r_in.append(r)
        if c.pipelined:
            valid1 = Signal()
            with m.If(en):
                m.d.sync += valid1.eq(take)
            stage_valid = valid1

        # --- stage 2: round, saturate, output register ------------------------------------------
        with m.If(en):
            m.d.sync += self.out.valid.eq(stage_valid)
        for i in range(c.lanes):
            lane = RoundLane(c.mode, c.frac_bits)
            m.submodules[f"round{i}"] = lane
            m.d.comb += lane.v.eq(v_in[i])
            if sr:
                m.d.comb += lane.rnd.eq(r_in[i])
            with m.If(en):
                m.d.sync += [
                    self.out.payload.code[i].eq(lane.code),
                    self.out.payload.nan[i].eq(lane.nan),
                    self.out.payload.sat[i].eq(lane.sat),
                ]

        # --- sticky flags ----------------------------------------------------------------------
        xfer = self.out.valid & self.out.ready
        nan_now = xfer & self.out.payload.nan.as_value().any()
        sat_now = xfer & self.out.payload.sat.as_value().any()
        m.d.sync += [
            self.nan_flag.eq((self.nan_flag & ~self.flag_clear) | nan_now),
            self.sat_flag.eq((self.sat_flag & ~self.flag_clear) | sat_now),
        ]
        return m
