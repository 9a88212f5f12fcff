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

import dataclasses
import functools
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
from lengen_core.config import RunConfig, TaskConfig, check_seed
from lengen_core.costs import Budget, CostEstimate, check_budget, default_budget, estimate_cost, queue_seconds
from lengen_core.cpus import usable_cpus
from lengen_core.data import resolve_eval_lengths
from lengen_core.errors import ConfigError, shown
from lengen_core.evaluation import EvalPoint, SweepResult, sweep
from lengen_core.length_search import searched
from lengen_core.store import RunStore
from lengen_core.sweep_names import part_sweep_base, part_sweep_name
from lengen_core.tasks.base import build_task
from lengen_core.training import TrainingControl, TrainPoint, grow_vocabulary, load_checkpoint, resolve_device, save_checkpoint, train


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
        "cpu_count": usable_cpus(),
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


@dataclass(frozen=True)
class Evaluation:
    """A length sweep and, when it stopped before testing everything, why (``stopped``).

    ``result`` is the main task's; ``parts`` the other tested tasks of a mixture, by name.
    """

    result: SweepResult
    stopped: str | None
    parts: tuple[tuple[str, SweepResult], ...] = ()


def evaluate_model(
    model: Any,
    config: RunConfig,
    *,
    budget: Budget | None = None,
    device: torch.device | str = "cpu",
    lengths: list[int] | None = None,
    task: str = "",
    on_point: Callable[[EvalPoint], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Evaluation:
    """The one evaluation pipeline (a run's own sweep, an extra sweep, the CLI's ``eval``).

    Batches are sized per length by the cost model so that decoding fits the
    memory ``budget`` (:func:`lengen_core.costs.eval_batch_size`), and the sweep
    stops at its time bound (``eval.time_budget_s``, else the budget's), keeping
    what it measured: the last length then carries the ``n`` it reached.

    A mixture's own sweep (``lengths`` None) tests every task it evaluates, each
    at its own lengths (``Evaluation.parts``; ``on_point`` hears the main task's
    points only); given ``lengths`` (an extra sweep), only ``task`` of the
    mixture ("" = the main task), whose points are then ``Evaluation.result``.
    """
    budget = budget or default_budget()
    estimate = estimate_cost(config, budget, lengths=lengths, task=task)
    bound = config.eval.time_budget_s if config.eval.time_budget_s is not None else budget.eval_seconds
    deadline = time.monotonic() + bound
    timed_out = False

    def stop() -> bool:
        nonlocal timed_out
        if should_stop is not None and should_stop():
            return True
        timed_out = time.monotonic() > deadline
        return timed_out

    tasks = ([""] + [part.name for part in config.task.evaluated_parts()[1:]]) if lengths is None else [task]
    results, missing = [], []
    for index, name in enumerate(tasks):
        planned = estimate.lengths_of(name)
        result = sweep(
            model, config.task, config.eval, device=device, lengths=planned, on_point=None if index else on_point, should_stop=stop,
            batch_size=lambda length, name=name: estimate.batch_size_for(length, name), part=name,
        )
        result = searched(  # past the sweep's end when it still holds there (eval.search), and the breakdown's interval
            result, model, config, part=name, budget=budget, seconds_left=deadline - time.monotonic(), device=device,
            should_stop=stop, on_point=None if index else on_point,
        )
        results.append((name, result))
        done = [point.length for point in result.points if point.n == config.eval.samples_per_length]
        missing += [f"{name}:{length}" if name else length for length in planned if length not in done]
    stopped = None
    if timed_out:
        source = "eval.time_budget_s" if config.eval.time_budget_s is not None else "LENGEN_MAX_EVAL_S"
        stopped = f"evaluation stopped at its time bound of {bound:.0f} s ({source}); lengths not fully tested: {missing}"
    return Evaluation(results[0][1], stopped, tuple(results[1:]))


def execute_run(
    store: RunStore,
    run_id: str,
    config: RunConfig,
    seed: int,
    *,
    control: TrainingControl | None = None,
    progress: RunProgress | None = None,
    checkpoint_dir: Path | None = None,
    budget: Budget | None = None,
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

        start = parent_model(store, config) if config.train.init_from else None
        result = train(config, seed, control=control, on_log=on_log, model=start)
        store.update_progress(
            run_id, steps_done=result.steps_done, train_seconds=result.train_seconds, stop_reason=result.stop_reason, learned_step=result.learned_step
        )
        progress.update(stop_reason=result.stop_reason)
        if result.status != "done":
            return _finish(store, progress, run_id, result.status, result.error)

        progress.update(phase="evaluating")
        evaluation = evaluate_model(
            result.model, config, budget=budget, device=device, on_point=progress.add_eval_point, should_stop=control.should_stop,
        )
        if control.cancelled:
            return _finish(store, progress, run_id, "cancelled", "cancelled during evaluation")
        for task_name, part_outcome in evaluation.parts:  # a mixture's other tasks, each its own sweep
            record_sweep(store, run_id, part_outcome, part_sweep_name("default", task_name))
        record_sweep(store, run_id, evaluation.result, "default")
        checkpoint = save_checkpoint(result.model, config, seed, checkpoint_dir / f"{run_id}.safetensors")
        store.add_artifact(run_id, "checkpoint", str(checkpoint))
        return _finish(store, progress, run_id, "done", evaluation.stopped)
    except BaseException as error:  # recorded, never lost; re-raised only for interpreter exits
        message = f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=8)}"
        try:
            _finish(store, progress, run_id, "cancelled" if isinstance(error, KeyboardInterrupt) else "failed", message)
        finally:
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                raise
        return "failed"


def remaining_seconds(snapshot: dict[str, Any]) -> float:
    """A job's estimated seconds still to go (its :class:`RunProgress` snapshot): all of its estimate while queued,
    the part of its steps not done while training, a tenth while evaluating, none once finished."""
    estimate = float(snapshot.get("estimated_seconds") or 0.0)
    phase = snapshot.get("phase")
    if phase == "finished":
        return 0.0
    if phase == "training":
        return estimate * max(0.0, 1.0 - snapshot["step"] / max(snapshot["total_steps"], 1))
    if phase == "evaluating":
        return 0.1 * estimate
    return estimate


def record_sweep(store: RunStore, run_id: str, result: SweepResult, sweep_name: str) -> None:
    """Store a sweep's points, breakdown, interval and bound as sweep ``sweep_name`` of the run."""
    store.set_eval_points(
        run_id,
        [point.as_row() for point in result.points],
        breakdown_length=result.breakdown_length,
        train_length_max=result.train_length_max,
        sweep=sweep_name,
        breakdown_low=result.breakdown_low,
        breakdown_high=result.breakdown_high,
        bound_reason=result.bound_reason,
    )


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
        "in_distribution": point.in_distribution,
    }


