"""The run store: every run, its curves and artifacts, in one DuckDB file.

Tables
------
``meta(key, value)``
    ``app = 'lengen-lab'`` (the marker that tells our files from other DuckDB
    files) and ``schema_version``.
``runs``
    One row per run: config (canonical JSON) and the fields the app filters on
    (task, scheme, attention, train_length_max) copied out of it, seed, status,
    error, code version, environment (JSON), timestamps (naive UTC in the file,
    returned as UTC-aware), breakdown length, progress, owner, tags.
``train_points(run_id, step, loss, accuracy, lr, wall_time_s, tokens_per_s)``
``eval_points(run_id, sweep, length, n, exact_match, exact_match_low, exact_match_high, token_accuracy)``
``eval_sweeps(run_id, sweep, breakdown_length, train_length_max, created_at)``
    One row per stored length sweep. The ``default`` sweep (the one a run does
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

Concurrency
-----------
DuckDB lets only one process at a time open a file read-write (readers may
share). The app (many threads), the CLI and sweep worker processes all use the
same file, so no process keeps it open: every public method is one short
*session*. The process keeps one in-memory DuckDB connection; a session
``ATTACH``-es the file, runs its statements in one transaction, and ``DETACH``-es
it, which checkpoints the WAL into the file and releases DuckDB's own file lock.
Sessions are serialised

* across processes by ``fcntl.flock`` on the sidecar file ``<db>.lock``
  (created next to the store, never deleted): exclusive for writes, shared for
  reads, so readers in several processes run side by side;
* within a process by a per-file ``threading.RLock`` plus a process-wide lock
  around the single DuckDB connection. Several :class:`RunStore` objects on one
  file share these. A forked child gets fresh locks and a fresh connection.

A session waits at most ``lock_timeout_s`` in total. It also retries while
DuckDB itself reports the file locked (a program that does not use our lock
file, e.g. the ``duckdb`` shell). After that it raises :class:`StoreBusy`
("run store ... is busy ..."). Every write is one DuckDB transaction, so a
process killed at any point (even ``SIGKILL`` mid-commit) leaves either the
whole call or none of it: the kernel drops its flock, and the next attach
replays the committed part of the WAL. Because every write session ends with a
checkpoint, the ``.duckdb`` file alone is complete between calls (safe to copy).

Measured on a shared 2-core machine (load average 2 to 6): attach and detach
without changes take about 1 ms; a read call takes 4-10 ms; a write call takes
7 ms at load 2 and 20-30 ms at load 6, most of it the checkpoint on detach;
``list_runs`` over 10,000 runs takes 26-60 ms. Opening a new DuckDB
connection for every call would add about 20 ms to each call.

Runs whose process died are found by :meth:`RunStore.mark_interrupted`. Each
queued or running run records its owner ``host:pid`` and the process start
time, so a reused pid is not mistaken for the owner. On the same host, a run
whose owner process no longer exists becomes ``interrupted``; runs owned by
another host are left alone. :meth:`RunStore.delete_runs` refuses queued or
running runs whose owner may still be alive, so a worker never finds its run
gone.

Files that are not ours are never written: a file without DuckDB's header, a
DuckDB file of another application and a store from a newer LenGen Lab raise
:class:`StoreError` naming the path, and are left byte-for-byte untouched (the
first look is a read-only attach). A fresh store is built under a temporary name
and linked into place, so a crash never leaves a half-made store behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import pathlib
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import duckdb

from lengen_core.errors import ConfigError, StoreError, shown

if TYPE_CHECKING:  # imported where used: a worker that only writes starts faster without them
    import pandas

RUN_STATUSES: tuple[str, ...] = ("queued", "running", "done", "diverged", "failed", "cancelled", "interrupted")
FINAL_STATUSES: tuple[str, ...] = ("done", "diverged", "failed", "cancelled", "interrupted")
EXPORT_FORMATS: tuple[str, ...] = ("parquet", "csv")
APP_MARKER = "lengen-lab"

# Which status a run may move to from each status (same-status calls are no-ops).
ALLOWED_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "queued": ("running", "failed", "cancelled", "interrupted"),
    "running": ("done", "diverged", "failed", "cancelled", "interrupted"),
    **{status: () for status in FINAL_STATUSES},
}

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
]
SCHEMA_VERSION: int = MIGRATIONS[-1][0]

_ALIAS = "lengen_store"
_DUCKDB_MAGIC = b"DUCK"  # bytes 8..12 of every DuckDB database file
_RUN_COLUMNS = (
    "run_id, name, config_id, config, seed, status, error, code_version, environment, created_at, started_at, "
    "finished_at, breakdown_length, train_length_max, steps_done, train_seconds, owner, tags"
)
_LIST_COLUMNS = (
    "run_id, name, status, task, scheme, attention, train_length_max, breakdown_length, "
    "CASE WHEN train_length_max > 0 THEN breakdown_length::DOUBLE / train_length_max END AS breakdown_ratio, "
    "seed, config_id, created_at, started_at, finished_at, steps_done, train_seconds, tags"
)
_TRAIN_COLUMNS = ("step", "loss", "accuracy", "lr", "wall_time_s", "tokens_per_s")
_EVAL_COLUMNS = ("length", "n", "exact_match", "exact_match_low", "exact_match_high", "token_accuracy")

# Column layouts of bulk inserts: (column, DuckDB type).
_RUNS_LAYOUT: tuple[tuple[str, str], ...] = (
    ("run_id", "VARCHAR"), ("name", "VARCHAR"), ("config_id", "VARCHAR"), ("config", "VARCHAR"), ("task", "VARCHAR"),
    ("scheme", "VARCHAR"), ("attention", "VARCHAR"), ("seed", "BIGINT"), ("status", "VARCHAR"),
    ("code_version", "VARCHAR"), ("environment", "VARCHAR"), ("created_at", "TIMESTAMP"), ("started_at", "TIMESTAMP"),
    ("finished_at", "TIMESTAMP"), ("train_length_max", "INTEGER"), ("owner", "VARCHAR"), ("owner_start", "BIGINT"),
    ("tags", "VARCHAR[]"),
)
_TRAIN_LAYOUT = (("run_id", "VARCHAR"), ("step", "BIGINT")) + tuple((key, "DOUBLE") for key in _TRAIN_COLUMNS[1:])
_EVAL_LAYOUT = (("run_id", "VARCHAR"), ("sweep", "VARCHAR"), ("length", "INTEGER"), ("n", "INTEGER")) + tuple(
    (key, "DOUBLE") for key in _EVAL_COLUMNS[2:]
)


def _arrow_type(sql_type: str) -> Any:
    import pyarrow

    return {
        "VARCHAR": pyarrow.string(), "BIGINT": pyarrow.int64(), "INTEGER": pyarrow.int32(), "DOUBLE": pyarrow.float64(),
        "TIMESTAMP": pyarrow.timestamp("us"), "VARCHAR[]": pyarrow.list_(pyarrow.string()),
    }[sql_type]


_VALUES_MAX_ROWS = 64  # up to this many rows go in one parameterised VALUES list; more through Arrow


def _insert(connection: duckdb.DuckDBPyConnection, target: str, layout: Sequence[tuple[str, str]], columns: Mapping[str, list]) -> None:
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

    table = pyarrow.table(
        {name: columns[name] for name, _ in layout},
        schema=pyarrow.schema([(name, _arrow_type(sql_type)) for name, sql_type in layout]),
    )
    view = f"incoming_{uuid.uuid4().hex[:8]}"
    connection.register(view, table)
    try:
        connection.execute(f"INSERT INTO {target} ({names}) SELECT {names} FROM {view}")
    finally:
        connection.unregister(view)


def default_store_path() -> pathlib.Path:
    """``$LENGEN_DB`` if set, else ``<repo>/data/runs.duckdb``."""
    configured = os.environ.get("LENGEN_DB")
    if configured:
        return pathlib.Path(configured).expanduser()
    return pathlib.Path(__file__).resolve().parent.parent / "data" / "runs.duckdb"


class RunNotFound(StoreError, KeyError):
    """No run with this id is in the store."""

    def __init__(self, run_id: str, path: os.PathLike | str) -> None:
        self.run_id = run_id
        super().__init__(f"no run {shown(run_id)} in run store {path}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class StoreBusy(StoreError):
    """Another process or thread held the store longer than ``lock_timeout_s``; trying again may work."""


class InvalidTransition(StoreError, ValueError):
    """A status change the run's life does not allow (a finished run cannot run again)."""


