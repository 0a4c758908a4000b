"""GVQ quantizer lanes: per-channel clip + reciprocal scale from a register file, RNE or SR to b-bit codes.

One register file of ``channels`` entries holds ``(clip, inv)`` per channel; a *load* beat of the
input stream writes one entry, a *data* beat reads the entry of its channel (combinational read
port) for all ``P`` lanes. Per lane the ARC clip (:class:`hw.arc_quantizer.ClipLane`), one
:class:`hw.fp32.Fp32Mul` and the shared :class:`hw.quantizer.QuantizerLane` (mode ``rne`` or
``sr``; SR numbers from an instantiated :class:`hw.rlsru.Rlsru` that advances on data beats).
The golden model is :func:`golden.gvq_quantizer.run`; the MCS statistics and the scale update
run on the host (:func:`golden.gvq_quantizer.gvq_scales`).
"""

from amaranth import Module, Signal, signed, unsigned
from amaranth.lib import data, memory, stream
from amaranth.lib.wiring import In, Out

from golden.gvq_quantizer import GvqQuantizerConfig, rlsru_config
from .arc_quantizer import ClipLane
from .block import BlockComponent
from .fp32 import Fp32Mul
from .fp_add import register_values
from .quantizer import round_and_register
from .rlsru import Rlsru

__all__ = ["GvqQuantizer"]


class GvqQuantizer(BlockComponent):
    """``lanes`` GVQ lanes with a ``channels``-entry scale register file.

    Parameters
    ----------
    cfg : :class:`golden.gvq_quantizer.GvqQuantizerConfig`, optional
        The validated configuration; keyword arguments build one when it is omitted.

    Members
    -------
    inp : ``In(stream.Signature(StructLayout{x: P x unsigned(32), ch: unsigned(W), load: 1, clip: 32, inv: 32}))``
        ``load = 1``: write ``(clip, inv)`` into entry ``ch`` (no output); ``load = 0``: quantize
        ``x`` with entry ``ch``. ``ch`` must be below ``channels``.
    out : ``Out(stream.Signature(StructLayout{code: P x signed(bits), nan: P x 1, sat: P x 1, clip: P x 1}))``
        One beat per data beat: codes in ``[-(2**(bits-1)-1), 2**(bits-1)-1]``, per-lane NaN,
        saturation and clip flags.
    flag_clear : ``In(1)``
        Clears the sticky flags at the next edge (a flagged beat in the same cycle wins).
    nan_flag, sat_flag : ``Out(1)``
        Sticky: an output beat with a NaN (saturated) lane was transferred.

    Timing
    ------
    A data beat transferred in cycle ``T`` leaves in ``T + latency``, ``latency = 1 +
    pipelined``; a load beat is accepted in one cycle and writes at the end of it, so a data
    beat right after it reads the new entry. One beat per cycle; the pipeline advances when
    ``en = ~out.valid | out.ready`` and ``inp.ready = en``.
    """

    CONFIG = GvqQuantizerConfig

    def _members(self, c):
        out_layout = data.StructLayout({
            "code": data.ArrayLayout(signed(c.bits), c.lanes),
            "nan": data.ArrayLayout(unsigned(1), c.lanes),
            "sat": data.ArrayLayout(unsigned(1), c.lanes),
            "clip": data.ArrayLayout(unsigned(1), c.lanes),
        })
        return {
            "inp": In(stream.Signature(data.StructLayout({
                "x": data.ArrayLayout(unsigned(32), c.lanes), "ch": unsigned(c.ch_width),
                "load": 1, "clip": 32, "inv": 32}))),
            "out": Out(stream.Signature(out_layout)),
            "flag_clear": In(1),
            "nan_flag": Out(1),
            "sat_flag": Out(1),
        }

    def elaborate(self, platform):
        m = Module()
        c = self._cfg
        sr = c.mode == "sr"
        en, take, load, quant = Signal(), Signal(), Signal(), Signal()
        p = self.inp.payload
        m.d.comb += [
            en.eq(~self.out.valid | self.out.ready),
            self.inp.ready.eq(en),
            take.eq(en & self.inp.valid),
            load.eq(take & p.load),
            quant.eq(take & ~p.load),
        ]

        # --- the per-channel register file: one write port (load beats), one comb read port ----
        m.submodules.rf = rf = memory.Memory(shape=64, depth=c.channels, init=[])
        wr = rf.write_port()
        rd = rf.read_port(domain="comb")
        m.d.comb += [
            wr.addr.eq(p.ch), wr.data.eq(p.clip | (p.inv << 32)), wr.en.eq(load),
            rd.addr.eq(p.ch),
        ]
        clip_reg, inv_reg = rd.data[:32], rd.data[32:]

        if sr:
            m.submodules.rlsru = src = Rlsru(rlsru_config(c))
            m.d.comb += [src.inp.valid.eq(quant), src.inp.payload.restart.eq(0),
                         src.out.ready.eq(1)]

        # --- stage 1: clip, multiply (optionally registered) ---------------------------------
        lanes1 = []
        for i in range(c.lanes):
            cl, mul = ClipLane(), Fp32Mul()
            m.submodules[f"clip{i}"] = cl
            m.submodules[f"mul{i}"] = mul
            m.d.comb += [cl.x.eq(p.x[i]), cl.c.eq(clip_reg), mul.a.eq(cl.y), mul.b.eq(inv_reg)]
            v, k = mul.p, cl.clip
            r = src.out.payload[i] if sr else None
            if c.pipelined:
                v, k, r = register_values(m, (v, k, r), en, f"lane{i}")
            lanes1.append((v, k, r))
        stage_valid = quant
        if c.pipelined:
            stage_valid, = register_values(m, (quant,), en, "stage1_valid")

        # --- stage 2: the shared rounding stage, output register ------------------------------
        round_and_register(m, self, en, stage_valid,
                           [(v, r, {"clip": k}) for v, k, r in lanes1], c.frac_bits, (c.mode,),
                           c.bits)
        return m
