"""Your own task on the Train page (issue 24): five examples as it is typed, a bad answer named by its column,
and a link that carries the expression."""

from __future__ import annotations

from typing import Any

from tests.app.test_train_page import TRAIN, assert_no_exception, errors, tiny_params
from tests.conftest import rendered


def custom_params(answer: str, **extra: str) -> dict[str, str]:
    return tiny_params(**{"task.name": "expression", "positions.scheme": "nope", "task.options.answer": answer, "task.options.symbols": "abc", **extra})


def test_a_custom_task_shows_five_examples_of_its_answer(open_app: Any) -> None:
    app = open_app(TRAIN, query_params=custom_params("count(x, 'a') % 10"))
    assert_no_exception(app)
    assert not errors(app)
    [table] = app.table
    rows = table.value
    assert len(rows) == 5 and list(rows.columns) == ["input", "answer"] and rows.index.name == "length"
    for _, row in rows.iterrows():  # the answer is the expression's, on the input shown
        symbols = row["input"].split()[:-1]
        assert row["answer"] == str(symbols.count("a") % 10)
    assert any("expression of the input" in rendered(element) for element in app.caption)
    assert app.session_state["train:task.options.answer"] == "count(x, 'a') % 10"


def test_a_bad_answer_is_named_with_its_column_and_nothing_can_start(open_app: Any) -> None:
    app = open_app(TRAIN, query_params=custom_params("sorted(x)"))
    [answer] = [element for element in app.text_input if element.label == "Answer"]
    answer.set_value("sorted(x).pop()").run()
    assert_no_exception(app)
    [message] = [text for text in errors(app) if "task.options.answer" in text]
    assert "column 10: attribute access (.pop) is not allowed" in message
    assert not app.table
    start = [element for element in app.button if element.label == "Start training"][0]
    start.click().run()
    assert any("Not started" in text for text in errors(app))


def test_a_custom_run_is_shown_by_every_view(open_app: Any, trained_run: Any, app_db: Any) -> None:
    """Length sweep, Attention, Position IDs, Runs and Compare on a run of a task the user wrote."""
    from tests.conftest import assert_clean, drawn_figure

    options = {"name": "my_reverse", "answer": "x[::-1]", "symbols": "abcd", "coupling": "len(x) - 1 - i"}
    run_id = trained_run(**{"task.name": "expression", "task.options": options})
    for page, params in (
        ("pages/length_sweep.py", {"runs": run_id}),
        ("pages/attention.py", {"run": run_id}),
        ("pages/position_ids.py", {}),
        ("pages/runs.py", {"task": "expression:my_reverse"}),
        ("pages/compare.py", {}),
    ):
        app = open_app(page, query_params=params)
        assert_clean(app)
        texts = " ".join(rendered(element) for kind in (app.markdown, app.caption, app.info) for element in kind)
        tables = " ".join(str(frame.value.to_dict()) for frame in app.dataframe)
        if page.endswith("compare.py"):
            sweep = next(element for element in app.selectbox if element.label == "Sweep")
            sweep.set_value("(all runs)").run()
            assert_clean(app)
            assert "expression:my_reverse" in str(drawn_figure(app, "compare_page.grid").to_dict()), "a custom task is a row"
        if page.endswith("runs.py"):
            assert "expression:my_reverse" in texts + tables, page
        if page.endswith("attention.py"):
            assert app.selectbox[0].value == run_id


def test_picking_a_task_the_scheme_cannot_serve_moves_the_scheme_and_says_so(open_app: Any) -> None:
    """The Train page starts at coupled reverse; a custom answer has no coupling rule and sort's coupled ids need
    the answer, so each pick moves the scheme (rope, predictive_coupled) instead of showing an error."""
    app = open_app(TRAIN, query_params=tiny_params(**{"positions.scheme": "coupled"}))
    task = next(element for element in app.selectbox if element.label == "Task")
    for name, moved_to in (("expression", "rope"), ("sort", "predictive_coupled")):
        app.session_state["train:positions.scheme"] = "coupled"
        task.set_value(name).run()
        assert_no_exception(app)
        assert app.session_state["train:positions.scheme"] == moved_to
        assert not [text for text in errors(app) if "positions.scheme" in text]
        assert any(f"Position scheme set to {moved_to}" in rendered(element) for element in app.info)
        task = next(element for element in app.selectbox if element.label == "Task")


def test_a_field_the_task_would_ignore_is_left_out(open_app: Any) -> None:
    """Symbols are read only when no alphabet size is set; MQAR's query length only in its repeated format."""
    app = open_app(TRAIN, query_params=custom_params("x[::-1]"))
    assert [element for element in app.text_input if element.label == "Symbols"]
    [size] = [element for element in app.number_input if element.label == "Alphabet size"]
    size.set_value(4).run()
    assert_no_exception(app)
    assert not [element for element in app.text_input if element.label == "Symbols"]
    assert app.table and all(set(row.split()[:-1]) <= {"s0", "s1", "s2", "s3"} for row in app.table[0].value["input"])
    app = open_app(TRAIN, query_params=tiny_params(**{"task.name": "mqar", "positions.scheme": "rope", "task.train_length_min": 2}))
    assert not errors(app)
    labels = {element.label for element in app.number_input}
    assert "Query length" in labels and "Queries" not in labels
    [fmt] = [element for element in app.selectbox if element.label == "Format"]
    fmt.set_value("pairs").run()
    assert_no_exception(app)
    labels = {element.label for element in app.number_input}
    assert "Queries" in labels and "Query length" not in labels
    assert app.session_state["train:task.options.format"] == "pairs"
