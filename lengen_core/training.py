"""The trainer: seeded AdamW with warmup + cosine, clipping, budgets, pause/cancel, divergence.

Fresh examples are drawn from the training stream (``("train", seed)``) with
lengths uniform over the training range, in the training thread (see
:class:`BatchSource` for why not in a background thread); one consumer of one
stream, so runs are reproducible. Dense models train on packed rows (several
examples to a row, each attending only to itself; ``train.packing``), which cuts
the padding a uniform length mix carries (docs/benchmarks.md).

Loss: next-token cross-entropy on answer tokens only; for predictive position
coupling plus the cross-entropy of the predicted *next* position id on the same
tokens (Golowich et al. 2025), with equal weight.

The reported loss and accuracy pool the steps since the previous log point
(:class:`LogWindow`); the accuracy is teacher-forced (argmax of each answer token
given the true prefix): a cheap progress signal, labelled as such.
Honest accuracy comes from :mod:`lengen_core.evaluation` (greedy decoding).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from lengen_core.batching import IGNORE_INDEX, Batch, collate
from lengen_core.config import RunConfig
from lengen_core.config_codec import parse_json_object
from lengen_core.data import ExampleSource, stream_rng, stream_seed
from lengen_core.learned_check import LearnedCheck, stop_reason
from lengen_core.models.transformer import Transformer, build_model
from lengen_core.positions import build_scheme
from lengen_core.vocab import PAD_ID


@dataclass(frozen=True)
class TrainPoint:
    step: int
    loss: float
    accuracy: float | None
    lr: float
    wall_time_s: float
    tokens_per_s: float
    in_distribution: float | None = None  # a learned check's exact match (worst training length), at the steps it ran


@dataclass
class TrainResult:
    status: str  # "done", "diverged", "cancelled"
    steps_done: int
    train_seconds: float
    final_loss: float | None
    model: Transformer
    points: list[TrainPoint] = field(default_factory=list)
    error: str | None = None
    stop_reason: str | None = None  # why training ended (learned, or which budget was spent): learned_check.stop_reason
    learned_step: int | None = None  # train.stop_when_learned: the step of the first check of the passing streak


class TrainingControl:
    """Pause / resume / cancel a training run from another thread, and the torch threads it may use.

    torch's intra-op thread count is per calling thread, so a job manager cannot
    set it for a job from outside: it :meth:`share_cores`, and the job's own
    thread applies the share between steps (:meth:`apply_thread_share`).
    """

    def __init__(self) -> None:
        self._cancel = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._threads: int | None = None

    def share_cores(self, threads: int) -> None:
        """The torch threads this run should use from its next step on (called by a job manager)."""
        self._threads = max(1, int(threads))

    @property
    def thread_share(self) -> int | None:
        return self._threads

    def apply_thread_share(self) -> None:
        """In the run's own thread: use the shared thread count, if one was set and it changed."""
        wanted = self._threads
        if wanted is not None and wanted != torch.get_num_threads():
            torch.set_num_threads(wanted)

    def should_stop(self) -> bool:
        """In the run's own thread, between units of work (an evaluated length): apply the thread share, then say whether it was cancelled."""
        self.apply_thread_share()
        return self.cancelled

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()  # a paused run must wake up to notice

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait_while_paused(self) -> float:
        """Block while paused; returns the seconds spent paused."""
        if self._running.is_set():
            return 0.0
        started = time.perf_counter()
        self._running.wait()
        return time.perf_counter() - started


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        from lengen_core.errors import ConfigError

        raise ConfigError("train.device", "cuda was asked for but no CUDA device is available")
    return torch.device(name)


def learning_rate(step: int, config: RunConfig, elapsed_s: float = 0.0) -> float:
    """Linear warmup to ``lr`` then cosine decay to ``min_lr_ratio * lr``.

    The decay follows whichever limit is nearer: ``steps``, or the time budget
    (``elapsed_s / time_budget_s``), so a budget-limited run still ends at the low rate.
    """
    train = config.train
    if train.warmup_steps and step < train.warmup_steps:
        return train.lr * (step + 1) / train.warmup_steps
    span = max(train.steps - train.warmup_steps, 1)
    progress = max(step - train.warmup_steps, 0) / span
    if train.time_budget_s:
        progress = max(progress, elapsed_s / train.time_budget_s)
    progress = min(progress, 1.0)
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return train.lr * (train.min_lr_ratio + (1 - train.min_lr_ratio) * cosine)


