"""Golden model of the output-stationary INT8 systolic MAC array.

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
"""

from __future__ import annotations

import math

import numpy as np

from .params import BlockConfig, ConfigError, Param

__all__ = ["MacArrayConfig", "gemm_tile", "tile_gemm", "assemble_gemm",
           "random_tile"]


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
    )
    TAGS = {"rows": "r", "cols": "c", "a_width": "a", "b_width": "b", "acc_width": "acc",
            "pipelined": "p", "overflow": ""}

    def _check(self):
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

    @property
    def latency(self) -> int:
        """Cycles from the transfer of a tile's last input beat to the transfer of its row 0."""
        return self.cols + 1 + int(self.pipelined)

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
                f"T_t + {self.latency} + i (latency = cols + 1, +1 pipelined); input always valid, "
                f"output always ready")

    def _timing_extra(self) -> dict:
        return {"spacing": self.spacing}

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
    A : int array, shape (rows, K), values in the signed ``a_width`` range
    B : int array, shape (K, cols), values in the signed ``b_width`` range

    Returns
    -------
    C : int64 array (rows, cols) -- accumulator values after the overflow policy.
    row_ovf : bool array (rows,) -- the overflow flag carried by each output row.
    """
    A = _check_operand(cfg, "A", A, (cfg.rows, None))
    B = _check_operand(cfg, "B", B, (None, cfg.cols))
    K = A.shape[1]
    if K < 1 or B.shape[0] != K:
        raise ConfigError(f"mac_array tile has K={K} columns of A and {B.shape[0]} rows of B: "
                          f"both must equal the same K >= 1.")
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


def random_tile(cfg: MacArrayConfig, K: int, rng: np.random.Generator, extreme: float = 0.0):
    """A random (A, B) tile; with probability ``extreme`` per element the value is the range end."""
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
