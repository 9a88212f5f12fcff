"""One task's examples in a run's data format, from plain values (no config types).

A run writes a task's examples in the format its config chooses: index hints
(:mod:`lengen_core.tasks.index_hints`), a label for every prefix or Huang et al.'s
member prefixes (``task.supervision``), and a mixture's task marker after ``<bos>``
(:func:`with_task_marker`). :class:`ExampleFormat` is that format for one task: it
samples formatted examples and bounds their length and structural ids;
:func:`sweep_lengths` gives the lengths a sweep tests (index hints cap them).

It sits below :mod:`lengen_core.config`, whose compatibility checks
(:mod:`lengen_core.config_checks`) need these bounds while a config is made, and
below :mod:`lengen_core.data`, whose :class:`~lengen_core.data.ExampleSource` is a
configured task's format plus its mixture and training draws.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lengen_core.streams import stream_rng
from lengen_core.tasks.base import Example, Task, build_task
from lengen_core.tasks.index_hints import check_index_hints, max_hinted_length, with_index_hints
from lengen_core.vocab import task_marker_id


@dataclass(frozen=True)
class ExampleFormat:
    """How one task's examples are written: the task, index hints, supervision, the marker (None: no marker)."""

    task: Task
    index_hints: bool = False
    supervision: str = "answer"
    marker_id: int | None = None

    @classmethod
    def build(cls, name: str, options: Mapping[str, Any], *, index_hints: bool, supervision: str, marker: bool, train_length_max: int) -> ExampleFormat:
        """The format of task ``name``; index hints are checked at ``train_length_max`` (a ConfigError on ``task.index_hints``)."""
        task = build_task(name, options)
        marker_id = task_marker_id(name) if marker else None
        if index_hints:
            check_index_hints(task, train_length_max)
        return cls(task, index_hints, supervision, marker_id)

    @property
    def every_prefix(self) -> bool:
        """Whether training targets every prefix's label too (``task.supervision`` other than ``answer``)."""
        return self.supervision != "answer"

    @property
    def member_prefixes(self) -> bool:
        """Huang et al.'s strings (prefixes of members only) and exact match over every prefix's label."""
        return self.supervision == "member_prefixes"

    @property
    def scores_prompt_labels(self) -> bool:
        """Whether a test example is right only when every labelled prompt position is too: Huang et al.'s format,
        and tasks whose examples carry their own labels in the prompt (Task.scores_prefix_targets: the dense hint)."""
        return self.member_prefixes or type(self.task).scores_prefix_targets

    def format(self, example: Example) -> Example:
        """A plain example of the task, written in this format."""
        if self.every_prefix:
            example = self.task.with_prefix_targets(example, huang_labels=self.member_prefixes)
        if self.index_hints:
            example = with_index_hints(example)
        return example if self.marker_id is None else with_task_marker(example, self.marker_id)

    def sample(self, rng: random.Random, length: int) -> Example:
        if self.member_prefixes:
            return self.format(self.task.sample_member_prefix(rng, length))
        return self.format(self.task.sample(rng, length))

    def sample_many(self, rng: random.Random, length: int, count: int) -> list[Example]:
        return [self.sample(rng, length) for _ in range(count)]

    def max_sequence_length(self, length: int) -> int:
        """Upper bound of ``len(prompt + answer)`` at this length (hints can double it; a marker adds one)."""
        bound = self.task.max_sequence_length(length)
        return (2 * bound if self.index_hints else bound) + (self.marker_id is not None)

    def max_structural_id(self, length: int, rule: str, samples: int = 8) -> int:
        """Largest coupled id / digit significance seen in a few examples at ``length``."""
        rng = stream_rng("structural-probe", self.task.name, length)
        largest = 0
        for example in self.sample_many(rng, length, samples):
            values: Sequence[int] | None = example.coupled_ids if rule == "coupled" else example.digit_significance
            if values:
                largest = max(largest, max(values))
        return largest


def sweep_lengths(task: Task, train_length_max: int, index_hints: bool, lengths: Sequence[int], max_length_factor: float, n_lengths: int) -> list[int]:
    """The lengths a sweep tests: explicit ``lengths`` (``eval.lengths``), else ``n_lengths`` evenly spread
    from the task's smallest length to ``max_length_factor`` x the longest training length
    (always including the longest training length); with index hints, only lengths the hints can write."""
    if lengths:
        tested = sorted(set(lengths))
    else:
        top = max(task.min_length, round(max_length_factor * train_length_max))
        low = task.min_length
        count = n_lengths
        tested = sorted({round(low + (top - low) * i / max(count - 1, 1)) for i in range(count)} | {train_length_max})
    if index_hints and not lengths:
        tested = [length for length in tested if length <= max_hinted_length(task)]  # one hint token per index
    for length in tested:
        task.check_length(length, "eval.lengths")
    return tested


def with_task_marker(example: Example, marker_id: int) -> Example:
    """``example`` with its task's marker token right after ``<bos>`` (mixture runs).

    The marker is structure, like ``<bos>``: segment 0, coupled id 0 (uncoupled),
    digit significance 0, no prefix target, and the part (example) of the token it follows;
    a restricted example's long-instance indices move up by one after it, as every index does.
    """

    def inserted(values: tuple[int, ...], value: int | None = 0) -> tuple[int, ...]:
        return values[:1] + (values[0] if value is None else value,) + values[1:]

    def inserted_optional(values: tuple[int, ...] | None, value: int | None = 0) -> tuple[int, ...] | None:
        return None if values is None else inserted(values, value)

    return dataclasses.replace(
        example,
        prompt=example.prompt[:1] + (marker_id,) + example.prompt[1:],
        segment_ids=inserted(example.segment_ids),
        coupled_ids=inserted_optional(example.coupled_ids),
        digit_significance=inserted_optional(example.digit_significance),
        part_ids=inserted_optional(example.part_ids, None),
        prefix_targets=inserted_optional(example.prefix_targets),
        source_index=None
        if example.source_index is None
        else (example.source_index[0], example.source_index[0] + 1) + tuple(value + 1 for value in example.source_index[1:]),
    )