@dataclass
class PreparedBatch:
    """One training step's tensors. Unpacked, row b is example b; packed
    (:func:`pack_batch`), a row holds several examples and ``example_ids`` says whose each token is."""

    inputs: torch.Tensor  # [R, W]
    targets: torch.Tensor  # [R, W], IGNORE_INDEX where nothing is scored (outside answers, and prefix labels: task.supervision)
    position_ids: torch.Tensor  # [R, W]
    position_targets: torch.Tensor | None  # [R, W] next token's id on answer positions
    answer_tokens: int  # targets scored: the answers' tokens, and the prefix labels of task.supervision = every_prefix
    examples: int
    real_tokens: int  # input tokens that are not padding
    example_ids: torch.Tensor | None = None  # [R, W] long: the example (0..examples-1) of each token, -1 in padding; None = row b is example b


def prepare_batch(batch: Batch, position_ids: torch.Tensor, predicts_positions: bool) -> PreparedBatch:
    """Inputs/targets for next-token training from a right-padded batch and its ids ``[B, T]``."""
    targets = batch.loss_targets()  # [B, T-1]
    position_targets = None
    if predicts_positions:
        position_targets = position_ids[:, 1:].clone()  # [B, T-1] the next token's id, on answer positions only
        position_targets[~batch.answer_positions()] = IGNORE_INDEX
    return PreparedBatch(
        inputs=batch.tokens[:, :-1],
        targets=targets,
        position_ids=position_ids[:, :-1],
        position_targets=position_targets,
        answer_tokens=int((targets != IGNORE_INDEX).sum()),
        examples=batch.tokens.shape[0],
        real_tokens=int(batch.sequence_lengths.sum()) - batch.tokens.shape[0],
    )


def first_fit_rows(lengths: list[int], width: int) -> tuple[list[int], list[int]]:
    """Place items of ``lengths`` (each <= ``width``) into rows of ``width``: first fit, longest first.

    Returns (row, start column) of each item, in the items' order.
    """
    rows, starts = [0] * len(lengths), [0] * len(lengths)
    free: list[int] = []  # room left in each row
    for item in sorted(range(len(lengths)), key=lambda index: -lengths[index]):
        length = lengths[item]
        row = next((index for index, room in enumerate(free) if room >= length), len(free))
        if row == len(free):
            free.append(width)
        rows[item], starts[item] = row, width - free[row]
        free[row] -= length
    return rows, starts


def pack_batch(prepared: PreparedBatch, lengths: torch.Tensor) -> PreparedBatch:
    """The same examples, several to a row: rows as wide as the longest example, filled first fit.

    ``lengths [B]``: each example's real input tokens (its tokens minus one; the
    right-padded ``prepared`` holds them in columns ``0..length-1``, with their
    targets and position ids). Every token keeps its target and position id;
    ``example_ids`` tells the model which tokens may see each other
    (``Transformer.forward(segment_ids=...)``). Left out is only what an
    unpacked row carries after its last target: its ``<eos>`` as an input
    (which predicts nothing and, causally, changes no earlier output) and the
    padding. No target is dropped or repeated, so the loss (the mean over
    answer tokens) is the unpacked batch's.
    """
    width = prepared.inputs.shape[1]
    length_list = lengths.tolist()
    rows, starts = first_fit_rows(length_list, width)
    row_count = max(rows) + 1
    example = torch.repeat_interleave(torch.arange(len(length_list)), lengths)  # [N] the example of each real token
    offsets = torch.cumsum(lengths, 0) - lengths  # [B] first token of each example in the flat list
    column = torch.arange(example.numel()) - offsets[example]  # [N] its column in the unpacked batch
    row_of = torch.tensor(rows)[example]  # [N]
    column_of = torch.tensor(starts)[example] + column  # [N]

    def moved(tensor: torch.Tensor, fill: int) -> torch.Tensor:
        packed = torch.full((row_count, width), fill, dtype=tensor.dtype)  # [R, W]
        packed[row_of, column_of] = tensor[example, column]
        return packed

    example_ids = torch.full((row_count, width), -1, dtype=torch.long)
    example_ids[row_of, column_of] = example
    return PreparedBatch(
        inputs=moved(prepared.inputs, PAD_ID),
        targets=moved(prepared.targets, IGNORE_INDEX),
        position_ids=moved(prepared.position_ids, 0),
        position_targets=None if prepared.position_targets is None else moved(prepared.position_targets, IGNORE_INDEX),
        answer_tokens=prepared.answer_tokens,
        examples=prepared.examples,
        real_tokens=prepared.real_tokens,
        example_ids=example_ids,
    )


