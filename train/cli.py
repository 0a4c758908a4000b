"""``lobit train``: train the CNN of a dataset on a modeled arithmetic, over several seeds.

``add_parser(subparsers)`` registers the command on the ``lobit`` parser; ``run(args)`` returns
the exit status. A bad value raises :class:`golden.params.ConfigError` (one sentence naming the
value and the allowed range), which the ``lobit`` entry point turns into exit status 2. A NaN or
Inf loss stops the run with a message naming the epoch and step, writes ``"status":
"diverged"`` to the JSON record and exits with status 1.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from golden.params import ConfigError

from .arith import ACCS, ARITHS, BITS_MAX, BITS_MIN, GRADS, SCHEMES, int_mode_name
from .data import DATASETS
from .report import block_luts, step_cycles


def add_parser(subparsers):
    """Register ``train`` on an argparse sub-parser collection; returns the parser."""
    s = subparsers.add_parser("train", help="train a CNN on the modeled arithmetic "
                              "(docs/training.md)")
    s.add_argument("--dataset", default="mnist1d", help="mnist1d or digits")
    s.add_argument("--arith", default="fp32", help="fp32, int8, fp8 or sakr (integer arithmetic "
                   "at the per-layer widths of --precision)")
    s.add_argument("--grad", help="int8 gradient rounding: rne (default), rtz, sr, arc, dagq "
                   "(LowGradQ dual scale + OTS), gvq (per-channel GVQ + MCS)")
    s.add_argument("--rlsru", help="random source of --grad sr: per_lane, leap, split (default), "
                   "replay, phase")
    s.add_argument("--bits-fwd", type=int, default=8, metavar="B",
                   help="int8 arithmetic: code width of weights and activations, 2..16 (default 8)")
    s.add_argument("--bits-grad", type=int, default=8, metavar="B",
                   help="int8 arithmetic: code width of the output gradients, 2..16 (default 8)")
    s.add_argument("--precision", metavar="FILE",
                   help="--arith sakr: the JSON written by `lobit precision -o FILE`")
    s.add_argument("--max-bits", type=int, metavar="B",
                   help="--arith sakr: lower every assigned width above B (2..16) to B")
    s.add_argument("--stats-out", metavar="FILE",
                   help="--arith fp32: write the per-layer statistics `lobit precision` reads "
                   "(E_A, E_W, grad_std, lambda_max; seed 0's run)")
    s.add_argument("--acc", help="fp8 accumulation: fp32, seq, static, dga (default), dga_exp")
    s.add_argument("--epochs", type=int, help="epochs (default: 30 mnist1d, 20 digits)")
    s.add_argument("--seeds", type=int, default=1, help="seeds 0..K-1 (default 1)")
    s.add_argument("--lr", type=float, help="peak learning rate (default 0.05)")
    s.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    s.add_argument("--array", type=int, nargs=2, default=(8, 8), metavar=("ROWS", "COLS"),
                   help="MAC array of the cycle model (default 8 8)")
    s.add_argument("--json", metavar="PATH", help="write the run record as JSON")
    s.set_defaults(func=run)
    return s


def _choice(name, value, allowed):
    if value not in allowed:
        raise ConfigError(f"{name} {value!r} is unknown: allowed values are {', '.join(allowed)}.")


def validate(args) -> dict:
    """Check the arguments and return the resolved mode dict (raises :class:`ConfigError`)."""
    _choice("--dataset", args.dataset, DATASETS)
    _choice("--arith", args.arith, ARITHS)
    if args.grad is not None:
        _choice("--grad", args.grad, GRADS)
        if args.arith not in ("int8", "sakr"):
            raise ConfigError(f"--grad {args.grad} needs --arith int8 or sakr (got --arith "
                              f"{args.arith}).")
    if args.rlsru is not None:
        _choice("--rlsru", args.rlsru, SCHEMES)
        if args.grad != "sr":
            raise ConfigError(f"--rlsru {args.rlsru} needs --grad sr (got --grad "
                              f"{args.grad or 'unset'}).")
    if args.acc is not None:
        _choice("--acc", args.acc, ACCS)
        if args.arith != "fp8":
            raise ConfigError(f"--acc {args.acc} needs --arith fp8 (got --arith {args.arith}).")
    for name, v in (("--epochs", args.epochs), ("--seeds", args.seeds), ("--batch", args.batch)):
        if v is not None and v < 1:
            raise ConfigError(f"{name} {v} is out of range: allowed values are integers >= 1.")
    if args.lr is not None and not (args.lr > 0 and np.isfinite(args.lr)):
        raise ConfigError(f"--lr {args.lr} is out of range: allowed values are finite and > 0.")
    for v in args.array:
        if not 1 <= v <= 64:
            raise ConfigError(f"--array {v} is out of range: allowed values are 1..64.")
    bits = {}
    for name, key in (("--bits-fwd", "bits_fwd"), ("--bits-grad", "bits_grad")):
        v = getattr(args, key, 8)
        v = 8 if v is None else v
        if not BITS_MIN <= v <= BITS_MAX:
            raise ConfigError(f"{name} {v} is out of range: allowed values are "
                              f"{BITS_MIN}..{BITS_MAX}.")
        if v != 8 and args.arith != "int8":
            raise ConfigError(f"{name} {v} needs --arith int8 (got --arith {args.arith}).")
        bits[key] = v
    precision = getattr(args, "precision", None)
    if args.arith == "sakr" and precision is None:
        raise ConfigError("--arith sakr needs --precision FILE (the JSON of `lobit precision -o`).")
    if precision is not None and args.arith != "sakr":
        raise ConfigError(f"--precision needs --arith sakr (got --arith {args.arith}).")
    cap = getattr(args, "max_bits", None)
    if cap is not None:
        if args.arith != "sakr":
            raise ConfigError(f"--max-bits {cap} needs --arith sakr (got --arith {args.arith}).")
        if not BITS_MIN <= cap <= BITS_MAX:
            raise ConfigError(f"--max-bits {cap} is out of range: allowed values are "
                              f"{BITS_MIN}..{BITS_MAX}.")
    if getattr(args, "stats_out", None) is not None and args.arith != "fp32":
        raise ConfigError(f"--stats-out needs --arith fp32 (got --arith {args.arith}).")
    grad = args.grad or ("rne" if args.arith in ("int8", "sakr") else None)
    mode = {"dataset": args.dataset, "arith": args.arith, "grad": grad,
            "rlsru": (args.rlsru or "split") if grad == "sr" else None,
            "acc": (args.acc or "dga") if args.arith == "fp8" else None}
    if args.arith == "int8" and (bits["bits_fwd"] != 8 or bits["bits_grad"] != 8):
        mode.update(bits)
    if args.arith == "sakr":
        from .sakr import load_precision
        mode["layer_bits"] = load_precision(precision, args.dataset, cap)
        mode["precision_file"] = str(precision)
        if cap is not None:
            mode["max_bits"] = cap
    return mode


def mode_name(m) -> str:
    """Short name: ``fp32``, ``int8-sr-split``, ``int-f8g4-rne`` (widths not 8), ``fp8-dga``,
    ``sakr-rne`` ..."""
    if m["arith"] in ("int8", "sakr"):
        return int_mode_name(m["grad"], m.get("rlsru"), m.get("bits_fwd", 8), m.get("bits_grad", 8),
                             m["arith"] == "sakr") + (f"-max{m['max_bits']}"
                                                      if m.get("max_bits") else "")
    if m["arith"] == "fp8":
        return "fp8-" + m["acc"]
    return m["arith"]


def _bar(done, total, width=24):
    k = int(round(width * done / total))
    return "#" * k + "." * (width - k)


def run_mode(mode, epochs=None, seeds=3, lr=None, batch=64, array=(8, 8), log="stderr",
             progress=True, first_seed=0, stats_out=None) -> dict:
    """Train ``mode`` for seeds ``first_seed .. first_seed+seeds-1``; return the JSON record."""
    if log == "stderr":
        log = sys.stderr
    from .trainer import HYPER, Diverged, train_run
    name = mode_name(mode)
    epochs = epochs or HYPER[mode["dataset"]]["epochs"]
    runs, status, t0 = [], "ok", time.perf_counter()
    shapes = None
    last = {}

    def prog(ep, eps, st, steps, loss):
        last.update(ep=ep, eps=eps, st=st, steps=steps, loss=loss)
        if progress and log is not None and log.isatty():
            print(f"\r{name} seed {last['seed']} epoch {ep}/{eps} |{_bar(st, steps)}| "
                  f"loss {loss:.3f}", end="", file=log, flush=True)

    stats = None
    for seed in range(first_seed, first_seed + seeds):
        last["seed"] = seed
        if stats_out is not None and seed == first_seed:
            from .sakr import StatsRecorder
            stats = StatsRecorder()
        lb = mode.get("layer_bits")
        try:
            r = train_run(mode["dataset"], mode["arith"], mode["grad"] or "rne",
                          mode["rlsru"] or "split", mode["acc"] or "dga", epochs, seed, batch, lr,
                          progress=_EpochPrinter(prog, name, seed, log) if progress else None,
                          bits_fwd=mode.get("bits_fwd", 8), bits_grad=mode.get("bits_grad", 8),
                          layer_bits=None if lb is None else [tuple(x) for x in lb],
                          stats=stats if seed == first_seed else None)
        except Diverged as e:
            if log is not None:
                print(f"\nlobit: {e} ({name}, seed {seed}); stopping.", file=log)
            runs.append({"seed": seed, "status": "diverged", "epoch": e.epoch, "step": e.step,
                         "loss": str(e.loss)})
            status = "diverged"
            break
        shapes = r.step_shapes
        if stats is not None and seed == first_seed:
            stats.write(stats_out, mode["dataset"], epochs, seed)
        runs.append({"seed": seed, "status": "ok", "final_acc": r.final_acc,
                     "test_acc": [round(a, 4) for a in r.test_acc],
                     "train_loss": [round(x, 5) for x in r.train_loss],
                     "epoch_seconds": [round(x, 3) for x in r.epoch_seconds],
                     "int_overflows": r.int_overflows})
    ok = [x["final_acc"] for x in runs if x["status"] == "ok"]
    rec = {"mode": name, **mode, "epochs": epochs, "seeds": seeds, "batch": batch, "status": status,
           "acc_mean": float(np.mean(ok)) if ok and status == "ok" else None,
           "first_seed": first_seed,
           "acc_std": float(np.std(ok)) if ok and status == "ok" else None,
           "seconds_per_epoch": float(np.mean([s for x in runs if x["status"] == "ok"
                                               for s in x["epoch_seconds"]])) if ok else None,
           "wall_seconds": round(time.perf_counter() - t0, 2), "runs": runs,
           "machine": {"platform": platform.platform(), "python": platform.python_version()}}
    if shapes:
        rec["mac_array"] = step_cycles(shapes, *array)
    if mode["arith"] in ("fp32", "fp8") or (mode["arith"] == "int8" and "bits_fwd" not in mode):
        rec["blocks"] = block_luts(mode["arith"], mode["grad"], mode["rlsru"], mode["acc"])
    else:                                    # the synthesized blocks are the 8-bit ones
        rec["blocks"] = []
    return rec


class _EpochPrinter:
    """Progress callback: a bar on a terminal, one plain line per finished epoch otherwise."""

    def __init__(self, inner, name, seed, log):
        self.inner, self.name, self.seed, self.log = inner, name, seed, log
        self.t0 = time.perf_counter()

    def __call__(self, ep, eps, st, steps, loss):
        self.inner(ep, eps, st, steps, loss)
        if st == steps and self.log is not None:
            dt = time.perf_counter() - self.t0
            self.t0 = time.perf_counter()
            end = "\n"
            pre = "\r" if self.log.isatty() else ""
            print(f"{pre}{self.name} seed {self.seed} epoch {ep}/{eps} |{_bar(ep, eps)}| "
                  f"loss {loss:.3f}  {dt:.2f} s", end=end, file=self.log, flush=True)


def run(args) -> int:
    """Entry point of ``lobit train``; returns the exit status."""
    mode = validate(args)
    stats_out = getattr(args, "stats_out", None)
    rec = run_mode(mode, args.epochs, args.seeds, args.lr, args.batch, tuple(args.array),
                   stats_out=stats_out)
    name = rec["mode"]
    if rec["status"] == "ok":
        print(f"{name} on {args.dataset}: test accuracy {100 * rec['acc_mean']:.2f} % +- "
              f"{100 * rec['acc_std']:.2f} % over {args.seeds} seed(s), "
              f"{rec['seconds_per_epoch']:.2f} s/epoch")
        if "mac_array" in rec:
            m = rec["mac_array"]
            print(f"MAC array {m['array']}: {m['cycles']} cycles per training step "
                  f"({m['gemms']} GEMMs, utilization {100 * m['utilization']:.1f} %)")
    else:
        print(f"{name} on {args.dataset}: diverged", file=sys.stderr)
    if args.json:
        p = Path(args.json)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(rec, indent=1) + "\n")
    return 0 if rec["status"] == "ok" else 1
