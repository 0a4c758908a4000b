"""Golden model of the output-stationary systolic MAC array (INT8 or FP8 processing elements).

Three things live here, all shared with the hardware in :mod:`hw.mac_array`:

* :class:`MacArrayConfig` -- the validated parameter set;
* :func:`gemm_tile` -- the exact integer result of one tile (int64 internally, then the
  hardware's overflow policy applied step by step in the hardware's k order), with the
  per-row overflow flags the hardware reports;
* the cycle model, on the config (:meth:`MacArrayConfig.out_cycles`,
  :meth:`MacArrayConfig.gemm_cycles`): the exact cycle at which every output row of every tile
  leaves the hardware when the input stream is always valid and the output always ready, plus
  tiling helpers for an M x K x N GEMM.

Overflow policy
---------------
``overflow="wrap"``: two's-complement wrap modulo ``2**acc_width`` at every addition.
``overflow="saturate"``: every addition saturates to ``[-2**(acc_width-1), 2**(acc_width-1)-1]``.
In both modes an element's overflow flag is set when *any* addition of its dot product left the
accumulator range (for ``wrap`` this includes partial sums that wrapped and came back: the final
value is then still the exact result modulo ``2**acc_width``). The output row carries the OR of
its elements' flags; the component also has a sticky ``overflow`` output.

FP8 processing elements (``pe="fp8"``)
--------------------------------------
Operands are FP8 bit patterns, E4M3 or E5M2 per operand (``a_fmt``, ``b_fmt``; the Inf/NaN mode
``inf_nan`` is shared with the accumulator). Each PE forms the exact product and rounds it once
into the accumulator format FP(``exp_bits``, ``man_bits``) (default FP12 E5M6; ``rounding``
applies to this rounding and to every addition) -- :func:`golden.minifloat.fp_mul` with ``fout``
= the accumulator format -- and accumulates the K products of its output element in k order:

* ``order="seq"``: ``S = fp_add(S, p_k)`` from ``S = +0`` (:func:`golden.dga.acc_seq`);
* ``order="static"``: groups of ``group_size`` (:func:`golden.dga.accumulate`);
* ``order="dga"``: groups of ``dga_group_size(K, gmax=gmax)``, the group-size register value
  the controller sends with the tile's first beat (:meth:`MacArrayConfig.register_value`).

With ``product="exact"`` (E4M3 x E4M3 into an E5 accumulator: the exact product format E5M7 has
the accumulator's exponent width) the product is not rounded on its own: every addition is the
mixed-format adder's ``A + p`` rounded once (:func:`golden.dga.accumulate` with ``addend_fmt``).

An element's ``ovf`` flag is set when its product rounding or one of its additions saturated;
the result is the accumulator's bit pattern (NaN results are the canonical NaN). So the FP8 tile
is :func:`fp8_gemm`: the golden ``fp_mul`` then the golden accumulation, per element, vectorized
over all elements. The data-driven DGA-exp order is not available in the array.
"""

from __future__ import annotations

import math

import numpy as np

from .dga import GROUP_SIZE_MAX, DgaConfig, DgaResult, acc_seq, accumulate
from .fp_mul import FpMulConfig
from .minifloat import FP_FORMAT_PARAMS, FpFormat, fp_add, fp_mul
from .params import BlockConfig, ConfigError, Param

__all__ = [
    "FP8_FORMATS",
    "ORDERS",
    "PE_KINDS",
    "MacArrayConfig",
    "assemble_gemm",
    "fp8_gemm",
    "gemm_tile",
    "random_tile",
    "tile_gemm",
]

PE_KINDS = ("int8", "fp8")
#: FP8 operand formats: name -> (exponent bits, mantissa bits)
FP8_FORMATS = {"e4m3": (4, 3), "e5m2": (5, 2)}
#: accumulation orders of the FP8 processing element
ORDERS = ("seq", "static", "dga")
#: parameters of the original INT8 array (its module names use only these)
_INT8_PARAMS = ("rows", "cols", "a_width", "b_width", "acc_width", "pipelined", "overflow")


