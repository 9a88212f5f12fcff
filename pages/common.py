"""Resources and conventions every page shares.

The run store and the job manager live once per server process
(``st.cache_resource``); pages only read state, call lengen_core and draw.
Besides those this module holds what more than one page needs and what tests
exercise without a browser:

- the (config, seed) a Train-page link describes (the config's text form is
  :mod:`lengen_core.params`, shared with the CLI);
- the app's server-side caps (:func:`app_caps`, :func:`app_cap_violations`),
  tighter than :data:`lengen_core.config.LIMITS` and set from the environment;
- scheme colours, Markdown escaping of user text, and small widgets (page
  intro, job queue, run status banner, config errors).

Widgets bound to the URL are in :mod:`pages.binding`, figures in :mod:`pages.charts`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from lengen_core.config import LIMITS, POSITION_SCHEMES, RunConfig, check_seed
from lengen_core.errors import ConfigError, LenGenError, StoreError, shown
from lengen_core.jobs import JobManager
from lengen_core.params import config_from_params
from lengen_core.store import FINAL_STATUSES, RunStore, default_store_path
from pages.legacy_mode import ensure_app_shell

# One colour per position scheme, the same on every page and chart.
SCHEME_COLORS: dict[str, str] = {
    "nope": "#7f7f7f",
    "learned": "#d62728",
    "sinusoidal": "#ff7f0e",
    "rope": "#9467bd",
    "alibi": "#8c564b",
    "fire": "#e377c2",
    "randomized": "#bcbd22",
    "coupled": "#2ca02c",
    "predictive_coupled": "#17becf",
    "abacus": "#1f77b4",
}
assert set(SCHEME_COLORS) == set(POSITION_SCHEMES)

# Final states of a run; anything else is still queued or running.
ALL_STATUSES: tuple[str, ...] = ("queued", "running", *FINAL_STATUSES)



def scheme_color(scheme: str) -> str:
    return SCHEME_COLORS.get(scheme, "#333333")


# --------------------------------------------------------------------------- caps


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def max_concurrent_jobs() -> int:
    """Bound on simultaneous training jobs (``LENGEN_MAX_JOBS``, default 2)."""
    return max(1, _env_int("LENGEN_MAX_JOBS", 2))


@dataclass(frozen=True)
class Cap:
    """One server-side cap: the config field it bounds, its limit and where the limit comes from."""

    field: str
    limit: int
    source: str


def app_caps() -> dict[str, Cap]:
    """The app's caps, each ``min(environment value, lengen_core LIMITS)``; read on every call."""

    def cap(field_name: str, env: str, default: int, hard: int) -> Cap:
        return Cap(field_name, min(_env_int(env, default), hard), env)

    return {
        "train.steps": cap("train.steps", "LENGEN_APP_MAX_STEPS", 20_000, LIMITS["max_steps"]),
        "train.time_budget_s": cap("train.time_budget_s", "LENGEN_APP_MAX_TIME_S", 3600, LIMITS["max_time_budget_s"]),
        "train.batch_size": cap("train.batch_size", "LENGEN_APP_MAX_BATCH", 256, LIMITS["max_batch_size"]),
        "model.n_layers": cap("model.n_layers", "LENGEN_APP_MAX_LAYERS", 6, LIMITS["max_layers"]),
        "model.n_heads": cap("model.n_heads", "LENGEN_APP_MAX_HEADS", 8, LIMITS["max_heads"]),
        "model.d_model": cap("model.d_model", "LENGEN_APP_MAX_D_MODEL", 512, LIMITS["max_d_model"]),
        "model.d_ff": cap("model.d_ff", "LENGEN_APP_MAX_D_FF", 2048, LIMITS["max_d_ff"]),
        "task.train_length_max": cap("task.train_length_max", "LENGEN_APP_MAX_TRAIN_LENGTH", 128, LIMITS["max_length"]),
        "eval.lengths": cap("eval.lengths", "LENGEN_APP_MAX_EVAL_LENGTH", 512, LIMITS["max_length"]),
        "eval.samples_per_length": cap("eval.samples_per_length", "LENGEN_APP_MAX_EVAL_SAMPLES", 1000, LIMITS["max_eval_samples"]),
        "jobs.queued": cap("jobs.queued", "LENGEN_APP_MAX_QUEUED", 32, 10_000),
        "sweep.runs": cap("sweep.runs", "LENGEN_APP_MAX_SWEEP_RUNS", 64, 512),
    }


