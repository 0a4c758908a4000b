"""Golden model of the RLSRU random source (docs/spec.md#rlsru and docs/spec.md#decision-f).

The RLSRU delivers, per cycle (per transferred beat), one uniform ``F``-bit random integer to
each of ``P`` stochastic-rounding lanes (``r`` of ``SR_F(v, r) = (floor(v*2^F) + r) >> F``).
All details are [CHOSEN] (docs/spec.md#rlsru); five schemes are modelled bit-exactly. ``s16_t`` denotes
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
``phase`` (phase shifter: one LFSR, XOR taps per lane)
    One 16-bit LFSR, one step per cycle, read through a fixed XOR network: lane ``l`` has a
    *base functional* ``f_l`` (a 16-bit tap mask) and bit ``b`` of its ``r`` is the parity of
    ``(f_l << b) & s16_{c+1}``. Every ``f_l`` uses only state bits ``0 .. K``, ``K = 16 - F``,
    so ``f_l << b`` stays inside the register and equals ``f_l M^b``. A nonzero functional
    ``f`` applied to the states reads the m-sequence ``o_t`` (bit 0 of ``s16_t``) at a fixed
    *phase*: ``f . s16_t = o_{t + phi(f)}`` with ``f = e_0^T M^phi(f)`` (bit ``k`` of ``s16_t``
    is ``o_{t+k}``). So lane ``l``'s bits are ``o_{c + 1 + phi_l + b}``: every lane is the same
    sliding window as ``per_lane``, at phase ``phi_l = phi(f_l)`` instead of ``l D``.
    The masks are chosen by :func:`phase_lanes` (procedure there): lane 0 is ``e_K`` (the top
    ``F`` bits, identical to lane 0 of ``per_lane``), and every further lane is, among the masks
    that one 2-input XOR per bit builds from two already available nodes (state bits
    ``0 .. K`` and earlier lanes), the one farthest in phase from the lanes chosen so far. The
    phases are computed exactly by a discrete-log table over all 65,535 functionals, and every
    pair of lanes has its top ``F - 2`` bits jointly uniform and independent
    (:func:`pair_independence`). Cost:
    16 flip-flops, 3 XOR2 of feedback and at most one XOR2 per random bit (``F (P - 1)``).
``replay``
    ``split`` plus restart (docs/spec.md#rlsru): a request with ``restart = 1`` starts the
    sequence again from the seed register, so a repeated pass over the same tensor gives every
    element the same ``r``; a request with ``chain = 1`` starts a new tensor and loads the
    seed register with the current state (seed chaining, :func:`generate`). The other schemes ignore the ``restart`` bit, so one request stream drives
    every scheme (the random source is swappable, docs/spec.md#decision-f).

Seed policy: ``seed`` is a 16-bit value ``1..65535`` (0 locks the LFSR and is rejected; the
spec's runtime rule 0 -> 0xACE1 is :func:`golden.lfsr.seed_or_default`). Seed chaining between
tensors (docs/spec.md#ots): the state at the end of one tensor seeds the next; ``replay``
keeps it in one seed register (:func:`generate`, :func:`generate_tensors`).
"""

from __future__ import annotations

import functools

import numpy as np

from .lfsr import (LfsrConfig, mat_apply, mat_pow, step, transition_matrix)
from .params import BlockConfig, ConfigError, Param

__all__ = ["RlsruConfig", "SCHEMES", "generate", "generate_tensors", "lane_seeds", "leap_width",
           "leap_seed",
           "leap_word_matrix", "split_rotation", "sr", "lfsr16", "PERIOD", "phase_table",
           "phase_of", "phase_order", "phase_lanes", "phase_max_lanes", "phase_separation",
           "pair_independence", "phase_min_independence",
           "period_states"]

SCHEMES = ("per_lane", "leap", "split", "replay", "phase")

#: period of the 16-bit spec LFSR
PERIOD = 65535


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
        check_phase_lanes("rlsru", self.scheme, self.lanes, self.frac_bits)


