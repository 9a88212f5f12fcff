"""Trainer throughput against a minimal hand-written PyTorch loop, measured in the same run.

Both train the same model (same config, same initial weights) with AdamW, the
same loss and gradient clipping. The baseline reuses one pre-built batch (no
data generation, no scheduling, no logging); the trainer generates fresh data
every step, schedules the learning rate and logs. The ratio
``trainer steps/s / baseline steps/s`` is the number that matters (target >= 0.9).

    python bench/bench_trainer.py [--task reverse] [--steps 300] [--threads 2]
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from lengen_core.batching import IGNORE_INDEX
from lengen_core.config import EvalConfig, ModelConfig, PositionConfig, RunConfig, TaskConfig, TrainConfig
from lengen_core.models import build_model
from lengen_core.positions import build_scheme
from lengen_core.training import BatchSource, TrainingControl, train

try:  # python -m bench.bench_trainer
    from bench.common import cpu_bench_parser, cpu_environment, report
except ModuleNotFoundError:  # python bench/bench_trainer.py
    from common import cpu_bench_parser, cpu_environment, report


def bench_config(task: str, steps: int, scheme: str) -> RunConfig:
    return RunConfig(
        task=TaskConfig(name=task, train_length_min=1, train_length_max=10),
        positions=PositionConfig(scheme=scheme, max_position=256),
        model=ModelConfig(n_layers=2),  # the defaults before issue 10, kept so the numbers stay comparable
        train=TrainConfig(steps=steps, batch_size=64, log_every=max(steps // 5, 1), warmup_steps=10, device="cpu", distractor_examples=0),
        eval=EvalConfig(samples_per_length=10),
    )


def baseline_steps_per_second(config: RunConfig, steps: int) -> float:
    """Minimal loop: one fixed batch, AdamW, CE loss, clip, step."""
    torch.manual_seed(0)
    model = build_model(config.model, build_scheme(config.positions))
    prepared = BatchSource(config, seed=0).next()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.train.lr, weight_decay=config.train.weight_decay)
    inputs, targets, position_ids, segments = prepared.inputs, prepared.targets, prepared.position_ids, prepared.example_ids

    def step() -> None:
        logits = model(inputs, position_ids, segment_ids=segments).logits
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE_INDEX)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip)
        optimizer.step()

    for _ in range(10):  # warm-up
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - started)


def trainer_steps_per_second(config: RunConfig) -> float:
    warm = config.replace(**{"train.steps": 10})
    train(warm, seed=0)  # warm-up (allocator, thread pools)
    started = time.perf_counter()
    result = train(config, seed=0, control=TrainingControl())
    return result.steps_done / (time.perf_counter() - started)


def main() -> None:
    parser = cpu_bench_parser(__doc__)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = bench_config(args.task, args.steps, args.scheme)
    ratios, baselines, trainers = [], [], []
    for _ in range(args.repeats):  # interleaved so drift hits both alike
        baseline = baseline_steps_per_second(config, args.steps)
        trainer = trainer_steps_per_second(config)
        baselines.append(baseline)
        trainers.append(trainer)
        ratios.append(trainer / baseline)
    result = {
        "task": args.task,
        "scheme": args.scheme,
        "steps": args.steps,
        "threads": args.threads,
        "baseline_steps_per_s": sorted(baselines),
        "trainer_steps_per_s": sorted(trainers),
        "ratio_median": sorted(ratios)[len(ratios) // 2],
        "ratios": sorted(ratios),
        **cpu_environment(),
        "cpu_count": torch.get_num_threads(),
    }
    report(result, args.json)


if __name__ == "__main__":
    main()
