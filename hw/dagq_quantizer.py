"""DAGQ quantizer lanes: dual-scale stochastic rounding of FP32 gradients to b-bit codes + 2-bit region.

Per lane: a 31-bit magnitude comparator picks the region (``|x| > |th|``), an FP32 subtractor
(the one adder implementation, :func:`hw.fp_add.fp_add_datapath` in FP(8, 23)) forms ``|x| - th``
for the outer region, **one** :class:`hw.fp32.Fp32Mul` multiplies the selected operand by the
selected reciprocal scale (``inv1`` inner, ``inv2`` outer), and the shared
:class:`hw.quantizer.QuantizerLane` (``Fp32ToFixed`` + the one ``RoundStage``, mode ``sr``)
rounds with the lane's random number from an instantiated :class:`hw.rlsru.Rlsru`.

The golden model is :func:`golden.dagq_quantizer.run` / :func:`golden.dagq_quantizer.
dagq_quantize_bits`; the threshold search (OTS) runs on the host (:func:`golden.dagq_quantizer.
ots`), which drives this block once per candidate and once for the final pass, restarting the
random source each time (``restart`` bit, ``replay`` scheme).
"""

from amaranth import C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden.dagq_quantizer import DagqQuantizerConfig, rlsru_config
from golden.fp_add import FpAddConfig
from .block import BlockComponent
from .fp32 import Fp32Mul
from .fp_add import fp_add_datapath, register_values
from .quantizer import round_and_register
from .rlsru import Rlsru

__all__ = ["DagqSelect", "DagqQuantizer"]

#: FP32 as FP(8, 23) with IEEE Inf/NaN and RNE, for the shared adder datapath
_FP32_ADD = FpAddConfig(exp_bits=8, man_bits=23, rounding="rne", inf_nan=True)


class DagqSelect(wiring.Component):
    """Combinational front of one DAGQ lane: region, outer subtraction, scaled value ``v``.

    Members
    -------
    x : ``In(32)``
        FP32 input bit pattern.
    th, inv1, inv2 : ``In(32)``
        Registers (sign of ``th`` ignored; subnormals treated as zero).
    v : ``Out(32)``
        ``fp32(x * inv1)`` (inner) or ``fp32(sign(x) * flush(fp32(|x| - |th|)) * inv2)`` (outer).
    region : ``Out(2)``
        0 inner (and NaN), 1 outer negative, 2 outer positive.
    """

    x: In(32)
    th: In(32)
    inv1: In(32)
    inv2: In(32)
    v: Out(32)
    region: Out(2)

    def elaborate(self, platform):
        m = Module()
        xm, thm = Signal(31), Signal(31)
        m.d.comb += [
            xm.eq(Mux(self.x[23:31] == 0, 0, self.x[:31])),
            thm.eq(Mux(self.th[23:31] == 0, 0, self.th[:31])),
        ]
        outer = Signal()
        m.d.comb += outer.eq((xm > thm) & (xm <= 0x7F80_0000))
        # |x| - |th| >= 0: one FP32 subtraction; a subnormal difference is flushed by the
        # multiplier, which treats every operand with a zero exponent field as zero
        diff, _, _ = fp_add_datapath(_FP32_ADD, m, Cat(xm, C(0, 1)), Cat(thm, C(1, 1)))
        d = Signal(32)
        m.d.comb += d.eq(Cat(diff[:31], self.x[31]))
        m.submodules.mul = mul = Fp32Mul()
        m.d.comb += [
            mul.a.eq(Mux(outer, d, self.x)),
            mul.b.eq(Mux(outer, self.inv2, self.inv1)),
            self.v.eq(mul.p),
            self.region.eq(Mux(outer, Mux(self.x[31], 1, 2), 0)),
        ]
        return m