class MacArrayConfig(BlockConfig):
    """Parameters of the systolic MAC array (see module docstring for the overflow policy)."""
    BLOCK = "mac_array"
    PARAMS = (
        Param("rows", int, 4, "PE rows R (rows of the A tile / output rows)", lo=1, hi=64),
        Param("cols", int, 4, "PE columns C (columns of the B tile / output columns)", lo=1, hi=64),
        Param("a_width", int, 8, "signed width of A elements", lo=2, hi=16),
        Param("b_width", int, 8, "signed width of B elements", lo=2, hi=16),
        Param("acc_width", int, 32, "signed accumulator width (>= a_width + b_width)", lo=4, hi=64),
        Param("pipelined", bool, False, "register the product inside each PE (+1 cycle latency)"),
        Param("overflow", str, "wrap", "accumulator overflow policy", choices=("wrap", "saturate")),
        Param("pe", str, "int8", "processing element: int8 (signed integers, wide accumulator) or "
              "fp8 (FP8 operands, exact product rounded once into FP(e, m), FP accumulation)",
              choices=PE_KINDS),
        Param("a_fmt", str, "e4m3", "FP8 format of A elements (pe=fp8)", choices=tuple(FP8_FORMATS)),
        Param("b_fmt", str, "e4m3", "FP8 format of B elements (pe=fp8)", choices=tuple(FP8_FORMATS)),
    ) + FP_FORMAT_PARAMS + (
        Param("order", str, "dga", "FP accumulation order (pe=fp8): sequential, static groups of "
              "group_size, or DGA groups of dga_group_size(K)", choices=ORDERS),
        Param("group_size", int, 64, "static group size G (pe=fp8, order static)", lo=1,
              hi=GROUP_SIZE_MAX),
        Param("gmax", int, 256, "largest DGA group (pe=fp8, order dga)", lo=4, hi=GROUP_SIZE_MAX),
        Param("adders", int, 2, "FP adders per PE for grouped orders (pe=fp8): 2 (intra and inter "
              "group) or 1 shared", lo=1, hi=2),
        Param("product", str, "rounded", "how a product reaches the accumulator (pe=fp8): rounded "
              "once into FP(e, m) (two roundings per MAC) or exact into the mixed-format adder "
              "(one rounding per MAC; the exact product format must have e exponent bits)",
              choices=("rounded", "exact")),
    )
    TAGS = {"rows": "r", "cols": "c", "a_width": "a", "b_width": "b", "acc_width": "acc",
            "pipelined": "p", "overflow": "", "pe": "", "a_fmt": "a", "b_fmt": "b",
            "exp_bits": "e", "man_bits": "m", "rounding": "", "inf_nan": "inf", "order": "",
            "group_size": "g", "gmax": "gmax", "adders": "ad", "product": ""}

    @property
    def module_name(self) -> str:
        """The Verilog module name: the INT8 array's names are those of the parameters it uses
        (unchanged by the FP8 parameters); an FP8 array's name carries the FP8 parameters."""
        if self.pe == "int8":
            names = _INT8_PARAMS
        else:
            names = ("rows", "cols", "pipelined", "pe", "a_fmt", "b_fmt", "exp_bits", "man_bits",
                     "rounding", "inf_nan", "order")
            names += {"seq": (), "static": ("group_size", "adders"),
                      "dga": ("gmax", "adders")}[self.order]
            if self.product == "exact":
                names += ("product",)
        parts = [self.BLOCK]
        for name in names:
            v = self._values[name]
            tag = self.TAGS.get(name, name)
            parts.append(f"{tag}{int(v)}" if isinstance(v, bool) else f"{tag}{v}")
        return "_".join(parts)

    # --- FP8 processing elements ---------------------------------------------------------------
    @property
    def grouped(self) -> bool:
        """FP8 PEs with the two-register (intra/inter group) DGA datapath."""
        return self.pe == "fp8" and self.order != "seq"

    @property
    def fmt(self) -> FpFormat:
        """The accumulator format FP(exp_bits, man_bits)."""
        return FpFormat(self.exp_bits, self.man_bits, self.inf_nan)

    @property
    def fmt_a(self) -> FpFormat:
        return FpFormat(*FP8_FORMATS[self.a_fmt], self.inf_nan)

    @property
    def fmt_b(self) -> FpFormat:
        return FpFormat(*FP8_FORMATS[self.b_fmt], self.inf_nan)

    @property
    def fp_mul_config(self) -> FpMulConfig:
        """The exact multiplier of each FP8 PE (product format ``fp_mul_config.fmt_out``)."""
        (ae, am), (be, bm) = FP8_FORMATS[self.a_fmt], FP8_FORMATS[self.b_fmt]
        return FpMulConfig(a_exp=ae, a_man=am, b_exp=be, b_man=bm, inf_nan=self.inf_nan)

    @property
    def dga_config(self) -> DgaConfig:
        """The DGA accumulator configuration each grouped FP8 PE implements."""
        return DgaConfig(exp_bits=self.exp_bits, man_bits=self.man_bits, rounding=self.rounding,
                         inf_nan=self.inf_nan, variant=self.order, group_size=self.group_size,
                         gmax=self.gmax, adders=self.adders,
                         addend_man=self.addend_fmt.m if self.product == "exact" else 0)

    @property
    def addend_fmt(self) -> FpFormat:
        """The format of the products the accumulator adds: the accumulator format
        (``product="rounded"``) or the exact product format (``"exact"``)."""
        if self.product == "exact":
            return self.fp_mul_config.fmt_out
        return self.fmt

    def register_value(self, K: int):
        """The group size the controller sends with a tile of length ``K`` (``order="dga"``:
        ``dga_group_size(K, gmax=gmax)``; ``static``: ``group_size``; ``seq``: None)."""
        if self.pe != "fp8" or self.order == "seq":
            return None
        return self.dga_config.register_value(K)

    def _check(self):
        if self.pe == "fp8" and self.product == "exact":
            fo = self.fp_mul_config.fmt_out
            if fo.e != self.exp_bits or fo.m < self.man_bits:
                raise ConfigError(f"mac_array parameter product='exact' is invalid for a_fmt="
                                  f"{self.a_fmt}, b_fmt={self.b_fmt} with exp_bits={self.exp_bits}, "
                                  f"man_bits={self.man_bits}: the exact product format {fo.name} "
                                  f"must have {self.exp_bits} exponent bits and at least "
                                  f"{self.man_bits} mantissa bits (allowed: product='rounded').")
        if self.pe == "fp8":
            need_m = self.fp_mul_config.fmt_out.m - 3
            if self.man_bits < need_m:
                raise ConfigError(f"mac_array parameter man_bits={self.man_bits} is out of range: "
                                  f"allowed values are {need_m}..23 for pe=fp8 with "
                                  f"a_fmt={self.a_fmt}, b_fmt={self.b_fmt}.")
        need = self.a_width + self.b_width
        if self.acc_width < need:
            raise ConfigError(f"mac_array parameter acc_width={self.acc_width} is out of range: "
                              f"allowed values are {need}..64 for a_width={self.a_width}, "
                              f"b_width={self.b_width}.")

    TRANSACTION = "tile"
    THROUGHPUT = "1 input beat (one k step of a tile) per cycle; tiles back to back"

    # --- cycle model ---------------------------------------------------------------------------
    # Cycle 0 is the cycle in which the first input beat is transferred. With the input always
    # valid and the output always ready:
    # * the last beat of tile t is transferred in cycle T_t = (K - 1) + t * max(K, S), where
    #   S = max(rows, cols) is the minimum spacing between the last beats of two tiles (the array
    #   holds the next tile's last beat back if it would overwrite results not yet drained);
    # * output row i of tile t is transferred in cycle T_t + latency + i, latency = cols + 1
    #   (+1 with pipelined): one input register, the i + j skew that reaches PE(i, cols-1) after
    #   cols - 1 more cycles, and the registered row-ready flag.
    # A GEMM of F tiles therefore takes F*max(K, S) - max(K, S) + K + latency + rows - 1 cycles
    # from the first input to the last output; for K >= S that is F*K + cols + rows (+1
    # pipelined): fill and drain are paid once, not per tile.

    # With FP8 PEs and a grouped order (static, dga) the sum S + A of a finished dot product is
    # formed by the inter-group adder in the PE's next step (as in the DGA block), so every output
    # row leaves one cycle later: latency = cols + 2 (+1 pipelined). Nothing else changes (the
    # next tile's first product needs no inter-group addition in that step, with one adder or
    # two), so spacing, throughput and the per-tile formula are those of the INT8 array.

    @property
    def latency(self) -> int:
        """Cycles from the transfer of a tile's last input beat to the transfer of its row 0."""
        return self.cols + 1 + int(self.pipelined) + int(self.grouped)

    @property
    def spacing(self) -> int:
        """Minimum number of cycles between the last beats of consecutive tiles."""
        return max(self.rows, self.cols)

    def last_beat_cycles(self, Ks) -> list:
        """Cycle of each tile's last input beat for tiles of lengths ``Ks`` streamed back to back."""
        out, t = [], -1
        for i, K in enumerate(Ks):
            if K < 1:
                raise ConfigError(f"mac_array tile length K={K} is out of range: allowed values are >= 1.")
            t = K - 1 if i == 0 else t + max(K, self.spacing)
            out.append(t)
        return out

    def row_cycles(self, Ks) -> np.ndarray:
        """Array ``[tile, row]`` of the cycle in which each output row is transferred."""
        last = np.array(self.last_beat_cycles(Ks), dtype=np.int64)
        return last[:, None] + self.latency + np.arange(self.rows)[None, :]

    def out_cycles(self, lengths) -> list:
        """Cycle of every output row transfer for tiles of ``lengths`` (K per tile), in order."""
        return [int(c) for c in self.row_cycles(lengths).reshape(-1)]

    def timing_formula(self) -> str:
        return (f"cycle 0 = first input transfer; the last beat of tile t is transferred in cycle "
                f"T_t = (K-1) + t*max(K, {self.spacing}); output row i of tile t in cycle "
                f"T_t + {self.latency} + i (latency = cols + 1, +1 pipelined"
                f"{', +1 for the final inter-group sum S + A of the grouped FP8 PE' if self.grouped else ''}"
                f"); input always valid, output always ready")

    def _timing_extra(self) -> dict:
        extra = {"spacing": self.spacing}
        if self.pe == "fp8":
            extra["pe"] = "fp8"
            extra["order"] = self.order
            if self.grouped:
                extra["adders"] = self.adders
        return extra

    def gemm_cycles(self, M, K, N, per_element=True) -> dict:
        """Cycle model of ``(M x K) @ (K x N)`` tiled on the array.

        Returns a dict with ``tiles``, ``cycles`` (first input to last output, inclusive),
        ``utilization`` (useful MACs / (rows*cols*cycles)), and with ``per_element`` also
        ``out_cycle`` -- an M x N array with the cycle in which each output element leaves the
        hardware. Without it the count is closed-form (any size, no memory).
        """
        R, C = self.rows, self.cols
        mts, nts = math.ceil(M / R), math.ceil(N / C)
        F = mts * nts
        if not per_element:
            if K < 1:
                raise ConfigError(f"mac_array tile length K={K} is out of range: allowed values "
                                  f"are >= 1.")
            last = (K - 1) + (F - 1) * max(K, self.spacing)
            cycles = last + self.latency + R
            return {"tiles": F, "cycles": cycles, "utilization": M * K * N / (R * C * cycles)}
        rc = self.row_cycles([K] * F)
        out = np.zeros((mts * R, nts * C), dtype=np.int64)
        for t in range(F):
            mt, nt = divmod(t, nts)
            out[mt * R:(mt + 1) * R, nt * C:(nt + 1) * C] = rc[t][:, None]
        cycles = int(rc[-1, -1]) + 1
        return {"tiles": F, "cycles": cycles, "utilization": M * K * N / (R * C * cycles),
                "out_cycle": out[:M, :N]}

    @property
    def acc_min(self):
        return -(1 << (self.acc_width - 1))

    @property
    def acc_max(self):
        return (1 << (self.acc_width - 1)) - 1

    def input_range(self, which):
        if self.pe == "fp8":
            return 0, 255
        w = self.a_width if which == "a" else self.b_width
        return -(1 << (w - 1)), (1 << (w - 1)) - 1


