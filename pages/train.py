"""Train: configure a run, start it in the background, watch loss and accuracy live, then its length sweep.

The configuration lives in the URL (flattened dotted keys, only non-default
values; see :func:`pages.common.config_to_query_params`): opening a link sets
the widgets, changing a widget rewrites the link. Widgets only cover the common
fields; any other field in the URL is kept as it is. Training runs in the job
manager's worker threads; a fragment polls its progress once a second.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from lengen_core.config import (
    ATTENTION_KINDS,
    BASE_ENCODINGS,
    LENGTH_SCALINGS,
    LIMITS,
    LOCAL_MIXERS,
    POSITION_SCHEMES,
    RunConfig,
    flatten,
)
from lengen_core.errors import ConfigError
from lengen_core.jobs import admit
from pages.charts import SweepCurve, length_sweep_figure, train_curve_figure
from pages.common import (
    app_cap_violations,
    config_from_flat,
    config_to_query_params,
    escape_markdown,
    get_job_manager,
    get_store,
    is_config_param,
    page_intro,
    plotly_config,
    run_setup_from_query_params,
    show_config_error,
    status_banner,
    task_classes,
)

PREFIX = "train:"  # session-state keys of this page's widgets: "train:<dotted field>"
SEED_KEY = PREFIX + "seed"
NAME_KEY = PREFIX + "run_name"
BASE_KEY = "train_page.base"  # last configuration (dict), keeps fields without a widget
SYNCED_KEY = "train_page.synced"  # the URL params this page wrote last
RUN_KEY = "train_page.run_id"  # the run shown below the form
MY_RUNS_KEY = "train_page.my_runs"  # runs started from this session, newest last
FINISHED_SEEN_KEY = "train_page.finished_seen"
SHOW_KEY = "train_page.show_run"  # the "Show run" picker (when this session started several runs)


def _url_params() -> dict[str, str]:
    """The config-related query params of the current URL (config fields and ``seed``)."""
    params = {}
    for key in st.query_params.keys():
        if is_config_param(key) or key == "seed":
            params[key] = st.query_params.get(key)
    return params


def _widget_values(config: RunConfig) -> dict[str, Any]:
    """Widget state for ``config``: the flattened fields, time budget ``None`` shown as 0."""
    values = flatten(config.to_dict())
    values["train.time_budget_s"] = float(config.train.time_budget_s or 0.0)
    for key in ("train.lr", "eval.max_length_factor", "eval.threshold", "model.dropout"):
        values[key] = float(values[key])
    return values


def _load_into_widgets(config: RunConfig, seed: int) -> None:
    """Overwrite every widget of this page with ``config`` (before the widgets are drawn)."""
    for key in [key for key in st.session_state.keys() if str(key).startswith(PREFIX) and key not in (NAME_KEY,)]:
        del st.session_state[key]
    for dotted, value in _widget_values(config).items():
        st.session_state[PREFIX + dotted] = value
    st.session_state[SEED_KEY] = seed
    st.session_state[BASE_KEY] = config.to_dict()


def sync_from_url() -> ConfigError | None:
    """Apply the URL to the widgets when it changed from outside (first load, a pasted link)."""
    current = _url_params()
    synced = st.session_state.get(SYNCED_KEY)
    if synced is not None and current == synced:
        return None
    if not current and BASE_KEY in st.session_state:
        return None  # back on the page with a bare URL: keep this session's last configuration
    try:
        config, seed = run_setup_from_query_params(current)
        error = None
    except ConfigError as caught:
        config, seed, error = RunConfig(), 0, caught
    _load_into_widgets(config, seed)
    return error


def _ensure(dotted: str, fallback: Any) -> str:
    key = PREFIX + dotted
    if key not in st.session_state:
        st.session_state[key] = fallback
    return key


def _number(dotted: str, label: str, fallback: Any, *, minimum: Any = None, step: Any = None, fmt: str | None = None, help: str | None = None) -> Any:
    key = _ensure(dotted, fallback)
    return st.number_input(label, min_value=minimum, step=step, format=fmt, key=key, help=help)


def _select(dotted: str, label: str, options: list[Any], fallback: Any, *, format_func: Any = str, help: str | None = None) -> Any:
    key = _ensure(dotted, fallback)
    if st.session_state[key] not in options:
        st.session_state[key] = fallback if fallback in options else options[0]
    return st.selectbox(label, options, key=key, format_func=format_func, help=help)


def _clamp_lengths_to(minimum: int, maximum: int, defaults: dict[str, Any]) -> None:
    """A newly picked task keeps the chosen training lengths where it can and moves them into its own range
    where it cannot (passkey retrieval starts at 16), before the length widgets are drawn."""
    for dotted in ("task.train_length_min", "task.train_length_max"):
        key = PREFIX + dotted
        current = st.session_state.get(key, defaults[dotted])
        if isinstance(current, int) and not minimum <= current <= maximum:
            st.session_state[key] = min(max(current, minimum), maximum)


def render_form(base: RunConfig) -> tuple[dict[str, Any], int, str]:
    """Draw the configuration widgets; returns (dotted field -> value, seed, run name)."""
    defaults = _widget_values(base)
    tasks = task_classes()
    values: dict[str, Any] = {}

    st.subheader("Task")
    task_names = list(tasks)
    values["task.name"] = _select(
        "task.name",
        "Task",
        task_names,
        base.task.name,
        format_func=lambda name: f"{name}: {tasks[name].description}" if name in tasks and tasks[name].description else name,
        help="What the model must learn. Lengths are the task's size knob (digits, symbols, ...).",
    )
    task_class = tasks.get(values["task.name"])
    if task_class is not None and task_class.option_specs:
        option_columns = st.columns(min(3, len(task_class.option_specs)))
        for index, (option, spec) in enumerate(task_class.option_specs.items()):
            dotted = f"task.options.{option}"
            fallback = base.task.options.get(option, spec.default) if values["task.name"] == base.task.name else spec.default
            with option_columns[index % len(option_columns)]:
                if spec.choices is not None:
                    values[dotted] = _select(dotted, option, list(spec.choices), fallback, help=spec.help or None)
                elif isinstance(spec.default, bool):
                    values[dotted] = st.checkbox(option, key=_ensure(dotted, bool(fallback)), help=spec.help or None)
                elif isinstance(spec.default, int):
                    values[dotted] = _number(dotted, option, int(fallback), step=1, help=spec.help or None)
                else:
                    values[dotted] = st.text_input(option, key=_ensure(dotted, str(fallback)), help=spec.help or None)
    if task_class is not None:
        st.caption(f"{task_class.name} supports lengths {task_class.min_length}..{task_class.max_length}.")
        if values["task.name"] != base.task.name:
            _clamp_lengths_to(task_class.min_length, task_class.max_length, defaults)
    low, high = st.columns(2)
    with low:
        values["task.train_length_min"] = _number("task.train_length_min", "Train lengths from", defaults["task.train_length_min"], step=1)
    with high:
        values["task.train_length_max"] = _number("task.train_length_max", "Train lengths to", defaults["task.train_length_max"], step=1)

    st.subheader("Model")
    scheme_column, attention_column = st.columns(2)
    with scheme_column:
        values["positions.scheme"] = _select(
            "positions.scheme",
            "Position scheme",
            list(POSITION_SCHEMES),
            base.positions.scheme,
            help="How the model is told where each token is. 'coupled' gives tokens with the same role the same position id.",
        )
        if values["positions.scheme"] == "randomized":
            values["positions.base_encoding"] = _select("positions.base_encoding", "Encoding of the random ids", list(BASE_ENCODINGS), base.positions.base_encoding)
    with attention_column:
        values["model.attention"] = _select(
            "model.attention", "Attention", list(ATTENTION_KINDS), base.model.attention, help="dense: every token sees every earlier token; hsa: hierarchical sparse attention over chunks."
        )
        if values["model.attention"] == "hsa":
            values["model.hsa.chunk_size"] = _number("model.hsa.chunk_size", "HSA chunk size", defaults["model.hsa.chunk_size"], minimum=2, step=1)
            values["model.hsa.top_k"] = _number("model.hsa.top_k", "HSA top-k chunks", defaults["model.hsa.top_k"], minimum=1, step=1)
            values["model.hsa.local_mixer"] = _select("model.hsa.local_mixer", "Local mixer", list(LOCAL_MIXERS), base.model.hsa.local_mixer)
    layers, heads, width = st.columns(3)
    with layers:
        values["model.n_layers"] = _number("model.n_layers", "Layers", defaults["model.n_layers"], minimum=1, step=1)
    with heads:
        values["model.n_heads"] = _number("model.n_heads", "Heads", defaults["model.n_heads"], minimum=1, step=1)
    with width:
        values["model.d_model"] = _number("model.d_model", "Width (d_model)", defaults["model.d_model"], minimum=8, step=8)

    st.subheader("Training")
    steps, budget, seed_column = st.columns(3)
    with steps:
        values["train.steps"] = _number("train.steps", "Steps", defaults["train.steps"], minimum=1, step=100)
    with budget:
        time_budget = _number("train.time_budget_s", "Time budget (s, 0 = none)", defaults["train.time_budget_s"], minimum=0.0, step=30.0, help="Training stops at the step count or when this much training time is used, whichever comes first.")
        values["train.time_budget_s"] = float(time_budget) if time_budget else None
    with seed_column:
        if SEED_KEY not in st.session_state:
            st.session_state[SEED_KEY] = 0
        seed = st.number_input("Seed", min_value=0, max_value=LIMITS["max_seed"], step=1, key=SEED_KEY)

    with st.expander("Advanced settings"):
        left, middle, right = st.columns(3)
        with left:
            values["model.d_ff"] = _number("model.d_ff", "Feed-forward width (d_ff)", defaults["model.d_ff"], minimum=8, step=64)
            values["positions.max_position"] = _number("positions.max_position", "Position range (max_position)", defaults["positions.max_position"], minimum=8, step=64)
            values["train.batch_size"] = _number("train.batch_size", "Batch size", defaults["train.batch_size"], minimum=1, step=8)
        with middle:
            values["train.lr"] = _number("train.lr", "Learning rate", defaults["train.lr"], minimum=0.0, step=1e-4, fmt="%.5f")
            values["train.warmup_steps"] = _number("train.warmup_steps", "Warmup steps", defaults["train.warmup_steps"], minimum=0, step=10)
            values["train.log_every"] = _number("train.log_every", "Log every (steps)", defaults["train.log_every"], minimum=1, step=10)
            values["train.distractor_examples"] = _number(
                "train.distractor_examples",
                "Distractor examples per training row",
                defaults["train.distractor_examples"],
                minimum=0,
                step=1,
                help="Up to this many whole training examples before each one (only its answer is scored), each with its own "
                "position-id offset: teaches queries to ignore tokens whose ids are far from theirs, as past the training length.",
            )
            values["model.length_scaling"] = _select(
                "model.length_scaling",
                "Attention length scaling",
                list(LENGTH_SCALINGS),
                base.model.length_scaling,
                help="log: each query's attention logits times log(number of keys it sees), so attention stays as sharp on longer inputs (dense attention only).",
            )
        with right:
            values["eval.samples_per_length"] = _number("eval.samples_per_length", "Eval samples per length", defaults["eval.samples_per_length"], minimum=1, step=50)
            values["eval.max_length_factor"] = _number("eval.max_length_factor", "Evaluate up to (x longest train length)", defaults["eval.max_length_factor"], minimum=1.0, step=0.5)
            values["eval.n_lengths"] = _number("eval.n_lengths", "Number of eval lengths", defaults["eval.n_lengths"], minimum=1, step=1)
            values["eval.threshold"] = _number("eval.threshold", "Breakdown threshold", defaults["eval.threshold"], minimum=0.0, step=0.05)
    name = st.text_input("Run name (optional)", key=NAME_KEY)
    return values, int(seed), name


def write_url(config: RunConfig, seed: int) -> None:
    """Make the URL's config params exactly those of ``config`` (other params are left alone)."""
    wanted = config_to_query_params(config)
    if seed:
        wanted["seed"] = str(seed)
    current = _url_params()
    if current != wanted:
        for key in current:
            if key not in wanted:
                del st.query_params[key]
        for key, value in wanted.items():
            if current.get(key) != value:
                st.query_params[key] = value
    st.session_state[SYNCED_KEY] = wanted


