"""``lobit precision``: Sakr & Shanbhag per-tensor precisions from training statistics.

Reads a statistics JSON (:func:`golden.precision.load_stats`), prints one table row per layer and
writes the assignment as JSON (:meth:`golden.precision.Assignment.to_json`). The arithmetic is in
:mod:`golden.precision`; see docs/blocks/precision.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from golden.params import ConfigError
from golden.precision import assign, load_stats

__all__ = ["add_parser", "cmd_precision", "format_table"]


def format_table(a) -> str:
    """The assignment as a text table (widths, LSB and range exponents)."""
    head = (f"{'layer':<12} {'B_A':>4} {'B_W':>4} {'B_GW':>5} {'LSB_GW':>7} {'r_GW':>6} "
            f"{'B_GA':>5} {'LSB_GA':>7} {'r_GA':>6} {'B_acc':>6} {'LSB_acc':>8}")
    rows = [head, "-" * len(head)]
    for l in a.layers:
        rows.append(f"{l.name:<12} {l.B_A:>4} {l.B_W:>4} {l.B_GW:>5} {'2^' + str(l.d_GW):>7} "
                    f"{'2^' + str(l.e_GW):>6} {l.B_GA:>5} {'2^' + str(l.d_GA):>7} "
                    f"{'2^' + str(l.e_GA):>6} {l.B_acc:>6} {'2^' + str(l.d_acc):>8}")
    rows.append(f"B_min = {a.B_min}, mismatch bound {a.p_m:.3e} <= budget {a.budget:g}, "
                f"gamma_min = {a.gamma_min:g}")
    mac = a.to_json()["mac_array"]
    if max(mac.values()) <= 16:
        rows.append(f"MAC array for these widths: lobit synth mac_array -p a_width={mac['a_width']} "
                    f"-p b_width={mac['b_width']}")
    else:
        rows.append(f"MAC array operands a_width={mac['a_width']}, b_width={mac['b_width']}: "
                    f"wider than the mac_array block's 16-bit limit")
    return "\n".join(rows)


def cmd_precision(args):
    from .cli import _writable_file
    path = Path(args.stats)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"statistics file {str(path)!r} does not exist: give a JSON file "
                          f"(schema in docs/blocks/precision.md).") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"statistics file {str(path)!r} is not valid JSON: {e.msg} at line "
                          f"{e.lineno}.") from None
    layers, budget, gamma = load_stats(doc)
    if args.budget is not None:
        budget = args.budget
    if args.gamma_min is not None:
        gamma = args.gamma_min
    out = _writable_file(args.output, "-o") if args.output else None
    a = assign(layers, budget, gamma)
    print(format_table(a))
    if out is not None:
        out.write_text(json.dumps(a.to_json(), indent=2) + "\n")
        print(f"wrote {out}")
    return 0


def add_parser(sub):
    """Add the ``precision`` subcommand to the ``lobit`` subparsers ``sub``."""
    s = sub.add_parser("precision", help="Sakr & Shanbhag per-tensor fixed-point precisions "
                       "from training statistics (table + JSON)")
    s.add_argument("stats", help="statistics JSON (layers: E_A, E_W, grad_std, lambda_max)")
    s.add_argument("--budget", type=float, help="target mismatch probability (default: the "
                   "file's, else 0.01)")
    s.add_argument("--gamma-min", type=float, help="smallest learning rate (default: the file's, "
                   "else 0.001)")
    s.add_argument("-o", "--output", help="write the assignment as JSON")
    s.set_defaults(func=cmd_precision)
