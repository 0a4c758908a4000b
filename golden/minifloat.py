"""Golden model of the FP(e, m) minifloat formats: encoding, rounding, addition, multiplication.

Everything works on **bit patterns** held in ``int64`` NumPy arrays, vectorized, so exhaustive
sweeps over all operand pairs of a 12-bit format (2**24 pairs) run in seconds. The hardware in
:mod:`hw.fp_add` and :mod:`hw.fp_mul` is correct when it returns the same bit patterns and flags.

Format ``FP(e, m)`` (:class:`FpFormat`)
---------------------------------------
One sign bit, ``e`` exponent bits, ``m`` mantissa bits (``2 <= e <= 8``, ``1 <= m <= 23``),
stored as ``sign << (e+m) | E << m | M``; bias ``2**(e-1) - 1``; exponent field ``E = 0`` holds
zero and the subnormals ``M * 2**(1-bias-m)``; ``E >= 1`` holds ``(1 + M/2**m) * 2**(E-bias)``.

``inf_nan=True`` (default, IEEE-like): the all-ones exponent is reserved, ``M = 0`` is +-Inf and
``M != 0`` is NaN; the largest finite value is ``(2 - 2**-m) * 2**bias`` (65,024 for E5M6).
``inf_nan=False`` (saturating no-Inf/NaN mode): the all-ones exponent encodes finite numbers like
any other, there is no Inf and no NaN, and the largest value is ``(2 - 2**-m) * 2**(bias+1)``
(130,048 for E5M6).

Policy (identical in golden model and hardware)
-----------------------------------------------
* Rounding of every result: ``"rne"`` (round to nearest, ties to even) or ``"rtz"`` (toward zero),
  applied once to the exact result, subnormals included (gradual underflow).
* **Finite overflow saturates**: a result whose rounded magnitude (with an unbounded exponent) is
  larger than the largest finite value becomes +-max, and its ``ovf`` flag is set. This holds in
  both modes and both roundings (with RTZ a value between max and the next power of two rounds to
  max without ``ovf``, exactly as IEEE's overflow definition says).
* Inf/NaN operands (``inf_nan=True`` only) follow IEEE 754: NaN in -> NaN out; Inf + -Inf,
  Inf * 0 -> NaN; Inf +- finite -> Inf with Inf's sign; Inf * nonzero -> Inf with the XOR sign.
  Every NaN result is the **canonical NaN** ``0 | all-ones exponent | 1 << (m-1)`` (sign clear,
  quiet bit set) and has its ``nan`` flag set; NaN payloads are not propagated.
* Mixed-format addition (:func:`fp_add` with ``fmt_b``, the ``addend_man`` parameter of the
  ``fp_add`` and ``dga`` blocks): an accumulator value of ``fmt`` plus an addend of a wider
  format is the exact sum rounded once to ``fmt``, with the same saturation, Inf/NaN and
  signed-zero rules (only the rounded sum saturates).
* Signed zeros follow IEEE 754 for RNE and RTZ: an exact zero sum of nonzero operands is +0,
  ``(-0) + (-0) = -0``, ``(+0) + (-0) = +0``; a product's zero has the XOR of the signs.

Range of ``m``: the issue's FP formats need ``m <= 12``; the range extends to ``m <= 23`` so that
the same integer model also covers FP32 (E8M23) for the accumulator comparison. The arithmetic
stays exact in ``int64``: the widest intermediate is the aligned sum of :func:`fp_add`,
``< 2**(2m+5) = 2**51`` for ``m = 23``, below the ``2**53`` limit of :func:`_bit_length`
(float64 ``frexp``); a product's significand is ``< 2**48``; every value of FP(e<=8, m<=23)
is a float64 (53-bit significand, exponents down to ``2**-149``).

Oracles (see ``tests/test_minifloat.py``): gfloat ``round_ndarray`` (Extended and Finite domains),
gmpy2/MPFR contexts, apytypes ``APyFloatArray``, NumPy ``float16`` for E5M10 and NumPy
``float32`` for E8M23.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .params import ConfigError, Param

__all__ = ["FP_FORMAT_PARAMS", "FpFormatParams", "FpFormat", "ROUNDING_MODES", "MAN_BITS_MAX", "check_mode", "fp_round", "encode",
           "decode", "fp_add", "check_addend_format", "ADDEND_PARAM", "fp_mul", "exact_product_format", "FpResult", "classify"]

#: the rounding modes every FP block accepts
ROUNDING_MODES = ("rne", "rtz")
#: largest mantissa width m (FP32 = E8M23); the integer arithmetic stays exact in int64 up to it
MAN_BITS_MAX = 23


def check_mode(mode, where="rounding"):
    """Return ``mode`` if it is a known rounding mode, else raise :class:`ConfigError`."""
    if mode not in ROUNDING_MODES:
        raise ConfigError(f"{where} mode {mode!r} is invalid: allowed values are "
                          f"{', '.join(ROUNDING_MODES)}.")
    return mode


@dataclass(frozen=True)
class FpFormat:
    """The minifloat format FP(e, m) (see the module docstring for the encoding and policy).

    Parameters
    ----------
    e : int
        Exponent bits, 2..8.
    m : int
        Mantissa (fraction) bits, 1..23 (:data:`MAN_BITS_MAX`).
    inf_nan : bool
        ``True``: the all-ones exponent is reserved for Inf/NaN (IEEE-like); ``False``: it encodes
        finite values (saturating no-Inf/NaN mode).
    """
    e: int
    m: int
    inf_nan: bool = True

    def __post_init__(self):
        for name, v, lo, hi in (("e", self.e, 2, 8), ("m", self.m, 1, MAN_BITS_MAX)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ConfigError(f"FP format parameter {name}={v!r} is invalid: allowed values "
                                  f"are an integer in {lo}..{hi}.")
            if not lo <= v <= hi:
                raise ConfigError(f"FP format parameter {name}={v!r} is out of range: allowed "
                                  f"values are an integer in {lo}..{hi}.")
        if not isinstance(self.inf_nan, (bool, np.bool_)):
            raise ConfigError(f"FP format parameter inf_nan={self.inf_nan!r} is invalid: allowed "
                              f"values are true or false.")
        object.__setattr__(self, "e", int(self.e))
        object.__setattr__(self, "m", int(self.m))
        object.__setattr__(self, "inf_nan", bool(self.inf_nan))

    # --- constants --------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """``"E5M6"`` or ``"E5M6-noinf"``."""
        return f"E{self.e}M{self.m}" + ("" if self.inf_nan else "-noinf")

    @property
    def width(self) -> int:
        return 1 + self.e + self.m

    @property
    def bias(self) -> int:
        return (1 << (self.e - 1)) - 1

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal number (also the scale of the subnormals)."""
        return 1 - self.bias

    @property
    def emax(self) -> int:
        """Exponent of the largest finite number."""
        top = (1 << self.e) - (2 if self.inf_nan else 1)
        return top - self.bias

    @property
    def exp_ones(self) -> int:
        return (1 << self.e) - 1

    @property
    def sign_bit(self) -> int:
        return 1 << (self.e + self.m)

    @property
    def mag_mask(self) -> int:
        return self.sign_bit - 1

    @property
    def max_code(self) -> int:
        """Magnitude bits of the largest finite value."""
        return ((self.emax + self.bias) << self.m) | ((1 << self.m) - 1)

    @property
    def inf_code(self) -> int:
        """Magnitude bits of +Inf (``inf_nan=True`` only)."""
        if not self.inf_nan:
            raise ConfigError(f"format {self.name} has no Inf: it is the no-Inf/NaN mode.")
        return self.exp_ones << self.m

    @property
    def nan_code(self) -> int:
        """The canonical NaN (``inf_nan=True`` only)."""
        if not self.inf_nan:
            raise ConfigError(f"format {self.name} has no NaN: it is the no-Inf/NaN mode.")
        return (self.exp_ones << self.m) | (1 << (self.m - 1))

    @property
    def max_value(self) -> float:
        return float((2.0 - 2.0 ** -self.m) * 2.0 ** self.emax)

    @property
    def min_subnormal(self) -> float:
        return float(2.0 ** (self.emin - self.m))

    @property
    def min_normal(self) -> float:
        return float(2.0 ** self.emin)

    def all_codes(self) -> np.ndarray:
        """Every bit pattern of the format, ``0 .. 2**width - 1``, as int64."""
        return np.arange(1 << self.width, dtype=np.int64)

    def check_bits(self, bits) -> np.ndarray:
        """``bits`` as an int64 array, or :class:`ConfigError` when a value is not a pattern."""
        b = np.asarray(bits)
        if not np.issubdtype(b.dtype, np.integer):
            raise ConfigError(f"{self.name} operand has dtype {b.dtype}: expected integer bit "
                              f"patterns.")
        b = b.astype(np.int64)
        if b.size and (b.min() < 0 or b.max() >= (1 << self.width)):
            bad = int(b.min()) if b.min() < 0 else int(b.max())
            raise ConfigError(f"{self.name} bit pattern {bad} is out of range: allowed values are "
                              f"0..{(1 << self.width) - 1}.")
        return b

    def __str__(self):
        return self.name


