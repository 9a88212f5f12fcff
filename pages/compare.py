"""Compare: a task x position-scheme grid of breakdown ratios, launched as a sweep from this page.

Every cell x seed is one run submitted to the job manager with the tag
``sweep:<name>`` (or, on a server started with ``LENGEN_RUNNER=ray``, queued
at once and sent to Ray: :class:`lengen_core.ray_runner.BackgroundSweeps`);
the grid reads the runs of that tag from the store and fills in as they finish
(a fragment polls while any is queued or running). Seeds are pooled per cell:
median breakdown ratio with its min-max spread.
"""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from lengen_core.charts.grid import GRID_CAPTION, cell_runs, cell_words, compare_grid_figure, grid_cells, grid_summary, is_mixture_row, with_partner_rows
from lengen_core.compare_defaults import (
    DEFAULT_SCHEMES,
    DEFAULT_TASKS,
    LAUNCH_NUMBERS,
    LAUNCH_UNTIL_LEARNED,
    UNTIL_LEARNED_CAUTION,
    launcher_cells,
    launcher_warnings,
    suggested_steps,
)
from lengen_core.config import POSITION_SCHEMES, RunConfig
from lengen_core.costs import duration_text
from lengen_core.errors import ConfigError, StoreError
from lengen_core.run_listing import sweep_name_of, sweep_tag, sweep_tags
from lengen_core.runs.admission import SweepRoom, check_sweep_name, sweep_launch_errors
from pages.binding import url_picker
from pages.caps import app_cap_violations, app_caps
from pages.common import (
    get_job_manager,
    get_ray_sweeps,
    get_store,
    jobs_ahead_text,
    listed_runs,
    number_columns,
    page_intro,
    plotly_config,
    progress_bar,
    show_config_error,
    task_classes,
)
from pages.escaping import code_span, escape_markdown

SWEEP_KEY = "compare_page.sweep"
CELL_KEY = "compare_page.cell"
TABLE_KEY = "compare_page.table"
ALL_RUNS = "(all runs)"


def launch_form() -> None:
    """The sweep launcher: choose tasks, schemes, seeds and budget, see the estimated time, launch; every cell
    goes through the job manager (plain widgets, not a form, so the estimate follows every change)."""
    tasks = task_classes()
    task_names = list(tasks)
    name = st.text_input("Sweep name", value=time.strftime("sweep-%Y%m%d-%H%M%S"), key="compare_page.name")
    chosen_tasks = st.multiselect("Tasks", task_names, default=[t for t in DEFAULT_TASKS if t in task_names] or task_names[:1], key="compare_page.tasks")
    chosen_schemes = st.multiselect("Position schemes", list(POSITION_SCHEMES), default=list(DEFAULT_SCHEMES), key="compare_page.schemes")
    steps_from_calibration(chosen_tasks, chosen_schemes)
    numbers = {}
    for row in (LAUNCH_NUMBERS[:4], LAUNCH_NUMBERS[4:8], LAUNCH_NUMBERS[8:]):
        for column, (field, label, minimum, default, step) in zip(st.columns(4), row):
            with column:
                st.session_state.setdefault(f"compare_page.{field}", default)  # one source of each value: session state
                numbers[field] = st.number_input(label, min_value=minimum, step=step, key=f"compare_page.{field}")
    until_learned = st.checkbox(
        "Stop each run once its training range is learned",
        value=LAUNCH_UNTIL_LEARNED,
        key="compare_page.until_learned",
        help="Every 250 steps a run decodes held-out examples of its training lengths; two checks in a row at or above the "
        "breakdown threshold end its training there (the steps stay the upper bound). Each run records why it stopped. "
        f"Off by default: {UNTIL_LEARNED_CAUTION}",
    )
    for note in launcher_warnings(chosen_tasks, chosen_schemes, numbers):
        st.warning(escape_markdown(note), icon=":material/school:")
    plan = planned_cells(chosen_tasks, chosen_schemes, numbers, until_learned)
    if plan is not None:
        launch_estimate(plan[0])
    submitted = st.button("Launch sweep", type="primary", icon=":material/rocket_launch:", key="compare_page.launch")
    if not submitted:
        return
    if not chosen_tasks or not chosen_schemes:
        show_config_error(ConfigError("sweep", "choose at least one task and one scheme"))
        return
    if plan is None:
        return
    cells, skipped = plan
    for note in skipped:
        st.warning(f"Skipped {escape_markdown(note)}", icon=":material/skip_next:")
    manager = get_job_manager()
    try:
        name = check_sweep_name(name)
        ray_sweeps = get_ray_sweeps()
    except ConfigError as error:
        show_config_error(error)
        return
    cap = app_caps()["sweep.runs"]
    queue_free = None if ray_sweeps is not None else manager.max_queued - manager.queued_count()
    room = SweepRoom(cap.limit, cap.source, queue_free, manager.max_queued)
    errors = sweep_launch_errors(cells, room, manager.budget, app_cap_violations)
    for error in errors:
        show_config_error(error)
    if errors:
        return
    submitted_ids = []
    if ray_sweeps is not None:
        try:
            submitted_ids = ray_sweeps.launch(get_store(), cells, tag=name, budget=manager.budget)
        except ConfigError as error:
            show_config_error(error)
        cells = []  # sent to Ray, not to the job manager
    submissions, refused = manager.request_sweep(cells, name)
    if refused is not None:
        show_config_error(refused)
    submitted_ids += [submission.run_id for submission in submissions]
    shared = sum(submission.shared is not None for submission in submissions)
    if shared:
        st.info(
            f"{shared} of these runs had the same settings and seed as a run already trained or training here; the sweep shares them.", icon=":material/group:"
        )
    if submitted_ids:
        st.session_state[SWEEP_KEY] = sweep_tag(name)
        where = f" to Ray ({escape_markdown(ray_sweeps.settings.where())})" if ray_sweeps is not None else ""
        st.success(f"Sweep {code_span(name)}: {len(submitted_ids)} runs submitted{where}.", icon=":material/check_circle:")


