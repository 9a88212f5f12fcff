"""Where examples come from: a task, its data format, and seeded random streams.

Training and evaluation draw from *different* streams (:func:`stream_rng`), so an
evaluation example is never one training could have drawn from the same seed:
training uses ``("train", seed)``, evaluation ``("eval", eval_seed, task, length)``.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lengen_core.tasks.base import Example, Task, build_task

if TYPE_CHECKING:  # config imports this module to validate a config; types only here, no cycle
    from lengen_core.config import EvalConfig, TaskConfig


def stream_seed(*parts: object) -> int:
    """A stable 63-bit seed from any parts (``stream_seed("train", 3)``)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def stream_rng(*parts: object) -> random.Random:
    return random.Random(stream_seed(*parts))


class ExampleSource:
    """Samples examples of one configured task (index hints applied when asked for)."""

    def __init__(self, task_config: TaskConfig) -> None:
        self.config = task_config
        self.task: Task = build_task(task_config.name, task_config.options)
        self.index_hints = task_config.index_hints
        if self.index_hints:
            from lengen_core.tasks.index_hints import check_index_hints

            check_index_hints(self.task, task_config.train_length_max)

    def _format(self, example: Example) -> Example:
        if not self.index_hints:
            return example
        from lengen_core.tasks.index_hints import with_index_hints

        return with_index_hints(example)

    def sample(self, rng: random.Random, length: int) -> Example:
        return self._format(self.task.sample(rng, length))

    def sample_many(self, rng: random.Random, length: int, count: int) -> list[Example]:
        return [self.sample(rng, length) for _ in range(count)]

    def sample_training(self, rng: random.Random, count: int, max_distractors: int = 0) -> list[Example]:
        """``count`` examples with lengths uniform over the training range.

        With ``max_distractors = k > 0`` each is preceded by 0..k (uniformly) more
        such examples (:func:`with_distractors`); k = 0 draws exactly what it always did.
        """
        low, high = self.config.train_length_min, self.config.train_length_max

        def draw() -> Example:
            return self.sample(rng, rng.randint(low, high))

        examples = []
        for _ in range(count):
            example = draw()
            if max_distractors:
                example = with_distractors(example, [draw() for _ in range(rng.randint(0, max_distractors))])
            examples.append(example)
        return examples

    def max_sequence_length(self, length: int) -> int:
        """Upper bound of ``len(prompt + answer)`` at this length (hints can double it)."""
        bound = self.task.max_sequence_length(length)
        return 2 * bound if self.index_hints else bound

    def max_structural_id(self, length: int, rule: str, samples: int = 8) -> int:
        """Largest coupled id / digit significance seen in a few examples at ``length``."""
        rng = stream_rng("structural-probe", self.task.name, length)
        largest = 0
        for example in self.sample_many(rng, length, samples):
            values: Sequence[int] | None = example.coupled_ids if rule == "coupled" else example.digit_significance
            if values:
                largest = max(largest, max(values))
        return largest


def resolve_eval_lengths(task_config: TaskConfig, eval_config: EvalConfig, task: Task) -> list[int]:
    """The lengths a sweep tests: explicit ``eval.lengths``, else ``n_lengths`` evenly spread
    from the task's smallest length to ``max_length_factor`` x the longest training length
    (always including the longest training length)."""
    if eval_config.lengths:
        lengths = sorted(set(eval_config.lengths))
    else:
        top = max(task.min_length, round(eval_config.max_length_factor * task_config.train_length_max))
        low = task.min_length
        count = eval_config.n_lengths
        lengths = sorted({round(low + (top - low) * i / max(count - 1, 1)) for i in range(count)} | {task_config.train_length_max})
    if task_config.index_hints and not eval_config.lengths:
        from lengen_core.tasks.index_hints import max_hinted_length

        lengths = [length for length in lengths if length <= max_hinted_length(task)]  # one hint token per index
    for length in lengths:
        task.check_length(length, "eval.lengths")
    return lengths


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
    return Example(
        prompt=tuple(token for part in distractors for token in part.tokens) + example.prompt,
        answer=example.answer,
        length=example.length,
        segment_ids=joined("segment_ids"),
        coupled_ids=joined("coupled_ids"),
        digit_significance=joined("digit_significance"),
        meta={**example.meta, "distractors": len(distractors)},
        part_ids=part_ids,
    )