@dataclass
class FpResult:
    """Result of a golden FP operation: bit patterns and per-element flags.

    Attributes
    ----------
    bits : int64 array -- result bit patterns.
    nan : bool array -- the result is NaN (a NaN operand or an invalid operation).
    ovf : bool array -- a finite result saturated to +-max (see the module docstring).
    """
    bits: np.ndarray
    nan: np.ndarray
    ovf: np.ndarray


def classify(fmt: FpFormat, bits):
    """Split bit patterns into fields and classes.

    Returns
    -------
    dict with int64 arrays ``sign``, ``exp`` (field), ``man`` (field), ``sig`` (integer
    significand incl. the hidden bit), ``q`` (exponent of the significand's LSB: the value is
    ``(-1)**sign * sig * 2**q``) and bool arrays ``zero``, ``sub``, ``inf``, ``nan``.
    """
    b = fmt.check_bits(bits)
    m = fmt.m
    sign = (b >> (fmt.e + m)) & 1
    E = (b >> m) & fmt.exp_ones
    M = b & ((1 << m) - 1)
    sig = np.where(E == 0, M, M | (1 << m))
    q = np.maximum(E, 1) - fmt.bias - m
    special = (E == fmt.exp_ones) if fmt.inf_nan else np.zeros(b.shape, dtype=bool)
    return {"sign": sign, "exp": E, "man": M, "sig": sig, "q": q,
            "zero": (E == 0) & (M == 0), "sub": (E == 0) & (M != 0),
            "inf": special & (M == 0), "nan": special & (M != 0)}


