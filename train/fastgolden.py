"""Vectorized forms of golden functions, each proven equal to the golden model by a test.

The trainer runs millions of multiply-accumulates per step; the golden models in :mod:`golden`
are written for clarity (one tile, one addend per Python iteration, ``object`` integers on
overflow). The functions here compute the *same* results faster:

* :func:`int_gemm` -- the MAC-array arithmetic of :func:`golden.mac_array.gemm_tile` (INT8 x
  INT8 -> ``acc_width`` accumulators, ``wrap`` or ``saturate``, per-element overflow flags) for a
  whole ``M x K x N`` GEMM at once. Every tile streams all ``K`` beats and each output element is
  accumulated on its own PE, so the GEMM equals the stitched tiles (``tests/test_train_arith.py``
  compares with ``gemm_tile`` tile by tile, overflow included).
* :func:`round_fp` -- RNE rounding of exact float64 values to an ``FP(e, m)`` format with the
  golden saturation policy, equal to ``decode(encode(fmt, x))`` of :mod:`golden.minifloat`.
* :func:`fp_accumulate` -- the FP(e, m) accumulators of :mod:`golden.dga` (sequential, static
  group, DGA, DGA-exp) on float64 values for many dot products at once. An FP(5, m) sum of two
  FP(5, m) values is exact in float64 (all values are multiples of the subnormal quantum and
  below ``2**16``), so ``fp_add`` is a float64 addition followed by :func:`round_fp`.
* :class:`RandomStream` -- the RLSRU's random numbers (:func:`golden.rlsru.generate`) as a
  continuing stream, read tensor by tensor.
"""

from __future__ import annotations

import numpy as np

from golden.dga import dga_group_size
from golden.lfsr import TAPS
from golden.mac_array import MacArrayConfig
from golden.minifloat import FpFormat
from golden.rlsru import RlsruConfig, generate, leap_seed, leap_width

# --------------------------------------------------------------------------------------------
# INT8 GEMM on the MAC-array arithmetic
# --------------------------------------------------------------------------------------------


def _exact_matmul(A, B):
    """Exact integer product of integer-valued arrays through BLAS.

    float32 is exact while every partial sum stays below ``2**24`` in magnitude, float64 below
    ``2**53``; the bound ``K * max|A| * max|B|`` decides which one is used.
    """
    K = A.shape[1]
    bound = K * max(int(np.abs(A).max(initial=0)), 1) * max(int(np.abs(B).max(initial=0)), 1)
    if bound < (1 << 24):
        return (A.astype(np.float32) @ B.astype(np.float32)).astype(np.int64)
    if bound < (1 << 53):
        return (A.astype(np.float64) @ B.astype(np.float64)).astype(np.int64)
    return A.astype(np.int64) @ B.astype(np.int64)


