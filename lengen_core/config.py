"""Run configuration: the schema, frozen dataclasses validated on construction.

One :class:`RunConfig` travels unchanged from URL query params to sidebar
widgets to the job to the database row. Every value a user can set is checked
here with a :class:`~lengen_core.errors.ConfigError` naming the dotted field and
the allowed range. ``config_id`` is a stable hash of the canonical JSON (the
seed is not part of the config: runs of one config with several seeds share it).

The schema's helpers each have their own module, all below this one (none imports
it): the scheme table (:mod:`lengen_core.scheme_table`), the task x scheme x length
checks a config must pass (:mod:`lengen_core.config_checks`, run by
:func:`check_compatible`), the plain form, JSON and dotted paths
(:mod:`lengen_core.config_codec`), and the values of fields a stored config lacks
(:mod:`lengen_core.config_migrations`). Above the tasks and the vocabulary, this
module imports them at the top; :mod:`lengen_core.data` is above it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lengen_core.config_checks import check_packing, check_position_range, check_scheme_fits_task, check_training_rows
from lengen_core.config_codec import build_section, check_mapping, parse_json_object, set_dotted, to_plain
from lengen_core.config_migrations import upgrade_stored
from lengen_core.errors import ConfigError, shown
from lengen_core.example_format import ExampleFormat, sweep_lengths
from lengen_core.scheme_table import BASE_ENCODINGS, POSITION_SCHEMES, rule_and_encoding
from lengen_core.tasks.base import TASK_REGISTRY, Task, build_task
from lengen_core.vocab import MARKED_TASKS, model_vocab_size

ATTENTION_KINDS: tuple[str, ...] = ("dense", "hsa")
LOCAL_MIXERS: tuple[str, ...] = ("swa", "recurrent")
HSA_WEIGHTINGS: tuple[str, ...] = ("stick_breaking", "softmax")
NORMS: tuple[str, ...] = ("layernorm", "rmsnorm")
# How a query's attention logits grow with the number of keys it sees (see ModelConfig).
LENGTH_SCALINGS: tuple[str, ...] = ("none", "log")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
PACKING_MODES: tuple[str, ...] = ("auto", "on", "off")
SUPERVISION_MODES: tuple[str, ...] = ("answer", "every_prefix", "member_prefixes")
PREFIX_LABELLED_MODES: frozenset[str] = frozenset({"every_prefix", "member_prefixes"})  # modes that need a label per prefix

# Fields left out of the canonical JSON (and so of config_id) while they hold their default:
# added after config ids were published, so every run that does not use them keeps its id.
OMITTED_AT_DEFAULT: dict[str, Any] = {
    "task.mixture": (),
    "train.init_from": None,
    "task.supervision": "answer",
    "train.stop_when_learned": False,
    "train.learned_check_every": 250,
    "train.learned_checks": 2,
    "train.learned_threshold": None,
    "eval.search": True,
    "eval.search_resolution": 0.1,
    "eval.search_max_length": None,
    "eval.search_max_factor": 64.0,
}
RUN_ID_PATTERN = re.compile(r"^[0-9A-Za-z_-]{1,64}$")

# Server-side caps. The app and CLI refuse anything larger with the limit named.
LIMITS: dict[str, int] = {
    "max_layers": 12,
    "max_heads": 16,
    "max_d_model": 1024,
    "max_d_ff": 4096,
    "max_positions": 65536,
    "max_length": 4096,
    "max_eval_length": 65536,  # explicit eval lengths; each also within its task's own range
    "max_steps": 200_000,
    "max_batch_size": 1024,
    "max_eval_samples": 5000,
    "max_eval_lengths": 64,
    "max_time_budget_s": 24 * 3600,
    "max_distractor_examples": 8,
    "max_mixture_tasks": 8,  # tasks trained beside the main one (task.mixture)
    "max_seed": 2**53 - 1,  # the largest integer a browser (JavaScript) and a float64 column hold exactly
}


def _check_int(field_name: str, value: Any, minimum: int, maximum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(field_name, f"must be an integer, got {shown(value)}")
    if value < minimum or value > maximum:
        raise ConfigError(field_name, f"must be between {minimum} and {maximum}, got {shown(value)}")


def _check_float(field_name: str, value: Any, minimum: float, maximum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(field_name, f"must be a finite number, got {shown(value)}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        finite = False
    if not finite or value < minimum or value > maximum:
        raise ConfigError(field_name, f"must be a finite number between {minimum} and {maximum}, got {shown(value)}")


def _check_choice(field_name: str, value: Any, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(field_name, f"must be one of {list(choices)}, got {shown(value)}")


def check_seed(value: Any, field_name: str = "seed") -> int:
    """A run's seed: an integer in ``0..LIMITS["max_seed"]`` (it is stored and shown exactly)."""
    _check_int(field_name, value, 0, LIMITS["max_seed"])
    return int(value)