def _check_operand(cfg, name, x, shape):
    x = np.asarray(x)
    if x.ndim != 2 or (shape[0] is not None and x.shape[0] != shape[0]) or \
            (shape[1] is not None and x.shape[1] != shape[1]):
        want = "x".join("K" if s is None else str(s) for s in shape)
        raise ConfigError(f"mac_array operand {name} has shape {x.shape}: expected {want}.")
    if not np.issubdtype(x.dtype, np.integer):
        raise ConfigError(f"mac_array operand {name} has dtype {x.dtype}: expected an integer array.")
    lo, hi = cfg.input_range(name.lower())
    if x.size and (x.min() < lo or x.max() > hi):
        bad = x.min() if x.min() < lo else x.max()
        raise ConfigError(f"mac_array operand {name} holds {int(bad)}, out of range: allowed values "
                          f"are {lo}..{hi} for {name.lower()}_width="
                          f"{cfg.a_width if name == 'A' else cfg.b_width}.")
    return x.astype(np.int64)


def gemm_tile(cfg: MacArrayConfig, A, B):
    """Exact result of one tile ``A @ B`` as the hardware computes it.

    Parameters
    ----------
    A : int array, shape (rows, K), values in the signed ``a_width`` range (FP8 bit patterns
        0..255 in ``a_fmt`` with ``pe="fp8"``)
    B : int array, shape (K, cols), values in the signed ``b_width`` range (``b_fmt`` patterns)

    Returns
    -------
    C : int64 array (rows, cols) -- accumulator values after the overflow policy (accumulator
        bit patterns with ``pe="fp8"``, :func:`fp8_gemm`).
    row_ovf : bool array (rows,) -- the overflow flag carried by each output row.
    """
    A = _check_operand(cfg, "A", A, (cfg.rows, None))
    B = _check_operand(cfg, "B", B, (None, cfg.cols))
    K = A.shape[1]
    if K < 1 or B.shape[0] != K:
        raise ConfigError(f"mac_array tile has K={K} columns of A and {B.shape[0]} rows of B: "
                          f"both must equal the same K >= 1.")
    if cfg.pe == "fp8":
        C, ovf = fp8_gemm(cfg, A, B)
        return C, ovf.any(axis=1)
    pa = max(abs(cfg.input_range("a")[0]), 1)
    pb = max(abs(cfg.input_range("b")[0]), 1)
    if K * pa * pb <= cfg.acc_max:              # no partial sum can leave the range
        return A @ B, np.zeros(cfg.rows, dtype=bool)
    lo, hi, mod = cfg.acc_min, cfg.acc_max, 1 << cfg.acc_width
    acc = np.zeros((cfg.rows, cfg.cols), dtype=object)
    flag = np.zeros((cfg.rows, cfg.cols), dtype=bool)
    Ao, Bo = A.astype(object), B.astype(object)
    for k in range(K):                          # the hardware's order: k = 0 .. K-1
        s = acc + np.outer(Ao[:, k], Bo[k, :])
        out = (s < lo) | (s > hi)
        flag |= out.astype(bool)
        if cfg.overflow == "wrap":
            acc = (s - lo) % mod + lo
        else:
            acc = np.minimum(np.maximum(s, lo), hi)
    return acc.astype(np.int64), flag.any(axis=1)


