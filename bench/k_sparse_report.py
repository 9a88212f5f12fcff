"""Accuracy at 2x and 4x the training length versus k, from a store filled by bench/k_sparse.sh.

    python bench/k_sparse_report.py DB

Per task, scheme and k: the seeds, and the median (min-max) exact match at the
longest training length, at 2x and at 4x; then, per task and scheme, whether
accuracy at 4x falls as k grows (Golowich et al.'s prediction). A run below
0.9 at 1x did not learn its training range: its longer lengths say nothing
about generalization (at k >= 2 an unlearned run answers near chance, and runs
of both schemes that answer one constant give the same numbers on the same
evaluation examples). Markdown.
"""

from __future__ import annotations

import argparse
import statistics

from lengen_core.store import RunStore
from lengen_core.theory import setting_label

try:  # run as python -m bench.<script> or as python bench/<script>.py
    from bench.common import done_runs_of_sweeps
    from bench.common import median_cell as cell
except ImportError:
    from common import done_runs_of_sweeps
    from common import median_cell as cell

LEARNED = 0.9  # exact match at the longest training length that counts as having learned the task (eval.threshold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db")
    args = parser.parse_args()
    store = RunStore(args.db, read_only=True)
    runs = done_runs_of_sweeps(store, "k-sparse-")
    table: dict[tuple[str, str, int], dict[int, list[float]]] = {}
    seen: set[tuple[str, str, int, int]] = set()
    for row in runs.itertuples():  # newest first: a seed rerun by a later sweep (one stopped half-way) counts once, the newest
        record = store.get_run(row.run_id)
        config = record.run_config
        key = (config.task.name, setting_label(config.positions.scheme, config.positions.train_offset_max), int(config.task.options["k"]))
        if (*key, record.seed) in seen:
            continue
        seen.add((*key, record.seed))
        curve = store.eval_curve([row.run_id], sweep="default")
        train_max = config.task.train_length_max
        slots = table.setdefault(key, {1: [], 2: [], 4: []})
        for factor in slots:
            rows = curve[curve["length"] == factor * train_max]
            if not rows.empty:
                slots[factor].append(float(rows["exact_match"].iloc[0]))
    print("| task | setting | k | seeds | EM at 1x (16) | EM at 2x (32) | EM at 4x (64) | learned the training range |")
    print("|---|---|---|---|---|---|---|---|")
    trends: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for (task, setting, k), slots in sorted(table.items()):
        learned = sum(value >= LEARNED for value in slots[1])
        print(f"| {task} | {setting} | {k} | {len(slots[1])} | {cell(slots[1])} | {cell(slots[2])} | {cell(slots[4])} | {learned} of {len(slots[1])} |")
        if slots[4]:
            trends.setdefault((task, setting), []).append((k, statistics.median(slots[4])))
    print()
    for (task, setting), points in sorted(trends.items()):
        points.sort()
        falls = all(later <= earlier + 0.05 for (_, earlier), (_, later) in zip(points, points[1:]))
        text = ", ".join(f"k={k}: {value:.2f}" for k, value in points)
        print(f"- {task} / {setting}: EM at 4x {text}: {'does not rise with k (within 0.05)' if falls else 'not monotone in k'}")


if __name__ == "__main__":
    main()