def _train_frame(points: list[Any]) -> pd.DataFrame:
    return pd.DataFrame([{"step": p.step, "loss": p.loss, "accuracy": p.accuracy} for p in points], columns=["step", "loss", "accuracy"])


def _controls(run_id: str, snapshot: dict[str, Any]) -> None:
    """Pause / resume / cancel; callbacks act before the rerun, so the redraw already shows the new state."""
    manager = get_job_manager()
    pause_column, cancel_column, _ = st.columns([1, 1, 4])
    with pause_column:
        if snapshot["paused"]:
            st.button("Resume", key=f"resume-{run_id}", icon=":material/play_arrow:", on_click=manager.resume, args=(run_id,))
        elif snapshot["phase"] in ("queued", "training"):
            st.button("Pause", key=f"pause-{run_id}", icon=":material/pause:", on_click=manager.pause, args=(run_id,))
    with cancel_column:
        st.button("Cancel", key=f"cancel-{run_id}", icon=":material/stop:", on_click=manager.cancel, args=(run_id,))


def _queue_position(run_id: str) -> int:
    waiting = [s["run_id"] for s in get_job_manager().jobs() if s["phase"] == "queued"]
    return waiting.index(run_id) + 1 if run_id in waiting else 0


def live_progress(run_id: str) -> None:
    """The part of the page that polls: progress, controls, live curves (runs as a fragment)."""
    snapshot = get_job_manager().progress(run_id)
    if snapshot is None or snapshot["phase"] == "finished":
        if snapshot is not None and not st.session_state.get(FINISHED_SEEN_KEY, {}).get(run_id):
            st.session_state.setdefault(FINISHED_SEEN_KEY, {})[run_id] = True
            st.rerun(scope="app")  # redraw the whole page once, without polling
        return
    scheme = st.session_state.get("train_page.scheme_of", {}).get(run_id)
    phase, step, total = snapshot["phase"], snapshot["step"], snapshot["total_steps"]
    if phase == "queued":
        st.info(f"Run `{run_id}` is queued (position {_queue_position(run_id)}); it starts when a worker is free.", icon=":material/hourglass_top:")
    elif phase == "training":
        paused = " (paused)" if snapshot["paused"] else ""
        st.progress(min(1.0, step / max(total, 1)), text=f"Training `{run_id}`: step {step}/{total}{paused}")
    else:
        done = len(snapshot["eval_points"])
        st.progress(1.0, text=f"Evaluating `{run_id}`: {done} lengths done (greedy decoding)")
    _controls(run_id, snapshot)
    frame = _train_frame(snapshot["train_points"])
    if len(frame):
        last = frame.iloc[-1]
        accuracy = "n/a" if pd.isna(last["accuracy"]) else f"{last['accuracy']:.3f}"
        st.caption(f"Last logged step {int(last['step'])}: loss {last['loss']:.4g}, teacher-forced accuracy {accuracy}")
    if phase != "queued":
        st.plotly_chart(train_curve_figure(frame, scheme=scheme), key=f"live-curve-{run_id}", config=plotly_config(f"training-{run_id}"))
    if snapshot["eval_points"]:
        st.dataframe(pd.DataFrame([p.as_row() for p in snapshot["eval_points"]]), hide_index=True)


