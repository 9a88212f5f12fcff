"""Reading runs: one record, listings (optionally with each run's checkpoint), curves, sweeps, artifacts.

The query builders validate their arguments before any session is opened;
the readers run inside a session the caller holds and take the store's path
only to name it in errors. Returned times are UTC-aware.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import duckdb

from lengen_core.errors import ConfigError
from lengen_core.store.engine import fetch_one, fetch_single
from lengen_core.store.queries import (
    ARTIFACT_COLUMNS,
    LIST_COLUMNS,
    LIST_ORDER,
    NEWEST_CHECKPOINTS,
    RUN_COLUMNS,
    RUN_FIELDS,
    TASK_LABEL,
    TRAIN_COLUMNS,
    eval_curve_query,
)
from lengen_core.store.records import RunNotFound, RunRecord
from lengen_core.store.values import as_utc, check_status, localize_times, required_int

if TYPE_CHECKING:  # imported where used: a worker that only writes starts faster without it
    import pandas

RUN_TIMES = ("created_at", "started_at", "finished_at")  # the timestamp columns of a run


def require_run(connection: duckdb.DuckDBPyConnection, path: pathlib.Path, run_id: str) -> str:
    """The run's status; :class:`RunNotFound` when there is no such run."""
    row = fetch_one(connection, "SELECT status FROM runs WHERE run_id = ?", [run_id])
    if row is None:
        raise RunNotFound(run_id, path)
    status: str = row[0]
    return status


