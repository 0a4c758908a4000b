"""Test-only oracles written out from the specification (docs/spec.md), shared by the tests.

They are plain Python, independent of ``golden/``: the spec's 16-bit LFSR step
(x^16 + x^14 + x^13 + x^11 + 1, docs/spec.md#lfsr) and its two-bytes-per-step RLSRU stream
(docs/spec.md#rlsru).
"""

import numpy as np


def spec_lfsr16_step(s):
    """One step of the spec's 16-bit Fibonacci LFSR."""
    bit = ((s >> 0) ^ (s >> 2) ^ (s >> 3) ^ (s >> 5)) & 1
    return ((s >> 1) | (bit << 15)) & 0xFFFF


def spec_rlsru_stream(seed, n):
    """The spec's RLSRU stream: two bytes (high, low) of the state per LFSR step."""
    s = seed & 0xFFFF or 0xACE1
    out = np.empty(n, np.int64)
    for i in range(0, n, 2):
        s = spec_lfsr16_step(s)
        out[i] = s >> 8
        if i + 1 < n:
            out[i + 1] = s & 0xFF
    return out