def _check_task_lengths(prefix: str, name: Any, options: Any, low: Any, high: Any) -> dict[str, Any]:
    """A task name, its options and training range, checked with ``prefix`` naming the fields; the resolved options."""
    if not isinstance(name, str):
        raise ConfigError(f"{prefix}.name", f"must be a task name, got {shown(name)}")
    check_mapping(f"{prefix}.options", options)
    try:
        task = build_task(name, options)  # validates name and options
    except ConfigError as error:  # the task names its fields task.*; a mixture entry is task.mixture.<i>.*
        raise ConfigError(prefix + error.field.removeprefix("task"), error.message) from None
    _check_int(f"{prefix}.train_length_min", low, task.min_length, task.max_length)
    _check_int(f"{prefix}.train_length_max", high, task.min_length, task.max_length)
    task.check_length(high, f"{prefix}.train_length_max")  # task-specific limits too
    if low > high:
        raise ConfigError(f"{prefix}.train_length_min", f"must be <= {prefix}.train_length_max ({high}), got {low}")
    task.check_length(low, f"{prefix}.train_length_min")  # a task whose examples can fail at some lengths (expression) is probed at both ends
    return dict(task.options)


@dataclass(frozen=True)
class MixtureTask:
    """One more task a multi-task run trains on (an entry of ``task.mixture``).

    weight: how often its examples are drawn, relative to the main task's 1.0.
    evaluate: whether the run's length sweep tests it too (each evaluated task
        gets its own curve and breakdown length); the main task is always tested.
    """

    name: str = "copy_unique"
    train_length_min: int = 1
    train_length_max: int = 10
    options: Mapping[str, Any] = field(default_factory=dict)
    weight: float = 1.0
    evaluate: bool = True

    def __post_init__(self) -> None:
        prefix = "task.mixture"  # _mixture_entries puts the entry's index in
        object.__setattr__(self, "options", _check_task_lengths(prefix, self.name, self.options, self.train_length_min, self.train_length_max))
        _check_float(f"{prefix}.weight", self.weight, 0.001, 1000.0)
        if not isinstance(self.evaluate, bool):
            raise ConfigError(f"{prefix}.evaluate", f"must be true or false, got {shown(self.evaluate)}")


