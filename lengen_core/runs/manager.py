"""The app's background jobs: :class:`JobManager`, a bounded pool of worker threads with one FIFO queue.

The app holds one with ``st.cache_resource``; extra jobs wait in the queue that
the app shows. Workers never touch Streamlit: they publish to the store and to
an in-memory :class:`~lengen_core.runs.progress.RunProgress` that the page polls.

A class of thirty pressing the same button is the case it is built for:
identical requests share one run (:meth:`JobManager.request`, by the rule of
:mod:`lengen_core.runs.identity`), and every wait it reports is the cost model
scaled to this machine (:mod:`lengen_core.runs.speed`), with each queued job's
place and the time its result should arrive (:meth:`JobManager.place_in_queue`).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lengen_core.config import RunConfig
from lengen_core.costs import Budget, CostEstimate, default_budget, estimate_cost, finish_times, queue_seconds
from lengen_core.cpus import busy_cores, usable_cpus
from lengen_core.errors import ConfigError
from lengen_core.run_listing import sweep_tag
from lengen_core.runs.admission import admit, create_run
from lengen_core.runs.execution import execute_run, finish
from lengen_core.runs.extra_sweeps import ExtraSweep, execute_extra_sweep, next_sweep_name, plan_extra_sweep
from lengen_core.runs.identity import RunIdentity, Submission
from lengen_core.runs.progress import RunProgress, remaining_seconds
from lengen_core.runs.speed import PROBE_FAMILY, MachineSpeed, family_of, observe_finished_run, probe_contention, probe_training
from lengen_core.store import RunStore
from lengen_core.sweep_names import part_sweep_base
from lengen_core.training import TrainingControl

if TYPE_CHECKING:
    from lengen_core.ray_runner import RayJobs

KEEP_FINISHED = 256  # finished jobs whose progress the manager keeps (older ones are read from the store)


def _warm_up_imports() -> None:
    """Import what the first training step would otherwise import while a user waits.

    torch's optimizers import ``torch._dynamo`` (and sympy) on first construction:
    about 1.5 s alone on a 2-core machine, much longer when eight sessions are
    starting at once. Python's import lock makes a worker that gets there first
    simply wait for this import to finish.
    """
    import torch._dynamo  # noqa: F401


QUIET_CORES = 0.25  # the machine counts as quiet for a speed probe below this many busy cores over a second
PROBE_QUIET_WAIT_S = 15.0  # how long a speed probe waits for a quiet machine before it runs anyway


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
    identity: RunIdentity | None = None  # of a training job (None: an extra sweep, never shared)
    estimate: CostEstimate | None = None  # the cost model's, at the threads the job is expected to get
    shared_expected: bool = False  # the estimate's: other jobs were expected to run beside it
    holders: int = 1  # requests that follow this job: a cancel by one of several only lets go of it
    paused_once: bool = False  # its training time then says nothing about the machine's speed
    settled: threading.Event = field(default_factory=threading.Event)  # set once its worker is done with it (speed observed)
    shared_seconds: float = 0.0  # of its run so far, the time other jobs ran beside it (intervals closed so far)
    shared_since: float | None = None  # when the interval of sharing now open began (time.monotonic)

    def seconds_shared(self, now: float) -> float:
        """The time other jobs ran beside it, up to ``now`` (time.monotonic); safe to read without the manager's lock."""
        since = self.shared_since  # read once: the manager may close the interval meanwhile
        return self.shared_seconds + (now - since if since is not None else 0.0)


