"""Writing runs: status moves, progress, curves, sweeps, artifacts, deletion.

Each function runs inside a write transaction the caller holds
(:meth:`StoreFile.transaction <lengen_core.store.sessions.StoreFile.transaction>`)
and takes already validated values (:mod:`lengen_core.store.run_rows`); the
store's path is passed only to name it in errors.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence
from typing import Any

import duckdb

from lengen_core.breakdown import Breakdown
from lengen_core.store.bulk import EVAL_LAYOUT, RUNS_LAYOUT, TRAIN_LAYOUT, insert
from lengen_core.store.engine import fetch_single
from lengen_core.store.owners import current_owner, refuse_live_runs
from lengen_core.store.records import ALLOWED_TRANSITIONS, InvalidTransition, RunNotFound
from lengen_core.store.run_reads import require_run
from lengen_core.store.values import utcnow

# The tables whose rows belong to a run, besides ``runs`` itself.
_RUN_TABLES = ("train_points", "eval_points", "eval_sweeps", "artifacts")


def insert_runs(connection: duckdb.DuckDBPyConnection, columns: dict[str, list[Any]]) -> None:
    """Insert new runs (the columns of :func:`lengen_core.store.run_rows.new_run_columns`)."""
    insert(connection, "runs", RUNS_LAYOUT, columns)


def move_status(connection: duckdb.DuckDBPyConnection, path: pathlib.Path, run_id: str, status: str, error: str | None) -> None:
    """Move a run to ``status`` (see :meth:`RunStore.set_status <lengen_core.store.RunStore.set_status>`)."""
    current = require_run(connection, path, run_id)
    if current == status and status != "running":
        return
    if current != status and status not in ALLOWED_TRANSITIONS[current]:
        raise InvalidTransition(
            f"run {run_id} is {current}; it cannot become {status} (allowed from {current}: {list(ALLOWED_TRANSITIONS[current]) or 'none, it is finished'})"
        )
    now = utcnow()
    if status == "running":
        owner, owner_start = current_owner()
        connection.execute(
            "UPDATE runs SET status = 'running', started_at = coalesce(started_at, ?), owner = ?, owner_start = ? WHERE run_id = ?",
            [now, owner, owner_start, run_id],
        )
    else:
        connection.execute("UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE run_id = ?", [status, now, error, run_id])


def set_progress(
    connection: duckdb.DuckDBPyConnection,
    path: pathlib.Path,
    run_id: str,
    steps_done: int,
    train_seconds: float | None,
    stop_reason: str | None = None,
    learned_step: int | None = None,
) -> None:
    """Record the run's steps done and training seconds, and (when given) why training ended;
    :class:`RunNotFound` for an unknown run."""
    updated = fetch_single(
        connection,
        "UPDATE runs SET steps_done = ?, train_seconds = ?, stop_reason = coalesce(?, stop_reason), learned_step = coalesce(?, learned_step) WHERE run_id = ?",
        [steps_done, train_seconds, stop_reason, learned_step, run_id],
    )[0]
    if not updated:
        raise RunNotFound(run_id, path)


def append_train_points(
    connection: duckdb.DuckDBPyConnection, path: pathlib.Path, run_id: str, columns: dict[str, list[Any]], progress: tuple[int, float | None] | None
) -> None:
    """Append ``train_points`` columns and, with ``progress`` (steps done, train seconds), update the run's progress."""
    require_run(connection, path, run_id)
    insert(connection, "train_points", TRAIN_LAYOUT, columns)
    if progress is not None:
        connection.execute("UPDATE runs SET steps_done = ?, train_seconds = ? WHERE run_id = ?", [*progress, run_id])


