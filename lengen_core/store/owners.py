"""Owners: which process queued or runs a run, and whether it still lives.

Runs whose process died are found by :meth:`RunStore.mark_interrupted
<lengen_core.store.RunStore.mark_interrupted>`. Each queued or running run
records its owner ``host:pid`` and the process start time, so a reused pid is
not mistaken for the owner. On the same host, a run whose owner process no
longer exists becomes ``interrupted``; runs owned by another host are left
alone. :meth:`RunStore.delete_runs <lengen_core.store.RunStore.delete_runs>`
refuses queued or running runs whose owner may still be alive, so a worker
never finds its run gone.

The functions taking a connection run inside a session the caller holds.
"""

from __future__ import annotations

import os
import pathlib
import socket
from collections.abc import Iterable, Sequence

import duckdb

from lengen_core.errors import StoreError
from lengen_core.store.values import utcnow

Owner = tuple[str | None, int | None]  # (owner ``host:pid``, owner start time in clock ticks)


def process_stat(pid: int) -> tuple[str, int] | None:
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


def current_owner() -> tuple[str, int | None]:
    """This process as an owner: (``host:pid``, its start time)."""
    stat = process_stat(os.getpid())
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
    stat = process_stat(pid)
    if stat is None:
        return True  # no /proc: trust kill(0)
    state, start = stat
    if state in ("Z", "X"):
        return False  # exited, not yet reaped
    if owner_start is not None and start != owner_start:
        return False  # the pid was reused by another process
    return True


def any_owner_dead(owners: Iterable[Owner]) -> bool:
    """Whether one of ``owners`` is a process of this host that is gone."""
    return any(owner_is_alive(owner, owner_start) is False for owner, owner_start in owners)


def active_owners(connection: duckdb.DuckDBPyConnection) -> list[Owner]:
    """(owner, owner start) of every queued or running run."""
    return [tuple(row) for row in connection.execute("SELECT owner, owner_start FROM runs WHERE status IN ('queued', 'running')").fetchall()]


def has_dead_owners(connection: duckdb.DuckDBPyConnection) -> bool:
    """Whether a queued or running run belongs to a process of this host that is gone."""
    return any_owner_dead(active_owners(connection))


def interrupt_runs_of_dead_owners(connection: duckdb.DuckDBPyConnection) -> list[str]:
    """Flip queued/running runs whose owner on this host is gone to ``interrupted`` (write session); their ids."""
    candidates = connection.execute("SELECT run_id, owner, owner_start, status FROM runs WHERE status IN ('queued', 'running')").fetchall()
    dead = [(run_id, owner, status) for run_id, owner, owner_start, status in candidates if owner_is_alive(owner, owner_start) is False]
    now = utcnow()
    for run_id, owner, status in dead:
        connection.execute(
            "UPDATE runs SET status = 'interrupted', finished_at = ?, error = ? WHERE run_id = ?",
            [now, f"interrupted: its process {owner} ended while the run was {status}", run_id],
        )
    return [run_id for run_id, _, _ in dead]


def refuse_live_runs(connection: duckdb.DuckDBPyConnection, run_ids: Sequence[str]) -> None:
    """Raise :class:`StoreError` naming the first of ``run_ids`` that is queued or running and may still be alive."""
    active = connection.execute(
        "SELECT run_id, status, owner, owner_start FROM runs WHERE list_contains(?, run_id) AND status IN ('queued', 'running')", [list(run_ids)]
    ).fetchall()
    for run_id, status, owner, owner_start in active:
        if owner_is_alive(owner, owner_start) is not False:
            raise StoreError(f"run {run_id} is {status} (process {owner}); cancel it before deleting it")
