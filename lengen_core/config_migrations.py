"""Stored configs: fields and task options added after a run was stored, filled in as that run had them.

A run or checkpoint keeps the config it was made with. A field added since takes, in
that config, the value that reproduces what the run did (:data:`STORED_BEFORE_FIELD`),
not today's default; task options likewise (:data:`STORED_BEFORE_OPTION`).
:func:`upgrade_stored` fills them in on the plain dict, before
:meth:`lengen_core.config.RunConfig.from_stored` validates it like any other config.
Works on plain dicts only, so it sits below :mod:`lengen_core.config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lengen_core.config_codec import check_mapping

# Fields added after runs were stored with configs that lack them, with the value that
# reproduces what those runs did (today's default may differ).
STORED_BEFORE_FIELD: dict[str, Any] = {"train.packing": "off", "eval.search": False}
# Task options likewise, per task: (task, option) -> what runs stored without the option did. The arithmetic
# tasks and the parity scratchpad followed the position-coupling repository's earlier rule before they took its
# current one (commit 384431c; lengen_core.tasks.arithmetic, ParityScratchpad); the restrictions were short.
STORED_BEFORE_OPTION: dict[tuple[str, str], Any] = {
    **{(task, "coupling_format"): "early" for task in ("addition", "binary_addition", "multi_operand_addition", "parity_scratchpad")},
    # the restrictions kept their long-instance positions from issue 22 on (lengen_core.tasks.hints)
    **{(task, "format"): "short" for task in ("sort_restricted", "reverse_restricted")},
    # MQAR asked several once-only pairs before it took Cai et al.'s repeated query (lengen_core.tasks.transfer)
    ("mqar", "format"): "pairs",
}


def upgrade_stored(data: Mapping[str, Any]) -> dict[str, Any]:
    """A stored config's plain dict with the stored-before values of the fields and task options it lacks
    (the main task's and every mixture entry's). Values of the wrong shape are left for validation to name."""
    check_mapping("config", data)
    filled = {name: dict(section) if isinstance(section, Mapping) else section for name, section in data.items()}
    for dotted, value in STORED_BEFORE_FIELD.items():
        section, field_name = dotted.split(".")
        values = filled.setdefault(section, {})
        if isinstance(values, dict):
            values.setdefault(field_name, value)
    task = filled.get("task")
    if isinstance(task, dict):
        task["options"] = _stored_options(task.get("name"), task.get("options", {}))
        mixture = task.get("mixture")
        if isinstance(mixture, (list, tuple)):
            task["mixture"] = [
                {**entry, "options": _stored_options(entry.get("name"), entry.get("options", {}))} if isinstance(entry, Mapping) else entry for entry in mixture
            ]
    return filled


def _stored_options(task_name: Any, options: Any) -> Any:
    """A stored task's options with :data:`STORED_BEFORE_OPTION`'s values for the options it was stored without."""
    if not isinstance(options, Mapping):
        return options
    filled = dict(options)
    for (task, option), value in STORED_BEFORE_OPTION.items():
        if task == task_name:
            filled.setdefault(option, value)
    return filled
