"""A task's fields on the Train page: the task, its options as widgets (only those it reads), its supervision and
lengths, five examples of it drawn as they change, and the answer language's summary for a task the user writes
(``expression``, :mod:`lengen_core.tasks.expression_task`), whose fields Position IDs also draws where no run gives
them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from lengen_core.config import SUPERVISION_MODES, RunConfig
from lengen_core.config_checks import fitting_scheme
from lengen_core.data import example_previews
from lengen_core.errors import ConfigError, LenGenError
from lengen_core.tasks.base import Task, build_task
from lengen_core.tasks.expression_language import FUNCTION_NAMES
from lengen_core.tasks.plugins import PLUGIN_TASKS
from pages.binding import ConfigForm
from pages.common import show_config_error, task_classes
from pages.escaping import escape_markdown

SUPERVISION_LABELS = {  # how the Supervision select names task.supervision's modes
    "answer": "the answer only",
    "every_prefix": "every prefix's label too",
    "member_prefixes": "Huang et al.'s format: prefixes of members, every label tested",
}
LANGUAGE_HELP = (
    "Write the **answer** as an expression of the input `x`: `x[::-1]`, `sorted(x)`, `count(x, 'a') % 10`, "
    "`[a for a in x if a != 'b']`, `cumsum(x) % 2` (with digit symbols), `majority(x)`. Numbers, symbols in quotes, "
    "`+ - * // % **`, comparisons, `and or not`, `a if c else b`, indexing, slicing, comprehensions and "
    + ", ".join(f"`{name}`" for name in FUNCTION_NAMES)
    + ". The **coupling** rule (optional) names the input position answer token `i` copies: `len(x) - 1 - i` for "
    "reversal. The language, its limits and plug-in tasks: docs/tasks.md."
)


def option_label(option: str) -> str:
    """A task option's widget label: ``alphabet_size`` -> ``Alphabet size`` (the code name stays in the URL)."""
    return option.replace("_", " ").capitalize()


def options_now(form: ConfigForm, task_class: type[Task], newly_picked: bool) -> dict[str, Any]:
    """The task's options as they stand this rerun: its defaults when newly picked, else what the widgets hold."""
    now = {}
    for option, spec in task_class.option_specs.items():
        value = None if newly_picked else form.current(f"task.options.{option}")
        now[option] = spec.default if value is None else value
    return now


def render_task_options(form: ConfigForm, task_class: type[Task]) -> None:
    """A widget per option of ``task_class``, three to a row; a newly picked task starts at its own defaults."""
    if not task_class.option_specs:
        return
    base = form.config
    newly_picked = task_class.name != base.task.name
    current = options_now(form, task_class, newly_picked)
    shown_specs = []
    for option, spec in task_class.option_specs.items():
        if spec.is_used(current):
            shown_specs.append((option, spec))
        else:  # a field the task would ignore is left out, its value kept
            form.values[f"task.options.{option}"] = current[option]
    if not shown_specs:
        return
    option_columns = st.columns(min(3, len(shown_specs)))
    for index, (option, spec) in enumerate(shown_specs):
        dotted = f"task.options.{option}"
        fallback = spec.default if newly_picked else base.task.options.get(option, spec.default)
        if newly_picked:  # a newly picked task starts at its own defaults (not the last task's same-named option)
            st.session_state[form.prefix + dotted] = fallback
        label = option_label(option)
        with option_columns[index % len(option_columns)]:
            if spec.choices is not None:
                form.select(dotted, label, list(spec.choices), fallback=fallback, help=spec.help or None)
            elif isinstance(spec.default, bool):
                form.checkbox(dotted, label, fallback=bool(fallback), help=spec.help or None)
            elif isinstance(spec.default, int):
                form.key(dotted, int(fallback))
                form.number(dotted, label, step=1, help=spec.help or None)
            else:
                form.text(dotted, label, fallback=str(fallback), help=spec.help or None)


def move_scheme_to_fit(form: ConfigForm, task_name: str) -> None:
    """A newly picked task (at its default options) that cannot take the scheme shown moves to one it can, and says so."""
    scheme = form.current("positions.scheme")
    fitting = fitting_scheme(build_task(task_name), scheme, form.current("positions.base_encoding"))
    if fitting != scheme:
        form.preset("positions.scheme", fitting)
        st.info(f"Position scheme set to {fitting}: task {task_name} cannot take {scheme} (see the scheme's help).")


def render_task_fields(form: ConfigForm) -> None:
    """The Train page's task section: the task, its options, its supervision, its training lengths; a newly picked
    task gets lengths in its range and a scheme it can take."""
    base = form.config
    tasks = task_classes()
    st.subheader("Task")
    task_name = form.select(
        "task.name",
        "Task",
        list(tasks),
        format_func=lambda name: f"{name}: {tasks[name].description}" if name in tasks and tasks[name].description else name,
        help="What the model must learn. Lengths are the task's size knob (digits, symbols, ...).",
    )
    task_class = tasks.get(task_name)
    if task_class is not None:
        render_task_options(form, task_class)
    if task_class is not None and task_class.supports_prefix_supervision:
        form.select(
            "task.supervision",
            "Supervision",
            list(SUPERVISION_MODES),
            format_func=lambda mode: SUPERVISION_LABELS.get(mode, mode),
            help="every_prefix also trains the output at each symbol to say whether the string so far is in the language: "
            "the per-position signal of Huang et al.'s formal-language runs; the test is the final answer. member_prefixes is "
            "their format itself: the strings are prefixes of members only (no near misses), and a test example counts as "
            "right only when the label after every symbol and the answer are.",
        )
    if task_class is not None:
        st.caption(f"{task_class.name} supports lengths {task_class.min_length}..{task_class.max_length}.")
        if task_name != base.task.name:  # a newly picked task: move the lengths into its range (passkey starts at 16)
            for dotted in ("task.train_length_min", "task.train_length_max"):
                form.clamp(dotted, task_class.min_length, task_class.max_length)
            move_scheme_to_fit(form, task_name)
    low, high = st.columns(2)
    with low:
        form.number("task.train_length_min", "Train lengths from", step=1)
    with high:
        form.number("task.train_length_max", "Train lengths to", step=1)


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
