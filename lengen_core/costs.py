"""What a run will cost before it starts: peak memory and work, checked against the machine's budget.

Each field of a :class:`~lengen_core.config.RunConfig` is capped on its own, but
memory is a product of fields (batch x row length x width x layers, or eval
batch x heads x length² for a materialised ALiBi/FIRE bias), so a request is
also checked as a whole: :func:`estimate_cost` gives its peak memory and the
time its evaluation will take, :func:`check_budget` refuses it with a
:class:`~lengen_core.errors.ConfigError` naming the fields to shrink when the
estimate is over the :class:`Budget`.

The estimate is a sum of the tensors the code keeps alive at its peak, counted
from the shapes (float32, 4 bytes); the model's own parameter count comes from
building it on PyTorch's ``meta`` device (no memory). Training's peak is
parameters + gradients + AdamW state + the activations one step saves for its
backward pass (for the longest training row, distractor examples included),
plus one layer's worth of backward temporaries. Evaluation's peak is the
parameters + the KV caches of one decoding batch + the prompt pass's
temporaries (+ a materialised ALiBi/FIRE bias); HSA models decode without a
cache, so their peak is one full forward pass over the longest sequence.
Evaluation picks, per length, the largest batch (at most ``eval.batch_size``)
whose estimate fits the budget (:func:`eval_batch_size`), so it splits batches
instead of failing; a request is refused only when even one example does not
fit. The coefficients are per-token counts of float32 values read off the
code; ``tests/core/test_costs.py`` checks the estimate against the peak RSS of
real runs (the estimate must be within [1x, 3x] of the measurement), measured by
the calibration harness ``bench/calibrate_costs.py``, and
``bench/cost_model_check.py`` prints the table in docs/benchmarks.md.

The work estimate counts multiply-adds (2 FLOPs each) of training steps and of
greedy decoding, and decoding steps (a fixed Python/dispatch overhead each on
the CPU); :data:`CPU_FLOPS` and :data:`DECODE_STEP_OVERHEAD_S` turn them into
seconds. They are measured on the 2-core development machine (AVX2, fp32) and
deliberately on the slow side, so an evaluation bound is not under-estimated.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from dataclasses import dataclass, field

from lengen_core.config import ModelConfig, PositionConfig, RunConfig, TaskConfig
from lengen_core.data import ExampleSource, longest_training_example, resolve_eval_lengths, stream_rng
from lengen_core.errors import ConfigError
from lengen_core.tasks.base import build_task

FLOAT_BYTES = 4
GIB = 1024**3
# fp32 throughput one job gets in the model's matmuls, and the fixed cost of one greedy
# decoding step per layer (kernel launches and Python), on a 2-core AVX2 machine.
CPU_FLOPS = 20e9
MEMORY_BANDWIDTH = 3e9  # bytes/s one job streams through (read + write) in elementwise work
DECODE_STEP_OVERHEAD_S = 2.5e-4
# Training: the rate one torch thread gets on ``train_step_flops`` (counted over the tokens a step's
# rows hold, padding included: training_step_tokens), how it grows with threads
# (threads ** TRAIN_THREAD_SCALING), and a fixed cost per step (optimizer, data making, Python).
# Refitted after packing and the fused optimizer (issue 10) to six configs measured through the
# trainer on the 2-core development machine at 1 and 2 threads (bench/train_time_check.py,
# docs/benchmarks.md): the estimate was 0.80-1.31x the measurement, a guide to show before
# Start, not a bound (no request is refused on it).
TRAIN_FLOPS_PER_THREAD = 58e9
TRAIN_THREAD_SCALING = 0.5
TRAIN_STEP_OVERHEAD_S = 8e-3
# HSA on the CPU runs its PyTorch reference (the Triton kernels need a GPU), which costs more than its FLOPs say:
# many small ops (the sliding window's blocks and masks, chunk scores, top-k, the gathers, stick-breaking weights).
# Per token of a training step at one thread: about 4 us per layer and 0.5 us per key an HSA layer gathers
# (top_k x chunk_size), least squares over 10 configs around the HSA lesson's (2-4 layers, top-k 2-4, chunks of
# 8-16, width 64-128; bench/train_time_check.py --cases HSA, docs/benchmarks.md), each within 0.87-1.19x; without
# it the estimate was 0.33-0.65x the measured step. It speeds up with threads as the FLOPs do (1.43-1.55x from 1 to
# 2 threads, measured).
HSA_LAYER_S_PER_TOKEN = 4e-6
HSA_GATHERED_KEY_S_PER_TOKEN = 0.5e-6
# Share of the machine's memory the jobs may use together; the rest is the server, the
# page scripts, the OS and allocator slack.
MEMORY_HEADROOM = 0.75
DEFAULT_EVAL_SECONDS = 3600.0
BASE_PROCESS_BYTES = 600 * 1024**2  # torch + the app or CLI before any run (measured: 0.4-0.6 GiB)
WORKSPACE_BYTES = 48 * 1024**2  # per-step buffers, thread pools and allocator slack of a small run (measured: 20-40 MiB)
DECODING_MARGIN = 1.25  # decoding's peak moves between the prompt pass and the last step; measured within 20%


@dataclass(frozen=True)
class Budget:
    """What one job may use: ``memory_bytes`` at its peak, ``eval_seconds`` of evaluation.

    ``source`` says where the numbers came from, for error messages.
    """

    memory_bytes: int
    eval_seconds: float
    source: str

    @property
    def memory_gib(self) -> float:
        return self.memory_bytes / GIB


def machine_memory_bytes() -> int:
    """Physical memory, or the cgroup limit when the process runs under a smaller one."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = open(path).read().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def default_budget(concurrent_jobs: int | None = None) -> Budget:
    """The per-job budget of this machine: ``LENGEN_JOB_MEMORY_GB`` / ``LENGEN_MAX_EVAL_S`` when set,
    else ``MEMORY_HEADROOM`` of its memory shared by ``concurrent_jobs`` (default ``LENGEN_MAX_JOBS``, 2)."""
    if concurrent_jobs is None:
        concurrent_jobs = _env_number("LENGEN_MAX_JOBS", 2, int)
    concurrent_jobs = max(1, int(concurrent_jobs))
    eval_seconds = float(_env_number("LENGEN_MAX_EVAL_S", DEFAULT_EVAL_SECONDS, float))
    configured = _env_number("LENGEN_JOB_MEMORY_GB", None, float)
    if configured is not None:
        return Budget(int(configured * GIB), eval_seconds, "LENGEN_JOB_MEMORY_GB")
    usable = machine_memory_bytes() * MEMORY_HEADROOM - BASE_PROCESS_BYTES
    memory = int(max(usable, 256 * 1024**2) / concurrent_jobs)
    return Budget(memory, eval_seconds, f"{MEMORY_HEADROOM:.0%} of this machine's memory shared by {concurrent_jobs} jobs (LENGEN_MAX_JOBS)")


