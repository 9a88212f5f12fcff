"""A config's plain form: JSON text, nested dicts and dotted field paths, and back.

:func:`parse_json_object` reads JSON with every way it can fail as one ConfigError;
:func:`to_plain` turns the frozen sections into nested dicts and lists;
:func:`build_section` makes a section from a dict, refusing unknown and ill-typed
fields by name; :func:`set_dotted` and :func:`flatten` address fields as
``model.n_layers``. Nothing here knows the sections: :mod:`lengen_core.config` passes
them in, so this module sits below it and imports only the errors.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from lengen_core.errors import ConfigError, shown


def parse_json_object(text: str | bytes, field_name: str) -> dict[str, Any]:
    """A JSON object from ``text``, with every way JSON can fail as one ConfigError naming ``field_name``:
    bad syntax, not UTF-8, nesting too deep, numbers Python refuses (more than 4,300 digits)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ConfigError(field_name, f"is not UTF-8 text (byte {error.start})") from None
    if not isinstance(text, str):
        raise ConfigError(field_name, f"must be JSON text, got {shown(text)}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(field_name, f"is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except RecursionError:
        raise ConfigError(field_name, "is nested too deeply to be a run configuration") from None
    except ValueError as error:  # an integer of more than 4,300 digits: Python refuses to read it
        if "digits" in str(error):
            raise ConfigError(field_name, "has a number of more than 4,300 digits; no config field takes one") from None
        raise ConfigError(field_name, f"is not usable JSON: {shown(str(error), 120)}") from None
    if not isinstance(data, dict):
        raise ConfigError(field_name, f"must be a JSON object ({{...}}), got {type(data).__name__}")
    return data


def check_mapping(field_name: str, value: Any) -> None:
    """``value`` is an object of named values (a mapping with text keys), else a ConfigError on ``field_name``."""
    if not isinstance(value, Mapping):
        raise ConfigError(field_name, f"must be an object of named values, got {shown(value)}")
    for key in value:
        if not isinstance(key, str):
            raise ConfigError(field_name, f"names must be text, got {shown(key)}")


def build_section(name: str, section_class: type, values: Any) -> Any:
    """``section_class(**values)`` with unknown and ill-typed fields refused by name (``name``: the section's dotted path)."""
    check_mapping(name, values)
    known = {f.name for f in dataclasses.fields(section_class)}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"{name}.{sorted(unknown)[0]}", f"unknown field; allowed: {sorted(known)}")
    try:
        return section_class(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError, OverflowError, RecursionError) as error:  # a value of a type no check expected
        raise ConfigError(name, f"has a value of the wrong type ({type(error).__name__}: {shown(str(error), 120)})") from None


def to_plain(value: Any) -> Any:
    """Dataclasses, mappings and sequences as nested dicts and lists (what JSON holds)."""
    if dataclasses.is_dataclass(value):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``data["a"]["b"] = value`` for ``dotted == "a.b"``; unknown paths raise ConfigError."""
    if not isinstance(dotted, str) or not dotted:
        raise ConfigError("field", f"must be a dotted field name like model.n_layers, got {shown(dotted)}")
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(dotted, "unknown config field")
        node = node[part]
    if not isinstance(node, dict) or (parts[-1] not in node and parts[-2:-1] != ["options"]):
        raise ConfigError(dotted, "unknown config field")
    node[parts[-1]] = value


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"n_layers": 2}}`` -> ``{"model.n_layers": 2}``."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, path + "."))
        else:
            flat[path] = value
    return flat