def finished_view(run_id: str) -> None:
    """A finished (or not managed here) run: banner, training curves, length sweep."""
    store = get_store()
    try:
        record = store.get_run(run_id)
    except (KeyError, LookupError):
        st.warning(f"Run `{run_id}` is no longer in the store.")
        return
    if record.status in ("queued", "running"):
        st.info(f"Run `{run_id}` is {record.status} in another process (the CLI?); refresh to update.")
    status_banner(record.status, record.error, breakdown_length=record.breakdown_length, train_length_max=record.train_length_max)
    scheme = record.config.get("positions", {}).get("scheme", "")
    st.plotly_chart(train_curve_figure(store.train_curve(run_id), scheme=scheme), key=f"final-curve-{run_id}", config=plotly_config(f"training-{run_id}"))
    if record.status != "done":
        return
    points = store.eval_curve([run_id], sweep="default")
    task = record.config.get("task", {})
    curve = SweepCurve(
        label=record.name or run_id,
        scheme=scheme,
        points=points,
        train_length_min=int(task.get("train_length_min", 1)),
        train_length_max=int(task.get("train_length_max", record.train_length_max or 1)),
        breakdown_length=record.breakdown_length,
        threshold=float(record.config.get("eval", {}).get("threshold", 0.9)),
    )
    st.subheader("Length sweep")
    st.plotly_chart(length_sweep_figure([curve]), key=f"sweep-{run_id}", config=plotly_config(f"length-sweep-{run_id}"))
    st.page_link("pages/length_sweep.py", label="Open in Length sweep", icon=":material/show_chart:", query_params={"runs": run_id})


