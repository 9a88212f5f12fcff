"""Custom tasks against the built-in tasks they re-create (issue 24): same examples, same training, and their speed.

    python bench/expression_vs_builtin.py [--json out.json]

For ``x[::-1]`` (alphabet ``s0..s15``) against ``reverse``, ``sorted(x)`` (distinct symbols of 128) against ``sort``
and ``sum(x) % 2`` (symbols ``01``) against ``parity``:

1. examples: from the same seed, the fraction of 1,000 examples whose tokens are identical (reverse, sort), or
   whose answers agree on the built-in task's own 1,000 inputs (parity, whose inputs are drawn balanced);
2. training (reverse, sort): one run each of the built-in and the expression with the same config and seed (learned
   APE for reverse at the reverse lesson's scale, NoPE for sort at the PPC lesson's), trained to completion; their breakdown lengths and whether their loss curves are
   equal to the last digit;
3. generation speed: examples per second of each, drawn in one process (2,000 examples at length 20, best of 3).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from lengen_core.config import RunConfig
from lengen_core.runs.admission import create_run
from lengen_core.runs.execution import execute_run
from lengen_core.store import RunStore
from lengen_core.tasks import build_task
from lengen_core.vocab import VOCAB

PAIRS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {  # built-in -> (its options, the expression task's options)
    "reverse": ({}, {"name": "my_reverse", "answer": "x[::-1]", "alphabet_size": 16}),
    "sort": ({}, {"name": "my_sort", "answer": "sorted(x)", "alphabet_size": 128, "distinct": True}),
    "parity": ({}, {"name": "my_parity", "answer": "sum(x) % 2", "symbols": "01"}),
}
TRAINING: dict[str, dict[str, Any]] = {  # the lessons' scales (lengen_core.lessons): reverse's, and the PPC lesson's sort
    "reverse": {"positions.scheme": "learned", "positions.max_position": 64, "model.n_layers": 1, "model.n_heads": 2, "model.d_model": 128, "model.d_ff": 256,
                "train.lr": 2e-3, "train.steps": 800, "task.train_length_min": 1, "task.train_length_max": 8, "eval.lengths": [4, 8, 12, 16, 20, 24]},
    "sort": {"positions.scheme": "nope", "model.n_layers": 2, "model.n_heads": 2, "model.d_model": 64, "model.d_ff": 256, "train.lr": 2e-3,
             "train.steps": 3000, "task.train_length_min": 4, "task.train_length_max": 12, "eval.lengths": [4, 8, 12, 16, 20, 24, 30, 36]},
}  # fmt: skip


def same_examples(name: str) -> float:
    builtin, mine = build_task(name, PAIRS[name][0]), build_task("expression", PAIRS[name][1])
    agree = 0
    for seed in range(1000):
        rng = random.Random(seed)
        length = rng.randint(2, 30)
        if name == "parity":  # the built-in draws balanced bits: compare answers on its inputs
            example = builtin.sample(random.Random(seed), length)
            bits = [int(token) for token in VOCAB.decode(example.prompt[1:-1])]
            agree += mine.from_inputs(bits).answer == example.answer
        else:
            agree += builtin.sample(random.Random(seed), length).tokens == mine.sample(random.Random(seed), length).tokens
    return agree / 1000


def examples_per_second(task_name: str, options: dict[str, Any], length: int = 20, count: int = 2000) -> float:
    task = build_task(task_name, options)
    best = float("inf")
    for attempt in range(3):
        rng = random.Random(attempt)
        started = time.perf_counter()
        for _ in range(count):
            task.sample(rng, length)
        best = min(best, time.perf_counter() - started)
    return count / best


def train_pair(name: str, steps: int, folder: Path) -> dict[str, Any]:
    store = RunStore(folder / f"{name}.duckdb")
    quick = {"train.steps": steps} if steps else {}
    base = RunConfig().replace(**{**TRAINING[name], **quick, "train.distractor_examples": 0, "eval.samples_per_length": 100})
    results = {}
    for label, changes in (("builtin", {"task.name": name}), ("expression", {"task.name": "expression", "task.options": PAIRS[name][1]})):
        config = base.replace(**changes)
        run_id = create_run(store, config, 0, name=f"{label} {name}")
        execute_run(store, run_id, config, 0)
        record = store.get_run(run_id)
        results[label] = {
            "breakdown": record.breakdown_length,
            "loss": store.train_curve(run_id)["loss"].tolist(),
            "seconds": round(record.train_seconds or 0, 1),
        }
    return {
        "breakdown_builtin": results["builtin"]["breakdown"],
        "breakdown_expression": results["expression"]["breakdown"],
        "loss_curves_equal": results["builtin"]["loss"] == results["expression"]["loss"],
        "train_seconds": [results["builtin"]["seconds"], results["expression"]["seconds"]],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=0, help="train every run this many steps (a quick check: 30); default: each pair's own")
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, (builtin_options, options) in PAIRS.items():
            row: dict[str, Any] = {"same_examples": same_examples(name)}
            builtin_speed, expression_speed = examples_per_second(name, builtin_options), examples_per_second("expression", options)
            row["examples_per_s"] = {
                "builtin": round(builtin_speed),
                "expression": round(expression_speed),
                "ratio": round(expression_speed / builtin_speed, 2),
            }
            if name in TRAINING:
                row |= train_pair(name, args.steps, Path(folder))
            report[name] = row
            print(name, json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
