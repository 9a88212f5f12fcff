"""Figure builders for the pages: plain functions from data frames to plotly figures.

Nothing here calls ``st.*``, so every chart is unit-testable (the tests assert
on traces and shapes). Colours come from :data:`pages.common.SCHEME_COLORS`
so a scheme looks the same on every page. Shapes carry a ``name``
(``train-range``, ``train-length-max``, ``breakdown:<label>``, ``threshold``)
so tests and callers can find them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lengen_core.breakdown import Breakdown, is_bound
from lengen_core.charts.colors import run_color, scheme_color, scheme_places
from lengen_core.config import TaskConfig
from lengen_core.store import RunRecord

METRIC_LABELS: dict[str, str] = {"exact_match": "exact-match accuracy (greedy decoding)", "token_accuracy": "per-token accuracy (greedy decoding)"}
DASHES: tuple[str, ...] = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
LOG_AXIS_SPAN = 16  # the longest tested length over the shortest from which the length axis is logarithmic
TRAIN_RANGE_COLOR = "rgba(120, 120, 120, 0.15)"


def rgba(hex_color: str, alpha: float) -> str:
    """``"#2ca02c", 0.2`` -> ``"rgba(44, 160, 44, 0.2)"``."""
    value = hex_color.lstrip("#")
    red, green, blue = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({red}, {green}, {blue}, {alpha})"


def empty_figure(message: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.update_layout(height=260, margin=dict(l=20, r=20, t=30, b=20))
    return figure


TRAIN_CURVE_HEIGHT = 280


def train_curve_panels(points: pd.DataFrame, *, scheme: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Loss (log scale) and teacher-forced training accuracy versus step: two Vega-Lite specs.

    ``points`` has columns ``step``, ``loss``, ``accuracy`` (accuracy may be
    missing, a diverged step's loss infinite) and may have ``in_distribution``
    (a learned check's greedy exact match at the training lengths,
    ``train.stop_when_learned``): drawn on the accuracy panel as black diamonds
    where checks ran. Returns ``[("loss", spec),
    ("accuracy", spec)]``, each a complete spec with its data inline, drawn side
    by side; ``[]`` when nothing is logged yet. A loss that is not a positive
    finite number, or a missing accuracy, is ``null``: a gap in the line.

    Vega-Lite rather than plotly because the Train page redraws this chart
    every second for every session watching a run: four tabs polling spent
    1.2 cores of a software-rendered Chromium on the two-panel plotly figure
    and 0.4 on these specs (``bench/bench_polling_cost.py``, docs/benchmarks.md).
    Streamlit's chart menu saves each panel as PNG or SVG.
    """
    if points is None or len(points) == 0:
        return []
    color = scheme_color(scheme) if scheme else "#1f77b4"
    frame = points.sort_values("step")
    values = [
        {
            "step": int(step),
            "loss": float(loss) if loss is not None and math.isfinite(loss) and loss > 0 else None,
            "accuracy": None if accuracy is None or (isinstance(accuracy, float) and math.isnan(accuracy)) else float(accuracy),
        }
        for step, loss, accuracy in zip(frame["step"].tolist(), frame["loss"].tolist(), frame["accuracy"].tolist())
    ]

    def panel(field: str, title: str, axis_title: str, scale: dict[str, Any], dash: list[int]) -> dict[str, Any]:
        return {
            "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
            "title": {"text": title, "anchor": "start", "fontSize": 13},
            "height": TRAIN_CURVE_HEIGHT,
            "data": {"values": values},
            # invalid=null keeps the nulls in the path, so a missing value breaks the line instead of bridging it
            "mark": {"type": "line", "point": {"size": 16, "color": color}, "color": color, "strokeDash": dash, "invalid": None},
            "encoding": {
                "x": {"field": "step", "type": "quantitative", "title": "step"},
                "y": {"field": field, "type": "quantitative", "title": axis_title, "scale": scale},
                "tooltip": [{"field": "step", "type": "quantitative"}, {"field": field, "type": "quantitative", "format": ".4g"}],
            },
        }

    accuracy = panel("accuracy", "accuracy (teacher-forced)", "batch answers fully right", {"domain": [0, 1]}, [6, 3])
    checks = _learned_checks(frame)
    if checks:
        line = {key: accuracy.pop(key) for key in ("data", "mark", "encoding")}
        accuracy["title"]["text"] = "accuracy (teacher-forced line; ◆ greedy, worst training length)"
        accuracy["layer"] = [
            line,
            {
                "data": {"values": checks},
                "mark": {"type": "point", "shape": "diamond", "filled": True, "size": 60, "color": "#000000"},
                "encoding": {
                    "x": {"field": "step", "type": "quantitative"},
                    "y": {"field": "in_distribution", "type": "quantitative", "scale": {"domain": [0, 1]}},
                    "tooltip": [
                        {"field": "step", "type": "quantitative"},
                        {"field": "in_distribution", "type": "quantitative", "format": ".2f", "title": "greedy exact match (worst training length)"},
                    ],
                },
            },
        ]
    return [("loss", panel("loss", "training loss", "cross-entropy", {"type": "log"}, [])), ("accuracy", accuracy)]


