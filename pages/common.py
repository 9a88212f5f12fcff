"""Resources and conventions every page shares.

The run store and the job manager live once per server process
(``st.cache_resource``); pages only read state, call lengen_core and draw.
Besides those this module holds what more than one page needs and what tests
exercise without a browser:

- the (config, seed) a Train-page link describes (the config's text form is
  :mod:`lengen_core.params`, shared with the CLI);
- scheme colours and small widgets (page intro, progress bar, run status
  banner, config errors).

The sidebar's job queue is :mod:`pages.job_queue`, the app's caps are in :mod:`pages.caps`, escaping of user text in
:mod:`pages.escaping`, widgets bound to the URL in :mod:`pages.binding`,
figures in :mod:`lengen_core.charts`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from lengen_core.charts.progress import progress_bar_markup
from lengen_core.config import LIMITS, RunConfig, check_seed
from lengen_core.costs import duration_text
from lengen_core.cpus import usable_cpus
from lengen_core.demo_runs import import_demo_runs
from lengen_core.errors import ConfigError, LenGenError, StoreError, shown
from lengen_core.length_search import INTERVAL_RULE
from lengen_core.params import config_from_params
from lengen_core.runs.manager import JobManager
from lengen_core.store import FINAL_STATUSES, RunStore, default_store_path
from pages.caps import app_caps, max_concurrent_jobs, share_identical_runs
from pages.escaping import escape_markdown
from pages.legacy_mode import ensure_app_shell

# Every status a run can have, the live ones first.
ALL_STATUSES: tuple[str, ...] = ("queued", "running", *FINAL_STATUSES)


# --------------------------------------------------------------------------- links


def run_setup_from_query_params(params: Mapping[str, str | Sequence[str]]) -> tuple[RunConfig, int]:
    """The (config, seed) a Train-page link describes; any bad value is a ConfigError naming its key."""
    config = config_from_params(params)
    raw = params.get("seed", "0")
    text = str(raw[-1] if isinstance(raw, (list, tuple)) and raw else raw).strip()
    if not re.fullmatch(r"\d{1,20}", text):
        raise ConfigError("seed", f"must be an integer between 0 and {LIMITS['max_seed']}, got {shown(text)}")
    return config, check_seed(int(text))


def usable_run_setup(params: Mapping[str, str | Sequence[str]]) -> tuple[RunConfig, int, list[ConfigError], bool]:
    """(config, seed, errors, kept): a link's run setup with each refused field left at its default, so one typo does
    not throw a whole link away; ``kept`` False when an error names no field of the link (a rule across fields), and
    the defaults stand instead."""
    params, errors = dict(params), []
    while True:
        try:
            config, seed = run_setup_from_query_params(params)
            return config, seed, errors, True
        except ConfigError as caught:
            errors.append(caught)
            if caught.field not in params:
                return RunConfig(), 0, errors, False
            del params[caught.field]


def parse_id_list(text: str | Sequence[str] | None) -> list[str]:
    """``"a,b, c"`` (or a list of such) -> ``["a", "b", "c"]``, order kept, duplicates dropped."""
    if text is None:
        return []
    parts = [text] if isinstance(text, str) else list(text)
    seen: dict[str, None] = {}
    for part in parts:
        for item in str(part).split(","):
            if item.strip():
                seen[item.strip()] = None
    return list(seen)


# --------------------------------------------------------------------------- shared resources


@st.cache_resource
def get_store() -> RunStore:
    """The app's run store (``$LENGEN_DB`` or data/runs.duckdb)."""
    return RunStore(default_store_path())


@st.cache_resource(show_spinner="Loading the bundled demo runs…")
def _import_demo_runs_once(store_path: str) -> str:
    """Import data/demo into the store at ``store_path`` once per server process (idempotent anyway)."""
    report = import_demo_runs(get_store())
    return f"{len(report.imported)} imported, {len(report.skipped)} already present"


def ensure_demo_runs() -> None:
    """Make sure the bundled demo runs are in the app's store; if they cannot be loaded, a warning says why.

    app.py calls it on every page (``LENGEN_DEMO_RUNS``, :func:`pages.caps.demo_runs_at_launch`), so the Length sweep,
    Compare and Runs pages of a fresh store show them too; the Lessons, Attention and Position IDs pages, which need
    them, call it either way."""
    try:
        _import_demo_runs_once(str(get_store().path))
    except (LenGenError, OSError) as error:
        st.warning(f"The bundled demo runs could not be loaded: {escape_markdown(error)}", icon=":material/warning:")


_MANAGERS: list[JobManager] = []


@st.cache_resource
def get_ray_sweeps() -> Any:
    """The server's Ray sweeps (:class:`lengen_core.ray_runner.BackgroundSweeps`) when ``LENGEN_RUNNER=ray``, else None.

    A bad setting raises ConfigError naming the variable (the Compare page shows it).
    """
    from lengen_core.ray_runner import BackgroundSweeps, app_ray_settings

    settings = app_ray_settings()
    return None if settings is None else BackgroundSweeps(settings)


def app_ray_jobs() -> Any:
    """The job manager's Ray runner (:class:`lengen_core.ray_runner.RayJobs`) when ``LENGEN_RUNNER=ray``, else None.

    A bad setting leaves the jobs on this server (the Compare page and the sidebar say why)."""
    from lengen_core.ray_runner import RayJobs, app_ray_settings

    try:
        settings = app_ray_settings()
    except ConfigError:
        return None
    return None if settings is None else RayJobs(settings)


