"""The sweep result store: one embedded SQLite database, one row per measurement.

A row is keyed by :func:`task_key`, a hash of what determines the measurement: the emitted
Verilog (SHA-256 of the text), the tool versions, the target or simulator and the options (for
study metrics and trainer runs, which have no Verilog: the parameters, the metric's version and
the NumPy version). The row carries the full report JSON, the wall time, the host, the number of
attempts and, on failure, the tool's output. The database runs in WAL mode and every write is one
``BEGIN IMMEDIATE`` transaction with a busy timeout, so several writers (processes) can share
one file; the sweep driver is the only writer in normal use. ``meta.schema_version`` guards
against reading a database written by another layout (docs/sweeps.md#schema).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path

from golden.params import ConfigError

__all__ = ["SCHEMA_VERSION", "SCHEMA", "Store", "default_db", "task_key", "shown_path"]

#: bumped whenever the table layout or the meaning of a column changes
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    key          TEXT PRIMARY KEY,   -- task_key(): Verilog hash + tool versions + what is measured
    block        TEXT,               -- block name (BLOCK of the config), NULL for metric/train rows
    design       TEXT,               -- "module:function" of a synthesis-only design, else NULL
    params       TEXT NOT NULL,      -- canonical JSON of the point's parameters
    measure      TEXT NOT NULL,      -- synth | sim | metric | train
    target       TEXT NOT NULL,      -- synthesis target, simulator, metric name or "train"
    options      TEXT NOT NULL,      -- canonical JSON of the measurement options
    verilog_sha  TEXT,               -- SHA-256 of the emitted Verilog (NULL without hardware)
    tools        TEXT NOT NULL,      -- JSON {tool: version} that entered the key
    status       TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    report       TEXT,               -- full report JSON of an ok row
    stderr       TEXT,               -- the failure's message, traceback and tool log tail
    wall_seconds REAL,               -- wall time of the (last) attempt on the worker
    host         TEXT,               -- worker host name
    attempts     INTEGER NOT NULL,
    sweep        TEXT,               -- name of the spec that wrote the row
    finished_at  REAL NOT NULL       -- Unix time the driver stored the row
);
CREATE INDEX IF NOT EXISTS results_point ON results (block, design, params, measure, target);
"""


def _statements(script: str):
    """The SQL statements of ``script`` (comments dropped), for one transaction."""
    text = "\n".join(line.split("--")[0] for line in script.splitlines())
    return [s.strip() for s in text.split(";") if s.strip()]


def default_db() -> Path:
    """``$LOBIT_CACHE/sweeps.sqlite`` (default ``<repo>/.cache/sweeps.sqlite``)."""
    from hw.toolchain import REPO
    return Path(os.environ.get("LOBIT_CACHE", REPO / ".cache")) / "sweeps.sqlite"


def shown_path(path) -> str:
    """``path`` relative to the repository when it lies inside it (for JSON written to bench/)."""
    from hw.toolchain import REPO
    p = Path(path).resolve()
    try:
        return str(p.relative_to(REPO))
    except ValueError:
        return str(p)


def task_key(task_ident: str, verilog_sha, tools: dict) -> str:
    """SHA-256 (hex) of a task's identity, its Verilog hash and the tool versions."""
    h = hashlib.sha256()
    for part in (task_ident, verilog_sha or "", json.dumps(tools, sort_keys=True)):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


class Store:
    """The SQLite result database (a context manager; one connection per instance)."""

    def __init__(self, path, timeout: float = 60.0):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as e:
            raise ConfigError(f"--db {str(path)!r} cannot be opened as a database: {e}.") from None
        try:
            self.con.execute("PRAGMA busy_timeout = %d" % int(timeout * 1000))
            self.con.execute("PRAGMA journal_mode = WAL")
            self._init_schema()
        except sqlite3.DatabaseError as e:
            self.con.close()
            raise ConfigError(f"--db {str(path)!r} is not a lobit sweep database ({e}): choose "
                              f"another path.") from None

    def _init_schema(self):
        con = self.con
        con.execute("BEGIN IMMEDIATE")
        try:
            tables = {r[0] for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "meta" in tables:
                row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                found = int(row[0]) if row else None
                if found != SCHEMA_VERSION:
                    raise ConfigError(
                        f"--db {str(self.path)!r} has schema version {found}, this lobit reads "
                        f"version {SCHEMA_VERSION} only: choose another --db or delete the file.")
            elif tables:
                raise ConfigError(f"--db {str(self.path)!r} holds tables that are not a lobit "
                                  f"sweep database: choose another path.")
            else:
                for stmt in _statements(SCHEMA):
                    con.execute(stmt)
                con.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            self.con.close()
            raise

    def close(self):
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def get(self, key: str):
        """The row of ``key`` as a dict (``report``, ``tools``, ``params`` decoded) or None."""
        cur = self.con.execute("SELECT * FROM results WHERE key = ?", (key,))
        row = cur.fetchone()
        if row is None:
            return None
        d = dict(zip([c[0] for c in cur.description], row))
        for k in ("report", "tools", "params", "options"):
            if d.get(k) is not None:
                d[k] = json.loads(d[k])
        return d

    def status(self, keys) -> dict:
        """``{key: status}`` of the keys that are stored."""
        out = {}
        keys = list(keys)
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            q = "SELECT key, status FROM results WHERE key IN (%s)" % ",".join("?" * len(part))
            out.update(dict(self.con.execute(q, part).fetchall()))
        return out

    def put(self, row: dict):
        """Insert or replace one row in its own transaction (``BEGIN IMMEDIATE``)."""
        cols = ("key", "block", "design", "params", "measure", "target", "options", "verilog_sha",
                "tools", "status", "report", "stderr", "wall_seconds", "host", "attempts", "sweep",
                "finished_at")
        vals = dict(row)
        for k in ("params", "options", "tools", "report"):
            if vals.get(k) is not None and not isinstance(vals[k], str):
                vals[k] = json.dumps(vals[k], sort_keys=True)
        vals.setdefault("finished_at", time.time())
        con = self.con
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute(f"INSERT OR REPLACE INTO results ({', '.join(cols)}) VALUES "
                        f"({', '.join('?' * len(cols))})", [vals.get(c) for c in cols])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def count(self, status=None) -> int:
        if status is None:
            return self.con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        return self.con.execute("SELECT COUNT(*) FROM results WHERE status = ?",
                                (status,)).fetchone()[0]

    def integrity(self) -> str:
        return self.con.execute("PRAGMA integrity_check").fetchone()[0]