def _learned_checks(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The steps where a learned check ran, with its exact match (``in_distribution``); [] when none did."""
    if "in_distribution" not in frame.columns:
        return []
    return [
        {"step": int(step), "in_distribution": float(value)}
        for step, value in zip(frame["step"].tolist(), frame["in_distribution"].tolist())
        if value is not None and not (isinstance(value, float) and math.isnan(value))
    ]


@dataclass(frozen=True)
class SweepCurve:
    """One run's length sweep as drawn: its points and the facts the chart marks.

    ``points`` has columns ``length``, ``n``, ``exact_match``,
    ``exact_match_low``, ``exact_match_high``, ``token_accuracy``.
    """

    label: str
    scheme: str
    points: pd.DataFrame
    train_length_min: int
    train_length_max: int
    breakdown_length: int | None
    threshold: float
    bound_reason: str | None = None  # why a length search stopped without a failure (lengen_core.length_search)

    @classmethod
    def from_run(cls, record: RunRecord, points: pd.DataFrame, *, label: str | None = None) -> SweepCurve:
        """The curve of stored run ``record`` over ``points`` (its rows of :meth:`RunStore.eval_curve`),
        with the run's stored breakdown length and bound; ``label`` defaults to the run's name, else its id."""
        config = record.run_config
        return cls(
            label=label or record.name or record.run_id,
            scheme=config.positions.scheme,
            points=points,
            train_length_min=config.task.train_length_min,
            train_length_max=config.task.train_length_max,
            breakdown_length=record.breakdown_length,
            threshold=config.eval.threshold,
            bound_reason=record.breakdown_bound,
        )

    @classmethod
    def from_part(cls, record: RunRecord, part: TaskConfig, points: pd.DataFrame, *, label: str) -> SweepCurve:
        """The curve of one more task of a mixture run (``part``: its single-task config) over its sweep's ``points``."""

        def stored(column: str) -> Any:  # a cell of the frame (pandas is untyped here): a number, a string or None
            value = points[column].iloc[0] if len(points) and column in points else None
            return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value

        breakdown = stored("breakdown_length")
        return cls(
            label=label,
            scheme=record.run_config.positions.scheme,
            points=points,
            train_length_min=part.train_length_min,
            train_length_max=part.train_length_max,
            breakdown_length=None if breakdown is None else int(breakdown),
            threshold=record.run_config.eval.threshold,
            bound_reason=stored("bound_reason"),
        )

    @property
    def longest_tested(self) -> int | None:
        """The longest length of the sweep (None when it has no points)."""
        return int(self.points["length"].max()) if len(self.points) else None

    @property
    def interval(self) -> tuple[int | None, int | None]:
        """The breakdown's interval over the curve's points (:func:`lengen_core.length_search.breakdown_interval`)."""
        from lengen_core.evaluation import eval_points_of
        from lengen_core.length_search import breakdown_interval

        return breakdown_interval(eval_points_of(self.points), self.threshold, self.train_length_min)

    @property
    def breakdown(self) -> Breakdown:
        """The breakdown with its interval over the curve's points; ``str()`` writes ``40 (4.0x; interval 36-44)``
        or ``≥ 80 (≥ 8.0x): <why>``."""
        low, high = self.interval
        return Breakdown(self.breakdown_length, self.train_length_max, low, high, self.bound_reason, self.longest_tested)

    @property
    def is_bound(self) -> bool:
        return is_bound(self.breakdown_length, self.longest_tested, self.bound_reason)


def length_sweep_figure(
    curves: Sequence[SweepCurve], *, metrics: Sequence[str] = ("exact_match",), show_bands: bool = True, height_per_panel: int = 380
) -> go.Figure:
    """Accuracy versus length for each curve, one panel per metric (stacked, shared x).

    Per curve and exact-match panel: a shaded 95% Wilson band (one closed
    ``fill="toself"`` trace named ``"<label> 95% band"``) under the line. Marked
    on every panel: the training range (shaded rectangle ``train-range``), the
    longest training length (dashed line ``train-length-max``; the axis title says
    what was trained, where no label can cover a curve), and each curve's
    breakdown length (line ``breakdown:<label>`` with a label). The exact-match
    panel also shows the threshold (``threshold``). Colours: the scheme's, and for
    further runs of one scheme a darker or lighter shade of it and another dash
    (:func:`~lengen_core.charts.colors.run_colors`).
    """
    if not curves:
        return empty_figure("Pick a run with a finished length sweep.")
    for metric in metrics:
        if metric not in METRIC_LABELS:
            raise ValueError(f"unknown metric {metric!r}; choose from {sorted(METRIC_LABELS)}")
    rows = len(metrics)
    figure = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    log_ticks = _log_ticks(curves)
    log_axis = log_ticks is not None

    def axis_x(length: float) -> float:
        """An annotation's x: plotly places annotations on a log axis by log10 of the value (shapes by the value)."""
        return math.log10(length) if log_axis else length

    styles = _curve_styles(curves)
    for row, metric in enumerate(metrics, start=1):
        for curve, (color, dash) in zip(curves, styles):
            _add_curve(figure, curve, metric, color, dash, show_band=show_bands, showlegend=row == 1, row=row, col=1)
        figure.update_yaxes(range=[-0.03, 1.03], title_text=METRIC_LABELS[metric], row=row, col=1)

    _add_training_marks(figure, curves, row="all", col=1)
    for offset, (curve, (color, _)) in enumerate(zip(curves, styles)):
        if curve.breakdown_length is None:
            continue
        figure.add_vline(x=curve.breakdown_length, line=dict(color=color, dash="dot", width=2), row="all", col=1, name=f"breakdown:{curve.label}")
        figure.add_annotation(
            x=axis_x(curve.breakdown_length),
            y=0.08 + 0.09 * (offset % 5),
            xref="x",
            yref="y domain",
            text=f"breakdown {'≥ ' if curve.is_bound else ''}{curve.breakdown_length}",
            showarrow=False,
            xanchor="left",
            font=dict(size=11, color=color),
            bgcolor="rgba(255,255,255,0.7)",
        )
    if "exact_match" in metrics:
        _add_thresholds(figure, curves, row=list(metrics).index("exact_match") + 1, col=1)
    figure.update_xaxes(title_text=_length_axis_title(curves, log_axis), row=rows, col=1)
    if log_ticks is not None:
        _use_log_axis(figure, log_ticks)
    figure.update_layout(
        height=height_per_panel * rows,
        margin=dict(l=50, r=20, t=60, b=40),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
        hovermode="closest",
    )
    return figure


def length_sweep_panels(groups: Sequence[tuple[str, Sequence[SweepCurve]]], *, columns: int = 4, panel_height: int = 220) -> go.Figure:
    """Small multiples: one exact-match panel per group (titled with its name), for a chart of many runs.

    Each panel draws its curves as :func:`length_sweep_figure` does (band, line, training range, threshold) and
    marks each breakdown with a dotted line; the breakdown values are left to the table beside the chart, since
    labels do not fit a small panel. A legend entry per distinct curve label, shown once. All panels share the
    y axis (0-1) and, where the lengths allow, one length axis (log from a 16x span, as the single chart).
    """
    if not groups:
        return empty_figure("Pick a run with a finished length sweep.")
    rows = math.ceil(len(groups) / columns)
    figure = make_subplots(
        rows=rows,
        cols=columns,
        shared_yaxes=True,
        subplot_titles=[name for name, _ in groups],
        horizontal_spacing=0.03,
        vertical_spacing=0.5 / rows if rows > 1 else 0.0,
    )
    every_curve = [curve for _, curves in groups for curve in curves]
    log_ticks = _log_ticks(every_curve)
    log_axis = log_ticks is not None
    legend_shown: set[str] = set()
    for index, (_, curves) in enumerate(groups):
        row, col = index // columns + 1, index % columns + 1
        for curve, (color, dash) in zip(curves, _curve_styles(curves)):
            _add_curve(figure, curve, "exact_match", color, dash, show_band=True, showlegend=curve.label not in legend_shown, row=row, col=col)
            legend_shown.add(curve.label)
            if curve.breakdown_length is not None:
                figure.add_vline(x=curve.breakdown_length, line=dict(color=color, dash="dot", width=1.5), row=row, col=col, name=f"breakdown:{curve.label}")
        _add_training_marks(figure, curves, row=row, col=col)
        _add_thresholds(figure, curves, row=row, col=col)
    figure.update_yaxes(range=[-0.03, 1.03])
    figure.update_yaxes(title_text="exact match", col=1)
    # one length-axis title for the whole grid, centred under it (a title per column would overlap its neighbours)
    figure.add_annotation(
        text=_length_axis_title(every_curve, log_axis), x=0.5, y=0, xref="paper", yref="paper", yanchor="top", yshift=-28, showarrow=False, name="length-axis"
    )
    if log_ticks is not None:
        _use_log_axis(figure, log_ticks)
    figure.update_layout(
        height=panel_height * rows + 90,
        margin=dict(l=50, r=20, t=70, b=60),
        legend=dict(orientation="h", yanchor="bottom", y=1.0 + 40 / (panel_height * rows), xanchor="left", x=0),
        hovermode="closest",
    )
    return figure


MAX_RUNS_IN_ONE_CHART = 8  # more runs than this are drawn as small multiples, a panel per task (our choice)


def panels_by_task(curves: Sequence[SweepCurve], tasks: Sequence[str]) -> list[tuple[str, list[SweepCurve]]]:
    """The curves grouped by their task (``tasks[i]`` is ``curves[i]``'s), in first-seen order, for
    :func:`length_sweep_panels`; a label that starts with ``"<task>, "`` loses that prefix (the panel's title says it),
    so runs of one setting share a legend entry across panels."""
    groups: dict[str, list[SweepCurve]] = {}
    for curve, task in zip(curves, tasks, strict=True):
        label = curve.label.removeprefix(f"{task}, ")
        groups.setdefault(task, []).append(dataclasses.replace(curve, label=label))
    return list(groups.items())


def _log_ticks(curves: Sequence[SweepCurve]) -> list[int] | None:
    """The ticks of a log length axis, or None for a linear one. Logarithmic once the tested lengths span
    LOG_AXIS_SPAN or more: lengths a search reached (up to 64x the training length) would squash the trained and
    first tested lengths into the left edge of a linear axis (our choice)."""
    tested = [float(length) for curve in curves for length in curve.points["length"]] or [1.0]
    if max(tested) < LOG_AXIS_SPAN * max(min(tested), 1.0):
        return None
    return log_axis_ticks(min(tested + [float(curve.train_length_min) for curve in curves]), max(tested))


def log_axis_ticks(low: float, high: float) -> list[int]:
    """Lengths 1, 2, 5, 10, 20, 50 ... from ``low`` to ``high``: whole numbers a log length axis can label in full
    (plotly's own log ticks label 20 and 30 as "2" and "3")."""
    ticks, decade = [], 1
    while decade <= high:
        ticks += [mantissa * decade for mantissa in (1, 2, 5) if low <= mantissa * decade <= high]
        decade *= 10
    return ticks


def _use_log_axis(figure: go.Figure, ticks: list[int]) -> None:
    figure.update_xaxes(type="log", tickmode="array", tickvals=ticks, ticktext=[str(tick) for tick in ticks])


def _length_axis_title(curves: Sequence[SweepCurve], log_axis: bool) -> str:
    """``length (input size) · trained on 1-8 (shaded)``, every distinct training range named, then the scale."""
    ranges = ", ".join(f"{low}-{high}" for low, high in sorted({(c.train_length_min, c.train_length_max) for c in curves}))
    return f"length (input size) · trained on {ranges} (shaded)" + (" · log scale" if log_axis else "")


def _curve_styles(curves: Sequence[SweepCurve]) -> list[tuple[str, str]]:
    """(colour, dash) per curve: the scheme's colour (shaded for its further runs), and a dash per run of a scheme."""
    schemes = [curve.scheme for curve in curves]
    return [(run_color(scheme, place), DASHES[place % len(DASHES)]) for scheme, place in zip(schemes, scheme_places(schemes))]


def _add_curve(figure: go.Figure, curve: SweepCurve, metric: str, color: str, dash: str, *, show_band: bool, showlegend: bool, row: int, col: int) -> None:
    """One curve's line (hover: length, value, n, 95% band) and, on exact match, its Wilson band beneath."""
    frame = curve.points.sort_values("length")
    if metric == "exact_match" and show_band and len(frame):
        lengths = frame["length"].tolist()
        figure.add_trace(
            go.Scatter(
                x=lengths + lengths[::-1],
                y=frame["exact_match_high"].tolist() + frame["exact_match_low"].tolist()[::-1],
                mode="lines",
                fill="toself",
                fillcolor=rgba(color, 0.18),
                line=dict(width=0),
                hoverinfo="skip",
                showlegend=False,
                legendgroup=curve.label,
                name=f"{curve.label} 95% band",
            ),
            row=row,
            col=col,
        )
    customdata = frame[["n", "exact_match_low", "exact_match_high"]].to_numpy() if len(frame) else None
    figure.add_trace(
        go.Scatter(
            x=frame["length"],
            y=frame[metric],
            mode="lines+markers",
            name=curve.label,
            legendgroup=curve.label,
            showlegend=showlegend,
            line=dict(color=color, dash=dash, width=2),
            marker=dict(size=7, color=color),
            customdata=customdata,
            hovertemplate=(
                f"<b>{curve.label}</b><br>length %{{x}}<br>{metric.replace('_', ' ')} %{{y:.3f}}"
                "<br>n = %{customdata[0]}<br>95% band %{customdata[1]:.3f}–%{customdata[2]:.3f}<extra></extra>"
            ),
        ),
        row=row,
        col=col,
    )


def _add_training_marks(figure: go.Figure, curves: Sequence[SweepCurve], *, row: int | str, col: int) -> None:
    """The training range (shaded) and the longest training length (dashed), once per distinct value."""
    for low, high in sorted({(c.train_length_min, c.train_length_max) for c in curves}):
        figure.add_vrect(x0=low - 0.5, x1=high + 0.5, fillcolor=TRAIN_RANGE_COLOR, line_width=0, layer="below", row=row, col=col, name="train-range")
    for high in sorted({c.train_length_max for c in curves}):
        figure.add_vline(x=high, line=dict(color="#555555", dash="dash", width=1), row=row, col=col, name="train-length-max")


def _add_thresholds(figure: go.Figure, curves: Sequence[SweepCurve], *, row: int, col: int) -> None:
    """The exact-match threshold (dotted), once per distinct value."""
    for threshold in sorted({c.threshold for c in curves}):
        figure.add_hline(y=threshold, line=dict(color="#999999", dash="dot", width=1), row=row, col=col, name="threshold")


def named_shapes(figure: go.Figure, prefix: str) -> list[go.layout.Shape]:
    """Shapes of ``figure`` whose name starts with ``prefix`` (``"breakdown:"``, ``"train-range"``)."""
    return [shape for shape in figure.layout.shapes if (shape.name or "").startswith(prefix)]


def breakdown_ratio_figure(runs: pd.DataFrame) -> go.Figure:
    """Breakdown ratio per run as dots grouped by scheme (one trace per scheme), for the Runs page."""
    finished = runs[runs["status"] == "done"] if len(runs) else runs
    if len(finished) == 0:
        return empty_figure("No finished runs to plot.")
    figure = go.Figure()
    for scheme, group in finished.groupby("scheme", sort=True):
        figure.add_trace(
            go.Box(
                x=group["task"],
                y=group["breakdown_ratio"].astype(float).fillna(0.0),
                name=str(scheme),
                marker_color=scheme_color(str(scheme)),
                boxpoints="all",
                jitter=0.3,
                pointpos=0,
            )
        )
    figure.update_layout(boxmode="group", height=340, yaxis_title="breakdown length / train length", margin=dict(l=40, r=20, t=30, b=40))
    return figure
