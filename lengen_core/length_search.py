"""The breakdown found, not assumed: the length search past a sweep's last length, its limits, and the interval.

A sweep tests fixed lengths (``eval.lengths``, else up to ``eval.max_length_factor`` x the longest training
length). When a run still holds at the longest of them, its breakdown is only a bound. With ``eval.search``
(on for new runs) evaluation goes on (:func:`search`):

1. **doubling**: test twice the longest length that held, until exact match falls below the threshold or a limit
   stops it (the limit itself is tested before stopping there);
2. **bisection**: between the last length that held and the first that failed, until they are closer than
   ``eval.search_resolution`` x the length that held (default 10%; at least 1).

Each tested length joins the sweep with the configured samples, so the breakdown
(:func:`lengen_core.evaluation.breakdown_length`) is read off the points as for any sweep. The limits
(:func:`search_limit`), the smallest first: ``eval.search_max_length``; ``eval.search_max_factor`` x the longest
training length (64 by default); the task's longest length; the position
table (learned APE and randomized ids need a row per token; coupling and Abacus an id per structural position);
the largest length the cost model puts inside the evaluation's memory budget; and the whole search's estimated time
against what is left of the evaluation's time bound (:func:`search_seconds`), all computed before
the search starts. A search that stops without a failure makes the breakdown a bound, shown "≥ L" with the reason.

The breakdown's interval (:func:`breakdown_interval`): from the longest length up to which every tested point's 95%
Wilson interval lies wholly above the threshold, to the last length before the first point whose interval lies
wholly below it. A point estimate decides the breakdown; the interval says how far the samples allow it to move.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from lengen_core.config import LIMITS, RunConfig, scheme_rule_and_encoding
from lengen_core.costs import Budget, eval_length_cost
from lengen_core.data import ExampleSource
from lengen_core.errors import ConfigError
from lengen_core.evaluation import EvalPoint, SweepResult, breakdown_length, evaluate_lengths
from lengen_core.models.transformer import Transformer
from lengen_core.monotone import largest_length
from lengen_core.tasks.base import Task

INTERVAL_RULE = (
    "interval: from the longest length up to which every point's 95% Wilson interval lies wholly above the threshold "
    "to the last length before the first point whose interval lies wholly below it"
)


@dataclass(frozen=True)
class SearchLimit:
    """The longest length a search may test, and the words for why it cannot go further."""

    length: int
    reason: str


@dataclass(frozen=True)
class SearchResult:
    """The points a search added, and why it stopped without a failure (None: it found one, or it did not run)."""

    points: list[EvalPoint]
    bound_reason: str | None


def breakdown_interval(points: Sequence[EvalPoint], threshold: float, shortest_trained: int = 0) -> tuple[int | None, int | None]:
    """(low, high): the interval of the breakdown length (module docstring). ``low`` None: even the first tested
    length's interval reaches below the threshold; ``high`` None: the first tested length is wholly below it."""
    ordered = [point for point in sorted(points, key=lambda p: p.length) if point.length >= shortest_trained]
    low = high = None
    above = True
    for point in ordered:
        if point.exact_match_high < threshold:
            break
        high = point.length
        if above and point.exact_match_low >= threshold:
            low = point.length
        else:
            above = False
    return low, high


def search(
    points: Sequence[EvalPoint], measure: Callable[[int], EvalPoint | None], *, threshold: float, shortest_trained: int, limit: SearchLimit, resolution: float
) -> SearchResult:
    """Search past the longest tested length of ``points`` when the run still holds there (module docstring).

    ``measure(length)`` evaluates one length and returns its point, or None when the evaluation was stopped
    (cancel, time bound): the search then stops, and what it measured stays.
    """
    tested = sorted(points, key=lambda p: p.length)
    if not tested:
        return SearchResult([], None)
    longest = tested[-1].length
    if breakdown_length(tested, threshold, shortest_trained) != longest:
        return SearchResult([], None)  # it broke inside the sweep: the sweep found the breakdown
    added: list[EvalPoint] = []
    held, failed = longest, None
    while failed is None:
        if held >= limit.length:
            return SearchResult(added, limit.reason)
        length = min(2 * held, limit.length)
        point = measure(length)
        if point is None:
            return SearchResult(added, "the evaluation was stopped")
        added.append(point)
        if point.exact_match >= threshold:
            held = length
        else:
            failed = length
    while failed - held > max(1, int(resolution * held)):
        length = (held + failed) // 2
        point = measure(length)
        if point is None:
            return SearchResult(added, None)  # it failed at `failed`: a measurement, only coarser
        added.append(point)
        if point.exact_match >= threshold:
            held = length
        else:
            failed = length
    return SearchResult(added, None)


