"""Figures of what a trained model does inside: attention maps, HSA chunk selections, position ids.

The data comes from :mod:`lengen_core.inspection`; these functions only turn it
into plotly figures (no ``st.*``). Token labels on every axis are
``"<index>:<token>"``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lengen_core.inspection import PositionRow, coupled_groups, first_mismatch, hsa_selection_matrix, predicted_ids_table
from lengen_core.vocab import VOCAB

_HEAT = "Blues"


def attention_heatmap(probs: np.ndarray, labels: Sequence[str], title: str = "") -> go.Figure:
    """One attention map. probs: [T, T] (query rows, key columns); labels: T token labels."""
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[0] != probs.shape[1] or probs.shape[0] != len(labels):
        raise ValueError(f"attention map must be [T, T] with T = {len(labels)} labels, got {probs.shape}")
    figure = go.Figure(
        go.Heatmap(
            z=probs,
            x=list(labels),
            y=list(labels),
            colorscale=_HEAT,
            zmin=0.0,
            zmax=1.0,
            hovertemplate="query %{y}<br>key %{x}<br>weight %{z:.3f}<extra></extra>",
            colorbar={"title": "weight"},
        )
    )
    size = max(320, min(900, 18 * len(labels) + 160))
    figure.update_layout(
        title=title,
        height=size,
        xaxis={"title": "key (attended-to token)", "type": "category", "tickangle": -60},
        yaxis={"title": "query token", "type": "category", "autorange": "reversed"},
        margin={"l": 60, "r": 20, "t": 50, "b": 60},
    )
    return figure


def attention_grid(attention: Sequence[np.ndarray | None], labels: Sequence[str], title: str = "") -> go.Figure:
    """Every layer x head: a grid of heatmaps (rows = layers, columns = heads).

    attention: per layer ``[H, T, T]`` (None for layers with no dense map, drawn empty).
    One ``Heatmap`` trace per (layer, head), in row-major order.
    """
    maps = [None if layer is None else np.asarray(layer) for layer in attention]
    present = [layer for layer in maps if layer is not None]
    if not present:
        raise ValueError("no layer returned an attention map")
    heads = max(layer.shape[0] for layer in present)
    n_layers = len(maps)
    figure = make_subplots(
        rows=n_layers,
        cols=heads,
        subplot_titles=[f"layer {layer} · head {head}" for layer in range(n_layers) for head in range(heads)],
        horizontal_spacing=0.02,
        vertical_spacing=0.06 if n_layers > 1 else 0.1,
        shared_xaxes=True,
        shared_yaxes=True,
    )
    for layer_index, layer in enumerate(maps):
        if layer is None:
            continue
        if layer.shape[-1] != len(labels) or layer.shape[-2] != len(labels):
            raise ValueError(f"layer {layer_index}: map is {layer.shape[-2:]} but there are {len(labels)} labels")
        for head in range(layer.shape[0]):
            figure.add_trace(
                go.Heatmap(
                    z=layer[head],
                    x=list(labels),
                    y=list(labels),
                    colorscale=_HEAT,
                    zmin=0.0,
                    zmax=1.0,
                    showscale=layer_index == 0 and head == 0,
                    name=f"layer {layer_index} head {head}",
                    hovertemplate=f"layer {layer_index} head {head}<br>query %{{y}}<br>key %{{x}}<br>weight %{{z:.3f}}<extra></extra>",
                ),
                row=layer_index + 1,
                col=head + 1,
            )
    # token labels once per grid line: keys under the bottom row, queries left of the first column (on every panel
    # the labels ran over the titles and maps beside them); none past 40 tokens, where they cannot be read
    labelled = len(labels) <= 40
    figure.update_xaxes(type="category", showticklabels=False, tickangle=-60, tickfont={"size": 8})
    figure.update_xaxes(showticklabels=labelled, row=n_layers)
    figure.update_yaxes(type="category", autorange="reversed", showticklabels=False, tickfont={"size": 8})
    figure.update_yaxes(showticklabels=labelled, col=1)
    panel = max(180, min(360, 9 * len(labels) + 100))
    figure.update_layout(title=title, height=panel * n_layers + 80, margin={"l": 50, "r": 20, "t": 70, "b": 40})
    return figure


def hsa_selection_figure(indices: np.ndarray, weights: np.ndarray, chunk_size: int, labels: Sequence[str], *, head: int = 0, title: str = "") -> go.Figure:
    """HSA chunk selections of one layer, drawn over the token sequence.

    indices, weights: ``[T, H_kv, K]`` (the documented shape of ``hsa_indices`` /
    ``hsa_weights`` for one example). Draws, for the chosen KV head, a heatmap
    (query rows x token columns) of the weight each query gave the chunk holding
    each token, with dashed lines at chunk boundaries.
    """
    indices = np.asarray(indices)
    weights = np.asarray(weights)
    if indices.ndim != 3:
        raise ValueError(f"hsa indices must be [T, H_kv, K], got {indices.shape}")
    if not 0 <= head < indices.shape[1]:
        raise ValueError(f"head {head} out of range 0..{indices.shape[1] - 1}")
    length = len(labels)
    matrix = hsa_selection_matrix(indices[:, head, :], weights[:, head, :], chunk_size, length)
    # hover text: which chunk each cell belongs to
    chunk_of = [f"chunk {j // chunk_size}" for j in range(length)]
    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=list(labels),
            y=list(labels[: matrix.shape[0]]),
            customdata=np.tile(np.array(chunk_of, dtype=object), (matrix.shape[0], 1)),
            colorscale="Oranges",
            zmin=0.0,
            zmax=max(1.0, float(matrix.max()) if matrix.size else 1.0),
            hovertemplate="query %{y}<br>token %{x} (%{customdata})<br>chunk weight %{z:.3f}<extra></extra>",
            colorbar={"title": "chunk weight"},
        )
    )
    for boundary in range(chunk_size, length, chunk_size):
        figure.add_vline(x=boundary - 0.5, line={"dash": "dot", "color": "#888", "width": 1})
    size = max(320, min(900, 14 * length + 160))
    figure.update_layout(
        title=title or f"HSA chunk selection, KV head {head} (chunk size {chunk_size})",
        height=size,
        xaxis={"title": "token (grouped in chunks)", "type": "category", "tickangle": -60, "showticklabels": length <= 80},
        yaxis={"title": "query token", "type": "category", "autorange": "reversed", "showticklabels": length <= 80},
        margin={"l": 60, "r": 20, "t": 50, "b": 60},
    )
    return figure


def position_ids_figure(labels: Sequence[str], rows: Sequence[PositionRow], *, answer_start: int | None = None) -> go.Figure:
    """Rows = schemes (and views), columns = tokens; each cell shows the id, colour = id value.

    In a coupled row, tokens that share an id share a colour, so coupled tokens read as linked.
    """
    if not rows:
        raise ValueError("no scheme rows to draw")
    for row in rows:
        if len(row.ids) != len(labels):
            raise ValueError(f"row {row.label!r} has {len(row.ids)} ids for {len(labels)} tokens")
    z = np.array([row.ids for row in rows], dtype=float)  # [rows, T]
    text = [[str(value) for value in row.ids] for row in rows]
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=list(labels),
            y=[row.label for row in rows],
            text=text,
            texttemplate="%{text}",
            textfont={"size": 10},
            colorscale="Turbo",
            showscale=False,
            xgap=1,
            ygap=2,
            hovertemplate="%{y}<br>token %{x}<br>id %{text}<extra></extra>",
        )
    )
    if answer_start is not None and 0 < answer_start < len(labels):
        figure.add_vline(x=answer_start - 0.5, line={"color": "black", "width": 2})
        figure.add_annotation(x=answer_start - 0.5, y=1.02, yref="paper", text="answer →", showarrow=False, xanchor="left")
    figure.update_layout(
        height=90 + 38 * len(rows),
        xaxis={"type": "category", "tickangle": -60, "side": "bottom"},
        yaxis={"type": "category", "autorange": "reversed"},
        margin={"l": 10, "r": 10, "t": 30, "b": 60},
    )
    return figure


def coupling_links_figure(token_ids: Sequence[int], coupled_ids: Sequence[int], *, colors: Sequence[str] | None = None) -> go.Figure:
    """Tokens in a row; arcs join the tokens that share a coupled id (one trace per id, in id order).

    Trace 0 holds the tokens (markers + text); trace k >= 1 holds the arc of
    the k-th shared id, named ``"id <value>"`` and carrying its token indices in
    ``customdata``.
    """
    if len(token_ids) != len(coupled_ids):
        raise ValueError(f"{len(token_ids)} tokens but {len(coupled_ids)} coupled ids")
    palette = list(colors or ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"])
    groups = coupled_groups(coupled_ids)
    group_color = {value: palette[n % len(palette)] for n, value in enumerate(groups)}
    marker_colors = [group_color.get(int(value), "#cccccc") for value in coupled_ids]
    figure = go.Figure(
        go.Scatter(
            x=list(range(len(token_ids))),
            y=[0] * len(token_ids),
            mode="markers+text",
            text=[VOCAB.token(token) for token in token_ids],
            textposition="bottom center",
            marker={"size": 16, "color": marker_colors, "line": {"width": 1, "color": "#444"}},
            customdata=[int(value) for value in coupled_ids],
            hovertemplate="token %{x}: %{text}<br>coupled id %{customdata}<extra></extra>",
            name="tokens",
            showlegend=False,
        )
    )
    for value, members in groups.items():
        xs: list[float | None] = []
        ys: list[float | None] = []
        for left, right in zip(members, members[1:]):
            span = right - left
            curve_x = np.linspace(left, right, 25)
            curve_y = 0.15 + 0.85 * np.sin(np.linspace(0, np.pi, 25)) * min(1.0, span / max(len(token_ids) / 2, 1))
            xs.extend(curve_x.tolist() + [None])
            ys.extend(curve_y.tolist() + [None])
        figure.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line={"color": group_color[value], "width": 2},
                name=f"id {value}",
                customdata=members,
                hoverinfo="name",
                showlegend=False,
            )
        )
    figure.update_layout(
        height=220,
        xaxis={"visible": False, "range": [-1, len(token_ids)]},
        yaxis={"visible": False, "range": [-0.5, 1.15]},
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
    )
    return figure


def predicted_ids_figure(answer_tokens: Sequence[int], true_ids: Sequence[int], predicted_ids: Sequence[int]) -> go.Figure:
    """Two rows (true, predicted) of answer position ids; the first wrong prediction is outlined red.

    Columns are answer positions labelled ``"<k>:<generated token>"``; the truth
    is the scheme's rule applied to the true example. Cell colour: green where
    the ids agree, red where they differ, grey where one side has no id.
    """
    table = predicted_ids_table(answer_tokens, true_ids, predicted_ids)
    n = len(table["true id"])
    labels = [f"{k}:{token}" for k, token in enumerate(table["answer token"])]
    status = [[0.0] * n, [1.0 if m == "✓" else (0.0 if "" in (a, b) else -1.0) for a, b, m in zip(table["true id"], table["predicted id"], table["match"])]]
    wrong = first_mismatch(list(true_ids), list(predicted_ids))
    figure = go.Figure(
        go.Heatmap(
            z=status,
            x=labels,
            y=["true id", "predicted id"],
            text=[table["true id"], table["predicted id"]],
            texttemplate="%{text}",
            colorscale=[[0.0, "#f4a3a3"], [0.45, "#eeeeee"], [0.55, "#eeeeee"], [1.0, "#a6dba0"]],
            zmin=-1.0,
            zmax=1.0,
            showscale=False,
            xgap=1,
            ygap=2,
            hovertemplate="%{y} at %{x}: %{text}<extra></extra>",
        )
    )
    if wrong is not None and wrong < n:
        figure.add_shape(type="rect", x0=wrong - 0.5, x1=wrong + 0.5, y0=-0.5, y1=1.5, line={"color": "red", "width": 3}, name="first-wrong")
        figure.add_annotation(x=wrong, y=-0.75, text="first wrong id", showarrow=False, font={"color": "red"})
    figure.update_layout(
        height=220,
        xaxis={"type": "category", "tickangle": -60},
        yaxis={"type": "category", "autorange": "reversed"},
        margin={"l": 10, "r": 10, "t": 40, "b": 60},
    )
    return figure
