"""The synthesis result cache: keys from the Verilog text, the flow and the tool versions;
atomic writes so parallel workers never read half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


__all__ = ["FLOW_VERSION", "cache_dir", "cache_key", "atomic_write", "cache_root"]


#: Bumped whenever a script or a parser changes, so stale cache entries are never reused.
FLOW_VERSION = 4


def cache_dir() -> Path:
    """The synthesis cache, ``$LOBIT_CACHE/synth`` (default ``<repo>/.cache/synth``)."""
    from hw.toolchain import REPO
    return Path(os.environ.get("LOBIT_CACHE", REPO / ".cache")) / "synth"


def cache_key(*parts) -> str:
    """Short SHA-256 of the JSON encoding of ``parts`` (the cache key)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True).encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def atomic_write(path: Path, text: str):
    """Write ``text`` to ``path`` via a rename, so concurrent readers never see half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def cache_root(cache) -> Path | None:
    """``cache`` as given to :func:`synthesize`: ``True`` (default dir), ``False`` or a path."""
    if cache is True:
        return cache_dir()
    if cache is False or cache is None:
        return None
    return Path(cache)