def check_phase_lanes(block: str, scheme: str, lanes: int, frac_bits: int):
    """Reject a ``phase`` configuration whose lanes would share random bits within a beat."""
    if scheme == "phase" and lanes > phase_max_lanes(frac_bits):
        raise ConfigError(f"{block} parameter lanes={lanes} is out of range for scheme "
                          f"'phase' with frac_bits={frac_bits}: allowed values are "
                          f"1..{phase_max_lanes(frac_bits)} (more lanes would share random "
                          f"bits within a beat).")


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


# --- phase shifter -----------------------------------------------------------------------------

def _parity16() -> np.ndarray:
    x = np.arange(1 << 16, dtype=np.int64)
    for sh in (8, 4, 2, 1):
        x ^= x >> sh
    return (x & 1).astype(np.int64)


#: parity of every 16-bit integer
PARITY16 = _parity16()


def _functional_step_tables():
    """``v -> v M`` for a 16-bit functional ``v`` (row vector), as two byte tables."""
    rows = transition_matrix(lfsr16(1))
    lo, hi = [0] * 256, [0] * 256
    for v in range(256):
        for i in range(8):
            if (v >> i) & 1:
                lo[v] ^= rows[i]
                hi[v] ^= rows[i + 8]
    return lo, hi


@functools.lru_cache(maxsize=1)
def phase_table() -> np.ndarray:
    """Phase of every functional of the 16-bit spec LFSR (a discrete-log table over GF(2)).

    Returns
    -------
    numpy.ndarray
        ``int64[65536]``; entry ``f`` (a 16-bit tap mask, ``f != 0``) is the ``phi`` with
        ``f = e_0^T M^phi``, i.e. ``parity(f & s16_t) = o_{t + phi}`` for every ``t``, where
        ``o_t`` is bit 0 of ``s16_t``. Entry 0 is -1. Computed by stepping the row vector
        ``v <- v M`` from ``e_0`` through the whole period (every nonzero mask appears exactly
        once because the polynomial is primitive; checked).
    """
    lo, hi = _functional_step_tables()
    out = np.full(1 << 16, -1, dtype=np.int64)
    v = 1
    for t in range(PERIOD):
        out[v] = t
        v = lo[v & 0xFF] ^ hi[v >> 8]
    if v != 1 or int((out[1:] < 0).sum()):
        raise AssertionError("the 16-bit LFSR is not maximal-length")
    return out


def phase_of(mask: int) -> int:
    """Phase ``phi`` of the functional ``mask`` (see :func:`phase_table`)."""
    if not 1 <= mask <= 0xFFFF:
        raise ConfigError(f"rlsru tap mask {mask} is out of range: allowed values are 1..65535.")
    return int(phase_table()[mask])


def _pdeg(a: int) -> int:
    return a.bit_length() - 1


def _pgcd(a: int, b: int) -> int:
    """Greatest common divisor of two GF(2) polynomials given as bit masks."""
    while b:
        while a and _pdeg(a) >= _pdeg(b):
            a ^= b << (_pdeg(a) - _pdeg(b))
        a, b = b, a
    return a


def pair_independence(fa: int, fb: int, frac_bits: int) -> int:
    """How many top bits of two ``phase`` lanes are jointly uniform and independent.

    Lane masks ``f`` use state bits ``0 .. 16 - F`` only, so bit ``j`` of a lane is the
    functional ``x^j f(x)`` read as a polynomial (no reduction). The top ``k`` bits of lanes
    ``a`` and ``b`` are ``2k`` linearly independent functionals -- hence exactly uniform and
    independent over the period -- unless ``alpha f_a = beta f_b`` for polynomials of degree
    ``< k``, not both zero. With ``g = gcd(f_a, f_b)``, ``u = f_a / g``, ``w = f_b / g`` the
    smallest such pair is ``(w, u)``, so the answer is ``min(F, max(deg u, deg w))``.
    """
    g = _pgcd(fa, fb)
    return min(frac_bits, max(_pdeg(fa), _pdeg(fb)) - _pdeg(g))


