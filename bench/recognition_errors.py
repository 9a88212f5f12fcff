"""Which strings a recognition run gets wrong past its training lengths: accuracy by kind of example.

    python bench/recognition_errors.py DB [--tag-prefix huang-v2-] [--lengths 29,30,31,32] [--samples 200]

For every finished run of a recognition task (the formal languages: ``supports_prefix_supervision``)
in the sweeps tagged ``--tag-prefix``, decodes ``--samples`` fresh examples per length from its
checkpoint (the sweep's greedy decoder) and prints exact match per kind of example: members,
near misses (one symbol substituted, or for Dyck-1 one bracket flipped or swapped), strings of one
repeated symbol (``a^n``, the hardest negative of the star languages), and, by residue of the length
mod 4, where one class of lengths is answered as if by a constant. Markdown, for the error analysis
in docs/results.md.
"""

from __future__ import annotations

import argparse
import collections
import random

from lengen_core.data import ExampleSource
from lengen_core.evaluation import greedy_decode
from lengen_core.params import parse_int_list
from lengen_core.runs.loading import existing_checkpoint, load_run
from lengen_core.store import RunStore
from lengen_core.tasks.base import TASK_REGISTRY
from lengen_core.theory import setting_label

try:  # run as python -m bench.<script> or as python bench/<script>.py
    from bench.common import done_runs_of_sweeps
except ImportError:
    from common import done_runs_of_sweeps


def kind_of(example) -> str:
    """'member', 'a^n' (one symbol repeated, not a member), or the generator's kind of negative."""
    if example.answer_without_eos and example.meta.get("kind") == "positive":
        return "member"
    symbols = example.prompt[1:-1]
    if len(set(symbols)) == 1:
        return "one symbol repeated"
    return str(example.meta.get("kind", "negative"))


def accuracy_by(examples, answers, task, key) -> dict[str, tuple[int, int]]:
    """bucket -> (right, total) over ``examples``, bucketed by ``key(example)``."""
    tally: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for example, answer in zip(examples, answers):
        bucket = tally[key(example)]
        bucket[0] += task.is_correct(example, answer)
        bucket[1] += 1
    return {name: (right, total) for name, (right, total) in tally.items()}


def cell_text(right_total: tuple[int, int] | None) -> str:
    if right_total is None:
        return "-"
    right, total = right_total
    return f"{right / total:.2f} (n={total})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db")
    parser.add_argument("--tag-prefix", default="huang-v2-")
    parser.add_argument("--lengths", default="29,30,31,32")
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    lengths = parse_int_list(args.lengths, "--lengths")
    store = RunStore(args.db, read_only=True)
    runs = done_runs_of_sweeps(store, args.tag_prefix)
    runs = runs[runs["task"].map(lambda name: name in TASK_REGISTRY and TASK_REGISTRY[name].supports_prefix_supervision)]
    kinds = ["member", "near_miss", "near_miss_flip", "near_miss_swap", "one symbol repeated", "uniform_negative"]
    print(f"Exact match at lengths {args.lengths}, {args.samples} examples per length, by kind of example and by length mod 4.")
    print()
    print("| task | setting | seed | " + " | ".join(kinds) + " | " + " | ".join(f"len = {r} mod 4" for r in range(4)) + " |")
    print("|---" * (3 + len(kinds) + 4) + "|")
    for row in runs.sort_values(["task", "scheme", "seed"]).itertuples():
        if existing_checkpoint(store, row.run_id) is None:
            continue
        loaded = load_run(store, row.run_id)  # the checkpoint must agree with the store
        model, config = loaded.model, loaded.config
        source = ExampleSource(config.task)
        examples = [example for length in lengths for example in source.sample_many(random.Random(f"recognition-errors-{length}"), length, args.samples)]
        answers = greedy_decode(model, examples).answers
        by_kind = accuracy_by(examples, answers, source.task, kind_of)
        by_residue = accuracy_by(examples, answers, source.task, lambda example: str(example.length % 4))
        setting = setting_label(config.positions.scheme, config.positions.train_offset_max)
        print(
            f"| {config.task.name} | {setting} | {row.seed} | "
            + " | ".join(cell_text(by_kind.get(kind)) for kind in kinds)
            + " | "
            + " | ".join(cell_text(by_residue.get(str(r))) for r in range(4))
            + " |"
        )


if __name__ == "__main__":
    main()
