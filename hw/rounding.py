"""The one rounding stage of every quantizer, and the conversion that feeds it.

The split follows HardFloat (a raw, unrounded value, then one rounding module): the conversion
:class:`Fp32ToFixed` turns an FP32 value into a *raw* sign-magnitude fixed-point record
``(neg, mag, sticky)`` with ``F`` fraction bits (:func:`golden.quantizer.fp32_to_fixed`), and
:class:`RoundStage` rounds and saturates such a record to a symmetric code
(:func:`golden.quantizer.round_fixed` + :func:`golden.quantizer.saturate_codes`). The quantizer,
the ARC quantizer and the SR unit all use this stage; a new quantizer (DAGQ, GVQ) does too.

Rounding of the raw record ``|v| * 2**F = mag + t`` (``0 <= t < 1``, ``sticky = t != 0``), as a
magnitude ``q`` and the sign ``neg``:

* ``rtz``: ``q = mag >> F``;
* ``rne``: ``q = (mag >> F) + inc``, ``inc = g & (rest | lsb)`` (guard bit ``g = mag[F-1]``,
  ``rest`` = lower bits or ``sticky``, ``lsb = mag[F]``);
* ``sr``: the floor-based ``SR_F(v) = floor((floor(v * 2**F) + r) / 2**F)`` written on the
  magnitude: ``q = (mag + r) >> F`` for ``v >= 0`` and ``q = (mag + ~r + sticky) >> F`` for
  ``v < 0`` (``~r = 2**F - 1 - r``), since ``-floor((-(mag + sticky) + r) / 2**F) =
  floor((mag + sticky + 2**F - 1 - r) / 2**F)``;

then ``code = neg ? -min(q, L) : min(q, L)`` with ``L = 2**(code_bits-1) - 1`` and ``sat = q > L``.
With several modes the mode is a run-time input; only the parts the modes need are built (a
fixed ``rtz`` stage is wiring and a comparator).

A datapath whose values are already two's-complement integers (the SR unit's fixed-point input)
uses the stage's ``twos`` form instead: ``x = floor(v * 2**F)`` is exact, ``SR_F`` is the adder
form ``t = (x + r) >> F`` itself, and ``t`` is clamped to ``[-L, L]``. Converting such an input
to sign-magnitude first would cost an absolute value per lane (measured on the 16-lane SR unit:
1,290 instead of 341 iCE40 LUTs), so the stage takes it as it is.
"""

from amaranth import C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.params import ConfigError
from golden.quantizer import MODES, big_exp, check_bits

__all__ = ["Fp32ToFixed", "RoundStage", "sticky_flags"]