def fp8_gemm(cfg: MacArrayConfig, A, B, group_size: int | None = None):
    """``A (M x K) @ B (K x N)`` on FP8 PEs, every element as the hardware computes it.

    ``P[m, n, k] = fp_mul(fmt_a, A[m, k], fmt_b, B[k, n], fout=fmt, rounding)`` (exact product,
    one rounding), then each element's K products are accumulated in k order by
    :func:`golden.dga.acc_seq` (``order="seq"``) or :func:`golden.dga.accumulate` with the group
    size ``group_size`` (default :meth:`MacArrayConfig.register_value` of K). With
    ``product="exact"`` the products stay in the exact product format and every addition is the
    mixed-format ``fp_add`` (``accumulate(..., addend_fmt=...)``; one rounding per MAC). Any M,
    N: each element is independent of the tiling.

    Returns
    -------
    C : int64 array (M, N) -- accumulator bit patterns.
    ovf : bool array (M, N) -- the product rounding or an addition of the element saturated.
    """
    if cfg.pe != "fp8":
        raise ConfigError(f"mac_array parameter pe={cfg.pe!r} is invalid for fp8_gemm: allowed "
                          f"value is fp8.")
    A = cfg.fmt_a.check_bits(A)
    B = cfg.fmt_b.check_bits(B)
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0] or A.shape[1] < 1:
        raise ConfigError(f"mac_array operands have shapes {A.shape} and {B.shape}: expected "
                          f"M x K and K x N with the same K >= 1.")
    M, K = A.shape
    N = B.shape[1]
    fp = cfg.addend_fmt                         # the accumulator format, or the exact product's
    p = fp_mul(cfg.fmt_a, A[:, None, :], cfg.fmt_b, B.T[None, :, :], fp, cfg.rounding)
    P = p.bits.reshape(M * N, K)
    if cfg.order == "seq" and cfg.product == "rounded":
        r = acc_seq(cfg.fmt, P, cfg.rounding)
    elif cfg.order == "seq":                    # S = fp_add(S, v) from +0, mixed format
        S = np.zeros(M * N, dtype=np.int64)
        ovf = np.zeros(M * N, dtype=bool)
        for k in range(K):
            s = fp_add(cfg.fmt, S, P[:, k], cfg.rounding, fp)
            S, ovf = s.bits, ovf | s.ovf
        r = DgaResult(S, s.nan, ovf, np.ones(M * N, dtype=np.int64))
    else:
        G = cfg.register_value(K) if group_size is None else group_size
        r = accumulate(cfg.fmt, P, G, cfg.rounding, addend_fmt=fp if fp != cfg.fmt else None)
    ovf = r.ovf | p.ovf.reshape(M * N, K).any(axis=1)
    return r.bits.reshape(M, N), ovf.reshape(M, N)


