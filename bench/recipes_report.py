"""Each training recipe against its single-task baseline, from a store filled by bench/recipes.sh.

    python bench/recipes_report.py DB [--prefix recipe-]    (bench/recipes_regime.py: --prefix regime-)

Per group (sort, reversal, reversed addition, string copy, capitalize-reverse) and recipe: the seeds; the
median (min-max) exact match of the main task at its longest training length,
at 2x, 4x and 5x (where tested); its breakdown length (the stored one: the last length before
exact match first falls below eval.threshold; "none" when it never held);
how many seeds learned the training range (>= 0.9 at 1x); and, for a
mixture, the partners' own exact match at their longest training length (was the
partner learned?) and breakdown lengths (did it reach its longer range?). A sweep of
several schemes without a recipe (``regime-ppc``) is a group whose rows are its schemes. Then the recipe against the baseline at 2x and at 4x: better (worse) when its
median EM is above (below) the baseline's by more than the baseline's spread over seeds. Markdown.
"""

from __future__ import annotations

import argparse
import statistics

import pandas

from lengen_core.run_listing import sweep_tag
from lengen_core.store import RunStore
from lengen_core.sweep_names import part_sweep_name

try:  # run as python -m bench.<script> or as python bench/<script>.py
    from bench.common import median_cell as cell
except ImportError:
    from common import median_cell as cell

LEARNED = 0.9


def lengths_cell(values: list[int | None]) -> str:
    return ", ".join("none" if value is None else str(value) for value in values) or "-"


def quarter_points(curve: pandas.DataFrame, steps: int) -> list[tuple[float, float] | None]:
    """(loss, teacher-forced accuracy) at the logged step nearest each quarter of ``steps`` (None where not logged)."""
    points: list[tuple[float, float] | None] = []
    for quarter in (1, 2, 3, 4):
        if curve.empty:
            points.append(None)
            continue
        nearest = curve.iloc[(curve["step"] - quarter * steps // 4).abs().argsort()[:1]].iloc[0]
        points.append((float(nearest["loss"]), float(nearest["accuracy"])))
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db")
    parser.add_argument("--prefix", default="recipe-", help="the sweeps' tag prefix (default recipe-; regime- for recipes_regime.py)")
    parser.add_argument(
        "--curves",
        action="store_true",
        help="also each arm's learning curve: median training loss and "
        "teacher-forced accuracy over seeds at each quarter of training (its whole batch: main task and partners)",
    )
    args = parser.parse_args()
    store = RunStore(args.db, read_only=True)
    runs = store.list_runs(status="done")
    groups: dict[tuple[str, str], dict[str, list]] = {}
    for row in runs.sort_values("seed", kind="stable").itertuples():  # seed order: the lessons quote seeds 0, 1, 2
        tag = next((str(tag) for tag in row.tags if str(tag).startswith(sweep_tag(args.prefix))), None)
        if tag is None:
            continue
        group, _, recipe = tag.removeprefix(sweep_tag(args.prefix)).partition("-")
        recipe = recipe or row.scheme  # a sweep of schemes: one row per scheme
        record = store.get_run(row.run_id)
        config = record.run_config
        curve = store.eval_curve([row.run_id])
        main = curve[curve["sweep"] == "default"]
        top = config.task.train_length_max
        slot = groups.setdefault((group, recipe), {"seeds": [], 1: [], 2: [], 4: [], 5: [], "breakdown": [], "partners": {}, "partners_1x": {}, "curve": []})
        slot["seeds"].append(record.seed)
        if args.curves:
            slot["curve"].append(quarter_points(store.train_curve(row.run_id), config.train.steps))
        for factor in (1, 2, 4, 5):
            at = main[main["length"] == factor * top]
            if not at.empty:
                slot[factor].append(float(at["exact_match"].iloc[0]))
        slot["breakdown"].append(record.breakdown_length)
        for part in config.task.evaluated_parts()[1:]:
            part_curve = curve[curve["sweep"] == part_sweep_name("default", part.name)]
            stored = part_curve["breakdown_length"].iloc[0] if len(part_curve) else None
            name = f"{part.name} (1-{part.train_length_max})"
            slot["partners"].setdefault(name, []).append(None if stored is None or pandas.isna(stored) else int(stored))
            at_top = part_curve[part_curve["length"] == part.train_length_max]
            if not at_top.empty:
                slot["partners_1x"].setdefault(name, []).append(float(at_top["exact_match"].iloc[0]))
    print(
        "| group | recipe | seeds | EM at 1x | EM at 2x | EM at 4x | EM at 5x | breakdown lengths | learned 1x | partners' EM at their 1x | partners' breakdown lengths |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (group, recipe), slot in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1] != "none", item[0][1])):
        learned = sum(value >= LEARNED for value in slot[1])
        partners = "; ".join(f"{name}: {lengths_cell(values)}" for name, values in sorted(slot["partners"].items())) or "-"
        partners_1x = "; ".join(f"{name}: {cell(values)}" for name, values in sorted(slot["partners_1x"].items())) or "-"
        print(
            f"| {group} | {recipe} | {len(slot['seeds'])} | {cell(slot[1])} | {cell(slot[2])} | {cell(slot[4])} | {cell(slot[5])} | "
            f"{lengths_cell(slot['breakdown'])} | {learned} of {len(slot[1])} | {partners_1x} | {partners} |"
        )
    print()
    for (group, recipe), slot in sorted(groups.items()):
        baseline = groups.get((group, "none"))
        if recipe == "none" or baseline is None:
            continue
        parts = []
        for factor in (2, 4, 5):
            if not slot[factor] or not baseline[factor]:
                continue
            base, mine = statistics.median(baseline[factor]), statistics.median(slot[factor])
            spread = max(baseline[factor]) - min(baseline[factor])
            verdict = "better" if mine > base + spread else ("worse" if mine < base - spread else "no clear difference")
            parts.append(f"at {factor}x {mine:.2f} vs the baseline's {base:.2f} (its spread {spread:.2f}): {verdict}")
        print(f"- {group} / {recipe}: median EM " + "; ".join(parts))
    if args.curves:
        print("\n| group | recipe | loss at 1/4, 1/2, 3/4, end of training | accuracy (teacher-forced) at the same steps |")
        print("|---|---|---|---|")
        for (group, recipe), slot in sorted(groups.items()):
            quarters = [[seed[quarter] for seed in slot["curve"] if seed[quarter] is not None] for quarter in range(4)]
            loss = ", ".join(f"{statistics.median(v[0] for v in values):.3f}" if values else "-" for values in quarters)
            accuracy = ", ".join(f"{statistics.median(v[1] for v in values):.3f}" if values else "-" for values in quarters)
            print(f"| {group} | {recipe} | {loss} | {accuracy} |")


if __name__ == "__main__":
    main()
