"""The one text form of a :class:`RunConfig`: dotted field paths with string values.

Every place a config arrives as text uses this module: a pasted link's query
params (``?model.n_layers=3&positions.scheme=rope``), the CLI's ``--set`` and
``--scheme-set``, and the pages' URL sync. A value is decoded by the type its
field declares, so ``3`` is an int for ``model.n_layers`` and a string for
``task.name``, and every bad value is a :class:`ConfigError` naming its field.

The text forms: ``true``/``false``; ``none``; floats as ``repr`` (an exact round
trip); lists comma-joined (``5,10,40``; the CLI's JSON ``[5,10,40]`` is read
too); strings as they are (a JSON-quoted ``"rope"`` from a shell is unquoted);
``task.mixture`` as comma-joined entries ``name:min-max[*weight][{option=value;...}][/train-only]``
(``copy_unique:1-32,sort:1-10*0.5{alphabet_size=20}/train-only``; a JSON list of
objects is read too).
:func:`config_to_params` writes only the fields that differ from the defaults,
so a link stays short and :func:`config_from_params` reproduces the config
exactly (same ``config_id``).
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from lengen_core.config import RunConfig
from lengen_core.config_codec import flatten, parse_json_object
from lengen_core.errors import ConfigError, shown
from lengen_core.tasks.base import build_task

__all__ = [
    "FIELD_TYPES",
    "SECTIONS",
    "config_diff",
    "config_from_params",
    "config_to_params",
    "decode_changes",
    "decode_field",
    "encode_value",
    "is_config_param",
    "parse_assignment",
    "parse_int_list",
    "parse_range",
]

SECTIONS: tuple[str, ...] = tuple(section.name for section in dataclasses.fields(RunConfig))


def _field_types(cls: type, prefix: str = "") -> dict[str, Any]:
    """Dotted field path -> annotated type, for every leaf field of a config dataclass."""
    hints = typing.get_type_hints(cls)
    types: dict[str, Any] = {}
    for config_field in dataclasses.fields(cls):
        hint = hints[config_field.name]
        path = f"{prefix}{config_field.name}"
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):  # a section (a dataclass), never an instance
            types.update(_field_types(hint, path + "."))
        else:
            types[path] = hint
    return types


FIELD_TYPES: dict[str, Any] = _field_types(RunConfig)
# sections that hold fields (model.hsa): setting one whole from text is refused with a pointer to its fields
_GROUPS: frozenset[str] = frozenset(path.rsplit(".", 1)[0] for path in FIELD_TYPES)


def is_config_param(key: str) -> bool:
    """Whether a query-param key names a config field (``model.n_layers``), not a page param (``runs``)."""
    return key.split(".", 1)[0] in SECTIONS and "." in key


def encode_value(value: Any) -> str:
    """The text form of one field's value (the inverse of :func:`decode_field`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return ",".join(encode_value(item) for item in value)
    return str(value)


_MIXTURE_ENTRY = re.compile(
    r"^(?P<name>[A-Za-z0-9_]+):(?P<low>\d+)-(?P<high>\d+)(?:\*(?P<weight>[0-9.eE+-]+))?(?:\{(?P<options>[^{}]*)\})?(?P<train_only>/train-only)?$"
)
TRAIN_ONLY = "/train-only"


def encode_mixture(entries: Sequence[Mapping[str, Any]]) -> str:
    """``task.mixture`` (entries as dicts) in its text form (the inverse of :func:`decode_mixture`)."""
    texts = []
    for entry in entries:
        text = f"{entry['name']}:{entry['train_length_min']}-{entry['train_length_max']}"
        if entry.get("weight", 1.0) != 1.0:
            text += f"*{encode_value(float(entry['weight']))}"
        defaults = build_task(entry["name"]).options
        options = {key: value for key, value in dict(entry.get("options", {})).items() if defaults.get(key, dataclasses.MISSING) != value}
        if options:
            text += "{" + ";".join(f"{key}={encode_value(value)}" for key, value in sorted(options.items())) + "}"
        if not entry.get("evaluate", True):
            text += TRAIN_ONLY
        texts.append(text)
    return ",".join(texts)


