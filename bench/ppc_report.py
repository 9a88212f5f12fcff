"""Predictive position coupling beside learned APE and NoPE: breakdown lengths and how often the predicted ids were right.

    bash bench/ppc_compare.sh DB            # trains sort and retrieve_right_unique under the three schemes
    python bench/ppc_report.py DB [--tag ppc-compare] [--samples 200]

For every done run of the tag: its breakdown length; for the predictive_coupled
runs also, per tested length, exact match and the share of examples whose
predicted ids (answer and <eos>) all equal the coupling rule's
(lengen_core.evaluation.predicted_ids_right), decoded from the run's checkpoint
on the evaluation stream. Prints markdown for docs/results.md.
"""

from __future__ import annotations

import argparse

from lengen_core.data import ExampleSource, stream_rng
from lengen_core.evaluation import greedy_decode, predicted_ids_right
from lengen_core.run_listing import sweep_tag
from lengen_core.runs.loading import load_run
from lengen_core.store import RunStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db")
    parser.add_argument("--tag", default="ppc-compare")
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    store = RunStore(args.db, read_only=True)
    runs = store.list_runs(status="done", tag=sweep_tag(args.tag)).sort_values(["task", "scheme", "seed"])
    print("| task | scheme | seed | trained on | breakdown length | EM at 2x | ids right at 1x / 2x / 3x |")
    print("|---|---|---|---|---|---|---|")
    for row in runs.itertuples():
        curve = store.eval_curve([row.run_id], sweep="default")
        task_config = store.get_run(row.run_id).run_config.task
        train_max = task_config.train_length_max
        at_2x = curve[curve["length"] == 2 * train_max]["exact_match"]
        ids_text = "-"
        if row.scheme == "predictive_coupled":
            loaded = load_run(store, row.run_id)  # the checkpoint must agree with the store
            model, config = loaded.model, loaded.config
            source = ExampleSource(config.task)
            shares = []
            for factor in (1, 2, 3):
                length = factor * train_max
                examples = source.sample_many(stream_rng("ppc-ids", source.task.name, length), length, args.samples)
                decoded = greedy_decode(model, examples)
                right = predicted_ids_right(model, examples, decoded)
                shares.append(f"{sum(right) / len(right):.2f}")
            ids_text = " / ".join(shares)
        print(
            f"| {row.task} | {row.scheme} | {row.seed} | {task_config.train_length_min}-{train_max} | {row.breakdown_length} | "
            f"{'-' if at_2x.empty else f'{float(at_2x.iloc[0]):.2f}'} | {ids_text} |"
        )


if __name__ == "__main__":
    main()
