"""``lobit precision``: Sakr & Shanbhag per-tensor precisions from training statistics.

Reads a statistics JSON (:func:`golden.precision.load_stats`), prints one table row per layer and
writes the assignment as JSON (:meth:`golden.precision.Assignment.to_json`). The arithmetic is in
:mod:`golden.precision`; see docs/blocks/precision.md.

``lobit synth mac_array --precision FILE`` (:func:`synth_precision`) reads such an assignment,
maps it onto one MAC array for the whole network (:func:`mac_array_widths`) and synthesizes it
next to the INT8 x INT8 / INT32 array of the same size on the same target.
"""

from __future__ import annotations

import json
from pathlib import Path

from golden.params import ConfigError
from golden.precision import assign, load_stats

__all__ = ["add_parser", "cmd_precision", "format_table", "read_json", "mac_array_widths",
           "synth_precision", "ACC_HEADROOM"]

#: accumulator bits above a_width + b_width: the INT8 x INT8 array's 32-bit accumulator has 16,
#: so a precision-driven array keeps the same dot-product length before it can overflow
ACC_HEADROOM = 16


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


def read_json(path, what):
    """The JSON document in file ``path`` (a ``what``, e.g. "statistics file"), or one-sentence
    :class:`ConfigError`."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, IsADirectoryError):
        raise ConfigError(f"{what} {str(path)!r} does not exist: give a JSON file "
                          f"(schema in docs/blocks/precision.md).") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{what} {str(path)!r} is not valid JSON: {e.msg} at line "
                          f"{e.lineno}.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {str(path)!r} is not a UTF-8 text file: give a JSON "
                          f"file.") from None


def cmd_precision(args):
    from .cli import _writable_file
    doc = read_json(args.stats, "statistics file")
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


def mac_array_widths(doc, where="precision file") -> dict:
    """One MAC array for the whole network from a ``lobit precision`` assignment ``doc``.

    ``a_width`` = the largest activation width ``B_A`` and ``b_width`` = the largest weight width
    ``B_W`` over the layers (each must fit the array's 2..16-bit operands); ``acc_width`` =
    ``a_width + b_width +`` :data:`ACC_HEADROOM` (the INT8 array's 16 bits of dot-product
    headroom; Sakr's ``B_acc`` is the weight-update accumulator, outside the array), clipped to
    the array's 64-bit limit with a note. Returns ``{a_width, b_width, acc_width, layers, note}``;
    a malformed document raises :class:`ConfigError` (one sentence).
    """
    from golden.mac_array import MacArrayConfig
    if not isinstance(doc, dict) or not isinstance(doc.get("layers"), list) or not doc["layers"]:
        raise ConfigError(f"{where} must be a JSON object with a non-empty list 'layers' (the "
                          f"output of lobit precision -o).")
    widths = {}
    for key, param in (("B_A", "a_width"), ("B_W", "b_width")):
        p = MacArrayConfig.param(param)
        vals = []
        for i, layer in enumerate(doc["layers"]):
            name = layer.get("name", i) if isinstance(layer, dict) else i
            v = layer.get(key) if isinstance(layer, dict) else None
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(f"{where} layer {name!r} lacks an integer {key}: every layer "
                                  f"needs B_A and B_W (the output of lobit precision -o).")
            if not p.lo <= v <= p.hi:
                raise ConfigError(f"{where} layer {name!r} has {key}={v}, out of range for the "
                                  f"MAC array's {param}: allowed values are {p.lo}..{p.hi}.")
            vals.append(v)
        widths[param] = max(vals)
    acc_hi = MacArrayConfig.param("acc_width").hi
    acc = widths["a_width"] + widths["b_width"] + ACC_HEADROOM
    note = ""
    if acc > acc_hi:
        note = (f"acc_width {acc} (a_width + b_width + {ACC_HEADROOM}) clipped to the array's "
                f"limit {acc_hi}")
        acc = acc_hi
    return {**widths, "acc_width": acc, "layers": len(doc["layers"]), "note": note}


def synth_precision(args, block, base):
    """``lobit synth mac_array --precision FILE``: the array the assignment asks for and the
    INT8 x INT8 / INT32 array with the same other parameters (rows, cols, pipelined, overflow),
    synthesized on the same target; prints both and their ratio (``--json``: one document)."""
    from hw.synth import synthesize
    from .cli import _writable_dir
    if block.name != "mac_array":
        raise ConfigError(f"--precision applies to the mac_array block only, not {block.name!r}.")
    given = {item.split("=", 1)[0].strip() for item in (args.param or []) if "=" in item}
    fixed = given & {"a_width", "b_width", "acc_width"}
    if fixed:
        raise ConfigError(f"--param {sorted(fixed)[0]} conflicts with --precision: the operand "
                          f"and accumulator widths come from the precision file.")
    if base.pe != "int8":
        raise ConfigError(f"--precision sizes the integer array: pe={base.pe!r} is invalid here, "
                          f"allowed value is int8.")
    w = mac_array_widths(read_json(args.precision, "precision file"))
    cfgs = {"precision": base.replace(a_width=w["a_width"], b_width=w["b_width"],
                                      acc_width=w["acc_width"]),
            "int8": base.replace(a_width=8, b_width=8, acc_width=32)}
    workdir = _writable_dir(args.workdir if args.workdir else Path(".cache") / "synth",
                            "--workdir")
    reps = {k: synthesize(c, block.component(c), target=args.target, workdir=workdir,
                          fmax=args.fmax) for k, c in cfgs.items()}
    def num(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    keys = [k for k in ("lut", "ff", "carry", "cells", "area_um2", "fmax_mhz")
            if num(reps["int8"].get(k)) and num(reps["precision"].get(k))]
    ratio = {k: round(reps["precision"][k] / reps["int8"][k], 4) for k in keys
             if reps["int8"][k]}
    if args.json:
        print(json.dumps({"precision_file": str(args.precision), "widths": w,
                          "precision": reps["precision"], "int8": reps["int8"],
                          "ratio": ratio}, indent=2))
        return 0
    print(f"MAC array from {args.precision} ({w['layers']} layers): a_width={w['a_width']} "
          f"(max B_A), b_width={w['b_width']} (max B_W), acc_width={w['acc_width']} "
          f"(a + b + {ACC_HEADROOM}), {base.rows} x {base.cols}, target {args.target}")
    if w["note"]:
        print(f"note: {w['note']}")
    print(f"  precision array  {reps['precision']['module']}")
    print(f"  INT8 array       {reps['int8']['module']}")
    print(f"  {'':<16} {'precision':>12} {'int8/int32':>12} {'ratio':>8}")
    for k in keys:
        a, b = reps["precision"][k], reps["int8"][k]
        fa = f"{a:.1f}" if isinstance(a, float) else str(a)
        fb = f"{b:.1f}" if isinstance(b, float) else str(b)
        r = f"{ratio[k]:.3f}" if k in ratio else "-"
        print(f"  {k:<16} {fa:>12} {fb:>12} {r:>8}")
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
