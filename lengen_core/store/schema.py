"""The store's tables, and the migrations that build and upgrade them.

Tables
------
``meta(key, value)``
    ``app = 'lengen-lab'`` (the marker that tells our files from other DuckDB
    files) and ``schema_version``.
``runs``
    One row per run: config (canonical JSON) and the fields the app filters on
    (task, scheme, attention, train_length_max) copied out of it, seed, status,
    error, code version, environment (JSON), timestamps (naive UTC in the file,
    returned as UTC-aware), breakdown length, progress, owner, tags, and why
    training ended (``stop_reason``, ``learned_step``) and the default sweep's breakdown
    interval and bound (``breakdown_low``, ``breakdown_high``, ``breakdown_bound``, from v4); NULL for runs before.
``train_points(run_id, step, loss, accuracy, lr, wall_time_s, tokens_per_s, in_distribution)``
    ``in_distribution``: a learned check's exact match at the steps one ran
    (``train.stop_when_learned``, :mod:`lengen_core.learned_check`), else NULL.
``eval_points(run_id, sweep, length, n, exact_match, exact_match_low, exact_match_high, token_accuracy)``
``eval_sweeps(run_id, sweep, breakdown_length, train_length_max, created_at, breakdown_low, breakdown_high, bound_reason)``
    One row per stored length sweep, with the breakdown's interval and, when its length
    search stopped without a failure, why (:mod:`lengen_core.length_search`; NULL before v4). The ``default`` sweep (the one a run does
    after training) also sets the run's own ``breakdown_length``; a re-evaluation
    under another sweep name keeps its breakdown here and does not change the
    run's headline number.
``artifacts(run_id, kind, path, created_at)``
    Files a run produced (``kind='checkpoint'``). The store never deletes files.

Schema versions
---------------
:data:`MIGRATIONS` is an ordered list of ``(version, statements)``. A fresh
store is built by applying all of them; an older store is brought up to date by
applying the missing ones, all inside one transaction (either every step lands
or none). A store whose ``schema_version`` is newer than :data:`SCHEMA_VERSION`
is refused with a :class:`StoreError` asking to upgrade LenGen Lab. Released
migrations are never edited; a change is a new migration.

The functions here read :data:`MIGRATIONS` and :data:`SCHEMA_VERSION` when they
run (``schema.SCHEMA_VERSION``, never a copy made at import), so a test can
patch this module to try a new migration.
"""

from __future__ import annotations

import contextlib
import pathlib

import duckdb

from lengen_core.errors import StoreError
from lengen_core.store.engine import ALIAS, fetch_one, fetch_single

APP_MARKER = "lengen-lab"

MIGRATIONS: list[tuple[int, tuple[str, ...]]] = [
    (
        1,
        (
            "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)",
            f"INSERT INTO meta VALUES ('app', '{APP_MARKER}')",
            """CREATE TABLE runs (
                run_id VARCHAR PRIMARY KEY,
                name VARCHAR,
                config_id VARCHAR NOT NULL,
                config VARCHAR NOT NULL,
                task VARCHAR,
                scheme VARCHAR,
                attention VARCHAR,
                seed BIGINT NOT NULL,
                status VARCHAR NOT NULL,
                error VARCHAR,
                code_version VARCHAR NOT NULL,
                environment VARCHAR NOT NULL,
                created_at TIMESTAMP NOT NULL,
                started_at TIMESTAMP,
                finished_at TIMESTAMP,
                breakdown_length INTEGER,
                train_length_max INTEGER,
                steps_done BIGINT NOT NULL DEFAULT 0,
                train_seconds DOUBLE,
                owner VARCHAR
            )""",
            """CREATE TABLE train_points (
                run_id VARCHAR NOT NULL,
                step BIGINT NOT NULL,
                loss DOUBLE,
                accuracy DOUBLE,
                lr DOUBLE,
                wall_time_s DOUBLE,
                tokens_per_s DOUBLE
            )""",
            """CREATE TABLE eval_points (
                run_id VARCHAR NOT NULL,
                sweep VARCHAR NOT NULL,
                length INTEGER NOT NULL,
                n INTEGER NOT NULL,
                exact_match DOUBLE,
                exact_match_low DOUBLE,
                exact_match_high DOUBLE,
                token_accuracy DOUBLE
            )""",
            """CREATE TABLE artifacts (
                run_id VARCHAR NOT NULL,
                kind VARCHAR NOT NULL,
                path VARCHAR NOT NULL,
                created_at TIMESTAMP NOT NULL
            )""",
        ),
    ),
    (
        2,
        (
            # Tags (sweep membership, lesson presets) and the owner's start time.
            "ALTER TABLE runs ADD COLUMN tags VARCHAR[] DEFAULT []::VARCHAR[]",
            "ALTER TABLE runs ADD COLUMN owner_start BIGINT",
            # One row per stored sweep, so a re-evaluation keeps its own breakdown length.
            """CREATE TABLE eval_sweeps (
                run_id VARCHAR NOT NULL,
                sweep VARCHAR NOT NULL,
                breakdown_length INTEGER,
                train_length_max INTEGER,
                created_at TIMESTAMP NOT NULL,
                PRIMARY KEY (run_id, sweep)
            )""",
            """INSERT INTO eval_sweeps
               SELECT swept.run_id, swept.sweep,
                      CASE WHEN swept.sweep = 'default' THEN runs.breakdown_length END,
                      runs.train_length_max, coalesce(runs.finished_at, runs.created_at)
               FROM (SELECT DISTINCT run_id, sweep FROM eval_points) AS swept
               JOIN runs USING (run_id)""",
        ),
    ),
    (
        3,
        (
            # Why training ended (learned at a step, or which budget was spent) and the learned checks' exact match.
            "ALTER TABLE runs ADD COLUMN stop_reason VARCHAR",
            "ALTER TABLE runs ADD COLUMN learned_step BIGINT",
            "ALTER TABLE train_points ADD COLUMN in_distribution DOUBLE",
        ),
    ),
    (
        4,
        (
            # The breakdown's interval and, when a length search stopped without a failure, why (the breakdown is a bound).
            "ALTER TABLE eval_sweeps ADD COLUMN breakdown_low INTEGER",
            "ALTER TABLE eval_sweeps ADD COLUMN breakdown_high INTEGER",
            "ALTER TABLE eval_sweeps ADD COLUMN bound_reason VARCHAR",
            "ALTER TABLE runs ADD COLUMN breakdown_low INTEGER",
            "ALTER TABLE runs ADD COLUMN breakdown_high INTEGER",
            "ALTER TABLE runs ADD COLUMN breakdown_bound VARCHAR",
        ),
    ),
]
SCHEMA_VERSION: int = MIGRATIONS[-1][0]


