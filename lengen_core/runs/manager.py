"""The app's background jobs: :class:`JobManager`, a bounded pool of worker threads with one FIFO queue.

The app holds one with ``st.cache_resource``; extra jobs wait in the queue that
the app shows. Workers never touch Streamlit: they publish to the store and to
an in-memory :class:`~lengen_core.runs.progress.RunProgress` that the page polls.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lengen_core.config import RunConfig
from lengen_core.costs import Budget, default_budget, estimate_cost, queue_seconds
from lengen_core.cpus import usable_cpus
from lengen_core.errors import ConfigError
from lengen_core.runs.admission import create_run
from lengen_core.runs.execution import execute_run, finish
from lengen_core.runs.extra_sweeps import ExtraSweep, execute_extra_sweep, next_sweep_name, plan_extra_sweep
from lengen_core.runs.progress import RunProgress, remaining_seconds
from lengen_core.store import RunStore
from lengen_core.sweep_names import part_sweep_base
from lengen_core.training import TrainingControl


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
    """One unit of work of the manager: training a new run, or sweeping a stored one again (``sweep``)."""

    job_id: str
    run_id: str
    control: TrainingControl
    progress: RunProgress
    config: RunConfig | None = None
    seed: int = 0
    extra: ExtraSweep | None = None
    sweep: str | None = None


class JobManager:
    """Bounded pool of worker threads with one FIFO queue, for training runs and extra sweeps.

    ``max_concurrent`` jobs run at once; the rest wait (status ``queued``),
    at most ``max_queued`` of them. ``submit`` returns the run id at once and
    ``submit_sweep`` the job id of an extra sweep (``<run id>:<sweep name>``);
    progress is read with :meth:`progress`. Every request is admitted against
    ``budget`` (memory and evaluation time per job) before anything is written.

    The machine's cores are shared out among the jobs running: alone, a job's
    torch ops use all of them; two at once use half each (:meth:`_share_cores`).
    Measured in docs/benchmarks.md (a lone default run: 1.3x faster on 2 cores
    than on the 1 thread a fixed split gave it).
    """

    def __init__(
        self, store: RunStore, *, max_concurrent: int = 1, max_queued: int = 64, checkpoint_dir: Path | None = None, budget: Budget | None = None
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        self.store = store
        self.max_concurrent = max_concurrent
        self.max_queued = max_queued
        self.checkpoint_dir = checkpoint_dir
        self.budget = budget or default_budget(max_concurrent)
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._jobs: dict[str, _Job] = {}
        self._order: list[str] = []
        self._lock = threading.Lock()
        self._running: dict[str, TrainingControl] = {}  # job id -> control, of the jobs a worker is on
        self._workers = [threading.Thread(target=self._work, name=f"lengen-worker-{i}", daemon=True) for i in range(max_concurrent)]
        store.mark_interrupted()
        threading.Thread(target=_warm_up_imports, name="lengen-warm-up", daemon=True).start()
        for worker in self._workers:
            worker.start()

    def _check_room(self) -> None:
        waiting = sum(1 for job in self._jobs.values() if job.progress.phase == "queued")
        if waiting >= self.max_queued:
            raise ConfigError("jobs", f"the queue is full ({self.max_queued} jobs waiting); wait for some to finish")

    def submit(self, config: RunConfig, seed: int, *, name: str | None = None, tags: tuple[str, ...] = ()) -> str:
        """Queue a training run; raises :class:`~lengen_core.errors.ConfigError` when it is refused or the queue is full."""
        with self._lock:
            self._check_room()
            run_id = create_run(self.store, config, seed, name=name, tags=tags, budget=self.budget)
            estimate = estimate_cost(config, self.budget, threads=self.threads_for_next())
            progress = RunProgress(run_id, config.train.steps, estimated_seconds=estimate.time_to_result_s)
            job = _Job(run_id, run_id, TrainingControl(), progress, config=config, seed=seed)
            self._add(job)
        return run_id

    def threads_for_next(self) -> int:
        """The torch threads a run submitted now would train with once it starts (:meth:`_share_cores`): the cores
        shared by the jobs then running (those running now and it, at most ``max_concurrent``)."""
        running = min(self.max_concurrent, self.active_count() + 1)
        return max(1, usable_cpus() // max(1, running))

    def seconds_left(self, run_ids: set[str] | None = None) -> float:
        """When the jobs now queued or running (of ``run_ids``, default all) are done, by the cost model: each job's
        estimate less what it has done, shared over the workers first in, first out (:func:`lengen_core.costs.queue_seconds`)."""
        pending = [snapshot for snapshot in self.jobs(sweeps=False) if snapshot["phase"] != "finished"]
        return queue_seconds([remaining_seconds(snapshot) for snapshot in pending if run_ids is None or snapshot["run_id"] in run_ids], self.max_concurrent)

    def submit_sweep(self, run_id: str, lengths: list[int], samples_per_length: int, task: str = "", search: bool | None = None) -> str:
        """Queue an extra length sweep of a finished run (stored as ``extra-<n>``, ``extra-<n>@<task>`` for
        ``task`` of a mixture; ``search``: go on past its last length while the run holds); returns its job id."""
        plan = plan_extra_sweep(self.store, run_id, lengths, samples_per_length, self.budget, task, search=search)
        with self._lock:
            self._check_room()
            taken = {job.sweep for job in self._jobs.values() if job.run_id == run_id and job.sweep}
            sweep_name = plan.stored_name(next_sweep_name(self.store, run_id, taken))
            job_id = f"{run_id}:{sweep_name}"
            job = _Job(job_id, run_id, TrainingControl(), RunProgress(run_id, len(plan.lengths)), extra=plan, sweep=sweep_name)
            self._add(job)
        return job_id

    def _add(self, job: _Job) -> None:
        self._jobs[job.job_id] = job
        self._order.append(job.job_id)
        self._queue.put(job)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if job.control.cancelled:
                if job.extra is None:
                    finish(self.store, job.progress, job.run_id, "cancelled", "cancelled while queued")
                else:
                    job.progress.update(phase="finished", status="cancelled", error="cancelled while queued")
                continue
            self._share_cores(started=job)
            try:
                if job.extra is None:
                    assert job.config is not None, "a training job carries its config"
                    execute_run(
                        self.store,
                        job.run_id,
                        job.config,
                        job.seed,
                        control=job.control,
                        progress=job.progress,
                        checkpoint_dir=self.checkpoint_dir,
                        budget=self.budget,
                    )
                else:
                    self._run_sweep(job, job.extra)
            finally:
                self._share_cores(finished=job)

    def _share_cores(self, *, started: _Job | None = None, finished: _Job | None = None) -> None:
        """Give every running job ``cores // running jobs`` torch threads (at least 1)."""
        with self._lock:
            if started is not None:
                self._running[started.job_id] = started.control
            if finished is not None:
                self._running.pop(finished.job_id, None)
            share = max(1, usable_cpus() // max(1, len(self._running)))
            for control in self._running.values():
                control.share_cores(share)
        if started is not None:
            started.control.apply_thread_share()  # this worker thread's own count, before anything runs

    def thread_shares(self) -> dict[str, int | None]:
        """The torch threads each running job was given (job id -> threads)."""
        with self._lock:
            return {job_id: control.thread_share for job_id, control in self._running.items()}

    def _run_sweep(self, job: _Job, plan: ExtraSweep) -> None:
        assert job.sweep is not None, "an extra sweep's job carries its sweep's name"
        job.progress.update(phase="evaluating", status="running")
        try:
            evaluation = execute_extra_sweep(
                self.store, plan, part_sweep_base(job.sweep), budget=self.budget, on_point=job.progress.add_eval_point, should_stop=job.control.should_stop
            )
        except Exception as error:  # recorded on the job and shown by the page; the stored run is untouched
            job.progress.update(phase="finished", status="failed", error=f"{type(error).__name__}: {error}")
        else:
            if evaluation is None:
                job.progress.update(phase="finished", status="cancelled", error="cancelled; nothing was stored")
            else:
                job.progress.update(phase="finished", status="done", error=evaluation.stopped, breakdown_length=evaluation.result.breakdown_length)

    def cancel(self, job_id: str) -> None:
        job = self._jobs.get(job_id)
        if job is not None:
            job.control.cancel()

    def pause(self, job_id: str) -> None:
        job = self._jobs.get(job_id)
        if job is not None and job.progress.phase in ("queued", "training"):
            job.control.pause()
            job.progress.update(paused=True)

    def resume(self, job_id: str) -> None:
        job = self._jobs.get(job_id)
        if job is not None:
            job.control.resume()
            job.progress.update(paused=False)

    def progress(self, job_id: str) -> dict[str, Any] | None:
        job = self._jobs.get(job_id)
        return None if job is None else self._snapshot(job)

    @staticmethod
    def _snapshot(job: _Job) -> dict[str, Any]:
        return job.progress.snapshot() | {"job_id": job.job_id, "sweep": job.sweep}

    def jobs(self, *, run_ids: set[str] | None = None, sweeps: bool | None = None) -> list[dict[str, Any]]:
        """Snapshots of the jobs this manager has seen, oldest first (``sweeps``: only extra sweeps / only training)."""
        with self._lock:
            order = list(self._order)
        selected = []
        for job_id in order:
            job = self._jobs[job_id]
            if run_ids is not None and job.run_id not in run_ids:
                continue
            if sweeps is not None and (job.extra is not None) != sweeps:
                continue
            selected.append(self._snapshot(job))
        return selected

    def active_count(self) -> int:
        return sum(1 for job in self._jobs.values() if job.progress.phase in ("training", "evaluating"))

    def queued_count(self) -> int:
        return sum(1 for job in self._jobs.values() if job.progress.phase == "queued")

    def wait(self, job_id: str, timeout: float | None = None) -> str:
        """Block until the job finishes; returns its status (for tests and the CLI)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            snapshot = self.progress(job_id)
            if snapshot is None:
                raise KeyError(job_id)
            if snapshot["phase"] == "finished":
                status: str = snapshot["status"]
                return status
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {snapshot['phase']} after {timeout} s")
            time.sleep(0.05)

    def shutdown(self, cancel_running: bool = True) -> None:
        if cancel_running:
            for job in self._jobs.values():
                job.control.cancel()
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join(timeout=30)
