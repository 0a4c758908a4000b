"""Golden model of the maximal-length LFSR (docs/spec.md#decision-e and docs/spec.md#lfsr).

Conventions
-----------
* The state ``s`` is an ``width``-bit integer; bit ``i`` is ``(s >> i) & 1``. Both forms shift
  **right**; the new bit enters at bit ``width - 1`` and bit 0 is the output bit.
* A taps entry is the tuple of exponents ``(n, a, b, ...)`` of the polynomial
  ``p(x) = x^n + x^a + x^b + ... + 1`` -- the polynomial the spec names for the LFSR (for n = 16:
  ``x^16 + x^14 + x^13 + x^11 + 1``). It is what ``galois`` calls the *feedback* polynomial
  (``galois.FLFSR(p)`` / ``galois.GLFSR(p)`` produce our sequences with the state given most
  significant bit first); the output bit stream ``o_t = s_t & 1`` obeys the recurrence whose
  characteristic polynomial is the reciprocal ``x^n p(1/x)``. Both are primitive together.
* ``form="fibonacci"``: ``bit = XOR_{e in taps} s[n - e]``; ``s' = (s >> 1) | (bit << (n - 1))``
  (for n = 16 this is the spec's ``lfsr16_step``, bits 0, 2, 3, 5).
* ``form="galois"``: ``s' = (s >> 1) ^ (mask if s & 1 else 0)`` with ``mask = sum(1 << (e - 1))``
  over the taps (for n = 16: ``0xB400``, Wikipedia's Galois example).
* ``generate(n)`` returns the states **after** each step, ``s_1 .. s_n`` (the spec's test vector
  from seed 0xACE1 starts ``0x5670 0xAB38 ...``); the seed ``s_0`` is not part of the sequence.

Taps table
----------
Widths 3..64 (except 16) are the maximal-length tap sets of Xilinx application note XAPP052
("Efficient Shift Registers, LFSR Counters, and Long Pseudo-Random Sequence Generators",
P. Alfke, 1996, table of taps for n = 3..168), read as polynomial exponents. Width 2 is the only
primitive quadratic, ``x^2 + x + 1``. Width 16 is the spec's ``x^16 + x^14 + x^13 + x^11 + 1``
(docs/spec.md#decision-e) instead of XAPP052's ``16, 15, 13, 4``. Every entry is checked in
``tests/test_lfsr.py``: primitive according to ``galois``, and full period ``2^n - 1``
exhaustively for n <= 16 (n <= 24 in the slow suite).

Seed policy
-----------
The all-zero state locks an LFSR, so ``seed = 0`` is rejected, as is any seed that does not fit
in ``width`` bits (:class:`golden.params.ConfigError`). The spec's runtime rule "seed 0 -> 0xACE1"
(docs/spec.md#lfsr, seed chaining in docs/spec.md#ots) is provided by :func:`seed_or_default` for callers that
receive seeds at run time. When ``seed`` is not given, the default is ``0xACE1`` truncated to
``width`` bits (``0xACE1`` itself for width >= 16; never 0 because bit 0 of 0xACE1 is 1).

Leap-forward
------------
``s_{t+k} = M^k s_t`` over GF(2). Matrices are lists of ``width`` row masks: output bit ``i`` is
the parity of ``row[i] & s``. :func:`transition_matrix` builds ``M`` from the taps (not from the
step function), so a test comparing :func:`leap` with ``k`` calls of :func:`step` can fail.
"""

from __future__ import annotations

import numpy as np

from .params import BlockConfig, ConfigError, Param

__all__ = ["TAPS", "DEFAULT_SEED", "LfsrConfig", "taps_for", "seed_or_default", "step",
           "generate", "beat_states", "transition_matrix", "mat_mul", "mat_pow", "mat_apply", "mat_apply_np",
           "leap", "leap_matrix", "output_bits"]

DEFAULT_SEED = 0xACE1