def steps_from_calibration(chosen_tasks: list[str], chosen_schemes: list[str]) -> None:
    """When the chosen tasks or schemes change, the steps field takes the calibration's steps for them
    (:data:`lengen_core.compare_defaults.CALIBRATION`); a user's own number stands until the choice changes."""
    choice = (tuple(chosen_tasks), tuple(chosen_schemes))
    if st.session_state.get("compare_page.steps_for") == choice:
        return
    st.session_state["compare_page.steps_for"] = choice
    steps = suggested_steps(chosen_tasks, chosen_schemes)
    if steps is not None:
        st.session_state["compare_page.steps"] = steps


def planned_cells(
    chosen_tasks: list[str], chosen_schemes: list[str], numbers: dict, until_learned: bool
) -> tuple[list[tuple[RunConfig, int]], list[str]] | None:
    """The launcher's cells x seeds (and the combinations left out), or None after an error box naming the field."""
    try:
        return launcher_cells(chosen_tasks, chosen_schemes, numbers, until_learned)
    except ConfigError as error:
        show_config_error(error)
        return None


def launch_estimate(cells: list[tuple[RunConfig, int]]) -> None:
    """The sweep's time by the cost model, after the jobs already ahead of it in this server's queue."""
    if not cells:
        return
    manager = get_job_manager()
    total = manager.batch_seconds([config for config, _ in cells])
    wait = jobs_ahead_text(manager)
    learned = " at most (runs that learn their range stop sooner)" if cells[0][0].train.stop_when_learned else ""
    st.info(
        f"**{len(cells)} runs**, about **{duration_text(total)}**{learned} on this machine, {manager.max_concurrent} at a time{wait}.", icon=":material/timer:"
    )


def apply_table_selection(event: object, table: pd.DataFrame) -> None:
    """A clicked grid cell becomes the chosen cell (once per new click; the picker stays free otherwise)."""
    cells = list(getattr(getattr(event, "selection", None), "cells", None) or [])
    if not cells:
        st.session_state.pop("compare_page.clicked", None)
        return
    row, column = cells[0]
    if st.session_state.get("compare_page.clicked") == (row, column):
        return
    st.session_state["compare_page.clicked"] = (row, column)
    if column in table.columns and 0 <= int(row) < len(table):
        st.session_state[CELL_KEY] = f"{table.index[int(row)]} / {column}"


def ray_controls(tag: str | None) -> None:
    """For a sweep this server drives on Ray: where it runs, and a button that cancels it."""
    try:
        ray_sweeps = get_ray_sweeps()
    except ConfigError:
        return  # shown where a sweep is launched
    name = sweep_name_of(tag or "")
    if ray_sweeps is None or name not in ray_sweeps.running():
        return
    st.caption(f"Running on Ray: {escape_markdown(ray_sweeps.settings.where())}, {ray_sweeps.settings.cpus_per_run} CPU(s) per run.")
    st.button("Cancel this sweep", key="compare_page.cancel_ray", icon=":material/stop:", on_click=ray_sweeps.cancel, args=(name,))


def part_sweeps(runs: pd.DataFrame) -> pd.DataFrame | None:
    """The own sweeps of the other tasks of the finished mixture runs among ``runs`` (None when there are none)."""
    mixtures = runs[runs["mixture"].notna() & (runs["status"] == "done")]["run_id"].tolist() if "mixture" in runs else []
    if not mixtures:
        return None
    try:
        return get_store().part_sweeps(mixtures)
    except StoreError as error:
        st.error(escape_markdown(error), icon=":material/error:")
        return None


