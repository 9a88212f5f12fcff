"""Running experiments: the one-run pipeline and the background job manager.

:func:`execute_run` is the whole life of a run: mark it running, train, sweep
lengths, write the checkpoint, record everything in the store, and end in
exactly one final status (done, diverged, failed, cancelled). A crash inside
it is recorded as ``failed`` with the error; a process that dies outright
leaves ``running`` rows that :meth:`RunStore.mark_interrupted` later flips to
``interrupted``. Nothing is half-written: eval points are replaced atomically,
checkpoints are written to a temporary name and renamed.

:class:`JobManager` owns a bounded pool of worker threads (the app holds one
with ``st.cache_resource``); extra jobs wait in a FIFO queue that the app shows.
Workers never touch Streamlit: they publish to the store and to an in-memory
:class:`RunProgress` that the page polls.
"""

from __future__ import annotations

import functools
import os
import platform
import queue
import socket
import subprocess
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lengen_core import __version__
from lengen_core.config import RunConfig
from lengen_core.evaluation import EvalPoint, sweep
from lengen_core.store import RunStore
from lengen_core.training import TrainingControl, TrainPoint, resolve_device, save_checkpoint, train

PHASES = ("queued", "training", "evaluating", "finished")


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``<package version>+g<git short hash>[.dirty]`` when run from a git checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        return f"{__version__}+g{commit}{'.dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return __version__


def environment(device: torch.device) -> dict[str, Any]:
    """Versions and hardware a run was produced with."""
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:  # pragma: no cover - triton is a requirement
        triton_version = None
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "triton": triton_version,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def default_checkpoint_dir(store: RunStore) -> Path:
    return store.path.parent / "checkpoints"


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
                "train_points": list(self.train_points),
                "eval_points": list(self.eval_points),
            }


def execute_run(
    store: RunStore,
    run_id: str,
    config: RunConfig,
    seed: int,
    *,
    control: TrainingControl | None = None,
    progress: RunProgress | None = None,
    checkpoint_dir: Path | None = None,
) -> str:
    """Train, sweep and record run ``run_id`` (already created in ``store``); returns its final status."""
    control = control or TrainingControl()
    progress = progress or RunProgress(run_id, config.train.steps)
    checkpoint_dir = checkpoint_dir or default_checkpoint_dir(store)
    try:
        device = resolve_device(config.train.device)
        store.set_status(run_id, "running")
        progress.update(phase="training", status="running")

        def on_log(point: TrainPoint) -> None:
            progress.add_train_point(point)
            store.append_train_points(run_id, [_train_row(point)], steps_done=point.step, train_seconds=point.wall_time_s)

        result = train(config, seed, control=control, on_log=on_log)
        store.update_progress(run_id, steps_done=result.steps_done, train_seconds=result.train_seconds)
        if result.status != "done":
            return _finish(store, progress, run_id, result.status, result.error)

        progress.update(phase="evaluating")
        outcome = sweep(
            result.model,
            config.task,
            config.eval,
            device=device,
            on_point=progress.add_eval_point,
            should_stop=lambda: control.cancelled,
        )
        if control.cancelled:
            return _finish(store, progress, run_id, "cancelled", "cancelled during evaluation")
        store.set_eval_points(
            run_id,
            [point.as_row() for point in outcome.points],
            breakdown_length=outcome.breakdown_length,
            train_length_max=config.task.train_length_max,
        )
        checkpoint = save_checkpoint(result.model, config, seed, checkpoint_dir / f"{run_id}.safetensors")
        store.add_artifact(run_id, "checkpoint", str(checkpoint))
        return _finish(store, progress, run_id, "done", None)
    except BaseException as error:  # recorded, never lost; re-raised only for interpreter exits
        message = f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=8)}"
        try:
            _finish(store, progress, run_id, "cancelled" if isinstance(error, KeyboardInterrupt) else "failed", message)
        finally:
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                raise
        return "failed"


def _finish(store: RunStore, progress: RunProgress, run_id: str, status: str, error: str | None) -> str:
    store.set_status(run_id, status, error=error)
    progress.update(phase="finished", status=status, error=error, paused=False)
    return status


def _train_row(point: TrainPoint) -> dict[str, Any]:
    return {
        "step": point.step,
        "loss": point.loss,
        "accuracy": point.accuracy,
        "lr": point.lr,
        "wall_time_s": point.wall_time_s,
        "tokens_per_s": point.tokens_per_s,
    }