def int_gemm(cfg: MacArrayConfig, A, B, chunk: int = 64):
    """``A (M x K) @ B (K x N)`` with the MAC array's accumulator and overflow policy.

    Parameters
    ----------
    cfg : MacArrayConfig
        Accumulator width and overflow policy (``rows``/``cols`` only tile the work, they do not
        change the result).
    A, B : integer arrays in the signed ``a_width`` / ``b_width`` ranges.
    chunk : int
        Rows of ``A`` processed together on the overflow path (memory ``chunk * K * N``).

    Returns
    -------
    C : numpy.ndarray of int64, ``(M, N)``
        Accumulator values after the overflow policy, as :func:`golden.mac_array.gemm_tile`.
    ovf : numpy.ndarray of bool, ``(M, N)``
        Some addition of that element's dot product left the accumulator range (the hardware's
        row flag is the OR over a tile row).
    """
    A = np.asarray(A)
    B = np.asarray(B)
    M, K = A.shape
    N = B.shape[1]
    pa = max(abs(cfg.input_range("a")[0]), 1)
    pb = max(abs(cfg.input_range("b")[0]), 1)
    if K * pa * pb <= cfg.acc_max:              # no partial sum can leave the range
        return _exact_matmul(A, B), np.zeros((M, N), dtype=bool)
    if K * pa * pb < (1 << 53):
        # every partial sum of an element is bounded by its sum of |products|: where that
        # bound fits the accumulator, the exact product is the accumulator value (no flag)
        bound = np.abs(A).astype(np.float64) @ np.abs(B).astype(np.float64)
        if bound.max(initial=0) <= cfg.acc_max:
            return _exact_matmul(A, B), np.zeros((M, N), dtype=bool)
    if cfg.acc_width > 60:                      # int64 partial sums could overflow themselves
        raise ValueError("int_gemm supports acc_width <= 60 on the overflow path")
    lo, hi, mod = cfg.acc_min, cfg.acc_max, 1 << cfg.acc_width
    A64, B64 = A.astype(np.int64), B.astype(np.int64)
    C = np.empty((M, N), dtype=np.int64)
    F = np.empty((M, N), dtype=bool)
    for m0 in range(0, M, chunk):
        P = A64[m0:m0 + chunk, :, None] * B64[None, :, :]          # (m, K, N) products
        if cfg.overflow == "wrap":
            S = np.cumsum(P, axis=1)                                 # exact partial sums
            prev = np.concatenate([np.zeros_like(S[:, :1]), S[:, :-1]], axis=1)
            prev = (prev - lo) % mod + lo                            # wrapped accumulator
            s = prev + P                                             # what each adder sees
            F[m0:m0 + chunk] = ((s < lo) | (s > hi)).any(axis=1)
            C[m0:m0 + chunk] = (S[:, -1] - lo) % mod + lo
        else:
            acc = np.zeros((P.shape[0], N), dtype=np.int64)
            flag = np.zeros((P.shape[0], N), dtype=bool)
            for k in range(K):                                       # saturation is sequential
                s = acc + P[:, k]
                flag |= (s < lo) | (s > hi)
                acc = np.clip(s, lo, hi)
            C[m0:m0 + chunk], F[m0:m0 + chunk] = acc, flag
    return C, F


# --------------------------------------------------------------------------------------------
# Minifloat rounding and accumulation
# --------------------------------------------------------------------------------------------


def round_fp(fmt: FpFormat, x):
    """Round float64 values to ``fmt`` (RNE, subnormals kept, finite overflow saturates).

    Equal to ``decode(fmt, encode(fmt, x, "rne")[0])`` for every finite float64 ``x`` whose
    exponent is far from float64's own subnormal range (``|x| >= 2**-1000`` or zero); the sign
    of zero is kept. Returns float64.
    """
    x = np.asarray(x, dtype=np.float64)
    ax = np.abs(x)
    sh = 52 - fmt.m
    b = ax.view(np.int64)
    b = (b + ((1 << (sh - 1)) - 1) + ((b >> sh) & 1)) & ~np.int64((1 << sh) - 1)
    r = b.view(np.float64)
    q = 2.0 ** (fmt.emin - fmt.m)
    small = ax < 2.0 ** fmt.emin
    if small.any():
        r = np.where(small, np.rint(ax / q) * q, r)
    r = np.minimum(r, fmt.max_value)
    return np.copysign(r, x)


def exp_field(fmt: FpFormat, x):
    """``ee = max(E, 1)`` (biased exponent field, subnormals as 1) of float64 values of ``fmt``."""
    # float64 biased exponent e64 = E_true + 1023; E = E_true + bias; zeros give e64 = 0 -> 1
    e = (np.asarray(x, dtype=np.float64).view(np.int64) >> 52) & 0x7FF
    return np.maximum(e - (1023 - fmt.bias), 1)


ACC_MODES = ("fp32", "seq", "static", "dga", "dga_exp")


