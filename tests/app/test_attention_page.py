"""Attention page: run + example pickers, heatmaps shaped layers x heads x tokens, typed-example errors, HSA drawing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lengen_core.charts.inspection import attention_grid, attention_heatmap, hsa_selection_figure
from lengen_core.data import ExampleSource
from lengen_core.inspection import generated_example, hsa_query_table, hsa_selection_matrix, token_labels
from lengen_core.vocab import VOCAB
from tests.conftest import assert_clean, drawn_figure, rendered

ATTENTION = "pages/attention.py"


def radio(app: Any, label: str) -> Any:
    matches = [element for element in app.radio if element.label == label]
    assert matches, f"no radio {label!r}"
    return matches[0]


def number(app: Any, label: str) -> Any:
    matches = [element for element in app.number_input if element.label == label]
    assert matches, f"no number input {label!r}"
    return matches[0]


def text(app: Any, label: str) -> Any:
    matches = [element for element in app.text_input if element.label == label]
    assert matches, f"no text input {label!r}"
    return matches[0]


def heatmaps(figure: Any) -> list[Any]:
    return [trace for trace in figure.data if trace.type == "heatmap"]


# --------------------------------------------------------------------------- figure builders


def test_attention_grid_has_one_heatmap_per_layer_and_head() -> None:
    rng = np.random.default_rng(0)
    maps = [rng.random((3, 5, 5)), rng.random((3, 5, 5))]  # 2 layers x 3 heads, T = 5
    labels = token_labels([1, 20, 21, 20, 2])
    figure = attention_grid(maps, labels)
    traces = heatmaps(figure)
    assert len(traces) == 6
    assert all(np.asarray(trace.z).shape == (5, 5) for trace in traces)
    np.testing.assert_allclose(np.asarray(traces[4].z), maps[1][1])  # row-major: layer 1, head 1
    assert list(traces[0].x) == labels and len(set(labels)) == 5  # repeated tokens stay distinct labels
    assert [annotation.text for annotation in figure.layout.annotations][:3] == ["layer 0 · head 0", "layer 0 · head 1", "layer 0 · head 2"]
    # token labels only under the bottom row (keys) and left of the first column (queries): none over a neighbour
    x_labelled = sorted(name for name in figure.layout if name.startswith("xaxis") and figure.layout[name].showticklabels)
    y_labelled = sorted(name for name in figure.layout if name.startswith("yaxis") and figure.layout[name].showticklabels)
    assert x_labelled == ["xaxis4", "xaxis5", "xaxis6"] and y_labelled == ["yaxis", "yaxis4"]


def test_attention_heatmap_checks_its_shape() -> None:
    labels = token_labels([1, 20, 21])
    figure = attention_heatmap(np.eye(3), labels)
    assert np.asarray(figure.data[0].z).shape == (3, 3)
    with pytest.raises(ValueError, match="3 labels"):
        attention_heatmap(np.eye(4), labels)


def test_hsa_selection_is_drawn_over_the_tokens() -> None:
    """Chunk size 2, T = 7: chunk c covers tokens 2c, 2c+1; -1 = empty slot."""
    chunk_size, length = 2, 7
    indices = np.full((length, 1, 2), -1)
    weights = np.zeros((length, 1, 2))
    indices[4, 0] = [1, 0]  # token 4 sees chunks 0, 1
    weights[4, 0] = [0.7, 0.2]
    indices[6, 0] = [2, 0]
    weights[6, 0] = [0.5, 0.5]
    matrix = hsa_selection_matrix(indices[:, 0], weights[:, 0], chunk_size)
    expected = np.zeros((length, length))
    expected[4, 0:2], expected[4, 2:4] = 0.2, 0.7
    expected[6, 0:2], expected[6, 4:6] = 0.5, 0.5
    np.testing.assert_allclose(matrix, expected)
    labels = token_labels([1, 20, 21, 22, 23, 24, 2])
    figure = hsa_selection_figure(indices, weights, chunk_size, labels, head=0)
    np.testing.assert_allclose(np.asarray(figure.data[0].z), expected)
    assert list(figure.data[0].x) == labels
    assert len(figure.layout.shapes) == 3  # chunk boundaries after tokens 1, 3, 5
    rows = hsa_query_table(indices, weights, chunk_size, query=4)
    assert rows == [{"chunk": 1, "tokens": "2..3", "weight": 0.7}, {"chunk": 0, "tokens": "0..1", "weight": 0.2}]
    with pytest.raises(ValueError, match="head 1 out of range"):
        hsa_selection_figure(indices, weights, chunk_size, labels, head=1)


# --------------------------------------------------------------------------- the page


def test_no_runs_explains_what_to_do(open_app: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("LENGEN_DEMO_DIR", str(tmp_path / "no-demo"))  # nothing bundled
    app = open_app(ATTENTION)
    assert_clean(app)
    assert any("No finished run with a checkpoint" in rendered(element) for element in app.info)


def test_heatmaps_match_layers_heads_and_length(open_app: Any, trained_run: Any, tiny_config: Any) -> None:
    run_id = trained_run(**{"model.n_layers": 2})  # tiny reverse model: 2 layers x 2 heads, trained on lengths 1-4
    app = open_app(ATTENTION, query_params={"run": run_id})
    assert_clean(app)
    assert app.selectbox[0].value == run_id
    example = generated_example(ExampleSource(tiny_config.task), 4)  # default length: the longest trained
    (trace,) = heatmaps(drawn_figure(app, "attention.chart"))
    tokens = len(app.dataframe[0].value)  # the decoded sequence: prompt + the model's answer (+ <eos>)
    assert len(example.prompt) < tokens <= len(example.tokens)
    assert np.asarray(trace.z).shape == (tokens, tokens)
    assert list(trace.x)[: len(example.prompt)] == token_labels(example.prompt)
    np.testing.assert_allclose(np.asarray(trace.z).sum(axis=1), 1.0, atol=1e-4)  # rows are distributions
    assert np.triu(np.asarray(trace.z), k=1).max() == 0  # causal
    assert any("Truth" in element.value for element in app.markdown)

    radio(app, "View").set_value("All layers × heads").run()
    assert_clean(app)
    traces = heatmaps(drawn_figure(app, "attention.chart"))
    assert len(traces) == 2 * 2
    assert all(np.asarray(t.z).shape == (tokens, tokens) for t in traces)

    number(app, "Length").set_value(6).run()
    assert_clean(app)
    longer = generated_example(ExampleSource(tiny_config.task), 6)
    traces = heatmaps(drawn_figure(app, "attention.chart"))
    tokens = len(app.dataframe[0].value)
    assert len(longer.prompt) < tokens <= len(longer.tokens)
    assert len(traces) == 4 and all(np.asarray(t.z).shape == (tokens, tokens) for t in traces)
    assert list(traces[0].x)[: len(longer.prompt)] == token_labels(longer.prompt)

    radio(app, "View").set_value("One head").run()
    app.selectbox[1].set_value(1).run()  # layer 1
    app.selectbox[2].set_value(1).run()  # head 1
    assert_clean(app)
    assert drawn_figure(app, "attention.chart").layout.title.text == "layer 1, head 1"


def test_a_checkpoint_that_is_not_the_runs_own_is_refused(open_app: Any, trained_run: Any) -> None:
    """The store's config is the run's; a checkpoint holding another config (a file replaced) is not shown as this run."""
    import shutil

    from pages.common import get_store

    run_id, other_id = trained_run(seed=0), trained_run(seed=0, **{"model.n_layers": 2})
    store = get_store()
    shutil.copyfile(store.checkpoint_path(other_id), store.checkpoint_path(run_id))
    app = open_app(ATTENTION, query_params={"run": run_id})
    assert not app.exception
    [error] = [rendered(element) for element in app.error]
    assert f"but run {run_id} has config {store.get_run(run_id).run_config.config_id}" in error
    assert not [element for element in app.get("plotly_chart")]  # nothing is drawn for it


def test_typed_examples_are_validated_with_clear_errors(open_app: Any, trained_run: Any) -> None:
    run_id = trained_run()
    app = open_app(ATTENTION, query_params={"run": run_id})
    radio(app, "Example").set_value("Type your own").run()
    assert_clean(app)
    assert text(app, "Prompt tokens").value.startswith("<bos> s")  # pre-filled with the generated example

    text(app, "Prompt tokens").set_value("<bos> s1 zz s3 >").run()
    assert not app.exception
    assert len(app.error) == 1 and "unknown token 'zz' at position 2" in rendered(app.error[0])
    assert not app.get("plotly_chart")

    text(app, "Prompt tokens").set_value("<bos> s1 1 s3 >").run()
    assert not app.exception
    assert "token 2 is '1' but the task expects a symbol there" in rendered(app.error[0])

    text(app, "Prompt tokens").set_value("s3 s1 s4 >").run()  # <bos> is added
    text(app, "Expected answer (optional)").set_value("s4 s1").run()
    assert not app.exception
    assert "the answer does not fit the prompt: it has 2 tokens" in rendered(app.error[0])

    text(app, "Expected answer (optional)").set_value("s4 s1 s3").run()
    assert_clean(app)
    (trace,) = heatmaps(drawn_figure(app, "attention.chart"))
    assert list(trace.x)[:5] == ["0:<bos>", "1:s3", "2:s1", "3:s4", "4:>"]
    assert any("`s4 s1 s3`" in element.value for element in app.markdown)  # the truth as typed

    text(app, "Expected answer (optional)").set_value("").run()  # no truth: the model still answers
    assert_clean(app)
    assert any("no truth to compare" in element.value for element in app.markdown)


def test_length_above_the_models_position_limit_is_refused(open_app: Any, trained_run: Any) -> None:
    run_id = trained_run()  # coupled ids with positions.max_position = 64
    app = open_app(ATTENTION, query_params={"run": run_id})
    number(app, "Length").set_value(70).run()
    assert not app.exception
    assert len(app.error) == 1
    message = rendered(app.error[0])
    assert "position id 71" in message and "positions.max_position = 64" in message
    assert not app.get("plotly_chart")


def test_hsa_run_draws_chunk_selections(open_app: Any, trained_run: Any) -> None:
    run_id = trained_run(**{"model.n_layers": 2, "model.attention": "hsa", "model.hsa": {"chunk_size": 2, "top_k": 2, "window": 2}, "positions.scheme": "rope"})
    app = open_app(ATTENTION, query_params={"run": run_id})
    assert_clean(app)
    figure = drawn_figure(app, "attention.hsa_chart")
    (ids,) = [frame.value for frame in app.dataframe if "position id" in frame.value.columns]
    tokens = len(ids)  # the decoded sequence
    matrix = np.asarray(figure.data[0].z)
    assert matrix.shape == (tokens, tokens)
    assert np.all(matrix[:2] == 0)  # tokens 0 and 1 have no complete past chunk of 2 tokens
    assert matrix[2:].sum() > 0
    # every query's weight sits on complete past chunks only; stick-breaking weights are at most 1
    for query in range(tokens):
        visible_end = (query // 2) * 2
        assert np.all(matrix[query, visible_end:] == 0)
    assert matrix.max() <= 1.0 + 1e-6


def test_a_member_prefix_run_is_judged_on_every_prefix_label_as_its_sweep_is(open_app: Any, trained_run: Any) -> None:
    """task.supervision = member_prefixes: the verdict needs the label after every symbol, generated or typed."""
    run_id = trained_run(**{"task.name": "dyck_1", "positions.scheme": "nope", "task.supervision": "member_prefixes"})
    app = open_app(ATTENTION, query_params={"run": run_id})
    assert_clean(app)
    [caption] = [rendered(element) for element in app.caption if "after every symbol" in rendered(element)]
    assert "every prefix's label is right" in caption or "the label is wrong for" in caption

    radio(app, "Example").set_value("Type your own").run()
    text(app, "Prompt tokens").set_value("<bos> ( ) ( =").run()
    text(app, "Expected answer (optional)").set_value("<no>").run()
    assert_clean(app)
    [caption] = [rendered(element) for element in app.caption if "after every symbol" in rendered(element)]
    from lengen_core.inspection import inspect_example, typed_example
    from lengen_core.training import load_checkpoint
    from pages.common import get_store

    model, config, _ = load_checkpoint(get_store().checkpoint_path(run_id))
    source = ExampleSource(config.task)
    typed = typed_example(source, "<bos> ( ) ( =", "<no>").example
    assert typed.prefix_targets is not None  # the typed string's own labels: "(" no, "()" yes, "()(" no
    assert [VOCAB.token(label) for label in typed.prefix_targets[1:4]] == ["<no>", "<yes>", "<no>"]
    expected = inspect_example(model, typed, source.task, seed=config.eval.seed, score_prefixes=True)
    assert expected.wrong_prefixes is not None
    if expected.wrong_prefixes:
        assert f"the label is wrong for {len(expected.wrong_prefixes)} prefixes" in caption
        assert not any("correct ✓" in element.value for element in app.markdown)
    else:
        assert "every prefix's label is right" in caption
