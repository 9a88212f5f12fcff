"""What a run writes while it lives: the :class:`RunSink` protocol.

:func:`lengen_core.runs.execution.execute_run` records a run through five
writes and, for a fine-tuning run, one read (its parent's checkpoint). Two
classes provide them: :class:`lengen_core.store.RunStore` (the database itself)
and :class:`lengen_core.remote_records.RecordingStore` (a worker that may not
open the database sends each write as a message). The type checker (mypy, run
by ``.ci/run``) holds both to this protocol where they are handed to
``execute_run`` (:mod:`lengen_core.sweeps`, :mod:`lengen_core.ray_runner`), and
``tests/core/test_run_sink.py`` checks it at run time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from lengen_core.breakdown import Breakdown


@runtime_checkable
class RunSink(Protocol):
    """The store as a running run uses it."""

    def set_status(self, run_id: str, status: str, *, error: str | None = None) -> None: ...

    def append_train_points(
        self, run_id: str, rows: Sequence[Mapping[str, Any]], *, steps_done: int | None = None, train_seconds: float | None = None
    ) -> None: ...

    def update_progress(
        self, run_id: str, *, steps_done: int, train_seconds: float, stop_reason: str | None = None, learned_step: int | None = None
    ) -> None: ...

    def set_eval_points(self, run_id: str, rows: Sequence[Mapping[str, Any]], breakdown: Breakdown, *, sweep: str = "default") -> None: ...

    def add_artifact(self, run_id: str, kind: str, path: str) -> None: ...

    def checkpoint_path(self, run_id: str) -> str | None:
        """The run's newest checkpoint as recorded (a fine-tuning run reads its parent's)."""
        ...

    @property
    def checkpoint_dir(self) -> Path:
        """Where a run's checkpoint file is written before it is recorded."""
        ...
