"""Sweeping a stored run again: a request checked before it runs (:func:`plan_extra_sweep`), then run on the
run's checkpoint and stored as ``extra-<n>`` (:func:`execute_extra_sweep`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack

from lengen_core.config import RunConfig, TaskConfig
from lengen_core.costs import Budget, CostEstimate, check_budget
from lengen_core.data import resolve_eval_lengths
from lengen_core.errors import ConfigError, shown
from lengen_core.evaluation import EvalPoint
from lengen_core.runs.evaluate import Evaluation, evaluate_model, record_sweep
from lengen_core.runs.loading import check_checkpoint_agrees, existing_checkpoint
from lengen_core.runs.sink import RunSink
from lengen_core.store import RunStore
from lengen_core.store.records import RunRecord
from lengen_core.sweep_names import part_sweep_base, part_sweep_name
from lengen_core.tasks.base import build_task
from lengen_core.training import load_checkpoint, resolve_device


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
    checkpoint = existing_checkpoint(store, run_id)
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


def next_sweep_name(store: RunStore, run_id: str, taken: set[str] | None = None) -> str:
    """``extra-<n>``, the first n not used by the run's stored sweeps or ``taken`` (of any of its tasks)."""
    names = {part_sweep_base(name) for name in set(store.sweeps(run_id)["sweep"]) | (taken or set())}
    number = 1
    while f"extra-{number}" in names:
        number += 1
    return f"extra-{number}"


class SweepOptions(TypedDict, total=False):
    """How an extra sweep runs: ``budget`` (memory and time per job), ``on_point`` (each length as it is
    evaluated), ``should_stop`` (asked between batches; a cancelled sweep stores nothing)."""

    budget: Budget | None
    on_point: Callable[[EvalPoint], None] | None
    should_stop: Callable[[], bool] | None


def execute_extra_sweep(store: RunStore, plan: ExtraSweep, sweep_name: str, **options: Unpack[SweepOptions]) -> Evaluation | None:
    """Evaluate the run's checkpoint at the planned lengths and store the points as sweep
    ``plan.stored_name(sweep_name)`` (``sweep_name@<task>`` for a mixture's other task).

    Returns None, storing nothing, when ``should_stop`` cancelled it.
    """
    record = store.get_run(plan.run_id)
    checkpoint = existing_checkpoint(store, plan.run_id)
    if checkpoint is None:
        raise ConfigError("run", f"run {plan.run_id} has no checkpoint on disk any more; retrain the run")
    return sweep_checkpoint(store, record, plan, checkpoint, sweep_name, **options)


def sweep_checkpoint(
    sink: RunSink,
    record: RunRecord,
    plan: ExtraSweep,
    checkpoint: str,
    sweep_name: str,
    *,
    budget: Budget | None = None,
    on_point: Callable[[EvalPoint], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Evaluation | None:
    """:func:`execute_extra_sweep` on a checkpoint file at hand, recorded through ``sink``: what a Ray worker runs
    (:mod:`lengen_core.ray_runner`), with the run's ``record`` sent along. The checkpoint must agree with the record
    (:func:`~lengen_core.runs.loading.check_checkpoint_agrees`)."""
    device = resolve_device("auto")
    model, checkpoint_config, seed = load_checkpoint(checkpoint, device=device)
    check_checkpoint_agrees(record, checkpoint_config, seed, checkpoint)
    evaluation = evaluate_model(
        model, plan.config, budget=budget, device=device, lengths=plan.lengths, task=plan.task, on_point=on_point, should_stop=should_stop
    )
    if should_stop is not None and should_stop():
        return None
    record_sweep(sink, plan.run_id, evaluation.result, plan.stored_name(sweep_name))
    return evaluation
