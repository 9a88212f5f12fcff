"""The app's server-side caps: tighter than :data:`lengen_core.config.LIMITS`, set from the environment.

A browser user may train what these allow (``LENGEN_APP_MAX_*``; each cap is
``min(environment value, the library's hard limit)``, read on every call), and
``LENGEN_MAX_JOBS`` bounds how many jobs train at once. ``LENGEN_SHARE_RUNS=0``
makes every request train its own run (default: identical requests share one,
:mod:`lengen_core.runs.identity`); ``LENGEN_DEMO_RUNS=0`` leaves the bundled demo runs out of the store until a
page that needs them opens. The CLI is bounded by LIMITS and the cost model only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from lengen_core.config import LIMITS, RunConfig
from lengen_core.errors import ConfigError


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def max_concurrent_jobs() -> int:
    """Bound on simultaneous training jobs (``LENGEN_MAX_JOBS``, default 2)."""
    return max(1, _env_int("LENGEN_MAX_JOBS", 2))


def demo_runs_at_launch() -> bool:
    """Whether the app imports the bundled demo runs (data/demo) into its store when a session opens any page
    (``LENGEN_DEMO_RUNS``, default 1). 0 imports them only when a page that needs them opens (Lessons, Attention,
    Position IDs): a store of one's own sweeps then lists only them on the Runs, Length sweep and Compare pages."""
    return _env_int("LENGEN_DEMO_RUNS", 1) != 0


def share_identical_runs() -> bool:
    """Whether identical requests share one run (``LENGEN_SHARE_RUNS``, default 1; 0 trains each request anew)."""
    return _env_int("LENGEN_SHARE_RUNS", 1) != 0


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
    longest = max(config.eval_lengths())
    if longest > caps["eval.lengths"].limit:
        errors.append(_cap_error(caps["eval.lengths"], longest, f"the longest evaluation length {longest}"))
    return errors
