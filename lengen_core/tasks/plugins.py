"""Tasks from installed packages, found through the entry point group ``lengen_core.tasks`` (issue 24).

A package declares, in its ``pyproject.toml``::

    [project.entry-points."lengen_core.tasks"]
    a_before_b = "lengen_first_b:ABeforeB"

and each entry names a :class:`~lengen_core.tasks.base.Task` subclass (registered here under its ``name``) or a
module whose import registers its tasks itself (with :func:`~lengen_core.tasks.base.register`). docs/tasks.md
documents the Task API; ``examples/lengen-first-b`` is a worked plug-in.

A plug-in that fails to load, takes a name already taken, or cannot make an example at its shortest length is
left out and its reason kept in :data:`PLUGIN_ERRORS` (the CLI's ``tasks`` command prints them): one broken
package never takes the app down. Every process that imports :mod:`lengen_core.tasks` (the app, a sweep's
worker processes, a Ray worker on the same installation) loads the same plug-ins.
"""

from __future__ import annotations

import importlib.metadata
import random
import types

from lengen_core.tasks.base import TASK_REGISTRY, Task, register

ENTRY_POINT_GROUP = "lengen_core.tasks"
PLUGIN_ERRORS: dict[str, str] = {}  # entry point name -> why it was left out
PLUGIN_TASKS: dict[str, str] = {}  # task name -> the entry point's value ("package.module:Class")


def _check(task_class: type[Task]) -> None:
    """A plug-in task must build with its defaults and make an example at its shortest length."""
    task = task_class()
    try:
        example = task.sample(random.Random(0), task.min_length)
        longest = task.max_sequence_length(task.min_length)
    except NotImplementedError:
        raise TypeError(f"{task_class.__name__} must implement generate and max_sequence_length (docs/tasks.md)") from None
    if len(example.tokens) > longest:
        raise ValueError(f"its example at length {task.min_length} is longer than its max_sequence_length")


def load_plugins() -> None:
    """Register the tasks of every installed ``lengen_core.tasks`` entry point (module docstring)."""
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        before = set(TASK_REGISTRY)
        try:
            loaded = entry.load()
            if isinstance(loaded, types.ModuleType):
                added = {name: TASK_REGISTRY[name] for name in set(TASK_REGISTRY) - before}
            elif isinstance(loaded, type) and issubclass(loaded, Task):
                if TASK_REGISTRY.get(loaded.name) is not loaded:  # a class its module did not register itself
                    register(loaded)  # refuses a class without a name, or a name already taken
                added = {loaded.name: loaded}
            else:
                raise TypeError(f"{entry.value} is neither a Task subclass nor a module")
            for task_class in added.values():
                _check(task_class)
        except Exception as error:  # a broken package is reported, never fatal: whatever it registered is taken out
            for name in set(TASK_REGISTRY) - before:
                TASK_REGISTRY.pop(name)
            PLUGIN_ERRORS[entry.name] = f"{type(error).__name__}: {error}"
            continue
        PLUGIN_TASKS.update(dict.fromkeys(added, entry.value))