@dataclass(frozen=True)
class RunRecord:
    """One row of ``runs`` with the config and environment parsed. Times are UTC-aware."""

    run_id: str
    name: str | None
    config_id: str
    config: dict
    seed: int
    status: str
    error: str | None
    code_version: str
    environment: dict
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    breakdown_length: int | None
    train_length_max: int | None
    steps_done: int
    train_seconds: float | None
    owner: str | None
    tags: list[str]

    @property
    def breakdown_ratio(self) -> float | None:
        if self.breakdown_length is None or not self.train_length_max:
            return None
        return self.breakdown_length / self.train_length_max

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


# ---------------------------------------------------------------------------
# Process-wide state: one in-memory DuckDB connection, one lock state per file.


class _Engine:
    """The process's single in-memory DuckDB connection that store files are attached to."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._connection: duckdb.DuckDBPyConnection | None = None

    def connection(self) -> duckdb.DuckDBPyConnection:
        if self._connection is None:
            self._connection = duckdb.connect(":memory:")
        return self._connection

    def reset(self) -> None:
        """Drop the connection (closing it releases any file it still holds)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()


class _FileState:
    """Per-file, per-process lock state: thread lock, flock descriptor, nesting depth."""

    def __init__(self) -> None:
        self.thread_lock = threading.RLock()
        self.depth = 0
        self.write = False
        self.lock_fd: int | None = None
        # The file's identity when this process last found it a valid store of our schema, and the
        # owners of its queued/running runs then: an unchanged file need not be attached again to open it.
        self.checked: tuple[tuple[int, int, int, int] | None, list] | None = None


_ENGINE = _Engine()
_FILES: dict[str, _FileState] = {}
_FILES_GUARD = threading.Lock()


_FORKED_AWAY: list[_Engine] = []


def _reset_after_fork() -> None:  # a forked child must not reuse the parent's locks or DuckDB handle
    global _ENGINE, _FILES, _FILES_GUARD
    _FORKED_AWAY.append(_ENGINE)  # never closed or collected here: its DuckDB threads live only in the parent
    _ENGINE = _Engine()
    _FILES = {}
    _FILES_GUARD = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def _file_state(path: pathlib.Path) -> _FileState:
    key = os.path.realpath(path)
    with _FILES_GUARD:
        state = _FILES.get(key)
        if state is None:
            state = _FILES[key] = _FileState()
        return state


# ---------------------------------------------------------------------------
# Owners: which process queued or runs a run.