@st.cache_resource
def get_job_manager() -> JobManager:
    """The one job manager of this server process: bounded worker threads + FIFO queue.

    The cores are shared out among the running jobs by the manager (a job
    alone uses them all; two on two cores use one thread each instead of four
    threads fighting over two cores). The count set here is the page scripts'
    own and the default of threads started later.
    """
    import torch

    torch.set_num_threads(max(1, usable_cpus() // max_concurrent_jobs()))
    manager = JobManager(
        get_store(),
        max_concurrent=max_concurrent_jobs(),
        max_queued=app_caps()["jobs.queued"].limit,
        probe_speed=True,
        share_identical=share_identical_runs(),
        remote=app_ray_jobs(),
    )
    _MANAGERS.append(manager)
    return manager


def shutdown_resources() -> None:
    """Stop every job manager this process created and drop the cached resources (tests)."""
    while _MANAGERS:
        _MANAGERS.pop().shutdown(cancel_running=True)
    st.cache_resource.clear()


def listed_runs(**filters: Any) -> pd.DataFrame | None:
    """``get_store().list_runs(**filters)``, or None after an error box saying why the store cannot be read."""
    try:
        return get_store().list_runs(**filters)
    except StoreError as error:
        st.error(escape_markdown(error), icon=":material/error:")
        return None


def task_classes() -> dict[str, type]:
    """Registered tasks by name (the registry fills itself on import)."""
    from lengen_core.tasks.base import TASK_REGISTRY, task_names

    return {name: TASK_REGISTRY[name] for name in task_names()}


# --------------------------------------------------------------------------- small widgets


def page_intro(title: str, explanation: str) -> None:
    """Page title and the one-line explanation every page starts with (rerouted through app.py if needed)."""
    ensure_app_shell()
    st.title(title)
    st.caption(explanation)


def show_config_error(error: LenGenError) -> None:
    """A user-caused error as an st.error naming the field (never a traceback, never user Markdown)."""
    if isinstance(error, ConfigError):
        st.error(f"**{escape_markdown(error.field)}**: {escape_markdown(error.message)}", icon=":material/error:")
    else:
        st.error(escape_markdown(error), icon=":material/error:")


def status_banner(status: str, error: str | None, *, breakdown: str | None = None) -> None:
    """A clear banner for a run's final state; ``breakdown``: the breakdown as
    :class:`lengen_core.breakdown.Breakdown` writes it (``≥ L`` with its reason when it is a bound)."""
    first_line = escape_markdown((error or "").strip().splitlines()[0]) if error and error.strip() else ""
    if status == "done":
        if breakdown is None or breakdown.startswith("none"):
            st.warning(
                "Run finished, but exact match is below the threshold even at the shortest tested length: the model did "
                "not learn the task at the lengths tested.",
                icon=":material/school:",
            )
        else:
            st.success(f"Run finished. Breakdown length: **{escape_markdown(breakdown)}**.", icon=":material/check_circle:")
            st.caption(escape_markdown(INTERVAL_RULE.capitalize()) + ".")
        if first_line:
            st.warning(first_line, icon=":material/timer:")
    elif status == "diverged":
        st.error(f"**Training diverged**: {first_line or 'the loss became NaN or exploded'}. Try a lower learning rate.", icon=":material/error:")
    elif status == "failed":
        st.error(f"**Run failed**: {first_line or 'unknown error'}", icon=":material/error:")
        if error and error.strip() != first_line:
            with st.expander("Error details"):
                st.code(error)
    elif status == "cancelled":
        st.warning(f"Run cancelled. {first_line}", icon=":material/stop:")
    elif status == "interrupted":
        st.warning("Run interrupted: the app stopped while it was training.", icon=":material/warning:")


def number_columns(columns: Sequence[str], digits: int = 3) -> dict[str, Any]:
    """``st.dataframe`` column settings that print these columns with ``digits`` decimals (never ``4.000000``)."""
    return {column: st.column_config.NumberColumn(format=f"%.{digits}f") for column in columns}


def progress_bar(fraction: float, text: str, *, done: bool = False) -> None:
    """A progress line (markdown) over a flat bar: what the polling fragments draw instead of ``st.progress``.

    Streamlit's own bar animates every change, and the pages that poll redraw
    it every second or two in every open tab: in a software-rendered Chromium
    four tabs spent 0.41 cores on ``st.progress`` and 0.13 on this bar, the
    same as plain text (``bench/bench_polling_cost.py``, docs/benchmarks.md).
    """
    st.markdown(f"{text}\n\n{progress_bar_markup(fraction, done=done)}", unsafe_allow_html=True)


def jobs_ahead_text(manager: JobManager) -> str:
    """``, after about 2.5 min of jobs already queued or running`` (empty when nothing is ahead)."""
    ahead = manager.seconds_left()
    return f", after about {duration_text(ahead)} of jobs already queued or running" if ahead > 1 else ""


def plotly_config(filename: str) -> dict[str, Any]:
    """Plotly toolbar settings: PNG download named after the chart."""
    return {"displaylogo": False, "displayModeBar": True, "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2}}
