"""Attention: what a trained model looks at, for one example at a chosen length.

Pick a finished run with a checkpoint and an example (from the evaluation
stream at any length, or typed token by token). The page decodes the answer
greedily, shows it beside the truth, then draws the attention maps of the
decoded sequence per layer and head. For HSA runs it also draws which chunks
each query selected and with what weight. The run is in the URL (``?run=``).
"""

from __future__ import annotations

import streamlit as st

from lengen_core.charts.inspection import attention_grid, attention_heatmap, hsa_selection_figure
from lengen_core.config import RunConfig
from lengen_core.data import ExampleSource
from lengen_core.errors import LenGenError
from lengen_core.inspection import ExampleInputError, check_fits_model, hsa_query_table, inspect_example, token_labels
from lengen_core.vocab import VOCAB
from pages.binding import url_picker
from pages.common import ensure_demo_runs, get_store, page_intro, plotly_config
from pages.escaping import code_span, escape_markdown
from pages.inspection import checkpoint_runs, example_picker, load_run_model, run_label, tokens_html

RUN_KEY = "attention.run"
GRID_LIMIT = 96  # tokens above which the all-heads grid is not offered


def pick_run(runs) -> str:
    """The run picker, synced with ``?run=``."""
    labels = {row.run_id: run_label(row) for row in runs.itertuples()}
    return url_picker(
        "attention",
        "run",
        "Run",
        list(runs["run_id"]),
        key=RUN_KEY,
        format_func=lambda run_id: labels.get(run_id, run_id),
        unknown_warning=lambda missing: f"Run {code_span(missing[0])} is not a finished run with a checkpoint; showing another.",
    )


def show_answer(inspection, truth_known: bool) -> None:
    example = inspection.example
    st.markdown("**Prompt** " + tokens_html(example.prompt), unsafe_allow_html=True)
    columns = st.columns(3)
    truth = VOCAB.render(example.answer_without_eos) if truth_known else "(not given)"
    predicted = VOCAB.render(inspection.predicted_answer) or "(empty)"
    columns[0].markdown(f"**Truth**  \n`{truth}`")
    columns[1].markdown(f"**Model (greedy)**  \n`{predicted}`")
    if inspection.correct is None:
        columns[2].markdown("**Verdict**  \nno truth to compare")
    elif inspection.correct:
        columns[2].markdown("**Verdict**  \n:green[correct ✓]")
    elif inspection.wrong_prefixes and tuple(inspection.predicted_answer) == example.answer_without_eos:
        columns[2].markdown(f"**Verdict**  \n:red[wrong ✗] (the answer is right, {len(inspection.wrong_prefixes)} prefix labels are not)")
    else:
        wrong = next(
            (k for k, (a, b) in enumerate(zip(inspection.predicted_answer, example.answer_without_eos)) if a != b),
            min(len(inspection.predicted_answer), len(example.answer_without_eos)),
        )
        columns[2].markdown(f"**Verdict**  \n:red[wrong ✗] (first wrong answer token: #{wrong})")
    if inspection.wrong_prefixes is not None:  # a member_prefixes run: every prefix's label is tested too
        wrong = inspection.wrong_prefixes
        listed = ", ".join(map(str, wrong[:12])) + (", ..." if len(wrong) > 12 else "")
        st.caption(
            "This run is tested on the label after every symbol too (task.supervision = member_prefixes): "
            + (f"the label is wrong for {len(wrong)} prefixes, of lengths {listed}." if wrong else "every prefix's label is right.")
        )