def decode_mixture(key: str, text: str) -> list[dict[str, Any]]:
    """The entries of ``task.mixture`` written as text (see the module docstring); each checked by the config."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except (ValueError, RecursionError):
            raise ConfigError(key, "is not a valid JSON list of tasks") from None
        if not isinstance(value, list):
            raise ConfigError(key, f"must be a list of tasks, got {shown(value)}")
        return value
    entries = []
    for index, item in enumerate(part.strip() for part in stripped.split(",") if part.strip()):
        match = _MIXTURE_ENTRY.match(item) if len(item) < 2000 else None
        if match is None:
            raise ConfigError(f"{key}.{index}", f"expected name:min-max[*weight][{{option=value;...}}][{TRAIN_ONLY}], got {shown(item)}")
        prefix = f"{key}.{index}"
        entry: dict[str, Any] = {
            "name": match["name"],
            "train_length_min": _decode_int(f"{prefix}.train_length_min", match["low"]),
            "train_length_max": _decode_int(f"{prefix}.train_length_max", match["high"]),
            "evaluate": match["train_only"] is None,
        }
        if match["weight"] is not None:
            entry["weight"] = _decode_float(f"{prefix}.weight", match["weight"])
        if match["options"]:
            try:
                build_task(match["name"])
            except ConfigError as error:
                raise ConfigError(f"{prefix}.name", error.message) from None
            options = {}
            for assignment in match["options"].split(";"):
                option, value = parse_assignment(assignment, f"{prefix}.options")
                options[option.strip()] = _decode_option(match["name"], f"{prefix}.options.{option.strip()}", value)
            entry["options"] = options
        entries.append(entry)
    return entries


def _decode_bool(key: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ConfigError(key, f"must be true or false, got {shown(text)}")


def _decode_int(key: str, text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        digits = text.strip().removeprefix("-").removeprefix("+")
        if digits.isdigit() and len(digits) > 4300:  # Python refuses to read integers this long
            raise ConfigError(key, "is a number of more than 4,300 digits; no config field takes one") from None
        raise ConfigError(key, f"must be an integer, got {shown(text)}") from None


def _decode_float(key: str, text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise ConfigError(key, f"must be a number, got {shown(text)}") from None


def _decode_string(text: str) -> str:
    """``rope`` and the JSON-quoted ``"rope"`` (what ``--set 'x="rope"'`` passes) are the same string."""
    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
        try:
            value = json.loads(stripped)
        except ValueError:
            return text
        return value if isinstance(value, str) else text
    return text


def _decode_int_list(key: str, text: str) -> list[int]:
    stripped = text.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        stripped = stripped[1:-1]
    return parse_int_list(stripped, key)


def _decode_typed(key: str, hint: Any, text: str) -> Any:
    args = typing.get_args(hint)
    if hint is bool:
        return _decode_bool(key, text)
    if hint is int:
        return _decode_int(key, text)
    if hint is float:
        return _decode_float(key, text)
    if hint is str:
        return _decode_string(text)
    if type(None) in args:  # Optional[...]
        if text.strip().lower() in ("", "none", "null"):
            return None
        inner = next(arg for arg in args if arg is not type(None))
        return _decode_typed(key, inner, text)
    if key == "task.mixture":
        return decode_mixture(key, text)
    if typing.get_origin(hint) in (tuple, list):
        return _decode_int_list(key, text)
    raise ConfigError(key, "cannot be set from text")


def _decode_option(task_name: str, key: str, text: str) -> Any:
    """A task option's value, typed by the option's spec in ``task_name``."""
    task = build_task(task_name)
    name = key.rsplit(".options.", 1)[-1]
    spec = task.option_specs.get(name)
    if spec is None:
        raise ConfigError(key, f"unknown option for task {task_name!r}; allowed: {sorted(task.option_specs) or 'none'}")
    if spec.choices is not None:
        for choice in spec.choices:
            if encode_value(choice) == text.strip():
                return choice
        raise ConfigError(key, f"must be one of {list(spec.choices)}, got {shown(text)}")
    if isinstance(spec.default, bool):
        return _decode_bool(key, text)
    if isinstance(spec.default, int):
        return _decode_int(key, text)
    if isinstance(spec.default, float):
        return _decode_float(key, text)
    return _decode_string(text)


def decode_field(key: str, text: str, task_name: str) -> Any:
    """The value of field ``key`` written as ``text``; ``task_name`` types the ``task.options.*`` keys.

    ``task.options`` itself takes a JSON object (``{"alphabet_size": 8}``).
    """
    if not isinstance(key, str) or "." not in key:
        raise ConfigError(key if isinstance(key, str) and key else "field", f"must be a dotted field name like model.n_layers, got {shown(key)}")
    if not isinstance(text, str):
        raise ConfigError(key, f"must be text, got {shown(text)}")
    if key == "task.options":
        return parse_json_object(text, key)
    if key.startswith("task.options."):
        return _decode_option(task_name, key, text)
    hint = FIELD_TYPES.get(key)
    if hint is None:
        if key in _GROUPS:
            raise ConfigError(key, f"is a group of fields; set them one by one: {', '.join(_fields_in(key))}")
        raise ConfigError(key, "unknown config field")
    return _decode_typed(key, hint, text)


def _fields_in(group: str) -> list[str]:
    """The dotted fields directly inside ``group`` (``model.hsa`` -> ``["model.hsa.chunk_size", ...]``)."""
    return [path for path in FIELD_TYPES if path.rsplit(".", 1)[0] == group]


def _last(value: str | Sequence[str]) -> str:
    """A repeated query param counts once, by its last value."""
    if isinstance(value, (list, tuple)):
        return str(value[-1]) if value else ""
    return str(value)


def config_from_params(params: Mapping[str, str | Sequence[str]], base: RunConfig | None = None) -> RunConfig:
    """``base`` (default: the default config) with the dotted text fields in ``params`` applied.

    Keys that are not config fields (``seed``, ``runs``, ...) are ignored; an
    unknown field or a bad value raises :class:`ConfigError` naming the key. A
    changed ``task.name`` starts from that task's default options.
    """
    base = base or RunConfig()
    texts = {key: _last(value) for key, value in params.items() if is_config_param(key)}
    return base.replace(**decode_changes(texts, base.task.name))


def decode_changes(texts: Mapping[str, str], task_name: str) -> dict[str, Any]:
    """Dotted field -> value for dotted field -> text; every key must be a config field.

    ``task_name`` types the ``task.options.*`` keys unless ``texts`` changes ``task.name`` itself.
    """
    if "task.name" in texts:
        task_name = _decode_string(texts["task.name"])
    return {key: decode_field(key, texts[key], task_name) for key in sorted(texts)}


def config_to_params(config: RunConfig) -> dict[str, str]:
    """``config`` as dotted text fields: only the values that differ from the defaults.

    Task options are compared with the defaults of ``config``'s task.
    :func:`config_from_params` is the inverse.
    """
    defaults = flatten(RunConfig().to_dict())
    option_defaults = build_task(config.task.name).options
    params: dict[str, str] = {}
    for key, value in flatten(config.to_dict()).items():
        if key == "task.options":  # a task without options flattens to an empty leaf
            continue
        if key.startswith("task.options."):
            default = option_defaults.get(key.removeprefix("task.options."), dataclasses.MISSING)
        else:
            default = defaults.get(key, dataclasses.MISSING)
        if default == value and type(default) is type(value):
            continue
        params[key] = encode_mixture(value) if key == "task.mixture" else encode_value(value)
    return params


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


def parse_assignment(item: str, field: str) -> tuple[str, str]:
    """``"model.n_layers=3"`` -> ``("model.n_layers", "3")``; anything without ``=`` is refused naming ``field``."""
    if not isinstance(item, str) or "=" not in item:
        raise ConfigError(field, f"expected field=value, got {shown(item)}")
    key, text = item.split("=", 1)
    return key.strip(), text


def parse_range(text: str, field: str) -> tuple[int, int]:
    """``"1-10"`` -> (1, 10); ``"8"`` -> (8, 8)."""
    try:
        if "-" in text:
            low, high = text.split("-", 1)
            return int(low), int(high)
        return int(text), int(text)
    except ValueError:
        raise ConfigError(field, f"expected a length or a range like 1-10, got {shown(text)}") from None


def parse_int_list(text: str, field: str) -> list[int]:
    """``"10,20, 40"`` -> [10, 20, 40]; anything else is a ConfigError naming ``field``."""
    parts = [part.strip() for part in str(text).split(",") if part.strip()]
    if len(parts) > 1000:
        raise ConfigError(field, f"at most 1000 values, got {len(parts)}")
    try:
        return [int(part) for part in parts]
    except ValueError:
        raise ConfigError(field, f"expected comma-separated integers, got {shown(text)}") from None
