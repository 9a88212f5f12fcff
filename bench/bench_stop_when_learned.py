"""What stopping when learned saves, and whether it moves the breakdown (issue 28).

    python bench/bench_stop_when_learned.py DB [--seed 0] [--cases train,compare,theory] [--workers 1]
                                            [--learned-threshold T] [--learned-checks N] [--check-every S]

For each case, one seed, two real runs through the app's pipeline (training, length sweep with search, store):
``train.stop_when_learned`` on, and the same config and seed trained to its full step budget. Both runs draw the same
training batches (the learned check decodes its own held-out stream), so the stopped run is the full run's first
steps. Prints per case: the steps each trained and their seconds, the steps saved, each run's breakdown with its
interval (:func:`lengen_core.length_search.breakdown_interval`), and whether the stopped run's breakdown lies inside
the full run's interval (and the full run's inside the stopped run's): "unchanged within the interval" when both do.
Markdown, for docs/results.md. Finished runs of the same config and seed are kept (tag ``stop-check``).

``--learned-threshold``, ``--learned-checks`` and ``--check-every`` change the stopping rule of the stopped run only
(``train.learned_threshold``, ``train.learned_checks``, ``train.learned_check_every``); the full run stays the
case's own, so several rules are compared against one full run.
"""

from __future__ import annotations

import argparse

from lengen_core.compare_defaults import DEFAULT_SCHEMES, DEFAULT_TASKS, launcher_config, suggested_steps
from lengen_core.config import RunConfig
from lengen_core.lessons import BASE_CHANGES, theory_run_changes
from lengen_core.store import RunStore

try:  # run as python -m bench.<script> or as python bench/<script>.py
    from bench.common import finished_runs_of_tag, run_missing
except ImportError:
    from common import finished_runs_of_tag, run_missing

TAG = "stop-check"


def cases() -> dict[str, tuple[str, RunConfig]]:
    """name -> (description, config with stop_when_learned on)."""
    theory = RunConfig().replace(**{**BASE_CHANGES, **theory_run_changes("majority", "nope")})
    compare_steps = suggested_steps(list(DEFAULT_TASKS), list(DEFAULT_SCHEMES)) or 3000  # what a default sweep gives each cell
    return {
        "train": ("Train page defaults: reverse 1-10, coupled, 1 layer x 128, 650 steps", RunConfig().replace(**{"train.stop_when_learned": True})),
        "compare": (
            f"Compare launcher defaults: reverse / coupled, 2 layers x 64, {compare_steps:,} steps",
            launcher_config("reverse", "coupled", steps=compare_steps, until_learned=True),
        ),
        "theory": (
            f"theory lesson: majority, NoPE, {theory.model.n_layers} layers x {theory.model.d_model}, "
            f"{theory.train.steps:,} steps, check every {theory.train.learned_check_every}",
            theory,
        ),
    }


def interval_text(low: int | None, high: int | None) -> str:
    return f"[{'-' if low is None else low}, {'-' if high is None else high}]"


def inside(value: int | None, low: int | None, high: int | None) -> bool:
    """Whether a breakdown lies in an interval (an open end: no limit on that side; no breakdown: only in an interval
    that has none either)."""
    if value is None:
        return low is None and high is None
    return (low is None or value >= low) and (high is None or value <= high)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("db")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cases", default="train,compare,theory")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--learned-threshold", type=float, default=None, help="the stopped run's train.learned_threshold")
    parser.add_argument("--learned-checks", type=int, default=None, help="the stopped run's train.learned_checks")
    parser.add_argument("--check-every", type=int, default=None, help="the stopped run's train.learned_check_every")
    args = parser.parse_args(argv)
    rule = {
        field: value
        for field, value in (
            ("train.learned_threshold", args.learned_threshold),
            ("train.learned_checks", args.learned_checks),
            ("train.learned_check_every", args.check_every),
        )
        if value is not None
    }
    chosen = {name: case for name, case in cases().items() if name in args.cases.split(",")}
    pairs = {name: (config.replace(**rule), config.replace(**{"train.stop_when_learned": False})) for name, (_, config) in chosen.items()}
    store = RunStore(args.db)
    run_missing(store, [(config, args.seed) for pair in pairs.values() for config in pair], TAG, args.workers)
    found = finished_runs_of_tag(store, TAG)
    print(f"\nseed {args.seed}; the stopped run's rule: {rule or 'the case config own'}\n")
    print(
        "| case | stopped at | full budget | steps saved | train s (stopped, full) | breakdown stopped [interval] | "
        "breakdown full [interval] | unchanged within the interval |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, (stopping, full) in pairs.items():
        stopped_run, full_run = (store.get_run(found[(config.config_id, args.seed)]) for config in (stopping, full))
        saved = full_run.steps_done - stopped_run.steps_done
        both = inside(stopped_run.breakdown_length, full_run.breakdown_low, full_run.breakdown_high) and inside(
            full_run.breakdown_length, stopped_run.breakdown_low, stopped_run.breakdown_high
        )
        bound = {run.run_id: " (≥: " + run.breakdown_bound + ")" if run.breakdown_bound else "" for run in (stopped_run, full_run)}
        print(
            f"| {chosen[name][0]} | {stopped_run.steps_done:,} ({stopped_run.stop_reason}) | {full_run.steps_done:,} | "
            f"{saved:,} ({saved / max(full_run.steps_done, 1):.0%}) | {stopped_run.train_seconds:.0f}, {full_run.train_seconds:.0f} | "
            f"{stopped_run.breakdown_length} {interval_text(stopped_run.breakdown_low, stopped_run.breakdown_high)}{bound[stopped_run.run_id]} | "
            f"{full_run.breakdown_length} {interval_text(full_run.breakdown_low, full_run.breakdown_high)}{bound[full_run.run_id]} | "
            f"{'yes' if both else 'no'} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
