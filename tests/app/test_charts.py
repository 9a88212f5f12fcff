"""Figure builders: traces, bands, shaded training range, breakdown markers, grid aggregation."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from lengen_core.charts.colors import SCHEME_COLORS, SHADE_STEPS, run_colors, shade
from lengen_core.charts.curves import (
    SweepCurve,
    breakdown_ratio_figure,
    length_sweep_figure,
    length_sweep_panels,
    log_axis_ticks,
    named_shapes,
    panels_by_task,
    rgba,
    train_curve_panels,
)


def sweep_points(lengths: list[int], exact: list[float], n: int = 100) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "length": lengths,
            "n": [n] * len(lengths),
            "exact_match": exact,
            "exact_match_low": [max(0.0, value - 0.05) for value in exact],
            "exact_match_high": [min(1.0, value + 0.05) for value in exact],
            "token_accuracy": [0.5 + value / 2 for value in exact],
        }
    )


def curve(label: str = "run-a", scheme: str = "coupled", breakdown: int | None = 20) -> SweepCurve:
    return SweepCurve(
        label=label,
        scheme=scheme,
        points=sweep_points([5, 10, 20, 30, 40], [1.0, 1.0, 0.95, 0.5, 0.1]),
        train_length_min=1,
        train_length_max=10,
        breakdown_length=breakdown,
        threshold=0.9,
    )


def test_length_sweep_has_band_and_line_per_run_in_scheme_colour() -> None:
    figure = length_sweep_figure([curve("a", "coupled"), curve("b", "learned", breakdown=10)])
    assert len(figure.data) == 4  # band + line for each run
    band, line = figure.data[0], figure.data[1]
    assert band.fill == "toself" and band.name == "a 95% band"
    assert list(band.x) == [5, 10, 20, 30, 40, 40, 30, 20, 10, 5]  # closed polygon: forward on the top, back on the bottom
    assert list(band.y[:5]) == pytest.approx([1.0, 1.0, 1.0, 0.55, 0.15])
    assert list(band.y[5:]) == pytest.approx([0.05, 0.45, 0.9, 0.95, 0.95])
    assert band.fillcolor == rgba(SCHEME_COLORS["coupled"], 0.18)
    assert line.line.color == SCHEME_COLORS["coupled"]
    assert figure.data[3].line.color == SCHEME_COLORS["learned"]
    assert list(line.y) == [1.0, 1.0, 0.95, 0.5, 0.1]


def test_length_sweep_marks_breakdown_train_range_and_threshold() -> None:
    figure = length_sweep_figure([curve("a", breakdown=20), curve("b", "rope", breakdown=None)])
    breakdown = named_shapes(figure, "breakdown:")
    assert [(shape.name, shape.x0, shape.x1) for shape in breakdown] == [("breakdown:a", 20, 20)]
    assert any(annotation.text == "breakdown 20" and annotation.x == 20 for annotation in figure.layout.annotations)
    train_range = named_shapes(figure, "train-range")
    assert len(train_range) == 1 and (train_range[0].x0, train_range[0].x1) == (0.5, 10.5)
    train_max = named_shapes(figure, "train-length-max")
    assert len(train_max) == 1 and train_max[0].x0 == 10
    threshold = named_shapes(figure, "threshold")
    assert len(threshold) == 1 and threshold[0].y0 == 0.9


def test_a_sweep_searched_far_past_its_lengths_is_drawn_on_a_log_axis() -> None:
    """HSA held to 3,072 after a sweep of 16-256: on a linear axis the trained lengths were 2% of the width."""
    searched = SweepCurve(
        label="hsa",
        scheme="rope",
        points=sweep_points([16, 48, 256, 1024, 3072], [1.0, 1.0, 1.0, 1.0, 1.0]),
        train_length_min=16,
        train_length_max=48,
        breakdown_length=3072,
        threshold=0.9,
    )
    figure = length_sweep_figure([searched])
    assert figure.layout.xaxis.type == "log" and figure.layout.xaxis.title.text == "length (input size) · trained on 16-48 (shaded) · log scale"
    # shapes sit at the lengths themselves, annotations at their log10 (plotly's rule on a log axis)
    assert named_shapes(figure, "breakdown:")[0].x0 == 3072 and named_shapes(figure, "train-length-max")[0].x0 == 48
    annotations = {annotation.text: annotation.x for annotation in figure.layout.annotations}
    assert annotations["breakdown ≥ 3072"] == pytest.approx(math.log10(3072))
    # whole lengths on the ticks (plotly's own log ticks read "2 3 4 ... 100 2 3": 20 written as "2")
    assert list(figure.layout.xaxis.tickvals) == [20, 50, 100, 200, 500, 1000, 2000] and figure.layout.xaxis.ticktext[0] == "20"
    linear = length_sweep_figure([curve()])
    assert linear.layout.xaxis.type is None and linear.layout.xaxis.title.text == "length (input size) · trained on 1-10 (shaded)"


def test_log_axis_ticks_are_whole_lengths_one_two_five() -> None:
    assert log_axis_ticks(16, 3072) == [20, 50, 100, 200, 500, 1000, 2000]
    assert log_axis_ticks(1, 64) == [1, 2, 5, 10, 20, 50]
    assert log_axis_ticks(3, 4) == []


def test_no_label_sits_on_the_curves_top_edge() -> None:
    """A run at accuracy 1 is drawn at the top of the panel: the training range is named in the axis title, not there."""
    figure = length_sweep_figure([curve("a"), curve("b", "learned", breakdown=10)])
    assert all(annotation.y <= 0.5 for annotation in figure.layout.annotations)


def test_bands_can_be_hidden_and_token_accuracy_gets_its_own_panel() -> None:
    without_bands = length_sweep_figure([curve()], show_bands=False)
    assert [trace.fill for trace in without_bands.data] == [None]
    both = length_sweep_figure([curve()], metrics=("exact_match", "token_accuracy"))
    assert len(both.data) == 3  # band + exact-match line, token line (no band: it has no interval)
    assert both.data[2].yaxis == "y2"
    assert list(both.data[2].y) == pytest.approx([1.0, 1.0, 0.975, 0.75, 0.55])
    assert len(named_shapes(both, "breakdown:")) == 2  # one marker per panel
    assert len(named_shapes(both, "threshold")) == 1  # only on the exact-match panel


def test_runs_of_one_scheme_get_shades_of_its_colour_and_other_dashes() -> None:
    figure = length_sweep_figure([curve("a"), curve("b"), curve("c", "learned")], show_bands=False)
    first, second, other = (trace.line for trace in figure.data)
    assert first.color == SCHEME_COLORS["coupled"] and other.color == SCHEME_COLORS["learned"]  # a scheme reads as itself
    assert second.color not in (first.color, other.color) and second.dash != first.dash
    assert {shape.line.color for shape in named_shapes(figure, "breakdown:")} == {first.color, second.color, other.color}
    assert run_colors(["coupled"] * 5) == [shade(SCHEME_COLORS["coupled"], step) for step in SHADE_STEPS[:5]]
    assert len(set(run_colors(["coupled"] * len(SHADE_STEPS)))) == len(SHADE_STEPS)
    assert shade("#808080", -1.0) == "#000000" and shade("#808080", 1.0) == "#ffffff" and shade("#2ca02c", 0.0) == "#2ca02c"


def test_many_runs_are_drawn_a_panel_per_task() -> None:
    """The theory lesson's 24 runs on one chart were a red and grey mass: one small panel per task instead."""
    curves, tasks = [], []
    for task in ("parity", "majority", "sort", "dyck_1", "aa_star"):
        curves += [curve(f"{task}, NoPE", "nope"), curve(f"{task}, APE + offsets", "learned", breakdown=10)]
        tasks += [task, task]
    groups = panels_by_task(curves, tasks)
    assert [name for name, _ in groups] == ["parity", "majority", "sort", "dyck_1", "aa_star"]
    assert [c.label for c in groups[0][1]] == ["NoPE", "APE + offsets"]
    figure = length_sweep_panels(groups, columns=4)
    assert [annotation.text for annotation in figure.layout.annotations] == [
        "parity",
        "majority",
        "sort",
        "dyck_1",
        "aa_star",
        "length (input size) · trained on 1-10 (shaded)",  # once, under the grid
    ]
    lines = [trace for trace in figure.data if trace.fill is None]
    assert len(lines) == 10 and sorted(trace.name for trace in lines if trace.showlegend) == ["APE + offsets", "NoPE"]
    assert {(trace.xaxis, trace.line.color) for trace in lines if trace.name == "NoPE"} >= {("x", SCHEME_COLORS["nope"]), ("x5", SCHEME_COLORS["nope"])}
    assert len(named_shapes(figure, "breakdown:")) == 10 and len(named_shapes(figure, "train-range")) == 5
    assert figure.layout.yaxis.range == (-0.03, 1.03) and figure.layout.height == 2 * 220 + 90  # 5 panels: 2 rows of 4
    assert len(length_sweep_panels([]).data) == 0


