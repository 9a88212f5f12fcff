"""Useful training FLOP/s against the machine's own fp32 matmul ceiling, and where a step's time goes.

The ceiling is measured in the same run: the best of several ``torch.mm`` of
1024 x 1024 fp32 matrices on the threads training uses. A config then trains
through the real trainer (:func:`lengen_core.training.train`: fresh data every
step, schedule, clipping, logging) and its useful FLOP/s is

    (6 x non-embedding parameters x real tokens + 6 x n_layers x d_model x sum over rows of t^2) / seconds

Our choice of what counts as useful, following the issue: real tokens are the
rows' unpadded lengths (the padding a batch carries is not useful work); 6 =
forward (2) + backward (4) per weight per token; the attention term counts
QK^T and AV of the causal half (2 x t^2 x d per layer forward, x3 for training).
Embedding tables (token and learned position) are lookups, not matmuls, so
they are left out; the output projection is counted (it is a matmul).

Each config runs in two variants in the same process, their timed runs
interleaved: ``before``, the trainer before issue 10 (one example per row,
``train.packing = "off"``; foreach AdamW), and ``after`` (packed rows, fused AdamW). For a
bound on what a step can reach, the weight matmuls of one step at the model's
own shapes are timed alone (``model_shape_matmul_gflops``): small matrices
(d_model 128) do not reach the 1024^3 ceiling.

Then ``torch.profiler`` runs a few steps of the same loop and groups self CPU
time: matmuls (mm, addmm, bmm, baddbmm, linear backward), the optimizer
(AdamW's ops), data making (the batch source), and everything else
(elementwise, softmax, indexing, Python between ops).

    python bench/bench_training_flops.py [--steps 200] [--repeats 3] [--threads 2] [--json out.json]

Configs: ``reference`` is the issue's fixed one (the defaults when it was
filed: reverse 1..10, coupled, 2 layers, 4 heads, d_model 128, d_ff 512, batch
64); ``lesson`` is the lessons' model on their reverse setup (1 layer, d_model
128, d_ff 256, batch 64, lengths 1..8).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections import Counter
from typing import Any

import torch

from lengen_core import training
from lengen_core.config import RunConfig
from lengen_core.lessons import BASE_CHANGES
from lengen_core.training import BatchSource, train
from lengen_core.vocab import PAD_ID

try:  # python -m bench.bench_training_flops
    from bench.common import cpu_environment, report
except ModuleNotFoundError:  # python bench/bench_training_flops.py
    from common import cpu_environment, report

CONFIGS: dict[str, dict[str, Any]] = {
    "reference": {
        "task.name": "reverse",
        "task.train_length_min": 1,
        "task.train_length_max": 10,
        "positions.scheme": "coupled",
        "model.n_layers": 2,
        "model.n_heads": 4,
        "model.d_model": 128,
        "model.d_ff": 512,
        "train.batch_size": 64,
        "train.distractor_examples": 0,
    },
    "lesson": {**BASE_CHANGES, "task.name": "reverse", "task.train_length_min": 1, "task.train_length_max": 8, "positions.scheme": "coupled"},
}
MATMUL_SIZE = 1024


def matmul_ceiling_flops(size: int = MATMUL_SIZE, repeats: int = 20) -> float:
    """Best FLOP/s of ``size``-cubed fp32 matmuls (2 size^3 FLOPs each) on the current torch threads."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return 2.0 * size**3 / best


def non_embedding_parameters(model: torch.nn.Module) -> int:
    """Parameters of every module except embedding tables (lookups, not matmuls)."""
    embedded = {id(parameter) for module in model.modules() if isinstance(module, torch.nn.Embedding) for parameter in module.parameters()}
    return sum(parameter.numel() for parameter in model.parameters() if id(parameter) not in embedded)


def batch_token_counts(config: RunConfig, steps: int, seed: int = 0) -> tuple[list[list[int]], int]:
    """Real (unpadded) length of every example of the first ``steps`` batches the trainer will draw,
    and the tokens its rows carry, padding included (packed or not, as ``config`` trains)."""
    examples = BatchSource(config.replace(**{"train.packing": "off"}), seed)  # the same draws, one example per row
    rows_as_trained = BatchSource(config, seed)
    lengths, padded = [], 0
    for _ in range(steps):
        lengths.append((examples.next().inputs != PAD_ID).sum(dim=1).tolist())
        padded += rows_as_trained.next().inputs.numel()
    return lengths, padded


def model_shape_matmul_flops(config: RunConfig, tokens: int, repeats: int = 20) -> float:
    """FLOP/s of one training step's weight matmuls at this model's own shapes over ``tokens`` rows:
    for each linear layer the forward ``x W^T`` and the two backward products (input and weight
    gradients). What a step's matmuls can reach here, however little else it did."""
    d, ff, layers = config.model.d_model, config.model.d_ff, config.model.n_layers
    shapes = [(d, 3 * d), (d, d), (d, ff), (ff, d)] * layers + [(d, 128)]  # (in, out); 128 ~ the vocabulary
    tensors = [(torch.randn(tokens, n_in), torch.randn(n_out, n_in), torch.randn(tokens, n_out)) for n_in, n_out in shapes]

    def step() -> None:
        for x, weight, grad in tensors:
            torch.mm(x, weight.t())
            torch.mm(grad, weight)
            torch.mm(grad.t(), x)

    step()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - started)
    return sum(3 * 2.0 * tokens * n_in * n_out for n_in, n_out in shapes) / best


def useful_flops(config: RunConfig, parameters: int, rows: list[list[int]]) -> float:
    """6 x parameters x real tokens + the causal attention term (see the module docstring)."""
    tokens = sum(sum(batch) for batch in rows)
    attention = 6.0 * config.model.n_layers * config.model.d_model * sum(length * length for batch in rows for length in batch)
    return 6.0 * parameters * tokens + attention