def admit(config: RunConfig, seed: int, budget: Budget | None = None, threads: int | None = None) -> CostEstimate:
    """Everything a request must pass before anything is written: the seed, the device, the cost.

    Raises :class:`~lengen_core.errors.ConfigError` naming the field (and what
    to shrink, when the cost estimate is over ``budget``).
    """
    check_seed(seed)
    resolve_device(config.train.device)
    return check_budget(config, budget, threads=threads)


def check_parent(store: RunStore, config: RunConfig) -> None:
    """Refuse a fine-tuning run (``train.init_from``) whose parent cannot be its start: not in the
    store, not finished, without a checkpoint, or with other model or position settings."""
    parent_id = config.train.init_from
    if parent_id is None:
        return
    try:
        parent = store.get_run(parent_id)
    except KeyError:
        raise ConfigError("train.init_from", f"no run {parent_id!r} in this store") from None
    if parent.status != "done" or store.checkpoint_path(parent_id) is None:
        raise ConfigError("train.init_from", f"run {parent_id!r} is {parent.status} and has no checkpoint to start from")
    parent_config = parent.run_config
    if parent_config.model != config.model:
        raise ConfigError("train.init_from", f"run {parent_id!r} has another model ({_differing('model', config.model, parent_config.model)} differ); use its model settings")
    ours = dataclasses.replace(config.positions, train_offset_max=0)  # the offsets are training's, not the model's
    theirs = dataclasses.replace(parent_config.positions, train_offset_max=0)
    if ours != theirs:
        raise ConfigError("train.init_from", f"run {parent_id!r} has other position settings ({_differing('positions', ours, theirs)} differ)")


def _differing(section: str, ours: Any, theirs: Any) -> str:
    """``model.d_model, model.n_layers``: the fields of two config sections that differ."""
    mine, other = dataclasses.asdict(ours), dataclasses.asdict(theirs)
    return ", ".join(f"{section}.{key}" for key in sorted(mine) if mine[key] != other[key])