class Fp32ToFixed(wiring.Component):
    """Combinational FP32 -> raw sign-magnitude fixed point (:func:`golden.quantizer.fp32_to_fixed`).

    Parameters
    ----------
    frac_bits : int
        ``F`` (1..16): fraction bits of the fixed-point value.
    code_bits : int
        ``b`` (2..16): width of the code the record is rounded to; values from ``2**(b-1)`` on
        saturate.

    Members
    -------
    v : ``In(32)``
        FP32 bit pattern (subnormals are treated as zero).
    neg : ``Out(1)``
        Sign of ``v`` (0 for NaN).
    mag : ``Out(b + F)``
        ``floor(|v| * 2**F)`` for ``|v| < 2**(b-1)``; ``2**(b-1) * 2**F`` for larger ``|v|`` and
        +-Inf (so every rounding saturates); 0 for zeros, subnormals and NaN. When ``F + b > 25``
        the largest in-range values are the significand shifted *left* (exact).
    sticky : ``Out(1)``
        Bits of ``|v| * 2**F`` below the binary point were lost.
    nan : ``Out(1)``
        ``v`` is NaN.
    """

    def __init__(self, frac_bits, code_bits=8):
        if not 1 <= int(frac_bits) <= 16:
            raise ConfigError(f"Fp32ToFixed frac_bits={frac_bits} is out of range: allowed values "
                              f"are 1..16.")
        self._F = int(frac_bits)
        self._b = check_bits(code_bits, "Fp32ToFixed")
        super().__init__({"v": In(32), "neg": Out(1), "mag": Out(self._b + self._F),
                          "sticky": Out(1), "nan": Out(1)})

    def elaborate(self, platform):
        m = Module()
        F, b = self._F, self._b
        s, e, f = self.v[31], self.v[23:31], self.v[:23]
        nan, big, zero = Signal(), Signal(), Signal()
        m.d.comb += [
            nan.eq((e == 0xFF) & f.any()),
            big.eq(((e == 0xFF) & ~f.any()) | ((e >= big_exp(b)) & (e != 0xFF))),
            zero.eq(e == 0),
        ]
        left = F + b - 25                   # > 0: the widest in-range values need a left shift
        sig = Signal(24)
        shift = Signal(range(26))          # 150 - F - e, clipped to 0..25 (>= 25 - F - b if not big)
        shifted = Signal(24)
        lost = Signal()
        right = (150 - F) - e
        if left > 0:                        # (otherwise e > 150 - F only for big values)
            right = Mux(e >= 150 - F, 0, right)
        m.d.comb += [
            sig.eq(Cat(f, C(1, 1))),
            shift.eq(Mux(e <= 125 - F, 25, right)),
            shifted.eq(sig >> shift),
            lost.eq((shifted << shift)[:24] != sig),
        ]
        value = shifted
        if left > 0:
            lshift = Signal(range(left + 1))
            value = Signal(24 + left)
            m.d.comb += [lshift.eq(Mux(e >= 150 - F, e - (150 - F), 0)),
                         value.eq(shifted << lshift)]
        with m.If(big):
            m.d.comb += self.mag.eq((1 << (b - 1)) << F)
        with m.Elif(~(zero | nan)):
            m.d.comb += [self.mag.eq(value), self.sticky.eq(lost)]
        m.d.comb += [self.neg.eq(s & ~nan), self.nan.eq(nan)]
        return m


