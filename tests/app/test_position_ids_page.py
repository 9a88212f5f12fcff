"""Position IDs page: ids per scheme on one example (Cho et al.'s worked addition example), coupled links,
scheme switching, typed-example errors, and predicted-vs-true ids of a predictive coupling run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from lengen_core.charts.inspection import predicted_ids_figure
from lengen_core.config import TaskConfig
from lengen_core.data import ExampleSource
from lengen_core.inspection import first_mismatch, predicted_ids_table, typed_example
from lengen_core.vocab import VOCAB
from pages.common import get_store
from tests.conftest import assert_clean, drawn_figure, rendered

POSITION_IDS = "pages/position_ids.py"

# Cho et al. 2024's worked example (also in lengen_core/tasks/arithmetic.py): 653 + 49, L = 3, D = 4.
PROMPT = "<bos> 6 5 3 + 0 4 9 ="
ANSWER = "2 0 7 0"
COUPLED = [0, 4, 3, 2, 1, 4, 3, 2, 1, 2, 3, 4, 5, 0]  # the position-coupling code's ids at 384431c
SIGNIFICANCE = [0, 3, 2, 1, 0, 3, 2, 1, 0, 1, 2, 3, 4, 0]


def widget(elements: Any, label: str) -> Any:
    matches = [element for element in elements if element.label == label]
    assert matches, f"no widget {label!r}"
    return matches[0]


def id_table(app: Any) -> Any:
    tables = [frame for frame in app.dataframe if "token" in frame.value.columns]
    return tables[0].value


def type_worked_example(app: Any) -> Any:
    widget(app.radio, "Example").set_value("Type your own").run()
    widget(app.text_input, "Prompt tokens").set_value(PROMPT).run()
    widget(app.text_input, "Expected answer (optional)").set_value(ANSWER).run()
    return app


def test_typed_example_takes_the_annotations_of_its_task() -> None:
    source = ExampleSource(TaskConfig(name="addition", train_length_min=1, train_length_max=1))
    typed = typed_example(source, PROMPT, ANSWER)
    assert typed.truth_known
    assert list(typed.example.coupled_ids) == COUPLED
    assert list(typed.example.digit_significance) == SIGNIFICANCE


def test_coupled_ids_of_the_worked_example(open_app: Any) -> None:
    app = open_app(POSITION_IDS)
    assert_clean(app)
    assert app.selectbox[0].value == "addition"
    type_worked_example(app)
    assert_clean(app)
    table = id_table(app)
    assert table["token"].tolist() == PROMPT.split() + ANSWER.split() + ["<eos>"]
    assert table["coupled (evaluation)"].tolist() == COUPLED
    assert table["abacus (evaluation)"].tolist() == SIGNIFICANCE
    assert table["index"].tolist() == list(range(14))
    # training view: one random offset added to every coupled token, 0 stays 0, ids stay in the table
    shifted = np.array(table["coupled (training)"].tolist())
    offset = shifted[1] - COUPLED[1]
    assert shifted.tolist() == [value + offset if value else 0 for value in COUPLED]
    assert shifted.max() < 64
    # the heatmap shows the same rows
    figure = drawn_figure(app, "position_ids.chart")
    rows = list(figure.data[0].y)
    assert np.asarray(figure.data[0].z)[rows.index("coupled (evaluation)")].tolist() == COUPLED
    # coupled tokens are linked: one arc per shared id, joining exactly the tokens with that id
    links = drawn_figure(app, "position_ids.links")
    arcs = {trace.name: list(trace.customdata) for trace in links.data[1:]}
    assert arcs == {"id 1": [4, 8], "id 2": [3, 7, 9], "id 3": [2, 6, 10], "id 4": [1, 5, 11]}  # id 5 (the carry digit) is alone


def test_switching_schemes_and_views_on_the_same_example(open_app: Any) -> None:
    app = type_worked_example(open_app(POSITION_IDS))
    app.multiselect[0].set_value(["index", "randomized"]).run()
    widget(app.radio, "View").set_value("Evaluation only").run()
    assert_clean(app)
    table = id_table(app)
    assert list(table.columns) == ["token", "index", "randomized"]
    randomized = table["randomized"].tolist()
    assert randomized == sorted(randomized) and len(set(randomized)) == 14 and max(randomized) < 64
    before = randomized
    widget(app.button, "Draw again").click().run()
    assert id_table(app)["randomized"].tolist() != before  # a new random subset, same example
    assert id_table(app)["token"].tolist()[1:4] == ["6", "5", "3"]


def test_invalid_typed_example_shows_an_error(open_app: Any) -> None:
    app = open_app(POSITION_IDS)
    widget(app.radio, "Example").set_value("Type your own").run()
    widget(app.text_input, "Prompt tokens").set_value("<bos> 6 5 three + 0 4 9 =").run()
    assert not app.exception
    assert len(app.error) == 1 and "unknown token 'three' at position 3" in rendered(app.error[0])
    widget(app.text_input, "Prompt tokens").set_value("<bos> 6 5 3 + 0 4 9").run()  # no '='
    assert not app.exception
    assert "not a 'addition' example" in rendered(app.error[0])


def test_too_small_max_position_is_refused(open_app: Any) -> None:
    app = type_worked_example(open_app(POSITION_IDS))
    widget(app.number_input, "max_position").set_value(8).run()
    assert not app.exception
    assert "14 tokens but max_position is 8" in rendered(app.error[0])


def test_predicted_ids_table_and_first_mismatch() -> None:
    assert first_mismatch([5, 4, 3, 0], [5, 4, 3, 0]) is None
    assert first_mismatch([5, 4, 3, 0], [5, 4, 9, 0]) == 2
    assert first_mismatch([5, 4, 3, 0], [5, 4]) == 2
    s1, s2 = VOCAB.id("s1"), VOCAB.id("s2")
    table = predicted_ids_table([s1, s2], [5, 4, 3], [5, 7, 3])
    assert table == {"answer token": ["s1", "s2", "<eos>"], "true id": ["5", "4", "3"], "predicted id": ["5", "7", "3"], "match": ["✓", "✗", "✓"]}
    figure = predicted_ids_figure([s1, s2], [5, 4, 3], [5, 7, 3])
    assert [shape.name for shape in figure.layout.shapes] == ["first-wrong"]
    assert figure.layout.shapes[0].x0 == pytest.approx(0.5)


def test_predictive_run_shows_predicted_versus_true_ids(open_app: Any, trained_run: Any) -> None:
    run_id = trained_run(**{"positions.scheme": "predictive_coupled"})
    app = open_app(POSITION_IDS)
    assert_clean(app)
    picker = widget(app.selectbox, "Predictive coupling run")
    if picker.value != run_id:
        picker.set_value(run_id).run()
    widget(app.number_input, "Test length").set_value(5).run()
    assert_clean(app)
    table = [frame.value for frame in app.dataframe if "predicted id" in frame.value.columns][0]
    # reverse of 5 symbols: the coupling rule gives the answer ids 5 4 3 2 1 and 0 for <eos>
    true_ids = [value for value in table["true id"].tolist() if value != ""]
    assert true_ids == ["5", "4", "3", "2", "1", "0"]
    wrong = first_mismatch(true_ids, [value for value in table["predicted id"].tolist() if value != ""])
    messages = [element.value for element in [*app.success, *app.warning]]
    if wrong is None:
        assert any("Every predicted id matches" in message for message in messages)
    else:
        assert any(f"First wrong id at answer token #{wrong}" in message for message in messages)
    figure = drawn_figure(app, "position_ids.predicted")
    assert list(figure.data[0].y) == ["true id", "predicted id"]
    # the length goes only as far as the run's id table: a longer one could only end in an error
    table_end = get_store().get_run(run_id).run_config.positions.max_position - 2  # reverse of n symbols: ids up to n + 1
    assert widget(app.number_input, "Test length").max == table_end


def test_answer_dependent_coupling_is_marked_as_predicted(open_app: Any) -> None:
    """sort's answer ids say which input each answer token copies: at test time they are the model's to predict."""
    app = open_app(POSITION_IDS)
    app.selectbox[0].set_value("sort").run()
    assert_clean(app)
    table = id_table(app)
    assert "coupled (evaluation: answer ids predicted)" in table.columns and "coupled (evaluation)" not in table.columns
    assert any("depend on the answer itself" in rendered(element) for element in app.caption)
    app.selectbox[0].set_value("reverse").run()
    assert "coupled (evaluation)" in id_table(app).columns
    assert not any("depend on the answer itself" in rendered(element) for element in app.caption)


def test_the_bundled_sort_run_shows_ids_that_depend_on_the_answer(open_app: Any) -> None:
    """The predictive-coupling sort demo (lesson 'predictive_rule', its runs outside the claim): each answer token's true id is the input
    position of the symbol it copies, a permutation of 1..n, which the model has to predict."""
    app = open_app(POSITION_IDS)
    picker = widget(app.selectbox, "Predictive coupling run")
    [index] = [i for i, option in enumerate(picker.options) if "sort_predictive" in option]
    picker.select_index(index).run()
    widget(app.number_input, "Test length").set_value(8).run()
    assert_clean(app)
    table = [frame.value for frame in app.dataframe if "predicted id" in frame.value.columns][0]
    true_ids = [int(value) for value in table["true id"].tolist() if value != ""]
    assert sorted(true_ids[:-1]) == list(range(1, 9)) and true_ids[-1] == 0
