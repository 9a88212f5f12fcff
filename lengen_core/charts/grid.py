"""The Compare grid: runs pooled into task x setting cells, and the heatmap that reads at a glance.

Nothing here calls ``st.*``. A cell pools a sweep's seeds of one task and one setting (the scheme, with learned
APE trained at random offsets as ``learned+offsets``). Its runs are told apart by what they measured
(:func:`lengen_core.theory.measured_outcome`): a run that did not learn its own training range says nothing
about length generalization, so a cell whose finished runs all failed to learn is drawn grey with "did not
learn" and its in-distribution exact match on hover, never as a small breakdown ratio. A cell with learned runs
shows their median breakdown ratio, ``≥ 4.0x`` when the median run held to where its search (or sweep) stopped.

Legibility (issue 29): the cell text is drawn at the app's body size (:data:`BODY_FONT_PX`) in black or white,
whichever contrasts more with the cell's own fill; :func:`worst_text_contrast` computes the lowest such contrast
over the whole colour scale (WCAG 2.1 relative luminance), which must stay at or above 4.5:1.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any, SupportsInt

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from lengen_core.breakdown import is_bound, ratio_text
from lengen_core.charts.colors import scheme_color
from lengen_core.charts.curves import empty_figure
from lengen_core.errors import ConfigError
from lengen_core.tasks import TASK_REGISTRY, build_task
from lengen_core.tasks.theory import Prediction
from lengen_core.theory import MeasuredOutcome, measured_outcome, prediction_for_setting, setting_label

BODY_FONT_PX = 16  # Streamlit's body text (its theme's base font size)
# What a cell of the grid says, under the figure (the page adds how to open a cell)
GRID_CAPTION = (
    "Each cell: the median breakdown/train length over its seeds that learned their training range (≥ when the median run "
    "held to where its length search stopped: the position table, the task, or the evaluation budget), then how many of "
    "its runs learned it, with ✓ when theory agrees with every decided run and ≠ when it disagrees with one (Huang et al. "
    "2025: NoPE, and learned APE with random training offsets as the column learned+offsets; Golowich et al. 2025: "
    "coupling on k-sparse tasks; a run generalizes when it holds to 2x its training length). Grey: every finished run of "
    "the cell did not learn its training range, so it says nothing about length."
)
COLOUR_SCALE = "Viridis"
NOT_LEARNED_FILL = "#cfcfcf"
PENDING_FILL = "#eef0f4"
MIN_CONTRAST = 4.5
GRID_COLUMNS = [
    "task",
    "family",
    "scheme",
    "runs",
    "done",
    "active",
    "failed",
    "learned",
    "not_learned",
    "median_ratio",
    "min_ratio",
    "max_ratio",
    "bound",
    "in_distribution",
    "steps",
    "run_ids",
    "predicted",
    "decided",
    "agree",
    "hover",
]


# --- contrast (WCAG 2.1) -----------------------------------------------------------------------------


def _channels(colour: str) -> tuple[float, float, float]:
    """``#rrggbb`` or ``rgb(r, g, b)`` as three 0..1 channels."""
    if colour.startswith("#"):
        value = colour.lstrip("#")
        red, green, blue = (int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))
        return red, green, blue
    inside = colour[colour.index("(") + 1 : colour.index(")")]
    red, green, blue = (float(part) for part in inside.split(",")[:3])
    return red / 255, green / 255, blue / 255


def relative_luminance(colour: str) -> float:
    """WCAG 2.1 relative luminance of an sRGB colour."""

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in _channels(colour))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2.1 contrast ratio of two colours, 1..21."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def text_colour_on(fill: str) -> str:
    """Black or white, whichever contrasts more with ``fill`` (never below 4.58:1, the mid-grey worst case)."""
    return "#000000" if contrast_ratio("#000000", fill) >= contrast_ratio("#ffffff", fill) else "#ffffff"


def scale_colour(fraction: float) -> str:
    """The colour scale's colour at ``fraction`` (0..1)."""
    colour: str = sample_colorscale(COLOUR_SCALE, [min(1.0, max(0.0, fraction))])[0]
    return colour


def worst_text_contrast(samples: int = 256) -> float:
    """The lowest contrast of a cell's text with its fill, over the colour scale and the grey fills."""
    fills = [scale_colour(index / (samples - 1)) for index in range(samples)] + [NOT_LEARNED_FILL, PENDING_FILL]
    return min(contrast_ratio(text_colour_on(fill), fill) for fill in fills)