def phase_min_independence(frac_bits: int) -> int:
    """Top bits every pair of ``phase`` lanes has jointly independent:
    ``max(1, min(F - 2, 15 - F))`` (``F - 2`` for ``F <= 8``; above, lane masks have degree at
    most ``16 - F``, which bounds what any pair can reach)."""
    return max(1, min(frac_bits - 2, 15 - frac_bits))


def _circ(d):
    d = np.abs(d) % PERIOD
    return np.minimum(d, PERIOD - d)


@functools.lru_cache(maxsize=None)
def phase_order(frac_bits: int) -> tuple:
    """The greedy lane order of the ``phase`` scheme for ``F = frac_bits`` (up to 64 lanes).

    Procedure (deterministic, exact over GF(2)):

    1. ``K = 16 - F``. The usable masks are the nonzero masks of state bits ``0 .. K`` (so
       ``f << b = f M^b`` for every bit ``b < F`` of a lane). Phases come from
       :func:`phase_table`.
    2. Lane 0 is ``e_K``: phase ``K``, the top ``F`` state bits, no gate.
    3. The *available nodes* are the state bits ``e_0 .. e_K`` and the masks of the lanes
       chosen so far. A mask is *eligible* when it is the XOR of two distinct available nodes
       (so it costs exactly one 2-input XOR per random bit in hardware, shifted copies of the
       same gate for the ``F`` bits) and is not yet a lane.
    4. An eligible mask is *admissible* when, with every lane chosen so far, its top
       :func:`phase_min_independence` bits (``F - 2`` for ``F <= 8``) are jointly uniform and
       independent (:func:`pair_independence`, exact over GF(2)).
    5. The next lane is the admissible mask whose phase is farthest (circular distance modulo
       65,535) from the phases of all lanes chosen so far; ties go to the smaller mask. Its
       recipe is the first pair of available nodes (in the order they became available) whose
       XOR it is.
    6. Repeat until 64 lanes or no admissible mask is left.

    Without step 4 the farthest-phase masks are low-degree polynomials with common factors:
    two lanes then obey a short linear relation among their top bits (for example
    ``r_a`` bit 4 = ``r_b`` bit 4 XOR ``r_b`` bit 0), and the lane-sum noise ratio of the SR
    sweep reached 2.2 over a full period at ``P = 16``; with it the full-period ratio is
    0.99 .. 1.00 as for ``per_lane`` (``docs/blocks/rlsru.md``).

    Because the choice never depends on ``P``, the lanes of a ``P``-lane source are the first
    ``P`` entries, and the minimum phase separation of the first ``P`` lanes is
    ``min(sep[1:P])``.

    Returns
    -------
    tuple of tuple
        ``(mask, phase, recipe, sep)`` per lane; ``recipe`` is ``None`` for a state bit or
        ``(a, b)`` with ``mask = a ^ b`` (both available before this lane), ``sep`` the
        circular phase distance of this lane to the nearest earlier lane (``PERIOD`` for lane
        0).
    """
    K = 16 - frac_bits
    table = phase_table()
    units = [1 << k for k in range(K + 1)]
    nodes = list(units)
    recipes = {}
    for i, a in enumerate(units):
        for b in units[i + 1:]:
            recipes.setdefault(a ^ b, (a, b))
    lane0 = 1 << K
    order = [(lane0, int(table[lane0]), None, PERIOD)]
    chosen = {lane0}
    mind = _circ(table - table[lane0])            # distance of every mask to the lanes so far
    kmin = phase_min_independence(frac_bits)
    # admissible eligible masks (independent enough of every lane so far)
    admissible = {m for m in recipes if m not in units
                  and pair_independence(m, lane0, frac_bits) >= kmin}
    admissible.discard(lane0)
    while len(order) < 64 and admissible:
        cands = np.array(sorted(admissible), dtype=np.int64)
        k = int(np.argmax(mind[cands]))           # first maximum = smallest mask
        m = int(cands[k])
        order.append((m, int(table[m]), recipes[m], int(mind[m])))
        chosen.add(m)
        admissible = {x for x in admissible if x != m
                      and pair_independence(x, m, frac_bits) >= kmin}
        for a in nodes:
            x = a ^ m
            if x not in recipes:
                recipes[x] = (a, m) if a < m else (m, a)
                if x not in units and x not in chosen and all(
                        pair_independence(x, y, frac_bits) >= kmin for y in chosen):
                    admissible.add(x)
        nodes.append(m)
        mind = np.minimum(mind, _circ(table - table[m]))
    return tuple(order)


