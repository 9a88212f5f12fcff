"""Summarise a sweep from the run store as a Markdown table (median and spread over seeds).

    python bench/results_table.py --db data/reproduce.duckdb --tag reverse-v1 [--factor 4]

For each (task, scheme): the seeds, the breakdown length (median, min..max), the
breakdown ratio, exact-match accuracy at the longest tested length and at
``--factor`` x the training length (median, min..max), training steps and seconds.
"""

from __future__ import annotations

import argparse
import statistics

from lengen_core.run_listing import sweep_tag
from lengen_core.store import RunStore


def spread(values: list[float], digits: int = 2) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:.{digits}f}"
    return f"{median:.{digits}f} ({min(values):.{digits}f}..{max(values):.{digits}f})"


def summarise(store: RunStore, tag: str, factor: float) -> str:
    runs = store.list_runs(tag=sweep_tag(tag))
    if runs.empty:
        raise SystemExit(f"no runs tagged sweep:{tag} in {store.path}")
    curves = store.eval_curve(list(runs["run_id"]), sweep="default")
    lines = [
        f"| task | scheme | seeds | status | train len | breakdown length | breakdown ratio | EM at {factor:g}x | EM at longest | steps | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (task, scheme), group in runs.groupby(["task", "scheme"], sort=False):
        train_max = int(group["train_length_max"].iloc[0])
        target = round(factor * train_max)
        at_target, at_longest, breakdowns, ratios = [], [], [], []
        for run_id, breakdown in zip(group["run_id"], group["breakdown_length"]):
            curve = curves[curves["run_id"] == run_id].sort_values("length")
            if curve.empty:
                continue
            nearest = curve.iloc[(curve["length"] - target).abs().argsort().iloc[0]]
            at_target.append(float(nearest["exact_match"]))
            at_longest.append(float(curve.iloc[-1]["exact_match"]))
            breakdowns.append(0 if breakdown != breakdown or breakdown is None else float(breakdown))
            ratios.append(breakdowns[-1] / train_max)
        statuses = ",".join(sorted(set(group["status"])))
        lines.append(
            f"| {task} | {scheme} | {len(group)} | {statuses} | 1..{train_max} | {spread(breakdowns, 0)} | {spread(ratios)} | "
            f"{spread(at_target)} | {spread(at_longest)} | {spread(list(group['steps_done'].astype(float)), 0)} | "
            f"{spread(list(group['train_seconds'].astype(float)), 0)} |"
        )
    return "\n".join(lines)


def curves_table(store: RunStore, tag: str) -> str:
    """Exact match per length, median over seeds, one column per scheme."""
    runs = store.list_runs(tag=sweep_tag(tag))
    curves = store.eval_curve(list(runs["run_id"]), sweep="default").merge(runs[["run_id", "task", "scheme"]], on="run_id")
    table = curves.groupby(["task", "length", "scheme"])["exact_match"].median().unstack("scheme")
    lines = []
    for task, part in table.groupby(level=0):
        schemes = list(part.columns)
        lines.append(f"\n{task}: median exact match over seeds\n")
        lines.append("| length | " + " | ".join(schemes) + " |")
        lines.append("|---|" + "---|" * len(schemes))
        for (_, length), row in part.iterrows():
            lines.append(f"| {length} | " + " | ".join("-" if v != v else f"{v:.2f}" for v in row) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--factor", type=float, default=4.0)
    args = parser.parse_args()
    store = RunStore(args.db, read_only=True)
    print(summarise(store, args.tag, args.factor))
    print(curves_table(store, args.tag))


if __name__ == "__main__":
    main()
