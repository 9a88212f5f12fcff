"""The Train page's "where from" widgets: tasks trained beside the main one (a recipe or the mixture's
text form) and the finished run a fine-tuning run starts from."""

from __future__ import annotations

import streamlit as st

from lengen_core.errors import ConfigError, StoreError
from lengen_core.params import decode_mixture, encode_mixture
from lengen_core.recipes import RECIPES, Recipe, matching_recipe
from pages.binding import ConfigForm
from pages.common import get_store
from pages.escaping import escape_markdown
from pages.inspection import checkpoint_runs, run_label

RECIPE_KEY = "train_page.recipe"  # the recipe picker (it fills the task widgets, then goes back to none)
NO_RECIPE = "(pick one)"


def apply_recipe(form: ConfigForm) -> None:
    """The recipe picker's callback: its main task and partners go into the widgets (at the lengths they show)."""
    name = st.session_state.get(RECIPE_KEY)
    if name not in RECIPES:
        return
    low = st.session_state.get(form.key("task.train_length_min"))
    high = st.session_state.get(form.key("task.train_length_max"))
    batch = st.session_state.get(form.key("train.batch_size"))
    changes = RECIPES[name].changes(int(low), int(high), None if batch is None else int(batch))
    st.session_state[form.key("task.name")] = changes["task.name"]
    st.session_state[form.key("task.mixture")] = encode_mixture(changes["task.mixture"])
    if "train.batch_size" in changes:  # the recipe keeps the main task's examples: its partners come on top
        st.session_state[form.key("train.batch_size")] = changes["train.batch_size"]
    st.session_state[RECIPE_KEY] = NO_RECIPE


def render_mixture(form: ConfigForm) -> None:
    """The other tasks of a multi-task run: a recipe to start from and the mixture's text form."""
    mixture = form.config.task.mixture
    with st.expander(
        f"Train other tasks beside it ({len(mixture)} now)" if mixture else "Train other tasks beside it (multi-task run)", expanded=bool(mixture)
    ):
        st.selectbox(
            "Start from a recipe",
            [NO_RECIPE, *RECIPES],
            key=RECIPE_KEY,
            format_func=lambda name: RECIPES[name].title if name in RECIPES else name,
            on_change=apply_recipe,
            args=(form,),
            help="Sets the main task and the tasks trained beside it, as the paper did; the training lengths stay yours.",
        )
        text = form.text(
            "task.mixture",
            "Tasks trained beside the main one",
            fallback="",
            help="Comma-separated entries name:min-max, optionally *weight (sampling weight against the main task's 1), "
            "{option=value;...} and /train-only (not evaluated). Example: copy_unique:1-20,sort:1-10*0.5/train-only. "
            "Every example starts with its task's marker token; the length sweep tests each evaluated task at its own lengths.",
        )
        item = recipe_of(form.values.get("task.name", form.config.task.name), text)
        if item is not None:
            st.caption(f"Recipe: {escape_markdown(item.title)}. The paper found: {escape_markdown(item.predicts)} ({escape_markdown(item.source)}).")


def recipe_of(task_name: str, mixture_text: str) -> Recipe | None:
    """The recipe of the widgets' main task and mixture text (None if none, or if the text does not parse)."""
    try:
        entries = decode_mixture("task.mixture", mixture_text)
    except ConfigError:
        return None
    return matching_recipe(task_name, [entry.get("name") for entry in entries if isinstance(entry, dict)])


def copy_parent_settings(form: ConfigForm) -> None:
    """The start picker's callback: a chosen parent's model and position settings go into the widgets
    (a fine-tuned run must have them; :func:`lengen_core.runs.admission.check_parent`)."""
    parent_id = st.session_state.get(form.key("train.init_from"))
    if not parent_id:
        return
    parent = get_store().get_run(parent_id).run_config
    for dotted, value in ConfigForm.widget_values(parent).items():
        if dotted.startswith(("model.", "positions.")) and form.prefix + dotted in st.session_state:
            st.session_state[form.prefix + dotted] = value


def render_init_from(form: ConfigForm) -> None:
    """Fine-tuning: start from a finished run's checkpoint instead of a fresh model."""
    try:
        runs = checkpoint_runs(get_store(), limit=200)
    except StoreError as error:
        st.caption(f"Fine-tuning from a stored run is unavailable: {escape_markdown(error)}")
        return
    labels = {row.run_id: run_label(row) for row in runs.itertuples()}
    current = form.config.train.init_from
    options = [None, *labels] + ([current] if current and current not in labels else [])
    key = form.key("train.init_from")
    if st.session_state[key] not in options:
        st.session_state[key] = None
    form.values["train.init_from"] = st.selectbox(
        "Start from a finished run (fine-tune)",
        options,
        key=key,
        format_func=lambda run_id: "a fresh model" if run_id is None else labels.get(run_id, f"{run_id} (not among the newest finished runs)"),
        on_change=copy_parent_settings,
        args=(form,),
        help="Training starts from that run's checkpoint; its model and position settings are copied into the form, "
        "and the Runs page shows the lineage. Pick a task and lengths of your own to adapt it to a new task.",
    )