def packs_rows(config: RunConfig) -> bool:
    """Whether this run trains on packed rows (``train.packing``: ``auto`` packs dense models)."""
    return config.train.packing == "on" or (config.train.packing == "auto" and config.model.attention == "dense")


class BatchSource:
    """Makes the next training batch from the run's single data stream, in the training thread.

    With packing (:func:`packs_rows`) the batch's examples are put several to a
    row (:func:`pack_batch`) after their position ids are made, so they get
    exactly the ids they would get unpacked.

    Our choice, measured (bench/bench_trainer.py, docs/benchmarks.md): a
    background producer thread made training 0.6x as fast as a bare loop on two
    cores. The producer's pure-Python generation keeps the GIL for whole switch
    intervals while the training thread, between torch ops, waits for it. Made
    in line, a batch costs about 2 ms against a 50 ms step.
    """

    def __init__(self, config: RunConfig, seed: int) -> None:
        self.source = ExampleSource(config.task)
        self.scheme = build_scheme(config.positions)
        self.batch_size = config.train.batch_size
        self.max_distractors = config.train.distractor_examples
        self.packing = packs_rows(config)
        self.rng = stream_rng("train", seed)
        self.generator = torch.Generator().manual_seed(stream_seed("train-ids", seed))

    def next(self) -> PreparedBatch:
        examples = self.source.sample_training(self.rng, self.batch_size, self.max_distractors)
        batch = collate(examples, pad_side="right")
        position_ids = self.scheme.position_ids(batch, training=True, generator=self.generator)  # [B, T]
        prepared = prepare_batch(batch, position_ids, self.scheme.predicts_positions)
        return pack_batch(prepared, batch.sequence_lengths - 1) if self.packing else prepared


@dataclass
class StepLoss:
    """One step's loss (what ``backward`` sees) and its detached parts for logging."""

    loss: torch.Tensor  # mean answer-token cross-entropy (+ the position head's, predictive coupling)
    answer_tokens: int
    examples_correct: int  # examples whose every scored token (answer; prefix labels with every_prefix) is the argmax (teacher-forced)
    examples: int


def compute_loss(model: Transformer, prepared: PreparedBatch, device: torch.device) -> StepLoss:
    """The step's loss and the teacher-forced exact matches of the batch's examples."""
    inputs = prepared.inputs.to(device, non_blocking=True)
    targets = prepared.targets.to(device, non_blocking=True)
    example_ids = None if prepared.example_ids is None else prepared.example_ids.to(device, non_blocking=True)
    output = model(inputs, prepared.position_ids.to(device, non_blocking=True), segment_ids=example_ids)
    vocab = output.logits.shape[-1]
    loss = F.cross_entropy(output.logits.reshape(-1, vocab), targets.reshape(-1), ignore_index=IGNORE_INDEX)
    if output.position_logits is not None and prepared.position_targets is not None:
        position_targets = prepared.position_targets.to(device, non_blocking=True)
        loss = loss + F.cross_entropy(
            output.position_logits.reshape(-1, output.position_logits.shape[-1]), position_targets.reshape(-1), ignore_index=IGNORE_INDEX
        )
    with torch.no_grad():
        wrong = (output.logits.argmax(-1) != targets) & (targets != IGNORE_INDEX)  # [R, W]
        if example_ids is None:
            examples_wrong = int(wrong.any(dim=1).sum())
        else:
            examples_wrong = int(torch.unique(example_ids[wrong]).numel())
    return StepLoss(loss, prepared.answer_tokens, prepared.examples - examples_wrong, prepared.examples)


