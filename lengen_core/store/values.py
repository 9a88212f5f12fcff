"""Checking and converting the values callers hand to the store, and the times it hands back.

The file keeps naive UTC timestamps; records and frames returned to callers
carry UTC-aware ones. Every check raises :class:`~lengen_core.errors.ConfigError`
naming the field, before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lengen_core.errors import ConfigError
from lengen_core.store.records import RUN_STATUSES

if TYPE_CHECKING:  # imported where used: a worker that only writes starts faster without it
    import pandas


def utcnow() -> datetime:
    """Now, as the naive UTC timestamp the file stores."""
    return datetime.now(UTC).replace(tzinfo=None)


def as_utc(value: datetime | None) -> datetime | None:
    """A naive UTC timestamp from the file, made UTC-aware."""
    return None if value is None else value.replace(tzinfo=UTC)


def localize_times(frame: pandas.DataFrame, columns: Sequence[str]) -> pandas.DataFrame:
    """Mark the naive UTC timestamp ``columns`` of ``frame`` (those it has) as UTC, in place."""
    import pandas

    for column in columns:
        if column in frame.columns:
            frame[column] = pandas.to_datetime(frame[column]).dt.tz_localize("UTC")
    return frame


def to_json(field: str, value: Any) -> str:
    """Canonical JSON of a mapping (or of an object with ``to_dict``): sorted keys, no spaces, NaN kept."""
    if hasattr(value, "to_dict") and not isinstance(value, Mapping):
        value = value.to_dict()
    if not isinstance(value, Mapping):
        raise ConfigError(field, f"must be a dict, got {type(value).__name__}")
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, allow_nan=True)
    except (TypeError, ValueError) as error:
        raise ConfigError(field, f"cannot be stored as JSON: {error}") from None


def nested_value(config: Mapping[str, Any], section: str, key: str) -> Any:
    """``config[section][key]``, or None when either is missing or the section is not a mapping."""
    part = config.get(section)
    return part.get(key) if isinstance(part, Mapping) else None


def optional_float(field: str, value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(field, f"must be a number or None, got {value!r}") from None


def optional_text(field: str, value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ConfigError(field, f"must be text or None, got {type(value).__name__}")
    return value


def required_int(field: str, value: Any) -> int:
    """``value`` as an int; bools, None, fractions and text that is not a whole number are refused."""
    if isinstance(value, bool) or value is None:
        raise ConfigError(field, f"must be an integer, got {value!r}")
    try:
        as_int = int(value)
    except (TypeError, ValueError):
        raise ConfigError(field, f"must be an integer, got {value!r}") from None
    if as_int != value:
        raise ConfigError(field, f"must be an integer, got {value!r}")
    return as_int


def check_status(status: str) -> None:
    if status not in RUN_STATUSES:
        raise ConfigError("status", f"must be one of {list(RUN_STATUSES)}, got {status!r}")


def check_name(field: str, value: Any) -> str:
    """A non-empty name (a sweep's, an artifact kind's)."""
    if not isinstance(value, str) or not value:
        raise ConfigError(field, f"must be a non-empty name, got {value!r}")
    return value
