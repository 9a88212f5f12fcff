"""Your own task in a real browser (issue 24): typed on the Train page, five examples drawn, a bad answer named by its
column, then trained to its length sweep (the same steps as bench/custom_tasks_browser.py, at the tiny config)."""

from __future__ import annotations

from typing import Any

import pytest

from bench.custom_tasks_browser import example_rows, open_train_page, train_and_wait, type_answer
from tests.browser.conftest import error_texts
from tests.conftest import TINY_CONFIG_CHANGES

pytestmark = pytest.mark.browser


def test_a_task_typed_as_an_expression_trains_from_the_browser(browser: Any, server_factory: Any, save_screenshot: Any) -> None:
    server = server_factory()
    page = browser.new_context(viewport={"width": 1400, "height": 2200}).new_page()
    tiny = {key: value for key, value in TINY_CONFIG_CHANGES.items() if not key.startswith("task.name")}
    options = {"name": "drop_b", "answer": "x", "symbols": "abc"}
    open_train_page(page, server.url, {**tiny, "task.name": "expression", "task.options": options, "positions.scheme": "nope", "eval.lengths": [2, 4, 8]})
    type_answer(page, "sorted(x).pop()")
    errors = error_texts(page)
    assert any("task.options.answer" in text and "column 10: attribute access (.pop)" in text for text in errors), errors
    type_answer(page, "[a for a in x if a != 'b']")
    assert error_texts(page) == []
    assert example_rows(page) == 5
    cells = page.locator('[data-testid="stTable"] tbody tr').first.locator("td").all_inner_texts()
    assert "b" not in cells[-1].split(), cells  # the answer column drops the b's
    breakdown = train_and_wait(page, timeout_s=120)
    assert breakdown, "the finished run states its breakdown"
    assert error_texts(page) == []
    save_screenshot(page, "custom-task-browser-test")