def test_unknown_metric_is_refused_and_empty_input_gives_a_message() -> None:
    with pytest.raises(ValueError):
        length_sweep_figure([curve()], metrics=("bleu",))
    empty = length_sweep_figure([])
    assert len(empty.data) == 0 and "Pick a run" in empty.layout.annotations[0].text


def test_train_curve_has_loss_and_teacher_forced_accuracy_panels() -> None:
    points = pd.DataFrame({"step": [30, 10, 20], "loss": [float("inf"), 2.0, 1.0], "accuracy": [None, 0.1, 0.5]})
    panels = dict(train_curve_panels(points, scheme="rope"))
    assert list(panels) == ["loss", "accuracy"]
    loss, accuracy = panels["loss"], panels["accuracy"]
    assert [row["step"] for row in loss["data"]["values"]] == [10, 20, 30]  # drawn in step order
    assert [row["loss"] for row in loss["data"]["values"]] == [2.0, 1.0, None]  # a diverged (inf) loss is a gap on the log axis
    assert [row["accuracy"] for row in accuracy["data"]["values"]] == [0.1, 0.5, None]
    assert loss["mark"]["invalid"] is None  # nulls break the line rather than being bridged
    assert loss["encoding"]["y"]["scale"] == {"type": "log"} and accuracy["encoding"]["y"]["scale"] == {"domain": [0, 1]}
    assert "teacher-forced" in accuracy["title"]["text"]
    assert loss["mark"]["color"] == SCHEME_COLORS["rope"] == accuracy["mark"]["color"]
    json.dumps(loss, allow_nan=False)  # plain JSON, as the front end receives it
    assert train_curve_panels(points.iloc[:0]) == []


def runs_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "run_id": ["r1", "r2", "r3", "r4", "r5"],
            "task": ["reverse", "reverse", "reverse", "reverse", "addition"],
            "scheme": ["coupled", "coupled", "coupled", "learned", "coupled"],
            "status": ["done", "done", "done", "running", "failed"],
            "breakdown_ratio": [2.0, 3.0, None, None, None],
        }
    )


def test_breakdown_ratio_figure_one_trace_per_scheme() -> None:
    figure = breakdown_ratio_figure(runs_frame())
    assert [trace.name for trace in figure.data] == ["coupled"]
    assert list(figure.data[0].y) == [2.0, 3.0, 0.0]
