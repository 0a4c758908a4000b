"""Design-space sweeps as one command: ``lobit sweep SPEC.toml`` and ``lobit report SPEC.toml``.

A TOML spec names blocks, parameter grids, synthesis targets and measurements (synthesis, Fmax,
simulation, a study metric, a trainer run) and the report's axes (:mod:`.spec`). Every
measurement is one task, keyed by a hash of the emitted Verilog and the tool versions and stored
as one row of an embedded SQLite database (:mod:`.store`); a re-run skips what is stored. Tasks
run on a local process pool or on a Dask cluster, and only the driver writes the database
(:mod:`.engine`, :mod:`.tasks`). The report is Markdown, PNG plots with the Pareto front and a
CSV export (:mod:`.report`). The format and the schema: docs/sweeps.md.
"""

from .engine import SweepRun, run_sweep
from .report import pareto_front, records, write_report
from .spec import Spec, load_spec, parse_spec
from .store import SCHEMA_VERSION, Store, default_db

__all__ = ["Spec", "load_spec", "parse_spec", "run_sweep", "SweepRun", "Store", "default_db",
           "SCHEMA_VERSION", "records", "pareto_front", "write_report"]