def _cap_error(cap: Cap, value: Any, what: str = "") -> ConfigError:
    return ConfigError(cap.field, f"{what or value} is above this app's limit of {cap.limit} (set by {cap.source})")


def app_cap_violations(config: RunConfig) -> list[ConfigError]:
    """Every field of ``config`` over an app cap, as ConfigErrors naming the field and the limit."""
    caps = app_caps()
    errors = []
    values = {
        "train.steps": config.train.steps,
        "train.batch_size": config.train.batch_size,
        "model.n_layers": config.model.n_layers,
        "model.n_heads": config.model.n_heads,
        "model.d_model": config.model.d_model,
        "model.d_ff": config.model.d_ff,
        "task.train_length_max": config.task.train_length_max,
        "eval.samples_per_length": config.eval.samples_per_length,
    }
    if config.train.time_budget_s is not None:
        values["train.time_budget_s"] = config.train.time_budget_s
    for name, value in values.items():
        if value > caps[name].limit:
            errors.append(_cap_error(caps[name], value))
    longest = max(eval_lengths(config))
    if longest > caps["eval.lengths"].limit:
        errors.append(_cap_error(caps["eval.lengths"], longest, f"the longest evaluation length {longest}"))
    return errors


def eval_lengths(config: RunConfig) -> list[int]:
    """The lengths the run's own sweep will test."""
    from lengen_core.evaluation import resolve_eval_lengths
    from lengen_core.tasks.base import build_task

    return resolve_eval_lengths(config.task, config.eval, build_task(config.task.name, config.task.options))


# --------------------------------------------------------------------------- links


def run_setup_from_query_params(params: Mapping[str, str | Sequence[str]]) -> tuple[RunConfig, int]:
    """The (config, seed) a Train-page link describes; any bad value is a ConfigError naming its key."""
    config = config_from_params(params)
    raw = params.get("seed", "0")
    text = str(raw[-1] if isinstance(raw, (list, tuple)) and raw else raw).strip()
    if not re.fullmatch(r"\d{1,20}", text):
        raise ConfigError("seed", f"must be an integer between 0 and {LIMITS['max_seed']}, got {shown(text)}")
    return config, check_seed(int(text))


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


_MANAGERS: list[JobManager] = []


@st.cache_resource
def get_job_manager() -> JobManager:
    """The one job manager of this server process: bounded worker threads + FIFO queue.

    The cores are shared out among the concurrent jobs (torch's intra-op
    threads are process-wide): two jobs on two cores use one thread each instead
    of four threads fighting over two cores and the page scripts.
    """
    import torch

    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max_concurrent_jobs()))
    manager = JobManager(get_store(), max_concurrent=max_concurrent_jobs(), max_queued=app_caps()["jobs.queued"].limit)
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


# --------------------------------------------------------------------------- export


# --------------------------------------------------------------------------- small widgets


def page_intro(title: str, explanation: str) -> None:
    """Page title and the one-line explanation every page starts with (rerouted through app.py if needed)."""
    ensure_app_shell()
    st.title(title)
    st.caption(explanation)


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=&^\"'])")


_AUTOLINK_TRIGGERS = re.compile(r"(:/)(/)|(www)(\.)|(@)", re.IGNORECASE)
WORD_JOINER = "\u2060"  # invisible; splits a URL or e-mail address so the front end does not linkify it