class RoundStage(wiring.Component):
    """Round and saturate a raw sign-magnitude fixed-point value to a symmetric integer code.

    Parameters
    ----------
    mag_width : int
        Width of ``mag``.
    frac_bits : int
        ``F`` (1..16): fraction bits of ``mag``; the random integer of ``sr`` has ``F`` bits.
    modes : tuple of str
        The rounding modes the stage implements, from ``("rne", "rtz", "sr")``. With one mode
        the mode is fixed; with several, the ``mode`` input selects ``modes[mode]`` at run time
        and one rounder serves them all.
    code_bits : int
        Width of the code (2..16); the range is ``[-(2**(code_bits-1) - 1), 2**(code_bits-1) - 1]``.

    twos : bool
        Take a two's-complement integer ``x`` (exact ``floor(v * 2**F)``) instead of the
        sign-magnitude record; only with ``modes=("sr",)``.

    Members
    -------
    neg, mag, sticky : ``In(1)``, ``In(mag_width)``, ``In(1)``, unless ``twos``
        The raw value ``(-1)**neg * (mag + t) / 2**F``, ``sticky = (t != 0)``.
    x : ``In(signed(mag_width))``, only with ``twos``
        ``floor(v * 2**F)`` as a two's-complement integer.
    rnd : ``In(F)``, only when ``"sr"`` is among the modes
        The random integer ``r`` of ``SR_F``.
    mode : ``In(range(len(modes)))``, only with several modes
        Index into ``modes``; must be held while values are in flight.
    code : ``Out(signed(code_bits))``
        The rounded code, saturated to the symmetric range.
    sat : ``Out(1)``
        The rounded magnitude was outside the range (``code`` was clamped).

    Combinational; no latency of its own.
    """

    def __init__(self, mag_width, frac_bits, modes=("rne",), code_bits=8, twos=False):
        modes = tuple(modes)
        if twos and modes != ("sr",):
            raise ConfigError(f"RoundStage modes={modes!r} is invalid with twos=True: allowed "
                              f"value is ('sr',) (a two's-complement input is rounded by SR_F).")
        if not modes or len(set(modes)) != len(modes) or any(md not in MODES for md in modes):
            raise ConfigError(f"RoundStage modes={modes!r} is invalid: allowed values are distinct "
                              f"names from {', '.join(MODES)}.")
        if not 1 <= int(frac_bits) <= 16:
            raise ConfigError(f"RoundStage frac_bits={frac_bits} is out of range: allowed values "
                              f"are 1..16.")
        if not 2 <= int(code_bits) <= 16:
            raise ConfigError(f"RoundStage code_bits={code_bits} is out of range: allowed values "
                              f"are 2..16.")
        if not int(frac_bits) < int(mag_width) <= 64:
            raise ConfigError(f"RoundStage mag_width={mag_width} is out of range: allowed values "
                              f"are {int(frac_bits) + 1}..64 for frac_bits={frac_bits}.")
        self._modes, self._F, self._w, self._b = modes, int(frac_bits), int(mag_width), int(code_bits)
        self._twos = bool(twos)
        if self._twos:
            members = {"x": In(signed(self._w)), "code": Out(signed(self._b)), "sat": Out(1)}
        else:
            members = {"neg": In(1), "mag": In(self._w), "sticky": In(1),
                       "code": Out(signed(self._b)), "sat": Out(1)}
        if "sr" in modes:
            members["rnd"] = In(unsigned(self._F))
        if len(modes) > 1:
            members["mode"] = In(range(len(modes)))
        super().__init__(members)

    @property
    def modes(self):
        return self._modes

    def _is(self, name):
        """A 1-bit value: the stage is in mode ``name`` (a constant with one mode)."""
        if name not in self._modes:
            return C(0, 1)
        if len(self._modes) == 1:
            return C(1, 1)
        return self.mode == self._modes.index(name)

    def elaborate(self, platform):
        m = Module()
        F, W = self._F, self._w
        limit = (1 << (self._b - 1)) - 1
        if self._twos:
            t = Signal(signed(W + 1 - F))
            m.d.comb += t.eq((self.x + self.rnd) >> F)
            over, under = t > limit, t < -limit
            m.d.comb += [
                self.code.eq(Mux(over, limit, Mux(under, -limit, t))),
                self.sat.eq(over | under),
            ]
            return m
        mag = self.mag

        # SR: add r (v >= 0) or ~r + sticky (v < 0) below the binary point
        if "sr" in self._modes:
            addend = Signal(F)
            m.d.comb += addend.eq(Mux(self.neg, ~self.rnd, self.rnd))
            summed = Signal(W + 1)
            is_sr = self._is("sr")
            m.d.comb += summed.eq(mag + Mux(is_sr, addend, 0) + (is_sr & self.neg & self.sticky))
            mag = summed

        # RNE: increment on guard & (rest | lsb); RTZ: none
        q = Signal(len(mag) - F + 1)
        if "rne" in self._modes:
            rest = self.sticky if F == 1 else (mag[:F - 1].any() | self.sticky)
            inc = self._is("rne") & mag[F - 1] & (rest | mag[F])
            m.d.comb += q.eq(mag[F:] + inc)
        else:
            m.d.comb += q.eq(mag[F:])

        over = q > limit
        qs = Signal(unsigned(self._b - 1))
        m.d.comb += [
            qs.eq(Mux(over, limit, q[:self._b - 1])),
            self.code.eq(Mux(self.neg, -qs, qs)),
            self.sat.eq(over),
        ]
        return m


def sticky_flags(m, out, flag_clear, flags):
    """Sticky flags of a quantizer's output stream.

    ``flags`` is a list of ``(port, field)``: the sticky output ``port`` is set when an output
    beat with any lane of the per-lane payload array ``field`` flagged is transferred, and
    cleared by ``flag_clear`` (a flagged beat transferred in the clearing cycle sets it again).
    """
    xfer = out.valid & out.ready
    for port, field in flags:
        m.d.sync += port.eq((port & ~flag_clear) | (xfer & field.as_value().any()))
