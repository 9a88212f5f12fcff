"""Validating what callers want written, into the column lists :func:`lengen_core.store.bulk.insert` takes.

Every check runs before a session is opened, so a bad row writes nothing and
holds no lock; each raises :class:`~lengen_core.errors.ConfigError` naming the
field (``eval_points[2].length``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from lengen_core.errors import ConfigError
from lengen_core.store.bulk import EVAL_LAYOUT, RUNS_LAYOUT, TRAIN_LAYOUT, empty_columns
from lengen_core.store.owners import current_owner
from lengen_core.store.queries import EVAL_COLUMNS, TRAIN_COLUMNS
from lengen_core.store.records import FINAL_STATUSES
from lengen_core.store.values import check_status, nested_value, optional_float, required_int, to_json, utcnow

_REQUIRED_RUN_FIELDS = ("config", "config_id", "seed", "code_version", "environment")
_ALLOWED_RUN_FIELDS = frozenset(_REQUIRED_RUN_FIELDS) | {"name", "status", "tags"}


def check_tags(tags: Any) -> list[str]:
    """``tags`` as a list of strings, or a ConfigError naming ``tags``."""
    if isinstance(tags, str) or not all(isinstance(tag, str) for tag in tags):
        raise ConfigError("tags", f"must be a list of strings, got {tags!r}")
    return [str(tag) for tag in tags]


def new_run_columns(runs: Sequence[Mapping[str, Any]]) -> tuple[list[str], dict[str, list[Any]]]:
    """(new run ids, ``runs`` columns) of the runs to create, owned by this process.

    Each mapping holds :meth:`RunStore.create_run <lengen_core.store.RunStore.create_run>`'s
    arguments. Runs of one call get strictly increasing ``created_at`` (1
    microsecond apart) so "newest first" keeps their order.
    """
    owner, owner_start = current_owner()
    now = utcnow()
    columns = empty_columns(RUNS_LAYOUT)
    ids = []
    for index, spec in enumerate(runs):
        unknown = set(spec) - _ALLOWED_RUN_FIELDS
        if unknown:
            raise ConfigError(sorted(unknown)[0], f"unknown run field; allowed: {sorted(_ALLOWED_RUN_FIELDS)}")
        for key in _REQUIRED_RUN_FIELDS:
            if key not in spec:
                raise ConfigError(key, "is required to create a run")
        status = spec.get("status", "queued")
        check_status(status)
        config = spec["config"]
        config_json = to_json("config", config)
        config_plain = json.loads(config_json)
        tags = check_tags(spec.get("tags") or ())
        if not isinstance(spec["config_id"], str) or not spec["config_id"]:
            raise ConfigError("config_id", f"must be a non-empty string, got {spec['config_id']!r}")
        created = now + timedelta(microseconds=index)
        run_id = uuid.uuid4().hex[:12]
        ids.append(run_id)
        train_length_max = nested_value(config_plain, "task", "train_length_max")
        columns["run_id"].append(run_id)
        columns["name"].append(spec.get("name"))
        columns["config_id"].append(spec["config_id"])
        columns["config"].append(config_json)
        columns["task"].append(nested_value(config_plain, "task", "name"))
        columns["scheme"].append(nested_value(config_plain, "positions", "scheme"))
        columns["attention"].append(nested_value(config_plain, "model", "attention"))
        columns["seed"].append(required_int("seed", spec["seed"]))
        columns["status"].append(status)
        columns["code_version"].append(str(spec["code_version"]))
        columns["environment"].append(to_json("environment", spec["environment"]))
        columns["created_at"].append(created)
        columns["started_at"].append(created if status != "queued" else None)
        columns["finished_at"].append(created if status in FINAL_STATUSES else None)
        columns["train_length_max"].append(train_length_max if isinstance(train_length_max, int) else None)
        columns["owner"].append(owner)
        columns["owner_start"].append(owner_start)
        columns["tags"].append(tags)
    return ids, columns


def train_point_columns(run_id: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """``train_points`` columns of ``rows``: step and loss required, the other values may be None or absent."""
    columns = empty_columns(TRAIN_LAYOUT)
    for index, row in enumerate(rows):
        for key in ("step", "loss"):
            if key not in row:
                raise ConfigError(f"train_points[{index}].{key}", "is required")
        columns["run_id"].append(run_id)
        columns["step"].append(required_int(f"train_points[{index}].step", row["step"]))
        for key in TRAIN_COLUMNS[1:]:
            columns[key].append(optional_float(f"train_points[{index}].{key}", row.get(key)))
    return columns


def eval_point_columns(run_id: str, sweep: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """``eval_points`` columns of ``rows`` of sweep ``sweep``: every key of :data:`EVAL_COLUMNS` required (values may be None)."""
    columns = empty_columns(EVAL_LAYOUT)
    for index, row in enumerate(rows):
        missing = [key for key in EVAL_COLUMNS if key not in row]
        if missing:
            raise ConfigError(f"eval_points[{index}].{missing[0]}", "is required")
        columns["run_id"].append(run_id)
        columns["sweep"].append(sweep)
        columns["length"].append(required_int(f"eval_points[{index}].length", row["length"]))
        columns["n"].append(required_int(f"eval_points[{index}].n", row["n"]))
        for key in EVAL_COLUMNS[2:]:
            columns[key].append(optional_float(f"eval_points[{index}].{key}", row[key]))
    return columns
