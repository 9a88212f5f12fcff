"""Train lesson runs on several seeds, with changes on top of their configs, and print what each measured.

    python bench/lesson_run_calibrate.py DB --keys reverse_learned,reverse_coupled [--seeds 0,1,2]
                                         [--set model.n_layers=2 --set train.distractor_examples=2] [--steps 800,1600]

For each run key of :data:`lengen_core.lessons.LESSON_RUNS`, each step count and each seed, one run is trained into DB
with the lesson run's own config plus the ``--set`` changes (:func:`lengen_core.api.train`: train, length sweep,
store), and one line is printed: its breakdown as every view writes it, the exact match at every tested length,
whether it learned its training range (:func:`lengen_core.theory.measured_outcome`) and its wall time. This is how
a lesson's settings are chosen so that each of its runs shows what the lesson claims on every seed, not just the
bundled one (docs/results.md, "Lesson 1 on every seed").
"""

from __future__ import annotations

import argparse
import time

import lengen_core as lg
from lengen_core.lessons import LESSON_RUNS
from lengen_core.params import decode_changes, parse_assignment, parse_int_list
from lengen_core.theory import measured_outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("db", help="the run store to train into")
    parser.add_argument("--keys", required=True, help="comma-separated lesson run keys (lengen_core.lessons.LESSON_RUNS)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    parser.add_argument("--steps", default=None, help="comma-separated train.steps to try (default: each run's own)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="a config change on every run (repeatable)")
    args = parser.parse_args()
    seeds = parse_int_list(args.seeds, "--seeds")
    for key in args.keys.split(","):
        lesson_run = LESSON_RUNS[key.strip()]
        base = lesson_run.config()
        changes: dict = {}
        for item in args.set:
            field, text = parse_assignment(item, "--set")
            changes.update(decode_changes({field: text}, base.task.name))
        for steps in parse_int_list(args.steps, "--steps") if args.steps else [base.train.steps]:
            config = base.replace(**{**changes, "train.steps": steps})
            for seed in seeds:
                started = time.monotonic()
                run = lg.train(config=config, seed=seed, store=args.db, verbose=False, tags=[f"lesson-cal:{lesson_run.key}"])
                breakdown = run.breakdown
                exact = ", ".join(f"{int(row.length)}: {row.exact_match:.2f}" for row in run.curve.itertuples())
                verdict = measured_outcome(breakdown.length, breakdown.train_length_max, breakdown.longest_tested).verdict
                print(
                    f"{lesson_run.key} steps={steps} seed={seed}: {verdict}, breakdown {breakdown}; exact match {exact}; {time.monotonic() - started:.0f} s",
                    flush=True,
                )


if __name__ == "__main__":
    main()
