"""Golden model of the RLSRU random source (docs/spec.md#rlsru and docs/spec.md#decision-f).

The RLSRU delivers, per cycle (per transferred beat), one uniform ``F``-bit random integer to
each of ``P`` stochastic-rounding lanes (``r`` of ``SR_F(v, r) = (floor(v*2^F) + r) >> F``).
All details are [CHOSEN] (docs/spec.md#rlsru); four schemes are modelled bit-exactly. ``s16_t`` denotes
the spec's 16-bit Fibonacci LFSR (``x^16 + x^14 + x^13 + x^11 + 1``, docs/spec.md#lfsr) ``t`` steps
after the seed, ``M`` its one-step GF(2) matrix (:mod:`golden.lfsr`).

``per_lane`` (baseline)
    One 16-bit LFSR per lane, one step per cycle. Lane ``l`` starts from
    ``sigma_l = M^(l*D) seed`` with ``D = floor(65535 / P)`` (the lanes sit as far apart on the
    common m-sequence as possible). ``r[c, l] = state_l(c+1) >> (16 - F)`` (the top ``F`` bits).
    Cost: ``16 P`` flip-flops, ``3 P`` XOR2.
``leap``
    One ``W``-bit Fibonacci LFSR from the taps table, ``W = min(64, 16 * ceil(P*F / 16))``,
    advancing ``P*F`` steps per cycle (leap-forward ``M_W^(P*F)``). With ``b_t`` its output bit
    stream (bit 0 of ``x_t``), the cycle-``c`` word is ``w_c = sum_j b_{(c+1)*P*F + j} 2^j``
    for ``j < P*F`` -- every random bit is used exactly once -- and lane ``l`` takes bits
    ``l*F .. l*F+F-1`` of ``w_c``. The ``W``-bit start state is the 16-bit seed expanded with
    the spec LFSR: ``x_0 = sum_{q < W/16} s16_q << 16 q`` (``s16_0`` = seed).
``split`` (reuse of state bits across lanes)
    One 16-bit LFSR advancing ``G = ceil(P / 16)`` steps per cycle; lane ``j = 16 q + i`` reads
    state ``s16_{c G + q + 1}`` and takes the top ``F`` bits of ``rotl16(s, rho_i)`` with
    ``rho_i = floor(i / 2) + 8 (i mod 2)``: even lanes are the "high byte", odd lanes the "low
    byte" (docs/spec.md#rlsru) of successive rotations (the spec's (docs/spec.md#rlsru) alternative). For ``P = 2,
    F = 8`` this is exactly the spec's ``rlsru_stream``; for ``P <= 16`` a single step per
    cycle feeds all lanes with zero extra XORs. Lanes ``i`` and ``i + 2`` see windows shifted
    by one bit (correlation about 0.5, quantified in ``docs/blocks/rlsru.md``).
``replay``
    ``split`` plus restart (docs/spec.md#rlsru): a request with ``restart = 1`` starts the
    sequence again from the seed, so a repeated pass over the same tensor gives every element
    the same ``r``. The other schemes ignore the ``restart`` bit, so one request stream drives
    every scheme (the random source is swappable, docs/spec.md#decision-f).

Seed policy: ``seed`` is a 16-bit value ``1..65535`` (0 locks the LFSR and is rejected; the
spec's runtime rule 0 -> 0xACE1 is :func:`golden.lfsr.seed_or_default`). Seed chaining between
tensors (docs/spec.md#ots) is not modelled here: the seed is a configuration constant.
"""

from __future__ import annotations

import numpy as np

from .lfsr import (LfsrConfig, mat_apply, mat_pow, step, transition_matrix)
from .params import BlockConfig, ConfigError, Param

__all__ = ["RlsruConfig", "SCHEMES", "generate", "lane_seeds", "leap_width", "leap_seed",
           "leap_word_matrix", "split_rotation", "sr", "lfsr16"]

SCHEMES = ("per_lane", "leap", "split", "replay")


class RlsruConfig(BlockConfig):
    """Parameters of the RLSRU (schemes and seed policy in the module docstring)."""
    BLOCK = "rlsru"
    PARAMS = (
        Param("lanes", int, 16, "P: stochastic-rounding lanes served per cycle", lo=1, hi=64),
        Param("frac_bits", int, 8, "F: random bits per lane (fractional bits of SR_F)",
              lo=1, hi=16),
        Param("scheme", str, "split", "random-number generation / reuse scheme",
              choices=SCHEMES),
        Param("seed", int, 0xACE1, "16-bit LFSR seed (nonzero)", lo=0, hi=0xFFFF),
    )
    TAGS = {"lanes": "p", "frac_bits": "f", "scheme": "", "seed": "s"}
    TRANSACTION = "request"
    THROUGHPUT = "1 request per cycle"
    TIMING_NOTE = ("out.valid = inp.valid and inp.ready = out.ready (combinational); beat t = "
                   "golden.rlsru.generate()[t]")
    #: the beat of a request is transferred in the request's cycle
    latency = 0

    def _check(self):
        if self.seed == 0:
            raise ConfigError("rlsru parameter seed=0 is invalid: the all-zero state never "
                              "leaves itself; allowed values are 1..65535.")


