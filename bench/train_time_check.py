"""The training-time estimate of :mod:`lengen_core.costs` against the trainer, at 1 and 2 torch threads.

For each config the real trainer (:func:`lengen_core.training.train`) runs
``--steps`` steps after a 3-step warm-up, and the seconds per step are printed
beside :func:`lengen_core.costs.training_seconds`'s estimate and their ratio.
The constants ``TRAIN_FLOPS_PER_THREAD``, ``TRAIN_THREAD_SCALING`` and
``TRAIN_STEP_OVERHEAD_S`` were fitted to this table (docs/benchmarks.md has a run).

    python bench/train_time_check.py [--steps 60] [--threads 1,2] [--json out.json]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

from lengen_core.config import RunConfig
from lengen_core.costs import estimate_cost, training_seconds
from lengen_core.lessons import BASE_CHANGES, LESSON_RUNS
from lengen_core.training import train

try:  # python -m bench.train_time_check
    from bench.common import cpu_environment, report
except ModuleNotFoundError:  # python bench/train_time_check.py
    from common import cpu_environment, report

# The defaults before issue 10 changed them (2 layers, no distractor examples): the cases stay what they were.
_BEFORE = {"model.n_layers": 2, "train.distractor_examples": 0}
_HSA_LESSON = {**BASE_CHANGES, **LESSON_RUNS["passkey_hsa"].changes}
CASES: dict[str, dict[str, Any]] = {
    "reference (old defaults: reverse 1..10, 2 x 128)": {**_BEFORE, "task.name": "reverse", "task.train_length_max": 10},
    "lesson model, reverse 1..8": {**BASE_CHANGES, "task.name": "reverse", "task.train_length_max": 8},
    "lesson model, addition 1..6": {**BASE_CHANGES, "task.name": "addition", "task.options": {}, "task.train_length_max": 6},
    "wide: d_model 256, d_ff 1024": {**_BEFORE, "model.d_model": 256, "model.d_ff": 1024, "task.train_length_max": 10},
    "long: reverse 1..32": {**_BEFORE, "task.train_length_max": 32, "positions.max_position": 512},
    "tiny: 1 x 32, batch 16": {**_BEFORE, "model.d_model": 32, "model.d_ff": 64, "model.n_heads": 2, "model.n_layers": 1, "train.batch_size": 16},
    # HSA on the CPU runs its PyTorch reference (the Triton kernels need a GPU): the HSA lesson's model, then bigger
    "HSA lesson: passkey 16-48, 2 x 64": {**_HSA_LESSON},
    "HSA 4 layers, top-k 4": {**_HSA_LESSON, "model.n_layers": 4, "model.hsa": {"chunk_size": 8, "top_k": 4, "window": 8}},
    "HSA chunks of 16, width 128": {**_HSA_LESSON, "model.d_model": 128, "model.d_ff": 256, "model.hsa": {"chunk_size": 16, "top_k": 2, "window": 16}},
}


def measure(changes: dict[str, Any], steps: int, threads: int) -> dict[str, float]:
    torch.set_num_threads(threads)
    config = RunConfig().replace(**{**changes, "train.steps": steps, "train.log_every": steps, "train.warmup_steps": 5, "train.device": "cpu"})
    train(config.replace(**{"train.steps": 3}), seed=0)
    started = time.perf_counter()
    train(config, seed=0)
    measured = time.perf_counter() - started
    estimated = training_seconds(config, estimate_cost(config).train_step_flops, threads=threads)
    return {
        "measured_ms_per_step": round(1000 * measured / steps, 2),
        "estimated_ms_per_step": round(1000 * estimated / steps, 2),
        "ratio": round(estimated / measured, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--cases", default="", help="only the cases whose name contains this text (e.g. HSA)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = []
    for threads in (int(value) for value in args.threads.split(",")):
        for name, changes in CASES.items():
            if args.cases not in name:
                continue
            row = {"config": name, "threads": threads, **measure(changes, args.steps, threads)}
            print(
                f"{threads} thread(s)  {name:<46} measured {row['measured_ms_per_step']:7.1f} ms/step  "
                f"estimated {row['estimated_ms_per_step']:7.1f}  ratio {row['ratio']:.2f}",
                flush=True,
            )
            rows.append(row)
    report({**cpu_environment(), "steps": args.steps, "rows": rows}, args.json)


if __name__ == "__main__":
    main()
