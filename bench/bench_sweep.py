"""Length-sweep speed: 10 lengths x 200 examples up to 4x the training length, greedy decoding.

The baseline, measured in the same run, is the same sweep decoded without the
KV cache (every step re-runs the whole prefix), i.e. the obvious implementation.
Target: the cached sweep in <= 10 s on 2 cores for the default small model.

    python bench/bench_sweep.py [--task reverse] [--threads 2]
"""

from __future__ import annotations

import time

import torch

from lengen_core.config import EvalConfig, ModelConfig, PositionConfig, TaskConfig
from lengen_core.evaluation import sweep
from lengen_core.models import build_model
from lengen_core.positions import build_scheme

try:  # python -m bench.bench_sweep
    from bench.common import cpu_bench_parser, cpu_environment, report
except ModuleNotFoundError:  # python bench/bench_sweep.py
    from common import cpu_bench_parser, cpu_environment, report


def main() -> None:
    parser = cpu_bench_parser(__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train-length", type=int, default=10)
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task_config = TaskConfig(name=args.task, train_length_min=1, train_length_max=args.train_length)
    eval_config = EvalConfig(samples_per_length=200, n_lengths=10, max_length_factor=4.0)
    torch.manual_seed(0)
    model = build_model(ModelConfig(), build_scheme(PositionConfig(scheme=args.scheme, max_position=256))).eval()

    def timed(use_cache: bool) -> tuple[float, list[int]]:
        started = time.perf_counter()
        outcome = sweep(model, task_config, eval_config, use_cache=use_cache)
        return time.perf_counter() - started, [p.length for p in outcome.points]

    timed(True)  # warm-up
    cached_seconds, lengths = timed(True)
    uncached_seconds, _ = timed(False)
    result = {
        "task": args.task,
        "scheme": args.scheme,
        "lengths": lengths,
        "samples_per_length": 200,
        "cached_seconds": round(cached_seconds, 3),
        "no_cache_seconds": round(uncached_seconds, 3),
        "speedup_vs_no_cache": round(uncached_seconds / cached_seconds, 2),
        "threads": args.threads,
        **cpu_environment(),
    }
    report(result, args.json)


if __name__ == "__main__":
    main()