def read_run(connection: duckdb.DuckDBPyConnection, path: pathlib.Path, run_id: str) -> RunRecord:
    """The run's record, config and environment parsed, times UTC-aware."""
    row = fetch_one(connection, f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?", [run_id])
    if row is None:
        raise RunNotFound(run_id, path)
    values = dict(zip(RUN_FIELDS, row))
    values["config"] = json.loads(values["config"])
    values["environment"] = json.loads(values["environment"])
    for key in RUN_TIMES:
        values[key] = as_utc(values[key])
    values["tags"] = list(values["tags"] or [])
    return RunRecord(**values)


def count_runs(connection: duckdb.DuckDBPyConnection) -> int:
    return int(fetch_single(connection, "SELECT count(*) FROM runs")[0])


def find_identical(connection: duckdb.DuckDBPyConnection, config_id: str, seed: int, code_version: str) -> str | None:
    """The newest ``done`` run with this config id, seed and code version (see :mod:`lengen_core.runs.identity`)."""
    row = connection.execute(
        f"SELECT run_id FROM runs WHERE status = 'done' AND config_id = ? AND seed = ? AND code_version = ? {LIST_ORDER} LIMIT 1",
        [config_id, seed, code_version],
    ).fetchone()
    return None if row is None else str(row[0])


def list_runs_query(
    *,
    status: str | None,
    task: str | None,
    scheme: str | None,
    config_id: str | None,
    limit: int | None,
    tag: str | None,
    run_ids: Sequence[str] | None,
    with_checkpoint: bool,
) -> tuple[str, list[Any]]:
    """(query, parameters) of a run listing (see :meth:`RunStore.list_runs <lengen_core.store.RunStore.list_runs>`).

    ``with_checkpoint`` joins each run's newest checkpoint as ``checkpoint_path``
    and keeps only runs that have one, in the same query; ``limit`` then counts
    those runs.
    """
    if status is not None:
        check_status(status)
    conditions: list[str] = []
    parameters: list[Any] = []
    for column, value in (("status", status), ("scheme", scheme), ("config_id", config_id)):
        if value is not None:
            conditions.append(f"{column} = ?")
            parameters.append(value)
    if task is not None:  # a task's name, or a listing's label of it (expression:<name>)
        conditions.append(f"(task = ? OR {TASK_LABEL} = ?)")
        parameters += [task, task]
    if tag is not None:
        conditions.append("list_contains(tags, ?)")
        parameters.append(tag)
    if run_ids is not None:
        conditions.append("list_contains(?, run_id)")
        parameters.append([str(run_id) for run_id in run_ids])
    if with_checkpoint:
        query = f"SELECT {LIST_COLUMNS}, checkpoint_path FROM runs JOIN ({NEWEST_CHECKPOINTS}) AS checkpoints USING (run_id)"
    else:
        query = f"SELECT {LIST_COLUMNS} FROM runs"
    if conditions:
        query += " WHERE " + " AND ".join(conditions)
    query += " " + LIST_ORDER
    if limit is not None:
        count = required_int("limit", limit)
        if count < 0:
            raise ConfigError("limit", f"must be >= 0, got {count}")
        query += f" LIMIT {count}"
    return query, parameters


def read_listing(connection: duckdb.DuckDBPyConnection, query: str, parameters: Sequence[Any]) -> pandas.DataFrame:
    """The frame of a :func:`list_runs_query`, times UTC-aware."""
    return localize_times(connection.execute(query, list(parameters)).df(), RUN_TIMES)


def read_train_curve(connection: duckdb.DuckDBPyConnection, path: pathlib.Path, run_id: str) -> pandas.DataFrame:
    """Columns step, loss, accuracy, lr, wall_time_s, tokens_per_s, ordered by step."""
    require_run(connection, path, run_id)
    return connection.execute(f"SELECT {', '.join(TRAIN_COLUMNS)} FROM train_points WHERE run_id = ? ORDER BY step", [run_id]).df()


def eval_curve_request(run_ids: Sequence[str], sweep: str | None) -> tuple[str, list[Any]]:
    """(query, parameters) of the eval curves of ``run_ids``, of sweep ``sweep`` only when given."""
    conditions = ["list_contains(?, p.run_id)"]
    parameters: list[Any] = [[str(run_id) for run_id in run_ids]]
    if sweep is not None:
        conditions.append("p.sweep = ?")
        parameters.append(sweep)
    return eval_curve_query(*conditions), parameters


def read_sweeps(connection: duckdb.DuckDBPyConnection, path: pathlib.Path, run_id: str) -> pandas.DataFrame:
    """The stored sweeps of a run: sweep, breakdown_length, train_length_max, created_at."""
    require_run(connection, path, run_id)
    frame = connection.execute(
        "SELECT sweep, breakdown_length, train_length_max, created_at FROM eval_sweeps WHERE run_id = ? ORDER BY created_at", [run_id]
    ).df()
    return localize_times(frame, ("created_at",))


PART_SWEEPS_QUERY = """
    SELECT s.run_id, substr(s.sweep, length('default@') + 1) AS task, s.breakdown_length, s.train_length_max,
           (SELECT max(e.length) FROM eval_points AS e WHERE e.run_id = s.run_id AND e.sweep = s.sweep) AS longest_tested,
           s.breakdown_low, s.breakdown_high, s.bound_reason,
           (SELECT min(e.exact_match) FROM eval_points AS e
            WHERE e.run_id = s.run_id AND e.sweep = s.sweep AND e.length <= s.train_length_max) AS in_distribution
    FROM eval_sweeps AS s
    WHERE s.sweep LIKE 'default@%' AND list_contains(?, s.run_id)
    ORDER BY s.run_id, s.created_at
"""


def read_part_sweeps(connection: duckdb.DuckDBPyConnection, run_ids: Sequence[str]) -> pandas.DataFrame:
    """The own sweeps of the other tasks of mixture runs (``default@<task>``): run_id, task, breakdown_length,
    train_length_max (the task's own), longest_tested, breakdown_low, breakdown_high, bound_reason, in_distribution
    (the lowest exact match at the task's training lengths). Runs without such sweeps (or unknown ids) give no rows."""
    return connection.execute(PART_SWEEPS_QUERY, [[str(run_id) for run_id in run_ids]]).df()


def read_artifacts(connection: duckdb.DuckDBPyConnection, path: pathlib.Path, run_id: str) -> pandas.DataFrame:
    """Columns run_id, kind, path, created_at, oldest first."""
    require_run(connection, path, run_id)
    frame = connection.execute(f"SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE run_id = ? ORDER BY created_at", [run_id]).df()
    return localize_times(frame, ("created_at",))


def read_checkpoint_path(connection: duckdb.DuckDBPyConnection, path: pathlib.Path, run_id: str) -> str | None:
    """The path of the run's newest checkpoint artifact, or None when it has none."""
    require_run(connection, path, run_id)
    row = fetch_one(connection, f"SELECT checkpoint_path FROM ({NEWEST_CHECKPOINTS}) WHERE run_id = ?", [run_id])
    return None if row is None else row[0]