def _env_number(name: str, default, kind):
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ConfigError(name, f"must be a number, got {text[:40]!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(name, f"must be a positive number, got {text[:40]!r}")
    return value


# ---------------------------------------------------------------------------- shapes


@dataclass(frozen=True)
class _Shape:
    """The sizes the estimate needs: the model's config and what the position scheme and vocabulary add to it."""

    model: ModelConfig
    vocab: int
    max_position: int
    predicts_positions: bool
    encoding: str
    fire_hidden: int


def _shape(config: RunConfig) -> _Shape:
    from lengen_core.positions import build_scheme

    scheme = build_scheme(config.positions)
    positions = config.positions
    return _Shape(config.model, config.vocab_size, positions.max_position, scheme.predicts_positions, scheme.encoding, positions.fire_hidden)


@functools.lru_cache(maxsize=256)
def _parameter_count(model_json: str, positions_json: str, vocab_size: int) -> int:
    import torch

    from lengen_core.models.transformer import build_model
    from lengen_core.positions import build_scheme

    model_config = ModelConfig(**json.loads(model_json))
    position_config = PositionConfig(**json.loads(positions_json))
    with torch.device("meta"):
        model = build_model(model_config, build_scheme(position_config), vocab_size)
    return sum(parameter.numel() for parameter in model.parameters())


def parameter_count(config: RunConfig) -> int:
    """Exact number of model parameters (the model is built on the meta device: no memory, ~15 ms)."""
    data = config.to_dict()
    vocab_size = config.vocab_size
    return _parameter_count(json.dumps(data["model"], sort_keys=True), json.dumps(data["positions"], sort_keys=True), vocab_size)


# ---------------------------------------------------------------------------- memory


def _bias_values(shape: _Shape, rows: int, length: int) -> int:
    """float32 values alive while an ALiBi/FIRE bias ``[B, H, T, T]`` is made and kept."""
    if shape.encoding == "alibi":
        return rows * length * length * (shape.model.n_heads + 2)  # distance [B, T, T] + bias
    if shape.encoding == "fire":
        return rows * length * length * (2 * shape.fire_hidden + 2 * shape.model.n_heads + 4)  # MLP hidden, out, permute
    return 0


def _attention_uses_mask(shape: _Shape) -> bool:
    """Whether dense attention builds an explicit ``[B, H, T, T]`` mask (math path) in training."""
    return shape.encoding in ("alibi", "fire") or shape.model.length_scaling != "none"


def _mixer_values_per_token(shape: _Shape, length: int) -> float:
    """float32 values one layer's sequence mixer keeps per token for backward."""
    d, heads = shape.model.d_model, shape.model.n_heads
    if shape.model.attention == "dense":
        values = 6 * d  # qkv, rotations, attention output and its projection input
        if _attention_uses_mask(shape):
            values += 2 * heads * length  # mask + bias, probabilities rows of [B, H, T, T]
        return values
    if shape.model.hsa.local_mixer == "swa":
        return 10 * d + 3 * heads * 2 * shape.model.hsa.window  # blocked q/k/v, scores and probabilities over 2W keys
    chunk = min(64, max(length, 1))
    return 6 * d + 2.5 * chunk * d  # gated recurrence: [C, C, d] decay weights per scan chunk (measured 2.0-2.1 C d)


def _hsa_values_per_token(shape: _Shape, length: int, training: bool = True) -> float:
    """float32 values the HSA branch of one layer keeps per token (reference path)."""
    d, heads, head_dim = shape.model.d_model, shape.model.n_heads, shape.model.d_model // shape.model.n_heads
    hsa = shape.model.hsa
    kv, top_k, size = hsa.kv_heads, hsa.top_k, hsa.chunk_size
    chunks = max(1, length // size)
    values = 6 * d + 4 * kv * head_dim + 2 * kv * hsa.retrieval_dim  # norms, k, v, q, landmark queries
    values += 3 * kv * chunks  # dense retrieval scores over every chunk, masked
    values += 2 * kv * top_k * hsa.retrieval_dim  # gathered landmarks
    values += 2 * kv * top_k * size * head_dim  # gathered chunk keys and values
    values += 3 * heads * top_k * size + 2 * heads * top_k * head_dim  # logits, probabilities, slot outputs
    if hsa.landmark == "encoder":  # one bidirectional encoder layer over each chunk + CLS (its no-grad fast path holds more)
        values += (12 if training else 56) * d + 3 * heads * (size + 1)
    return values


def _layer_values_per_token(shape: _Shape, length: int, layer: int, training: bool = True) -> float:
    values: float = 4 * shape.model.d_model + 2 * shape.model.d_ff  # norms, residual, MLP hidden before/after GELU
    values += _mixer_values_per_token(shape, length)
    if shape.model.attention == "hsa" and layer >= shape.model.n_layers // 2:
        values += _hsa_values_per_token(shape, length, training)
    return values


def _head_values_per_token(shape: _Shape, training: bool) -> float:
    """Embeddings, final norm, logits (and their softmax and gradient in training); the position head too."""
    copies = 3 if training else 1
    values = 3 * shape.model.d_model + copies * shape.vocab
    if shape.predicts_positions:
        values += copies * shape.max_position
    return values


def training_activation_bytes(config: RunConfig, rows: int | None = None, length: int | None = None) -> int:
    """Bytes one training step keeps for backward, for ``rows`` x ``length`` tokens (default: the longest batch)."""
    shape = _shape(config)
    rows = config.train.batch_size if rows is None else rows
    length = longest_training_row(config) if length is None else length
    layers = sum(_layer_values_per_token(shape, length, layer) for layer in range(shape.model.n_layers))
    values = rows * length * (layers + _head_values_per_token(shape, training=True))
    values += 2 * _bias_values(shape, rows, length)  # the bias, and its gradient (FIRE) or temporaries
    return int(values * FLOAT_BYTES) + WORKSPACE_BYTES


def decoding_bytes(config: RunConfig, rows: int, length: int, prompt_length: int, *, padded: bool = True) -> int:
    """Bytes greedy decoding of ``rows`` examples of ``length`` tokens (``prompt_length`` of them prompt) needs.

    Dense models keep a KV cache: the peak is the larger of the prompt pass (its
    temporaries + the prompt's cache) and the last step (every layer's cache, one
    of them being copied as it grows), plus a materialised ALiBi/FIRE bias for the
    whole sequence. The prompt pass builds ``[B, H, P, P]`` attention matrices
    when there is a bias or (``padded``) prompts of different lengths are
    left-padded. HSA models rerun the whole prefix each step without a cache.
    """
    shape = _shape(config)
    d, layers = shape.model.d_model, shape.model.n_layers
    head = _head_values_per_token(shape, training=False)
    if shape.model.attention == "dense":
        widest = max(6 * d, 2 * d + 2 * shape.model.d_ff) + head
        if padded or _attention_uses_mask(shape):
            widest += 3 * shape.model.n_heads * prompt_length
        prompt_pass = rows * prompt_length * (widest + 2 * layers * d)
        last_step = 2 * rows * length * d * (layers + 1)
        values = max(prompt_pass, last_step) + _bias_values(shape, rows, length)
    else:
        widest = max(_layer_values_per_token(shape, length, layer, training=False) for layer in range(layers))
        values = rows * length * (widest + 2 * d + head)
    return int(DECODING_MARGIN * values * FLOAT_BYTES) + WORKSPACE_BYTES


def longest_training_row(config: RunConfig) -> int:
    """Tokens in the longest training row: (distractors + 1) examples of the longest training length."""
    return (config.train.distractor_examples + 1) * longest_training_example(config.task)


# ---------------------------------------------------------------------------- work


PROBE_TOKEN_LIMIT = 20_000  # above this many padded tokens a step, drawing batches to count them costs too much


def training_step_tokens(config: RunConfig) -> tuple[float, int]:
    """(tokens a training step computes, padding included; its rows' width), averaged over
    the first batches the trainer draws (packed or not, :func:`lengen_core.training.packs_rows`).

    A step of more than :data:`PROBE_TOKEN_LIMIT` padded tokens is not drawn (the
    estimate must stay cheap for any request, however large): it counts every row
    at the longest training row, the bound packing can only lower.
    """
    row = longest_training_row(config)
    if config.train.batch_size * row > PROBE_TOKEN_LIMIT:
        return float(config.train.batch_size * row), row
    return _training_step_tokens(config.to_json())


@functools.lru_cache(maxsize=1024)
def _training_step_tokens(config_json: str, batches: int = 4) -> tuple[float, int]:
    from lengen_core.training import BatchSource

    source = BatchSource(RunConfig.from_json(config_json), seed=0)
    shapes = [source.next().inputs.shape for _ in range(batches)]  # each [R, W]
    return sum(rows * width for rows, width in shapes) / batches, max(width for _rows, width in shapes)


def _forward_flops_per_token(config: RunConfig, parameters: int, context: int) -> float:
    """FLOPs (2 per multiply-add) of one token's forward pass over ``context`` earlier tokens."""
    model, hsa = config.model, config.model.hsa
    flops = 2.0 * parameters
    if model.attention == "dense":
        flops += 4.0 * model.n_layers * context * model.d_model
    else:
        if hsa.local_mixer == "swa":
            flops += 4.0 * model.n_layers * min(context, 2 * hsa.window) * model.d_model
        else:  # the chunked scan's [C, C, d] decay weights: exp and masking, ~30 FLOPs each
            flops += 30.0 * model.n_layers * min(context, 64) * model.d_model
        hsa_layers = model.n_layers - model.n_layers // 2  # HSA sits in the upper half of the layers
        flops += 4.0 * hsa_layers * hsa.top_k * hsa.chunk_size * model.d_model
    return flops


def decoding_seconds(config: RunConfig, parameters: int, rows: int, prompt_length: int, answer_length: int) -> float:
    """Seconds to greedy-decode one batch: FLOPs, the memory the steps stream through, and a fixed cost per step.

    With a KV cache (dense) each step runs one token and copies the growing
    cache (``torch.cat``); without one (HSA) each step reruns the whole prefix.
    """
    shape = _shape(config)
    d, layers = shape.model.d_model, shape.model.n_layers
    seconds = answer_length * layers * DECODE_STEP_OVERHEAD_S
    total = prompt_length + answer_length
    if shape.model.attention == "dense":
        middle = prompt_length + answer_length / 2  # mean context of a decoding step
        flops = rows * (
            prompt_length * _forward_flops_per_token(config, parameters, prompt_length)
            + answer_length * _forward_flops_per_token(config, parameters, int(middle))
        )
        streamed = 2 * 2 * layers * rows * d * middle * answer_length * FLOAT_BYTES  # read + write of the cache copies
        streamed += answer_length * _bias_values(shape, rows, total) / max(total, 1) * FLOAT_BYTES
    else:
        middle = prompt_length + answer_length / 2
        flops = rows * answer_length * middle * _forward_flops_per_token(config, parameters, int(middle))
        widest = max(_layer_values_per_token(shape, total, layer, training=False) for layer in range(layers))
        streamed = 2 * rows * answer_length * middle * layers * widest * FLOAT_BYTES
    return seconds + flops / CPU_FLOPS + streamed / MEMORY_BANDWIDTH


@dataclass(frozen=True)
class EvalLengthCost:
    """One tested length: the batch evaluation will use there and what it costs."""

    length: int
    tokens: int
    batch_size: int
    peak_bytes: int
    seconds: float
    task: str = ""  # which task of a mixture it tests; "" for the main task


@dataclass(frozen=True)
class CostEstimate:
    """Peak memory (bytes) and time (seconds) of a run, with the parts they are made of."""

    parameters: int
    static_bytes: int  # parameters, gradients, optimizer state
    training_row_tokens: int
    training_activation_bytes: int
    eval_lengths: tuple[EvalLengthCost, ...]
    train_step_flops: float
    budget: Budget
    train_seconds: float = 0.0  # train.steps at this process's torch threads, capped by train.time_budget_s
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def training_peak_bytes(self) -> int:
        return self.static_bytes + self.training_activation_bytes

    @property
    def eval_peak_bytes(self) -> int:
        return max((point.peak_bytes for point in self.eval_lengths), default=0)

    @property
    def peak_bytes(self) -> int:
        return max(self.training_peak_bytes, self.eval_peak_bytes)

    @property
    def eval_seconds(self) -> float:
        return sum(point.seconds for point in self.eval_lengths)

    @property
    def time_to_result_s(self) -> float:
        """Training plus the length sweep: how long a user waits for the run's result."""
        return self.train_seconds + self.eval_seconds

    def batch_size_for(self, length: int, task: str = "") -> int:
        for point in self.eval_lengths:
            if point.length == length and point.task == task:
                return point.batch_size
        raise KeyError(length)

    def lengths_of(self, task: str = "") -> list[int]:
        """The lengths planned for one task of the run ("" = the main task)."""
        return [point.length for point in self.eval_lengths if point.task == task]

    def summary(self) -> str:
        """The modelled times and the memory, for the CLI (the app scales the times by what it measured here)."""
        return f"training about {self.train_seconds:.0f} s and evaluation about {self.eval_seconds:.0f} s on this machine; {self.memory_summary()}"

    def memory_summary(self) -> str:
        """``peak memory about 0.05 GiB (training 0.05, evaluation 0.01); budget 12.00 GiB and 600 s per job``."""
        return (
            f"peak memory about {self.peak_bytes / GIB:.2f} GiB (training {self.training_peak_bytes / GIB:.2f}, "
            f"evaluation {self.eval_peak_bytes / GIB:.2f}); "
            f"budget {self.budget.memory_gib:.2f} GiB and {self.budget.eval_seconds:.0f} s per job"
        )


def _eval_length_cost(config: RunConfig, length: int, parameters: int, budget: Budget, task: str = "") -> EvalLengthCost:
    source = ExampleSource(config.task)
    if task:
        source = source.part(task)
    tokens = source.max_sequence_length(length)
    prompt, answer, padded = _probe(source, length)
    fixed = parameters * FLOAT_BYTES
    per_example = decoding_bytes(config, 1, tokens, prompt, padded=padded)
    room = budget.memory_bytes - fixed - WORKSPACE_BYTES
    fits = max(1, int(room // max(per_example - WORKSPACE_BYTES, 1)))
    batch = max(1, min(config.eval.batch_size, config.eval.samples_per_length, fits))
    while batch > 1 and fixed + decoding_bytes(config, batch, tokens, prompt, padded=padded) > budget.memory_bytes:
        batch = max(1, int(batch * 0.8))
    peak = fixed + decoding_bytes(config, batch, tokens, prompt, padded=padded)
    samples = config.eval.samples_per_length
    full, rest = divmod(samples, batch)
    seconds = full * decoding_seconds(config, parameters, batch, prompt, answer)
    if rest:
        seconds += decoding_seconds(config, parameters, rest, prompt, answer)
    return EvalLengthCost(length, tokens, int(batch), int(peak), seconds, task)


def _probe(source, length: int) -> tuple[int, int, bool]:
    """(longest prompt, longest answer with <eos>, whether prompts differ in length) in a few examples at ``length``."""
    return _probe_task(json.dumps(dataclasses.asdict(source.config), sort_keys=True), length, source.marker_id is not None)


@functools.lru_cache(maxsize=4096)
def _probe_task(task_json: str, length: int, marker: bool = False) -> tuple[int, int, bool]:
    source = ExampleSource(TaskConfig(**json.loads(task_json)), marker=marker)
    rng = stream_rng("cost-probe", source.task.name, length)
    examples = [source.sample(rng, length) for _ in range(6)]
    prompts = {len(example.prompt) for example in examples}
    return max(prompts), max(len(example.answer) for example in examples), len(prompts) > 1


def estimate_cost(
    config: RunConfig, budget: Budget | None = None, *, lengths: list[int] | None = None, task: str = "", threads: int | None = None
) -> CostEstimate:
    """Peak memory and evaluation time of ``config`` (evaluated at ``lengths``, default its own sweep,
    which for a mixture covers every task it tests). Given ``lengths``, the sweep tests one task: ``task``
    of the mixture ("" = the main task). ``threads``: the torch threads the run will train with (default:
    this process's; the app passes the share its job manager will give the run)."""
    budget = budget or default_budget()
    parameters = parameter_count(config)
    row = longest_training_row(config)
    static = parameters * FLOAT_BYTES * 5  # weights, gradients, AdamW's two moments, one foreach temporary
    activations = training_activation_bytes(config, length=row)
    own_sweep = lengths is None
    if lengths is None:
        lengths = config.eval_lengths()
    tested = "" if own_sweep else task
    per_length = tuple(_eval_length_cost(config, length, parameters, budget, tested) for length in sorted(set(lengths)))
    if own_sweep:  # a mixture's other tested tasks, each at its own lengths (an extra sweep tests one task)
        for part in config.task.evaluated_parts()[1:]:
            part_lengths = resolve_eval_lengths(part, config.eval, build_task(part.name, part.options))
            per_length += tuple(_eval_length_cost(config, length, parameters, budget, part.name) for length in part_lengths)
    tokens, width = training_step_tokens(config)
    step_flops = 3.0 * tokens * _forward_flops_per_token(config, parameters, width)
    seconds = training_seconds(config, step_flops, threads, step_tokens=tokens)
    return CostEstimate(parameters, static, row, activations, per_length, step_flops, budget, seconds)


def duration_text(seconds: float) -> str:
    """``42 s``, ``3.5 min``, ``1.2 h``: an estimate's duration as a person reads it."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def finish_times(seconds: list[float], workers: int) -> list[float]:
    """When each of several jobs of ``seconds`` each is done, started in order on ``workers``
    first-in-first-out workers (how the job manager runs its queue)."""
    free_at = [0.0] * max(1, workers)
    done_at = []
    for duration in seconds:
        first_free = min(range(len(free_at)), key=free_at.__getitem__)
        free_at[first_free] += duration
        done_at.append(free_at[first_free])
    return done_at


def queue_seconds(seconds: list[float], workers: int) -> float:
    """When the last of several jobs of ``seconds`` each is done (:func:`finish_times`; 0 for none)."""
    return max(finish_times(seconds, workers), default=0.0)


def hsa_reference_seconds_per_token(config: RunConfig) -> float:
    """What the reference HSA path adds to a training step, per token at one thread, beyond its FLOPs (see
    :data:`HSA_LAYER_S_PER_TOKEN`): every layer's local mixer, and each HSA layer's gathered keys."""
    model = config.model
    hsa_layers = model.n_layers - model.n_layers // 2  # HSA sits in the upper half of the layers
    return model.n_layers * HSA_LAYER_S_PER_TOKEN + hsa_layers * model.hsa.top_k * model.hsa.chunk_size * HSA_GATHERED_KEY_S_PER_TOKEN


def training_seconds(config: RunConfig, step_flops: float, threads: int | None = None, *, step_tokens: float | None = None) -> float:
    """Seconds ``config`` trains on the CPU: its steps at ``threads`` torch threads (default: this
    process's), or its time budget if that ends training first. ``step_tokens``: the tokens a step's rows hold
    (:func:`training_step_tokens`, drawn when not given), for the reference HSA path's cost."""
    if threads is None:
        import torch

        threads = torch.get_num_threads()
    speedup = max(1, threads) ** TRAIN_THREAD_SCALING
    per_step = step_flops / (TRAIN_FLOPS_PER_THREAD * speedup) + TRAIN_STEP_OVERHEAD_S
    if config.model.attention == "hsa":
        tokens = training_step_tokens(config)[0] if step_tokens is None else step_tokens
        per_step += hsa_reference_seconds_per_token(config) * tokens / speedup
    seconds = config.train.steps * per_step
    budget = config.train.time_budget_s
    return seconds if budget is None else min(seconds, budget)


def check_budget(
    config: RunConfig, budget: Budget | None = None, *, lengths: list[int] | None = None, task: str = "", threads: int | None = None
) -> CostEstimate:
    """The estimate of ``config``, or a :class:`ConfigError` naming what to shrink when it is over ``budget``."""
    estimate = estimate_cost(config, budget, lengths=lengths, task=task, threads=threads)
    budget = estimate.budget
    limit = f"this machine's budget of {budget.memory_gib:.2f} GiB per job ({budget.source})"
    if estimate.training_peak_bytes > budget.memory_bytes:
        activations = estimate.training_activation_bytes
        if activations >= estimate.static_bytes:
            field_name = "train.batch_size"
            what = (
                f"a training step needs about {estimate.training_peak_bytes / GIB:.2f} GiB "
                f"({activations / GIB:.2f} GiB of activations for {config.train.batch_size} rows of up to "
                f"{estimate.training_row_tokens} tokens)"
            )
            shrink = "train.batch_size, task.train_length_max, train.distractor_examples, model.d_model, model.d_ff or model.n_layers"
        else:
            field_name = "model.d_model"
            what = f"the model's {estimate.parameters:,} parameters with their gradients and AdamW state need about {estimate.static_bytes / GIB:.2f} GiB"
            shrink = "model.d_model, model.d_ff, model.n_layers or positions.max_position"
        raise ConfigError(field_name, f"{what}, over {limit}; shrink {shrink}")
    for point in estimate.eval_lengths:
        if point.peak_bytes > budget.memory_bytes:
            raise ConfigError(
                "eval.lengths",
                f"evaluating{' ' + point.task if point.task else ''} at length {point.length} ({point.tokens} tokens) needs about {point.peak_bytes / GIB:.2f} GiB "
                f"even one example at a time, over {limit}; test shorter lengths (eval.lengths, eval.max_length_factor) "
                "or use a smaller model",
            )
    seconds_limit = config.eval.time_budget_s if config.eval.time_budget_s is not None else budget.eval_seconds
    if estimate.eval_seconds > seconds_limit:
        source = "eval.time_budget_s" if config.eval.time_budget_s is not None else f"LENGEN_MAX_EVAL_S, default {DEFAULT_EVAL_SECONDS:.0f}"
        raise ConfigError(
            "eval.samples_per_length",
            f"the length sweep would take about {estimate.eval_seconds:.0f} s on this machine, over its bound of "
            f"{seconds_limit:.0f} s ({source}); use fewer eval.samples_per_length, fewer or shorter eval lengths, "
            "or a smaller model",
        )
    return estimate


def eval_length_cost(config: RunConfig, length: int, budget: Budget | None = None, task: str = "") -> EvalLengthCost:
    """Batch, peak memory and seconds of evaluating ``length`` of ``task`` ("" = the main task): a length the
    planned sweep does not hold (the length search's, :mod:`lengen_core.length_search`)."""
    return _eval_length_cost(config, length, parameter_count(config), budget or default_budget(), task)


def eval_batch_size(config: RunConfig, length: int, budget: Budget | None = None) -> int:
    """The decoding batch for ``length``: ``eval.batch_size`` or smaller, so that it fits ``budget``."""
    return _eval_length_cost(config, length, parameter_count(config), budget or default_budget()).batch_size