def show_run(run_id: str) -> None:
    snapshot = get_job_manager().progress(run_id)
    if snapshot is not None and snapshot["phase"] != "finished":
        st.fragment(live_progress, run_every=1.0)(run_id)
    else:
        finished_view(run_id)


def main() -> None:
    page_intro("Train", "Pick a task and a way of encoding positions, train a small transformer on short inputs, then see how long an input it can still solve.")
    form_column, run_column = st.columns([5, 7], gap="large")
    with form_column:
        url_error = sync_from_url()
        if url_error is not None:
            st.error(
                f"The link's configuration was not usable, so the defaults are shown. "
                f"**{escape_markdown(url_error.field)}**: {escape_markdown(url_error.message)}",
                icon=":material/link:",
            )
        base = RunConfig.from_dict(st.session_state[BASE_KEY]) if BASE_KEY in st.session_state else RunConfig()
        if BASE_KEY not in st.session_state:
            st.session_state[BASE_KEY] = base.to_dict()

        values, seed, name = render_form(base)
        config: RunConfig | None = None
        errors: list[ConfigError] = []
        try:
            config = config_from_flat(values, base)
        except ConfigError as error:
            errors.append(error)
        if config is not None:
            errors.extend(app_cap_violations(config))
            st.session_state[BASE_KEY] = config.to_dict()
            write_url(config, seed)
        if config is not None and not errors:
            try:
                estimate = admit(config, seed, get_job_manager().budget)
            except ConfigError as error:
                errors.append(error)
            else:
                st.caption(f"Cost check passed: {estimate.summary()}.")
        for error in errors:
            show_config_error(error)

        start_column, reset_column = st.columns(2)
        with start_column:
            start = st.button("Start training", type="primary", icon=":material/rocket_launch:", key="train_page.start")
        with reset_column:
            st.button("Reset to defaults", key="train_page.reset", on_click=_load_into_widgets, args=(RunConfig(), 0))
        if start:
            if errors or config is None:
                st.error("Not started: fix the fields above first.", icon=":material/error:")
            else:
                try:
                    run_id = get_job_manager().submit(config, seed, name=name.strip() or None)
                except ConfigError as error:
                    show_config_error(error)
                else:
                    st.session_state[RUN_KEY] = run_id
                    st.session_state[SHOW_KEY] = run_id
                    st.session_state.setdefault(MY_RUNS_KEY, []).append(run_id)
                    st.session_state.setdefault("train_page.scheme_of", {})[run_id] = config.positions.scheme

    with run_column:
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
        show_run(st.session_state.get(RUN_KEY, my_runs[-1]))


if __name__ == "__main__":
    main()
