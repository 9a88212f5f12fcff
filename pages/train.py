"""Train: configure a run, start it in the background, watch loss and accuracy live, then its length sweep.

The configuration lives in the URL (its text form, :mod:`lengen_core.params`:
dotted keys, only non-default values) and in one RunConfig in session state
(:class:`pages.binding.ConfigForm`): opening a link sets the widgets, changing a
widget rewrites the link. Widgets only cover the common fields; any other field
in the URL is kept as it is. Training runs in the job manager's worker threads;
the run panel (:mod:`pages.run_panel`) polls its progress once a second.
"""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from lengen_core.config import ATTENTION_KINDS, BASE_ENCODINGS, LENGTH_SCALINGS, LIMITS, LOCAL_MIXERS, POSITION_SCHEMES, RunConfig
from lengen_core.costs import duration_text
from lengen_core.errors import ConfigError, StoreError, shown
from lengen_core.runs.admission import admit
from lengen_core.runs.speed import family_of
from pages.binding import ConfigForm
from pages.caps import app_cap_violations
from pages.common import get_job_manager, get_store, jobs_ahead_text, page_intro, parse_id_list, show_config_error
from pages.escaping import escape_markdown
from pages.run_panel import SCHEME_OF_KEY, show_run
from pages.run_sources import render_init_from, render_mixture
from pages.task_fields import render_task_fields, show_task_examples
from pages.theory_view import theory_panel

FORM = ConfigForm("train_page", prefix="train:")  # widget keys "train:<dotted field>"
NAME_KEY = "train:run_name"
RUN_KEY = "train_page.run_id"  # the run shown beside the form
MY_RUNS_KEY = "train_page.my_runs"  # runs started from this session, newest last
SHOW_KEY = "train_page.show_run"  # the "Show run" picker (when this session started several runs)
SHARED_NOTES_KEY = "train_page.shared_notes"  # run id -> why a request got another request's run
RUNS_PARAM = "runs"  # the URL's list of the runs started here, newest last: a reload shows them again
MAX_LINKED_RUNS = 8  # the newest ones the URL keeps