def show_attention(inspection, labels, config: RunConfig) -> None:
    maps = inspection.attention
    dense_layers = [index for index, layer in enumerate(maps) if layer is not None]
    if not dense_layers:
        st.info("No layer of this model returns a full attention map (every layer is sparse); see the HSA selections below.")
        return
    heads = maps[dense_layers[0]].shape[0]
    views = ["One head", "All layers × heads"] if len(labels) <= GRID_LIMIT else ["One head"]
    view = st.radio("View", views, horizontal=True, key="attention.view")
    if view == "One head":
        columns = st.columns(2)
        layer = columns[0].selectbox("Layer", dense_layers, key="attention.layer")
        head = columns[1].selectbox("Head", list(range(heads)), key="attention.head")
        figure = attention_heatmap(maps[layer][head], labels, title=f"layer {layer}, head {head}")
    else:
        figure = attention_grid(maps, labels, title=f"{len(maps)} layers × {heads} heads")
    st.plotly_chart(figure, key="attention.chart", config=plotly_config("attention"))
    st.caption(
        "Rows are queries (the token doing the looking), columns are keys; each row sums to 1. "
        "The sequence is the prompt followed by the model's own answer, with the position ids it used."
    )


def show_hsa(inspection, labels, config: RunConfig) -> None:
    layers = [index for index, info in enumerate(inspection.hsa) if info is not None]
    if not layers:
        st.info("This HSA model returned no chunk selections for this example.")
        return
    chunk_size = config.model.hsa.chunk_size
    columns = st.columns(3)
    layer = columns[0].selectbox("HSA layer", layers, key="attention.hsa_layer")
    info = inspection.hsa[layer]
    kv_heads = info["indices"].shape[1]
    head = columns[1].selectbox("KV head", list(range(kv_heads)), key="attention.hsa_head")
    figure = hsa_selection_figure(info["indices"], info["weights"], chunk_size, labels, head=head, title=f"HSA layer {layer}, KV head {head}")
    st.plotly_chart(figure, key="attention.hsa_chart", config=plotly_config("hsa_selection"))
    query = columns[2].number_input("Query token", min_value=0, max_value=len(labels) - 1, value=len(labels) - 1, key="attention.hsa_query")
    rows = hsa_query_table(info["indices"], info["weights"], chunk_size, int(query), head)
    if rows:
        st.dataframe(rows, hide_index=True, key="attention.hsa_table")
    else:
        st.caption(f"Token {query} has no complete past chunk to select (chunks hold {chunk_size} tokens).")


def main() -> None:
    page_intro("Attention", "For one example, what each layer and head of a trained model attends to; for HSA models, which chunks each token selected.")
    ensure_demo_runs()
    store = get_store()
    try:
        runs = checkpoint_runs(store)
    except LenGenError as error:
        st.error(escape_markdown(error), icon=":material/block:")
        return
    if len(runs) == 0:
        st.info("No finished run with a checkpoint yet. Train one on the Train page (or open a lesson), then come back.", icon=":material/lightbulb:")
        return
    run_id = pick_run(runs)
    record = store.get_run(run_id)
    loaded = load_run_model(store, run_id)
    if loaded is None:  # it said why
        return
    model, config = loaded
    source = ExampleSource(config.task)
    st.caption(
        f"Task **{source.task.name}**: {source.task.description} Trained on lengths "
        f"{config.task.train_length_min}-{config.task.train_length_max}; breakdown length {record.breakdown_length}."
    )
    picked = example_picker(source, key="attention.example", default_length=config.task.train_length_max, eval_seed=config.eval.seed)
    if picked is None:
        return
    example, truth_known = picked
    try:
        check_fits_model(example, config)
        inspection = inspect_example(model, example, source.task, truth_known=truth_known, seed=config.eval.seed, score_prefixes=source.member_prefixes)
    except ExampleInputError as error:
        st.error(escape_markdown(error), icon=":material/block:")
        return
    except (LenGenError, ValueError) as error:
        st.error(f"The model cannot run this example: {escape_markdown(error)}", icon=":material/block:")
        return
    show_answer(inspection, truth_known)
    labels = token_labels(inspection.tokens)
    st.subheader("Attention maps")
    show_attention(inspection, labels, config)
    if config.model.attention == "hsa":
        st.subheader("HSA chunk selection")
        show_hsa(inspection, labels, config)
    with st.expander("Position ids used"):
        st.dataframe({"token": [VOCAB.token(token) for token in inspection.tokens], "position id": inspection.position_ids}, key="attention.ids")


main()
