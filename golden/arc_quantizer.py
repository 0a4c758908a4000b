"""Golden model of the ARC quantizer lanes (block ``arc_quantizer``): clip an FP32 value to
``[-c, c]``, multiply by the reciprocal scale and round toward zero (or RNE by a run-time
select) to the symmetric ``b``-bit range ``[-(2**(b-1)-1), 2**(b-1)-1]`` (``b = bits``, default 8:
INT8) through the shared quantizer lane (:func:`golden.quantizer.quantize_bits`).

The clip value ``c`` and the scale come from the host-side flow in :mod:`golden.arc`.
"""

from __future__ import annotations



import numpy as np

from .fp32 import EXP_MASK, SIGN_MASK, flush_bits
from .params import BlockConfig, ConfigError, Param
from .quantizer import quantize_bits

__all__ = ["ARC_FRAC_BITS", "ArcQuantizerConfig", "clip_bits", "arc_quantize_bits"]

#: fraction bits of the ARC lane: RTZ and RNE are exact for every F, so the narrowest is used
ARC_FRAC_BITS = 1


class ArcQuantizerConfig(BlockConfig):
    """Parameters of the ARC quantizer lanes (clip to +-c, multiply by inv, RTZ/RNE to b bits)."""
    BLOCK = "arc_quantizer"
    PARAMS = (
        Param("lanes", int, 2, "P: parallel lanes (FP32 inputs and codes per beat)", lo=1, hi=64),
        Param("adaptive", bool, False, "add the run-time rne input (per-layer RTZ/RNE choice)"),
        Param("pipelined", bool, True, "register the FP32 product before the rounder (+1 cycle)"),
        Param("bits", int, 8, "code width b: symmetric codes in [-(2^(b-1)-1), 2^(b-1)-1]",
              lo=2, hi=16),
    )
    TAGS = {"lanes": "l", "adaptive": "a", "pipelined": "p", "bits": "b"}
    TIMING_NOTE = "latency = 1 (output register) + 1 with pipelined (product register)"

    @property
    def latency(self) -> int:
        """Cycles from an input beat's transfer to its output beat's transfer (no stalls)."""
        return 1 + int(self.pipelined)


def clip_bits(x_bits, c_bits: int):
    """Clip FP32 patterns to ``[-|c|, |c|]``: ``(clipped bits, clip mask)``.

    Subnormal inputs are flushed first; a non-NaN element whose magnitude bits exceed those of
    ``c`` (including +-Inf) is replaced by ``c``'s magnitude with the element's sign. NaN passes.
    """
    b = flush_bits(x_bits)
    mag = b & 0x7FFF_FFFF
    cm = int(c_bits) & 0x7FFF_FFFF
    nan = mag > EXP_MASK
    clip = (mag > cm) & ~nan
    return np.where(clip, (b & SIGN_MASK) | cm, b).astype(np.int64), clip


def arc_quantize_bits(x_bits, c_bits: int, inv_bits: int, mode: str = "rtz", bits: int = 8):
    """One ARC lane: clip, ``v = fp32(x * inv)``, round (``"rtz"`` or ``"rne"``), saturate to
    ``bits``-bit codes.

    Returns ``(codes, nan, sat, clip)`` (``int8`` codes up to 8 bits, ``int16`` above, and
    ``bool`` masks).
    """
    if mode not in ("rtz", "rne"):
        raise ConfigError(f"arc lane mode {mode!r} is invalid: allowed values are rtz, rne.")
    xc, clip = clip_bits(x_bits, c_bits)
    codes, nan, sat = quantize_bits(xc, int(inv_bits), mode, ARC_FRAC_BITS, bits=bits)
    return codes, nan, sat, clip
