"""Resources and conventions every page shares.

The run store and the job manager live once per server process
(``st.cache_resource``); pages only read state, call lengen_core and draw.

Besides the shared resources this module holds what more than one page needs
and what tests exercise without a browser:

- the URL codec of a :class:`RunConfig` (:func:`config_to_query_params` /
  :func:`config_from_query_params`): flattened dotted keys, only the values
  that differ from the defaults, so a link stays short and reproduces the run;
- the app's server-side caps (:func:`app_caps`, :func:`app_cap_violations`),
  tighter than :data:`lengen_core.config.LIMITS` and set from the environment;
- extra length sweeps of a finished run in a background thread
  (:class:`ExtraSweepRunner`), run export to bytes for download buttons, and
  small widgets (page intro, job queue, run status banner).
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import tempfile
import typing
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from lengen_core.config import LIMITS, POSITION_SCHEMES, RunConfig, check_seed, flatten, set_dotted
from lengen_core.errors import ConfigError, LenGenError, shown
from lengen_core.jobs import JobManager
from lengen_core.store import RunStore, default_store_path

# A folder named pages/ next to app.py puts Streamlit in its legacy multipage
# mode until st.navigation has run once: a page opened by its URL before app.py
# ever ran would run alone (no navigation, no sidebar). Leave that mode for good
# as soon as anything imports this module; ensure_app_shell() reruns the one
# script run that was already started in it.
PagesManager.uses_pages_directory = False

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
FINAL_STATUSES: tuple[str, ...] = ("done", "diverged", "failed", "cancelled", "interrupted")
ALL_STATUSES: tuple[str, ...] = ("queued", "running", *FINAL_STATUSES)

CONFIG_SECTIONS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RunConfig))


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


# --------------------------------------------------------------------------- URL codec


def _field_types(cls: type, prefix: str = "") -> dict[str, Any]:
    """Dotted field path -> annotated type, for every leaf field of a config dataclass."""
    hints = typing.get_type_hints(cls)
    types: dict[str, Any] = {}
    for config_field in dataclasses.fields(cls):
        hint = hints[config_field.name]
        path = f"{prefix}{config_field.name}"
        if dataclasses.is_dataclass(hint):
            types.update(_field_types(hint, path + "."))
        else:
            types[path] = hint
    return types


CONFIG_FIELD_TYPES: dict[str, Any] = _field_types(RunConfig)


def _encode(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return ",".join(_encode(item) for item in value)
    return str(value)


def _decode_bool(key: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ConfigError(key, f"must be true or false, got {text!r}")


def _decode_int(key: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ConfigError(key, f"must be an integer, got {text!r}") from None


def _decode_float(key: str, text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ConfigError(key, f"must be a number, got {text!r}") from None


def _decode(key: str, hint: Any, text: str) -> Any:
    args = typing.get_args(hint)
    if hint is bool:
        return _decode_bool(key, text)
    if hint is int:
        return _decode_int(key, text)
    if hint is float:
        return _decode_float(key, text)
    if hint is str:
        return text
    if type(None) in args:  # Optional[...]
        if text.strip().lower() in ("", "none", "null"):
            return None
        inner = next(arg for arg in args if arg is not type(None))
        return _decode(key, inner, text)
    if typing.get_origin(hint) in (tuple, list):
        return [_decode_int(key, part) for part in text.split(",") if part.strip()]
    raise ConfigError(key, "cannot be set from the URL")


def _decode_option(task_name: str, key: str, text: str) -> Any:
    from lengen_core.tasks.base import build_task

    task = build_task(task_name)
    name = key.removeprefix("task.options.")
    spec = task.option_specs.get(name)
    if spec is None:
        raise ConfigError(key, f"unknown option for task {task_name!r}; allowed: {sorted(task.option_specs) or 'none'}")
    if spec.choices is not None:
        for choice in spec.choices:
            if _encode(choice) == text:
                return choice
        raise ConfigError(key, f"must be one of {list(spec.choices)}, got {text!r}")
    if isinstance(spec.default, bool):
        return _decode_bool(key, text)
    if isinstance(spec.default, int):
        return _decode_int(key, text)
    if isinstance(spec.default, float):
        return _decode_float(key, text)
    return text


def is_config_param(key: str) -> bool:
    """Whether a query-param key names a config field (``model.n_layers``), not a page param (``runs``)."""
    return key.split(".", 1)[0] in CONFIG_SECTIONS and "." in key


def config_to_query_params(config: RunConfig) -> dict[str, str]:
    """``config`` as URL query params: flattened dotted keys, only the values that differ from the defaults.

    Task options are compared with the defaults of ``config``'s task. Values are
    strings: ``true``/``false``, ``none``, ``repr`` of floats (exact round trip),
    comma-joined lists. :func:`config_from_query_params` is the inverse.
    """
    from lengen_core.tasks.base import build_task

    defaults = flatten(RunConfig().to_dict())
    option_defaults = build_task(config.task.name).options
    params: dict[str, str] = {}
    for key, value in flatten(config.to_dict()).items():
        if key == "task.options":  # a task without options flattens to an empty leaf
            continue
        if key.startswith("task.options."):
            name = key.removeprefix("task.options.")
            if name in option_defaults and option_defaults[name] == value and type(option_defaults[name]) is type(value):
                continue
        elif key in defaults and defaults[key] == value and type(defaults[key]) is type(value):
            continue
        params[key] = _encode(value)
    return params


def config_from_query_params(params: Mapping[str, str | Sequence[str]]) -> RunConfig:
    """The :class:`RunConfig` a URL describes: defaults overridden by the dotted keys present.

    Keys that are not config fields (``seed``, ``runs``, ...) are ignored; an
    unknown field or a bad value raises :class:`ConfigError` naming the key. A
    changed ``task.name`` starts from that task's default options.
    """
    data = RunConfig().to_dict()
    values = {
        key: ((value[-1] if value else "") if isinstance(value, (list, tuple)) else value)
        for key, value in params.items()
        if is_config_param(key)
    }
    task_name = values.get("task.name", data["task"]["name"])
    if task_name != data["task"]["name"]:
        data["task"]["options"] = {}
    for key in sorted(values):
        text = str(values[key])
        if key.startswith("task.options."):
            data["task"]["options"][key.removeprefix("task.options.")] = _decode_option(task_name, key, text)
            continue
        hint = CONFIG_FIELD_TYPES.get(key)
        if hint is None:
            raise ConfigError(key, "unknown config field")
        set_dotted(data, key, _decode(key, hint, text))
    return RunConfig.from_dict(data)


def run_setup_from_query_params(params: Mapping[str, str | Sequence[str]]) -> tuple[RunConfig, int]:
    """The (config, seed) a Train-page link describes; any bad value is a ConfigError naming its key."""
    config = config_from_query_params(params)
    raw = params.get("seed", "0")
    text = str(raw[-1] if isinstance(raw, (list, tuple)) and raw else raw).strip()
    if not re.fullmatch(r"\d{1,20}", text):
        raise ConfigError("seed", f"must be an integer between 0 and {LIMITS['max_seed']}, got {shown(text)}")
    return config, check_seed(int(text))


def config_from_flat(values: Mapping[str, Any], base: RunConfig | None = None) -> RunConfig:
    """``base`` (default: the default config) with dotted-key changes applied; a new task starts from its default options."""
    data = (base or RunConfig()).to_dict()
    if "task.name" in values and values["task.name"] != data["task"]["name"]:
        data["task"]["options"] = {}
    for key, value in values.items():
        set_dotted(data, key, value)
    return RunConfig.from_dict(data)


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


@dataclass(frozen=True)
class UrlBinding:
    """A widget (session-state ``key``) mirrored in the query param ``param``; ``multi`` for lists (comma-joined)."""

    param: str
    key: str
    multi: bool = False
    default: Any = ""


def load_url_bindings(page: str, bindings: Sequence[UrlBinding], options: Mapping[str, Sequence[Any]] | None = None) -> bool:
    """Copy the URL's values into the widgets' state when the URL changed from outside; returns whether it did.

    "From outside" means: different from what :func:`write_url_bindings` wrote
    last for this ``page`` (a first load, a pasted link). ``options`` restricts
    a multi widget's values to those it offers.
    """
    current = {binding.param: st.query_params.get_all(binding.param) for binding in bindings}
    if st.session_state.get(f"{page}.url") == current:
        return False
    for binding in bindings:
        raw = current[binding.param]
        if binding.multi:
            values = parse_id_list(raw)
            allowed = (options or {}).get(binding.param)
            st.session_state[binding.key] = [value for value in values if allowed is None or value in allowed]
        else:
            st.session_state[binding.key] = raw[-1] if raw else binding.default
    return True


def write_url_bindings(page: str, bindings: Sequence[UrlBinding]) -> None:
    """Write the widgets' values to the URL (empty or default values are removed, keeping links short)."""
    for binding in bindings:
        value = st.session_state.get(binding.key, binding.default)
        text = ",".join(str(item) for item in value) if binding.multi else ("" if value in (None, binding.default) else str(value))
        if text:
            if st.query_params.get(binding.param) != text:
                st.query_params[binding.param] = text
        elif binding.param in st.query_params:
            del st.query_params[binding.param]
    st.session_state[f"{page}.url"] = {binding.param: st.query_params.get_all(binding.param) for binding in bindings}


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


