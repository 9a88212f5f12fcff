"""The length search on stored runs: the searched breakdown against the fixed sweep's, and what the search costs.

    python bench/search_breakdowns.py DB [--demo] [--tag-prefix TAG] [--limit N]

For every finished run of DB with a checkpoint (``--demo``: the bundled demo runs, imported into DB first;
``--tag-prefix``: only the runs of those sweeps) whose own sweep held to its longest length, two extra sweeps of the
run's own lengths through the app's pipeline (:func:`lengen_core.runs.extra_sweeps.execute_extra_sweep`): one fixed
(``search`` off, what the run recorded) and one searching past the end (``search`` on). Prints per run: the fixed
breakdown, the searched one (a measurement, or "≥ L" with why the search stopped), its interval, and the seconds
each sweep took; their difference is the search's extra evaluation time. Markdown, for docs/results.md.
"""

from __future__ import annotations

import argparse
import time

from lengen_core.costs import default_budget
from lengen_core.run_listing import sweep_tag
from lengen_core.runs.extra_sweeps import execute_extra_sweep, plan_extra_sweep
from lengen_core.store import RunStore


def held_to_the_end(store: RunStore, run_id: str) -> bool:
    """Whether the run held at every length of its fixed sweep (its configured lengths, not the points a search of
    its own added: a run trained with search on is judged by the same lengths as one trained without)."""
    record = store.get_run(run_id)
    config = record.run_config
    fixed = config.eval_lengths()
    points = store.eval_curve([run_id], sweep="default")
    points = points[points["length"].isin(fixed) & (points["length"] >= config.task.train_length_min)]
    return len(points) > 0 and bool((points["exact_match"] >= config.eval.threshold).all())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("db")
    parser.add_argument("--demo", action="store_true", help="import the bundled demo runs into DB first and search those")
    parser.add_argument("--tag-prefix", default="", help="only runs of sweeps whose tag starts with this")
    parser.add_argument("--limit", type=int, default=0, help="at most this many runs (0: all)")
    args = parser.parse_args(argv)
    store = RunStore(args.db)
    if args.demo:
        from lengen_core.demo_runs import DEMO_TAG, import_demo_runs

        import_demo_runs(store)
        runs = store.list_runs(status="done", tag=DEMO_TAG, with_checkpoint=True)
    else:
        runs = store.list_runs(status="done", with_checkpoint=True)
    if args.tag_prefix:
        runs = runs[runs["tags"].map(lambda tags: any(str(tag).startswith(sweep_tag(args.tag_prefix)) for tag in tags))]
    chosen = [row for row in runs.itertuples() if held_to_the_end(store, row.run_id)]
    if args.limit:
        chosen = chosen[: args.limit]
    budget = default_budget(1)
    print("| run | task | scheme | trained to | fixed sweep | searched | fixed s | searched s | search's extra s |")
    print("|---|---|---|---|---|---|---|---|---|")
    extra_total = 0.0
    for row in chosen:
        seconds = {}
        results = {}
        for search in (False, True):
            plan = plan_extra_sweep(store, row.run_id, None, None, budget, search=search)
            started = time.perf_counter()
            evaluation = execute_extra_sweep(store, plan, f"bench-{'search' if search else 'fixed'}", budget=budget)
            seconds[search] = time.perf_counter() - started
            results[search] = evaluation.result
        fixed, searched = results[False], results[True]
        text, fixed_text = str(searched.breakdown), str(fixed.breakdown)
        extra = seconds[True] - seconds[False]
        extra_total += extra
        print(
            f"| {row.run_id} | {row.task} | {row.scheme} | {fixed.train_length_max} | {fixed_text} | {text} | "
            f"{seconds[False]:.1f} | {seconds[True]:.1f} | {extra:.1f} |"
        )
    print(
        f"\n{len(chosen)} of {len(runs)} runs held to their sweep's end (the others broke inside it, where the search "
        f"changes nothing); the searches added {extra_total:.0f} s of evaluation in all."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