def inspect(connection: duckdb.DuckDBPyConnection, path: pathlib.Path) -> int:
    """Schema version of the attached file; 0 for an empty DuckDB database. Raises for foreign files."""
    objects = connection.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? "
        "UNION ALL SELECT view_name FROM duckdb_views() WHERE database_name = ? AND NOT internal",
        [ALIAS, ALIAS],
    ).fetchall()
    names = {row[0] for row in objects}
    if not names:
        return 0
    foreign = StoreError(
        f"{path} is a DuckDB database of another application, not a LenGen Lab run store "
        f"(it has no LenGen Lab marker); it was left untouched. Choose another path (--db / $LENGEN_DB)."
    )
    if "meta" not in names:
        raise foreign
    try:
        meta = dict(connection.execute("SELECT key, value FROM meta WHERE key IN ('app', 'schema_version')").fetchall())
    except duckdb.Error:
        raise foreign from None
    if meta.get("app") != APP_MARKER:
        raise foreign
    try:
        version = int(meta.get("schema_version", ""))
    except ValueError:
        raise StoreError(f"run store {path} has an unreadable schema version {meta.get('schema_version')!r}") from None
    refuse_newer(version, path)
    return version


def refuse_newer(version: int, path: pathlib.Path) -> None:
    """Raise for a store written by a newer LenGen Lab (its schema version is above ours)."""
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"run store {path} was written by a newer LenGen Lab (schema version {version}; this "
            f"version understands up to {SCHEMA_VERSION}). Upgrade LenGen Lab to open it; the file was left untouched."
        )


def check_version(connection: duckdb.DuckDBPyConnection, path: pathlib.Path) -> None:
    """Cheap per-session guard: the file is still a store of exactly our schema version."""
    try:
        row = fetch_one(connection, "SELECT value FROM meta WHERE key = 'schema_version'")
    except duckdb.Error:
        row = None
    version = int(row[0]) if row is not None and str(row[0]).isdigit() else -1
    if version == SCHEMA_VERSION:
        return
    refuse_newer(version, path)
    raise StoreError(f"run store {path} changed while it was open (schema version {version}); open it again")


def stored_version(connection: duckdb.DuckDBPyConnection) -> int:
    """The ``schema_version`` recorded in the attached store's ``meta`` table."""
    return int(fetch_single(connection, "SELECT value FROM meta WHERE key = 'schema_version'")[0])


def migrate(connection: duckdb.DuckDBPyConnection, from_version: int) -> None:
    """Apply every migration above ``from_version`` in one transaction."""
    connection.execute("BEGIN TRANSACTION")
    try:
        for version, statements in MIGRATIONS:
            if version <= from_version:
                continue
            for statement in statements:
                connection.execute(statement)
            connection.execute("INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [str(version)])
        connection.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            connection.execute("ROLLBACK")
        raise
