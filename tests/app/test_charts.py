"""Figure builders: traces, bands, shaded training range, breakdown markers, grid aggregation."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from lengen_core.charts.colors import SCHEME_COLORS
from lengen_core.charts.curves import SweepCurve, breakdown_ratio_figure, length_sweep_figure, named_shapes, rgba, train_curve_panels


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
    assert figure.layout.xaxis.type == "log" and figure.layout.xaxis.title.text.endswith("log scale")
    # shapes sit at the lengths themselves, annotations at their log10 (plotly's rule on a log axis)
    assert named_shapes(figure, "breakdown:")[0].x0 == 3072 and named_shapes(figure, "train-length-max")[0].x0 == 48
    annotations = {annotation.text: annotation.x for annotation in figure.layout.annotations}
    assert annotations["breakdown ≥ 3072"] == pytest.approx(math.log10(3072)) and annotations["trained ≤ 48"] == pytest.approx(math.log10(48))
    assert length_sweep_figure([curve()]).layout.xaxis.type is None  # 5-40: linear, as before


def test_bands_can_be_hidden_and_token_accuracy_gets_its_own_panel() -> None:
    without_bands = length_sweep_figure([curve()], show_bands=False)
    assert [trace.fill for trace in without_bands.data] == [None]
    both = length_sweep_figure([curve()], metrics=("exact_match", "token_accuracy"))
    assert len(both.data) == 3  # band + exact-match line, token line (no band: it has no interval)
    assert both.data[2].yaxis == "y2"
    assert list(both.data[2].y) == pytest.approx([1.0, 1.0, 0.975, 0.75, 0.55])
    assert len(named_shapes(both, "breakdown:")) == 2  # one marker per panel
    assert len(named_shapes(both, "threshold")) == 1  # only on the exact-match panel


def test_runs_of_one_scheme_share_the_colour_and_differ_by_dash() -> None:
    figure = length_sweep_figure([curve("a"), curve("b")], show_bands=False)
    assert figure.data[0].line.color == figure.data[1].line.color
    assert figure.data[0].line.dash != figure.data[1].line.dash


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
