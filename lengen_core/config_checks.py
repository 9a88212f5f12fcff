"""Compatibility checks: task x position scheme x lengths combinations that cannot work.

Each check refuses a combination with a :class:`~lengen_core.errors.ConfigError` naming
the field and the limit. :func:`lengen_core.config.check_compatible` runs them, in this
order, whenever a :class:`~lengen_core.config.RunConfig` is made: :func:`check_packing`,
then for every task of the run :func:`check_scheme_fits_task` and
:func:`check_position_range`, then :func:`check_training_rows`.

They take plain values and :class:`~lengen_core.example_format.ExampleFormat` (a task
in the run's data format), never config types, so this module sits below
:mod:`lengen_core.config` and config imports it at the top: no import cycle, not even
a hidden one. Below it are only the tasks, the example format and the scheme table.
"""

from __future__ import annotations

from collections.abc import Sequence

from lengen_core.errors import ConfigError
from lengen_core.example_format import ExampleFormat
from lengen_core.scheme_table import needs_position_table, rule_and_encoding
from lengen_core.tasks.base import Task


def check_packing(packing: str, attention: str) -> None:
    """``train.packing = on`` needs dense attention."""
    if packing == "on" and attention != "dense":
        raise ConfigError("train.packing", "packing needs model.attention = dense: HSA's chunks and its local mixer run along the whole row; use auto or off")


def check_scheme_fits_task(task: Task, scheme: str, base_encoding: str) -> None:
    """The scheme's id rule needs what the task defines: a coupling rule, one inference can follow, or numbers."""
    rule, _encoding = rule_and_encoding(scheme, base_encoding)
    if rule == "coupled" and not task.has_coupling:
        raise ConfigError("positions.scheme", f"task {task.name!r} defines no position-coupling rule; pick another scheme")
    if scheme == "coupled" and task.coupling_needs_answer:
        raise ConfigError(
            "positions.scheme",
            f"task {task.name!r} couples each answer token to where it comes from in the input, which inference "
            "cannot know in advance (the ids would give the answer away); use predictive_coupled, whose model predicts them",
        )
    if rule == "abacus" and not task.has_significance:
        raise ConfigError("positions.scheme", f"task {task.name!r} has no numbers; Abacus embeddings index digits")


FALLBACK_SCHEME = "rope"  # our choice: the commonest scheme of the papers, and one every task can take


def fitting_scheme(task: Task, scheme: str, base_encoding: str) -> str:
    """``scheme`` if :func:`check_scheme_fits_task` accepts it for ``task``, else the scheme to move to: predictive
    coupling where only the answer-dependent ids are the trouble, :data:`FALLBACK_SCHEME` otherwise (the Train page
    moves a newly picked task's scheme there instead of showing an error the user did not cause)."""
    try:
        check_scheme_fits_task(task, scheme, base_encoding)
    except ConfigError:
        return "predictive_coupled" if scheme == "coupled" and task.coupling_needs_answer else FALLBACK_SCHEME
    return scheme


def check_position_range(example_format: ExampleFormat, longest: int, scheme: str, base_encoding: str, max_position: int) -> None:
    """Examples of length ``longest`` (the longest trained or tested) fit in ``positions.max_position``."""
    rule, encoding = rule_and_encoding(scheme, base_encoding)
    if needs_position_table(rule, encoding):
        needed = example_format.max_sequence_length(longest)
        if needed > max_position:
            raise ConfigError("positions.max_position", f"length {longest} needs {needed} positions but positions.max_position is {max_position}")
    if rule in ("coupled", "abacus"):
        needed = example_format.max_structural_id(longest, rule) + 1
        if needed > max_position:
            raise ConfigError("positions.max_position", f"length {longest} needs position ids up to {needed - 1} but positions.max_position is {max_position}")


def longest_training_example(parts: Sequence[tuple[ExampleFormat, int]]) -> int:
    """Upper bound of ``len(prompt + answer)`` of one training example; ``parts``: (format, train_length_max) of every task."""
    return max(example_format.max_sequence_length(train_length_max) for example_format, train_length_max in parts)


def check_training_rows(parts: Sequence[tuple[ExampleFormat, int]], distractor_examples: int, scheme: str, base_encoding: str, max_position: int) -> None:
    """A training row of ``distractor_examples + 1`` of the longest examples fits in a position table or range."""
    if not needs_position_table(*rule_and_encoding(scheme, base_encoding)):
        return
    rows = distractor_examples + 1  # a training row holds up to this many examples
    needed = rows * longest_training_example(parts)
    if needed > max_position:
        raise ConfigError(
            "positions.max_position",
            f"training rows of up to {rows} examples (train.distractor_examples = {rows - 1}) need {needed} positions "
            f"but positions.max_position is {max_position}",
        )