# --- cells -------------------------------------------------------------------------------------------


def grid_cells(runs: pd.DataFrame, tasks: Sequence[str] | None = None, schemes: Sequence[str] | None = None) -> pd.DataFrame:
    """Aggregate runs into task x setting cells (seeds pooled), each with the prediction beside the measurement.

    ``runs`` has the columns of :meth:`RunStore.list_runs`. Per cell: run counts by state; over the finished
    runs, how many ``learned`` their training range and how many did not (``not_learned``); over the learned
    ones, the median, min and max breakdown ratio and whether the median run's breakdown is a bound (``bound``:
    it held to where its search stopped); the median in-distribution exact match and steps of the finished runs;
    ``predicted`` (True / False / None: :func:`lengen_core.theory.prediction_for_setting`), and over the runs with
    a decided outcome how many there are (``decided``) and agree (``agree``); ``hover``, a line per run. Cells of
    ``tasks`` x ``schemes`` with no runs appear with zero counts. A multi-task run (``mixture`` column) gets a row
    of its own, ``<task> + <partner>...`` (no prediction: theory's labels are about single-task training); its
    other tasks' rows come from :func:`with_partner_rows`.
    """
    frame = runs.copy() if runs is not None else pd.DataFrame(columns=["task", "scheme", "status", "breakdown_ratio", "run_id"])
    if "train_offset_max" in frame and len(frame):
        frame["scheme"] = [
            setting_label(scheme, None if pd.isna(offset) else int(offset)) for scheme, offset in zip(frame["scheme"], frame["train_offset_max"])
        ]
    if len(frame):
        frame["task"] = cell_task_labels(frame)
    tasks = list(tasks) if tasks is not None else sorted(frame["task"].dropna().unique(), key=lambda task: (family_of(task), task))
    schemes = list(schemes) if schemes is not None else sorted(frame["scheme"].dropna().unique())
    records = []
    for task in tasks:
        for scheme in schemes:
            cell = frame[(frame["task"] == task) & (frame["scheme"] == scheme)] if len(frame) else frame
            records.append(_cell(task, scheme, cell))
    return pd.DataFrame.from_records(records, columns=GRID_COLUMNS)


