"""Where examples come from: a configured task, its data format, and seeded random streams.

:class:`ExampleSource` is one :class:`~lengen_core.config.TaskConfig`'s examples: its
task in the run's data format (:class:`~lengen_core.example_format.ExampleFormat`),
and for a mixture every task's source and the training draws across them.
Training and evaluation draw from *different* streams (:func:`stream_rng`), so an
evaluation example is never one training could have drawn from the same seed:
training uses ``("train", seed)``, evaluation ``("eval", eval_seed, task, length)``.

Above :mod:`lengen_core.config` (it takes config types); what config itself needs
of examples to validate a config is in :mod:`lengen_core.example_format`, below it.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from typing import Any

from lengen_core.config import EvalConfig, TaskConfig
from lengen_core.example_format import ExampleFormat, sweep_lengths, with_task_marker
from lengen_core.streams import stream_rng, stream_seed
from lengen_core.tasks.base import Example, Task
from lengen_core.vocab import VOCAB

__all__ = ["ExampleSource", "longest_training_example", "resolve_eval_lengths", "stream_rng", "stream_seed", "with_distractors", "with_task_marker"]


class ExampleSource:
    """Samples examples of one configured task (index hints applied when asked for).

    For a multi-task config (``task.mixture``) it samples the main task, and
    :meth:`sample_training` draws from the whole mixture; :meth:`part` is the
    source of any one task of it. Every example of a mixture carries its task's
    marker (``marker``, default: whether the config is a mixture).
    """

    def __init__(self, task_config: TaskConfig, marker: bool | None = None) -> None:
        self.config = task_config
        self.format: ExampleFormat = task_config.example_format(marker)  # checks index hints at the training length
        self.task: Task = self.format.task
        self.index_hints = self.format.index_hints
        self.every_prefix = self.format.every_prefix  # training targets at every prefix too (TaskConfig)
        # member_prefixes: Huang et al.'s strings (prefixes of members only) and exact match over every prefix's label
        self.member_prefixes = self.format.member_prefixes
        # whether a test example is right only when every labelled prompt position is too: Huang et al.'s format, and
        # tasks whose examples carry their own labels in the prompt (Task.scores_prefix_targets: the dense hint)
        self.scores_prompt_labels = self.format.scores_prompt_labels
        self.marker_id: int | None = self.format.marker_id
        self.mixture: list[tuple[ExampleSource, float]] = []  # (source, weight) of every task, the main one first
        if task_config.is_mixture:
            main, *others = task_config.parts()
            self.mixture = [(ExampleSource(main, marker=True), 1.0)] + [
                (ExampleSource(part, marker=True), entry.weight) for part, entry in zip(others, task_config.mixture)
            ]

    def part(self, task_name: str) -> ExampleSource:
        """The source of one task of the mixture (the main task's is this one's own examples)."""
        for source, _ in self.mixture:
            if source.task.name == task_name:
                return source
        if task_name == self.task.name:
            return self
        raise KeyError(f"task {task_name!r} is not in this run")

    def sample(self, rng: random.Random, length: int) -> Example:
        return self.format.sample(rng, length)

    def sample_many(self, rng: random.Random, length: int, count: int) -> list[Example]:
        return [self.sample(rng, length) for _ in range(count)]

    def sample_training(self, rng: random.Random, count: int, max_distractors: int = 0) -> list[Example]:
        """``count`` examples with lengths uniform over the training range.

        With ``max_distractors = k > 0`` each is preceded by 0..k (uniformly) more
        such examples (:func:`with_distractors`); k = 0 draws exactly what it always did.
        """
        low, high = self.config.train_length_min, self.config.train_length_max

        def draw() -> Example:
            if self.mixture:
                return self._draw_from_mixture(rng)
            return self.sample(rng, rng.randint(low, high))

        examples = []
        for _ in range(count):
            example = draw()
            if max_distractors:
                example = with_distractors(example, [draw() for _ in range(rng.randint(0, max_distractors))])
            examples.append(example)
        return examples

    def _draw_from_mixture(self, rng: random.Random) -> Example:
        """A task by weight, then a length uniform over that task's own training range.

        Our choice: the task is drawn per example, so a batch mixes tasks. Cai et al.
        2025 draw a task, then a length, for each sample the same way; the weights
        (all 1.0 by default) make it uniform over tasks as theirs is.
        """
        sources = [source for source, _ in self.mixture]
        source = rng.choices(sources, weights=[weight for _, weight in self.mixture])[0]
        return source.sample(rng, rng.randint(source.config.train_length_min, source.config.train_length_max))

    def max_sequence_length(self, length: int) -> int:
        """Upper bound of ``len(prompt + answer)`` at this length (hints can double it; a marker adds one)."""
        return self.format.max_sequence_length(length)

    def max_structural_id(self, length: int, rule: str, samples: int = 8) -> int:
        """Largest coupled id / digit significance seen in a few examples at ``length``."""
        return self.format.max_structural_id(length, rule, samples)


def example_previews(task_config: TaskConfig, count: int = 5, seed: int = 0) -> list[dict[str, Any]]:
    """``count`` examples of the main task spread over its training range, as text (``length``, ``input``,
    ``answer``): what the Train page shows beside a task as it is set up, a custom one above all."""
    task_config = dataclasses.replace(task_config, mixture=())
    source = ExampleSource(task_config, marker=False)
    low, high = task_config.train_length_min, task_config.train_length_max
    lengths = sorted({low + round(step * (high - low) / max(count - 1, 1)) for step in range(count)})
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        example = source.sample(rng, lengths[index % len(lengths)])
        rows.append({"length": example.length, "input": VOCAB.render(example.prompt[1:]), "answer": VOCAB.render(example.answer_without_eos)})
    return rows


def longest_training_example(task_config: TaskConfig) -> int:
    """Upper bound of ``len(prompt + answer)`` of one training example, over every task of the run."""
    marker = task_config.is_mixture
    return max(ExampleSource(part, marker=marker).max_sequence_length(part.train_length_max) for part in task_config.parts())


def resolve_eval_lengths(task_config: TaskConfig, eval_config: EvalConfig, task: Task) -> list[int]:
    """The lengths a sweep tests: explicit ``eval.lengths``, else ``n_lengths`` evenly spread
    from the task's smallest length to ``max_length_factor`` x the longest training length
    (always including the longest training length); see :func:`lengen_core.example_format.sweep_lengths`."""
    return sweep_lengths(task, task_config.train_length_max, task_config.index_hints, eval_config.lengths, eval_config.max_length_factor, eval_config.n_lengths)


def with_distractors(example: Example, distractors: Sequence[Example]) -> Example:
    """``example`` with whole ``distractors`` before it, as one training row (``train.distractor_examples``).

    The distractors' tokens (each with its own ``<bos>`` and answer) become the
    start of the prompt, so only ``example``'s answer is scored. Annotations are
    concatenated; ``part_ids`` marks the tokens of the i-th distractor with
    ``len(distractors) - i`` (counting back from ``example``, which is 0), so the
    position rules can give every example in the row its own training offset.
    Coupled ids and digit significance are kept per example (each restarts at its
    own 1); a task that has them must have them on every example.
    """
    if not distractors:
        return example
    parts = [*distractors, example]

    def joined(name: str) -> tuple[int, ...] | None:
        values = [getattr(part, name) for part in parts]
        return None if any(value is None for value in values) else tuple(v for value in values for v in value)

    part_ids = tuple(len(parts) - 1 - index for index, part in enumerate(parts) for _ in part.tokens)
    source_index = None  # a restricted part keeps its long-instance indices, shifted to where the part starts in the row
    if any(part.source_index is not None for part in parts):
        starts = [sum(len(earlier.tokens) for earlier in parts[:index]) for index in range(len(parts))]
        source_index = tuple(start + value for part, start in zip(parts, starts) for value in (part.source_index or range(len(part.tokens))))
    prefix_targets = None  # the distractors' prefixes are not scored, as their answers are not
    if example.prefix_targets is not None:
        prefix_targets = (0,) * sum(len(part.tokens) for part in distractors) + example.prefix_targets
    return Example(
        prompt=tuple(token for part in distractors for token in part.tokens) + example.prompt,
        answer=example.answer,
        length=example.length,
        segment_ids=tuple(value for part in parts for value in part.segment_ids),
        coupled_ids=joined("coupled_ids"),
        digit_significance=joined("digit_significance"),
        meta={**example.meta, "distractors": len(distractors)},
        part_ids=part_ids,
        prefix_targets=prefix_targets,
        source_index=source_index,
    )
