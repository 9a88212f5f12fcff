"""Position IDs: the ids each positional scheme gives the tokens of one example.

The same example (from any task, at any length, or typed) is shown token by
token with one row of ids per scheme: plain indices, learned APE with a random
training offset, randomized positions, position coupling, Abacus; each in its
training view (random offsets / subsets drawn) and its evaluation view.
Coupled tokens share a colour and are joined by arcs. For a predictive
position coupling run, the ids the model predicted while decoding are shown
against the true ones, with the first wrong id marked.
"""

from __future__ import annotations

import dataclasses
import math

import streamlit as st

from lengen_core.charts.inspection import coupling_links_figure, position_ids_figure, predicted_ids_figure
from lengen_core.config import TaskConfig
from lengen_core.costs import default_budget
from lengen_core.data import ExampleSource
from lengen_core.errors import LenGenError
from lengen_core.inspection import (
    SCHEME_VIEWS,
    ExampleInputError,
    PositionRow,
    check_fits_model,
    coupled_groups,
    first_mismatch,
    generated_example,
    inspect_example,
    position_rows,
    predicted_ids_table,
    token_labels,
)
from lengen_core.length_search import search_limit
from lengen_core.tasks import task_names
from lengen_core.vocab import VOCAB
from pages.common import ensure_demo_runs, get_store, page_intro, plotly_config
from pages.escaping import escape_markdown
from pages.inspection import checkpoint_runs, example_picker, load_run_model, run_label
from pages.task_fields import custom_task_options

ID_RANGE_LIMIT = 4096  # the largest max_position offered: a wider id range is not drawn readably
LENGTH_LIMIT = 256  # the longest example drawn, one column per token
VIEW_CHOICES = {"Training and evaluation": ("train", "eval"), "Training only": ("train",), "Evaluation only": ("eval",)}
SCHEME_NAMES = {
    "index": "index (0, 1, 2, …)",
    "learned_offset": "learned APE + random offset",
    "randomized": "randomized (Ruoss et al.)",
    "coupled": "position coupling (Cho et al.)",
    "abacus": "Abacus (McLeish et al.)",
}


def answer_ids_predicted(row: PositionRow) -> PositionRow:
    """The coupled evaluation row of a task whose answer ids depend on the answer, relabelled to say they are predicted."""
    if row.scheme != "coupled" or row.view != "eval":
        return row
    return dataclasses.replace(row, label="coupled (evaluation: answer ids predicted)")


def scheme_rows_section() -> None:
    names = task_names()
    default_task = "addition" if "addition" in names else names[0]
    columns = st.columns([2, 1])
    task_name = columns[0].selectbox("Task", names, index=names.index(default_task), key="position_ids.task")
    max_position = columns[1].number_input(
        "max_position",
        min_value=8,
        max_value=ID_RANGE_LIMIT,
        value=64,
        step=8,
        key="position_ids.max_position",
        help="Size of the id range: learned table rows, the range randomized ids are drawn from, the largest offset id.",
    )
    options = custom_task_options("position_ids.custom") if task_name == "expression" else {}
    try:
        source = ExampleSource(TaskConfig(name=task_name, options=options, train_length_min=1, train_length_max=1))
    except LenGenError as error:
        st.error(escape_markdown(error), icon=":material/block:")
        return
    st.caption(f"**{task_name}**: {source.task.description}")
    picked = example_picker(source, key="position_ids.example", default_length=3, length_cap=LENGTH_LIMIT)
    if picked is None:
        return
    example, _ = picked
    available = [
        key for key in SCHEME_VIEWS if not (key == "coupled" and example.coupled_ids is None) and not (key == "abacus" and example.digit_significance is None)
    ]
    columns = st.columns([3, 2, 1])
    chosen = columns[0].multiselect("Schemes", available, default=available, key=f"position_ids.schemes.{task_name}", format_func=lambda key: SCHEME_NAMES[key])
    view = columns[1].radio("View", list(VIEW_CHOICES), key="position_ids.view")
    if "position_ids.seed" not in st.session_state:
        st.session_state["position_ids.seed"] = 0
    if columns[2].button("Draw again", key="position_ids.redraw", help="New random offsets / subsets for the training view."):
        st.session_state["position_ids.seed"] += 1
    if not chosen:
        st.info("Pick at least one scheme.")
        return
    needed = len(example.tokens)
    if needed > max_position:
        st.error(
            f"The example has {needed} tokens but max_position is {max_position}: plain index, learned and randomized ids "
            f"would run past the id range. Raise max_position or pick a shorter example.",
            icon=":material/block:",
        )
        return
    rows = position_rows(example, chosen, max_position=int(max_position), views=VIEW_CHOICES[view], seed=st.session_state["position_ids.seed"])
    if source.task.coupling_needs_answer:  # at test time the answer's coupled ids are not known: a model must predict them
        rows = [answer_ids_predicted(row) for row in rows]
        st.caption(
            f"In **{task_name}** the coupled ids of the answer depend on the answer itself (which input each answer token "
            "comes from), so a test input cannot be given them: plain coupling is refused, and predictive coupling "
            "(Golowich et al. 2025) gives only the prompt's ids and has the model predict the answer's. The evaluation row "
            "shows the rule's ids, the ones the model must predict; the section at the bottom shows a run's own predictions."
        )
    labels = token_labels(example.tokens)
    st.plotly_chart(position_ids_figure(labels, rows, answer_start=len(example.prompt)), key="position_ids.chart", config=plotly_config("position-ids"))
    table = {"token": [VOCAB.token(token) for token in example.tokens]}
    table.update({row.label: list(row.ids) for row in rows})
    st.dataframe(table, key="position_ids.table")
    with st.expander("What each scheme does"):
        for key in chosen:
            st.markdown(f"- **{SCHEME_NAMES[key]}**: {SCHEME_VIEWS[key]}")
    if example.coupled_ids is not None:
        st.subheader("Coupled tokens")
        groups = coupled_groups(example.coupled_ids)
        st.plotly_chart(coupling_links_figure(example.tokens, example.coupled_ids), key="position_ids.links", config=plotly_config("coupling"))
        st.caption(
            "Tokens joined by an arc share a coupled id (before the random training offset): "
            + "; ".join(f"id {value}: " + " ".join(VOCAB.token(example.tokens[i]) + f"@{i}" for i in members) for value, members in groups.items())
        )