def _random_fp8(fmt: FpFormat, shape, rng, extreme):
    """Random finite ``fmt`` patterns: three in four with an exponent within -4..+3 of the bias
    (sums that round and cancel), one in four any finite code (saturating sums); with
    probability ``extreme`` a corner code instead (both zeros, smallest/largest subnormal,
    smallest normal, largest finite, +-Inf, NaN)."""
    top = fmt.exp_ones - 1 if fmt.inf_nan else fmt.exp_ones
    E = np.clip(fmt.bias + rng.integers(-4, 4, size=shape), 0, top)
    x = (rng.integers(0, 2, size=shape) << (fmt.e + fmt.m)) | (E << fmt.m) | \
        rng.integers(0, 1 << fmt.m, size=shape)
    finite = fmt.all_codes()
    if fmt.inf_nan:
        finite = finite[((finite >> fmt.m) & fmt.exp_ones) != fmt.exp_ones]
    x = np.where(rng.random(shape) < 0.25, rng.choice(finite, size=shape), x)
    if extreme:
        s = fmt.sign_bit
        corners = [0, s, 1, s | 1, (1 << fmt.m) - 1, 1 << fmt.m, fmt.max_code, s | fmt.max_code]
        if fmt.inf_nan:
            corners += [fmt.inf_code, s | fmt.inf_code, fmt.nan_code]
        x = np.where(rng.random(shape) < extreme, rng.choice(corners, size=shape), x)
    return x.astype(np.int64)