def lfsr16(seed: int) -> LfsrConfig:
    """The spec's 16-bit Fibonacci LFSR with this seed."""
    return LfsrConfig(width=16, form="fibonacci", steps_per_cycle=1, seed=seed)


def lane_seeds(cfg: RlsruConfig) -> list:
    """``per_lane`` start states ``M^(l*D) seed``, ``D = floor(65535 / P)``."""
    base = lfsr16(cfg.seed)
    d = 65535 // cfg.lanes
    md = mat_pow(transition_matrix(base), d)
    out, s = [], cfg.seed
    for _ in range(cfg.lanes):
        out.append(s)
        s = mat_apply(md, s)
    return out


def leap_width(cfg: RlsruConfig) -> int:
    """``W = min(64, 16 * ceil(P*F / 16))`` of the ``leap`` scheme."""
    return min(64, 16 * -(-(cfg.lanes * cfg.frac_bits) // 16))


def leap_seed(cfg: RlsruConfig) -> int:
    """``x_0``: the 16-bit seed expanded to ``W`` bits with the spec LFSR."""
    base = lfsr16(cfg.seed)
    s, x = cfg.seed, 0
    for q in range(leap_width(cfg) // 16):
        x |= s << (16 * q)
        s = step(base, s)
    return x


def leap_config(cfg: RlsruConfig) -> LfsrConfig:
    """The ``W``-bit LFSR of the ``leap`` scheme."""
    return LfsrConfig(width=leap_width(cfg), form="fibonacci", steps_per_cycle=1,
                      seed=leap_seed(cfg))


def leap_word_matrix(cfg: RlsruConfig) -> list:
    """Row masks of the ``P*F x W`` matrix ``G`` with ``w = G x``: row ``j`` is ``e_0^T M^j``."""
    rows = transition_matrix(leap_config(cfg))
    v, out = 1, []
    for _ in range(cfg.lanes * cfg.frac_bits):
        out.append(v)
        nxt, i = 0, 0                    # v <- v M  (XOR of the rows selected by v)
        while v:
            if v & 1:
                nxt ^= rows[i]
            v >>= 1
            i += 1
        v = nxt
    return out


def split_rotation(i: int) -> int:
    """``rho_i = floor(i / 2) + 8 (i mod 2)`` for lane ``i`` of a 16-lane group."""
    return (i % 16) // 2 + 8 * (i % 2)


def _rotl16(s: int, r: int) -> int:
    r %= 16
    return ((s << r) | (s >> (16 - r))) & 0xFFFF if r else s


def generate(cfg: RlsruConfig, n_cycles: int, restarts=None) -> np.ndarray:
    """Random numbers of the first ``n_cycles`` beats, ``int64`` array ``[cycle, lane]``.

    ``restarts`` (bool per cycle, optional) marks requests with ``restart = 1``; only the
    ``replay`` scheme honours them (the beat then restarts from the seed).
    """
    P, F = cfg.lanes, cfg.frac_bits
    fmask = (1 << F) - 1
    restarts = (np.zeros(n_cycles, dtype=bool) if restarts is None
                else np.asarray(restarts, dtype=bool))
    if restarts.shape != (n_cycles,):
        raise ConfigError(f"rlsru restarts has shape {restarts.shape}: expected ({n_cycles},).")
    out = np.empty((n_cycles, P), dtype=np.int64)
    base = lfsr16(cfg.seed)
    if cfg.scheme == "per_lane":
        m1 = transition_matrix(base)
        states = [mat_apply(m1, s) for s in lane_seeds(cfg)]
        for c in range(n_cycles):
            for l in range(P):
                out[c, l] = states[l] >> (16 - F)
                states[l] = mat_apply(m1, states[l])
        return out
    if cfg.scheme == "leap":
        lc = leap_config(cfg)
        mk = mat_pow(transition_matrix(lc), P * F)
        g = leap_word_matrix(cfg)
        x = mat_apply(mk, lc.seed)
        for c in range(n_cycles):
            w = mat_apply(g, x)
            for l in range(P):
                out[c, l] = (w >> (l * F)) & fmask
            x = mat_apply(mk, x)
        return out
    # split / replay
    groups = -(-P // 16)
    m1 = transition_matrix(base)
    mg = mat_pow(m1, groups)
    r0 = mat_apply(m1, cfg.seed)
    r = r0
    for c in range(n_cycles):
        if cfg.scheme == "replay" and restarts[c]:
            r = r0
        g = r
        for q in range(groups):
            for i in range(16):
                lane = 16 * q + i
                if lane < P:
                    out[c, lane] = _rotl16(g, split_rotation(i)) >> (16 - F)
            g = mat_apply(m1, g)
        r = mat_apply(mg, r)
    return out


def sr(v, r, F: int):
    """``SR_F(v, r) = (floor(v * 2^F) + r) >> F`` (docs/spec.md#rounding), elementwise, as ``int64``."""
    fx = np.floor(np.asarray(v, dtype=np.float64) * (1 << F)).astype(np.int64)
    return (fx + np.asarray(r, dtype=np.int64)) >> F
