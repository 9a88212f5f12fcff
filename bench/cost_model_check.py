"""The cost model against measured peak memory, and the largest config the default budget accepts.

For each config, one fresh process runs the phase for real (two training steps of
the widest batch, or greedy decoding of one evaluation batch) and reports its peak
resident memory above its start; the estimate of :mod:`lengen_core.costs` is printed
beside it with their ratio (the test suite requires 1x..3x). Then, at this machine's
default per-job budget (``LENGEN_MAX_JOBS`` jobs, :func:`lengen_core.costs.default_budget`),
the largest training batch of a big model that the budget accepts is found and run,
and its measured peak is compared with the budget.

    python bench/cost_model_check.py            # the table and the largest accepted config
    python bench/cost_model_check.py --quick    # the table only
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Any

try:  # run as python -m bench.<script> or as python bench/<script>.py
    from bench.calibrate_costs import measure_in_fresh_process
except ImportError:
    from calibrate_costs import measure_in_fresh_process


CASES: dict[str, tuple[dict[str, Any], str, dict[str, Any]]] = {
    "default (reverse 1..10, coupled), train": ({}, "train", {}),
    "4 layers x 512 wide, train": ({"model": {"d_model": 512, "n_layers": 4, "d_ff": 2048, "n_heads": 8}}, "train", {}),
    "learned, batch 256 x 130 tokens, train": (
        {"task": {"train_length_max": 64}, "positions": {"max_position": 512}, "train": {"batch_size": 256}},
        "train",
        {},
    ),
    "alibi, train": ({"positions": {"scheme": "alibi"}, "task": {"train_length_max": 32}, "train": {"batch_size": 128}}, "train", {}),
    "fire, train": ({"positions": {"scheme": "fire"}, "task": {"train_length_max": 32}}, "train", {}),
    "4 distractor examples, train": ({"train": {"distractor_examples": 4}, "task": {"train_length_max": 20}}, "train", {}),
    "predictive coupling, 2048 ids, train": ({"positions": {"scheme": "predictive_coupled", "max_position": 2048}}, "train", {}),
    "HSA + SWA, train": ({"model": {"attention": "hsa"}, "positions": {"scheme": "nope"}, "task": {"train_length_max": 64}}, "train", {}),
    "HSA + recurrent, train": (
        {"model": {"attention": "hsa", "hsa": {"local_mixer": "recurrent"}}, "positions": {"scheme": "nope"}, "task": {"train_length_max": 64}},
        "train",
        {},
    ),
    "default, eval 512 x length 40": ({}, "eval", {"eval_length": 40, "rows": 512}),
    "alibi, eval 256 x length 128": ({"positions": {"scheme": "alibi"}, "task": {"train_length_max": 32}}, "eval", {"eval_length": 128, "rows": 256}),
    "fire, eval 128 x length 96": ({"positions": {"scheme": "fire"}, "task": {"train_length_max": 32}}, "eval", {"eval_length": 96, "rows": 128}),
    "HSA + SWA, eval 64 x length 128": (
        {"model": {"attention": "hsa"}, "positions": {"scheme": "nope"}, "task": {"train_length_max": 64}},
        "eval",
        {"eval_length": 128, "rows": 64},
    ),
    "HSA + encoder landmarks, eval 64 x length 64": (
        {"model": {"attention": "hsa", "hsa": {"landmark": "encoder", "chunk_size": 8}}, "positions": {"scheme": "nope"}, "task": {"train_length_max": 64}},
        "eval",
        {"eval_length": 64, "rows": 64},
    ),
}
BIG_MODEL = {
    "model.d_model": 512,
    "model.n_layers": 6,
    "model.n_heads": 8,
    "model.d_ff": 2048,
    "task.train_length_min": 64,
    "task.train_length_max": 64,
    "positions.max_position": 512,
    "eval.lengths": [64, 128],
}


def measure(config: dict[str, Any], phase: str, **extra: Any) -> dict[str, Any]:
    return measure_in_fresh_process(config, phase, timeout_s=1800, **extra)


def largest_batch(budget: Any) -> int:
    from lengen_core.config import RunConfig
    from lengen_core.costs import check_budget
    from lengen_core.errors import ConfigError

    low, high = 1, 1024
    while low < high:
        middle = (low + high + 1) // 2
        try:
            check_budget(RunConfig().replace(**BIG_MODEL, **{"train.batch_size": middle}), budget)
        except ConfigError:
            high = middle - 1
        else:
            low = middle
    return low


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip the largest-accepted-config run")
    args = parser.parse_args()
    from lengen_core.config import RunConfig
    from lengen_core.costs import GIB, default_budget

    print(f"# cost model check, {platform.node()}, {platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print("| config | phase | rows x tokens | measured MiB | estimated MiB | estimate / measured |")
    print("|---|---|---|---|---|---|")
    ratios = []
    for name, (config, phase, extra) in CASES.items():
        result = measure(config, phase, **extra)
        ratio = result["estimated"] / result["measured"]
        ratios.append(ratio)
        print(
            f"| {name} | {phase} | {result['rows']} x {result['tokens']} | {result['measured'] / 2**20:.0f} | {result['estimated'] / 2**20:.0f} | {ratio:.2f} |",
            flush=True,
        )
    print(f"\nratio: min {min(ratios):.2f}, max {max(ratios):.2f} over {len(ratios)} configs")
    if args.quick:
        return 0
    budget = default_budget()
    batch = largest_batch(budget)
    config = RunConfig().replace(**BIG_MODEL, **{"train.batch_size": batch})
    from lengen_core.costs import check_budget

    estimate = check_budget(config, budget)
    started = time.perf_counter()
    trained = measure(config.to_dict(), "train")
    rows = estimate.batch_size_for(128)
    decoded = measure(config.to_dict(), "eval", eval_length=128, rows=rows)
    print(
        f"\nlargest accepted at the default budget ({budget.memory_bytes / GIB:.2f} GiB per job, {budget.source}): "
        f"d_model 512 x 6 layers, reverse length 64, batch {batch} (estimate {estimate.training_peak_bytes / GIB:.2f} GiB); "
        f"measured training peak {trained['measured'] / GIB:.2f} GiB = {trained['measured'] / budget.memory_bytes:.0%} of the budget; "
        f"evaluation at length 128 in batches of {rows}: measured {(decoded['measured'] + estimate.parameters * 4) / GIB:.2f} GiB "
        f"({time.perf_counter() - started:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
