"""Five examples of the task being set up, drawn as its fields change (the Train page), and the answer language's
summary for a task the user writes (``expression``, :mod:`lengen_core.tasks.expression_task`)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from lengen_core.config import RunConfig
from lengen_core.data import example_previews
from lengen_core.errors import ConfigError, LenGenError
from lengen_core.tasks.expression_language import FUNCTION_NAMES
from lengen_core.tasks.plugins import PLUGIN_TASKS
from pages.common import show_config_error
from pages.escaping import escape_markdown

LANGUAGE_HELP = (
    "Write the **answer** as an expression of the input `x`: `x[::-1]`, `sorted(x)`, `count(x, 'a') % 10`, "
    "`[a for a in x if a != 'b']`, `cumsum(x) % 2` (with digit symbols), `majority(x)`. Numbers, symbols in quotes, "
    "`+ - * // % **`, comparisons, `and or not`, `a if c else b`, indexing, slicing, comprehensions and "
    + ", ".join(f"`{name}`" for name in FUNCTION_NAMES)
    + ". The **coupling** rule (optional) names the input position answer token `i` copies: `len(x) - 1 - i` for "
    "reversal. The language, its limits and plug-in tasks: docs/tasks.md."
)


def show_task_examples(slot: DeltaGenerator, config: RunConfig | None, errors: Sequence[LenGenError]) -> list[LenGenError]:
    """Draw into ``slot`` the task's five examples, or the task's own errors (a custom answer's names its column);
    returns the errors left for the form to show."""
    task_errors = [error for error in errors if isinstance(error, ConfigError) and error.field.startswith("task.options")]
    with slot:
        if config is not None and config.task.name == "expression":
            st.caption(LANGUAGE_HELP)
        for error in task_errors:
            show_config_error(error)
        if config is not None and not task_errors:
            yours = config.task.name == "expression" or config.task.name in PLUGIN_TASKS  # open for a task the user brought
            with st.expander("Five examples of this task", expanded=yours):
                try:
                    rows = example_previews(config.task)
                except LenGenError as error:
                    st.error(escape_markdown(error), icon=":material/error:")
                else:
                    st.table(pd.DataFrame(rows).set_index("length"))  # a plain table: five rows, read as text
    return [error for error in errors if error not in task_errors]


def custom_task_options(key: str) -> dict[str, str]:
    """Widgets for a custom task's answer, alphabet and coupling rule (pages that draw a task without a run)."""
    answer_column, symbols_column, coupling_column = st.columns([3, 1, 2])
    return {
        "answer": answer_column.text_input("Answer (expression of x)", value="x[::-1]", key=f"{key}.answer"),
        "symbols": symbols_column.text_input("Symbols", value="abc", key=f"{key}.symbols"),
        "coupling": coupling_column.text_input("Coupling rule (answer token i copies)", value="len(x) - 1 - i", key=f"{key}.coupling"),
    }