def task_classes() -> dict[str, type]:
    """Registered tasks by name (the registry fills itself on import)."""
    from lengen_core.tasks.base import TASK_REGISTRY, task_names

    return {name: TASK_REGISTRY[name] for name in task_names()}


# --------------------------------------------------------------------------- export


def export_runs_bytes(store: RunStore, run_ids: Sequence[str], fmt: str) -> tuple[str, bytes, str]:
    """Export ``run_ids`` with :meth:`RunStore.export`; returns (file name, bytes, mime type).

    One table comes back as that file; several are zipped together.
    """
    with tempfile.TemporaryDirectory(prefix="lengen-export-") as directory:
        paths = [Path(path) for path in store.export(list(run_ids), directory, fmt=fmt)]
        if len(paths) == 1:
            mime = "text/csv" if fmt == "csv" else "application/vnd.apache.parquet"
            return paths[0].name, paths[0].read_bytes(), mime
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in paths:
                archive.write(path, arcname=path.name)
        return f"lengen-runs-{fmt}.zip", buffer.getvalue(), "application/zip"


def config_diff(config_a: Mapping[str, Any], config_b: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(dotted field, value in a, value in b) for every flattened field that differs, sorted by field."""
    flat_a, flat_b = flatten(config_a), flatten(config_b)
    missing = object()
    rows = []
    for key in sorted(set(flat_a) | set(flat_b)):
        value_a, value_b = flat_a.get(key, missing), flat_b.get(key, missing)
        same = value_a == value_b and (type(value_a) is type(value_b) or _numbers_equal(value_a, value_b))
        if not same:
            rows.append((key, None if value_a is missing else value_a, None if value_b is missing else value_b))
    return rows


def _numbers_equal(a: Any, b: Any) -> bool:
    numeric = (int, float)
    return isinstance(a, numeric) and isinstance(b, numeric) and not isinstance(a, bool) and not isinstance(b, bool) and a == b


# --------------------------------------------------------------------------- small widgets


def ensure_app_shell() -> None:
    """Rerun through app.py's navigation if this script run is in Streamlit's legacy pages/ mode.

    That mode registers every file of pages/ (``common.py`` included) as a
    page; app.py's navigation registers only the real pages.
    """
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    context = get_script_run_ctx()
    if context is None:
        return
    registered = context.pages_manager.get_pages().values()
    if any(Path(str(info.get("script_path", ""))).name == "common.py" for info in registered):
        PagesManager.uses_pages_directory = False
        st.rerun()


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
    "config_diff",
    "config_from_flat",
    "config_from_query_params",
    "config_to_query_params",
    "export_runs_bytes",
    "get_job_manager",
    "get_store",
    "scheme_color",
]