def searched(
    result: SweepResult,
    model: Transformer,
    config: RunConfig,
    *,
    part: str,
    budget: Budget,
    seconds_left: float,
    device: torch.device | str,
    should_stop: Callable[[], bool],
    on_point: Callable[[EvalPoint], None] | None = None,
) -> SweepResult:
    """``result`` (a sweep of ``part`` of ``config``, "" = the main task) after a length search when
    ``eval.search`` is on, with the breakdown recomputed over every point and its interval; without a search,
    the same points with their interval."""
    source = ExampleSource(config.task)
    if part:
        source = source.part(part)
    shortest = source.config.train_length_min
    bound = None
    points = list(result.points)
    complete = all(point.n == config.eval.samples_per_length for point in points)
    if config.eval.search and points and complete and not should_stop():
        start = max(point.length for point in points)
        limit = search_limit(config, part, start, budget, seconds_left)

        def measure(length: int) -> EvalPoint | None:
            if should_stop():
                return None
            cost = eval_length_cost(config, length, budget, part)
            measured = evaluate_lengths(
                model,
                source,
                [length],
                samples_per_length=config.eval.samples_per_length,
                eval_seed=config.eval.seed,
                batch_size=cost.batch_size,
                device=device,
                should_stop=should_stop,
            )
            if not measured or measured[0].n < config.eval.samples_per_length:
                return None
            if on_point is not None:
                on_point(measured[0])
            return measured[0]

        outcome = search(points, measure, threshold=config.eval.threshold, shortest_trained=shortest, limit=limit, resolution=config.eval.search_resolution)
        points = sorted(points + outcome.points, key=lambda point: point.length)
        bound = outcome.bound_reason
    breakdown = breakdown_length(points, config.eval.threshold, shortest)
    low, high = breakdown_interval(points, config.eval.threshold, shortest)
    if not config.eval.search and points and breakdown == max(point.length for point in points):
        bound = "the sweep ends there"  # a fixed sweep that held to its end
    return dataclasses.replace(result, points=points, breakdown_length=breakdown, breakdown_low=low, breakdown_high=high, bound_reason=bound)


def search_lengths(start: int, limit: int, resolution: float) -> list[int]:
    """The lengths a search from ``start`` to ``limit`` tests at most: every doubling, then the bisection's steps
    (each no longer than the limit), for :func:`search_seconds`."""
    lengths = []
    held = start
    while held < limit:
        held = min(2 * held, limit)
        lengths.append(held)
    gap, steps = limit, 0
    while gap > max(1, int(resolution * limit / 2)) and steps < 32:
        gap //= 2
        steps += 1
    return lengths + [limit] * steps


def search_seconds(config: RunConfig, part: str, start: int, limit: int, budget: Budget) -> float:
    """The cost model's time for the longest search from ``start`` up to ``limit`` (every doubling, then bisection
    steps at the limit's cost)."""
    return sum(eval_length_cost(config, length, budget, part).seconds for length in search_lengths(start, limit, config.eval.search_resolution))


def search_limit(config: RunConfig, part: str, start: int, budget: Budget, seconds_left: float) -> SearchLimit:
    """The longest length a search of ``part`` ("" = the main task) from ``start`` may test, and why (module docstring)."""
    source = ExampleSource(config.task)
    if part:
        source = source.part(part)
    task = source.task
    limits = [
        SearchLimit(LIMITS["max_eval_length"], f"evaluation tests lengths up to {LIMITS['max_eval_length']}"),
        SearchLimit(task.max_length, f"task {task.name} has lengths up to {task.max_length}"),
    ]
    if config.eval.search_max_length is not None:
        limits.append(SearchLimit(config.eval.search_max_length, f"eval.search_max_length is {config.eval.search_max_length}"))
    factor = config.eval.search_max_factor
    limits.append(
        SearchLimit(max(1, int(factor * source.config.train_length_max)), f"the search stops at {factor:g}x the training length (eval.search_max_factor)")
    )
    top = min(limit.length for limit in limits)
    limits.append(SearchLimit(largest_length(lambda n: _length_allowed(task, n), start, top), f"task {task.name}'s options allow no longer input"))
    rule, encoding = scheme_rule_and_encoding(config.positions)
    table = config.positions.max_position
    if (rule == "index" and encoding == "learned") or rule == "randomized":
        fits = largest_length(lambda n: source.max_sequence_length(n) <= table, start, top)
        limits.append(SearchLimit(fits, f"the position table ends at {table} (positions.max_position)"))
    elif rule in ("coupled", "abacus"):
        fits = largest_length(lambda n: source.max_structural_id(n, rule) + 1 <= table, start, top)
        limits.append(SearchLimit(fits, f"the position ids end at {table - 1} (positions.max_position)"))
    top = min(limit.length for limit in limits)
    in_memory = largest_length(lambda n: eval_length_cost(config, n, budget, part).peak_bytes <= budget.memory_bytes, start, top)
    limits.append(SearchLimit(in_memory, f"a longer input would not fit the memory budget ({budget.memory_gib:.1f} GiB)"))
    limit = min(limits, key=lambda item: item.length)
    length = limit.length
    while length > start and search_seconds(config, part, start, length, budget) > seconds_left:
        length = start + (length - start) // 2
    if length < limit.length:
        limit = SearchLimit(length, f"the evaluation's time bound leaves about {max(seconds_left, 0):.0f} s for the search")
    return limit


EXTRA_SWEEP_FACTORS: tuple[float, ...] = (1.5, 2.0, 3.0)  # the lengths "Sweep further" suggests, x the longest tested


def suggested_extra_lengths(config: RunConfig, part: str, longest_tested: int, budget: Budget) -> tuple[list[int], SearchLimit]:
    """Lengths to suggest for a further sweep of ``part`` ("" = the main task) of a run tested up to ``longest_tested``:
    :data:`EXTRA_SWEEP_FACTORS` times it, each within the longest length the run can be tested at (the position
    table, the task, the memory budget, the search's own factor: :func:`search_limit` without its time bound), and
    that limit. Empty when the run is already tested at the limit (the limit's reason says why)."""
    limit = search_limit(config, part, longest_tested, budget, seconds_left=math.inf)
    lengths = sorted({min(int(longest_tested * factor), limit.length) for factor in EXTRA_SWEEP_FACTORS})
    return [length for length in lengths if length > longest_tested], limit


def _length_allowed(task: Task, length: int) -> bool:
    try:
        task.check_length(length, "eval.lengths")
    except ConfigError:
        return False
    return True
