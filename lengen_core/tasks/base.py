"""The Sample contract every task honours, and the task registry.

An :class:`Example` is one prompt/answer pair plus the structural facts that
position schemes need. Token ids come from :mod:`lengen_core.vocab`.

The full sequence a model sees is ``prompt + answer``. ``prompt`` starts with
``<bos>``; ``answer`` ends with ``<eos>``. Loss is taken on the answer tokens only
(including the final ``<eos>``): see :func:`lengen_core.batching.collate`.

Per-token annotations (each a tuple as long as ``prompt + answer``):

- ``coupled_ids``: the task's position-coupling rule (Cho et al. 2024) before any
  random offset. Tokens that play the same structural role share an id (e.g. the
  digits of equal significance in ``a + b = c``); ids are >= 1 for coupled tokens
  and 0 for tokens the rule leaves uncoupled. ``None`` when the task defines no
  coupling rule (the coupled schemes then refuse the task with a ConfigError).
- ``digit_significance``: for every digit that belongs to a number, its
  1-based significance (1 = units digit), 0 for any other token. This is what
  Abacus embeddings (McLeish et al. 2024) index. ``None`` for non-numeric tasks.
- ``segment_ids``: which part of the input a token belongs to (0 = separators /
  special tokens, 1..n = the n-th operand or input segment, and ``ANSWER_SEGMENT``
  for answer tokens). Always present.
- ``prefix_targets``: with ``task.supervision = every_prefix``, the token the model's
  output at each prompt token is trained to emit besides the answer (a recognition
  task's label of the prefix ending at that token: ``<yes>`` or ``<no>``), 0 where
  there is none. ``None`` otherwise: the answer alone is scored.

A task's checker ``is_correct(example, predicted_answer)`` compares a predicted
answer (token ids, generated greedily, cut at the first ``<eos>`` and without it)
with the truth exactly.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from lengen_core.errors import ConfigError, shown
from lengen_core.tasks.theory import TaskTheory
from lengen_core.vocab import EOS_ID

ANSWER_SEGMENT = 99


@dataclass(frozen=True)
class Example:
    """One prompt/answer pair with its structural annotations (see module doc)."""

    prompt: tuple[int, ...]
    answer: tuple[int, ...]
    length: int
    segment_ids: tuple[int, ...]
    coupled_ids: tuple[int, ...] | None = None
    digit_significance: tuple[int, ...] | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    part_ids: tuple[int, ...] | None = None  # training rows with distractor examples: which example each token is from (lengen_core.data.with_distractors)
    prefix_targets: tuple[int, ...] | None = None  # task.supervision = every_prefix: the label each prompt token's output is trained to, 0 = none
    # a restriction of a longer instance (lengen_core.tasks.hints): each token's index in that instance, which the
    # index position rule (learned APE, RoPE, ALiBi, FIRE) uses instead of the token's own index; None = its own index
    source_index: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        n = len(self.prompt) + len(self.answer)
        for name in ("segment_ids", "coupled_ids", "digit_significance", "part_ids", "prefix_targets", "source_index"):
            values = getattr(self, name)
            if values is not None and len(values) != n:
                raise ValueError(f"Example.{name} has {len(values)} entries, expected {n}")
        if not self.answer or self.answer[-1] != EOS_ID:
            raise ValueError("Example.answer must end with <eos>")

    @property
    def tokens(self) -> tuple[int, ...]:
        """The full sequence ``prompt + answer``."""
        return self.prompt + self.answer

    @property
    def answer_without_eos(self) -> tuple[int, ...]:
        return self.answer[:-1]


@dataclass(frozen=True)
class TaskOption:
    """One task option: its default and its allowed closed range (ints) or choices; ``used_when``: (another option,
    the values of it for which this one is read), so a form can leave out a field the task would ignore."""

    default: Any
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[Any, ...] | None = None
    help: str = ""
    used_when: tuple[str, tuple[Any, ...]] | None = None

    def is_used(self, options: Mapping[str, Any]) -> bool:
        """Whether the task reads this option, given its other options' values."""
        if self.used_when is None:
            return True
        other, values = self.used_when
        return options.get(other) in values

    def validate(self, field_name: str, value: Any) -> Any:
        if self.choices is not None:
            if value not in self.choices:
                raise ConfigError(field_name, f"must be one of {list(self.choices)}, got {shown(value)}")
            return value
        if isinstance(self.default, bool):
            if not isinstance(value, bool):
                raise ConfigError(field_name, f"must be true or false, got {shown(value)}")
            return value
        if isinstance(self.default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(field_name, f"must be an integer, got {shown(value)}")
            if self.minimum is not None and value < self.minimum:
                raise ConfigError(field_name, f"must be >= {self.minimum}, got {shown(value)}")
            if self.maximum is not None and value > self.maximum:
                raise ConfigError(field_name, f"must be <= {self.maximum}, got {shown(value)}")
        return value


class Task:
    """Base class of a task family member.

    Subclasses set the class attributes and implement :meth:`generate`.
    ``options`` are validated by :meth:`resolve_options`; a task instance holds
    its resolved options in ``self.options``.

    Class attributes:
        name: registry key (``"reverse"``, ``"addition"``, ...).
        family: module/family name for grouping in the UI.
        description: one sentence a student understands.
        tests: what the task probes (one sentence).
        source: citation of the paper the task comes from.
        theory: what theory predicts (:class:`~lengen_core.tasks.theory.TaskTheory`):
            Huang et al.'s NoPE and APE predictions and Golowich et al.'s
            sparsity ``k``, each absent where no source gives one. A task whose
            labels depend on its options (the ``k`` of the sparse family) sets
            ``self.theory`` in ``__init__``.
        min_length / max_length: the closed range of the length knob.
        option_specs: the task's options.
        has_coupling / has_significance: whether examples carry those annotations.
        coupling_needs_answer: the coupled ids of the answer depend on the answer
            itself (sort: which input each output copies), so inference cannot
            know them in advance: only predictive coupling, whose model predicts
            them, may use the rule (plain ``coupled`` is refused).
        supports_index_hints: whether the index-hint format (Zhou et al. 2023,
            :mod:`lengen_core.tasks.index_hints`) applies: the coupling rule marks
            which tokens correspond, so they can carry matching hints.
        writes_upper_letters: the task uses the upper-case letters, so a run of it
            has the vocabulary's last rows too (:func:`lengen_core.vocab.model_vocab_size`).
        supports_prefix_supervision: the task has a label for every prefix of its
            input (a recognition task: is the prefix in the language?), so it can be
            trained with ``task.supervision = every_prefix`` (:meth:`with_prefix_targets`),
            and on prefixes of its members alone (``member_prefixes``: :meth:`sample_member_prefix`).
    """

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    description: ClassVar[str] = ""
    tests: ClassVar[str] = ""
    source: ClassVar[str] = ""
    theory: TaskTheory = TaskTheory()
    min_length: int = 1  # a class default; a task whose options bound it sets it per instance (mqar)
    max_length: ClassVar[int] = 512
    option_specs: ClassVar[Mapping[str, TaskOption]] = {}
    has_coupling: bool = False  # a class default; a task whose options decide it sets it per instance (expression)
    has_significance: ClassVar[bool] = False
    coupling_needs_answer: bool = False  # a class default; a task whose options decide it sets it per instance
    scores_prefix_targets: ClassVar[bool] = False  # its examples label prompt positions themselves; a test scores them too
    supports_index_hints: ClassVar[bool] = False
    writes_upper_letters: ClassVar[bool] = False
    supports_prefix_supervision: ClassVar[bool] = False

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options: dict[str, Any] = self.resolve_options(options or {})

    @classmethod
    def resolve_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults filled in, unknown names and out-of-range values refused."""
        if not isinstance(options, Mapping):
            raise ConfigError("task.options", f"must be an object of named options, got {shown(options)}")
        unknown = {str(name) for name in options} - set(cls.option_specs)
        if unknown:
            name = sorted(unknown)[0]
            allowed = sorted(cls.option_specs) or "none"
            raise ConfigError(f"task.options.{name}", f"unknown option for task {cls.name!r}; allowed: {allowed}")
        resolved = {}
        for option_name, spec in cls.option_specs.items():
            value = options.get(option_name, spec.default)
            resolved[option_name] = spec.validate(f"task.options.{option_name}", value)
        return resolved

    def check_length(self, length: int, field_name: str = "length") -> None:
        if isinstance(length, bool) or not isinstance(length, int) or length < self.min_length or length > self.max_length:
            raise ConfigError(field_name, f"task {self.name!r} supports lengths {self.min_length}..{self.max_length}, got {shown(length)}")

    def sample(self, rng: random.Random, length: int) -> Example:
        """One example whose length knob equals ``length`` exactly."""
        self.check_length(length)
        return self.generate(rng, length)

    def generate(self, rng: random.Random, length: int) -> Example:  # pragma: no cover - abstract
        raise NotImplementedError

    def is_correct(self, example: Example, predicted_answer: Sequence[int]) -> bool:
        """Exact match of the predicted answer (without ``<eos>``) with the truth.

        Tasks whose answers admit several correct forms override this.
        """
        return tuple(predicted_answer) == example.answer_without_eos

    def max_sequence_length(self, length: int) -> int:
        """Upper bound on ``len(prompt + answer)`` at this length knob."""
        raise NotImplementedError

    def with_prefix_targets(self, example: Example, *, huang_labels: bool = False) -> Example:
        """``example`` with its ``prefix_targets`` (tasks with ``supports_prefix_supervision``); ``huang_labels``:
        the labels of Huang et al.'s format (``task.supervision = member_prefixes``)."""
        raise ConfigError("task.supervision", f"task {self.name!r} has no label per prefix; every_prefix needs a recognition task")

    def sample_member_prefix(self, rng: random.Random, length: int) -> Example:
        """One example of ``length`` whose string is a prefix of a member of the language
        (``task.supervision = member_prefixes``; tasks with ``supports_prefix_supervision``)."""
        raise ConfigError("task.supervision", f"task {self.name!r} has no language to take prefixes of; member_prefixes needs a recognition task")

    def describe(self) -> dict[str, Any]:
        """Metadata the app shows beside results."""
        return {
            "name": self.name,
            "family": self.family,
            "description": self.description,
            "tests": self.tests,
            "source": self.source,
            "theory": self.theory.as_dict(),
            "min_length": self.min_length,
            "max_length": self.max_length,
            "options": dict(self.options),
            "has_coupling": self.has_coupling,
            "has_significance": self.has_significance,
            "coupling_needs_answer": self.coupling_needs_answer,
            "supports_index_hints": self.supports_index_hints,
            "supports_prefix_supervision": self.supports_prefix_supervision,
        }


TASK_REGISTRY: dict[str, type[Task]] = {}


def register(task_class: type[Task]) -> type[Task]:
    """Class decorator: add a task to the registry under ``task_class.name``."""
    if not task_class.name:
        raise ValueError(f"{task_class.__name__} has no name")
    owner = TASK_REGISTRY.get(task_class.name)
    if owner is not None:
        raise ValueError(f"the task name {task_class.name!r} is taken by {owner.__module__}.{owner.__qualname__}")
    TASK_REGISTRY[task_class.name] = task_class
    return task_class


def build_task(name: str, options: Mapping[str, Any] | None = None) -> Task:
    """Instantiate a registered task; unknown names give a ConfigError listing the choices.

    The registry is full whenever this runs: importing any module of this package
    first runs ``lengen_core/tasks/__init__.py``, which imports every family.
    """
    if not isinstance(name, str) or name not in TASK_REGISTRY:
        raise ConfigError("task.name", f"unknown task {shown(name)}; choose from {sorted(TASK_REGISTRY)}")
    return TASK_REGISTRY[name](options)


def task_names() -> list[str]:
    """Every registered task, sorted."""
    return sorted(TASK_REGISTRY)
