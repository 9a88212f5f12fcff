"""Whether a run has learned its training range, measured while it trains (``train.stop_when_learned``).

A check decodes a fixed held-out set of examples at the run's training lengths
greedily, exactly as the length sweep does (:func:`lengen_core.evaluation.greedy_decode`,
scored by :func:`lengen_core.evaluation.score`), and takes the exact match of each
length. The range counts as learned at a check when every checked length of every
task the run trains on is at or above ``train.learned_threshold`` (default
``eval.threshold``: the sweep's own definition of "learned its range", a
breakdown length at or past the longest training length, on fewer examples;
1.0 is Huang et al.'s rule).

Our choices, with their reasons:

- the examples come from their own stream (``("learned-check", seed, task, length)``),
  which neither training nor the length sweep draws from, and are drawn once per run:
  every check scores the same examples, so two checks differ only by the model;
- :data:`CHECK_SAMPLES_PER_LENGTH` examples at each of up to :data:`MAX_CHECK_LENGTHS`
  lengths spread over the training range (both ends always): a few hundred short
  examples, decoded in one batch per length, so a check costs about as much as a
  handful of training steps (``bench/bench_learned_check.py``, docs/benchmarks.md);
- a mixture is learned when each of its tasks is, the partners included: a partner
  task that was never learned has nothing to transfer (Cai et al. 2025);
- ``train.learned_checks`` consecutive passing checks are needed, so one lucky check
  on 32 examples does not end a run that is still at 0.9 (Huang et al. stop at 100%
  of 2,000 examples in distribution; ``algorithmic/language_modeling_train.py``).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import torch

from lengen_core.config import RunConfig, TaskConfig
from lengen_core.data import ExampleSource, stream_rng, stream_seed
from lengen_core.evaluation import greedy_decode, score
from lengen_core.models.transformer import Transformer
from lengen_core.tasks.base import Example

CHECK_SAMPLES_PER_LENGTH = 32
MAX_CHECK_LENGTHS = 8


def check_lengths(task_config: TaskConfig, most: int = MAX_CHECK_LENGTHS) -> list[int]:
    """Up to ``most`` lengths spread evenly over ``train_length_min..train_length_max``, both ends included."""
    low, high = task_config.train_length_min, task_config.train_length_max
    if high - low + 1 <= most:
        return list(range(low, high + 1))
    return sorted({round(low + (high - low) * index / (most - 1)) for index in range(most)})


@dataclass(frozen=True)
class CheckResult:
    """One check: the worst checked length's exact match, where it was, and whether the range counts as learned."""

    step: int
    exact_match: float  # the lowest exact match over every checked (task, length)
    worst_task: str
    worst_length: int
    passed: bool
    examples: int  # examples decoded in this check
    seconds: float


@dataclass(frozen=True)
class _CheckSet:
    task: str
    length: int
    source: ExampleSource
    examples: list[Example]


class LearnedCheck:
    """The held-out examples of one run and the checks made on them (:meth:`measure`), with the stop rule (:meth:`learned`)."""

    def __init__(self, config: RunConfig, seed: int) -> None:
        threshold = config.train.learned_threshold
        self.threshold = config.eval.threshold if threshold is None else threshold
        self.needed = config.train.learned_checks
        self.sets: list[_CheckSet] = []
        source = ExampleSource(config.task)
        for part in config.task.parts():
            part_source = source.part(part.name)
            for length in check_lengths(part):
                rng = stream_rng("learned-check", seed, part.name, length)
                examples = part_source.sample_many(rng, length, CHECK_SAMPLES_PER_LENGTH)
                if part_source.member_prefixes:  # few strings at a length: each is scored once, as the sweep does
                    examples = list({example.tokens: example for example in examples}.values())
                self.sets.append(_CheckSet(part.name, length, part_source, examples))
        self.results: list[CheckResult] = []

    @property
    def examples(self) -> int:
        return sum(len(check_set.examples) for check_set in self.sets)

    @torch.no_grad()
    def measure(self, model: Transformer, step: int, device: torch.device | str = "cpu") -> CheckResult:
        """Decode every held-out example greedily with ``model`` and record the check (the model's mode is restored)."""
        started = time.perf_counter()
        was_training = model.training
        worst: tuple[float, str, int] | None = None
        try:
            for check_set in self.sets:
                seed = stream_seed("learned-check-ids", check_set.task, check_set.length)
                decoded = greedy_decode(model, check_set.examples, device=device, seed=seed)
                prompts = decoded.prompt_predictions if check_set.source.scores_prompt_labels else None
                correct, _ = score(check_set.source.task, check_set.examples, decoded.answers, prompts)
                exact_match = correct / len(check_set.examples)
                if worst is None or exact_match < worst[0]:
                    worst = (exact_match, check_set.task, check_set.length)
        finally:
            model.train(was_training)
        assert worst is not None  # every task has at least one training length
        result = CheckResult(
            step=step,
            exact_match=worst[0],
            worst_task=worst[1],
            worst_length=worst[2],
            passed=worst[0] >= self.threshold,
            examples=self.examples,
            seconds=time.perf_counter() - started,
        )
        self.results.append(result)
        return result

    def learned(self) -> bool:
        """Whether the last ``train.learned_checks`` checks all passed."""
        recent = self.results[-self.needed :]
        return len(recent) == self.needed and all(result.passed for result in recent)

    def first_learned_step(self) -> int | None:
        """The step of the first check of the passing streak that stopped the run (None if it did not stop)."""
        if not self.learned():
            return None
        return self.results[-self.needed].step


def stop_reason(config: RunConfig, steps_done: int, check: LearnedCheck | None, out_of_time: bool) -> str:
    """Why training ended, in one line: learned (with the step), or which budget was spent, with the last check's
    exact match in distribution when the run was checked."""
    budget = f"time budget of {config.train.time_budget_s:g} s" if out_of_time else f"step budget of {config.train.steps:,} steps"
    if check is None:
        return f"{budget} spent"
    if check.learned():
        streak = check.results[-check.needed :]
        worst = min(result.exact_match for result in streak)
        return (
            f"learned at step {streak[0].step:,}: exact match {worst:.2f} or more at every training length "
            f"on {check.needed} check{'s' if check.needed > 1 else ''} in a row (stopped at step {steps_done:,})"
        )
    if not check.results:
        return f"{budget} spent before the first check (every {config.train.learned_check_every:,} steps)"
    last = check.results[-1]
    if last.passed:  # the range was learned at the end, but not for the checks in a row that stop a run
        passing = len(list(itertools.takewhile(lambda result: result.passed, reversed(check.results))))
        return (
            f"{budget} spent: the last {passing} learned check{'s' if passing > 1 else ''} gave {last.exact_match:.2f} or more at "
            f"every training length, at or above the threshold {check.threshold:.2f}, but a run stops after {check.needed} in a row"
        )
    where = f"{last.worst_task} at {last.worst_length}" if len(config.task.parts()) > 1 else f"length {last.worst_length}"
    return (
        f"{budget} spent: the last learned check gave {last.exact_match:.2f} in distribution ({where}) at step {last.step:,}, "
        f"below its stopping threshold {check.threshold:.2f}"
    )
