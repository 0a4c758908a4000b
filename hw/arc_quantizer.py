"""ARC quantizer lanes: clip to +-c, multiply by the reciprocal scale, round toward zero to b-bit codes.

Reuses the shared quantizer lane: :class:`hw.fp32.Fp32Mul` for ``v = fp32(x * inv)`` and
:class:`hw.quantizer.QuantizerLane` (conversion + the one :class:`hw.rounding.RoundStage`) in
``"rtz"`` mode; with the per-layer adaptive choice the same stage rounds RTZ or RNE by its
run-time mode input (one rounder, not two lanes). The golden model is
:func:`golden.arc_quantizer.arc_quantize_bits`; this component is correct when it is bit- and
cycle-identical to it and to :class:`golden.arc_quantizer.ArcQuantizerConfig`'s cycle model.
"""

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.arc_quantizer import ARC_FRAC_BITS, ArcQuantizerConfig
from .block import BlockComponent
from .fp32 import Fp32Mul
from .fp_add import register_values
from .quantizer import round_and_register

__all__ = ["ClipLane", "ArcQuantizer"]


class ClipLane(wiring.Component):
    """Combinational clip of one FP32 pattern to ``[-|c|, |c|]`` (:func:`golden.arc_quantizer.clip_bits`).

    Members
    -------
    x : ``In(32)``
        Input bit pattern (subnormals are flushed to a signed zero first).
    c : ``In(32)``
        Clip register (its sign bit is ignored).
    y : ``Out(32)``
        ``sign(x) | mag(c)`` when ``mag(x) > mag(c)`` and ``x`` is not NaN, else flushed ``x``.
    clip : ``Out(1)``
        The element was clipped (outliers and +-Inf).

    Hardware: one 31-bit magnitude comparator, a NaN detector and a 31-bit 2:1 multiplexer.
    """

    x: In(32)
    c: In(32)
    y: Out(32)
    clip: Out(1)

    def elaborate(self, platform):
        m = Module()
        sub = self.x[23:31] == 0
        mag = Signal(31)
        m.d.comb += mag.eq(Mux(sub, 0, self.x[:31]))
        nan = mag > 0x7F80_0000
        m.d.comb += [
            self.clip.eq((mag > self.c[:31]) & ~nan),
            self.y.eq(Cat(Mux(self.clip, self.c[:31], mag), self.x[31])),
        ]
        return m


class ArcQuantizer(BlockComponent):
    """``lanes`` ARC lanes: FP32 stream in, clipped RTZ (or RNE) ``bits``-bit codes out.

    Parameters
    ----------
    cfg : :class:`golden.arc_quantizer.ArcQuantizerConfig`, optional
        The validated configuration; keyword arguments build one when it is omitted.

    Members
    -------
    inp : ``In(stream.Signature(ArrayLayout(unsigned(32), lanes)))``
        One FP32 bit pattern per lane and beat.
    out : ``Out(stream.Signature(StructLayout{code: P x signed(bits), nan: P x 1, sat: P x 1, clip: P x 1}))``
        Codes in ``[-(2**(bits-1)-1), 2**(bits-1)-1]``, per-lane NaN, saturation and clip flags.
    clip : ``In(32)``
        Host-set FP32 clip value ``c`` (from the statistics unit's ``cmax``).
    inv_scale : ``In(32)``
        Host-set FP32 ``fp32(1 / s)``, ``s = fp32(c / (2**(bits-1)-1))`` (:func:`golden.arc.arc_scale`).
    rne : ``In(1)``, only with ``adaptive``
        1 = round to nearest even, 0 = round toward zero; hold it for the whole tensor.
    flag_clear : ``In(1)``
        Clears the sticky flags at the next clock edge (a flagged beat in the same cycle wins).
    nan_flag, sat_flag : ``Out(1)``
        Sticky: set when an output beat with a NaN (saturated) lane is transferred.

    Timing
    ------
    As :class:`hw.quantizer.Quantizer`: the clip is combinational in front of the multiplier;
    input beat ``i`` leaves ``latency = 1 + pipelined`` cycles after its transfer, one beat per
    cycle; the pipeline advances when ``en = ~out.valid | out.ready`` and ``inp.ready = en``.
    """

    CONFIG = ArcQuantizerConfig

    def _members(self, c):
        out_layout = data.StructLayout({
            "code": data.ArrayLayout(signed(c.bits), c.lanes),
            "nan": data.ArrayLayout(unsigned(1), c.lanes),
            "sat": data.ArrayLayout(unsigned(1), c.lanes),
            "clip": data.ArrayLayout(unsigned(1), c.lanes),
        })
        members = {
            "inp": In(stream.Signature(data.ArrayLayout(unsigned(32), c.lanes))),
            "out": Out(stream.Signature(out_layout)),
            "clip": In(32),
            "inv_scale": In(32),
            "flag_clear": In(1),
            "nan_flag": Out(1),
            "sat_flag": Out(1),
        }
        if c.adaptive:
            members["rne"] = In(1)
        return members

    def elaborate(self, platform):
        m = Module()
        c = self._cfg
        en = Signal()
        take = Signal()
        m.d.comb += [
            en.eq(~self.out.valid | self.out.ready),
            self.inp.ready.eq(en),
            take.eq(en & self.inp.valid),
        ]

        # --- stage 1: clip and multiply (optionally registered) -------------------------------
        v_in, k_in = [], []
        for i in range(c.lanes):
            cl = ClipLane()
            mul = Fp32Mul()
            m.submodules[f"clip{i}"] = cl
            m.submodules[f"mul{i}"] = mul
            m.d.comb += [
                cl.x.eq(self.inp.payload[i]), cl.c.eq(self.clip),
                mul.a.eq(cl.y), mul.b.eq(self.inv_scale),
            ]
            v, k = mul.p, cl.clip
            if c.pipelined:
                v, k = register_values(m, (v, k), en, f"lane{i}")
            v_in.append(v)
            k_in.append(k)
        stage_valid = take
        if c.pipelined:
            stage_valid, = register_values(m, (take,), en, "stage1_valid")

        # --- stage 2: round (RTZ, or RTZ/RNE by the rne input), output register -----------------
        round_and_register(m, self, en, stage_valid,
                           [(v, None, {"clip": k}) for v, k in zip(v_in, k_in)], ARC_FRAC_BITS,
                           ("rtz", "rne") if c.adaptive else ("rtz",), c.bits,
                           mode=self.rne if c.adaptive else None)
        return m
