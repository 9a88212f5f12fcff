"""A run's store writes as messages: how a worker that may not open the database records a run.

:func:`lengen_core.jobs.execute_run` records a run through five store writes
(``set_status``, ``append_train_points``, ``update_progress``,
``set_eval_points``, ``add_artifact``) and, for a fine-tuning run, one read
(``checkpoint_path`` of the parent). :class:`RecordingStore` offers exactly
those, and turns each write into a :data:`Record` handed to ``send``; the
checkpoint file a run saves travels as its bytes. On the process that owns the
store, :func:`apply_records` writes records with the store's own API, in the
order they were sent, and the checkpoint bytes into the store's checkpoint
folder. Nothing here knows about Ray: any transport that keeps a worker's order
(a Ray queue, a pipe, a list) can sit between the two.

Each record names its run; :func:`apply_records` refuses a record for a run the
caller did not list, so a confused worker cannot write into another run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lengen_core.errors import LenGenError

# (method, run_id, keyword arguments); add_artifact's arguments are kind, file name and the file's bytes
Record = tuple[str, str, dict[str, Any]]
WRITES = ("set_status", "append_train_points", "update_progress", "set_eval_points", "add_artifact")


class ForeignRecord(LenGenError):
    """A record for a run the applying side did not expect (or a method that is not a store write)."""


class RecordingStore:
    """The store as :func:`~lengen_core.jobs.execute_run` uses it, each write sent as a :data:`Record`.

    ``parent_checkpoints`` maps a parent run id to a local checkpoint file, for
    fine-tuning runs (the worker received the parent's bytes with its job).
    """

    def __init__(self, send: Callable[[Record], None], parent_checkpoints: Mapping[str, str] | None = None) -> None:
        self._send = send
        self._parents = dict(parent_checkpoints or {})
        self.path = "(records sent to the driver)"

    def set_status(self, run_id: str, status: str, *, error: str | None = None) -> None:
        self._send(("set_status", run_id, {"status": status, "error": error}))

    def append_train_points(self, run_id: str, rows: Sequence[Mapping], *, steps_done: int | None = None, train_seconds: float | None = None) -> None:
        self._send(("append_train_points", run_id, {"rows": [dict(row) for row in rows], "steps_done": steps_done, "train_seconds": train_seconds}))

    def update_progress(self, run_id: str, *, steps_done: int, train_seconds: float) -> None:
        self._send(("update_progress", run_id, {"steps_done": steps_done, "train_seconds": train_seconds}))

    def set_eval_points(self, run_id: str, rows: Sequence[Mapping], *, breakdown_length: int | None, train_length_max: int, sweep: str = "default") -> None:
        self._send(("set_eval_points", run_id, {"rows": [dict(row) for row in rows], "breakdown_length": breakdown_length, "train_length_max": train_length_max, "sweep": sweep}))

    def add_artifact(self, run_id: str, kind: str, path: str) -> None:
        file = Path(path)
        self._send(("add_artifact", run_id, {"kind": kind, "name": file.name, "data": file.read_bytes()}))

    def checkpoint_path(self, run_id: str) -> str | None:
        return self._parents.get(run_id)


def merge_train_points(records: Iterable[Record]) -> list[Record]:
    """Consecutive ``append_train_points`` records of one run as one (the last progress wins): one transaction, not many."""
    merged: list[Record] = []
    for method, run_id, arguments in records:
        if merged and method == "append_train_points" and merged[-1][0] == method and merged[-1][1] == run_id:
            previous = merged[-1][2]
            steps_done = arguments["steps_done"] if arguments["steps_done"] is not None else previous["steps_done"]
            train_seconds = arguments["train_seconds"] if arguments["steps_done"] is not None else previous["train_seconds"]
            merged[-1] = (method, run_id, {"rows": previous["rows"] + arguments["rows"], "steps_done": steps_done, "train_seconds": train_seconds})
        else:
            merged.append((method, run_id, arguments))
    return merged


def write_checkpoint_file(folder: Path, name: str, data: bytes) -> Path:
    """``data`` as ``folder/name``, written to a temporary name and renamed: never a half-written checkpoint."""
    if Path(name).name != name or not name:
        raise ForeignRecord(f"checkpoint file name {name!r} is not a plain file name")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    partial = folder / f".{name}.{os.getpid()}.partial"
    partial.write_bytes(data)
    os.replace(partial, target)
    return target


def apply_records(store: Any, records: Iterable[Record], *, run_ids: set[str], checkpoint_dir: Path) -> int:
    """Write ``records`` into ``store`` in order; returns how many store writes that took.

    Records of runs outside ``run_ids``, or of methods that are not store
    writes, raise :class:`ForeignRecord` before anything of theirs is written.
    """
    writes = 0
    for method, run_id, arguments in merge_train_points(records):
        if method not in WRITES:
            raise ForeignRecord(f"{method!r} is not a store write")
        if run_id not in run_ids:
            raise ForeignRecord(f"a record for run {run_id!r}, which this sweep does not hold")
        if method == "add_artifact":
            path = write_checkpoint_file(checkpoint_dir, arguments["name"], arguments["data"])
            store.add_artifact(run_id, arguments["kind"], str(path))
        else:
            getattr(store, method)(run_id, **arguments)
        writes += 1
    return writes