@functools.lru_cache(maxsize=None)
def phase_max_lanes(frac_bits: int) -> int:
    """Most lanes the ``phase`` scheme serves at ``F`` with lane windows disjoint in a beat.

    The largest ``P`` whose first ``P`` lanes of :func:`phase_order` are pairwise at least
    ``F`` apart in phase (lane windows ``phi_l .. phi_l + F - 1`` never overlap), capped at 64.
    """
    order = phase_order(frac_bits)
    n = 1
    while n < len(order) and order[n][3] >= frac_bits:
        n += 1
    return n


def phase_lanes(cfg: RlsruConfig) -> tuple:
    """``(mask, phase, recipe)`` of every lane of a ``phase`` configuration (first ``P`` of
    :func:`phase_order`)."""
    return tuple(o[:3] for o in phase_order(cfg.frac_bits)[:cfg.lanes])


def phase_separation(cfg: RlsruConfig) -> dict:
    """Minimum phase separations of a ``phase`` configuration.

    Returns
    -------
    dict
        ``lanes``: minimum circular distance between the phases of two lanes (= the smallest
        lag in beats after which one lane repeats another lane's numbers; 65,535 for one
        lane); ``bits``: minimum distance between two bits of *different* lanes in one beat
        (``lanes - (F - 1)``; bits of one lane are consecutive, distance 1, as in
        ``per_lane``); ``ideal``: ``floor(65535 / P)``, the separation of ``per_lane``.
    """
    ph = np.array(sorted(p for _, p, _ in phase_lanes(cfg)), dtype=np.int64)
    if ph.size > 1:
        gaps = np.diff(np.append(ph, ph[0] + PERIOD))
        sep = int(gaps.min())
    else:
        sep = PERIOD
    return {"lanes": sep, "bits": sep - (cfg.frac_bits - 1), "ideal": PERIOD // cfg.lanes}


@functools.lru_cache(maxsize=8)
def period_states(seed: int) -> np.ndarray:
    """``s16_t`` for ``t = 0 .. 65534`` from ``seed`` (``int64``; ``s16_{t + 65535} = s16_t``)."""
    rows = transition_matrix(lfsr16(seed))
    fb = rows[15]
    par = PARITY16
    out = np.empty(PERIOD, dtype=np.int64)
    s = seed
    for t in range(PERIOD):
        out[t] = s
        s = (s >> 1) | (int(par[s & fb]) << 15)
    out.flags.writeable = False
    return out


def _phase_values(states: np.ndarray, lanes, F: int) -> np.ndarray:
    """``r[c, l] = sum_b parity((mask_l << b) & states[c]) << b`` (vectorized over beats)."""
    out = np.zeros((states.shape[0], len(lanes)), dtype=np.int64)
    for l, (mask, _, _) in enumerate(lanes):
        for b in range(F):
            out[:, l] |= PARITY16[states & (mask << b)] << b
    return out


def _flags(name: str, flags, n_cycles: int) -> np.ndarray:
    flags = (np.zeros(n_cycles, dtype=bool) if flags is None
             else np.asarray(flags, dtype=bool))
    if flags.shape != (n_cycles,):
        raise ConfigError(f"rlsru {name} has shape {flags.shape}: expected ({n_cycles},).")
    return flags


def generate(cfg: RlsruConfig, n_cycles: int, restarts=None, chains=None) -> np.ndarray:
    """Random numbers of the first ``n_cycles`` beats, ``int64`` array ``[cycle, lane]``.

    ``restarts`` (bool per cycle, optional) marks requests with ``restart = 1``, ``chains``
    requests with ``chain = 1``; only the ``replay`` scheme honours them (seed chaining,
    docs/spec.md#rlsru). ``replay`` keeps one 16-bit *seed register*, ``sd``, that holds the
    state of the first beat of the current tensor (after reset: ``s16_1``). A ``chain``
    request starts a new tensor: it continues the stream (the state the beat would have used
    anyway, i.e. the state at the end of the previous tensor) and loads that state into
    ``sd``. A ``restart`` request (without ``chain``) uses ``sd``, so it replays the current
    tensor from its first beat. Without ``chain`` requests ``sd`` stays ``s16_1`` and restart
    returns to the seed, as before. The other schemes need no seed memory for chaining: they
    continue from the last state anyway, and ignore both bits.
    """
    P, F = cfg.lanes, cfg.frac_bits
    fmask = (1 << F) - 1
    restarts = _flags("restarts", restarts, n_cycles)
    chains = _flags("chains", chains, n_cycles)
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
    if cfg.scheme == "phase":
        idx = np.arange(1, n_cycles + 1, dtype=np.int64) % PERIOD
        return _phase_values(period_states(cfg.seed)[idx], phase_lanes(cfg), F)
    # split / replay
    groups = -(-P // 16)
    m1 = transition_matrix(base)
    mg = mat_pow(m1, groups)
    r = mat_apply(m1, cfg.seed)
    sd = r                                       # replay's seed register
    for c in range(n_cycles):
        if cfg.scheme == "replay":
            if chains[c]:
                sd = r
            elif restarts[c]:
                r = sd
        g = r
        for q in range(groups):
            for i in range(16):
                lane = 16 * q + i
                if lane < P:
                    out[c, lane] = _rotl16(g, split_rotation(i)) >> (16 - F)
            g = mat_apply(m1, g)
        r = mat_apply(mg, r)
    return out


def generate_tensors(cfg: RlsruConfig, lengths, passes=1) -> list:
    """Random numbers of tensors processed one after the other with seed chaining.

    Tensor ``k`` has ``lengths[k]`` beats and is passed over ``passes`` times (``replay``:
    every pass sees the same numbers, the DAGQ threshold search of docs/spec.md#ots). The
    request stream is: ``chain = 1`` on the first beat of every tensor, ``restart = 1`` on the
    first beat of every further pass. The next tensor starts from the state at the end of the
    previous one, so no per-tensor seed is stored.

    Returns
    -------
    list of numpy.ndarray
        Per tensor, ``int64 [passes, lengths[k], lanes]``.
    """
    lengths = [int(n) for n in lengths]
    total = passes * sum(lengths)
    restarts = np.zeros(total, dtype=bool)
    chains = np.zeros(total, dtype=bool)
    pos = 0
    for n in lengths:
        chains[pos] = True
        for k in range(1, passes):
            restarts[pos + k * n] = True
        pos += passes * n
    r = generate(cfg, total, restarts, chains)
    out, pos = [], 0
    for n in lengths:
        out.append(r[pos:pos + passes * n].reshape(passes, n, cfg.lanes))
        pos += passes * n
    return out


def sr(v, r, F: int):
    """``SR_F(v, r) = (floor(v * 2^F) + r) >> F`` (docs/spec.md#rounding), elementwise, as ``int64``."""
    fx = np.floor(np.asarray(v, dtype=np.float64) * (1 << F)).astype(np.int64)
    return (fx + np.asarray(r, dtype=np.int64)) >> F