def decode(fmt: FpFormat, bits) -> np.ndarray:
    """Values of bit patterns as float64 (exact: every FP(e<=8, m<=23) value fits a double)."""
    c = classify(fmt, bits)
    v = np.ldexp(c["sig"].astype(np.float64), c["q"].astype(np.int64))
    v = np.where(c["inf"], np.inf, v)
    v = np.where(c["nan"], np.nan, v)
    return np.where(c["sign"] == 1, -v, v)


def _bit_length(x):
    """Bit length of non-negative int64 values below 2**53 (0 -> 0)."""
    _, ex = np.frexp(x.astype(np.float64))
    return ex.astype(np.int64)


def fp_round(fmt: FpFormat, sign, sig, q, mode="rne"):
    """Round exact values ``(-1)**sign * sig * 2**q`` to ``fmt``, with saturation.

    Parameters
    ----------
    fmt : FpFormat
    sign : int array of 0/1
    sig : int64 array, ``0 <= sig < 2**53``
    q : int64 array, exponent of ``sig``'s LSB
    mode : ``"rne"`` or ``"rtz"``

    Returns
    -------
    bits : int64 array (a zero keeps ``sign``)
    ovf : bool array, the rounded magnitude exceeded the largest finite value (saturated)
    """
    check_mode(mode)
    sign = np.asarray(sign, dtype=np.int64)
    sig = np.asarray(sig, dtype=np.int64)
    q = np.asarray(q, dtype=np.int64)
    sign, sig, q = np.broadcast_arrays(sign, sig, q)
    m = fmt.m
    E = q + _bit_length(sig) - 1                       # exponent of the leading one
    Et = np.maximum(E, fmt.emin)
    r = (Et - m) - q                                   # right shift to the target quantum
    rs = np.clip(r, 0, 62)
    ls = np.clip(-r, 0, 62)
    n = np.where(r > 0, sig >> rs, sig << ls)
    rem = sig - (n << rs)                              # bits shifted out (r > 0 only)
    if mode == "rne":
        half = np.where(rs > 0, np.int64(1) << np.maximum(rs - 1, 0), 0)
        up = (r > 0) & ((rem > half) | ((rem == half) & (rem != 0) & ((n & 1) == 1)))
        n = n + up
    mag = ((Et - fmt.emin) << m) + n                   # unified normal/subnormal packing
    mag = np.where(sig == 0, 0, mag)
    ovf = mag > fmt.max_code
    mag = np.where(ovf, fmt.max_code, mag)
    return (sign << (fmt.e + m)) | mag, ovf