class DagqQuantizer(BlockComponent):
    """``lanes`` DAGQ lanes with their RLSRU: FP32 stream in, ``bits``-bit code + region stream out.

    Parameters
    ----------
    cfg : :class:`golden.dagq_quantizer.DagqQuantizerConfig`, optional
        The validated configuration; keyword arguments build one when it is omitted.

    Members
    -------
    inp : ``In(stream.Signature(StructLayout{x: P x unsigned(32), restart: 1}))``
        FP32 bit patterns; ``restart = 1`` restarts the random source from the seed on this beat
        (``replay`` scheme; the other schemes ignore it).
    out : ``Out(stream.Signature(StructLayout{code: P x signed(bits), region: P x unsigned(2), nan: P x 1, sat: P x 1}))``
        Codes in ``[-(2**(bits-1)-1), 2**(bits-1)-1]``, regions, per-lane NaN and saturation flags.
    th, inv1, inv2 : ``In(32)``
        Host registers (:func:`golden.dagq_quantizer.dagq_registers`); hold while beats are in
        flight.
    flag_clear : ``In(1)``
        Clears the sticky flags at the next edge (a flagged beat in the same cycle wins).
    nan_flag, sat_flag : ``Out(1)``
        Sticky: an output beat with a NaN (saturated) lane was transferred.

    Timing
    ------
    As :class:`hw.quantizer.Quantizer`: input beat ``i`` leaves ``latency = 1 + pipelined``
    cycles after its transfer, one beat per cycle; the pipeline advances when
    ``en = ~out.valid | out.ready`` and ``inp.ready = en``. The random source advances exactly on
    an input transfer, so beat ``t`` is rounded with ``golden.rlsru.generate()[t]`` whatever the
    gaps and stalls; its numbers travel down the pipeline with the beat.
    """

    CONFIG = DagqQuantizerConfig

    def _members(self, c):
        out_layout = data.StructLayout({
            "code": data.ArrayLayout(signed(c.bits), c.lanes),
            "region": data.ArrayLayout(unsigned(2), c.lanes),
            "nan": data.ArrayLayout(unsigned(1), c.lanes),
            "sat": data.ArrayLayout(unsigned(1), c.lanes),
        })
        return {
            "inp": In(stream.Signature(data.StructLayout({
                "x": data.ArrayLayout(unsigned(32), c.lanes), "restart": 1}))),
            "out": Out(stream.Signature(out_layout)),
            "th": In(32),
            "inv1": In(32),
            "inv2": In(32),
            "flag_clear": In(1),
            "nan_flag": Out(1),
            "sat_flag": Out(1),
        }

    def elaborate(self, platform):
        m = Module()
        c = self._cfg
        en, take = Signal(), Signal()
        m.d.comb += [
            en.eq(~self.out.valid | self.out.ready),
            self.inp.ready.eq(en),
            take.eq(en & self.inp.valid),
        ]
        m.submodules.rlsru = src = Rlsru(rlsru_config(c))
        m.d.comb += [
            src.inp.valid.eq(take),
            src.inp.payload.restart.eq(self.inp.payload.restart),
            src.out.ready.eq(1),
        ]

        # --- stage 1: region, subtract, multiply (optionally registered) ----------------------
        lanes1 = []
        for i in range(c.lanes):
            sel = DagqSelect()
            m.submodules[f"sel{i}"] = sel
            m.d.comb += [sel.x.eq(self.inp.payload.x[i]), sel.th.eq(self.th),
                         sel.inv1.eq(self.inv1), sel.inv2.eq(self.inv2)]
            v, reg, r = sel.v, sel.region, src.out.payload[i]
            if c.pipelined:
                v, reg, r = register_values(m, (v, reg, r), en, f"lane{i}")
            lanes1.append((v, reg, r))
        stage_valid = take
        if c.pipelined:
            stage_valid, = register_values(m, (take,), en, "stage1_valid")

        # --- stage 2: SR on the shared rounding stage, output register ------------------------
        round_and_register(m, self, en, stage_valid,
                           [(v, r, {"region": reg}) for v, reg, r in lanes1], c.frac_bits,
                           ("sr",), c.bits)
        return m