@dataclass(frozen=True)
class TaskConfig:
    """Which task, which lengths it is trained on, and its options.

    ``options`` holds task-specific settings (validated by the task class);
    ``index_hints`` rewrites examples in the index-hint format of Zhou et al. 2023.
    ``mixture`` makes a multi-task run: the tasks trained beside this one (the
    main task), each with its own range, options and weight
    (:class:`MixtureTask`); every example of a mixture run starts with its task's
    marker token (:func:`lengen_core.vocab.task_marker_id`). Empty: a single-task
    run, exactly as before mixtures existed (same config id, same data).
    ``supervision`` says what training scores: ``answer`` (the answer's tokens, every
    task) or ``every_prefix`` (a recognition task's label of every prefix of the
    input as well, the per-position signal of Huang et al. 2025's formal-language
    suite: :meth:`lengen_core.tasks.base.Task.with_prefix_targets`), the test being the
    answer; or ``member_prefixes``, Huang et al.'s format itself: the strings, in
    training and in the test, are prefixes of members of the language only (no near
    misses: :meth:`lengen_core.tasks.base.Task.sample_member_prefix`), every prefix is
    labelled, and a test example is right only when the label of every prefix and the
    answer are (their exact match). It applies to the main task.
    """

    name: str = "reverse"
    train_length_min: int = 1
    train_length_max: int = 10
    options: Mapping[str, Any] = field(default_factory=dict)
    index_hints: bool = False
    mixture: tuple[MixtureTask, ...] = ()
    supervision: str = "answer"

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", _check_task_lengths("task", self.name, self.options, self.train_length_min, self.train_length_max))
        if not isinstance(self.index_hints, bool):
            raise ConfigError("task.index_hints", f"must be true or false, got {shown(self.index_hints)}")
        _check_supervision(self.name, self.supervision, self.index_hints)
        object.__setattr__(self, "mixture", _mixture_entries(self.mixture))
        names = [self.name]
        for index, entry in enumerate(self.mixture):
            if entry.name in names:
                raise ConfigError(f"task.mixture.{index}.name", f"task {entry.name!r} is already in the run; each task appears once")
            names.append(entry.name)
        if self.mixture and self.index_hints:
            raise ConfigError("task.index_hints", "index hints apply to single-task runs; clear task.mixture or turn hints off")
        unmarked = [index for index, name in enumerate(names) if name not in MARKED_TASKS] if self.mixture else []
        if unmarked:  # a plug-in task: the marker pool is fixed (lengen_core.vocab)
            field = "task.name" if unmarked[0] == 0 else f"task.mixture.{unmarked[0] - 1}.name"
            raise ConfigError(field, f"task {names[unmarked[0]]!r} has no marker token for a multi-task run (a plug-in task); it trains on its own")

    @property
    def is_mixture(self) -> bool:
        return bool(self.mixture)

    def evaluated_parts(self) -> list[TaskConfig]:
        """The tasks the run's length sweep tests: the main task, then the entries with ``evaluate``."""
        main, *others = self.parts()
        return [main] + [part for part, entry in zip(others, self.mixture) if entry.evaluate]

    def example_format(self, marker: bool | None = None) -> ExampleFormat:
        """This task's examples as the run writes them (for a mixture, the main task's); ``marker``: whether they
        carry the task's marker (default: whether the run is a mixture). Index hints are checked at the training length."""
        return ExampleFormat.build(
            self.name,
            self.options,
            index_hints=self.index_hints,
            supervision=self.supervision,
            marker=self.is_mixture if marker is None else marker,
            train_length_max=self.train_length_max,
        )

    def parts(self) -> list[TaskConfig]:
        """Every task of the run as a single-task config: the main task first, then the mixture's entries."""
        main = dataclasses.replace(self, mixture=()) if self.mixture else self
        return [main] + [
            TaskConfig(name=entry.name, train_length_min=entry.train_length_min, train_length_max=entry.train_length_max, options=entry.options)
            for entry in self.mixture
        ]


def prefix_supervised_tasks() -> list[str]:
    """The tasks ``task.supervision = every_prefix`` works with (a label for every prefix)."""
    return sorted(name for name, task_class in TASK_REGISTRY.items() if task_class.supports_prefix_supervision)


def _has_prefix_labels(task_name: str) -> bool:
    return (
        isinstance(task_name, str) and task_name in TASK_REGISTRY and TASK_REGISTRY[task_name].supports_prefix_supervision
    )  # any value: a hostile name is refused later, by field


def _check_supervision(task_name: str, supervision: Any, index_hints: bool) -> None:
    _check_choice("task.supervision", supervision, SUPERVISION_MODES)
    if supervision not in PREFIX_LABELLED_MODES:
        return
    if not _has_prefix_labels(task_name):
        raise ConfigError(
            "task.supervision", f"task {task_name!r} has no label per prefix; {supervision} works with the recognition tasks {prefix_supervised_tasks()}"
        )
    if index_hints:
        raise ConfigError("task.supervision", f"{supervision} labels the input's own tokens, which index hints rewrite; turn one of them off")