def predictive_section() -> None:
    st.subheader("Predictive position coupling: predicted versus true ids")
    store = get_store()
    try:
        runs = checkpoint_runs(store, scheme="predictive_coupled")
    except LenGenError as error:
        st.error(escape_markdown(error), icon=":material/block:")
        return
    if len(runs) == 0:
        st.info(
            "No finished predictive_coupled run with a checkpoint yet. Train one (scheme predictive_coupled) on the Train page, "
            "or open the lesson 'What if the model must work out the position ids itself?'.",
            icon=":material/lightbulb:",
        )
        return
    labels = {row.run_id: run_label(row) for row in runs.itertuples()}
    run_id = st.selectbox("Predictive coupling run", list(runs["run_id"]), key="position_ids.run", format_func=lambda r: labels.get(r, r))
    loaded = load_run_model(store, run_id)
    if loaded is None:  # it said why
        return
    model, config = loaded
    source = ExampleSource(config.task)
    # as long as the run can be tested (its id table, the task): a longer input could only end in an error
    limit = search_limit(config, "", source.task.min_length, default_budget(1), seconds_left=math.inf)
    top = max(source.task.min_length, min(limit.length, 256))
    columns = st.columns(2)
    length = columns[0].number_input(
        "Test length",
        min_value=source.task.min_length,
        max_value=top,
        value=min(max(2 * config.task.train_length_max, source.task.min_length), top),
        key=f"position_ids.pred_length.{run_id}",
        help=f"The run trained on lengths {config.task.train_length_min}-{config.task.train_length_max}; up to {top} here "
        f"({limit.reason if top == limit.length else 'the page shows at most 256'}).",
    )
    index = columns[1].number_input("Test example #", min_value=0, max_value=999, value=0, key="position_ids.pred_index")
    try:
        example = generated_example(source, int(length), int(index), config.eval.seed)
        check_fits_model(example, config)
        inspection = inspect_example(model, example, source.task, seed=config.eval.seed)
    except (ExampleInputError, LenGenError, ValueError) as error:
        st.error(escape_markdown(error), icon=":material/block:")
        return
    true_ids, predicted_ids = inspection.true_answer_ids, inspection.predicted_answer_ids
    st.plotly_chart(
        predicted_ids_figure(inspection.predicted_answer, true_ids, predicted_ids), key="position_ids.predicted", config=plotly_config("predicted-ids")
    )
    wrong = first_mismatch(true_ids, predicted_ids)
    answer = VOCAB.render(inspection.predicted_answer) or "(empty)"
    verdict = "correct ✓" if inspection.correct else "wrong ✗"
    if wrong is None:
        st.success(f"Every predicted id matches the coupling rule. Answer `{answer}`: {verdict}.", icon=":material/check_circle:")
    else:
        st.warning(
            f"First wrong id at answer token #{wrong}: predicted {predicted_ids[wrong] if wrong < len(predicted_ids) else '(none)'}, "
            f"true {true_ids[wrong] if wrong < len(true_ids) else '(none)'}. Answer `{answer}`: {verdict}.",
            icon=":material/warning:",
        )
    st.dataframe(predicted_ids_table(inspection.predicted_answer, true_ids, predicted_ids), key="position_ids.predicted_table")


def main() -> None:
    page_intro("Position IDs", "The ids each positional scheme gives the tokens of one example; coupled tokens linked; a predictive-coupling model's own ids.")
    ensure_demo_runs()
    scheme_rows_section()
    st.divider()
    predictive_section()


main()
