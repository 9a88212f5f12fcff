"""A run's live state, written by its worker and read by the app: :class:`RunProgress`."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lengen_core.evaluation import EvalPoint
from lengen_core.training import TrainPoint

if TYPE_CHECKING:
    from lengen_core.remote_records import Record


@dataclass
class RunProgress:
    """Live state of one run, written by its worker and read by the app (thread-safe snapshots)."""

    run_id: str
    total_steps: int
    phase: str = "queued"
    status: str = "queued"
    step: int = 0
    train_points: list[TrainPoint] = field(default_factory=list)
    eval_points: list[EvalPoint] = field(default_factory=list)
    error: str | None = None
    paused: bool = False
    breakdown_length: int | None = None  # of an extra sweep, once it is done
    stop_reason: str | None = None  # why training ended, once it has (learned_check.stop_reason)
    estimated_seconds: float = 0.0  # the cost model's time to result (lengen_core.costs), for the queue's time left
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def update(self, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(self, key, value)

    def add_train_point(self, point: TrainPoint) -> None:
        with self._lock:
            self.train_points.append(point)
            self.step = point.step

    def add_eval_point(self, point: EvalPoint) -> None:
        with self._lock:
            self.eval_points.append(point)

    def follow(self, records: list[Record]) -> None:
        """Follow a run that trains elsewhere through its store writes (:mod:`lengen_core.remote_records`):
        running, each logged step, the end of training; its final status is the caller's to set."""
        for method, _run_id, arguments in records:
            if method == "set_status" and arguments["status"] == "running":
                self.update(phase="training", status="running")
            elif method == "append_train_points":
                for row in arguments["rows"]:
                    self.add_train_point(TrainPoint(**row))
            elif method == "update_progress":
                self.update(phase="evaluating", stop_reason=arguments.get("stop_reason"))

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "run_id": self.run_id,
                "phase": self.phase,
                "status": self.status,
                "step": self.step,
                "total_steps": self.total_steps,
                "paused": self.paused,
                "error": self.error,
                "breakdown_length": self.breakdown_length,
                "stop_reason": self.stop_reason,
                "estimated_seconds": self.estimated_seconds,
                "train_points": list(self.train_points),
                "eval_points": list(self.eval_points),
            }


def remaining_seconds(snapshot: dict[str, Any]) -> float:
    """A job's estimated seconds still to go (its :class:`RunProgress` snapshot): all of its estimate while queued,
    the part of its steps not done while training, a tenth while evaluating, none once finished."""
    estimate = float(snapshot.get("estimated_seconds") or 0.0)
    phase = snapshot.get("phase")
    if phase == "finished":
        return 0.0
    if phase == "training":
        step: int = snapshot["step"]
        total_steps: int = snapshot["total_steps"]
        return estimate * max(0.0, 1.0 - step / max(total_steps, 1))
    if phase == "evaluating":
        return 0.1 * estimate
    return estimate