def _cell(task: str, scheme: str, cell: pd.DataFrame) -> dict[str, Any]:
    done = cell[cell["status"] == "done"] if len(cell) else cell
    prediction = _setting_prediction(task, scheme)
    runs: list[tuple[pd.Series, MeasuredOutcome]] = []  # (row, outcome) of each finished run
    for _, row in done.iterrows():
        train_max = _int_or_none(row.get("train_length_max"))
        if train_max:
            runs.append((row, measured_outcome(_int_or_none(row.get("breakdown_length")), train_max, _int_or_none(row.get("longest_tested")))))
    learned = [(row, outcome) for row, outcome in runs if outcome.verdict != "did not learn"]
    ratios = sorted((((outcome.breakdown_length or 0) / outcome.train_length_max, row, outcome) for row, outcome in learned), key=lambda item: item[0])
    median = statistics.median([ratio for ratio, _, _ in ratios]) if ratios else None
    middle = ratios[(len(ratios) - 1) // 2 : len(ratios) // 2 + 1] if ratios else []
    bound = any(is_bound(outcome.breakdown_length, outcome.longest_tested, _text_or_none(row.get("breakdown_bound"))) for _, row, outcome in middle)
    verdicts = [outcome.agrees_with(prediction) for _, outcome in runs]
    in_distribution = [float(row["in_distribution"]) for row, _ in runs if "in_distribution" in row and not pd.isna(row["in_distribution"])]
    steps = [int(row["steps_done"]) for row, _ in runs if "steps_done" in row and not pd.isna(row["steps_done"])]
    return {
        "task": task,
        "family": family_of(task),
        "scheme": scheme,
        "runs": len(cell),
        "done": len(done),
        "active": int(cell["status"].isin(["queued", "running"]).sum()) if len(cell) else 0,
        "failed": int(cell["status"].isin(["failed", "diverged", "cancelled", "interrupted"]).sum()) if len(cell) else 0,
        "learned": len(learned),
        "not_learned": len(runs) - len(learned),
        "median_ratio": median,
        "min_ratio": ratios[0][0] if ratios else None,
        "max_ratio": ratios[-1][0] if ratios else None,
        "bound": bound,
        "in_distribution": statistics.median(in_distribution) if in_distribution else None,
        "steps": int(statistics.median(steps)) if steps else None,
        "run_ids": list(cell["run_id"]) if len(cell) else [],
        "predicted": None if prediction is None else prediction.generalizes,
        "decided": sum(verdict is not None for verdict in verdicts),
        "agree": sum(verdict is True for verdict in verdicts),
        "hover": _hover(task, scheme, prediction, runs, cell),
    }


def _hover(task: str, scheme: str, prediction: Prediction | None, runs: list[tuple[pd.Series, MeasuredOutcome]], cell: pd.DataFrame) -> str:
    lines = [f"<b>{task} / {scheme}</b>"]
    lines.append("predicted: no prediction for this setting" if prediction is None else f"predicted: {prediction.verdict} ({prediction.claim})")
    for row, outcome in runs:
        seed = row.get("seed", "?")
        samples = _int_or_none(row.get("samples_per_length"))
        per_length = f", n = {samples} per length" if samples else ""
        if outcome.verdict == "did not learn":
            exact = row.get("in_distribution")
            level = "?" if exact is None or pd.isna(exact) else f"{float(exact):.2f}"
            steps = _int_or_none(row.get("steps_done"))
            lines.append(f"seed {seed}: did not learn: {level} in distribution after {steps or 0:,} steps{per_length}")
            continue
        low, high = _int_or_none(row.get("breakdown_low")), _int_or_none(row.get("breakdown_high"))
        train_max = outcome.train_length_max
        bounded = is_bound(outcome.breakdown_length, outcome.longest_tested, _text_or_none(row.get("breakdown_bound")))
        interval = f" (interval {low / train_max:.1f}–{high / train_max:.1f}x)" if low is not None and high is not None and not bounded else ""
        reason = f": {row['breakdown_bound']}" if bounded and _text_or_none(row.get("breakdown_bound")) else ""
        lines.append(f"seed {seed}: {ratio_text(outcome.breakdown_length, train_max, bounded)}{interval}, {outcome.verdict}{reason}{per_length}")
    pending = int(cell["status"].isin(["queued", "running"]).sum()) if len(cell) else 0
    if pending:
        lines.append(f"{pending} run(s) queued or running")
    return "<br>".join(lines)


def cell_state(cell: pd.Series) -> str:
    """``empty``, ``learned`` (some finished run learned its range), ``not learned`` (every finished run failed to
    learn it), ``pending`` (nothing finished, something queued or running) or ``failed`` (nothing finished or pending)."""
    if not cell["runs"]:
        return "empty"
    if cell["learned"]:
        return "learned"
    if cell["not_learned"]:
        return "not learned"
    return "pending" if cell["active"] else "failed"


def cell_text(cell: pd.Series) -> str:
    """What a cell says, in short lines that fit a narrow column at body size: the median breakdown ratio of its
    learned runs (``4.0x``, ``≥ 4.0x``), then how many runs learned their range, with ``✓`` when every decided run
    agrees with theory and ``≠`` when one does not (``2/3 ≠``); ``did not<br>learn<br>0/3``; ``…``; ``failed``; ``no run`` in a cell no run of the sweep fills."""
    state = cell_state(cell)
    if state == "empty":  # said, not left blank: a white cell read as a missing result
        return "no run"
    if state == "pending":
        return f"…<br>{cell['done']}/{cell['runs']} done"
    if state == "failed":
        return f"failed<br>{cell['failed']} run{'s' if cell['failed'] != 1 else ''}"
    if state == "not learned":
        return f"did not<br>learn<br>0/{cell['runs']}"
    headline = f"{'≥ ' if cell['bound'] else ''}{cell['median_ratio']:.1f}x"
    status = f"{cell['learned']}/{cell['runs']}"
    decided = int(cell.get("decided") or 0)
    if decided:
        status += " ≠" if int(cell.get("agree") or 0) < decided else " ✓"
    return f"{headline}<br>{status}"


def cell_words(cell: pd.Series) -> str:
    """:func:`cell_text` spelled out for the table under the grid: ``2.5x · 2 of 3 learned · theory disagrees``."""
    state = cell_state(cell)
    if state in ("empty", "pending", "failed"):
        return cell_text(cell).replace("<br>", " · ")
    if state == "not learned":
        return f"did not learn · 0 of {cell['runs']} learned"
    words = f"{'≥ ' if cell['bound'] else ''}{cell['median_ratio']:.1f}x · {cell['learned']} of {cell['runs']} learned"
    decided = int(cell.get("decided") or 0)
    if decided:
        words += " · theory disagrees" if int(cell.get("agree") or 0) < decided else " · theory agrees"
    return words


def grid_summary(cells: pd.DataFrame) -> str:
    """``12 runs: 7 learned their range, 3 did not learn, 2 queued or running, 0 failed``."""
    runs = int(cells["runs"].sum())
    learned, not_learned = int(cells["learned"].sum()), int(cells["not_learned"].sum())
    active, failed = int(cells["active"].sum()), int(cells["failed"].sum())
    return f"{runs} runs: {learned} learned their training range, {not_learned} did not learn, {active} queued or running, {failed} failed"


# --- rows ----------------------------------------------------------------------------------------------


def family_of(task_label: str) -> str:
    """The task family of a grid row (``multi-task`` for a mixture's rows)."""
    if " + " in task_label or " in " in task_label:
        return "multi-task"
    task_class = TASK_REGISTRY.get(task_of_label(task_label))
    return task_class.family if task_class is not None else "other"


def task_of_label(task_label: str) -> str:
    """The task a listing's label names: ``expression`` for ``expression:<name>``, a task the user wrote
    (``lengen_core.store.queries.TASK_LABEL``); any other label is its task's name."""
    return task_label.split(":", 1)[0]


def is_mixture_row(task_label: str) -> bool:
    return family_of(task_label) == "multi-task"


def _int_or_none(value: SupportsInt | None) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def mixture_label(task: str, mixture: object) -> str:
    """A run's row on Compare: its task, or ``"sort + sort_successor"`` for a multi-task run (``mixture``: the
    other tasks, comma-joined, as :meth:`RunStore.list_runs` gives them)."""
    return f"{task} + {mixture.replace(',', ' + ')}" if isinstance(mixture, str) and mixture else task


def cell_task_labels(runs: pd.DataFrame) -> list[str]:
    """The Compare row of each run of ``runs`` (:func:`mixture_label`; rows without a ``mixture`` column keep their task)."""
    if "mixture" not in runs:
        return list(runs["task"])
    return [mixture_label(task, mixture) for task, mixture in zip(runs["task"], runs["mixture"])]


def cell_runs(runs: pd.DataFrame, cells: pd.DataFrame, task: str, scheme: str) -> pd.DataFrame:
    """The rows of ``runs`` in the cell (``task``, ``scheme``) of ``cells`` (:func:`grid_cells`): the cell's runs, on
    its own row (a mixture run's partner row and its main task's row hold the same run id)."""
    cell = cells[(cells["task"] == task) & (cells["scheme"] == scheme)].iloc[0]
    return runs[runs["run_id"].isin(cell["run_ids"]) & (pd.Series(cell_task_labels(runs), index=runs.index) == task)]


def with_partner_rows(runs: pd.DataFrame, part_sweeps: pd.DataFrame) -> pd.DataFrame:
    """``runs`` plus, for each mixture run, one row per other task it tested (``part_sweeps``:
    :meth:`RunStore.part_sweeps`): that task's own sweep, as a run of the row ``"<task> in <main> + <others>"``
    (``"sort_successor in sort + sort_successor"``), so Compare shows the partner's breakdown beside the
    main task's, never pooled with single-task runs of it. Every row keeps its run's own task in ``run_task``."""
    frame = runs.assign(run_task=runs["task"]) if "task" in runs else runs
    if part_sweeps is None or len(part_sweeps) == 0 or len(runs) == 0:
        return frame
    by_id = {row["run_id"]: row for row in frame.to_dict("records")}
    rows = []
    for part in part_sweeps.to_dict("records"):
        run = by_id.get(part["run_id"])
        if run is None:
            continue
        breakdown = _int_or_none(part["breakdown_length"])
        train_max = int(part["train_length_max"])
        rows.append(
            run
            | {
                "task": f"{part['task']} in {mixture_label(run['task'], run.get('mixture'))}",
                "mixture": None,
                "breakdown_length": breakdown,
                "train_length_max": train_max,
                "breakdown_ratio": None if breakdown is None else breakdown / train_max,
                "longest_tested": _int_or_none(part["longest_tested"]),
                "breakdown_low": part.get("breakdown_low"),
                "breakdown_high": part.get("breakdown_high"),
                "breakdown_bound": part.get("bound_reason"),
                "in_distribution": part.get("in_distribution"),
            }
        )
    return pd.concat([frame, pd.DataFrame(rows, columns=frame.columns)], ignore_index=True) if rows else frame


def _setting_prediction(task: str, setting: str) -> Prediction | None:
    """The prediction for a grid column: ``learned+offsets`` is learned APE with offsets; unknown tasks have none."""
    scheme, offsets = ("learned", 1) if setting == "learned+offsets" else (setting, 0)
    try:
        theory = build_task(task_of_label(task)).theory
    except ConfigError:  # a stored run of a task this version no longer has, or a mixture's row
        return None
    return prediction_for_setting(theory, scheme, offsets).prediction


# --- the figure ----------------------------------------------------------------------------------------


def compare_grid_figure(cells: pd.DataFrame) -> go.Figure:
    """Heatmap of the median breakdown ratio per task (rows, grouped by family) x setting (columns).

    One heatmap trace of the learned cells (``z``: the median ratio over their learned runs, NaN elsewhere) on
    the colour scale, one grey trace for the cells whose runs did not learn, one pale trace for pending cells;
    every cell's text is an annotation (``name`` ``cell:<task>/<scheme>``) at :data:`BODY_FONT_PX` in the colour
    that contrasts most with its fill; hovering a cell shows a line per run (n, interval, verdict) and the prediction.
    Column labels are drawn in the scheme's colour.
    """
    if cells is None or len(cells) == 0:
        return empty_figure("No runs yet: launch a sweep.")
    tasks = list(dict.fromkeys(cells["task"]))
    schemes = list(dict.fromkeys(cells["scheme"]))
    lookup = {(row["task"], row["scheme"]): row for _, row in cells.iterrows()}
    learned_values = [float(row["median_ratio"]) for _, row in cells.iterrows() if cell_state(row) == "learned"]
    top = max([4.0, *learned_values])
    states = {key: cell_state(row) for key, row in lookup.items()}

    def layer(state: str) -> list[list[float]]:
        return [
            [
                (float(lookup[(task, scheme)]["median_ratio"]) if state == "learned" else 1.0) if states[(task, scheme)] == state else math.nan
                for scheme in schemes
            ]
            for task in tasks
        ]

    hover = [[lookup[(task, scheme)]["hover"] if states[(task, scheme)] != "empty" else "" for scheme in schemes] for task in tasks]
    common = dict(x=schemes, y=tasks, customdata=hover, hovertemplate="%{customdata}<extra></extra>", xgap=2, ygap=2)
    figure = go.Figure()
    figure.add_trace(
        go.Heatmap(z=layer("learned"), colorscale=COLOUR_SCALE, zmin=0, zmax=top, name="learned", colorbar=dict(title="breakdown /<br>train length"), **common)
    )
    figure.add_trace(
        go.Heatmap(z=layer("not learned"), colorscale=[[0, NOT_LEARNED_FILL], [1, NOT_LEARNED_FILL]], showscale=False, name="did not learn", **common)
    )
    waiting = [[other if math.isnan(value) else value for value, other in zip(row, failed)] for row, failed in zip(layer("pending"), layer("failed"))]
    figure.add_trace(go.Heatmap(z=waiting, colorscale=[[0, PENDING_FILL], [1, PENDING_FILL]], showscale=False, name="pending or failed", **common))
    for (task, scheme), row in lookup.items():
        state = states[(task, scheme)]
        if state == "empty":
            continue
        fill = scale_colour(float(row["median_ratio"]) / top) if state == "learned" else NOT_LEARNED_FILL if state == "not learned" else PENDING_FILL
        figure.add_annotation(
            x=scheme, y=task, text=cell_text(row), showarrow=False, name=f"cell:{task}/{scheme}", font=dict(size=BODY_FONT_PX, color=text_colour_on(fill))
        )
    ticktext = [f"<span style='color:{scheme_color(s.split('+')[0])}'><b>{s}</b></span>" for s in schemes]
    figure.update_xaxes(tickvals=schemes, ticktext=ticktext, side="top", tickfont=dict(size=BODY_FONT_PX))
    task_ticks = [f"{task}<br><span style='font-size:12px;color:#555'>{lookup[(task, schemes[0])]['family']}</span>" for task in tasks]
    figure.update_yaxes(autorange="reversed", tickvals=tasks, ticktext=task_ticks, tickfont=dict(size=14))
    figure.update_layout(height=max(260, 78 * len(tasks) + 120), margin=dict(l=40, r=20, t=60, b=20))
    return figure
