"""Golden model of the SR unit: one RLSRU random source feeding P stochastic-rounding stages.

The unit exists so that "random source + SR lanes" can be simulated and synthesized as one
block for every reuse scheme of :mod:`golden.rlsru` (the cost question of
docs/spec.md#rlsru: how much does the random source add to P rounding lanes).

Per beat ``t`` and lane ``l`` the input is a two's-complement fixed-point value ``x[t, l]``
with ``frac_bits = F`` fraction bits and ``int_bits = I`` integer bits (sign included), i.e.
the integer ``x = floor(v * 2**F)`` in ``[-2**(I+F-1), 2**(I+F-1) - 1]``. The lane computes

``code = sat_b(SR_F(v, r)) = sat_b((x + r) >> F)``

with ``r = golden.rlsru.generate(rlsru_config(cfg), n, restarts)[t, l]`` (floor-based SR of
docs/spec.md#rounding, the adder form of docs/spec.md#decision-f), saturated to the symmetric
``b``-bit range ``[-L, L]``, ``L = 2**(b-1) - 1`` (``b = bits``, default 8: ``[-127, 127]``) with a
per-lane ``sat`` flag (docs/spec.md#decision-a, docs/spec.md#decision-c). The rounding itself is
:func:`golden.quantizer.round_fixed` in mode ``"sr"`` applied to the sign-magnitude record of ``x`` (``neg = x < 0``, ``mag = |x|``,
``sticky = 0``, which gives ``floor(v * 2**F) = x`` exactly), and the saturation is
:func:`golden.quantizer.saturate_codes`; so the unit rounds exactly like the quantizer lane's
SR stage after its FP32 -> fixed-point conversion.

``restart`` (one bit per beat) is passed to the random source: the ``replay`` scheme starts its
sequence again from its seed register on that beat, every other scheme ignores it; ``chain``
(``replay`` only) loads the seed register (seed chaining, :func:`golden.rlsru.generate`).

Code width and input width are independent: an input with ``I`` integer bits rounds into
``[-2**(I-1), 2**(I-1)]``, which saturates to any ``b`` (``I >= b`` lets the input reach every
code and the saturation; ``I < b`` leaves the top codes unused, still exact). So no relation
between ``int_bits`` and ``bits`` is imposed; each is validated on its own range.
"""

from __future__ import annotations

import numpy as np

from .params import BlockConfig, ConfigError, Param
from .quantizer import FixedRaw, round_fixed, saturate_codes
from .rlsru import SCHEMES, RlsruConfig, check_phase_lanes, generate

__all__ = ["SrUnitConfig", "rlsru_config", "sr_round", "run"]


class SrUnitConfig(BlockConfig):
    """Parameters of the SR unit (random source parameters as in :class:`RlsruConfig`)."""
    BLOCK = "sr_unit"
    PARAMS = (
        Param("lanes", int, 16, "P: SR lanes (fixed-point inputs and codes per beat)",
              lo=1, hi=64),
        Param("frac_bits", int, 8, "F: fraction bits of the input and random bits per lane",
              lo=1, hi=16),
        Param("int_bits", int, 9, "I: integer bits of the two's-complement input, sign included",
              lo=2, hi=16),
        Param("scheme", str, "split", "RLSRU random-number generation / reuse scheme",
              choices=SCHEMES),
        Param("seed", int, 0xACE1, "16-bit LFSR seed of the RLSRU (nonzero)", lo=0, hi=0xFFFF),
        Param("bits", int, 8, "code width b: symmetric codes in [-(2^(b-1)-1), 2^(b-1)-1]",
              lo=2, hi=16),
    )
    TAGS = {"lanes": "p", "frac_bits": "f", "int_bits": "i", "scheme": "", "seed": "s",
            "bits": "b"}
    TIMING_NOTE = ("out.valid = inp.valid and inp.ready = out.ready (combinational); input beat "
                   "t is rounded with golden.rlsru.generate()[t]")
    #: an input beat leaves, rounded, in the cycle of its transfer
    latency = 0

    def _check(self):
        if self.seed == 0:
            raise ConfigError("sr_unit parameter seed=0 is invalid: the all-zero state never "
                              "leaves itself; allowed values are 1..65535.")
        check_phase_lanes("sr_unit", self.scheme, self.lanes, self.frac_bits)

    @property
    def in_width(self) -> int:
        """Width ``I + F`` of one two's-complement input value."""
        return self.int_bits + self.frac_bits

    @property
    def x_range(self) -> tuple:
        """Inclusive range ``(lo, hi)`` of the input integers ``x``."""
        w = self.in_width
        return -(1 << (w - 1)), (1 << (w - 1)) - 1


