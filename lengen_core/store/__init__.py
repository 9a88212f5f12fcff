"""The run store: every run, its curves and artifacts, in one DuckDB file.

Callers use :class:`RunStore` (and the names re-exported here); the modules
behind it do one job each:

:mod:`~lengen_core.store.schema`
    The tables (described there), :data:`MIGRATIONS` and :data:`SCHEMA_VERSION`.
:mod:`~lengen_core.store.engine`
    Process-wide state: the one in-memory DuckDB connection store files are
    attached to, the per-file lock state, and why no process keeps the file open.
:mod:`~lengen_core.store.sessions`
    One session on a file: flock on ``<db>.lock``, attach, one transaction,
    detach; waiting, :class:`StoreBusy`, and what a killed writer leaves.
:mod:`~lengen_core.store.opening`
    Where the store lives (:func:`default_store_path`) and the first look that
    refuses foreign or newer files, creates missing ones and migrates older ones.
:mod:`~lengen_core.store.owners`
    Which process owns a queued or running run, and whether it still lives.
:mod:`~lengen_core.store.run_rows`, :mod:`~lengen_core.store.bulk`
    Validating what callers write into column lists, and inserting them in bulk.
:mod:`~lengen_core.store.run_writes`, :mod:`~lengen_core.store.run_reads`
    The SQL of writing and reading runs; :mod:`~lengen_core.store.queries` holds
    the SQL text several reads share (the eval-curve query among it).
:mod:`~lengen_core.store.export`
    Parquet and CSV export from one snapshot.
:mod:`~lengen_core.store.run_store`
    :class:`RunStore`, whose every public method is one short session.

Concurrency in one paragraph: every public method of :class:`RunStore` is one
session that attaches the file to the process's single DuckDB connection, runs
one transaction and detaches it; sessions are serialised across processes by
``fcntl.flock`` on ``<db>.lock`` (exclusive for writes, shared for reads) and
within a process by per-file and engine locks. Any process killed at any point
leaves a whole call or none of it, and the ``.duckdb`` file alone is complete
between calls (safe to copy).

Measured on a shared 2-core machine (load average 2 to 6): attach and detach
without changes take about 1 ms; a read call takes 4-10 ms; a write call takes
7 ms at load 2 and 20-30 ms at load 6, most of it the checkpoint on detach;
``list_runs`` over 10,000 runs takes 26-60 ms.
"""

from __future__ import annotations

from lengen_core.errors import StoreError
from lengen_core.store.engine import StoreBusy
from lengen_core.store.export import EXPORT_FORMATS
from lengen_core.store.opening import default_store_path
from lengen_core.store.owners import owner_is_alive
from lengen_core.store.queries import EVAL_COLUMNS
from lengen_core.store.records import ALLOWED_TRANSITIONS, FINAL_STATUSES, RUN_STATUSES, InvalidTransition, RunNotFound, RunRecord
from lengen_core.store.run_store import RunStore
from lengen_core.store.schema import APP_MARKER, MIGRATIONS, SCHEMA_VERSION

__all__ = [
    "ALLOWED_TRANSITIONS",
    "APP_MARKER",
    "EVAL_COLUMNS",
    "EXPORT_FORMATS",
    "FINAL_STATUSES",
    "MIGRATIONS",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "InvalidTransition",
    "RunNotFound",
    "RunRecord",
    "RunStore",
    "StoreBusy",
    "StoreError",
    "default_store_path",
    "owner_is_alive",
]