def grid_view(tag: str | None) -> None:
    """The grid of the chosen sweep (a fragment that polls while runs are pending)."""
    runs = listed_runs(tag=tag) if tag else listed_runs()
    if runs is None:
        return
    if len(runs) == 0:
        st.info("No runs in this sweep yet.")
        return
    total, done = len(runs), int((runs["status"] == "done").sum())
    active = int(runs["status"].isin(["queued", "running"]).sum())
    runs = with_partner_rows(runs, part_sweeps(runs))  # a mixture's other tested tasks: rows of their own
    cells = grid_cells(runs)
    left = ""
    if active:
        seconds = get_job_manager().seconds_left(set(runs["run_id"]))
        left = f", about {duration_text(seconds)} left" if seconds > 1 else ""
    progress_bar(done / max(total, 1), f"{done}/{total} runs done, {active} queued or running{left}", done=not active)
    st.markdown(grid_summary(cells[~cells["task"].map(is_mixture_row)]) + ".")
    single = cells[~cells["task"].map(is_mixture_row)]
    mixtures = cells[cells["task"].map(is_mixture_row)]
    if len(single):
        st.plotly_chart(compare_grid_figure(single), key="compare_page.grid", config=plotly_config(f"compare-{(tag or 'all').replace(':', '-')}"))
    if len(mixtures):
        with st.expander(f"Multi-task runs ({mixtures['task'].nunique()} rows: each mixture, and each of its other tasks)"):
            st.plotly_chart(compare_grid_figure(mixtures), key="compare_page.mixture_grid", config=plotly_config("compare-mixtures"))
    st.caption(GRID_CAPTION + " Hover a cell for each run's n, interval and verdict; click a cell in the table to open its runs.")
    table = cells.assign(text=cells.apply(cell_words, axis=1)).pivot(index="task", columns="scheme", values="text")
    event = st.dataframe(table, key=TABLE_KEY, on_select="rerun", selection_mode="single-cell")
    apply_table_selection(event, table)

    labels = [f"{row.task} / {row.scheme}" for row in cells.itertuples() if row.runs]
    if not labels:
        return
    if st.session_state.get(CELL_KEY) not in labels:
        st.session_state[CELL_KEY] = labels[0]
    label = st.selectbox("Cell", labels, key=CELL_KEY)
    task, scheme = label.split(" / ", 1)
    in_cell = cell_runs(runs, cells, task, scheme)
    members = in_cell[["run_id", "seed", "status", "breakdown_length", "train_length_max", "breakdown_ratio", "in_distribution", "steps_done", "stop_reason"]]
    st.dataframe(members, hide_index=True, key="compare_page.members", column_config=number_columns(["breakdown_ratio", "in_distribution"], 2))
    finished = members[members["status"] == "done"]["run_id"].tolist()
    links = st.columns(2)
    with links[0]:
        if finished:
            st.page_link(
                "pages/length_sweep.py",
                label="Length sweep of this run" if len(finished) == 1 else f"Length sweeps of these {len(finished)} runs",
                icon=":material/show_chart:",
                query_params={"runs": ",".join(finished)},
            )
    with links[1]:
        params = {"task": in_cell["run_task"].iloc[0], "scheme": scheme.split("+")[0]}  # the runs' own task; learned+offsets: by scheme
        if tag:
            params["q"] = tag
        st.page_link("pages/runs.py", label="These runs on the Runs page", icon=":material/database:", query_params=params)
    if active:
        st.caption("Updating every 2 s while runs are pending.")
        ray_controls(tag)
    was_busy = st.session_state.get("compare_page.was_busy", False)
    st.session_state["compare_page.was_busy"] = active > 0
    if was_busy and not active:
        st.rerun(scope="app")  # the sweep just finished: redraw once and stop polling


def main() -> None:
    page_intro(
        "Compare", "Which position encodings generalize to longer inputs on which tasks? Each cell is the breakdown length divided by the training length."
    )
    with st.expander("Launch a sweep", expanded=False):
        launch_form()
    runs = listed_runs()
    if runs is None:
        return
    tags = sweep_tags(runs)
    options = tags + [ALL_RUNS]
    chosen = url_picker("compare_page", "sweep", "Sweep", options, key=SWEEP_KEY, omit=ALL_RUNS, to_text=sweep_name_of, format_func=sweep_name_of)
    tag = None if chosen == ALL_RUNS else chosen
    pending = runs if tag is None else runs[runs["tags"].map(lambda tags: tag in list(tags) if tags is not None else False)]
    busy = bool(pending["status"].isin(["queued", "running"]).any()) if len(pending) else False
    st.fragment(grid_view, run_every=2.0 if busy else None)(tag)


if __name__ == "__main__":
    main()