#: Maximal-length taps, polynomial exponents (see module docstring for the source of each entry).
TAPS = {
    2: (2, 1), 3: (3, 2), 4: (4, 3), 5: (5, 3), 6: (6, 5), 7: (7, 6), 8: (8, 6, 5, 4),
    9: (9, 5), 10: (10, 7), 11: (11, 9), 12: (12, 6, 4, 1), 13: (13, 4, 3, 1),
    14: (14, 5, 3, 1), 15: (15, 14), 16: (16, 14, 13, 11), 17: (17, 14), 18: (18, 11),
    19: (19, 6, 2, 1), 20: (20, 17), 21: (21, 19), 22: (22, 21), 23: (23, 18),
    24: (24, 23, 22, 17), 25: (25, 22), 26: (26, 6, 2, 1), 27: (27, 5, 2, 1), 28: (28, 25),
    29: (29, 27), 30: (30, 6, 4, 1), 31: (31, 28), 32: (32, 22, 2, 1), 33: (33, 20),
    34: (34, 27, 2, 1), 35: (35, 33), 36: (36, 25), 37: (37, 5, 4, 3, 2, 1), 38: (38, 6, 5, 1),
    39: (39, 35), 40: (40, 38, 21, 19), 41: (41, 38), 42: (42, 41, 20, 19),
    43: (43, 42, 38, 37), 44: (44, 43, 18, 17), 45: (45, 44, 42, 41), 46: (46, 45, 26, 25),
    47: (47, 42), 48: (48, 47, 21, 20), 49: (49, 40), 50: (50, 49, 24, 23),
    51: (51, 50, 36, 35), 52: (52, 49), 53: (53, 52, 38, 37), 54: (54, 53, 18, 17),
    55: (55, 31), 56: (56, 55, 35, 34), 57: (57, 50), 58: (58, 39), 59: (59, 58, 38, 37),
    60: (60, 59), 61: (61, 60, 46, 45), 62: (62, 61, 6, 5), 63: (63, 62), 64: (64, 63, 61, 60),
}


def taps_for(width: int) -> tuple:
    """Polynomial exponents of the table entry for ``width`` (2..64)."""
    if width not in TAPS:
        raise ConfigError(f"lfsr parameter width={width!r} is out of range: allowed values are "
                          f"an integer in 2..64.")
    return TAPS[width]


def seed_or_default(seed: int, width: int = 16) -> int:
    """Runtime seed rule of the spec: ``seed mod 2**width``, with 0 replaced by the default seed."""
    s = int(seed) & ((1 << width) - 1)
    return s if s else DEFAULT_SEED & ((1 << width) - 1)


class LfsrConfig(BlockConfig):
    """Parameters of the LFSR (conventions, taps source and seed policy in the module docstring)."""
    BLOCK = "lfsr"
    PARAMS = (
        Param("width", int, 16, "state width n; taps from the maximal-length table", lo=2, hi=64),
        Param("form", str, "fibonacci", "shift-register form (both right-shifting)",
              choices=("fibonacci", "galois")),
        Param("steps_per_cycle", int, 1, "k: LFSR steps per output beat (leap-forward M^k)",
              lo=1, hi=64),
        Param("seed", int, DEFAULT_SEED, "initial state s_0 (nonzero, < 2**width; default 0xACE1 "
              "truncated to width bits)", lo=0, hi=(1 << 64) - 1),
    )
    TAGS = {"width": "w", "form": "", "steps_per_cycle": "k", "seed": "s"}
    TRANSACTION = "request"
    THROUGHPUT = "1 request per cycle"
    TIMING_NOTE = ("out.valid = inp.valid and inp.ready = out.ready (combinational); beat t "
                   "carries s_{t*k+1..t*k+k}; the state advances only on a transfer")
    #: the output beat of a request is transferred in the request's cycle
    latency = 0

    def __init__(self, **kwargs):
        if "seed" not in kwargs:
            w = kwargs.get("width", 16)
            if isinstance(w, int) and not isinstance(w, bool) and 2 <= w <= 64:
                kwargs["seed"] = DEFAULT_SEED & ((1 << w) - 1)
        super().__init__(**kwargs)

    def _check(self):
        hi = (1 << self.width) - 1
        if self.seed == 0:
            raise ConfigError(f"lfsr parameter seed=0 is invalid: the all-zero state never leaves "
                              f"itself; allowed values are 1..{hi} for width={self.width}.")
        if self.seed > hi:
            raise ConfigError(f"lfsr parameter seed={self.seed} is out of range: allowed values "
                              f"are 1..{hi} for width={self.width}.")

    @property
    def taps(self) -> tuple:
        """Polynomial exponents of this width's table entry."""
        return TAPS[self.width]

    @property
    def mask(self) -> int:
        """Galois-form XOR mask ``sum(1 << (e - 1))`` over the taps."""
        return sum(1 << (e - 1) for e in self.taps)

    @property
    def period(self) -> int:
        """Sequence period ``2**width - 1`` (every table entry is maximal-length)."""
        return (1 << self.width) - 1


def step(cfg: LfsrConfig, s: int) -> int:
    """One LFSR step of state ``s`` (a Python int in ``1 .. 2**width - 1``)."""
    n = cfg.width
    if cfg.form == "fibonacci":
        bit = 0
        for e in cfg.taps:
            bit ^= (s >> (n - e)) & 1
        return (s >> 1) | (bit << (n - 1))
    return (s >> 1) ^ (cfg.mask if s & 1 else 0)


