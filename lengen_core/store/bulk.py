"""Bulk inserts: column lists into a table, as typed VALUES or through Arrow."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb

from lengen_core.store.queries import EVAL_COLUMNS, TRAIN_COLUMNS

Layout = Sequence[tuple[str, str]]  # (column, DuckDB type) of every inserted column, in order

# Column layouts of bulk inserts: (column, DuckDB type).
RUNS_LAYOUT: tuple[tuple[str, str], ...] = (
    ("run_id", "VARCHAR"),
    ("name", "VARCHAR"),
    ("config_id", "VARCHAR"),
    ("config", "VARCHAR"),
    ("task", "VARCHAR"),
    ("scheme", "VARCHAR"),
    ("attention", "VARCHAR"),
    ("seed", "BIGINT"),
    ("status", "VARCHAR"),
    ("code_version", "VARCHAR"),
    ("environment", "VARCHAR"),
    ("created_at", "TIMESTAMP"),
    ("started_at", "TIMESTAMP"),
    ("finished_at", "TIMESTAMP"),
    ("train_length_max", "INTEGER"),
    ("owner", "VARCHAR"),
    ("owner_start", "BIGINT"),
    ("tags", "VARCHAR[]"),
)
TRAIN_LAYOUT = (("run_id", "VARCHAR"), ("step", "BIGINT")) + tuple((key, "DOUBLE") for key in TRAIN_COLUMNS[1:])
EVAL_LAYOUT = (("run_id", "VARCHAR"), ("sweep", "VARCHAR"), ("length", "INTEGER"), ("n", "INTEGER")) + tuple((key, "DOUBLE") for key in EVAL_COLUMNS[2:])

_VALUES_MAX_ROWS = 64  # up to this many rows go in one parameterised VALUES list; more through Arrow


def empty_columns(layout: Layout) -> dict[str, list[Any]]:
    """One empty list per column of ``layout``, to append rows to."""
    return {name: [] for name, _ in layout}


def _arrow_type(sql_type: str) -> Any:
    import pyarrow

    return {
        "VARCHAR": pyarrow.string(),
        "BIGINT": pyarrow.int64(),
        "INTEGER": pyarrow.int32(),
        "DOUBLE": pyarrow.float64(),
        "TIMESTAMP": pyarrow.timestamp("us"),
        "VARCHAR[]": pyarrow.list_(pyarrow.string()),
    }[sql_type]


def insert(connection: duckdb.DuckDBPyConnection, target: str, layout: Layout, columns: Mapping[str, list[Any]]) -> None:
    """Insert column lists into ``target``: small batches as typed VALUES, large ones as an Arrow table."""
    rows = len(columns[layout[0][0]])
    if rows == 0:
        return
    names = ", ".join(name for name, _ in layout)
    if rows <= _VALUES_MAX_ROWS:
        placeholder = "(" + ", ".join(f"?::{sql_type}" for _, sql_type in layout) + ")"
        parameters = [columns[name][row] for row in range(rows) for name, _ in layout]
        connection.execute(f"INSERT INTO {target} ({names}) VALUES " + ", ".join([placeholder] * rows), parameters)
        return
    import pyarrow

    table = pyarrow.table({name: columns[name] for name, _ in layout}, schema=pyarrow.schema([(name, _arrow_type(sql_type)) for name, sql_type in layout]))
    view = f"incoming_{uuid.uuid4().hex[:8]}"
    connection.register(view, table)
    try:
        connection.execute(f"INSERT INTO {target} ({names}) SELECT {names} FROM {view}")
    finally:
        connection.unregister(view)