def profile_step_time(config: RunConfig, steps: int) -> dict[str, float]:
    """Share of self CPU time per category over ``steps`` trainer steps (after 5 warm-up steps)."""
    from torch.profiler import ProfilerActivity, profile

    train(config.replace(**{"train.steps": 5}), seed=0)  # warm-up: first-call costs out of the profile
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        started = time.perf_counter()
        train(config.replace(**{"train.steps": steps}), seed=0)
        wall = time.perf_counter() - started
    categories: Counter = Counter()
    for event in profiler.key_averages():
        name = event.key
        seconds = event.self_cpu_time_total / 1e6
        if any(op in name for op in ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul", "MmBackward", "AddmmBackward", "BmmBackward")):
            categories["matmul"] += seconds
        elif "adam" in name.lower() or "_foreach" in name or "Optimizer.step" in name:
            categories["optimizer"] += seconds
        elif any(
            op in name
            for op in (
                "aten::add",
                "aten::mul",
                "aten::div",
                "aten::sub",
                "aten::exp",
                "aten::gelu",
                "aten::silu",
                "aten::relu",
                "aten::where",
                "aten::copy_",
                "aten::fill_",
                "aten::zero_",
                "aten::pow",
                "aten::rsqrt",
                "aten::mean",
                "aten::sum",
                "aten::native_layer_norm",
                "Backward",
            )
        ):
            categories["elementwise and norms"] += seconds
        elif any(op in name for op in ("softmax", "scaled_dot_product", "attention")):
            categories["softmax and attention ops"] += seconds
        else:
            categories["other ops"] += seconds
    counted = sum(categories.values())
    shares = {name: round(seconds / wall, 3) for name, seconds in categories.most_common()}
    shares["outside torch ops (Python, data making, logging)"] = round(max(0.0, wall - counted) / wall, 3)
    return shares


@contextlib.contextmanager
def trainer_variant(variant: str):
    """``after``: the trainer as it is. ``before``: its optimizer as it was before issue 10
    (foreach AdamW; the rows unpacked come from the config's ``train.packing = "off"``)."""
    if variant == "after":
        yield
        return
    fused = training.make_optimizer

    def foreach_optimizer(model, config):
        optimizer = fused(model, config)
        return torch.optim.AdamW(optimizer.param_groups, lr=config.train.lr, betas=(0.9, 0.98), foreach=True)

    training.make_optimizer = foreach_optimizer
    try:
        yield
    finally:
        training.make_optimizer = fused


VARIANTS = {"before": "off", "after": "on"}  # variant -> train.packing


def measure(name: str, changes: dict[str, Any], steps: int, ceiling: float, profile_steps: int, repeats: int) -> list[dict[str, Any]]:
    """Both variants of one config, their timed runs interleaved (before, after, before, ...) so that
    the machine's drift falls on both alike; the median of ``repeats`` runs each."""
    from lengen_core.models import build_model
    from lengen_core.positions import build_scheme

    configs = {
        variant: RunConfig().replace(
            **{**changes, "train.packing": packing, "train.steps": steps, "train.log_every": steps, "train.device": "cpu", "train.time_budget_s": None}
        )
        for variant, packing in VARIANTS.items()
    }
    times: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for variant, config in configs.items():
        with trainer_variant(variant):
            train(config.replace(**{"train.steps": 5}), seed=0)  # warm-up
    for _ in range(repeats):
        for variant, config in configs.items():
            with trainer_variant(variant):
                started = time.perf_counter()
                result = train(config, seed=0)
                times[variant].append(time.perf_counter() - started)
            assert result.status == "done", result
    rows = []
    for variant, config in configs.items():
        parameters = non_embedding_parameters(build_model(config.model, build_scheme(config.positions)))
        lengths, padded = batch_token_counts(config, steps)
        seconds = statistics.median(times[variant])
        flops = useful_flops(config, parameters, lengths)
        shape_rate = model_shape_matmul_flops(config, round(padded / steps))
        with trainer_variant(variant):
            shares = profile_step_time(config, profile_steps)
        rows.append(
            {
                "config": name,
                "variant": variant,
                "packing": config.train.packing,
                "non_embedding_parameters": parameters,
                "steps": steps,
                "seconds_per_run": [round(value, 2) for value in times[variant]],
                "steps_per_s": round(steps / seconds, 2),
                "real_tokens_per_step": round(sum(map(sum, lengths)) / steps, 1),
                "padded_tokens_per_step": round(padded / steps, 1),
                "useful_gflops": round(flops / seconds / 1e9, 2),
                "useful_ratio_to_ceiling": round(flops / seconds / ceiling, 3),
                "padded_weight_gflops": round(6.0 * parameters * padded / seconds / 1e9, 2),
                "model_shape_matmul_gflops": round(shape_rate / 1e9, 1),
                "model_shape_matmul_ratio_to_ceiling": round(shape_rate / ceiling, 3),
                "step_time_shares": shares,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--profile-steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ceiling = matmul_ceiling_flops()
    result: dict[str, Any] = {
        **cpu_environment(),
        "threads": args.threads,
        "matmul_ceiling_gflops": round(ceiling / 1e9, 1),
        "configs": [row for name in args.configs.split(",") for row in measure(name, CONFIGS[name], args.steps, ceiling, args.profile_steps, args.repeats)],
    }
    result["matmul_ceiling_gflops_after"] = round(matmul_ceiling_flops() / 1e9, 1)  # the machine's state did not drift
    report(result, args.json)


if __name__ == "__main__":
    main()