def append_train_points_of_runs(
    connection: duckdb.DuckDBPyConnection, path: pathlib.Path, columns: dict[str, list[Any]], progress: Sequence[tuple[str, int, float | None]]
) -> None:
    """:func:`append_train_points` for many runs in three statements: check the runs, insert every row, update every progress."""
    run_ids = sorted(set(columns["run_id"]) | {run_id for run_id, _, _ in progress})
    if not run_ids:
        return
    found = {row[0] for row in connection.execute(f"SELECT run_id FROM runs WHERE run_id IN ({', '.join('?' * len(run_ids))})", run_ids).fetchall()}
    missing = [run_id for run_id in run_ids if run_id not in found]
    if missing:
        raise RunNotFound(missing[0], path)
    insert(connection, "train_points", TRAIN_LAYOUT, columns)
    if progress:
        values = ", ".join(["(?::VARCHAR, ?::BIGINT, ?::DOUBLE)"] * len(progress))
        connection.execute(
            f"UPDATE runs SET steps_done = v.steps, train_seconds = v.seconds FROM (VALUES {values}) AS v(run_id, steps, seconds) WHERE runs.run_id = v.run_id",
            [value for entry in progress for value in entry],
        )


def replace_sweep(
    connection: duckdb.DuckDBPyConnection, path: pathlib.Path, run_id: str, sweep: str, columns: dict[str, list[Any]], breakdown: Breakdown
) -> None:
    """Replace the points and breakdown (its interval, and why it is a bound) of sweep ``sweep``; the ``default``
    sweep also sets the run's own."""
    require_run(connection, path, run_id)
    connection.execute("DELETE FROM eval_points WHERE run_id = ? AND sweep = ?", [run_id, sweep])
    insert(connection, "eval_points", EVAL_LAYOUT, columns)
    stored = [breakdown.length, breakdown.train_length_max, breakdown.low, breakdown.high, breakdown.bound_reason]
    connection.execute(
        "INSERT INTO eval_sweeps (run_id, sweep, breakdown_length, train_length_max, breakdown_low, breakdown_high, bound_reason, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, sweep) DO UPDATE SET "
        "breakdown_length = excluded.breakdown_length, train_length_max = excluded.train_length_max, "
        "created_at = excluded.created_at, breakdown_low = excluded.breakdown_low, breakdown_high = excluded.breakdown_high, "
        "bound_reason = excluded.bound_reason",
        [run_id, sweep, *stored, utcnow()],
    )
    if sweep == "default":
        connection.execute(
            "UPDATE runs SET breakdown_length = ?, train_length_max = ?, breakdown_low = ?, breakdown_high = ?, breakdown_bound = ? WHERE run_id = ?",
            [*stored, run_id],
        )


def add_tags(connection: duckdb.DuckDBPyConnection, path: pathlib.Path, run_id: str, tags: Sequence[str]) -> None:
    """Append the ``tags`` the run does not have yet (see :meth:`RunStore.add_tags <lengen_core.store.RunStore.add_tags>`)."""
    require_run(connection, path, run_id)
    current = list(fetch_single(connection, "SELECT tags FROM runs WHERE run_id = ?", [run_id])[0] or [])
    added = [tag for tag in dict.fromkeys(tags) if tag not in current]
    if added:
        connection.execute("UPDATE runs SET tags = ? WHERE run_id = ?", [current + added, run_id])


def add_artifact(connection: duckdb.DuckDBPyConnection, path: pathlib.Path, run_id: str, kind: str, file: str | os.PathLike[str]) -> None:
    """Record a file the run produced (the file itself is not touched)."""
    require_run(connection, path, run_id)
    connection.execute("INSERT INTO artifacts VALUES (?, ?, ?, ?)", [run_id, kind, os.fspath(file), utcnow()])


def delete_runs(connection: duckdb.DuckDBPyConnection, run_ids: Sequence[str], *, force: bool) -> int:
    """Delete runs and every row that belongs to them; how many runs were deleted (unknown ids are skipped).

    Without ``force``, a queued or running run whose owner may still be alive is refused.
    """
    ids = list(run_ids)
    if not force:
        refuse_live_runs(connection, ids)
    for table in _RUN_TABLES:
        connection.execute(f"DELETE FROM {table} WHERE list_contains(?, run_id)", [ids])
    return int(fetch_single(connection, "DELETE FROM runs WHERE list_contains(?, run_id)", [ids])[0])