class JobManager:
    """Bounded pool of worker threads with one FIFO queue, for training runs and extra sweeps.

    ``max_concurrent`` jobs run at once; the rest wait (status ``queued``),
    at most ``max_queued`` of them. ``submit`` returns the run id at once and
    ``submit_sweep`` the job id of an extra sweep (``<run id>:<sweep name>``);
    progress is read with :meth:`progress`. Every request is admitted against
    ``budget`` (memory and evaluation time per job) before anything is written.

    ``speed`` scales the cost model's estimates to this machine
    (:class:`~lengen_core.runs.speed.MachineSpeed`; a new one unless given), each
    finished run updates it, and ``probe_speed`` starts it with short timed
    training runs in the background (what the app does): one alone, then, with more
    than one worker, as many at once (the contention factor); each waits until no
    job is queued or running here. ``share_identical=False``
    makes :meth:`request` train every request anew (a server setting). With
    ``remote`` (:class:`~lengen_core.ray_runner.RayJobs`, ``LENGEN_RUNNER=ray``) each
    job (training or extra sweep) runs as a Ray task driven from a worker thread
    here, which writes its records to the store and its progress to the page.

    The machine's cores are shared out among the jobs running: alone, a job's
    torch ops use all of them; two at once use half each (:meth:`_share_cores`).
    Measured in docs/benchmarks.md (a lone default run: 1.3x faster on 2 cores
    than on the 1 thread a fixed split gave it).
    """

    def __init__(
        self,
        store: RunStore,
        *,
        max_concurrent: int = 1,
        max_queued: int = 64,
        checkpoint_dir: Path | None = None,
        budget: Budget | None = None,
        probe_speed: bool = False,
        speed: MachineSpeed | None = None,
        share_identical: bool = True,
        remote: RayJobs | None = None,
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
        self._lock = threading.RLock()  # re-entered: request() asks threads_for_next() while holding it
        self._running: dict[str, TrainingControl] = {}  # job id -> control, of the jobs a worker is on
        self._workers = [threading.Thread(target=self._work, name=f"lengen-worker-{i}", daemon=True) for i in range(max_concurrent)]
        self.speed = speed or MachineSpeed()
        self.share_identical = share_identical
        self.remote = remote
        self._warmed_up = threading.Event()
        self._stopping = threading.Event()
        store.mark_interrupted()
        self._warm_up_thread = threading.Thread(target=self._warm_up, args=(probe_speed,), name="lengen-warm-up", daemon=True)
        self._warm_up_thread.start()
        for worker in self._workers:
            worker.start()

    def _warm_up(self, probe_speed: bool) -> None:
        try:
            _warm_up_imports()
            if probe_speed:
                self.measure_speed()
        finally:
            self._warmed_up.set()

    def measure_speed(self) -> bool:
        """Time this machine into :attr:`speed`: :func:`~lengen_core.runs.speed.probe_training` at a full pool's
        threads, then, with more than one worker here, :func:`~lengen_core.runs.speed.probe_contention`; each once no
        job is queued or running (:meth:`_idle_for_probe`). False when the manager shut down before a probe ran."""
        if not self._idle_for_probe():
            return False
        threads = max(1, usable_cpus() // self.max_concurrent)
        estimated, measured = probe_training(threads)
        self.speed.observe(family=PROBE_FAMILY, estimated_train_s=estimated, measured_train_s=measured)
        if self._shares_machine(self.max_concurrent):  # more than one job at once here (on Ray, jobs run on the cluster)
            if not self._idle_for_probe():
                return False
            self.speed.set_contention(probe_contention(self.max_concurrent, threads))
        return True

    def _idle_for_probe(self) -> bool:
        """Wait until no job is queued or running here and the machine has been quiet for a second (under
        :data:`QUIET_CORES` busy): a probe beside a job, or beside a first session's page being drawn, slowed it and was
        slowed by it (a probe run while Chromium and the server drew the first page read the machine as 2.4x slower
        than the model, where an idle one reads 1.25x). A machine that never quiets is probed after
        :data:`PROBE_QUIET_WAIT_S` anyway. False once the manager shuts down."""
        waited_since = time.monotonic()
        while not self._stopping.is_set():
            if self.active_count() + self.queued_count() > 0:
                self._stopping.wait(0.5)
                waited_since = time.monotonic()  # the quiet wait starts once the jobs are done
                continue
            busy = busy_cores(1.0, sleep=self._stopping.wait)
            if busy is None or busy < QUIET_CORES or time.monotonic() - waited_since > PROBE_QUIET_WAIT_S:
                return not self._stopping.is_set() and self.active_count() + self.queued_count() == 0
        return False

    def wait_warmed_up(self, timeout: float | None = None) -> bool:
        """Block until the start-up work (imports, the speed probe) is done; returns whether it is."""
        return self._warmed_up.wait(timeout)

    def _check_room(self) -> None:
        waiting = sum(1 for job in self._jobs.values() if job.progress.phase == "queued")
        if waiting >= self.max_queued:
            raise ConfigError("jobs", f"the queue is full ({self.max_queued} jobs waiting); wait for some to finish")

    def request(self, config: RunConfig, seed: int, *, name: str | None = None, tags: tuple[str, ...] = (), share: bool = True) -> Submission:
        """The result of ``config`` with ``seed``: a new queued run, or (``share``) an identical one's.

        An identical job queued or running here is joined (the request follows its
        progress); an identical ``done`` run in the store is handed back at once
        (:mod:`lengen_core.runs.identity` says what is identical). A shared run
        gains ``tags``, so every view that lists a request's runs by tag finds it;
        it keeps its own name. The request is admitted either way (the same
        errors for the same input). Raises :class:`~lengen_core.errors.ConfigError`
        when it is refused or the queue is full.
        """
        identity = RunIdentity.of(config, seed)
        with self._lock:
            if share and self.share_identical:
                live = self._live_job(identity)
                stored = None if live is not None else self.store.find_identical(identity.config_id, identity.seed, identity.code_version)
                if live is not None or stored is not None:
                    admit(config, seed, self.budget)  # the same errors as a new run's (create_run admits those)
                if live is not None:
                    live.holders += 1
                    self._tag(live.run_id, tags)
                    return Submission(live.run_id, "joined")
                if stored is not None:
                    self._tag(stored, tags)
                    return Submission(stored, "stored")
            self._check_room()
            run_id = create_run(self.store, config, seed, name=name, tags=tags, budget=self.budget)
            estimate = estimate_cost(config, self.budget, threads=self.threads_for_next())
            progress = RunProgress(run_id, config.train.steps, estimated_seconds=estimate.time_to_result_s)
            job = _Job(
                run_id, run_id, TrainingControl(), progress, config=config, seed=seed, identity=identity, estimate=estimate, shared_expected=self.shares_next()
            )
            self._add(job)
        return Submission(run_id)

    def request_sweep(self, cells: Sequence[tuple[RunConfig, int]], name: str) -> tuple[list[Submission], ConfigError | None]:
        """Request each cell (``config``, ``seed``) as a run of the sweep ``name``: tagged ``sweep:<name>``, named
        ``<name>:<task>/<scheme>/s<seed>``, shared with an identical run as :meth:`request` does. A refusal stops
        the rest and comes back beside the cells already requested, which stay queued; check every cell first
        (:func:`~lengen_core.runs.admission.sweep_launch_errors`) so that none is refused here."""
        submissions: list[Submission] = []
        for config, seed in cells:
            try:
                run_name = f"{name}:{config.task.name}/{config.positions.scheme}/s{seed}"
                submissions.append(self.request(config, seed, name=run_name, tags=(sweep_tag(name),)))
            except ConfigError as error:
                return submissions, error
        return submissions, None

    def submit(self, config: RunConfig, seed: int, *, name: str | None = None, tags: tuple[str, ...] = ()) -> str:
        """Queue a new run of ``config`` with ``seed`` (never shared) and return its id; see :meth:`request`."""
        return self.request(config, seed, name=name, tags=tags, share=False).run_id

    def _live_job(self, identity: RunIdentity) -> _Job | None:
        for job in self._jobs.values():
            if job.identity == identity and job.progress.phase != "finished" and not job.control.cancelled:
                return job
        return None

    def _tag(self, run_id: str, tags: tuple[str, ...]) -> None:
        if tags:
            self.store.add_tags(run_id, tags)

    def threads_for_next(self) -> int:
        """The torch threads a run submitted now would train with once it starts (:meth:`_share_cores`): the cores
        shared by the jobs then running (those running now and it, at most ``max_concurrent``); on Ray, the
        threads each task is given (``LENGEN_RAY_CPUS_PER_RUN``)."""
        if self.remote is not None:
            return self.remote.settings.cpus_per_run
        running = min(self.max_concurrent, self.active_count() + 1)
        return max(1, usable_cpus() // max(1, running))

    def shares_next(self) -> bool:
        """Whether a run submitted now would run beside other jobs on this machine (its estimate then carries
        :attr:`MachineSpeed.contention`); never on Ray, whose tasks run on the cluster's machines."""
        return self._shares_machine(min(self.max_concurrent, self.active_count() + 1))

    def _shares_machine(self, running: int) -> bool:
        """Whether each of ``running`` jobs at once shares this machine with others (never on Ray)."""
        return self.remote is None and running > 1

    def scaled(self, estimate: CostEstimate, config: RunConfig, *, shared: bool | None = None) -> tuple[float, float]:
        """(training, length sweep) seconds of ``estimate`` (of ``config``) on this machine: the cost model scaled by
        :attr:`speed` for the run's family, and for the jobs beside it (``shared``; default: :meth:`shares_next`)."""
        return self.speed.scaled(estimate, family_of(config), shared=self.shares_next() if shared is None else shared)

    def threads_when_busy(self) -> int:
        """The torch threads each job gets while every worker is busy (a lesson's runs, a sweep): the cores over
        ``max_concurrent``, or on Ray the threads each task is given."""
        if self.remote is not None:
            return self.remote.settings.cpus_per_run
        return max(1, usable_cpus() // self.max_concurrent)

    def estimate_seconds(self, config: RunConfig, threads: int | None = None, *, shared: bool | None = None) -> float:
        """``config``'s time to result on this machine (the cost model scaled by :attr:`speed`), at ``threads``
        torch threads (default: what a run submitted now would get, :meth:`threads_for_next`), beside other jobs
        when ``shared`` (default: :meth:`shares_next`)."""
        estimate = estimate_cost(config, self.budget, threads=threads or self.threads_for_next())
        return sum(self.scaled(estimate, config, shared=shared))

    def batch_seconds(self, configs: list[RunConfig]) -> float:
        """How long runs of ``configs`` submitted together take, all of them, on this machine: each run's scaled
        estimate at the threads of a full pool (:meth:`threads_when_busy`) and beside the other jobs of one (when more
        than one runs at once here), first in, first out over the workers."""
        threads = self.threads_when_busy()
        shared = self._shares_machine(self.max_concurrent)
        return queue_seconds([self.estimate_seconds(config, threads=threads, shared=shared) for config in configs], self.max_concurrent)

    def seconds_left(self, run_ids: set[str] | None = None) -> float:
        """When the jobs now queued or running (of ``run_ids``, default all) are done, by the cost model scaled
        to this machine: each job's estimate less what it has done, shared over the workers first in, first out
        (:func:`lengen_core.costs.queue_seconds`)."""
        pending = [snapshot for snapshot in self.jobs(sweeps=False) if snapshot["phase"] != "finished"]
        return queue_seconds([remaining_seconds(snapshot) for snapshot in pending if run_ids is None or snapshot["run_id"] in run_ids], self.max_concurrent)

    def place_in_queue(self, job_id: str) -> tuple[int, float] | None:
        """(place, seconds until its result) of a queued job, or None when it is not queued here.

        Place 1 starts next. The seconds come from the jobs ahead of it (the running
        ones' time still to go and the queued ones' estimates, on the workers first in,
        first out) and its own estimate, all scaled to this machine.
        """
        with self._lock:
            jobs = [self._jobs[key] for key in self._order]
        running = [job for job in jobs if job.progress.phase in ("training", "evaluating")]
        queued = [job for job in jobs if job.progress.phase == "queued" and not job.control.cancelled]  # a cancelled one will not run
        places = [job.job_id for job in queued]
        if job_id not in places:
            return None
        place = places.index(job_id) + 1
        ahead = [self._snapshot(job) for job in running + queued[:place]]
        return place, finish_times([remaining_seconds(snapshot) for snapshot in ahead], self.max_concurrent)[-1]

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
        self._forget_old_jobs()
        self._queue.put(job)

    def _forget_old_jobs(self) -> None:
        """Keep the progress of the newest :data:`KEEP_FINISHED` finished jobs only (their runs stay in the
        store): a server that runs for a term holds a bounded number of training curves in memory."""
        finished = [job_id for job_id in self._order if self._jobs[job_id].progress.phase == "finished"]
        for job_id in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._jobs[job_id]
            self._order.remove(job_id)

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
                job.settled.set()
                continue
            threads = self._share_cores(started=job)
            try:
                if job.extra is None:
                    self._run_training(job, threads)
                else:
                    self._run_sweep(job, job.extra)
            finally:
                self._share_cores(finished=job)
                job.settled.set()

    def _run_training(self, job: _Job, threads: int) -> None:
        """Execute a training job, then tell :attr:`speed` how its training and sweep compared with the estimate."""
        assert job.config is not None, "a training job carries its config"
        started = time.perf_counter()
        if self.remote is not None:
            status = self.remote.train(self.store, job.run_id, job.config, job.seed, control=job.control, progress=job.progress, budget=self.budget)
        else:
            status = execute_run(
                self.store, job.run_id, job.config, job.seed, control=job.control, progress=job.progress, checkpoint_dir=self.checkpoint_dir, budget=self.budget
            )
        wall = time.perf_counter() - started
        if status == "done" and not job.paused_once:
            ran_with = self.remote.settings.cpus_per_run if self.remote is not None else threads  # a Ray task's torch threads
            beside_others_s = 0.0 if self.remote is not None else job.seconds_shared(time.monotonic())
            observe_finished_run(
                self.speed,
                self.store,
                job.run_id,
                job.config,
                budget=self.budget,
                threads=ran_with,
                wall_seconds=wall,
                shared_fraction=beside_others_s / max(wall, 1e-9),
            )

    def _share_cores(self, *, started: _Job | None = None, finished: _Job | None = None) -> int:
        """Give every running job ``cores // running jobs`` torch threads (at least 1); returns that share. Also times
        the intervals in which each job runs beside others (:meth:`_Job.seconds_shared`)."""
        with self._lock:
            now = time.monotonic()
            if started is not None:
                self._running[started.job_id] = started.control
            if finished is not None:
                self._running.pop(finished.job_id, None)
                finished.shared_seconds, finished.shared_since = finished.seconds_shared(now), None
            share = max(1, usable_cpus() // max(1, len(self._running)))
            for control in self._running.values():
                control.share_cores(share)
            for job_id in self._running:
                job = self._jobs[job_id]
                if len(self._running) > 1 and job.shared_since is None:
                    job.shared_since = now
                elif len(self._running) <= 1 and job.shared_since is not None:
                    job.shared_seconds, job.shared_since = job.seconds_shared(now), None
        if started is not None:
            started.control.apply_thread_share()  # this worker thread's own count, before anything runs
        return share

    def thread_shares(self) -> dict[str, int | None]:
        """The torch threads each running job was given (job id -> threads)."""
        with self._lock:
            return {job_id: control.thread_share for job_id, control in self._running.items()}

    def _run_sweep(self, job: _Job, plan: ExtraSweep) -> None:
        assert job.sweep is not None, "an extra sweep's job carries its sweep's name"
        job.progress.update(phase="evaluating", status="running")
        base = part_sweep_base(job.sweep)
        outcome: tuple[int | None, str | None] | None
        try:
            if self.remote is not None:
                outcome = self.remote.sweep(self.store, plan, base, control=job.control, budget=self.budget)
            else:
                evaluation = execute_extra_sweep(
                    self.store, plan, base, budget=self.budget, on_point=job.progress.add_eval_point, should_stop=job.control.should_stop
                )
                outcome = None if evaluation is None else (evaluation.result.breakdown_length, evaluation.stopped)
        except Exception as error:  # recorded on the job and shown by the page; the stored run is untouched
            job.progress.update(phase="finished", status="failed", error=f"{type(error).__name__}: {error}")
        else:
            if outcome is None:
                job.progress.update(phase="finished", status="cancelled", error="cancelled; nothing was stored")
            else:
                job.progress.update(phase="finished", status="done", error=outcome[1], breakdown_length=outcome[0])

    def cancel(self, job_id: str) -> bool:
        """Cancel the job, or, when other requests follow it too, let go of it for one of them (it goes
        on for the rest); returns whether it was cancelled."""
        job = self._jobs.get(job_id)
        if job is None:
            return False
        with self._lock:
            if job.holders > 1:
                job.holders -= 1
                return False
        job.control.cancel()
        return True

    def pause(self, job_id: str) -> None:
        """Pause a job that only one request follows (others waiting on a shared job are not held up)."""
        job = self._jobs.get(job_id)
        if job is not None and self._pausable(job) and job.progress.phase in ("queued", "training"):
            job.paused_once = True
            job.control.pause()
            job.progress.update(paused=True)

    def _pausable(self, job: _Job) -> bool:
        """Only a job that one request follows, run here (a Ray task cannot pause), can pause."""
        return job.holders == 1 and self.remote is None

    def resume(self, job_id: str) -> None:
        job = self._jobs.get(job_id)
        if job is not None:
            job.control.resume()
            job.progress.update(paused=False)

    def progress(self, job_id: str) -> dict[str, Any] | None:
        job = self._jobs.get(job_id)
        return None if job is None else self._snapshot(job)

    def _snapshot(self, job: _Job) -> dict[str, Any]:
        """The job's progress, its estimate scaled to this machine, how many requests follow it and how long other jobs
        ran beside it."""
        snapshot = job.progress.snapshot() | {
            "job_id": job.job_id,
            "sweep": job.sweep,
            "holders": job.holders,
            "pausable": self._pausable(job),
            "shared_seconds": job.seconds_shared(time.monotonic()),  # of its run so far, the time other jobs ran beside it here
        }
        if job.estimate is not None:
            assert job.config is not None, "a job with an estimate is a training job"
            snapshot["estimated_seconds"] = self.speed.seconds(job.estimate, family_of(job.config), shared=job.shared_expected)
        return snapshot

    def jobs(self, *, run_ids: set[str] | None = None, sweeps: bool | None = None) -> list[dict[str, Any]]:
        """Snapshots of the jobs this manager has seen, oldest first (``sweeps``: only extra sweeps / only training)."""
        with self._lock:
            jobs = [self._jobs[job_id] for job_id in self._order]
        selected = []
        for job in jobs:
            if run_ids is not None and job.run_id not in run_ids:
                continue
            if sweeps is not None and (job.extra is not None) != sweeps:
                continue
            selected.append(self._snapshot(job))
        return selected

    def _all_jobs(self) -> list[_Job]:
        with self._lock:
            return list(self._jobs.values())

    def active_count(self) -> int:
        return sum(1 for job in self._all_jobs() if job.progress.phase in ("training", "evaluating"))

    def queued_count(self) -> int:
        return sum(1 for job in self._all_jobs() if job.progress.phase == "queued")

    def wait(self, job_id: str, timeout: float | None = None) -> str:
        """Block until the job finishes and its worker is done with it; returns its status (for tests and the CLI)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self._jobs.get(job_id)
            snapshot = self.progress(job_id)
            if job is None or snapshot is None:
                raise KeyError(job_id)
            if snapshot["phase"] == "finished" and job.settled.wait(None if deadline is None else max(0.0, deadline - time.monotonic())):
                status: str = snapshot["status"]
                return status
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {snapshot['phase']} after {timeout} s")
            time.sleep(0.05)

    def shutdown(self, cancel_running: bool = True) -> None:
        self._stopping.set()  # a probe still waiting for the jobs to finish is not run
        if cancel_running:
            for job in self._all_jobs():
                job.control.cancel()
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join(timeout=30)
        # the speed probe trains for a few seconds; a process that exits while it runs aborts in torch (with Ray
        # imported, its terminate handler turns the daemon thread's forced unwind into SIGABRT)
        self._warm_up_thread.join(timeout=30)
        if self.remote is not None:
            self.remote.close()