def parent_model(store: RunStore, config: RunConfig) -> Any:
    """The fine-tuning run's starting model: its parent's checkpoint, grown to the run's vocabulary
    (or kept at the parent's, when the parent had more rows: the upper-case letters)."""
    path = store.checkpoint_path(config.train.init_from) if config.train.init_from else None
    if path is None:
        raise ConfigError("train.init_from", f"run {config.train.init_from!r} has no checkpoint any more")
    model, _, _ = load_checkpoint(path)
    return grow_vocabulary(model, max(config.vocab_size, model.token_embedding.weight.shape[0])).train()


def create_run(
    store: RunStore,
    config: RunConfig,
    seed: int,
    *,
    name: str | None = None,
    tags: tuple[str, ...] = (),
    budget: Budget | None = None,
) -> str:
    """Record a queued run of ``config`` with ``seed`` once :func:`admit` accepts it; returns its id."""
    return create_runs(store, [(config, seed)], name=name, tags=tags, budget=budget)[0]


def create_runs(
    store: RunStore,
    cells: list[tuple[RunConfig, int]],
    *,
    name: str | None = None,
    tags: tuple[str, ...] = (),
    budget: Budget | None = None,
) -> list[str]:
    """Record queued runs of every (config, seed) in one transaction, once :func:`admit` accepts every one.

    A refused cell raises its ConfigError before anything is written.
    """
    if name is not None and (not isinstance(name, str) or len(name) > 200):
        raise ConfigError("name", "must be text of at most 200 characters")
    budget = budget or default_budget()
    specs = []
    for config, seed in cells:
        admit(config, seed, budget)
        check_parent(store, config)
        specs.append({
            "config": config.to_dict(),
            "config_id": config.config_id,
            "seed": seed,
            "code_version": code_version(),
            "environment": environment(resolve_device(config.train.device)),
            "name": name,
            "status": "queued",
            "tags": tags,
        })
    return store.create_runs(specs)


@dataclass(frozen=True)
class ExtraSweep:
    """A validated request to sweep a stored run again: its config with the new lengths, its checkpoint,
    and which task of a mixture it tests (``task``; "" = the main task)."""

    run_id: str
    config: RunConfig
    checkpoint: str
    estimate: CostEstimate
    task: str = ""

    @property
    def lengths(self) -> list[int]:
        """The lengths the sweep tests (the planned ones: the run's own when none were given)."""
        return self.estimate.lengths_of(self.task)

    @property
    def tested(self) -> TaskConfig:
        """The tested task as a single-task config (its own training range)."""
        return next(part for part in self.config.task.parts() if part.name == (self.task or self.config.task.name))

    def stored_name(self, sweep_name: str) -> str:
        """The name the sweep is stored under: ``sweep_name``, with ``@<task>`` for a mixture's other task."""
        return part_sweep_name(sweep_name, self.task)


def plan_extra_sweep(
    store: RunStore,
    run_id: str,
    lengths: list[int] | None,
    samples_per_length: int | None,
    budget: Budget | None = None,
    task: str = "",
    search: bool | None = None,
) -> ExtraSweep:
    """Check a re-evaluation of a finished run before anything runs; ConfigError naming the field otherwise.

    ``lengths`` None keeps the run's own lengths (of the tested task); ``samples_per_length`` None its own
    count; ``task`` picks which task of a mixture run is tested ("" or the main task's name: the main task);
    ``search`` None keeps the run's ``eval.search`` (off for runs stored before it), True searches past the
    sweep's last length (:mod:`lengen_core.length_search`).
    The run's stored config is the truth (the checkpoint's copy must agree with it).
    """
    record = store.get_run(run_id)
    if record.status != "done":
        raise ConfigError("run", f"run {run_id} is {record.status}; only finished (done) runs can be swept again")
    config = RunConfig.from_stored(record.config)
    part = tested_part(config, run_id, task)
    changes: dict[str, Any] = {}
    if lengths is not None:
        if not lengths:
            raise ConfigError("eval.lengths", "give at least one length, e.g. 40,60,80")
        changes["eval.lengths"] = sorted(set(lengths))
    if samples_per_length is not None:
        changes["eval.samples_per_length"] = samples_per_length
    if search is not None:
        changes["eval.search"] = search
    if changes:
        config = config.replace(**changes)  # re-checks the lengths against the task and the position table
    checkpoint = checkpoint_path(store, run_id)
    if checkpoint is None:
        raise ConfigError("run", f"run {run_id} has no checkpoint on disk to evaluate")
    planned = list(config.eval.lengths)
    if not planned:  # the tested task's own lengths (for the main task: the run's own sweep's)
        planned = resolve_eval_lengths(part, config.eval, build_task(part.name, part.options))
    name = "" if part.name == config.task.name else part.name
    estimate = check_budget(config, budget, lengths=planned, task=name)
    return ExtraSweep(run_id, config, checkpoint, estimate, name)