def encode(fmt: FpFormat, x, mode="rne"):
    """Round float64 values to ``fmt`` bit patterns (exact values in, one rounding).

    NaN -> canonical NaN; +-Inf -> +-Inf (``inf_nan=True``) or +-max with ``ovf``
    (``inf_nan=False``); finite overflow saturates. Returns ``(bits, ovf)``.
    """
    x = np.asarray(x, dtype=np.float64)
    frac, ex = np.frexp(np.where(np.isfinite(x), np.abs(x), 0.0))
    sig = np.ldexp(frac, 53).astype(np.int64)
    q = ex.astype(np.int64) - 53
    sign = np.signbit(x).astype(np.int64)
    bits, ovf = fp_round(fmt, sign, sig, q, mode)
    inf = np.isinf(x)
    if fmt.inf_nan:
        bits = np.where(inf, (sign << (fmt.e + fmt.m)) | fmt.inf_code, bits)
        ovf = ovf & ~inf
        bits = np.where(np.isnan(x), fmt.nan_code, bits)
    else:
        bits = np.where(inf, (sign << (fmt.e + fmt.m)) | fmt.max_code, bits)
        ovf = ovf | inf
        if np.isnan(x).any():
            raise ConfigError(f"format {fmt.name} cannot encode NaN: it is the no-Inf/NaN mode.")
    return bits, ovf


def check_addend_format(fmt: FpFormat, fmt_b: FpFormat | None) -> FpFormat:
    """The addend format of a mixed-format addition: ``fmt_b`` (``None`` -> ``fmt``), which must
    share ``fmt``'s Inf/NaN mode; else :class:`ConfigError`."""
    if fmt_b is None:
        return fmt
    if not isinstance(fmt_b, FpFormat):
        raise ConfigError(f"addend format {fmt_b!r} is invalid: expected an FpFormat.")
    if fmt_b.inf_nan != fmt.inf_nan:
        raise ConfigError(f"addend format {fmt_b.name} and accumulator format {fmt.name} "
                          f"disagree on inf_nan: both must use the same Inf/NaN mode.")
    return fmt_b


def fp_add(fmt: FpFormat, a, b, mode="rne", fmt_b: FpFormat | None = None) -> FpResult:
    """``a + b`` rounded once (RNE or RTZ) to ``fmt``, with the module's policy.

    ``a`` holds bit patterns of ``fmt``; ``b`` holds bit patterns of ``fmt_b`` (default ``fmt``),
    the **addend format** of a mixed-format addition, e.g. exact E5M7 products added to an E5M6
    accumulator: the exact sum of the two values is rounded once to ``fmt`` (never ``b`` first).
    ``fmt_b`` may have any width (the hardware configs use the accumulator's exponent width and
    a wider mantissa); its values outside ``fmt``'s range need no special rule: only the rounded
    sum saturates (``ovf``), a sum below ``fmt``'s subnormals rounds to zero or the smallest
    subnormal, and Inf/NaN follow the shared Inf/NaN mode.

    The exact sum is formed on integers: ``x`` is the operand of larger magnitude, ``d`` the
    difference of the LSB exponents ``q_x - q_y`` and ``M`` the wider mantissa. For
    ``d <= M + 3`` both significands are shifted to the lower LSB exponent (exact; ``d`` may be
    negative when ``y`` has the coarser quantum). For ``d > M + 3`` the smaller operand
    (``|y| < 2**(q_x - 3)``, below 1/8 of ``x``'s quantum and so below a quarter of every rounding
    step of the sum) is replaced by a single sticky unit below an ``M + 3``-bit window, which lies
    strictly between the same rounding boundaries, so the rounded result is exact.
    """
    check_mode(mode)
    fb = check_addend_format(fmt, fmt_b)
    a = fmt.check_bits(a)
    b = fb.check_bits(b)
    a, b = np.broadcast_arrays(a, b)
    ca, cb = classify(fmt, a), classify(fb, b)
    if fb == fmt:
        swap = (b & fmt.mag_mask) > (a & fmt.mag_mask)
    else:                                              # compare values (exact float64)
        va = np.ldexp(ca["sig"].astype(np.float64), ca["q"])
        vb = np.ldexp(cb["sig"].astype(np.float64), cb["q"])
        swap = vb > va
    x = {k: np.where(swap, cb[k], ca[k]) for k in ("sign", "sig", "q")}
    y = {k: np.where(swap, ca[k], cb[k]) for k in ("sign", "sig", "q")}
    w = max(fmt.m, fb.m) + 3
    d = x["q"] - y["q"]
    dx = np.clip(d, 0, w)                              # left shift of x
    X = x["sig"] << dx
    Y = np.where(d > w, (y["sig"] != 0).astype(np.int64), y["sig"] << np.clip(-d, 0, w))
    sub = x["sign"] != y["sign"]
    S = np.where(sub, X - Y, X + Y)
    zsign = ca["sign"] & cb["sign"]                    # sign of an exact zero sum
    sign = np.where(S == 0, zsign, x["sign"])
    bits, ovf = fp_round(fmt, sign, S, x["q"] - dx, mode)
    nan = np.zeros(a.shape, dtype=bool)
    if fmt.inf_nan:
        nan = ca["nan"] | cb["nan"] | (ca["inf"] & cb["inf"] & (ca["sign"] != cb["sign"]))
        inf = (ca["inf"] | cb["inf"]) & ~nan
        inf_sign = np.where(ca["inf"], ca["sign"], cb["sign"])
        bits = np.where(inf, (inf_sign << (fmt.e + fmt.m)) | fmt.inf_code, bits)
        bits = np.where(nan, fmt.nan_code, bits)
        ovf = ovf & ~(inf | nan)
    return FpResult(bits.astype(np.int64), nan, ovf)