def random_tile(cfg: MacArrayConfig, K: int, rng: np.random.Generator, extreme: float = 0.0):
    """A random (A, B) tile; with probability ``extreme`` per element the value is the range end
    (FP8: a corner code, :func:`_random_fp8`)."""
    if cfg.pe == "fp8":
        return (_random_fp8(cfg.fmt_a, (cfg.rows, K), rng, extreme),
                _random_fp8(cfg.fmt_b, (K, cfg.cols), rng, extreme))
    alo, ahi = cfg.input_range("a")
    blo, bhi = cfg.input_range("b")
    A = rng.integers(alo, ahi + 1, size=(cfg.rows, K))
    B = rng.integers(blo, bhi + 1, size=(K, cfg.cols))
    if extreme:
        A = np.where(rng.random(A.shape) < extreme, rng.choice([alo, ahi], A.shape), A)
        B = np.where(rng.random(B.shape) < extreme, rng.choice([blo, bhi], B.shape), B)
    return A, B


def tile_gemm(cfg: MacArrayConfig, A, B):
    """Split ``A (M x K) @ B (K x N)`` into array tiles, zero-padded at the edges.

    Tiles are ordered row-major over (row block, column block); every tile streams all K beats.
    Returns a list of ``(A_tile, B_tile)``.
    """
    A, B = np.asarray(A), np.asarray(B)
    M, K = A.shape
    N = B.shape[1]
    R, C = cfg.rows, cfg.cols
    tiles = []
    for mt in range(math.ceil(M / R)):
        for nt in range(math.ceil(N / C)):
            At = np.zeros((R, K), dtype=np.int64)
            Bt = np.zeros((K, C), dtype=np.int64)
            a = A[mt * R:(mt + 1) * R]
            b = B[:, nt * C:(nt + 1) * C]
            At[:a.shape[0]] = a
            Bt[:, :b.shape[1]] = b
            tiles.append((At, Bt))
    return tiles


def assemble_gemm(cfg: MacArrayConfig, results, M, N):
    """Inverse of :func:`tile_gemm`: stitch per-tile results (R x C each) into an M x N array."""
    R, C = cfg.rows, cfg.cols
    nct = math.ceil(N / C)
    out = np.zeros((math.ceil(M / R) * R, nct * C), dtype=np.int64)
    for t, res in enumerate(results):
        mt, nt = divmod(t, nct)
        out[mt * R:(mt + 1) * R, nt * C:(nt + 1) * C] = res
    return out[:M, :N]