def _mixture_entries(value: Any) -> tuple[MixtureTask, ...]:
    """``task.mixture`` as MixtureTask entries (dicts from JSON are built and checked here, each named by its index)."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
        raise ConfigError("task.mixture", f"must be a list of tasks, got {shown(value)}")
    if len(value) > LIMITS["max_mixture_tasks"]:
        raise ConfigError("task.mixture", f"at most {LIMITS['max_mixture_tasks']} tasks beside the main one, got {len(value)}")
    entries = []
    for index, item in enumerate(value):
        prefix = f"task.mixture.{index}"
        try:
            entries.append(item if isinstance(item, MixtureTask) else build_section(prefix, MixtureTask, item))
        except ConfigError as error:
            field_name = error.field if error.field.startswith(prefix) else error.field.replace("task.mixture", prefix, 1)
            raise ConfigError(field_name, error.message.replace("task.mixture.", f"{prefix}.")) from None
    return tuple(entries)


@dataclass(frozen=True)
class PositionConfig:
    """How positions enter the model.

    scheme: one of POSITION_SCHEMES.
    max_position: size of the position range: rows of a learned table, the
        range L that randomized positions sample from, the largest coupled id.
    train_offset_max: largest random start offset added to ids in training
        (learned APE, coupling, Abacus); -1 means "as large as max_position allows".
    base_encoding: how ids enter the model for ``randomized`` (the ids rule is
        orthogonal to the encoding; Ruoss et al. 2023 randomize many encodings) and
        for the coupled schemes (default ``learned``, the table of Cho et al. 2024).
    rope_base / fire_hidden: parameters of RoPE and FIRE.
    """

    scheme: str = "coupled"
    max_position: int = 256
    train_offset_max: int = -1
    base_encoding: str = "learned"
    rope_base: float = 10000.0
    fire_hidden: int = 32

    def __post_init__(self) -> None:
        _check_choice("positions.scheme", self.scheme, POSITION_SCHEMES)
        _check_int("positions.max_position", self.max_position, 8, LIMITS["max_positions"])
        _check_int("positions.train_offset_max", self.train_offset_max, -1, self.max_position)
        _check_choice("positions.base_encoding", self.base_encoding, BASE_ENCODINGS)
        _check_float("positions.rope_base", self.rope_base, 2.0, 1e7)
        _check_int("positions.fire_hidden", self.fire_hidden, 4, 256)


@dataclass(frozen=True)
class HSAConfig:
    """Hierarchical sparse attention settings (Hu et al. 2025).

    chunk_size S and top_k K as in the paper; weighting of the selected chunks;
    local_mixer covers the current chunk (sliding-window attention over ``window``
    tokens, or a gated recurrence for a RAMba-style hybrid); landmark: mean-pool +
    linear, or the paper's small chunk encoder with a CLS token; kv_heads: KV (and
    retrieval) heads, each shared by ``n_heads / kv_heads`` query heads;
    retrieval_dim: size of a landmark per KV head.
    """

    chunk_size: int = 16
    top_k: int = 4
    weighting: str = "stick_breaking"
    local_mixer: str = "swa"
    landmark: str = "mean"
    window: int = 32
    kv_heads: int = 1
    retrieval_dim: int = 32

    def __post_init__(self) -> None:
        _check_int("model.hsa.chunk_size", self.chunk_size, 2, 512)
        _check_int("model.hsa.top_k", self.top_k, 1, 64)
        _check_choice("model.hsa.weighting", self.weighting, HSA_WEIGHTINGS)
        _check_choice("model.hsa.local_mixer", self.local_mixer, LOCAL_MIXERS)
        _check_choice("model.hsa.landmark", self.landmark, ("mean", "encoder"))
        _check_int("model.hsa.window", self.window, self.chunk_size, 4096)
        _check_int("model.hsa.kv_heads", self.kv_heads, 1, 16)
        _check_int("model.hsa.retrieval_dim", self.retrieval_dim, 4, 512)


@dataclass(frozen=True)
class ModelConfig:
    """Decoder-only transformer shape.

    ``length_scaling="log"`` multiplies each query's attention logits (content
    term and any ALiBi/FIRE bias) by ``log n``, n = the number of keys that
    query sees (itself and the real tokens before it). This is the remedy of
    Chiang & Cholak 2022 ("Overcoming a theoretical limitation of
    self-attention", sec. 5: scale by log n) in its per-query causal form, as in
    Scalable-Softmax (Nakanishi 2025, without SSMax's learned per-head factor:
    the query projection learns any constant). A logit gap the model learned
    at the training lengths then keeps its softmax weight as n grows past them,
    instead of being diluted over more distractors. Dense attention only.
    Our addition to the papers the position schemes come from; off by default.
    Measured on reverse with coupling it did not help (docs/results.md): the
    attention lost at 4x went to tokens whose ids were never seen together in
    training, which ``train.distractor_examples`` addresses.
    """

    n_layers: int = 1
    n_heads: int = 4
    d_model: int = 128
    d_ff: int = 512
    norm: str = "layernorm"
    dropout: float = 0.0
    attention: str = "dense"
    hsa: HSAConfig = field(default_factory=HSAConfig)
    length_scaling: str = "none"

    def __post_init__(self) -> None:
        _check_int("model.n_layers", self.n_layers, 1, LIMITS["max_layers"])
        _check_int("model.n_heads", self.n_heads, 1, LIMITS["max_heads"])
        _check_int("model.d_model", self.d_model, 8, LIMITS["max_d_model"])
        _check_int("model.d_ff", self.d_ff, 8, LIMITS["max_d_ff"])
        if self.d_model % self.n_heads:
            raise ConfigError("model.d_model", f"must be divisible by model.n_heads ({self.n_heads}), got {self.d_model}")
        if (self.d_model // self.n_heads) % 2:
            raise ConfigError("model.d_model", f"head size d_model/n_heads must be even (RoPE rotates pairs), got {self.d_model // self.n_heads}")
        _check_choice("model.norm", self.norm, NORMS)
        _check_float("model.dropout", self.dropout, 0.0, 0.9)
        _check_choice("model.attention", self.attention, ATTENTION_KINDS)
        if not isinstance(self.hsa, HSAConfig):
            check_mapping("model.hsa", self.hsa)
            object.__setattr__(self, "hsa", build_section("model.hsa", HSAConfig, self.hsa))
        _check_choice("model.length_scaling", self.length_scaling, LENGTH_SCALINGS)
        if self.length_scaling != "none" and self.attention != "dense":
            raise ConfigError("model.length_scaling", f"applies to dense attention only (model.attention is {self.attention!r}); use 'none'")
        if self.attention == "hsa" and self.n_heads % self.hsa.kv_heads:
            raise ConfigError("model.hsa.kv_heads", f"must divide model.n_heads ({self.n_heads}), got {self.hsa.kv_heads}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation: AdamW, linear warmup then cosine decay, gradient clipping.

    Training stops at ``steps`` or when ``time_budget_s`` (if set) runs out.

    ``distractor_examples = k > 0`` puts 0..k (uniformly) whole training examples
    before each training example in its row, with no mask between them; only the
    last example's answer is scored (:func:`lengen_core.data.with_distractors`).
    Each example keeps its own random id offset under position coupling and
    Abacus, so queries meet tokens whose ids lie far from their own, as they do
    past the training length, and learn to ignore them. Our addition, measured in
    docs/results.md (reverse at 4x: from 0.47 to 1.00 exact match); 0 = off.

    ``init_from`` starts training from a stored run's checkpoint instead of a
    fresh initialisation (fine-tuning): the run of that id must be finished with a
    checkpoint and have this run's model and position settings
    (:func:`lengen_core.runs.admission.check_parent`); the vocabulary only grows (task
    markers are appended), so the parent's rows keep their tokens.

    ``packing`` puts several training examples into one row, each attending
    only to its own tokens (a block-diagonal causal mask) with its own position
    ids, so a batch's rows carry little padding
    (:func:`lengen_core.training.pack_batch`). The batch holds the same examples
    and the loss is the same mean over their answer tokens, so the gradient is
    the unpacked batch's up to float rounding. ``"auto"`` packs when the model
    can (dense attention; HSA's chunks and the recurrent mixer run along the
    whole row); ``"off"`` is what every run stored before this field did. Our
    choice (measured in docs/benchmarks.md).

    ``stop_when_learned`` ends training once the training range is learned:
    every ``learned_check_every`` steps the model greedily decodes a fixed
    held-out set of training-length examples (:mod:`lengen_core.learned_check`),
    and after ``learned_checks`` consecutive checks with exact match at or above
    ``learned_threshold`` (default: ``eval.threshold``) at every checked length,
    training stops. Otherwise it goes on to ``steps`` or ``time_budget_s``. Either
    way the run records why it stopped, and is evaluated, checkpointed and judged
    as any other run. ``learned_threshold = 1.0`` is Huang et al.'s rule (they stop
    at 100% exact match in distribution). The four fields are left out of the
    config id at their defaults.

    The defaults are the Train page's: with the model's (one layer) they give
    reverse 1..10 with coupling at 0.98-1.00 exact match at every tested length
    up to 4x the training length, seeds 0-2, in 34-45 s from Start to the end
    of the length sweep on 2 cores (docs/benchmarks.md). Before issue 10 they
    were 2 layers, 2000 steps, lr 1e-3, 100 warmup steps and no distractors:
    168 s, breaking down at 23 symbols.
    """

    steps: int = 650
    time_budget_s: float | None = None
    batch_size: int = 64
    lr: float = 2e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 50
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    log_every: int = 50
    device: str = "auto"
    divergence_loss: float = 1e4
    distractor_examples: int = 2
    packing: str = "auto"
    init_from: str | None = None
    stop_when_learned: bool = False
    learned_check_every: int = 250
    learned_checks: int = 2
    learned_threshold: float | None = None

    def __post_init__(self) -> None:
        if self.init_from is not None and (not isinstance(self.init_from, str) or not RUN_ID_PATTERN.match(self.init_from)):
            raise ConfigError("train.init_from", f"must be the id of a stored run (letters, digits, - and _), got {shown(self.init_from)}")
        _check_int("train.steps", self.steps, 1, LIMITS["max_steps"])
        if self.time_budget_s is not None:
            _check_float("train.time_budget_s", self.time_budget_s, 0.1, LIMITS["max_time_budget_s"])
        _check_int("train.batch_size", self.batch_size, 1, LIMITS["max_batch_size"])
        _check_float("train.lr", self.lr, 1e-7, 1.0)
        _check_float("train.min_lr_ratio", self.min_lr_ratio, 0.0, 1.0)
        _check_int("train.warmup_steps", self.warmup_steps, 0, LIMITS["max_steps"])
        _check_float("train.weight_decay", self.weight_decay, 0.0, 10.0)
        _check_float("train.grad_clip", self.grad_clip, 0.0, 1e6)
        _check_int("train.log_every", self.log_every, 1, LIMITS["max_steps"])
        _check_choice("train.device", self.device, DEVICES)
        _check_float("train.divergence_loss", self.divergence_loss, 1.0, 1e12)
        _check_int("train.distractor_examples", self.distractor_examples, 0, LIMITS["max_distractor_examples"])
        _check_choice("train.packing", self.packing, PACKING_MODES)
        if not isinstance(self.stop_when_learned, bool):
            raise ConfigError("train.stop_when_learned", f"must be true or false, got {shown(self.stop_when_learned)}")
        _check_int("train.learned_check_every", self.learned_check_every, 1, LIMITS["max_steps"])
        _check_int("train.learned_checks", self.learned_checks, 1, 100)
        if self.learned_threshold is not None:
            _check_float("train.learned_threshold", self.learned_threshold, 0.0, 1.0)


@dataclass(frozen=True)
class EvalConfig:
    """Length sweep: which lengths, how many samples, the breakdown threshold.

    ``lengths`` empty means: ``n_lengths`` lengths spread evenly from the task's
    smallest length to ``max_length_factor`` x the longest training length.
    ``seed`` selects the evaluation stream, which training never draws from.
    ``time_budget_s`` bounds the sweep's time as ``train.time_budget_s`` bounds
    training: a request whose estimated sweep is longer is refused
    (:func:`lengen_core.costs.check_budget`), and a sweep that still runs over
    stops there, keeping the lengths it finished. None = the machine's bound
    (``LENGEN_MAX_EVAL_S``, default 3600 s).

    ``search`` (on by default): when the run still holds at the longest length of
    its sweep, evaluation goes on, doubling the length until it fails or a limit
    stops it, then bisecting to ``search_resolution`` x the length (``0.1``: 10%);
    ``search_max_length`` caps it, and so does ``search_max_factor`` x the longest
    training length (default 64: our choice, so that a run that never breaks, a passkey
    model with no position table, does not search for the whole evaluation budget);
    the task, the position table and the cost budget do too. Off reproduces the fixed
    sweep. See :mod:`lengen_core.length_search`. The four fields are left out of the
    config id at their defaults; runs stored before they existed did not search
    (:data:`~lengen_core.config_migrations.STORED_BEFORE_FIELD`).
    """

    lengths: tuple[int, ...] = ()
    max_length_factor: float = 4.0
    n_lengths: int = 10
    samples_per_length: int = 200
    threshold: float = 0.9
    batch_size: int = 512
    seed: int = 0
    time_budget_s: float | None = None
    search: bool = True
    search_resolution: float = 0.1
    search_max_length: int | None = None
    search_max_factor: float = 64.0

    def __post_init__(self) -> None:
        if isinstance(self.lengths, (str, bytes, Mapping)) or not isinstance(self.lengths, (list, tuple)):
            raise ConfigError("eval.lengths", f"must be a list of integers, got {shown(self.lengths)}")
        object.__setattr__(self, "lengths", tuple(self.lengths))
        if len(self.lengths) > LIMITS["max_eval_lengths"]:
            raise ConfigError("eval.lengths", f"at most {LIMITS['max_eval_lengths']} lengths, got {len(self.lengths)}")
        for length in self.lengths:
            _check_int("eval.lengths", length, 1, LIMITS["max_eval_length"])
        _check_float("eval.max_length_factor", self.max_length_factor, 1.0, 64.0)
        _check_int("eval.n_lengths", self.n_lengths, 1, LIMITS["max_eval_lengths"])
        _check_int("eval.samples_per_length", self.samples_per_length, 1, LIMITS["max_eval_samples"])
        _check_float("eval.threshold", self.threshold, 0.0, 1.0)
        _check_int("eval.batch_size", self.batch_size, 1, 8192)
        _check_int("eval.seed", self.seed, 0, 2**31 - 1)
        if self.time_budget_s is not None:
            _check_float("eval.time_budget_s", self.time_budget_s, 0.1, LIMITS["max_time_budget_s"])
        if not isinstance(self.search, bool):
            raise ConfigError("eval.search", f"must be true or false, got {shown(self.search)}")
        _check_float("eval.search_resolution", self.search_resolution, 0.01, 0.5)
        if self.search_max_length is not None:
            _check_int("eval.search_max_length", self.search_max_length, 1, LIMITS["max_eval_length"])
        _check_float("eval.search_max_factor", self.search_max_factor, 1.0, 4096.0)


_SECTIONS: dict[str, type] = {"task": TaskConfig, "positions": PositionConfig, "model": ModelConfig, "train": TrainConfig, "eval": EvalConfig}


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run except the seed."""

    task: TaskConfig = field(default_factory=TaskConfig)
    positions: PositionConfig = field(default_factory=PositionConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def __post_init__(self) -> None:
        for part in self.task.parts():  # explicit lengths are tested on every task of a mixture
            task = build_task(part.name, part.options)
            for length in self.eval.lengths:
                task.check_length(length, "eval.lengths")  # e.g. passkey retrieval goes to 1M, reverse to 512
        check_compatible(self)

    def to_dict(self) -> dict[str, Any]:
        plain: dict[str, Any] = to_plain(self)  # a dataclass: a dict of its fields
        return plain

    def to_json(self) -> str:
        """The canonical JSON: every field, less those of :data:`OMITTED_AT_DEFAULT` that hold their default."""
        data = self.to_dict()
        for dotted, default in OMITTED_AT_DEFAULT.items():
            section, field_name = dotted.split(".")
            if data[section][field_name] == to_plain(default):
                del data[section][field_name]
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @property
    def vocab_size(self) -> int:
        """Rows of the run's embedding and output head: with the task markers for a mixture or a
        fine-tuned run (its parent may have had them), without them otherwise; with the upper-case
        letters too when a task of the run writes them (a fine-tuned run also keeps its parent's rows:
        :func:`lengen_core.runs.loading.parent_model`)."""
        upper = any(TASK_REGISTRY[part.name].writes_upper_letters for part in self.task.parts())
        return model_vocab_size(self.task.is_mixture or self.train.init_from is not None, upper)

    @property
    def config_id(self) -> str:
        """First 16 hex digits of sha256 of the canonical JSON."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        check_mapping("config", data)
        unknown = set(data) - set(_SECTIONS)
        if unknown:
            raise ConfigError(sorted(unknown)[0], f"unknown config section; allowed: {sorted(_SECTIONS)}")
        sections = {name: build_section(name, section_class, data.get(name, {})) for name, section_class in _SECTIONS.items()}
        return cls(**sections)

    @classmethod
    def from_stored(cls, data: Mapping[str, Any]) -> RunConfig:
        """A config as stored with a run or a checkpoint: a field or task option added after it was
        stored takes the value that reproduces what the run did, not today's default
        (:func:`lengen_core.config_migrations.upgrade_stored`)."""
        return cls.from_dict(upgrade_stored(data))

    @classmethod
    def from_json(cls, text: str | bytes) -> RunConfig:
        """Parse a config from JSON text; anything that is not a valid config is a ConfigError."""
        return cls.from_dict(parse_json_object(text, "config"))

    def eval_lengths(self) -> list[int]:
        """The lengths this run's own length sweep tests (``eval.lengths``, else spread up to ``max_length_factor`` x)."""
        return _sweep_lengths(self.task, self.eval, build_task(self.task.name, self.task.options))

    def replace(self, **changes: Any) -> RunConfig:
        """Copy with dotted-path changes: ``cfg.replace(**{"model.n_layers": 3})``.

        Changing ``task.name`` resets ``task.options`` to the new task's defaults
        before the call's own ``task.options`` changes apply (options belong to one task),
        and ``task.supervision`` to ``answer`` when the new task has no label per prefix.
        """
        data = self.to_dict()
        new_name = changes.get("task.name", self.task.name)
        if new_name != self.task.name:
            data["task"]["options"] = {}
            if not _has_prefix_labels(new_name):
                data["task"]["supervision"] = "answer"
        for dotted, value in changes.items():
            set_dotted(data, dotted, value)
        return RunConfig.from_dict(data)


def scheme_rule_and_encoding(positions: PositionConfig) -> tuple[str, str]:
    """(id rule, encoding) of ``positions.scheme`` (see :data:`~lengen_core.scheme_table.SCHEME_RULES`)."""
    return rule_and_encoding(positions.scheme, positions.base_encoding)


def check_compatible(config: RunConfig) -> None:
    """Refuse task/scheme/length combinations that cannot work, naming the field and limit.

    Runs when a RunConfig is made: the checks of :mod:`lengen_core.config_checks`, given
    this config's values and each task in the run's data format (:meth:`TaskConfig.example_format`).
    """
    positions = config.positions
    scheme, base, max_position = positions.scheme, positions.base_encoding, positions.max_position
    check_packing(config.train.packing, config.model.attention)
    formats = []
    for part in config.task.parts():  # every task of a mixture meets the scheme's needs
        example_format = part.example_format(marker=config.task.is_mixture)
        check_scheme_fits_task(example_format.task, scheme, base)
        longest = max(max(_sweep_lengths(part, config.eval, example_format.task)), part.train_length_max)
        check_position_range(example_format, longest, scheme, base, max_position)
        formats.append((example_format, part.train_length_max))
    check_training_rows(formats, config.train.distractor_examples, scheme, base, max_position)


def _sweep_lengths(task_config: TaskConfig, eval_config: EvalConfig, task: Task) -> list[int]:
    """The lengths a sweep of ``task_config``'s task tests (:func:`lengen_core.example_format.sweep_lengths`)."""
    return sweep_lengths(task, task_config.train_length_max, task_config.index_hints, eval_config.lengths, eval_config.max_length_factor, eval_config.n_lengths)
