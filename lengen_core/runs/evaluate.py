"""The one evaluation pipeline: a trained model's length sweep (and its search past the sweep's end), and how a
sweep is recorded with its run."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from lengen_core.config import RunConfig
from lengen_core.costs import Budget, default_budget, estimate_cost
from lengen_core.evaluation import EvalPoint, SweepResult, sweep
from lengen_core.length_search import searched
from lengen_core.runs.sink import RunSink


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
            model,
            config.task,
            config.eval,
            device=device,
            lengths=planned,
            on_point=None if index else on_point,
            should_stop=stop,
            batch_size=functools.partial(estimate.batch_size_for, task=name),
            part=name,
        )
        result = searched(  # past the sweep's end when it still holds there (eval.search), and the breakdown's interval
            result,
            model,
            config,
            part=name,
            budget=budget,
            seconds_left=deadline - time.monotonic(),
            device=device,
            should_stop=stop,
            on_point=None if index else on_point,
        )
        results.append((name, result))
        done = [point.length for point in result.points if point.n == config.eval.samples_per_length]
        missing += [f"{name}:{length}" if name else length for length in planned if length not in done]
    stopped = None
    if timed_out:
        source = "eval.time_budget_s" if config.eval.time_budget_s is not None else "LENGEN_MAX_EVAL_S"
        stopped = f"evaluation stopped at its time bound of {bound:.0f} s ({source}); lengths not fully tested: {missing}"
    return Evaluation(results[0][1], stopped, tuple(results[1:]))


def record_sweep(store: RunSink, run_id: str, result: SweepResult, sweep_name: str) -> None:
    """Store a sweep's points, breakdown, interval and bound as sweep ``sweep_name`` of the run."""
    store.set_eval_points(run_id, [point.as_row() for point in result.points], result.breakdown, sweep=sweep_name)
