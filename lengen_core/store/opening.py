"""Opening a store: where it lives, and the first look that refuses, creates or upgrades the file.

Files that are not ours are never written: a file without DuckDB's header, a
DuckDB file of another application and a store from a newer LenGen Lab raise
:class:`StoreError` naming the path, and are left byte-for-byte untouched (the
first look is a read-only attach). A missing store is created; an older one is
migrated under a write attach.

A process remembers each file it found valid by its identity (device, inode,
size, modification time; :func:`~lengen_core.store.engine.file_identity`) and
the owners of its queued/running runs then: opening an unchanged file again
attaches nothing (about 0.25 ms) and only asks whether those owners died.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import time

import duckdb

import lengen_core.store.schema as schema
from lengen_core.errors import StoreError
from lengen_core.store.engine import StoreBusy, current_engine, file_identity
from lengen_core.store.owners import active_owners, any_owner_dead
from lengen_core.store.sessions import StoreFile


def default_store_path() -> pathlib.Path:
    """``$LENGEN_DB`` if set, else ``<repo>/data/runs.duckdb``."""
    configured = os.environ.get("LENGEN_DB")
    if configured:
        return pathlib.Path(configured).expanduser()
    return pathlib.Path(__file__).resolve().parents[2] / "data" / "runs.duckdb"


def open_store_file(path: str | os.PathLike[str] | None, *, lock_timeout_s: float, read_only: bool) -> tuple[StoreFile, bool]:
    """The checked store file at ``path`` (default :func:`default_store_path`), and whether it may hold runs of dead owners.

    Raises :class:`StoreError` for a directory, a read-only open of a missing
    file, and every file :func:`open_check` refuses; a lock file this call
    created beside a refused file is removed again.
    """
    raw = default_store_path() if path is None else pathlib.Path(os.fspath(path)).expanduser()
    store_file = StoreFile(pathlib.Path(os.path.abspath(raw)), lock_timeout_s=lock_timeout_s, read_only=read_only)
    if store_file.path.is_dir():
        raise StoreError(f"run store {store_file.path} is a directory, not a LenGen Lab run store file")
    if store_file.read_only:
        if not store_file.path.exists():
            raise StoreError(f"run store {store_file.path} does not exist (opened read-only, so it is not created)")
    else:
        try:
            store_file.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot create the folder of run store {store_file.path}: {error.strerror or error}") from None
    store_file.check_header()  # before anything else: a file that is not DuckDB's gets no lock file either
    lock_existed = store_file.lock_path.exists()
    try:
        dead_owners_seen = open_check(store_file)
    except StoreBusy:
        raise
    except StoreError:
        if not lock_existed and not store_file.read_only:  # leave no trace next to a file we refused
            with contextlib.suppress(OSError):
                store_file.lock_path.unlink()
            store_file.forget_lock_fd()
        raise
    return store_file, dead_owners_seen


def open_check(store_file: StoreFile) -> bool:
    """First open: create a missing store; look read-only; refuse foreign or newer files; migrate older ones.

    Returns whether a queued or running run may belong to a dead owner: what
    the look found, or True after a migration (the migrated store is checked in full).
    """
    path = store_file.path
    dead_owners_seen = True  # until the look says otherwise
    deadline = time.monotonic() + store_file.lock_timeout_s
    state = store_file.state
    if not state.thread_lock.acquire(timeout=max(0.0, store_file.lock_timeout_s)):
        raise store_file.busy("another thread of this process")
    try:
        store_file.acquire_flock(state, not store_file.read_only, deadline)
        try:
            if not path.exists():
                if store_file.read_only:
                    raise StoreError(f"run store {path} does not exist (opened read-only, so it is not created)")
                store_file.create_fresh()
            identity = file_identity(path)
            checked = state.checked
            if checked is not None and identity is not None and checked[0] == identity:
                # this process checked this very file, unchanged since: only the owners may have died
                return any_owner_dead(checked[1])
            with current_engine().lock:
                connection = store_file.attach(False, deadline)
                try:
                    version = schema.inspect(connection, path)
                    if version == schema.SCHEMA_VERSION:
                        candidates = active_owners(connection)
                        dead_owners_seen = any_owner_dead(candidates)
                except duckdb.Error as error:
                    raise StoreError(f"{path} is not a readable LenGen Lab run store: {error}") from None
                finally:
                    store_file.detach()
                if version == schema.SCHEMA_VERSION:
                    state.checked = (file_identity(path), candidates)
                    return dead_owners_seen
                if store_file.read_only:
                    found = "is an empty DuckDB database" if version == 0 else f"has schema version {version}"
                    raise StoreError(f"run store {path} {found}; open it once without read_only to bring it to schema version {schema.SCHEMA_VERSION}")
                connection = store_file.attach(True, deadline)
                try:
                    version = schema.inspect(connection, path)  # again, now under the write attach
                    if version < schema.SCHEMA_VERSION:
                        schema.migrate(connection, version)
                except duckdb.Error as error:
                    raise StoreError(f"cannot upgrade run store {path} from schema version {version}: {error}") from None
                finally:
                    store_file.detach()
        finally:
            store_file.release_flock(state)
    finally:
        state.thread_lock.release()
    return dead_owners_seen