def train(
    config: RunConfig,
    seed: int,
    *,
    control: TrainingControl | None = None,
    on_log: Callable[[TrainPoint], None] | None = None,
    model: Transformer | None = None,
) -> TrainResult:
    """Train a fresh model (or ``model``) for ``config`` with ``seed``.

    Stops at ``train.steps``, when ``train.time_budget_s`` of training time is
    used (pauses do not count), with ``train.stop_when_learned`` once the training
    range is learned (:mod:`lengen_core.learned_check`; status "done"), on cancel
    (status "cancelled") or when the loss is NaN/inf or above
    ``train.divergence_loss`` (status "diverged").
    """
    control = control or TrainingControl()
    device = resolve_device(config.train.device)
    torch.manual_seed(stream_seed("init", seed))
    scheme = build_scheme(config.positions)
    model = (model or build_model(config.model, scheme, config.vocab_size)).to(device)
    model.train()
    optimizer = make_optimizer(model, config)
    batches = BatchSource(config, seed)
    check = LearnedCheck(config, seed) if config.train.stop_when_learned else None
    points: list[TrainPoint] = []
    status, error = "done", None
    step = 0
    loss_value: float | None = None
    out_of_time = False
    started = time.perf_counter()
    paused_seconds = 0.0
    window = LogWindow(started)
    while step < config.train.steps:
        paused_seconds += control.wait_while_paused()
        control.apply_thread_share()
        if control.cancelled:
            status = "cancelled"
            break
        elapsed = time.perf_counter() - started - paused_seconds
        if config.train.time_budget_s is not None and elapsed >= config.train.time_budget_s:
            out_of_time = True
            break
        prepared = batches.next()
        lr = learning_rate(step, config, elapsed)
        for group in optimizer.param_groups:
            group["lr"] = lr
        step_loss = compute_loss(model, prepared, device)
        loss_value = float(step_loss.loss.detach())
        if not math.isfinite(loss_value) or loss_value > config.train.divergence_loss:
            status = "diverged"
            error = f"loss became {loss_value} at step {step}"
            points.append(_point(step, loss_value, None, lr, started, paused_seconds, 0.0))
            if on_log:
                on_log(points[-1])
            break
        optimizer.zero_grad(set_to_none=True)
        step_loss.loss.backward()
        if config.train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip)
        optimizer.step()
        step += 1
        window.add(step_loss, loss_value, prepared.real_tokens)
        last_step = step == config.train.steps
        checked = check.measure(model, step, device) if check is not None and (step % config.train.learned_check_every == 0 or last_step) else None
        if step % config.train.log_every == 0 or last_step or checked is not None:
            loss_value = window.loss
            in_distribution = None if checked is None else checked.exact_match
            points.append(_point(step, loss_value, window.accuracy, lr, started, paused_seconds, window.tokens_per_s(), in_distribution))
            window = LogWindow(time.perf_counter())
            if on_log:
                on_log(points[-1])
        if check is not None and check.learned():
            break
    model.eval()
    return TrainResult(
        status=status,
        steps_done=step,
        train_seconds=time.perf_counter() - started - paused_seconds,
        final_loss=loss_value,
        model=model,
        points=points,
        error=error,
        stop_reason=stop_reason(config, step, check, out_of_time) if status == "done" else None,
        learned_step=None if check is None else check.first_learned_step(),
    )


