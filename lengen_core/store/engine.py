"""Process-wide state of the store: one in-memory DuckDB connection, one lock state per file.

DuckDB lets only one process at a time open a file read-write (readers may
share). The app (many threads), the CLI and sweep worker processes all use the
same file, so no process keeps it open: every public method of
:class:`~lengen_core.store.RunStore` is one short *session*
(:mod:`lengen_core.store.sessions`). The process keeps one in-memory DuckDB
connection (:class:`Engine`); a session ``ATTACH``-es the file, runs its
statements in one transaction, and ``DETACH``-es it, which checkpoints the WAL
into the file and releases DuckDB's own file lock. Sessions are serialised

* across processes by ``fcntl.flock`` on the sidecar file ``<db>.lock``
  (created next to the store, never deleted): exclusive for writes, shared for
  reads, so readers in several processes run side by side;
* within a process by a per-file ``threading.RLock`` (:class:`FileState`) plus
  a process-wide lock around the single DuckDB connection. Several
  :class:`~lengen_core.store.RunStore` objects on one file share these. A
  forked child gets fresh locks and a fresh connection.

Measured on a shared 2-core machine (load average 2 to 6): attach and detach
without changes take about 1 ms; opening a new DuckDB connection for every call
would add about 20 ms to each call.

Look the engine and the file states up on every use (:func:`current_engine`,
:func:`file_state`), never keep them: after a fork the child has new ones.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import random
import threading
from collections.abc import Sequence
from typing import Any

import duckdb

from lengen_core.errors import StoreError
from lengen_core.store.owners import Owner

ALIAS = "lengen_store"  # the name an attached store file has on the engine connection


class StoreBusy(StoreError):
    """Another process or thread held the store longer than ``lock_timeout_s``; trying again may work."""


FileIdentity = tuple[int, int, int, int]  # (device, inode, size, modification time in ns)


class Engine:
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


class FileState:
    """Per-file, per-process lock state: thread lock, flock descriptor, nesting depth."""

    def __init__(self) -> None:
        self.thread_lock = threading.RLock()
        self.depth = 0
        self.write = False
        self.in_transaction = False  # a transaction is open on the session (nested writes join it)
        self.lock_fd: int | None = None
        # The file's identity when this process last found it a valid store of our schema, and the
        # owners of its queued/running runs then: an unchanged file need not be attached again to open it.
        self.checked: tuple[FileIdentity | None, list[Owner]] | None = None


_ENGINE = Engine()
_FILES: dict[str, FileState] = {}
_FILES_GUARD = threading.Lock()


_FORKED_AWAY: list[Engine] = []


def _reset_after_fork() -> None:  # a forked child must not reuse the parent's locks or DuckDB handle
    global _ENGINE, _FILES, _FILES_GUARD
    _FORKED_AWAY.append(_ENGINE)  # never closed or collected here: its DuckDB threads live only in the parent
    _ENGINE = Engine()
    _FILES = {}
    _FILES_GUARD = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def current_engine() -> Engine:
    """This process's engine (a forked child's own one)."""
    return _ENGINE


def file_state(path: pathlib.Path) -> FileState:
    """This process's lock state of the store file at ``path`` (one per real path)."""
    key = os.path.realpath(path)
    with _FILES_GUARD:
        state = _FILES.get(key)
        if state is None:
            state = _FILES[key] = FileState()
        return state


def file_identity(path: pathlib.Path) -> FileIdentity | None:
    """(device, inode, size, modification time in ns) of the store file, or None; any write changes it."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    if os.path.exists(f"{path}.wal"):
        return None  # a WAL left by a writer that died: always look inside
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


def fetch_one(connection: duckdb.DuckDBPyConnection, query: str, parameters: Sequence[Any] = ()) -> tuple[Any, ...] | None:
    """First row or None; reads the whole result (DuckDB 2 refuses new work while a result is pending)."""
    rows = connection.execute(query, list(parameters)).fetchall()
    return rows[0] if rows else None


def fetch_single(connection: duckdb.DuckDBPyConnection, query: str, parameters: Sequence[Any] = ()) -> tuple[Any, ...]:
    """The row of a query that always yields one (an aggregate; an UPDATE's or DELETE's count of changed rows)."""
    row = fetch_one(connection, query, parameters)
    assert row is not None, f"no row from a query that always yields one: {query}"
    return row


def quote_sql(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def is_lock_conflict(error: BaseException) -> bool:
    """Whether DuckDB refused to open a file because another program holds its lock."""
    message = str(error)
    return "Could not set lock" in message or "Conflicting lock" in message


def backoff(attempt: int) -> float:
    """Seconds to wait before retry ``attempt`` (from 1 ms doubling to 50 ms, jittered)."""
    return min(0.05, 0.001 * 2.0**attempt) * (0.5 + random.random())
