"""Where a run in Huang et al.'s format first gets a prefix's label wrong: the error analysis of the v3 split.

    python bench/first_wrong_prefix.py DB [--tag-prefix huang-v3-] [--length 48] [--samples 50] [--tasks T1,T2]

For every finished run trained with ``task.supervision = member_prefixes`` in the sweeps tagged
``--tag-prefix``, decodes ``--samples`` strings of ``--length`` symbols (prefixes of members, the
sweep's own format; repeated strings once) from its checkpoint and finds, per string, the shortest
prefix whose label the model gets wrong (the output after that symbol). Prints per run the median
and range of that prefix length over the strings, how many strings had every label right, and the
run's longest training length: a run that tracks the residue by absolute position errs anywhere or
nowhere, one that counts from the start of the string errs just past the lengths it was trained on.
Markdown, for docs/results.md.
"""

from __future__ import annotations

import argparse
import random
import statistics

from lengen_core.data import ExampleSource
from lengen_core.evaluation import greedy_decode, wrong_prefix_positions
from lengen_core.runs.loading import existing_checkpoint, load_run
from lengen_core.store import RunStore
from lengen_core.tasks.base import Example
from lengen_core.theory import setting_label

try:  # run as python -m bench.<script> or as python bench/<script>.py
    from bench.common import done_runs_of_sweeps
except ImportError:
    from common import done_runs_of_sweeps


def first_wrong_prefix(example: Example, prompt_prediction: list[int]) -> int | None:
    """The length of the shortest prefix whose label the model got wrong, or None."""
    return min(wrong_prefix_positions(example, prompt_prediction), default=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db")
    parser.add_argument("--tag-prefix", default="huang-v3-")
    parser.add_argument("--length", type=int, default=48)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--tasks", help="only these tasks (comma-separated)")
    args = parser.parse_args()
    store = RunStore(args.db, read_only=True)
    runs = done_runs_of_sweeps(store, args.tag_prefix)
    if args.tasks:
        runs = runs[runs["task"].isin(args.tasks.split(","))]
    print(f"The shortest prefix with a wrong label, over {args.samples} strings of {args.length} symbols (distinct strings once).")
    print()
    print("| task | setting | layers x heads x width | seed | trained to | strings | first wrong prefix: median (min-max) | every label right |")
    print("|---|---|---|---|---|---|---|---|")
    for row in runs.sort_values(["task", "scheme", "seed"]).itertuples():
        if existing_checkpoint(store, row.run_id) is None:
            continue
        loaded = load_run(store, row.run_id)  # the checkpoint must agree with the store
        model, config = loaded.model, loaded.config
        if config.task.supervision != "member_prefixes":
            continue
        source = ExampleSource(config.task)
        drawn = source.sample_many(random.Random(f"first-wrong-prefix-{args.length}"), args.length, args.samples)
        examples = list({example.tokens: example for example in drawn}.values())
        decoded = greedy_decode(model, examples)
        assert decoded.prompt_predictions is not None
        firsts = [first_wrong_prefix(example, prediction) for example, prediction in zip(examples, decoded.prompt_predictions)]
        wrong = [first for first in firsts if first is not None]
        spread = "-" if not wrong else f"{statistics.median(wrong):g} ({min(wrong)}-{max(wrong)})"
        setting = setting_label(config.positions.scheme, config.positions.train_offset_max)
        architecture = f"{config.model.n_layers}x{config.model.n_heads}x{config.model.d_model}"
        print(
            f"| {config.task.name} | {setting} | {architecture} | {row.seed} | {config.task.train_length_max} | {len(examples)} | {spread} | "
            f"{len(firsts) - len(wrong)}/{len(firsts)} |"
        )


if __name__ == "__main__":
    main()