def render_form(form: ConfigForm) -> tuple[int, str, DeltaGenerator]:
    """Draw the configuration widgets (their values collect in ``form.values``); returns (seed, run name, the place
    below the task's fields for its examples, filled once the config is checked: :mod:`pages.task_fields`)."""
    base = form.config
    render_task_fields(form)
    render_mixture(form)
    examples_slot = st.container()

    st.subheader("Model")
    scheme_column, attention_column = st.columns(2)
    with scheme_column:
        scheme = form.select(
            "positions.scheme",
            "Position scheme",
            list(POSITION_SCHEMES),
            help="How the model is told where each token is. 'coupled' gives tokens with the same role the same position id.",
        )
        if scheme == "randomized":
            form.select("positions.base_encoding", "Encoding of the random ids", list(BASE_ENCODINGS))
        if scheme == "learned":
            form.number(
                "positions.train_offset_max",
                "Random start offset in training (up to)",
                minimum=-1,
                step=16,
                help="Each training example's positions start at a random offset up to this (capped by the position range), "
                "so the table's later rows are trained too: the APE setting of Huang et al.'s predictions. 0 or -1: none.",
            )
    with attention_column:
        attention = form.select(
            "model.attention",
            "Attention",
            list(ATTENTION_KINDS),
            help="dense: every token sees every earlier token; hsa: hierarchical sparse attention over chunks.",
        )
        if attention == "hsa":
            form.number("model.hsa.chunk_size", "HSA chunk size", minimum=2, step=1)
            form.number("model.hsa.top_k", "HSA top-k chunks", minimum=1, step=1)
            form.select("model.hsa.local_mixer", "Local mixer", list(LOCAL_MIXERS))
    layers, heads, width = st.columns(3)
    with layers:
        form.number("model.n_layers", "Layers", minimum=1, step=1)
    with heads:
        form.number("model.n_heads", "Heads", minimum=1, step=1)
    with width:
        form.number("model.d_model", "Width (d_model)", minimum=8, step=8)

    st.subheader("Training")
    steps, budget, seed_column = st.columns(3)
    with steps:
        form.number("train.steps", "Steps", minimum=1, step=100)
    with budget:
        form.number(
            "train.time_budget_s",
            "Time budget (s, 0 = none)",
            minimum=0.0,
            step=30.0,
            fmt="%.0f",
            help="Training stops at the step count or when this much training time is used, whichever comes first. 0: no time budget.",
        )
    with seed_column:
        seed = form.seed(maximum=LIMITS["max_seed"])
    until_learned, check_every = st.columns([2, 1])
    with until_learned:
        learned = form.checkbox(
            "train.stop_when_learned",
            "Stop when the training range is learned",
            fallback=base.train.stop_when_learned,
            help="Every few steps the model decodes held-out examples of its training lengths greedily; once exact match is at or "
            "above the breakdown threshold at every length on two checks in a row, training stops there. Steps and time "
            "budget stay the upper bound.",
        )
    if learned:
        with check_every:
            form.number("train.learned_check_every", "Check every (steps)", minimum=1, step=50)
    render_init_from(form)

    with st.expander("Advanced settings"):
        left, middle, right = st.columns(3)
        with left:
            form.number("model.d_ff", "Feed-forward width (d_ff)", minimum=8, step=64)
            form.number("positions.max_position", "Position range (max_position)", minimum=8, step=64)
            form.number("train.batch_size", "Batch size", minimum=1, step=8)
        with middle:
            form.number("train.lr", "Learning rate", minimum=0.0, step=1e-4, fmt="%.5f")
            form.number("train.warmup_steps", "Warmup steps", minimum=0, step=10)
            form.number("train.log_every", "Log every (steps)", minimum=1, step=10)
            form.number(
                "train.distractor_examples",
                "Distractor examples per training row",
                minimum=0,
                step=1,
                help="Up to this many whole training examples before each one (only its answer is scored), each with its own "
                "position-id offset: teaches queries to ignore tokens whose ids are far from theirs, as past the training length.",
            )
            form.select(
                "model.length_scaling",
                "Attention length scaling",
                list(LENGTH_SCALINGS),
                help="log: each query's attention logits times log(number of keys it sees), so attention stays as sharp on longer inputs (dense attention only).",
            )
        with right:
            form.number("eval.samples_per_length", "Eval samples per length", minimum=1, step=50)
            form.number("eval.max_length_factor", "Evaluate up to (x longest train length)", minimum=1.0, step=0.5)
            form.number("eval.n_lengths", "Number of eval lengths", minimum=1, step=1)
            form.number("eval.threshold", "Breakdown threshold", minimum=0.0, step=0.05)
            form.checkbox(
                "eval.search",
                "Search past the sweep's end",
                fallback=base.eval.search,
                help="If the run still holds at the longest eval length, keep doubling the length until it fails (then bisect to "
                "10%) or a limit stops it: the position table, the task, 64x the training length, the evaluation budget. "
                "Off: the fixed sweep only, and a breakdown that held to its end reads '≥ L'.",
            )
    name = st.text_input("Run name (optional)", key=NAME_KEY)
    return seed, name, examples_slot


def check_config(form: ConfigForm, seed: int) -> tuple[RunConfig | None, list[ConfigError]]:
    """The config the widgets describe (written to the URL) and every reason it cannot start: config, app caps, cost."""
    try:
        config = form.apply()
    except ConfigError as error:
        return None, [error]
    form.write_url(config, seed)
    errors = app_cap_violations(config)
    if not errors:
        try:
            manager = get_job_manager()
            estimate = admit(config, seed, manager.budget, threads=manager.threads_for_next())
        except ConfigError as error:
            errors.append(error)
        else:
            train_seconds, eval_seconds = manager.scaled(estimate, config)
            st.info(
                f"Result in about **{duration_text(train_seconds + eval_seconds)}** on this machine{jobs_ahead_text(manager)}: training about "
                f"{duration_text(train_seconds)}, then the length sweep about {duration_text(eval_seconds)}.",
                icon=":material/timer:",
            )
            st.caption(f"{manager.speed.describe(family_of(config))} Cost check passed: {estimate.memory_summary()}.")
    return config, errors


