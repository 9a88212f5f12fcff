"""What a learned check costs (``train.stop_when_learned``) against the training steps between two checks.

For each config: the seconds of a training step (the real trainer's batches, loss, backward and AdamW step, after
a warm-up) and of one :meth:`lengen_core.learned_check.LearnedCheck.measure` (every held-out example decoded
greedily), measured in the same process one after the other; then the share of training time the checks add at the
default ``train.learned_check_every`` (250 steps) and at the theory lesson's (500).

    python bench/bench_learned_check.py [--steps 40] [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from lengen_core.config import RunConfig
from lengen_core.learned_check import LearnedCheck
from lengen_core.lessons import BASE_CHANGES, theory_run_changes
from lengen_core.models.transformer import build_model
from lengen_core.positions import build_scheme
from lengen_core.training import BatchSource, compute_loss, make_optimizer

try:  # python -m bench.bench_learned_check
    from bench.common import cpu_environment, report
except ModuleNotFoundError:  # python bench/bench_learned_check.py
    from common import cpu_environment, report

CASES = {
    "train page default (reverse 1-10, coupled)": RunConfig(),
    "theory lesson: majority, APE (2l2h64d)": RunConfig().replace(**{**BASE_CHANGES, **theory_run_changes("majority", "ape", "2l2h64d")}),
    "theory lesson: copy_unique, NoPE (4l4h64d)": RunConfig().replace(**{**BASE_CHANGES, **theory_run_changes("copy_unique", "nope", "4l4h64d")}),
    "theory lesson: dyck_1, APE (Huang's format)": RunConfig().replace(**{**BASE_CHANGES, **theory_run_changes("dyck_1", "ape", "2l2h64d")}),
}


def seconds_per_step(config: RunConfig, steps: int) -> tuple[float, torch.nn.Module]:
    model = build_model(config.model, build_scheme(config.positions), config.vocab_size)
    optimizer = make_optimizer(model, config)
    batches = BatchSource(config, seed=0)
    for step in range(steps + 3):
        if step == 3:
            started = time.perf_counter()
        loss = compute_loss(model, batches.next(), "cpu")
        optimizer.zero_grad(set_to_none=True)
        loss.loss.backward()
        optimizer.step()
    return (time.perf_counter() - started) / steps, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = []
    for name, config in CASES.items():
        step_s, model = seconds_per_step(config, args.steps)
        check = LearnedCheck(config, seed=0)
        check.measure(model, step=0)  # warm-up
        check_s = statistics.median(check.measure(model, step=0).seconds for _ in range(args.repeats))
        rows.append(
            {
                "config": name,
                "step_s": round(step_s, 5),
                "check_s": round(check_s, 4),
                "examples": check.examples,
                "check_in_steps": round(check_s / step_s, 1),
                "overhead_every_250": round(check_s / (250 * step_s), 4),
                "overhead_every_500": round(check_s / (500 * step_s), 4),
            }
        )
        print(
            f"{name}: step {step_s * 1000:.1f} ms, check {check_s * 1000:.0f} ms ({check.examples} examples) = {check_s / step_s:.1f} steps; "
            f"{100 * check_s / (250 * step_s):.2f}% of training at every 250 steps",
            flush=True,
        )
    report({"environment": cpu_environment(), "threads": torch.get_num_threads(), "rows": rows}, args.json)


if __name__ == "__main__":
    main()
