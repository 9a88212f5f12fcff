"""The Compare grid: cells pooled over seeds, runs that did not learn told apart, bounds, hover, legible text."""

from __future__ import annotations

import math

import pandas as pd

from lengen_core.charts.colors import SCHEME_COLORS
from lengen_core.charts.grid import (
    BODY_FONT_PX,
    MIN_CONTRAST,
    NOT_LEARNED_FILL,
    cell_state,
    cell_text,
    compare_grid_figure,
    contrast_ratio,
    grid_cells,
    grid_summary,
    relative_luminance,
    text_colour_on,
    worst_text_contrast,
)


def run(run_id: str, task: str, scheme: str, status: str = "done", breakdown: int | None = None, longest: int = 40, **more: object) -> dict:
    return {
        "run_id": run_id,
        "task": task,
        "scheme": scheme,
        "status": status,
        "seed": int(run_id[-1]) if run_id[-1].isdigit() else 0,
        "breakdown_length": breakdown,
        "train_length_max": 10,
        "breakdown_ratio": None if breakdown is None else breakdown / 10,
        "longest_tested": longest if status == "done" else None,
        "train_offset_max": -1,
        "in_distribution": 1.0,
        "steps_done": 1000,
        "samples_per_length": 100,
        "breakdown_low": None,
        "breakdown_high": None,
        "breakdown_bound": None,
        **more,
    }


def runs_frame() -> pd.DataFrame:
    return pd.DataFrame(
        [
            run("r1", "reverse", "coupled", breakdown=20, breakdown_low=18, breakdown_high=22),
            run("r2", "reverse", "coupled", breakdown=30),
            run("r3", "reverse", "coupled", breakdown=None, in_distribution=0.94),  # did not learn its range
            run("r4", "reverse", "learned", status="running"),
            run("r5", "addition", "coupled", status="failed"),
            run("r6", "addition", "learned", breakdown=8, in_distribution=0.42, steps_done=1000),
            run("r7", "majority", "nope", breakdown=40, longest=40, breakdown_bound="task majority has lengths up to 40"),
        ]
    )


def cell(cells: pd.DataFrame, task: str, scheme: str) -> pd.Series:
    return cells[(cells.task == task) & (cells.scheme == scheme)].iloc[0]


def test_runs_that_did_not_learn_are_counted_apart_from_the_ratio() -> None:
    cells = grid_cells(runs_frame())
    reverse = cell(cells, "reverse", "coupled")
    assert (reverse.runs, reverse.done, reverse.learned, reverse.not_learned) == (3, 3, 2, 1)
    assert reverse.median_ratio == 2.5 and (reverse.min_ratio, reverse.max_ratio) == (2.0, 3.0)  # over the learned runs only
    assert cell_text(reverse) == "2.5x<br>2/3"
    assert "seed 3: did not learn: 0.94 in distribution after 1,000 steps, n = 100 per length" in reverse.hover
    assert "seed 1: 2.0x (interval 1.8–2.2x), generalizes, n = 100 per length" in reverse.hover
    addition = cell(cells, "addition", "learned")
    assert cell_state(addition) == "not learned" and cell_text(addition) == "did not<br>learn<br>0/1"
    assert "did not learn: 0.42 in distribution after 1,000 steps" in addition.hover
    assert cell_text(cell(cells, "reverse", "learned")) == "…<br>0/1 done"
    assert cell_text(cell(cells, "addition", "coupled")) == "failed<br>1 run"
    assert cell_state(cell(cells, "majority", "coupled")) == "empty" and cell_text(cell(cells, "majority", "coupled")) == "no run"
    assert grid_summary(cells) == "7 runs: 3 learned their training range, 2 did not learn, 1 queued or running, 1 failed"


def test_seeds_with_equal_ratios_pool() -> None:
    frame = pd.DataFrame([run("r1", "reverse", "coupled", breakdown=20), run("r2", "reverse", "coupled", breakdown=20)])
    assert cell(grid_cells(frame), "reverse", "coupled").median_ratio == 2.0


def test_a_cell_whose_median_run_held_to_its_search_end_reads_as_a_bound() -> None:
    majority = cell(grid_cells(runs_frame()), "majority", "nope")
    assert majority.bound and cell_text(majority) == "≥ 4.0x<br>1/1 ✓"
    assert "≥ 4.0x, generalizes: task majority has lengths up to 40" in majority.hover
    assert "predicted: generalizes" in majority.hover


def test_rows_are_grouped_by_family() -> None:
    tasks = list(dict.fromkeys(grid_cells(runs_frame())["task"]))
    assert tasks == ["addition", "reverse", "majority"]  # arithmetic, copying, counting


def test_the_figure_draws_text_at_body_size_in_the_most_contrasting_colour() -> None:
    cells = grid_cells(runs_frame())
    figure = compare_grid_figure(cells)
    learned, not_learned, pending = figure.data
    assert learned.z[1][0] == 2.5 and math.isnan(learned.z[0][1])  # reverse/coupled; addition/learned is not on the scale
    assert not math.isnan(not_learned.z[0][1]) and not_learned.colorscale[0][1] == NOT_LEARNED_FILL
    texts = {annotation.name: annotation for annotation in figure.layout.annotations}
    assert texts["cell:reverse/coupled"].text == "2.5x<br>2/3"
    assert all(annotation.font.size >= BODY_FONT_PX for annotation in texts.values())
    assert texts["cell:addition/learned"].font.color == "#000000"  # on the grey
    assert SCHEME_COLORS["coupled"] in figure.layout.xaxis.ticktext[0]
    assert "did not learn" in not_learned.customdata[0][1]


def test_cell_text_contrasts_at_least_4_5_to_1_with_every_colour_of_the_scale() -> None:
    assert round(relative_luminance("#ffffff"), 6) == 1.0 and relative_luminance("#000000") == 0.0
    assert round(contrast_ratio("#000000", "#ffffff"), 2) == 21.0
    assert round(contrast_ratio("#777777", "#ffffff"), 2) == 4.48  # WCAG's own borderline grey
    assert text_colour_on("#440154") == "#ffffff" and text_colour_on("#fde725") == "#000000"  # viridis' ends
    assert worst_text_contrast() >= MIN_CONTRAST
