"""Verilog emission and the JSON sidecar that describes every emitted module.

The sidecar carries everything a testbench needs that Verilog cannot say: the configuration, the
port list with the field layout of every stream payload (offset, width, signedness of each field),
the latency and the cycle formula. The cocotb harness in :mod:`sim` packs and unpacks payloads from
this description, so it never imports Amaranth.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Shape
from amaranth.lib import data, stream, wiring

__all__ = ["layout_fields", "port_list", "to_verilog", "merge_part_assigns", "sidecar",
           "write_block"]


def layout_fields(shape, prefix=()):
    """Flatten a shape into ``[{"path": [...], "offset": o, "width": w, "signed": s}, ...]``.

    Struct fields become path components, array elements become integer path components, so
    ``{"a": [..], "last": 1}`` payloads map one to one onto the flattened bits.
    """
    out = []
    if isinstance(shape, data.StructLayout):
        for name, field in shape:
            for f in layout_fields(field.shape, prefix + (name,)):
                f["offset"] += field.offset
                out.append(f)
        return out
    if isinstance(shape, data.ArrayLayout):
        step = Shape.cast(shape.elem_shape).width
        for i in range(shape.length):
            for f in layout_fields(shape.elem_shape, prefix + (i,)):
                f["offset"] += i * step
                out.append(f)
        return out
    s = Shape.cast(shape)
    return [{"path": list(prefix), "offset": 0, "width": s.width, "signed": s.signed}]


def port_list(component: wiring.Component):
    """Describe the component's interface: plain ports and streams (with payload layouts)."""
    ports, streams = [], []
    for name, member in component.signature.members.items():
        if member.is_signature and isinstance(member.signature, stream.Signature):
            sig = member.signature
            shape = sig.members["payload"].shape
            streams.append({
                "name": name,
                "direction": "in" if member.flow == wiring.In else "out",
                "payload_width": Shape.cast(shape).width,
                "fields": layout_fields(shape),
            })
        elif member.is_port:
            s = Shape.cast(member.shape)
            ports.append({"name": name, "direction": "in" if member.flow == wiring.In else "out",
                          "width": s.width, "signed": s.signed,
                          "fields": layout_fields(member.shape)})
        else:
            raise TypeError(f"port {name!r}: only streams and plain ports are supported")
    return {"ports": ports, "streams": streams}


_ASSIGN = re.compile(r"^\s*assign\s+(\\\S+\s|[A-Za-z_][\w$]*)\s*\[(\d+)(?::(\d+))?\]\s*=\s*(.+);\s*$")
_DECL = re.compile(r"^\s*(?:input|output|wire|reg)\s+(?:signed\s+)?\[(\d+):0\]\s+(\\\S+\s|[A-Za-z_][\w$]*)\s*(?:=.*)?;")


def merge_part_assigns(text: str) -> str:
    """Merge per-field ``assign x[hi:lo] = e;`` lines into one concatenation per signal.

    Amaranth drives a wide struct/array signal with one part-assign per field; Icarus Verilog
    re-evaluates the whole vector for every part, which makes wide ports 4-40x slower. The rewrite
    is purely syntactic: a group is merged only when its parts tile ``[0, W-1]`` exactly and ``W``
    is the declared width, otherwise it is left alone.
    """
    out_modules = []
    for chunk in re.split(r"(?<=\bendmodule\n)", text):
        lines = chunk.split("\n")
        widths = {}
        for ln in lines:
            m = _DECL.match(ln)
            if m:
                widths[m.group(2).strip()] = int(m.group(1)) + 1
        groups = {}
        for idx, ln in enumerate(lines):
            m = _ASSIGN.match(ln)
            if m:
                name = m.group(1).strip()
                hi = int(m.group(2))
                lo = int(m.group(3)) if m.group(3) is not None else hi
                groups.setdefault(name, []).append((lo, hi, m.group(4).strip(), idx))
        drop, extra = set(), []
        for name, parts in groups.items():
            if len(parts) < 2 or name not in widths:
                continue
            parts.sort()
            pos, ok = 0, True
            for lo, hi, _, _ in parts:
                if lo != pos or hi < lo:
                    ok = False
                    break
                pos = hi + 1
            if not ok or pos != widths[name]:
                continue
            ref = name + " " if name.startswith("\\") else name
            concat = ", ".join(e + " " for _, _, e, _ in reversed(parts))  # space ends escaped ids
            extra.append(f"  assign {ref} = {{ {concat} }};")
            drop.update(i for *_, i in parts)
        if extra:
            end = max(i for i, ln in enumerate(lines) if ln.strip() == "endmodule")
            lines = [ln for i, ln in enumerate(lines[:end]) if i not in drop] + extra + lines[end:]
        out_modules.append("\n".join(lines))
    return "".join(out_modules)


def to_verilog(component: wiring.Component, name: str) -> str:
    """Emit Verilog for ``component`` as module ``name`` (part-assigns merged)."""
    text = verilog.convert(component, name=name, emit_src=False, strip_internal_attrs=True)
    return merge_part_assigns(text)


def sidecar(cfg, component) -> dict:
    """The JSON-able description written next to the Verilog."""
    d = {
        "block": cfg.BLOCK,
        "module": cfg.module_name,
        "config": cfg.to_dict(),
        "clock": "clk (rising edge)",
        "reset": "rst (synchronous, active high)",
    }
    d.update(port_list(component))
    timing = getattr(component, "timing_info", None)
    if callable(timing):
        d["timing"] = timing()
    return d


def write_block(cfg, component, outdir) -> tuple[Path, Path]:
    """Write ``<module>.v`` and ``<module>.json`` into ``outdir``; return both paths."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    vpath = outdir / f"{cfg.module_name}.v"
    jpath = outdir / f"{cfg.module_name}.json"
    vpath.write_text(to_verilog(component, cfg.module_name))
    jpath.write_text(json.dumps(sidecar(cfg, component), indent=2) + "\n")
    return vpath, jpath