def escape_markdown(text: Any) -> str:
    """``text`` with every Markdown character backslash-escaped, so it shows as typed.

    Text that comes from a user (a URL parameter, a typed example, a value in an
    error message) goes through this before it reaches ``st.markdown`` / ``st.error``:
    a crafted link must not draw a clickable link or make the browser fetch an image.
    Streamlit's front end also turns bare URLs and e-mail addresses into links
    after the Markdown is parsed (backslash escapes do not stop that, measured in
    Chromium), so an invisible word joiner goes inside ``://``, ``www.`` and after ``@``.
    """
    joined = _AUTOLINK_TRIGGERS.sub(lambda match: WORD_JOINER.join(part for part in match.groups() if part) + (WORD_JOINER if match.group(5) else ""), str(text))
    return _MARKDOWN_SPECIAL.sub(r"\\\1", joined).replace("\n", " ")


def code_span(text: Any, limit: int = 80) -> str:
    """``text`` as inline code (cut to ``limit`` characters), safe whatever backticks it holds."""
    value = " ".join(str(text).split())
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {value} {fence}" if longest else f"`{value}`" if value else "``"


def show_config_error(error: LenGenError) -> None:
    """A user-caused error as an st.error naming the field (never a traceback, never user Markdown)."""
    if isinstance(error, ConfigError):
        st.error(f"**{escape_markdown(error.field)}**: {escape_markdown(error.message)}", icon=":material/error:")
    else:
        st.error(escape_markdown(error), icon=":material/error:")


def status_banner(status: str, error: str | None, *, breakdown_length: int | None = None, train_length_max: int | None = None) -> None:
    """A clear banner for a run's final state."""
    first_line = escape_markdown((error or "").strip().splitlines()[0]) if error and error.strip() else ""
    if status == "done":
        if breakdown_length is None:
            st.success("Run finished. Exact match is below the threshold even at the shortest tested length.", icon=":material/check_circle:")
        else:
            ratio = f" ({breakdown_length / train_length_max:.2g}x the training length {train_length_max})" if train_length_max else ""
            st.success(f"Run finished. Breakdown length: **{breakdown_length}**{ratio}.", icon=":material/check_circle:")
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


def render_job_queue() -> None:
    """Running and queued jobs of this server (the sidebar shows it on every page)."""
    manager = get_job_manager()
    snapshots = manager.jobs()
    active = [s for s in snapshots if s["phase"] in ("training", "evaluating")]
    waiting = [s for s in snapshots if s["phase"] == "queued"]
    st.markdown(f"**Jobs**: {len(active)} running, {len(waiting)} queued (at most {manager.max_concurrent} at once)")
    for snapshot in active:
        fraction = min(1.0, snapshot["step"] / max(snapshot["total_steps"], 1))
        label = "evaluating" if snapshot["phase"] == "evaluating" else f"step {snapshot['step']}/{snapshot['total_steps']}"
        st.progress(fraction, text=f"`{snapshot['run_id']}` {label}{' (paused)' if snapshot['paused'] else ''}")
    for position, snapshot in enumerate(waiting, start=1):
        st.caption(f"{position}. `{snapshot['run_id']}` waiting")


def job_queue_fragment() -> None:
    """:func:`render_job_queue` refreshed every few seconds while jobs are running or queued."""
    manager = get_job_manager()
    busy = manager.active_count() + manager.queued_count() > 0
    st.fragment(run_every=2.0 if busy else None)(render_job_queue)()


def plotly_config(filename: str) -> dict[str, Any]:
    """Plotly toolbar settings: PNG download named after the chart."""
    return {
        "displaylogo": False,
        "displayModeBar": True,
        "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2},
    }


__all__ = [
    "ALL_STATUSES",
    "code_span",
    "escape_markdown",
    "FINAL_STATUSES",
    "SCHEME_COLORS",
    "app_cap_violations",
    "app_caps",
    "get_job_manager",
    "get_store",
    "scheme_color",
]