def start(config: RunConfig, seed: int, name: str) -> None:
    """Queue the run; it becomes the one shown beside the form."""
    try:
        submission = get_job_manager().request(config, seed, name=name.strip() or None)
    except ConfigError as error:
        show_config_error(error)
        return
    run_id = submission.run_id
    if submission.shared:
        st.session_state.setdefault(SHARED_NOTES_KEY, {})[run_id] = submission.note()
    st.session_state[RUN_KEY] = run_id
    st.session_state[SHOW_KEY] = run_id
    my_runs = st.session_state.setdefault(MY_RUNS_KEY, [])
    if run_id in my_runs:
        my_runs.remove(run_id)  # asked again: it moves to the newest place
    my_runs.append(run_id)
    st.session_state.setdefault(SCHEME_OF_KEY, {})[run_id] = config.positions.scheme
    st.query_params[RUNS_PARAM] = ",".join(my_runs[-MAX_LINKED_RUNS:])


def restore_runs_from_url() -> None:
    """A reload is a new session: it shows again the runs its URL names (``runs=``, written by :func:`start`), live or
    finished. Ids this store does not hold are named in a warning and left out."""
    if MY_RUNS_KEY in st.session_state:
        return
    wanted = parse_id_list(st.query_params.get_all(RUNS_PARAM))[-MAX_LINKED_RUNS:]
    if not wanted:
        return
    try:
        stored = get_store().list_runs(run_ids=wanted)
    except StoreError as error:
        st.error(escape_markdown(error), icon=":material/error:")
        return
    schemes = dict(zip(stored["run_id"], stored["scheme"]))
    missing = [run_id for run_id in wanted if run_id not in schemes]
    if missing:
        named = ", ".join(escape_markdown(shown(run_id)) for run_id in missing)
        st.warning(f"The link names runs this store does not hold ({named}); they are left out.", icon=":material/link:")
    st.session_state[MY_RUNS_KEY] = [run_id for run_id in wanted if run_id in schemes]
    st.session_state.setdefault(SCHEME_OF_KEY, {}).update(schemes)


def main() -> None:
    page_intro(
        "Train", "Pick a task and a way of encoding positions, train a small transformer on short inputs, then see how long an input it can still solve."
    )
    form_column, run_column = st.columns([5, 7], gap="large")
    with form_column:
        url_errors, kept = FORM.sync_from_url()
        if url_errors:
            reasons = "; ".join(f"**{escape_markdown(error.field)}**: {escape_markdown(error.message)}" for error in url_errors)
            outcome = "those fields are at their defaults, the link's other settings are kept" if kept else "so the defaults are shown"
            st.error(f"Part of the link's configuration was not usable ({reasons}); {outcome}.", icon=":material/link:")
        FORM.values.clear()
        seed, name, examples_slot = render_form(FORM)
        config, errors = check_config(FORM, seed)
        for error in show_task_examples(examples_slot, config, errors):
            show_config_error(error)

        start_column, reset_column = st.columns(2)
        with start_column:
            clicked = st.button("Start training", type="primary", icon=":material/rocket_launch:", key="train_page.start")
        with reset_column:
            st.button("Reset to defaults", key="train_page.reset", on_click=FORM.load, args=(RunConfig(), 0))
        if clicked:
            if errors or config is None:
                st.error("Not started: fix the fields above first.", icon=":material/error:")
            else:
                start(config, seed, name)
        if config is not None:  # last in the column: an element that comes and goes never moves the ones above
            theory_panel(config)

    with run_column:
        restore_runs_from_url()
        my_runs = st.session_state.get(MY_RUNS_KEY, [])
        if not my_runs:
            st.info(
                "Start a run to watch its loss and (teacher-forced) accuracy here as it trains; when it finishes, "
                "its length sweep shows how accuracy holds up on longer inputs than it was trained on.",
                icon=":material/info:",
            )
            return
        if len(my_runs) > 1:
            newest_first = list(reversed(my_runs))
            if st.session_state.get(SHOW_KEY) not in newest_first:
                st.session_state[SHOW_KEY] = newest_first[0]
            st.session_state[RUN_KEY] = st.selectbox("Show run", newest_first, key=SHOW_KEY)
        shown = st.session_state.get(RUN_KEY, my_runs[-1])
        shared_note = st.session_state.get(SHARED_NOTES_KEY, {}).get(shown)
        if shared_note:
            st.info(shared_note, icon=":material/group:")
        show_run(shown)


if __name__ == "__main__":
    main()