def exact_product_format(fa: FpFormat, fb: FpFormat) -> FpFormat:
    """The smallest FP(e, m) that holds every product of a finite ``fa`` and ``fb`` value exactly.

    ``m = fa.m + fb.m + 1`` (the product of two ``(m+1)``-bit significands has at most
    ``fa.m + fb.m + 2`` bits) and ``e`` is the smallest exponent width whose subnormal quantum
    ``2**(emin - m)`` divides the smallest product ``fa.min_subnormal * fb.min_subnormal`` and
    whose ``emax >= fa.emax + fb.emax + 1``; the Inf/NaN mode is the operands' (which must agree).
    Examples: E4M3 x E4M3 -> E5M7, E4M3 x E5M2 -> E6M6 (``inf_nan=True``). The search stays
    within ``m <= 12`` (the FP multiplier's product formats), not :data:`MAN_BITS_MAX`.
    """
    if fa.inf_nan != fb.inf_nan:
        raise ConfigError(f"operand formats {fa.name} and {fb.name} disagree on inf_nan: both "
                          f"must use the same Inf/NaN mode.")
    m = fa.m + fb.m + 1
    lsb = (fa.emin - fa.m) + (fb.emin - fb.m)
    top = fa.emax + fb.emax + 1
    for e in range(2, 9):
        if m > 12:
            break
        f = FpFormat(e, m, fa.inf_nan)
        if f.emin - f.m <= lsb and f.emax >= top:
            return f
    raise ConfigError(f"no FP(e<=8, m<=12) format holds every product of {fa.name} and "
                      f"{fb.name} exactly: use narrower operands.")


def fp_mul(fa: FpFormat, a, fb: FpFormat, b, fout: FpFormat | None = None, mode="rne") -> FpResult:
    """``a * b`` for ``a`` in ``fa`` and ``b`` in ``fb``, rounded once to ``fout``.

    ``fout`` defaults to :func:`exact_product_format` (then the product is exact and ``mode`` has
    no effect). Specials follow the module's policy; ``fout`` must have the operands' Inf/NaN mode.
    """
    check_mode(mode)
    if fout is None:
        fout = exact_product_format(fa, fb)
    if not (fa.inf_nan == fb.inf_nan == fout.inf_nan):
        raise ConfigError(f"formats {fa.name}, {fb.name} and {fout.name} disagree on inf_nan: "
                          f"all must use the same Inf/NaN mode.")
    a = fa.check_bits(a)
    b = fb.check_bits(b)
    a, b = np.broadcast_arrays(a, b)
    ca, cb = classify(fa, a), classify(fb, b)
    sign = ca["sign"] ^ cb["sign"]
    bits, ovf = fp_round(fout, sign, ca["sig"] * cb["sig"], ca["q"] + cb["q"], mode)
    nan = np.zeros(a.shape, dtype=bool)
    if fout.inf_nan:
        zero_a, zero_b = ca["zero"], cb["zero"]
        nan = ca["nan"] | cb["nan"] | (ca["inf"] & zero_b) | (cb["inf"] & zero_a)
        inf = (ca["inf"] | cb["inf"]) & ~nan
        bits = np.where(inf, (sign << (fout.e + fout.m)) | fout.inf_code, bits)
        bits = np.where(nan, fout.nan_code, bits)
        ovf = ovf & ~(inf | nan)
    return FpResult(bits.astype(np.int64), nan, ovf)