def tested_part(config: RunConfig, run_id: str, task: str) -> TaskConfig:
    """The task of run ``run_id`` an extra sweep tests: ``task`` ("" = the main one), refused when not the run's."""
    parts = config.task.parts()
    if not task:
        return parts[0]
    for part in parts:
        if part.name == task:
            return part
    trained = ", ".join(part.name for part in parts)
    raise ConfigError("task", f"run {run_id} trains {trained}, not {shown(task)}; sweep one of the tasks it was trained on")


def checkpoint_path(store: RunStore, run_id: str) -> str | None:
    """The run's newest checkpoint file that exists on disk, or None."""
    path = store.checkpoint_path(run_id)
    return path if path is not None and Path(path).exists() else None


def next_sweep_name(store: RunStore, run_id: str, taken: set[str] | None = None) -> str:
    """``extra-<n>``, the first n not used by the run's stored sweeps or ``taken`` (of any of its tasks)."""
    names = {part_sweep_base(name) for name in set(store.sweeps(run_id)["sweep"]) | (taken or set())}
    number = 1
    while f"extra-{number}" in names:
        number += 1
    return f"extra-{number}"


def execute_extra_sweep(
    store: RunStore,
    plan: ExtraSweep,
    sweep_name: str,
    *,
    budget: Budget | None = None,
    on_point: Callable[[EvalPoint], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Evaluation | None:
    """Evaluate the run's checkpoint at the planned lengths and store the points as sweep
    ``plan.stored_name(sweep_name)`` (``sweep_name@<task>`` for a mixture's other task).

    Returns None, storing nothing, when ``should_stop`` cancelled it.
    """
    device = resolve_device("auto")
    model, checkpoint_config, _seed = load_checkpoint(plan.checkpoint, device=device)
    trained = {key: value for key, value in checkpoint_config.to_dict().items() if key != "eval"}
    recorded = {key: value for key, value in plan.config.to_dict().items() if key != "eval"}
    if trained != recorded:
        raise ConfigError("run", f"the checkpoint of run {plan.run_id} was trained with another config than the store records")
    evaluation = evaluate_model(
        model, plan.config, budget=budget, device=device, lengths=plan.lengths, task=plan.task, on_point=on_point, should_stop=should_stop
    )
    if should_stop is not None and should_stop():
        return None
    record_sweep(store, plan.run_id, evaluation.result, plan.stored_name(sweep_name))
    return evaluation


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
        self,
        store: RunStore,
        *,
        max_concurrent: int = 1,
        max_queued: int = 64,
        checkpoint_dir: Path | None = None,
        budget: Budget | None = None,
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
                    _finish(self.store, job.progress, job.run_id, "cancelled", "cancelled while queued")
                else:
                    job.progress.update(phase="finished", status="cancelled", error="cancelled while queued")
                continue
            self._share_cores(started=job)
            try:
                if job.extra is None:
                    execute_run(
                        self.store, job.run_id, job.config, job.seed, control=job.control, progress=job.progress,
                        checkpoint_dir=self.checkpoint_dir, budget=self.budget,
                    )
                else:
                    self._run_sweep(job)
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

    def _run_sweep(self, job: _Job) -> None:
        job.progress.update(phase="evaluating", status="running")
        try:
            evaluation = execute_extra_sweep(
                self.store, job.extra, part_sweep_base(job.sweep), budget=self.budget, on_point=job.progress.add_eval_point,
                should_stop=job.control.should_stop,
            )
        except Exception as error:  # recorded on the job and shown by the page; the stored run is untouched
            job.progress.update(phase="finished", status="failed", error=f"{type(error).__name__}: {error}")
        else:
            if evaluation is None:
                job.progress.update(phase="finished", status="cancelled", error="cancelled; nothing was stored")
            else:
                job.progress.update(
                    phase="finished", status="done", error=evaluation.stopped, breakdown_length=evaluation.result.breakdown_length
                )

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
        return None if job is None else job.progress.snapshot() | {"job_id": job.job_id, "sweep": job.sweep}

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
            selected.append(self.progress(job_id))
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
                return snapshot["status"]
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