def rlsru_config(cfg: SrUnitConfig) -> RlsruConfig:
    """The configuration of the unit's random source."""
    return RlsruConfig(lanes=cfg.lanes, frac_bits=cfg.frac_bits, scheme=cfg.scheme,
                       seed=cfg.seed)


def sr_round(x, r, frac_bits: int, bits: int = 8):
    """Saturated ``SR_F`` of fixed-point integers ``x`` with random integers ``r``.

    Parameters
    ----------
    x : array_like of int
        ``floor(v * 2**F)`` per element.
    r : array_like of int
        ``r`` in ``[0, 2**F)``, broadcast against ``x``.
    frac_bits : int
        ``F``.
    bits : int
        Code width ``b`` (2..16).

    Returns
    -------
    codes : numpy.ndarray of int8 (``bits <= 8``) or int16
        ``clip((x + r) >> F, -L, L)``, ``L = 2**(b-1) - 1``.
    sat : numpy.ndarray of bool
        The rounded value was outside ``[-L, L]``.
    """
    x = np.asarray(x, dtype=np.int64)
    raw = FixedRaw(neg=x < 0, mag=np.abs(x), sticky=np.zeros(x.shape, dtype=bool),
                   nan=np.zeros(x.shape, dtype=bool))
    return saturate_codes(round_fixed(raw, frac_bits, "sr", r), bits)


def run(cfg: SrUnitConfig, x, restarts=None, chains=None):
    """Codes of the unit for input beats ``x`` (``[beat, lane]`` integers).

    Parameters
    ----------
    cfg : SrUnitConfig
    x : array_like of int, shape ``(n, lanes)``
        Fixed-point inputs, each in :attr:`SrUnitConfig.x_range`.
    restarts : array_like of bool, shape ``(n,)``, optional
        ``restart`` bit of each beat (honoured by the ``replay`` scheme only).
    chains : array_like of bool, shape ``(n,)``, optional
        ``chain`` bit of each beat (``replay`` only: seed chaining, :func:`golden.rlsru.generate`).

    Returns
    -------
    codes : numpy.ndarray of int8 (int16 above 8 bits), shape ``(n, lanes)``
    sat : numpy.ndarray of bool, shape ``(n, lanes)``
    r : numpy.ndarray of int64, shape ``(n, lanes)``
        The random integers used (:func:`golden.rlsru.generate`).

    Raises
    ------
    golden.params.ConfigError
        ``x`` has the wrong shape or a value outside the input range.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != cfg.lanes:
        raise ConfigError(f"sr_unit input has shape {x.shape}: expected (n, {cfg.lanes}).")
    if not np.issubdtype(x.dtype, np.integer):
        raise ConfigError(f"sr_unit input has dtype {x.dtype}: expected integers "
                          f"floor(v * 2**{cfg.frac_bits}).")
    lo, hi = cfg.x_range
    if x.size and (x.min() < lo or x.max() > hi):
        bad = int(x.min()) if x.min() < lo else int(x.max())
        raise ConfigError(f"sr_unit input value {bad} is out of range: allowed values are "
                          f"{lo}..{hi} for int_bits={cfg.int_bits}, frac_bits={cfg.frac_bits}.")
    r = generate(rlsru_config(cfg), x.shape[0], restarts, chains)
    codes, sat = sr_round(x, r, cfg.frac_bits, cfg.bits)
    return codes, sat, r
