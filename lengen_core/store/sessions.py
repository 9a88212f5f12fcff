"""Sessions on one store file: lock, attach, one transaction, detach.

A :class:`StoreFile` is a store path with the ways to hold it: a session takes
the per-file thread lock of this process, then ``fcntl.flock`` on ``<db>.lock``
(exclusive for writes, shared for reads), then the engine lock, attaches the
file to the engine connection (:mod:`lengen_core.store.engine`), yields it, and
detaches, which checkpoints the WAL into the file. Sessions nest: a session
opened while this thread holds one reuses it (a write inside a read is refused).

A session waits at most ``lock_timeout_s`` in total. It also retries while
DuckDB itself reports the file locked (a program that does not use our lock
file, e.g. the ``duckdb`` shell). After that it raises :class:`StoreBusy`
("run store ... is busy ..."). Every write is one DuckDB transaction, so a
process killed at any point (even ``SIGKILL`` mid-commit) leaves either the
whole call or none of it: the kernel drops its flock, and the next attach
replays the committed part of the WAL. Because every write session ends with a
checkpoint, the ``.duckdb`` file alone is complete between calls (safe to copy).

A fresh store is built under a temporary name and linked into place
(:meth:`StoreFile.create_fresh`), so a crash never leaves a half-made store behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pathlib
import time
import uuid
from collections.abc import Iterator

import duckdb

import lengen_core.store.schema as schema
from lengen_core.errors import StoreError
from lengen_core.store.engine import ALIAS, FileState, StoreBusy, backoff, current_engine, file_state, is_lock_conflict, quote_sql

_DUCKDB_MAGIC = b"DUCK"  # bytes 8..12 of every DuckDB database file


class StoreFile:
    """The store file at ``path`` (absolute), its lock file ``<path>.lock``, and sessions on it."""

    def __init__(self, path: pathlib.Path, *, lock_timeout_s: float, read_only: bool) -> None:
        self.path = path
        self.lock_path: pathlib.Path = path.with_name(path.name + ".lock")
        self.lock_timeout_s = float(lock_timeout_s)
        self.read_only = bool(read_only)

    @property
    def state(self) -> FileState:
        # Looked up on every use: after a fork the child gets its own locks, not the parent's.
        return file_state(self.path)

    def busy(self, what: str) -> StoreBusy:
        return StoreBusy(
            f"run store {self.path} is busy: {what} held it for more than {self.lock_timeout_s:g} s "
            f"(lock file {self.lock_path}); try again, or raise lock_timeout_s"
        )

    def refuse_read_only(self) -> None:
        """Raise when this store was opened read-only: a change was asked for."""
        if self.read_only:
            raise StoreError(f"run store {self.path} was opened read-only; this change was not made")

    # -- the lock file ------------------------------------------------------------

    def acquire_flock(self, state: FileState, write: bool, deadline: float) -> None:
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
                raise self.busy("another process")
            time.sleep(backoff(attempt))
            attempt += 1

    def forget_lock_fd(self) -> None:
        state = self.state
        with state.thread_lock:
            if state.lock_fd is not None and state.depth == 0:
                with contextlib.suppress(OSError):
                    os.close(state.lock_fd)
                state.lock_fd = None

    @staticmethod
    def release_flock(state: FileState) -> None:
        if state.lock_fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(state.lock_fd, fcntl.LOCK_UN)

    # -- attaching ----------------------------------------------------------------

    def attach(self, write: bool, deadline: float) -> duckdb.DuckDBPyConnection:
        """Attach the file as the default database of the engine connection (engine lock held)."""
        self.check_header()
        engine = current_engine()
        attempt = 0
        while True:
            connection = engine.connection()
            try:
                connection.execute(f"ATTACH {quote_sql(str(self.path))} AS {ALIAS}" + ("" if write else " (READ_ONLY)"))
                connection.execute(f"USE {ALIAS}")
                return connection
            except duckdb.Error as error:
                engine.reset()
                if not is_lock_conflict(error):
                    raise StoreError(f"{self.path} is not a LenGen Lab run store, or is damaged: DuckDB cannot open it ({error})") from None
                if time.monotonic() >= deadline:
                    raise StoreBusy(f"run store {self.path} is busy: a program that does not use LenGen Lab's lock file has it open ({error})") from None
            # Wait without blocking the other files' sessions of this process.
            engine.lock.release()
            try:
                time.sleep(backoff(attempt))
            finally:
                engine.lock.acquire()
            attempt += 1

    @staticmethod
    def detach() -> None:
        engine = current_engine()
        connection = engine.connection()
        try:
            connection.execute("USE memory")
            connection.execute(f"DETACH {ALIAS}")
        except duckdb.Error:
            engine.reset()  # closing the connection releases the file

    def check_header(self) -> None:
        """Refuse a file that is not a DuckDB database (a missing file passes: it will be created)."""
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

    def create_fresh(self) -> None:
        """Build a new store under a temporary name and link it into place (flock held)."""
        temporary = self.path.with_name(f".{self.path.name}.creating-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            engine = current_engine()
            with engine.lock:
                connection = engine.connection()
                try:
                    connection.execute(f"ATTACH {quote_sql(str(temporary))} AS {ALIAS}")
                    connection.execute(f"USE {ALIAS}")
                    schema.migrate(connection, 0)
                finally:
                    self.detach()
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

    # -- sessions -----------------------------------------------------------------

    @contextlib.contextmanager
    def session(self, write: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        """Hold the locks, attach the file, yield the connection, detach."""
        if write:
            self.refuse_read_only()
        state = self.state
        deadline = time.monotonic() + self.lock_timeout_s
        if not state.thread_lock.acquire(timeout=max(0.0, self.lock_timeout_s)):
            raise self.busy("another thread of this process")
        try:
            if state.depth > 0:
                if write and not state.write:
                    raise RuntimeError("internal: a write session cannot nest inside a read session")
                state.depth += 1
                try:
                    yield current_engine().connection()
                finally:
                    state.depth -= 1
                return
            if not write and not self.read_only and not self.path.exists():
                write = True  # the file was deleted under us: the session recreates it
            self.acquire_flock(state, write, deadline)
            try:
                if not self.path.exists():
                    if self.read_only:
                        raise StoreError(f"run store {self.path} no longer exists")
                    self.create_fresh()
                engine = current_engine()
                with engine.lock:
                    connection = self.attach(write, deadline)
                    state.depth, state.write = 1, write
                    try:
                        schema.check_version(connection, self.path)
                        yield connection
                    except duckdb.Error as error:
                        if isinstance(error, (duckdb.FatalException, duckdb.InternalException)):
                            current_engine().reset()
                        raise StoreError(f"run store {self.path}: {error}") from error
                    finally:
                        state.depth = 0
                        self.detach()
            finally:
                self.release_flock(state)
        finally:
            state.thread_lock.release()

    @contextlib.contextmanager
    def transaction(self, write: bool) -> Iterator[duckdb.DuckDBPyConnection]:
        """A session whose statements are one transaction: all of them land, or (on any exception) none.

        Inside another transaction of this thread (:meth:`RunStore.batch`) it joins that one: its
        statements land when the outer transaction commits.
        """
        with self.session(write) as connection:
            state = self.state
            if state.in_transaction:
                yield connection
                return
            connection.execute("BEGIN TRANSACTION")
            state.in_transaction = True
            try:
                yield connection
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    connection.execute("ROLLBACK")
                raise
            finally:
                state.in_transaction = False
            connection.execute("COMMIT")