def fp_accumulate(fmt: FpFormat, a, b, mode: str, static_group: int = 64, gmax: int = 256,
                  threshold: int | None = None):
    """Dot products ``sum_k p[m, k, n]`` with ``p = round_fp(fmt, a[m, k] * b[k, n])``.

    The addends are the products rounded once to the accumulator format (the ``fp_mul`` block
    with ``fout`` = accumulator format); the additions follow :func:`golden.dga.accumulate`'s
    order for ``mode`` in ``seq`` (:func:`golden.dga.acc_seq`), ``static`` (``G =
    static_group``), ``dga`` (``G = dga_group_size(K, gmax=gmax)``) and ``dga_exp`` (``G = gmax``,
    threshold ``T``, default ``fmt.m``).

    Parameters
    ----------
    fmt : FpFormat
        Accumulator format (``inf_nan`` formats only: no NaN/Inf can arise from finite inputs,
        because every overflow saturates).
    a : float64 array ``(M, K)``; b : float64 array ``(K, N)``
        Operand values (exactly representable FP8 values).

    Returns
    -------
    numpy.ndarray of float64 ``(M, N)``: the accumulator values.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    M, K = a.shape
    N = b.shape[1]
    if mode == "seq":
        S = np.zeros((M, N))
        for k in range(K):
            S = round_fp(fmt, S + round_fp(fmt, np.multiply.outer(a[:, k], b[k])))
        return S + 0.0
    if mode in ("static", "dga"):
        G = static_group if mode == "static" else dga_group_size(K, gmax=gmax)
        S = np.zeros((M, N))
        A = np.zeros((M, N))
        n = 0
        for k in range(K):
            v = round_fp(fmt, np.multiply.outer(a[:, k], b[k]))
            if n >= G:
                S = round_fp(fmt, S + A)
                n = 0
            A = round_fp(fmt, (A if n > 0 else 0.0) + v)
            n += 1
        return round_fp(fmt, S + A)
    if mode == "dga_exp":
        T = fmt.m if threshold is None else threshold
        S = np.zeros((M, N))
        A = np.zeros((M, N))
        n = np.zeros((M, N), dtype=np.int64)
        for k in range(K):
            v = round_fp(fmt, np.multiply.outer(a[:, k], b[k]))
            if k == 0:
                A = v + 0.0                       # fp_add(+0, v): -0 becomes +0
                n += 1
                continue
            # A == 0 gives ee(A) = 1, so gap > T >= 0 already excludes it
            gap = exp_field(fmt, A) - exp_field(fmt, v)
            close = (gap > T) & (v != 0)
            if k >= gmax:
                close |= n >= gmax
            if close.any():
                S = np.where(close, round_fp(fmt, S + A), S)
                A = round_fp(fmt, np.where(close, 0.0, A) + v)
                n = np.where(close, 1, n + 1)
            else:
                A = round_fp(fmt, A + v)
                n += 1
        return round_fp(fmt, S + A)
    raise ValueError(f"accumulation mode {mode!r} is unknown: allowed values are "
                     f"{', '.join(ACC_MODES[1:])}.")


# --------------------------------------------------------------------------------------------
# RLSRU random numbers as a stream
# --------------------------------------------------------------------------------------------

PERIOD16 = 65535


#: one period of generate() per RLSRU configuration, shared by the streams of a process
_PERIODS = {}


class RandomStream:
    """The random numbers of one RLSRU, beat after beat, as the hardware delivers them.

    The stream is :func:`golden.rlsru.generate` continued without end: ``take(n)`` returns the
    next ``ceil(n / P)`` beats flattened lane-major (element ``i`` of a tensor gets lane
    ``i % P`` of beat ``i // P``); a partial last beat's unused lanes are dropped, as a hardware
    quantizer with ``P`` lanes drops them. ``replay`` restarts from the seed at every tensor
    (the restart bit on the tensor's first request), so every tensor sees the same numbers.

    ``per_lane``, ``split`` and ``replay`` advance 16-bit LFSRs one step per beat (``P <= 16``),
    so their beats repeat with period 65535: one period from ``generate`` is computed once and
    indexed cyclically. ``leap`` runs a ``W``-bit LFSR (period ``2**W - 1``) whose beats are
    consecutive output bits; they are produced from the LFSR's linear recurrence
    (``tests/test_train_arith.py`` checks both against ``generate``).
    """

    def __init__(self, cfg: RlsruConfig):
        if cfg.scheme != "leap" and cfg.lanes > 16:
            raise ValueError("RandomStream supports lanes <= 16 for per_lane/split/replay")
        self.cfg = cfg
        self.pos = 0
        if cfg.scheme == "leap":
            self._leap_init()
        else:
            key = (cfg.lanes, cfg.frac_bits, cfg.scheme, cfg.seed)
            if key not in _PERIODS:              # read-only, shared by streams of one config
                if len(_PERIODS) >= 4:
                    _PERIODS.pop(next(iter(_PERIODS)))
                _PERIODS[key] = generate(cfg, PERIOD16)
            self.table = _PERIODS[key]

    # -- leap: output bits of the W-bit Fibonacci LFSR ------------------------------------------
    def _leap_init(self):
        W = leap_width(self.cfg)
        self.W = W
        taps = TAPS[W]
        # bit i of state x_t is b_{t+i}; the new bit b_{t+W} = XOR over taps e of b_{t+W-e}
        self.offsets = [W - e for e in taps]
        self.step = min(taps)                  # bits computable at once from earlier bits
        self._drop = 0
        x0 = leap_seed(self.cfg)
        self.bits = np.array([(x0 >> i) & 1 for i in range(W)], dtype=np.uint8)

    def _leap_bits(self, upto: int):
        """Extend the stored output bits (``b_drop ..``) to at least ``upto`` of them."""
        n = len(self.bits)
        if upto <= n:
            return
        # Over GF(2), p(x)^(2^j) = p(x^(2^j)): the bits also obey b_{t + 2^j W} = XOR over the
        # taps of b_{t + 2^j o}, which yields 2^j * min(taps) new bits per NumPy operation.
        W = self.W
        out = np.empty(upto + (W << 12), dtype=np.uint8)
        out[:n] = self.bits
        while n < upto:
            j = 0
            while j < 12 and (W << (j + 1)) <= n:
                j += 1
            step = self.step << j
            t0 = n - (W << j)                   # new bits b_{t + 2^j W}, t in t0 .. t0+step-1
            o0 = self.offsets[0] << j
            new = out[t0 + o0:t0 + o0 + step].copy()
            for o in self.offsets[1:]:
                o <<= j
                new ^= out[t0 + o:t0 + o + step]
            out[n:n + step] = new
            n += step
        self.bits = out[:n]

    def beats(self, c0: int, n: int) -> np.ndarray:
        """Beats ``c0 .. c0+n-1`` (``int64 [n, P]``), independent of the stream position."""
        if self.cfg.scheme == "leap":
            raise ValueError("use take() for leap")
        idx = (np.arange(c0, c0 + n) % PERIOD16)
        return self.table[idx]

    def take(self, n_elems: int) -> np.ndarray:
        """Random numbers for the next tensor of ``n_elems`` elements (``int64``, flat)."""
        P = self.cfg.lanes
        n = -(-n_elems // P)
        if self.cfg.scheme == "replay":
            self.pos = 0
        if self.cfg.scheme == "leap":
            r = self._leap_take(n)
        else:
            r = self.beats(self.pos, n)
        self.pos += n
        return r.reshape(-1)[:n_elems]

    def _leap_take(self, n):
        # bits are indexed relative to what has been dropped
        P, F = self.cfg.lanes, self.cfg.frac_bits
        drop = self._drop
        first = (self.pos + 1) * P * F - drop
        last = (self.pos + n + 1) * P * F - drop
        self._leap_bits(last)
        if F == 8:                              # lane value = bits LSB first
            vals = np.packbits(self.bits[first:last], bitorder="little").astype(np.int64)
            vals = vals.reshape(n, P)
        else:
            b = self.bits[first:last].reshape(n, P, F).astype(np.int64)
            vals = (b << np.arange(F, dtype=np.int64)).sum(axis=2)
        if first > (1 << 22):
            keep = first - self.W
            self.bits = self.bits[keep:]
            self._drop = drop + keep
        return vals
