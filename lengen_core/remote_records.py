"""A run's store writes as messages: how a worker that may not open the database records a run.

:func:`lengen_core.runs.execution.execute_run` records a run through five store writes
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
from typing import TYPE_CHECKING, Any

from lengen_core.breakdown import Breakdown
from lengen_core.errors import LenGenError

if TYPE_CHECKING:
    from lengen_core.store import RunStore

# (method, run_id, keyword arguments); add_artifact's arguments are kind, file name and the file's bytes
Record = tuple[str, str, dict[str, Any]]
WRITES = ("set_status", "append_train_points", "update_progress", "set_eval_points", "add_artifact")


class ForeignRecord(LenGenError):
    """A record for a run the applying side did not expect (or a method that is not a store write)."""


class RecordingStore:
    """The store as :func:`~lengen_core.runs.execution.execute_run` uses it, each write sent as a :data:`Record`.

    ``parent_checkpoints`` maps a parent run id to a local checkpoint file, for
    fine-tuning runs (the worker received the parent's bytes with its job);
    ``checkpoint_dir`` is the worker's own folder where a run saves its checkpoint
    before the file's bytes are sent. It satisfies
    :class:`~lengen_core.runs.sink.RunSink`.
    """

    def __init__(self, send: Callable[[Record], None], parent_checkpoints: Mapping[str, str] | None = None, *, checkpoint_dir: Path) -> None:
        self._send = send
        self._parents = dict(parent_checkpoints or {})
        self._checkpoint_dir = Path(checkpoint_dir)

    @property
    def checkpoint_dir(self) -> Path:
        return self._checkpoint_dir

    def set_status(self, run_id: str, status: str, *, error: str | None = None) -> None:
        self._send(("set_status", run_id, {"status": status, "error": error}))

    def append_train_points(self, run_id: str, rows: Sequence[Mapping], *, steps_done: int | None = None, train_seconds: float | None = None) -> None:
        self._send(("append_train_points", run_id, {"rows": [dict(row) for row in rows], "steps_done": steps_done, "train_seconds": train_seconds}))

    def update_progress(self, run_id: str, *, steps_done: int, train_seconds: float, stop_reason: str | None = None, learned_step: int | None = None) -> None:
        arguments = {"steps_done": steps_done, "train_seconds": train_seconds, "stop_reason": stop_reason, "learned_step": learned_step}
        self._send(("update_progress", run_id, arguments))

    def set_eval_points(self, run_id: str, rows: Sequence[Mapping], breakdown: Breakdown, *, sweep: str = "default") -> None:
        """Sends the call as it was made (the breakdown is checked where the record is applied)."""
        self._send(("set_eval_points", run_id, {"rows": [dict(row) for row in rows], "breakdown": breakdown, "sweep": sweep}))

    def add_artifact(self, run_id: str, kind: str, path: str) -> None:
        file = Path(path)
        self._send(("add_artifact", run_id, {"kind": kind, "name": file.name, "data": file.read_bytes()}))

    def checkpoint_path(self, run_id: str) -> str | None:
        return self._parents.get(run_id)


def merge_train_points(records: Iterable[Record]) -> list[Record]:
    """The batch with each run's back-to-back ``append_train_points`` records as one (the last progress wins).

    "Back to back" is within the run's own records: another run's records in
    between do not stop a merge (runs are independent), the run's own status
    or evaluation record does. So each run's records keep their order, and a
    driver that falls behind writes bigger, fewer records.
    """
    merged: list[Record] = []
    open_points: dict[str, int] = {}  # run id -> index in merged of its training points still open to merging
    for method, run_id, arguments in records:
        index = open_points.get(run_id)
        if method == "append_train_points" and index is not None:
            previous = merged[index][2]
            progress = (
                (arguments["steps_done"], arguments["train_seconds"])
                if arguments["steps_done"] is not None
                else (previous["steps_done"], previous["train_seconds"])
            )
            merged[index] = (method, run_id, {"rows": previous["rows"] + arguments["rows"], "steps_done": progress[0], "train_seconds": progress[1]})
            continue
        merged.append((method, run_id, arguments))
        if method == "append_train_points":
            open_points[run_id] = len(merged) - 1
        else:
            open_points.pop(run_id, None)
    return merged


def write_checkpoint_file(folder: Path, name: str, data: bytes) -> Path:
    """``data`` as ``folder/name`` (a plain file name), written to a temporary name and renamed: never a half-written checkpoint."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    partial = folder / f".{name}.{os.getpid()}.partial"
    partial.write_bytes(data)
    os.replace(partial, target)
    return target


def apply_records(store: RunStore, records: Iterable[Record], *, run_ids: set[str], checkpoint_dir: Path) -> tuple[int, list[str]]:
    """Write ``records`` into ``store`` in order; returns (store writes made, why records were dropped).

    Records of runs outside ``run_ids``, methods that are not store writes, or
    checkpoint names that are not plain file names raise :class:`ForeignRecord`
    before any record of the batch is written. The batch is one transaction
    (:meth:`RunStore.batch`); if the store refuses one record (its run was
    deleted meanwhile, a status move it does not allow), the batch is rolled
    back and written again record by record, leaving out the refused ones,
    whose reasons are returned.
    """
    batch = merge_train_points(records)
    for method, run_id, arguments in batch:
        if method not in WRITES:
            raise ForeignRecord(f"{method!r} is not a store write")
        if run_id not in run_ids:
            raise ForeignRecord(f"a record for run {run_id!r}, which this sweep does not hold")
        if method == "add_artifact" and (not arguments["name"] or Path(arguments["name"]).name != arguments["name"]):
            raise ForeignRecord(f"checkpoint file name {arguments['name']!r} is not a plain file name")
    if not batch:
        return 0, []
    points = {
        run_id: (arguments["rows"], arguments["steps_done"], arguments["train_seconds"])
        for method, run_id, arguments in batch
        if method == "append_train_points"
    }
    try:
        with store.batch():
            # every run's training points first, in one insert: a run's later records in the batch
            # (evaluation, checkpoint, final status and progress) follow its points, as they did when sent
            store.append_train_points_of_runs(points)
            for record in batch:
                if record[0] != "append_train_points":
                    _write(store, record, checkpoint_dir)
        return len(batch), []
    except LenGenError:
        pass
    dropped = []
    for record in batch:
        try:
            _write(store, record, checkpoint_dir)
        except LenGenError as error:
            dropped.append(f"{record[0]} of run {record[1]}: {error}")
    return len(batch) - len(dropped), dropped


def _write(store: RunStore, record: Record, checkpoint_dir: Path) -> None:
    method, run_id, arguments = record
    if method == "add_artifact":
        path = write_checkpoint_file(checkpoint_dir, arguments["name"], arguments["data"])
        store.add_artifact(run_id, arguments["kind"], str(path))
    else:
        getattr(store, method)(run_id, **arguments)
