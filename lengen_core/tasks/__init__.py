"""Task library: every family module is imported here so the registry is filled.

Families: :mod:`~lengen_core.tasks.copying`, :mod:`~lengen_core.tasks.arithmetic`,
:mod:`~lengen_core.tasks.counting`, :mod:`~lengen_core.tasks.formal_languages`,
:mod:`~lengen_core.tasks.retrieval`, :mod:`~lengen_core.tasks.sparse`, and the
auxiliary tasks of the training recipes, :mod:`~lengen_core.tasks.hints` (sort
hints, restrictions) and :mod:`~lengen_core.tasks.transfer` (Cai et al.'s
transfer groups); a task the user writes as an expression, :mod:`~lengen_core.tasks.expression_task`;
the index-hint format is in :mod:`~lengen_core.tasks.index_hints`; tasks of installed packages
(plug-ins) come in through :mod:`~lengen_core.tasks.plugins`.

The package is also the public API's ``lengen_core.tasks()``: calling it returns the
task table (:mod:`~lengen_core.tasks.catalog`) as a DataFrame. A package cannot be both
a submodule and a function of the same name, so the package's module object is
given a ``__call__`` (a module's ``__class__`` may be set to a ModuleType subclass).
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING

from lengen_core.tasks import arithmetic, copying, counting, expression_task, formal_languages, hints, retrieval, sparse, transfer  # noqa: F401
from lengen_core.tasks.base import ANSWER_SEGMENT, TASK_REGISTRY, Example, Task, build_task, task_names
from lengen_core.tasks.catalog import COLUMNS, task_rows
from lengen_core.tasks.index_hints import check_index_hints, max_hinted_length, with_index_hints
from lengen_core.tasks.plugins import load_plugins

load_plugins()  # tasks of installed packages (entry point group lengen_core.tasks), after the built-in ones

if TYPE_CHECKING:
    import pandas


class _TaskPackage(types.ModuleType):
    """This package, callable: ``lengen_core.tasks()`` is the task table."""

    def __call__(self) -> pandas.DataFrame:
        import pandas  # only when the table is asked for: the task library itself needs no pandas

        return pandas.DataFrame(task_rows(), columns=list(COLUMNS))


sys.modules[__name__].__class__ = _TaskPackage

__all__ = ["ANSWER_SEGMENT", "TASK_REGISTRY", "Example", "Task", "build_task", "check_index_hints", "max_hinted_length", "task_names", "with_index_hints"]
