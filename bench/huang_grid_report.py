"""Report Huang et al.'s model selection from a store filled by bench/huang_grid.sh.

    python bench/huang_grid_report.py DB [--tag-prefix huang-grid-]

Huang et al. train every architecture of a grid per task and report the one with
the best accuracy on their first bin of longer strings. This prints, per task and
setting, every architecture (layers x heads x width) with the median over seeds of
the lowest exact match over the four lengths ending at 1x, 1.5x, 2x and 3x the
longest training length and the measured outcomes; then the architecture that
selection keeps (the best median exact match at 1.5x, our stand-in for their first
longer bin; ties go to the smaller model) with its 2x and 3x and outcome, beside
how many of the grid's runs generalize and the prediction. Prints markdown.
"""

from __future__ import annotations

import argparse
import statistics

from huang_split_report import Entry, collect, median_text, task_and_setting

from lengen_core.config import RunConfig


def task_setting_and_model(config: RunConfig) -> tuple[str, ...]:
    model = config.model
    return (*task_and_setting(config), f"{model.n_layers}x{model.n_heads}x{model.d_model}")


def model_size(architecture: str) -> tuple[int, ...]:
    """'layers x heads x width' as numbers, smallest first when sorted."""
    return tuple(int(part) for part in architecture.split("x"))


def median(values: list[float | None]) -> float:
    known = [value for value in values if value is not None]
    return statistics.median(known) if known else -1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db")
    parser.add_argument("--tag-prefix", default="huang-grid-")
    args = parser.parse_args()
    cells = collect(args.db, args.tag_prefix, task_setting_and_model)
    by_task: dict[tuple[str, str], dict[str, list[Entry]]] = {}
    for (task, setting, architecture), entries in cells.items():
        by_task.setdefault((task, setting), {})[architecture] = entries

    print("| task | setting | layers x heads x width | seeds | EM 1x | EM 1.5x | EM 2x | EM 3x | measured |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (task, setting), architectures in sorted(by_task.items()):
        for architecture in sorted(architectures, key=model_size):
            entries = architectures[architecture]
            outcomes = ", ".join(sorted(entry.check.outcome.verdict for entry in entries))
            print(
                f"| {task} | {setting} | {architecture} | {len(entries)} | {median_text([e.em_1x for e in entries])} | "
                f"{median_text([e.em_1_5x for e in entries])} | {median_text([e.em_2x for e in entries])} | "
                f"{median_text([e.em_3x for e in entries])} | {outcomes} |"
            )
    print()
    print("| task | setting | predicted | selected (best EM at 1.5x) | its EM 1.5x / 2x / 3x | its outcomes | runs of the grid that generalize |")
    print("|---|---|---|---|---|---|---|")
    for (task, setting), architectures in sorted(by_task.items()):
        selected = max(sorted(architectures, key=model_size), key=lambda a: median([e.em_1_5x for e in architectures[a]]))
        entries = architectures[selected]
        every = [entry for group in architectures.values() for entry in group]
        generalizing = sum(entry.check.outcome.verdict == "generalizes" for entry in every)
        prediction = every[0].check.applicable.prediction
        picked = " / ".join(median_text([getattr(e, name) for e in entries]) for name in ("em_1_5x", "em_2x", "em_3x"))
        outcomes = ", ".join(sorted(entry.check.outcome.verdict for entry in entries))
        print(
            f"| {task} | {setting} | {'-' if prediction is None else prediction.verdict} | {selected} | {picked} | {outcomes} | "
            f"{generalizing} of {len(every)} ({len(architectures)} architectures) |"
        )


if __name__ == "__main__":
    main()
