"""Report Huang et al.'s split from a store filled by bench/huang_split.sh: prediction beside measurement.

    python bench/huang_split_report.py DB [--tag-prefix huang-split-] [--tasks T1,T2] [--baseline DB2 [--baseline-tag-prefix huang-split-]]

Per task and setting (NoPE; learned APE with random offsets): the seeds, the
median over seeds of the lowest exact match over lengths 13-16 (in
distribution), 29-32 (2x) and 45-48 (3x), the measured outcomes (lengen_core.theory.measured_outcome), the
prediction and how many decided runs agree; then the agreement rate per
setting; with ``--baseline``, a table of both splits cell by cell (how many
seeds learned their training range, how many of those agree). Prints markdown
(for docs/results.md).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NamedTuple

from lengen_core.config import RunConfig
from lengen_core.store import RunStore
from lengen_core.theory import TheoryCheck, check_run, setting_label

try:  # run as python -m bench.<script> or as python bench/<script>.py
    from bench.common import done_runs_of_sweeps, median_cell
except ImportError:
    from common import done_runs_of_sweeps, median_cell


def exact_match_near(curve, length: int) -> float | None:
    """The lowest exact match over the four lengths ending at ``length`` (every residue mod 4, as the sweep tests)."""
    rows = curve[(curve["length"] > length - 4) & (curve["length"] <= length)]
    return None if rows.empty else float(rows["exact_match"].min())


def median_text(values: list[float | None]) -> str:
    """:func:`median_cell` of the values that are known."""
    return median_cell([value for value in values if value is not None])


class Entry(NamedTuple):
    """One run of a cell: its theory check, the lowest exact match over the four lengths ending at 1x, 1.5x, 2x
    and 3x its longest training length, its seed and config."""

    check: TheoryCheck
    em_1x: float | None
    em_1_5x: float | None
    em_2x: float | None
    em_3x: float | None
    seed: int
    config: RunConfig


def task_and_setting(config: RunConfig) -> tuple[str, ...]:
    return (config.task.name, setting_label(config.positions.scheme, config.positions.train_offset_max))


def collect(db: str, tag_prefix: str, cell_of: Callable[[RunConfig], tuple[str, ...]] = task_and_setting) -> dict[tuple[str, ...], list[Entry]]:
    """Per cell (``cell_of(config)``, default (task, setting)): one :class:`Entry` per seed, from the done runs tagged ``tag_prefix``."""
    store = RunStore(db, read_only=True)
    runs = done_runs_of_sweeps(store, tag_prefix)
    cells: dict[tuple[str, ...], list[Entry]] = {}
    seen: set[tuple[tuple[str, ...], int]] = set()
    for row in runs.itertuples():  # newest first: a cell's seed rerun by a later sweep counts once, the newest
        record = store.get_run(row.run_id)
        config = record.run_config
        cell = cell_of(config)
        if (cell, record.seed) in seen:
            continue
        seen.add((cell, record.seed))
        curve = store.eval_curve([row.run_id], sweep="default")
        longest = int(curve["length"].max()) if len(curve) else None
        check = check_run(config, record.breakdown_length, longest)
        train_max = config.task.train_length_max
        em = [exact_match_near(curve, length) for length in (train_max, train_max * 3 // 2, 2 * train_max, 3 * train_max)]
        cells.setdefault(cell, []).append(Entry(check, *em, record.seed, config))
    return cells


def learned_and_agreeing(entries: list) -> str:
    """'learned n/seeds, agree a/n' of one cell."""
    checks = [entry.check for entry in entries]
    decided = [check.agrees for check in checks if check.agrees is not None]
    return f"{len(decided)}/{len(checks)} learned, {sum(decided)}/{len(decided)} agree"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db")
    parser.add_argument("--tag-prefix", default="huang-split-")
    parser.add_argument("--baseline", metavar="DB", help="another split's store: a table of both, cell by cell (runs that learned, agreement)")
    parser.add_argument("--baseline-tag-prefix", default="huang-split-")
    parser.add_argument("--tasks", help="only these tasks (comma-separated)")
    args = parser.parse_args()
    cells = collect(args.db, args.tag_prefix)
    if args.tasks:
        wanted = set(args.tasks.split(","))
        cells = {cell: entries for cell, entries in cells.items() if cell[0] in wanted}
    print("| task | setting | seeds | EM at 13-16 (1x) | EM at 29-32 (2x) | EM at 45-48 (3x) | measured | predicted | agree |")
    print("|---|---|---|---|---|---|---|---|---|")
    totals: dict[str, list[int]] = {}
    for (task, setting), entries in sorted(cells.items()):
        checks = [entry.check for entry in entries]
        prediction = checks[0].applicable.prediction
        verdicts = [check.agrees for check in checks]
        decided = [value for value in verdicts if value is not None]
        agree, compared = sum(decided), len(decided)
        totals.setdefault(setting, [0, 0, 0])
        totals[setting][0] += agree
        totals[setting][1] += compared
        totals[setting][2] += len(checks) - compared
        outcomes = ", ".join(sorted(check.outcome.verdict for check in checks))
        mark = "" if agree == compared else " ≠"
        print(
            f"| {task} | {setting} | {len(entries)} | {median_text([e.em_1x for e in entries])} | {median_text([e.em_2x for e in entries])} | "
            f"{median_text([e.em_3x for e in entries])} | {outcomes} | {'-' if prediction is None else prediction.verdict} | {agree}/{compared}{mark} |"
        )
    print()
    for setting, (agree, compared, undecided) in sorted(totals.items()):
        rate = "-" if not compared else f"{agree / compared:.0%}"
        print(
            f"- {setting}: {agree}/{compared} decided runs agree with the prediction ({rate}); {undecided} runs did not learn their training range (not compared)"
        )
    if args.baseline:
        baseline = collect(args.baseline, args.baseline_tag_prefix)
        print()
        print("| task | setting | predicted | baseline | this split |")
        print("|---|---|---|---|---|")
        for key in sorted(set(cells) | set(baseline)):
            entries = cells.get(key, [])
            prediction = (entries or baseline[key])[0].check.applicable.prediction
            before = learned_and_agreeing(baseline[key]) if key in baseline else "-"
            after = learned_and_agreeing(entries) if entries else "-"
            print(f"| {key[0]} | {key[1]} | {'-' if prediction is None else prediction.verdict} | {before} | {after} |")


if __name__ == "__main__":
    main()