def create_run(store: RunStore, config: RunConfig, seed: int, *, name: str | None = None, tags: tuple[str, ...] = ()) -> str:
    """Record a queued run of ``config`` with ``seed``; returns its id."""
    device = resolve_device(config.train.device)
    return store.create_run(
        config=config.to_dict(),
        config_id=config.config_id,
        seed=seed,
        code_version=code_version(),
        environment=environment(device),
        name=name,
        status="queued",
        tags=tags,
    )


def _warm_up_imports() -> None:
    """Import what the first training step would otherwise import while a user waits.

    torch's optimizers import ``torch._dynamo`` (and sympy) on first construction:
    about 1.5 s alone on a 2-core machine, much longer when eight sessions are
    starting at once. Python's import lock makes a worker that gets there first
    simply wait for this import to finish.
    """
    import torch._dynamo  # noqa: F401


@dataclass
class _Job:
    run_id: str
    config: RunConfig
    seed: int
    control: TrainingControl
    progress: RunProgress


class JobManager:
    """Bounded pool of training threads with a FIFO queue.

    ``max_concurrent`` runs train at once; the rest wait (status ``queued``).
    ``submit`` returns the run id at once; progress is read with :meth:`progress`.
    """

    def __init__(self, store: RunStore, *, max_concurrent: int = 1, max_queued: int = 64, checkpoint_dir: Path | None = None) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        self.store = store
        self.max_concurrent = max_concurrent
        self.max_queued = max_queued
        self.checkpoint_dir = checkpoint_dir
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._jobs: dict[str, _Job] = {}
        self._order: list[str] = []
        self._lock = threading.Lock()
        self._workers = [threading.Thread(target=self._work, name=f"lengen-worker-{i}", daemon=True) for i in range(max_concurrent)]
        store.mark_interrupted()
        threading.Thread(target=_warm_up_imports, name="lengen-warm-up", daemon=True).start()
        for worker in self._workers:
            worker.start()

    def submit(self, config: RunConfig, seed: int, *, name: str | None = None, tags: tuple[str, ...] = ()) -> str:
        """Queue a run; raises :class:`~lengen_core.errors.ConfigError` when the queue is full."""
        from lengen_core.errors import ConfigError

        with self._lock:
            waiting = sum(1 for job in self._jobs.values() if job.progress.phase == "queued")
            if waiting >= self.max_queued:
                raise ConfigError("jobs", f"the queue is full ({self.max_queued} runs waiting); wait for some to finish")
            run_id = create_run(self.store, config, seed, name=name, tags=tags)
            job = _Job(run_id, config, seed, TrainingControl(), RunProgress(run_id, config.train.steps))
            self._jobs[run_id] = job
            self._order.append(run_id)
        self._queue.put(job)
        return run_id

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if job.control.cancelled:
                _finish(self.store, job.progress, job.run_id, "cancelled", "cancelled while queued")
                continue
            execute_run(self.store, job.run_id, job.config, job.seed, control=job.control, progress=job.progress, checkpoint_dir=self.checkpoint_dir)

    def cancel(self, run_id: str) -> None:
        job = self._jobs.get(run_id)
        if job is not None:
            job.control.cancel()

    def pause(self, run_id: str) -> None:
        job = self._jobs.get(run_id)
        if job is not None and job.progress.phase in ("queued", "training"):
            job.control.pause()
            job.progress.update(paused=True)

    def resume(self, run_id: str) -> None:
        job = self._jobs.get(run_id)
        if job is not None:
            job.control.resume()
            job.progress.update(paused=False)

    def progress(self, run_id: str) -> dict[str, Any] | None:
        job = self._jobs.get(run_id)
        return None if job is None else job.progress.snapshot()

    def jobs(self) -> list[dict[str, Any]]:
        """Snapshots of every job this manager has seen, oldest first."""
        with self._lock:
            order = list(self._order)
        return [self._jobs[run_id].progress.snapshot() for run_id in order]

    def active_count(self) -> int:
        return sum(1 for job in self._jobs.values() if job.progress.phase in ("training", "evaluating"))

    def queued_count(self) -> int:
        return sum(1 for job in self._jobs.values() if job.progress.phase == "queued")

    def wait(self, run_id: str, timeout: float | None = None) -> str:
        """Block until the run finishes; returns its status (for tests and the CLI)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            snapshot = self.progress(run_id)
            if snapshot is None:
                raise KeyError(run_id)
            if snapshot["phase"] == "finished":
                return snapshot["status"]
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {snapshot['phase']} after {timeout} s")
            time.sleep(0.05)

    def shutdown(self, cancel_running: bool = True) -> None:
        if cancel_running:
            for job in self._jobs.values():
                job.control.cancel()
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join(timeout=30)
