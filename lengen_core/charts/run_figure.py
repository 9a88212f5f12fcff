"""One run's accuracy-versus-length figure for a notebook (``Run.plot()`` of the public API).

plotly (default): the Length sweep page's own figure (:func:`~lengen_core.charts.curves.length_sweep_figure`:
the Wilson band, the training range, the threshold and the breakdown marked), titled with the breakdown and the
theory's prediction. altair: the same marks as a layered Vega-Lite chart, for notebooks that render altair.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from lengen_core.charts.colors import scheme_color
from lengen_core.charts.curves import SweepCurve, length_sweep_figure
from lengen_core.errors import ConfigError, shown
from lengen_core.store.records import RunRecord

LIBRARIES = ("plotly", "altair")


def run_figure(record: RunRecord, points: pd.DataFrame, titles: tuple[str, str], library: str = "plotly") -> Any:
    """Stored run ``record``'s own length sweep (``points``: its rows of the eval curve) as a plotly figure (or an
    altair chart), titled with ``titles`` (what the run did, what the theory predicts)."""
    if library not in LIBRARIES:
        raise ConfigError("library", f"must be one of {list(LIBRARIES)}, got {shown(library)}")
    curve = SweepCurve.from_run(record, points)
    if library == "plotly":
        figure = length_sweep_figure([curve])
        figure.update_layout(title={"text": "<br>".join(titles), "font": {"size": 13}}, margin={"t": 90})
        return figure
    return _altair(curve, " · ".join(titles))


def _altair(curve: SweepCurve, title: str) -> Any:
    import altair as alt

    color = scheme_color(curve.scheme)
    base = alt.Chart(curve.points).encode(x=alt.X("length:Q", title="length"))
    band = base.mark_area(opacity=0.2, color=color).encode(
        y=alt.Y("exact_match_low:Q", title="exact match", scale=alt.Scale(domain=[0, 1.05])), y2="exact_match_high:Q"
    )
    line = base.mark_line(point=True, color=color).encode(y="exact_match:Q", tooltip=["length", "n", "exact_match", "exact_match_low", "exact_match_high"])
    trained = alt.Chart(pd.DataFrame([{"start": curve.train_length_min, "end": curve.train_length_max}])).mark_rect(opacity=0.15, color="gray")
    threshold = alt.Chart(pd.DataFrame([{"y": curve.threshold}])).mark_rule(strokeDash=[2, 2]).encode(y="y:Q")
    layers = [trained.encode(x="start:Q", x2="end:Q"), band, line, threshold]
    if curve.breakdown_length is not None:
        layers.append(alt.Chart(pd.DataFrame([{"x": curve.breakdown_length}])).mark_rule(color="crimson", strokeDash=[6, 3]).encode(x="x:Q"))
    return alt.layer(*layers).properties(title=title, width=560, height=300)
