"""Study metrics a sweep can measure per point (``measure = ["metric"]``, ``[grid.metric]``).

A metric is ``fn(cfg, params, **args) -> dict``: ``cfg`` is the point's block configuration
(``None`` for a grid without a block), ``params`` the point's parameters, ``args`` the spec's
``[grid.metric] args``. The dict is stored as the row's report; a list under ``"rows"`` becomes
several report records (one per row, each with the point's parameters), for metrics that compute
a small table per point. Each entry of :data:`METRICS` has a version that enters the result key:
bump it when the metric's code changes, so stored rows are not reused.

Names map to ``"module:function"``; a spec may also give such a path directly.
"""

from __future__ import annotations

from golden.params import ConfigError

__all__ = ["METRICS", "check_metric", "metric_function", "metric_version"]

#: name -> (``"module:function"``, version)
METRICS = {
    "rlsru_quality": ("sim.rlsru_sweep:quality_metric", 1),
    "arc_error": ("sim.arc_study:error_metric", 1),
    "arc_method_error": ("sim.arc_study:method_error_metric", 1),
    "arc_latency": ("sim.arc_study:latency_metric", 1),
    "dga_error": ("sim.dga_study:error_metric", 1),
    "lfsr_period": ("sim.sweep.metrics:lfsr_period", 1),
}


def check_metric(name):
    """Raise :class:`ConfigError` unless ``name`` is a known metric or a ``module:function``."""
    if isinstance(name, str) and (name in METRICS or name.count(":") == 1):
        return
    raise ConfigError(f"metric {name!r} is unknown: allowed values are {', '.join(METRICS)} or "
                      f"\"package.module:function\".")


def metric_function(name):
    from .spec import resolve_design
    return resolve_design(METRICS[name][0] if name in METRICS else name)


def metric_version(name) -> int:
    return METRICS[name][1] if name in METRICS else 0


# --- metrics defined here -----------------------------------------------------------------------

def lfsr_period(cfg, params, beats=4096):
    """Distinct states in the first ``beats`` beats of an LFSR configuration (a cheap metric
    used by the tests and the example spec)."""
    from golden.lfsr import beat_states
    s = beat_states(cfg, beats)
    return {"beats": beats, "distinct_states": int(len({int(x) for x in s.reshape(-1)}))}