def generate(cfg: LfsrConfig, n: int, state: int | None = None) -> np.ndarray:
    """States after each of ``n`` steps from ``state`` (default: the seed), as ``uint64``."""
    s = cfg.seed if state is None else int(state)
    out = np.empty(n, dtype=np.uint64)
    for i in range(n):
        s = step(cfg, s)
        out[i] = s
    return out


def beat_states(cfg: LfsrConfig, n_beats: int, restarts=None) -> np.ndarray:
    """States carried by the first ``n_beats`` output beats of the component, ``[beat, j]``.

    Beat ``t`` carries ``k = steps_per_cycle`` consecutive states. A beat whose request has
    ``restart`` set (``restarts[t]`` true) starts the sequence again from the seed: it carries
    ``s_1 .. s_k`` and the following beats continue from there, exactly as after reset.
    """
    k = cfg.steps_per_cycle
    restarts = np.zeros(n_beats, dtype=bool) if restarts is None else np.asarray(restarts, bool)
    if restarts.shape != (n_beats,):
        raise ConfigError(f"lfsr restarts has shape {restarts.shape}: expected ({n_beats},).")
    out = np.empty((n_beats, k), dtype=np.uint64)
    s = cfg.seed
    for t in range(n_beats):
        if restarts[t]:
            s = cfg.seed
        for j in range(k):
            s = step(cfg, s)
            out[t, j] = s
    return out


def output_bits(cfg: LfsrConfig, n: int, state: int | None = None) -> np.ndarray:
    """Output bit stream ``o_t = s_t & 1`` for ``t = 0 .. n-1`` (``s_0`` = ``state`` or the seed)."""
    s = cfg.seed if state is None else int(state)
    out = np.empty(n, dtype=np.uint8)
    for i in range(n):
        out[i] = s & 1
        s = step(cfg, s)
    return out


# --- GF(2) matrices as lists of row masks ---------------------------------------------------

def transition_matrix(cfg: LfsrConfig) -> list:
    """One-step matrix ``M`` (``s_{t+1} = M s_t``), built directly from the taps."""
    n = cfg.width
    rows = [1 << (i + 1) for i in range(n - 1)] + [0]
    if cfg.form == "fibonacci":
        rows[n - 1] = 0
        for e in cfg.taps:
            rows[n - 1] ^= 1 << (n - e)
    else:
        for i in range(n):
            if (cfg.mask >> i) & 1:
                rows[i] ^= 1
    return rows


def mat_apply(rows: list, s: int) -> int:
    """``M s`` for a Python-int state."""
    out = 0
    for i, r in enumerate(rows):
        out |= (bin(r & s).count("1") & 1) << i
    return out


def mat_mul(a: list, b: list) -> list:
    """Matrix product ``A B`` over GF(2) (apply ``B`` first, then ``A``)."""
    out = []
    for r in a:
        acc, j = 0, 0
        while r:
            if r & 1:
                acc ^= b[j]
            r >>= 1
            j += 1
        out.append(acc)
    return out


def mat_pow(rows: list, k: int) -> list:
    """``M^k`` by repeated squaring (``k >= 0``)."""
    if k < 0:
        raise ConfigError(f"lfsr leap distance k={k} is out of range: allowed values are >= 0.")
    result = [1 << i for i in range(len(rows))]
    base = list(rows)
    while k:
        if k & 1:
            result = mat_mul(base, result)
        base = mat_mul(base, base)
        k >>= 1
    return result


def mat_apply_np(rows: list, states: np.ndarray) -> np.ndarray:
    """``M s`` for every state of a ``uint64`` array (vectorized over the states)."""
    states = np.asarray(states, dtype=np.uint64)
    n = len(rows)
    out = np.zeros_like(states)
    for j in range(n):
        col = 0
        for i, r in enumerate(rows):
            col |= ((r >> j) & 1) << i
        if col:
            bit = (states >> np.uint64(j)) & np.uint64(1)
            out ^= bit * np.uint64(col)
    return out


def leap_matrix(cfg: LfsrConfig, k: int) -> list:
    """``M^k`` for this configuration."""
    return mat_pow(transition_matrix(cfg), k)


def leap(cfg: LfsrConfig, s: int, k: int) -> int:
    """State ``k`` steps after ``s``, computed as ``M^k s`` (equals ``k`` calls of :func:`step`)."""
    return mat_apply(leap_matrix(cfg, k), s)
