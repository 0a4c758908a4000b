"""Sakr & Shanbhag per-tensor fixed-point precision assignment (docs/spec.md#sakr), as a host tool.

From per-tensor statistics of a floating-point training run, the criteria C1-C5 give, per layer
``l``, the bit widths of activations ``B_A``, weights ``B_W``, weight gradients ``B_GW``,
activation gradients ``B_GA`` and weight accumulators ``B_acc``, with power-of-two LSBs
``Delta = 2**d`` and ranges ``r = 2**e`` (``B = e - d + 1``).

Statistics per layer (the :func:`assign` input):

``E_A``, ``E_W``
    Feedforward noise gains of the layer's activation and weight tensors (C1), positive.
``grad_std``
    Standard deviations ``sqrt(var_t)`` of the layer's weight gradient sampled during the
    floating-point run (C2, C3): ``sigma_min``/``sigma_max`` are their minimum and maximum.
``lambda_max``
    Largest singular value of the Jacobian between the activation gradient and the weight
    gradient (C4), positive.

Rules (sourced from the authors' code; the budget rule for ``B_min`` chosen):

* C1: ``B_T = B_min + RNE(log2(sqrt(E_T / E_min)))`` over every activation and weight tensor
  (``log2`` in float64, ``np.rint``), ``B_min`` the smallest integer >= 2 (a sign and one
  magnitude bit) with
  ``sum_T (r_T 2**(1 - B_T))**2 E_T <= p_m`` (``r = 2`` activations, 1 weights; the sum exact
  with fractions);
* C2: ``Delta_GW = 2**floor(log2(sigma_min / 4))``;
* C3: ``r_GW = 2**ceil(log2(2 sigma_max / sqrt(0.1)))``, ``r_GA = 2**ceil(log2(8 sigma_max /
  sqrt(0.1)))``;
* C4: ``Delta_GA = 2**floor(log2(Delta_GW / sqrt(lambda_max)))``;
* C5: ``Delta_acc = 2**floor(log2(gamma_min Delta_GW))``, ``r_acc = 2**-B_W``,
  ``B_acc = log2(r_acc / Delta_acc) + 1``.

Every ``floor``/``ceil`` of a logarithm is computed exactly (integers and
:class:`fractions.Fraction` on the float inputs), so a value on a power-of-two boundary is
classified correctly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .params import ConfigError

__all__ = ["LayerStats", "LayerPrecision", "Assignment", "floor_log2", "ceil_log2_sqrt",
           "floor_log2_sqrt_inv", "assign", "load_stats", "mismatch_bound", "DEFAULT_BUDGET",
           "DEFAULT_GAMMA_MIN", "B_MIN_LOW", "B_MAX"]

DEFAULT_BUDGET = 0.01
DEFAULT_GAMMA_MIN = 0.001
#: smallest and largest B_min searched
B_MIN_LOW, B_MAX = 2, 64


@dataclass(frozen=True)
class LayerStats:
    """Statistics of one layer (module docstring)."""
    name: str
    E_A: float
    E_W: float
    grad_std: tuple
    lambda_max: float


@dataclass(frozen=True)
class LayerPrecision:
    """Widths (``B_*``) and LSB/range exponents (``d_*``, ``e_*``: ``Delta = 2**d``, ``r = 2**e``)
    of one layer."""
    name: str
    B_A: int
    B_W: int
    B_GW: int
    d_GW: int
    e_GW: int
    B_GA: int
    d_GA: int
    e_GA: int
    B_acc: int
    d_acc: int
    e_acc: int


@dataclass(frozen=True)
class Assignment:
    """The result of :func:`assign`: ``B_min``, the achieved mismatch bound and the layers."""
    budget: float
    gamma_min: float
    B_min: int
    p_m: float
    layers: tuple

    def to_json(self) -> dict:
        """The JSON document ``lobit precision`` writes."""
        return {"budget": self.budget, "gamma_min": self.gamma_min, "B_min": self.B_min,
                "p_m_bound": self.p_m,
                "layers": [dict(vars(l)) for l in self.layers],
                "mac_array": {"a_width": max(l.B_A for l in self.layers),
                              "b_width": max(l.B_W for l in self.layers)}}


def floor_log2(x) -> int:
    """``floor(log2(x))`` of a positive finite float, exactly."""
    m, e = math.frexp(float(x))
    return e - 1


def ceil_log2_sqrt(q: Fraction) -> int:
    """Smallest integer ``k`` with ``sqrt(q) <= 2**k`` (``q > 0`` exact), i.e. ``q <= 4**k``."""
    k = (q.numerator.bit_length() - q.denominator.bit_length()) // 2 - 2
    while Fraction(4) ** k < q:
        k += 1
    while k > -10**6 and Fraction(4) ** (k - 1) >= q:
        k -= 1
    return k


def floor_log2_sqrt_inv(d: int, lam: Fraction) -> int:
    """Largest integer ``k`` with ``2**k <= 2**d / sqrt(lam)``, i.e. ``4**k lam <= 4**d``."""
    k = d - ceil_log2_sqrt(lam) - 1
    while Fraction(4) ** (k + 1) * lam <= Fraction(4) ** d:
        k += 1
    while Fraction(4) ** k * lam > Fraction(4) ** d:
        k -= 1
    return k


def _positive(layer, field, v):
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"precision statistics of layer {layer!r}: {field}={v!r} is not a "
                          f"number: allowed values are positive finite normal numbers.") from None
    if not (math.isfinite(v) and v > 0 and abs(v) >= np.finfo(np.float64).tiny):
        raise ConfigError(f"precision statistics of layer {layer!r}: {field}={v!r} is out of "
                          f"range: allowed values are positive finite normal numbers.")
    return v


def _check(layers, budget, gamma_min):
    if not layers:
        raise ConfigError("precision statistics hold no layer: give at least one layer.")
    if not (math.isfinite(budget) and 0 < budget < 1):
        raise ConfigError(f"precision budget {budget!r} is out of range: allowed values are "
                          f"0 < budget < 1.")
    if not (math.isfinite(gamma_min) and 0 < gamma_min <= 1):
        raise ConfigError(f"precision gamma_min {gamma_min!r} is out of range: allowed values "
                          f"are 0 < gamma_min <= 1.")
    for l in layers:
        for f in ("E_A", "E_W", "lambda_max"):
            _positive(l.name, f, getattr(l, f))
        if len(l.grad_std) < 1:
            raise ConfigError(f"precision statistics of layer {l.name!r}: grad_std is empty: "
                              f"give at least one standard deviation.")
        for v in l.grad_std:
            _positive(l.name, "grad_std", v)


def mismatch_bound(E, offs, b_min) -> Fraction:
    """``sum_T (r_T 2**(1 - B_T))**2 E_T`` exactly, ``B_T = b_min + offs[T]``, ``E = [(E_T, r_T)]``."""
    return sum(Fraction(e) * (Fraction(r) * Fraction(2) ** (1 - (b_min + o))) ** 2
               for (e, r), o in zip(E, offs))


def assign(layers, budget=DEFAULT_BUDGET, gamma_min=DEFAULT_GAMMA_MIN) -> Assignment:
    """Per-layer precisions from statistics (module docstring).

    Parameters
    ----------
    layers : sequence of LayerStats
    budget : float
        Target mismatch probability ``p_m`` of C1 (0 < budget < 1).
    gamma_min : float
        Smallest learning rate (C5).
    """
    layers = tuple(layers)
    budget, gamma_min = float(budget), float(gamma_min)
    _check(layers, budget, gamma_min)
    E = [(float(l.E_A), 2) for l in layers] + [(float(l.E_W), 1) for l in layers]
    e_min = min(e for e, _ in E)
    offs = [int(np.rint(np.log2(np.sqrt(e / e_min)))) for e, _ in E]
    bud = Fraction(budget)
    b_min, pm = None, None
    for b in range(B_MIN_LOW, B_MAX + 1):
        s = mismatch_bound(E, offs, b)
        if s <= bud:
            b_min, pm = b, s
            break
    if b_min is None:
        raise ConfigError(f"precision budget {budget!r} cannot be met with B_min <= {B_MAX}: "
                          f"choose a larger budget.")
    n = len(layers)
    out = []
    lg = floor_log2(gamma_min)
    for i, l in enumerate(layers):
        B_A, B_W = b_min + offs[i], b_min + offs[n + i]
        smin, smax = min(map(float, l.grad_std)), max(map(float, l.grad_std))
        d_gw = floor_log2(smin) - 2                                   # C2 (exact: /4)
        s2 = Fraction(smax) ** 2
        e_gw = ceil_log2_sqrt(s2 * 4 * 10)                            # C3: (2 s)^2 / 0.1
        e_ga = ceil_log2_sqrt(s2 * 64 * 10)                           #     (8 s)^2 / 0.1
        d_ga = floor_log2_sqrt_inv(d_gw, Fraction(float(l.lambda_max)))   # C4
        d_acc = d_gw + lg                                             # C5 (gamma 2^d exact)
        e_acc = -B_W
        out.append(LayerPrecision(name=l.name, B_A=B_A, B_W=B_W,
                                  B_GW=e_gw - d_gw + 1, d_GW=d_gw, e_GW=e_gw,
                                  B_GA=e_ga - d_ga + 1, d_GA=d_ga, e_GA=e_ga,
                                  B_acc=e_acc - d_acc + 1, d_acc=d_acc, e_acc=e_acc))
    return Assignment(budget=budget, gamma_min=gamma_min, B_min=b_min, p_m=float(pm),
                      layers=tuple(out))


def load_stats(doc: dict):
    """``(layers, budget, gamma_min)`` from a statistics document.

    ``{"budget": 0.01, "gamma_min": 0.001, "layers": [{"name", "E_A", "E_W", "grad_std": [...],
    "lambda_max"}, ...]}``; ``budget`` and ``gamma_min`` are optional.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("layers"), list):
        raise ConfigError("precision statistics must be a JSON object with a list 'layers'.")
    layers = []
    for k, d in enumerate(doc["layers"]):
        missing = [f for f in ("E_A", "E_W", "grad_std", "lambda_max") if f not in d]
        if missing:
            raise ConfigError(f"precision statistics layer {k} lacks {', '.join(missing)}: "
                              f"every layer needs E_A, E_W, grad_std and lambda_max.")
        gs = d["grad_std"] if isinstance(d["grad_std"], list) else [d["grad_std"]]
        layers.append(LayerStats(name=str(d.get("name", f"layer{k}")), E_A=d["E_A"], E_W=d["E_W"],
                                 grad_std=tuple(gs), lambda_max=d["lambda_max"]))
    return (layers, float(doc.get("budget", DEFAULT_BUDGET)),
            float(doc.get("gamma_min", DEFAULT_GAMMA_MIN)))