def _process_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of a process from /proc, or None."""
    try:
        text = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # fields[0] is field 3 of proc(5)
    try:
        return fields[0], int(fields[19])  # state, starttime (field 22)
    except (IndexError, ValueError):
        return None


def _current_owner() -> tuple[str, int | None]:
    stat = _process_stat(os.getpid())
    return f"{socket.gethostname()}:{os.getpid()}", None if stat is None else stat[1]


def owner_is_alive(owner: str | None, owner_start: int | None = None) -> bool | None:
    """Whether the ``host:pid`` owner still runs: True/False on this host, None when unknowable."""
    if not owner or ":" not in owner:
        return None
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname():
        return None
    try:
        pid = int(pid_text)
    except ValueError:
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    stat = _process_stat(pid)
    if stat is None:
        return True  # no /proc: trust kill(0)
    state, start = stat
    if state in ("Z", "X"):
        return False  # exited, not yet reaped
    if owner_start is not None and start != owner_start:
        return False  # the pid was reused by another process
    return True


# ---------------------------------------------------------------------------
# Small helpers.


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=timezone.utc)


def _localize(frame: pandas.DataFrame, columns: Sequence[str]) -> pandas.DataFrame:
    import pandas

    for column in columns:
        if column in frame.columns:
            frame[column] = pandas.to_datetime(frame[column]).dt.tz_localize("UTC")
    return frame


def _to_json(field: str, value: Any) -> str:
    if hasattr(value, "to_dict") and not isinstance(value, Mapping):
        value = value.to_dict()
    if not isinstance(value, Mapping):
        raise ConfigError(field, f"must be a dict, got {type(value).__name__}")
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, allow_nan=True)
    except (TypeError, ValueError) as error:
        raise ConfigError(field, f"cannot be stored as JSON: {error}") from None


def _nested(config: Mapping[str, Any], section: str, key: str) -> Any:
    part = config.get(section)
    return part.get(key) if isinstance(part, Mapping) else None


def _optional_float(field: str, value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(field, f"must be a number or None, got {value!r}") from None


def _required_int(field: str, value: Any) -> int:
    if isinstance(value, bool) or value is None:
        raise ConfigError(field, f"must be an integer, got {value!r}")
    try:
        as_int = int(value)
    except (TypeError, ValueError):
        raise ConfigError(field, f"must be an integer, got {value!r}") from None
    if as_int != value:
        raise ConfigError(field, f"must be an integer, got {value!r}")
    return as_int


def _active_owners(connection: duckdb.DuckDBPyConnection) -> list[tuple[str | None, int | None]]:
    """(owner, owner start) of every queued or running run."""
    return [tuple(row) for row in connection.execute("SELECT owner, owner_start FROM runs WHERE status IN ('queued', 'running')").fetchall()]


def _has_dead_owners(connection: duckdb.DuckDBPyConnection) -> bool:
    """Whether a queued or running run belongs to a process of this host that is gone."""
    return any(owner_is_alive(owner, owner_start) is False for owner, owner_start in _active_owners(connection))


def _file_identity(path: pathlib.Path) -> tuple[int, int, int, int] | None:
    """(device, inode, size, modification time in ns) of the store file, or None; any write changes it."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    if os.path.exists(f"{path}.wal"):
        return None  # a WAL left by a writer that died: always look inside
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


def _check_status(status: str) -> None:
    if status not in RUN_STATUSES:
        raise ConfigError("status", f"must be one of {list(RUN_STATUSES)}, got {status!r}")


def _fetch_one(connection: duckdb.DuckDBPyConnection, query: str, parameters: Sequence[Any] = ()) -> tuple | None:
    """First row or None; reads the whole result (DuckDB 2 refuses new work while a result is pending)."""
    rows = connection.execute(query, list(parameters)).fetchall()
    return rows[0] if rows else None


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _is_lock_conflict(error: BaseException) -> bool:
    message = str(error)
    return "Could not set lock" in message or "Conflicting lock" in message


def _backoff(attempt: int) -> float:
    return min(0.05, 0.001 * 2**attempt) * (0.5 + random.random())


# ---------------------------------------------------------------------------


