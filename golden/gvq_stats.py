"""Golden model of the GVQ statistics unit (block ``gvq_stats``): exact per-channel ``max|g|``,
``count(|g| > sigma_c)`` and the finite-element count, the quantities MCS needs
(:func:`golden.gvq_quantizer.channel_stats`, docs/spec.md#dai8).

Beats (one channel per beat, ``P`` FP32 elements):

* ``op = 0`` (data): for every lane with a **finite** element (exponent field not 255; NaN and
  +-Inf are excluded, and a host pads a partial beat with NaN) the flushed 31-bit magnitude ``m``
  (subnormals count as 0) updates ``max_c = max(max_c, m)``, ``n_c += 1`` and, when
  ``m > |sigma_c|`` (integer comparison of magnitudes), ``count_c += 1``;
* ``op = 1`` (load): ``sigma_c`` = the beat's ``sigma`` register value (FP32; its sign is ignored);
* ``op = 2`` (read): one output ``(gmax, count, n, ovf)`` of channel ``c`` -- ``gmax`` as the
  FP32 bit pattern of the maximum magnitude -- and the channel's statistics are cleared
  (``sigma_c`` is kept).

Overflow (docs/spec.md#decision-c): ``count`` and ``n`` **saturate** at ``2**count_bits - 1``;
``ovf`` reports that a counter of the channel saturated since its last read. The maximum is
exact (an integer comparison of magnitudes orders finite FP32 values). Latency 1 (registered
output of a read beat); data and load beats have no output.
"""

from __future__ import annotations

import numpy as np

from .params import BlockConfig, ConfigError, Param

__all__ = ["GvqStatsConfig", "OPS", "run", "pad_beats"]

#: beat operations
OPS = {"data": 0, "load": 1, "read": 2}
_NAN = 0x7FC0_0000


class GvqStatsConfig(BlockConfig):
    """Parameters of the GVQ statistics unit."""
    BLOCK = "gvq_stats"
    PARAMS = (
        Param("lanes", int, 2, "P: FP32 elements per beat", lo=1, hi=64),
        Param("channels", int, 16, "C: channels (entries of the statistics register file)",
              lo=1, hi=4096),
        Param("count_bits", int, 24, "width of the saturating count and n counters", lo=2, hi=32),
    )
    TAGS = {"lanes": "l", "channels": "c", "count_bits": "b"}
    TRANSACTION = "read beat (with the data and load beats before it)"
    TIMING_NOTE = "a read beat's statistics leave 1 cycle after its transfer; other beats have no output"
    latency = 1

    @property
    def ch_width(self) -> int:
        """Width of the channel index field."""
        return max(1, (self.channels - 1).bit_length())


def pad_beats(bits, lanes: int) -> np.ndarray:
    """Element patterns as ``(beats, lanes)``, the last beat padded with NaN (not counted)."""
    b = np.asarray(bits, dtype=np.int64).reshape(-1)
    pad = (-b.size) % lanes
    return np.concatenate([b, np.full(pad, _NAN, dtype=np.int64)]).reshape(-1, lanes)


def run(cfg: GvqStatsConfig, op, ch, x_bits, sigma_bits):
    """Outputs of a beat sequence: ``(gmax_bits, count, n, ovf)`` arrays, one entry per read.

    Parameters
    ----------
    op, ch : array_like of int, shape (t,)
        Operation (:data:`OPS`) and channel of every beat.
    x_bits : array_like of int, shape (t, lanes)
        FP32 patterns of data beats.
    sigma_bits : array_like of int, shape (t,)
        The sigma register value of load beats.
    """
    op = np.asarray(op, dtype=np.int64)
    ch = np.asarray(ch, dtype=np.int64)
    x = np.asarray(x_bits, dtype=np.int64) & 0xFFFF_FFFF
    if x.shape != (op.size, cfg.lanes):
        raise ConfigError(f"gvq_stats input has shape {x.shape}: expected ({op.size}, {cfg.lanes}).")
    if op.size and (op.min() < 0 or op.max() > 2):
        raise ConfigError(f"gvq_stats operation {int(op.max() if op.max() > 2 else op.min())} is "
                          f"invalid: allowed values are 0 (data), 1 (load), 2 (read).")
    if ch.size and (ch.min() < 0 or ch.max() >= cfg.channels):
        bad = int(ch.min()) if ch.min() < 0 else int(ch.max())
        raise ConfigError(f"gvq_stats channel {bad} is out of range: allowed values are "
                          f"0..{cfg.channels - 1}.")
    top = (1 << cfg.count_bits) - 1
    C = cfg.channels
    mx, cnt, n, ovf, sig = (np.zeros(C, dtype=np.int64) for _ in range(5))
    e = (x >> 23) & 0xFF
    finite = e != 0xFF
    mag = np.where(e == 0, 0, x & 0x7FFF_FFFF)
    out = []
    for t in range(op.size):
        c = int(ch[t])
        if op[t] == 0:
            f = finite[t]
            if f.any():
                mx[c] = max(mx[c], int(mag[t][f].max()))
            a = int((f & (mag[t] > sig[c])).sum())
            k = int(f.sum())
            ovf[c] |= int(cnt[c] + a > top or n[c] + k > top)
            cnt[c] = min(cnt[c] + a, top)
            n[c] = min(n[c] + k, top)
        elif op[t] == 1:
            sig[c] = int(sigma_bits[t]) & 0x7FFF_FFFF
        else:
            out.append((mx[c], cnt[c], n[c], ovf[c]))
            mx[c] = cnt[c] = n[c] = ovf[c] = 0
    res = np.array(out, dtype=np.int64).reshape(-1, 4)
    return res[:, 0], res[:, 1], res[:, 2], res[:, 3].astype(bool)