#: The FP(e, m) format and rounding parameters, declared once for every block that computes in
#: one minifloat format (``fp_add``, ``fp_acc``, ``dga``): same names, ranges and defaults
#: (FP12 E5M6, RNE, IEEE-like Inf/NaN) in each.
FP_FORMAT_PARAMS = (
    Param("exp_bits", int, 5, "exponent bits e of the FP(e, m) format", lo=2, hi=8),
    Param("man_bits", int, 6, "mantissa bits m of the FP(e, m) format (1..12 minifloats, up to "
          f"{MAN_BITS_MAX} for FP32 E8M23)", lo=1, hi=MAN_BITS_MAX),
    Param("rounding", str, "rne", "rounding of every addition: to nearest even or toward zero",
          choices=("rne", "rtz")),
    Param("inf_nan", bool, True, "all-ones exponent is Inf/NaN (false: finite, saturating "
          "no-Inf/NaN mode)"),
)


#: The addend-format parameter of the blocks with a mixed-format adder (``fp_add``, ``dga``):
#: operand ``b`` / every addend is FP(exp_bits, addend_man); ``0`` (default) means ``man_bits``
#: (one format, the Verilog of every earlier configuration unchanged). The exponent width is the
#: accumulator's (docs/blocks/fp_add.md: a wider addend exponent is saturated where the addend
#: is formed, by fp_mul's output format).
ADDEND_PARAM = Param("addend_man", int, 0, "mantissa bits of the addend (operand b): the sum of "
                     "an FP(e, addend_man) addend and the FP(e, m) accumulator is rounded once "
                     "to FP(e, m); 0 = man_bits (one format)", lo=0, hi=MAN_BITS_MAX)


class FpFormatParams:
    """Mixin of the configs built on :data:`FP_FORMAT_PARAMS`: their :class:`FpFormat`, and for
    configs with :data:`ADDEND_PARAM` (declared last) the addend format."""

    @property
    def fmt(self) -> FpFormat:
        """The format of the operands, the result and (for accumulators) the registers."""
        return FpFormat(self.exp_bits, self.man_bits, self.inf_nan)

    @property
    def addend_fmt(self) -> FpFormat:
        """The format of operand ``b`` (the addends): FP(e, addend_man), or :attr:`fmt`."""
        am = getattr(self, "addend_man", 0)
        return self.fmt if am in (0, self.man_bits) else FpFormat(self.exp_bits, am, self.inf_nan)

    @property
    def mixed(self) -> bool:
        """The addend format is wider than the accumulator format."""
        return self.addend_fmt != self.fmt

    def _check_addend(self):
        am = getattr(self, "addend_man", 0)
        if am and am < self.man_bits:
            raise ConfigError(f"{self.BLOCK} parameter addend_man={am} is out of range: allowed "
                              f"values are 0 or an integer in {self.man_bits}..{MAN_BITS_MAX} "
                              f"(at least man_bits={self.man_bits}).")

    @property
    def module_name(self) -> str:
        """The block's module name; the addend tag only for a mixed format, so that a
        one-format configuration keeps its earlier name (and Verilog)."""
        name = super().module_name
        if "addend_man" in self._values:
            tag = self.TAGS.get("addend_man", "addend_man")
            suffix = f"_{tag}{self.addend_man}"
            assert name.endswith(suffix), "addend_man must be the last parameter"
            name = name[:-len(suffix)]
            if self.mixed:
                name += f"_{tag}{self.addend_man}"
        return name
