"""Parsing what the tools report: Yosys ``stat -json`` and nextpnr's utilisation table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path


__all__ = ["parse_stat", "ff_count", "log_utilization"]


def parse_stat(path) -> dict:
    """Parse ``stat -json`` output (Yosys 0.70 format).

    Parameters
    ----------
    path : path-like
        File written by ``tee -q -o <path> stat -json``.

    Returns
    -------
    dict
        ``{"cells": int, "cells_by_type": {type: count}, "yosys_version": str}``, taken from the
        ``design`` section (the whole flattened design) or, failing that, the sum of the modules.
        Cell type names lose Yosys's leading backslash.
    """
    d = json.loads(Path(path).read_text())
    section = d.get("design")
    if section is None:
        section = {"num_cells": 0, "num_cells_by_type": {}}
        for mod in d.get("modules", {}).values():
            section["num_cells"] += mod.get("num_cells", 0)
            for t, n in mod.get("num_cells_by_type", {}).items():
                section["num_cells_by_type"][t] = section["num_cells_by_type"].get(t, 0) + n
    by_type = {t.lstrip("\\"): int(n) for t, n in section.get("num_cells_by_type", {}).items()}
    out = {"cells": int(section.get("num_cells", sum(by_type.values()))),
           "cells_by_type": dict(sorted(by_type.items())),
           "yosys_version": d.get("creator", "").split(" (")[0]}
    for key in ("estimated_num_transistors", "area"):
        if key in section:
            out[key] = section[key]
    return out


def ff_count(by_type: dict) -> int:
    """Flip-flops among the cell types: ``SB_DFF*`` (iCE40), ``$_DFF*``/``$_SDFF*``/``$dff``..."""
    return sum(n for t, n in by_type.items() if re.search(r"dff", t, re.I))


def log_utilization(log: Path) -> dict:
    """The "Device utilisation" table of a nextpnr log (used when no report was written)."""
    util = {}
    if log.exists():
        for m in re.finditer(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", log.read_text(), re.M):
            if int(m.group(2)):
                util[m.group(1)] = {"used": int(m.group(2)), "available": int(m.group(3))}
    return util