class LogWindow:
    """What a log point reports: the steps since the last one, pooled.

    loss: the steps' losses weighted by their answer tokens (the mean over the
    window's answer tokens); accuracy: the share of the window's examples whose
    answers were all argmax-right (teacher forced). Pooled over the steps rather
    than the last batch's, so one batch's luck does not make the point.
    """

    def __init__(self, started: float) -> None:
        self.started = started
        self.token_loss_sum = 0.0
        self.answer_tokens = 0
        self.examples_correct = 0
        self.examples = 0
        self.tokens = 0

    def add(self, step_loss: StepLoss, loss_value: float, tokens: int) -> None:
        self.token_loss_sum += loss_value * step_loss.answer_tokens
        self.answer_tokens += step_loss.answer_tokens
        self.examples_correct += step_loss.examples_correct
        self.examples += step_loss.examples
        self.tokens += tokens

    @property
    def loss(self) -> float:
        return self.token_loss_sum / max(self.answer_tokens, 1)

    @property
    def accuracy(self) -> float:
        return self.examples_correct / max(self.examples, 1)

    def tokens_per_s(self) -> float:
        return self.tokens / max(time.perf_counter() - self.started, 1e-9)


def _point(
    step: int, loss: float, accuracy: float | None, lr: float, started: float, paused: float, tokens_per_s: float, in_distribution: float | None = None
) -> TrainPoint:
    return TrainPoint(step, loss, accuracy, lr, time.perf_counter() - started - paused, tokens_per_s, in_distribution)


def make_optimizer(model: Transformer, config: RunConfig) -> torch.optim.Optimizer:
    """AdamW; no weight decay on biases, norms and embeddings tables.

    The fused implementation (one kernel over all parameters) where the device
    has it (CPU and CUDA): measured 2-4x faster than the foreach one here,
    0.5-1.6 ms against 2-4 ms a step for the lesson and reference models
    (docs/benchmarks.md); the same update up to float rounding.
    """
    fused = next(model.parameters()).device.type in ("cpu", "cuda")
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        (decay if parameter.ndim >= 2 and "embedding" not in name and "table" not in name else no_decay).append(parameter)
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.train.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.train.lr,
        betas=(0.9, 0.98),
        fused=fused or None,
    )


def save_checkpoint(model: Transformer, config: RunConfig, seed: int, path: str | Path) -> Path:
    """Write the weights as safetensors with the config JSON and seed in its metadata."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    temporary = path.with_suffix(path.suffix + ".tmp")
    # every field, as the store keeps it: a field left out of the canonical JSON at its default would read back as
    # "stored before the field existed" (RunConfig.from_stored), e.g. eval.search
    save_file(state, str(temporary), metadata={"config": json.dumps(config.to_dict(), sort_keys=True), "seed": str(seed)})
    temporary.replace(path)  # never a half-written checkpoint under the final name
    return path


def grow_vocabulary(model: Transformer, rows: int) -> Transformer:
    """``model`` with ``rows`` embedding and output rows, its own rows kept (a fine-tuned run whose
    parent had fewer tokens: the task markers). New rows start as a fresh model's (normal, std 0.02)."""
    old_rows, width = model.token_embedding.weight.shape
    if rows < old_rows:
        raise ValueError(f"the vocabulary only grows: the model has {old_rows} rows, asked for {rows}")
    if rows == old_rows:
        return model
    embedding = torch.nn.Embedding(rows, width)
    head = torch.nn.Linear(width, rows, bias=False)
    with torch.no_grad():
        for new, old in ((embedding.weight, model.token_embedding.weight), (head.weight, model.lm_head.weight)):
            new.normal_(0.0, 0.02)
            new[:old_rows] = old
    model.token_embedding, model.lm_head = embedding, head
    return model


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[Transformer, RunConfig, int]:
    """Rebuild the model of a checkpoint written by :func:`save_checkpoint`."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    config = RunConfig.from_stored(parse_json_object(metadata["config"], "checkpoint config"))
    state = load_file(str(path), device="cpu")
    model = build_model(config.model, build_scheme(config.positions), vocab_size=state["token_embedding.weight"].shape[0])
    model.load_state_dict(state)
    return model.to(device).eval(), config, int(metadata.get("seed", 0))