class RunStore:
    """The run database at ``path`` (default :func:`default_store_path`).

    Safe to share between threads, and between processes using the same file
    (see the module docstring). ``read_only=True`` never writes: no migrations,
    no lock file created, every write method raises :class:`StoreError`.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, lock_timeout_s: float = 30.0, read_only: bool = False) -> None:
        raw = default_store_path() if path is None else pathlib.Path(os.fspath(path)).expanduser()
        self.path: pathlib.Path = pathlib.Path(os.path.abspath(raw))
        self.lock_path: pathlib.Path = self.path.with_name(self.path.name + ".lock")
        self.lock_timeout_s = float(lock_timeout_s)
        self.read_only = bool(read_only)
        if self.path.is_dir():
            raise StoreError(f"run store {self.path} is a directory, not a LenGen Lab run store file")
        if self.read_only:
            if not self.path.exists():
                raise StoreError(f"run store {self.path} does not exist (opened read-only, so it is not created)")
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(f"cannot create the folder of run store {self.path}: {error.strerror or error}") from None
        self._check_header()  # before anything else: a file that is not DuckDB's gets no lock file either
        self._dead_owners_seen = True  # until the first look says otherwise (a migrated store is checked in full)
        lock_existed = self.lock_path.exists()
        try:
            self._open_check()
        except StoreBusy:
            raise
        except StoreError:
            if not lock_existed and not self.read_only:  # leave no trace next to a file we refused
                with contextlib.suppress(OSError):
                    self.lock_path.unlink()
                self._forget_lock_fd()
            raise
        if not self.read_only and self._dead_owners_seen:
            self.mark_interrupted()  # every process that opens the store settles the runs of dead owners

    @property
    def _state(self) -> _FileState:
        # Looked up on every use: after a fork the child gets its own locks, not the parent's.
        return _file_state(self.path)

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r}{', read_only=True' if self.read_only else ''})"

    # -- sessions ----------------------------------------------------------

    def _busy(self, what: str) -> StoreBusy:
        return StoreBusy(
            f"run store {self.path} is busy: {what} held it for more than {self.lock_timeout_s:g} s "
            f"(lock file {self.lock_path}); try again, or raise lock_timeout_s"
        )

    def _acquire_flock(self, state: _FileState, write: bool, deadline: float) -> None:
        if state.lock_fd is None:
            try:
                if self.read_only:
                    state.lock_fd = os.open(self.lock_path, os.O_RDONLY | os.O_CLOEXEC)
                else:
                    state.lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            except FileNotFoundError:
                return  # read-only and no writer ever locked it: rely on DuckDB's own lock
            except OSError as error:
                raise StoreError(f"cannot open the lock file {self.lock_path} of run store {self.path}: {error.strerror or error}") from None
        mode = (fcntl.LOCK_EX if write else fcntl.LOCK_SH) | fcntl.LOCK_NB
        attempt = 0
        while True:
            try:
                fcntl.flock(state.lock_fd, mode)
                return
            except OSError as error:
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise StoreError(f"cannot lock {self.lock_path}: {error.strerror or error}") from None
            if time.monotonic() >= deadline:
                raise self._busy("another process")
            time.sleep(_backoff(attempt))
            attempt += 1

    def _forget_lock_fd(self) -> None:
        state = self._state
        with state.thread_lock:
            if state.lock_fd is not None and state.depth == 0:
                with contextlib.suppress(OSError):
                    os.close(state.lock_fd)
                state.lock_fd = None

    @staticmethod
    def _release_flock(state: _FileState) -> None:
        if state.lock_fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(state.lock_fd, fcntl.LOCK_UN)

    def _attach(self, write: bool, deadline: float) -> duckdb.DuckDBPyConnection:
        """Attach the file as the default database of the engine connection (engine lock held)."""
        self._check_header()
        attempt = 0
        while True:
            connection = _ENGINE.connection()
            try:
                connection.execute(f"ATTACH {_quote(str(self.path))} AS {_ALIAS}" + ("" if write else " (READ_ONLY)"))
                connection.execute(f"USE {_ALIAS}")
                return connection
            except duckdb.Error as error:
                _ENGINE.reset()
                if not _is_lock_conflict(error):
                    raise StoreError(
                        f"{self.path} is not a LenGen Lab run store, or is damaged: DuckDB cannot open it ({error})"
                    ) from None
                if time.monotonic() >= deadline:
                    raise StoreBusy(
                        f"run store {self.path} is busy: a program that does not use LenGen Lab's lock file has it open ({error})"
                    ) from None
            # Wait without blocking the other files' sessions of this process.
            _ENGINE.lock.release()
            try:
                time.sleep(_backoff(attempt))
            finally:
                _ENGINE.lock.acquire()
            attempt += 1

    @staticmethod
    def _detach() -> None:
        connection = _ENGINE.connection()
        try:
            connection.execute("USE memory")
            connection.execute(f"DETACH {_ALIAS}")
        except duckdb.Error:
            _ENGINE.reset()  # closing the connection releases the file

    def _check_header(self) -> None:
        try:
            with open(self.path, "rb") as handle:
                header = handle.read(12)
        except FileNotFoundError:
            return
        except OSError as error:
            raise StoreError(f"cannot read run store {self.path}: {error.strerror or error}") from None
        if len(header) < 12 or header[8:12] != _DUCKDB_MAGIC:
            raise StoreError(
                f"{self.path} is not a LenGen Lab run store (it is not a DuckDB database file); "
                "it was left untouched. Choose another path (--db / $LENGEN_DB) or move the file away."
            )

    @contextlib.contextmanager
    def _session(self, write: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        """Hold the locks, attach the file, yield the connection, detach."""
        if write and self.read_only:
            raise StoreError(f"run store {self.path} was opened read-only; this change was not made")
        state = self._state
        deadline = time.monotonic() + self.lock_timeout_s
        if not state.thread_lock.acquire(timeout=max(0.0, self.lock_timeout_s)):
            raise self._busy("another thread of this process")
        try:
            if state.depth > 0:
                if write and not state.write:
                    raise RuntimeError("internal: a write session cannot nest inside a read session")
                state.depth += 1
                try:
                    yield _ENGINE.connection()
                finally:
                    state.depth -= 1
                return
            if not write and not self.read_only and not self.path.exists():
                write = True  # the file was deleted under us: the session recreates it
            self._acquire_flock(state, write, deadline)
            try:
                if not self.path.exists():
                    if self.read_only:
                        raise StoreError(f"run store {self.path} no longer exists")
                    self._create_fresh()
                with _ENGINE.lock:
                    connection = self._attach(write, deadline)
                    state.depth, state.write = 1, write
                    try:
                        self._check_version(connection)
                        yield connection
                    except duckdb.Error as error:
                        if isinstance(error, (duckdb.FatalException, duckdb.InternalException)):
                            _ENGINE.reset()
                        raise StoreError(f"run store {self.path}: {error}") from error
                    finally:
                        state.depth = 0
                        self._detach()
            finally:
                self._release_flock(state)
        finally:
            state.thread_lock.release()

    @contextlib.contextmanager
    def _transaction(self, write: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._session(write) as connection:
            connection.execute("BEGIN TRANSACTION")
            try:
                yield connection
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    # -- schema --------------------------------------------------------------

    def _inspect(self, connection: duckdb.DuckDBPyConnection) -> int:
        """Schema version of the attached file; 0 for an empty DuckDB database. Raises for foreign files."""
        objects = connection.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? "
            "UNION ALL SELECT view_name FROM duckdb_views() WHERE database_name = ? AND NOT internal",
            [_ALIAS, _ALIAS],
        ).fetchall()
        names = {row[0] for row in objects}
        if not names:
            return 0
        foreign = StoreError(
            f"{self.path} is a DuckDB database of another application, not a LenGen Lab run store "
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
            raise StoreError(f"run store {self.path} has an unreadable schema version {meta.get('schema_version')!r}") from None
        self._refuse_newer(version)
        return version

    def _refuse_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"run store {self.path} was written by a newer LenGen Lab (schema version {version}; this "
                f"version understands up to {SCHEMA_VERSION}). Upgrade LenGen Lab to open it; the file was left untouched."
            )

    def _check_version(self, connection: duckdb.DuckDBPyConnection) -> None:
        """Cheap per-session guard: the file is still a store of exactly our schema version."""
        try:
            row = _fetch_one(connection, "SELECT value FROM meta WHERE key = 'schema_version'")
        except duckdb.Error:
            row = None
        version = int(row[0]) if row is not None and str(row[0]).isdigit() else -1
        if version == SCHEMA_VERSION:
            return
        self._refuse_newer(version)
        raise StoreError(f"run store {self.path} changed while it was open (schema version {version}); open it again")

    @staticmethod
    def _migrate(connection: duckdb.DuckDBPyConnection, from_version: int) -> None:
        """Apply every migration above ``from_version`` in one transaction."""
        connection.execute("BEGIN TRANSACTION")
        try:
            for version, statements in MIGRATIONS:
                if version <= from_version:
                    continue
                for statement in statements:
                    connection.execute(statement)
                connection.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [str(version)],
                )
            connection.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                connection.execute("ROLLBACK")
            raise

    def _create_fresh(self) -> None:
        """Build a new store under a temporary name and link it into place (flock held)."""
        temporary = self.path.with_name(f".{self.path.name}.creating-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            with _ENGINE.lock:
                connection = _ENGINE.connection()
                try:
                    connection.execute(f"ATTACH {_quote(str(temporary))} AS {_ALIAS}")
                    connection.execute(f"USE {_ALIAS}")
                    self._migrate(connection, 0)
                finally:
                    self._detach()
            try:
                os.link(temporary, self.path)  # never replaces a file that appeared meanwhile
            except FileExistsError:
                pass
            except OSError:  # no hard links on this file system; the flock keeps our own writers out
                if not self.path.exists():
                    os.rename(temporary, self.path)
        except duckdb.Error as error:
            raise StoreError(f"cannot create run store {self.path}: {error}") from None
        except OSError as error:
            raise StoreError(f"cannot create run store {self.path}: {error.strerror or error}") from None
        finally:
            for leftover in (temporary, temporary.with_name(temporary.name + ".wal")):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()

    def _open_check(self) -> None:
        """First open: create a missing store; look read-only; refuse foreign or newer files; migrate older ones."""
        deadline = time.monotonic() + self.lock_timeout_s
        state = self._state
        if not state.thread_lock.acquire(timeout=max(0.0, self.lock_timeout_s)):
            raise self._busy("another thread of this process")
        try:
            self._acquire_flock(state, not self.read_only, deadline)
            try:
                if not self.path.exists():
                    if self.read_only:
                        raise StoreError(f"run store {self.path} does not exist (opened read-only, so it is not created)")
                    self._create_fresh()
                identity = _file_identity(self.path)
                checked = state.checked
                if checked is not None and identity is not None and checked[0] == identity:
                    # this process checked this very file, unchanged since: only the owners may have died
                    self._dead_owners_seen = any(owner_is_alive(owner, start) is False for owner, start in checked[1])
                    return
                with _ENGINE.lock:
                    connection = self._attach(False, deadline)
                    try:
                        version = self._inspect(connection)
                        if version == SCHEMA_VERSION:
                            candidates = _active_owners(connection)
                            self._dead_owners_seen = any(owner_is_alive(owner, start) is False for owner, start in candidates)
                    except duckdb.Error as error:
                        raise StoreError(f"{self.path} is not a readable LenGen Lab run store: {error}") from None
                    finally:
                        self._detach()
                    if version == SCHEMA_VERSION:
                        state.checked = (_file_identity(self.path), candidates)
                        return
                    if self.read_only:
                        found = "is an empty DuckDB database" if version == 0 else f"has schema version {version}"
                        raise StoreError(
                            f"run store {self.path} {found}; open it once without read_only "
                            f"to bring it to schema version {SCHEMA_VERSION}"
                        )
                    connection = self._attach(True, deadline)
                    try:
                        version = self._inspect(connection)  # again, now under the write attach
                        if version < SCHEMA_VERSION:
                            self._migrate(connection, version)
                    except duckdb.Error as error:
                        raise StoreError(f"cannot upgrade run store {self.path} from schema version {version}: {error}") from None
                    finally:
                        self._detach()
            finally:
                self._release_flock(state)
        finally:
            state.thread_lock.release()

    def schema_version(self) -> int:
        with self._session(write=False) as connection:
            return int(_fetch_one(connection, "SELECT value FROM meta WHERE key = 'schema_version'")[0])

    # -- writing ---------------------------------------------------------------

    def create_run(
        self,
        *,
        config: dict,
        config_id: str,
        seed: int,
        code_version: str,
        environment: dict,
        name: str | None = None,
        status: str = "queued",
        tags: Sequence[str] = (),
    ) -> str:
        """Record a new run; returns its id (12 hex digits)."""
        return self.create_runs(
            [
                {
                    "config": config,
                    "config_id": config_id,
                    "seed": seed,
                    "code_version": code_version,
                    "environment": environment,
                    "name": name,
                    "status": status,
                    "tags": tags,
                }
            ]
        )[0]

    def create_runs(self, runs: Sequence[Mapping[str, Any]]) -> list[str]:
        """Record many runs in one transaction (each mapping holds :meth:`create_run`'s arguments).

        Returns their ids in order. Runs of one call get strictly increasing
        ``created_at`` (1 microsecond apart) so "newest first" keeps their order.
        """
        required = ("config", "config_id", "seed", "code_version", "environment")
        allowed = set(required) | {"name", "status", "tags"}
        owner, owner_start = _current_owner()
        now = _utcnow()
        columns: dict[str, list[Any]] = {key: [] for key in (
            "run_id", "name", "config_id", "config", "task", "scheme", "attention", "seed", "status",
            "code_version", "environment", "created_at", "started_at", "finished_at", "train_length_max",
            "owner", "owner_start", "tags",
        )}
        ids = []
        for index, spec in enumerate(runs):
            unknown = set(spec) - allowed
            if unknown:
                raise ConfigError(sorted(unknown)[0], f"unknown run field; allowed: {sorted(allowed)}")
            for key in required:
                if key not in spec:
                    raise ConfigError(key, "is required to create a run")
            status = spec.get("status", "queued")
            _check_status(status)
            config = spec["config"]
            config_json = _to_json("config", config)
            config_plain = json.loads(config_json)
            tags = spec.get("tags") or ()
            if isinstance(tags, str) or not all(isinstance(tag, str) for tag in tags):
                raise ConfigError("tags", f"must be a list of strings, got {tags!r}")
            if not isinstance(spec["config_id"], str) or not spec["config_id"]:
                raise ConfigError("config_id", f"must be a non-empty string, got {spec['config_id']!r}")
            created = now + timedelta(microseconds=index)
            run_id = uuid.uuid4().hex[:12]
            ids.append(run_id)
            train_length_max = _nested(config_plain, "task", "train_length_max")
            columns["run_id"].append(run_id)
            columns["name"].append(spec.get("name"))
            columns["config_id"].append(spec["config_id"])
            columns["config"].append(config_json)
            columns["task"].append(_nested(config_plain, "task", "name"))
            columns["scheme"].append(_nested(config_plain, "positions", "scheme"))
            columns["attention"].append(_nested(config_plain, "model", "attention"))
            columns["seed"].append(_required_int("seed", spec["seed"]))
            columns["status"].append(status)
            columns["code_version"].append(str(spec["code_version"]))
            columns["environment"].append(_to_json("environment", spec["environment"]))
            columns["created_at"].append(created)
            columns["started_at"].append(created if status != "queued" else None)
            columns["finished_at"].append(created if status in FINAL_STATUSES else None)
            columns["train_length_max"].append(train_length_max if isinstance(train_length_max, int) else None)
            columns["owner"].append(owner)
            columns["owner_start"].append(owner_start)
            columns["tags"].append([str(tag) for tag in tags])
        if not ids:
            return []
        with self._transaction(write=True) as connection:
            _insert(connection, "runs", _RUNS_LAYOUT, columns)
        return ids

    def _require_run(self, connection: duckdb.DuckDBPyConnection, run_id: str) -> str:
        row = _fetch_one(connection, "SELECT status FROM runs WHERE run_id = ?", [run_id])
        if row is None:
            raise RunNotFound(run_id, self.path)
        return row[0]

    def set_status(self, run_id: str, status: str, *, error: str | None = None) -> None:
        """Move a run to ``status``; ``running`` sets started_at and the owner, a final status finished_at.

        Allowed moves are :data:`ALLOWED_TRANSITIONS`; a repeated status is a
        no-op (``running`` again refreshes the owner). Anything else raises
        :class:`InvalidTransition` naming both statuses.
        """
        _check_status(status)
        with self._transaction(write=True) as connection:
            current = self._require_run(connection, run_id)
            if current == status and status != "running":
                return
            if current != status and status not in ALLOWED_TRANSITIONS[current]:
                raise InvalidTransition(
                    f"run {run_id} is {current}; it cannot become {status} "
                    f"(allowed from {current}: {list(ALLOWED_TRANSITIONS[current]) or 'none, it is finished'})"
                )
            now = _utcnow()
            if status == "running":
                owner, owner_start = _current_owner()
                connection.execute(
                    "UPDATE runs SET status = 'running', started_at = coalesce(started_at, ?), owner = ?, owner_start = ? "
                    "WHERE run_id = ?",
                    [now, owner, owner_start, run_id],
                )
            else:
                connection.execute(
                    "UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE run_id = ?",
                    [status, now, error, run_id],
                )

    def update_progress(self, run_id: str, *, steps_done: int, train_seconds: float) -> None:
        steps = _required_int("steps_done", steps_done)
        seconds = _optional_float("train_seconds", train_seconds)
        with self._transaction(write=True) as connection:
            updated = _fetch_one(
                connection, "UPDATE runs SET steps_done = ?, train_seconds = ? WHERE run_id = ?", [steps, seconds, run_id]
            )[0]
            if not updated:
                raise RunNotFound(run_id, self.path)

    def append_train_points(
        self,
        run_id: str,
        rows: Sequence[Mapping],
        *,
        steps_done: int | None = None,
        train_seconds: float | None = None,
    ) -> None:
        """Append training-curve points: step, loss, accuracy, lr, wall_time_s, tokens_per_s (all but step/loss may be None).

        With ``steps_done`` (and ``train_seconds``) the run's progress is updated
        in the same transaction, which halves the cost of a log event compared
        with a separate :meth:`update_progress` call.
        """
        columns: dict[str, list[Any]] = {"run_id": [], **{key: [] for key in _TRAIN_COLUMNS}}
        for index, row in enumerate(rows):
            for key in ("step", "loss"):
                if key not in row:
                    raise ConfigError(f"train_points[{index}].{key}", "is required")
            columns["run_id"].append(run_id)
            columns["step"].append(_required_int(f"train_points[{index}].step", row["step"]))
            for key in _TRAIN_COLUMNS[1:]:
                columns[key].append(_optional_float(f"train_points[{index}].{key}", row.get(key)))
        steps = None if steps_done is None else _required_int("steps_done", steps_done)
        seconds = _optional_float("train_seconds", train_seconds)
        with self._transaction(write=True) as connection:
            self._require_run(connection, run_id)
            _insert(connection, "train_points", _TRAIN_LAYOUT, columns)
            if steps is not None:
                connection.execute(
                    "UPDATE runs SET steps_done = ?, train_seconds = ? WHERE run_id = ?", [steps, seconds, run_id]
                )

    def set_eval_points(
        self,
        run_id: str,
        rows: Sequence[Mapping],
        *,
        breakdown_length: int | None,
        train_length_max: int,
        sweep: str = "default",
    ) -> None:
        """Replace the points of sweep ``sweep`` of the run, atomically.

        Rows hold length, n, exact_match, exact_match_low, exact_match_high,
        token_accuracy. The ``default`` sweep also sets the run's
        ``breakdown_length`` and ``train_length_max``.
        """
        if not isinstance(sweep, str) or not sweep:
            raise ConfigError("sweep", f"must be a non-empty name, got {sweep!r}")
        breakdown = None if breakdown_length is None else _required_int("breakdown_length", breakdown_length)
        train_max = _required_int("train_length_max", train_length_max)
        columns: dict[str, list[Any]] = {"run_id": [], "sweep": [], **{key: [] for key in _EVAL_COLUMNS}}
        for index, row in enumerate(rows):
            missing = [key for key in _EVAL_COLUMNS if key not in row]
            if missing:
                raise ConfigError(f"eval_points[{index}].{missing[0]}", "is required")
            columns["run_id"].append(run_id)
            columns["sweep"].append(sweep)
            columns["length"].append(_required_int(f"eval_points[{index}].length", row["length"]))
            columns["n"].append(_required_int(f"eval_points[{index}].n", row["n"]))
            for key in _EVAL_COLUMNS[2:]:
                columns[key].append(_optional_float(f"eval_points[{index}].{key}", row[key]))
        with self._transaction(write=True) as connection:
            self._require_run(connection, run_id)
            connection.execute("DELETE FROM eval_points WHERE run_id = ? AND sweep = ?", [run_id, sweep])
            _insert(connection, "eval_points", _EVAL_LAYOUT, columns)
            connection.execute(
                "INSERT INTO eval_sweeps VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, sweep) DO UPDATE SET "
                "breakdown_length = excluded.breakdown_length, train_length_max = excluded.train_length_max, "
                "created_at = excluded.created_at",
                [run_id, sweep, breakdown, train_max, _utcnow()],
            )
            if sweep == "default":
                connection.execute(
                    "UPDATE runs SET breakdown_length = ?, train_length_max = ? WHERE run_id = ?",
                    [breakdown, train_max, run_id],
                )

    def add_artifact(self, run_id: str, kind: str, path: str) -> None:
        if not isinstance(kind, str) or not kind:
            raise ConfigError("kind", f"must be a non-empty name, got {kind!r}")
        with self._transaction(write=True) as connection:
            self._require_run(connection, run_id)
            connection.execute("INSERT INTO artifacts VALUES (?, ?, ?, ?)", [run_id, kind, os.fspath(path), _utcnow()])

    def delete_runs(self, run_ids: Sequence[str], *, force: bool = False) -> int:
        """Delete runs and every row that belongs to them; returns how many runs were deleted.

        Unknown ids are skipped. A queued or running run whose process may still
        be alive is refused (:class:`StoreError` naming it; cancel it first) unless
        ``force=True``, so a worker never finds its run gone. Files (checkpoints)
        are not touched: read :meth:`artifacts` first.
        """
        ids = [str(run_id) for run_id in run_ids]
        if not ids:
            return 0
        with self._transaction(write=True) as connection:
            if not force:
                active = connection.execute(
                    "SELECT run_id, status, owner, owner_start FROM runs "
                    "WHERE list_contains(?, run_id) AND status IN ('queued', 'running')",
                    [ids],
                ).fetchall()
                for run_id, status, owner, owner_start in active:
                    if owner_is_alive(owner, owner_start) is not False:
                        raise StoreError(f"run {run_id} is {status} (process {owner}); cancel it before deleting it")
            for table in ("train_points", "eval_points", "eval_sweeps", "artifacts"):
                connection.execute(f"DELETE FROM {table} WHERE list_contains(?, run_id)", [ids])
            return int(_fetch_one(connection, "DELETE FROM runs WHERE list_contains(?, run_id)", [ids])[0])

    def mark_interrupted(self) -> list[str]:
        """Flip queued/running runs whose owner process on this host is gone to ``interrupted``; returns their ids.

        Called by every process that opens the store (read-write): a run whose
        process was killed is shown as interrupted by the next CLI command or
        page load, not left ``running``. Reads first, and writes only when
        there is a dead owner's run to settle.
        """
        if self.read_only:
            raise StoreError(f"run store {self.path} was opened read-only; this change was not made")
        with self._transaction(write=False) as connection:
            if not _has_dead_owners(connection):
                return []
        with self._transaction(write=True) as connection:
            candidates = connection.execute(
                "SELECT run_id, owner, owner_start, status FROM runs WHERE status IN ('queued', 'running')"
            ).fetchall()
            dead = [(run_id, owner, status) for run_id, owner, owner_start, status in candidates if owner_is_alive(owner, owner_start) is False]
            now = _utcnow()
            for run_id, owner, status in dead:
                connection.execute(
                    "UPDATE runs SET status = 'interrupted', finished_at = ?, error = ? WHERE run_id = ?",
                    [now, f"interrupted: its process {owner} ended while the run was {status}", run_id],
                )
        return [run_id for run_id, _, _ in dead]

    # -- reading ---------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord:
        with self._transaction(write=False) as connection:
            row = _fetch_one(connection, f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", [run_id])
        if row is None:
            raise RunNotFound(run_id, self.path)
        values = dict(zip([name.strip() for name in _RUN_COLUMNS.split(",")], row))
        values["config"] = json.loads(values["config"])
        values["environment"] = json.loads(values["environment"])
        for key in ("created_at", "started_at", "finished_at"):
            values[key] = _aware(values[key])
        values["tags"] = list(values["tags"] or [])
        return RunRecord(**values)

    def count_runs(self) -> int:
        with self._transaction(write=False) as connection:
            return int(_fetch_one(connection, "SELECT count(*) FROM runs")[0])

    def list_runs(
        self,
        *,
        status: str | None = None,
        task: str | None = None,
        scheme: str | None = None,
        config_id: str | None = None,
        limit: int | None = None,
        tag: str | None = None,
        run_ids: Sequence[str] | None = None,
    ) -> pandas.DataFrame:
        """One row per run, newest first, without the JSON blobs.

        Columns: run_id, name, status, task, scheme, attention, train_length_max,
        breakdown_length, breakdown_ratio, seed, config_id, created_at,
        started_at, finished_at, steps_done, train_seconds, tags.
        """
        if status is not None:
            _check_status(status)
        conditions, parameters = [], []
        for column, value in (("status", status), ("task", task), ("scheme", scheme), ("config_id", config_id)):
            if value is not None:
                conditions.append(f"{column} = ?")
                parameters.append(value)
        if tag is not None:
            conditions.append("list_contains(tags, ?)")
            parameters.append(tag)
        if run_ids is not None:
            conditions.append("list_contains(?, run_id)")
            parameters.append([str(run_id) for run_id in run_ids])
        query = f"SELECT {_LIST_COLUMNS} FROM runs"
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        query += " ORDER BY created_at DESC, run_id"
        if limit is not None:
            count = _required_int("limit", limit)
            if count < 0:
                raise ConfigError("limit", f"must be >= 0, got {count}")
            query += f" LIMIT {count}"
        with self._transaction(write=False) as connection:
            frame = connection.execute(query, parameters).df()
        return _localize(frame, ("created_at", "started_at", "finished_at"))

    def train_curve(self, run_id: str) -> pandas.DataFrame:
        """Columns step, loss, accuracy, lr, wall_time_s, tokens_per_s, ordered by step."""
        with self._transaction(write=False) as connection:
            self._require_run(connection, run_id)
            return connection.execute(
                f"SELECT {', '.join(_TRAIN_COLUMNS)} FROM train_points WHERE run_id = ? ORDER BY step", [run_id]
            ).df()

    def eval_curve(self, run_ids: Sequence[str], sweep: str | None = None) -> pandas.DataFrame:
        """Columns run_id, sweep, length, n, exact_match(_low/_high), token_accuracy, and the sweep's
        breakdown_length and train_length_max; ordered by run, sweep, length. Unknown ids give no rows."""
        ids = [str(run_id) for run_id in run_ids]
        query = (
            f"SELECT p.run_id, p.sweep, {', '.join('p.' + key for key in _EVAL_COLUMNS)}, s.breakdown_length, s.train_length_max "
            "FROM eval_points AS p LEFT JOIN eval_sweeps AS s USING (run_id, sweep) WHERE list_contains(?, p.run_id)"
        )
        parameters: list[Any] = [ids]
        if sweep is not None:
            query += " AND p.sweep = ?"
            parameters.append(sweep)
        query += " ORDER BY p.run_id, p.sweep, p.length"
        with self._transaction(write=False) as connection:
            return connection.execute(query, parameters).df()

    def sweeps(self, run_id: str) -> pandas.DataFrame:
        """The stored sweeps of a run: sweep, breakdown_length, train_length_max, created_at."""
        with self._transaction(write=False) as connection:
            self._require_run(connection, run_id)
            frame = connection.execute(
                "SELECT sweep, breakdown_length, train_length_max, created_at FROM eval_sweeps WHERE run_id = ? ORDER BY created_at",
                [run_id],
            ).df()
        return _localize(frame, ("created_at",))

    def artifacts(self, run_id: str) -> pandas.DataFrame:
        """Columns run_id, kind, path, created_at, oldest first."""
        with self._transaction(write=False) as connection:
            self._require_run(connection, run_id)
            frame = connection.execute(
                "SELECT run_id, kind, path, created_at FROM artifacts WHERE run_id = ? ORDER BY created_at", [run_id]
            ).df()
        return _localize(frame, ("created_at",))

    # -- export ------------------------------------------------------------------

    def export(self, run_ids: Sequence[str] | None, directory: str | os.PathLike, fmt: str = "parquet") -> list[pathlib.Path]:
        """Write runs, train_curve, eval_curve and artifacts as ``<directory>/<table>.<fmt>``.

        ``run_ids=None`` exports every run. All four tables come from one
        snapshot. In CSV, tags are a JSON list. Returns the written paths.
        """
        if fmt not in EXPORT_FORMATS:
            raise ConfigError("fmt", f"export format must be one of {list(EXPORT_FORMATS)}, got {fmt!r}")
        ids = None if run_ids is None else [str(run_id) for run_id in run_ids]
        condition, parameters = ("", []) if ids is None else ("WHERE list_contains(?, run_id)", [ids])
        queries = {
            "runs": f"SELECT {_LIST_COLUMNS}, code_version, error, owner, config, environment FROM runs {condition} "
            "ORDER BY created_at DESC, run_id",
            "train_curve": f"SELECT run_id, {', '.join(_TRAIN_COLUMNS)} FROM train_points {condition} ORDER BY run_id, step",
            "eval_curve": f"SELECT p.run_id, p.sweep, {', '.join('p.' + key for key in _EVAL_COLUMNS)}, s.breakdown_length, "
            "s.train_length_max FROM eval_points AS p LEFT JOIN eval_sweeps AS s USING (run_id, sweep) "
            f"{condition.replace('run_id', 'p.run_id')} ORDER BY p.run_id, p.sweep, p.length",
            "artifacts": f"SELECT run_id, kind, path, created_at FROM artifacts {condition} ORDER BY run_id, created_at",
        }
        frames = {}
        with self._transaction(write=False) as connection:
            if ids is not None:
                found = {row[0] for row in connection.execute("SELECT run_id FROM runs WHERE list_contains(?, run_id)", [ids]).fetchall()}
                missing = [run_id for run_id in ids if run_id not in found]
                if missing:
                    raise RunNotFound(missing[0], self.path)
            for table, query in queries.items():
                frames[table] = connection.execute(query, parameters).df()
        target = pathlib.Path(os.fspath(directory)).expanduser()
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot create export folder {target}: {error.strerror or error}") from None
        written = []
        for table, frame in frames.items():
            frame = _localize(frame, ("created_at", "started_at", "finished_at"))
            path = target / f"{table}.{fmt}"
            temporary = target / f".{table}.{fmt}.{uuid.uuid4().hex[:8]}.tmp"
            try:
                if fmt == "parquet":
                    frame.to_parquet(temporary, index=False)
                else:
                    if "tags" in frame.columns:
                        frame["tags"] = [json.dumps(list(tags)) for tags in frame["tags"]]
                    frame.to_csv(temporary, index=False)
                os.replace(temporary, path)
            except BaseException as error:  # no temporary file is ever left behind
                with contextlib.suppress(OSError):
                    temporary.unlink()
                if isinstance(error, OSError):
                    raise StoreError(f"cannot write export file {path}: {error.strerror or error}") from None
                raise
            written.append(path)
        return written

