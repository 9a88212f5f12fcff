"""Task library: every family module is imported here so the registry is filled.

Families: :mod:`~lengen_core.tasks.copying`, :mod:`~lengen_core.tasks.arithmetic`,
:mod:`~lengen_core.tasks.counting`, :mod:`~lengen_core.tasks.formal_languages`,
:mod:`~lengen_core.tasks.retrieval`, :mod:`~lengen_core.tasks.sparse`, and the
auxiliary tasks of the training recipes, :mod:`~lengen_core.tasks.hints` (sort
hints, restrictions) and :mod:`~lengen_core.tasks.transfer` (Cai et al.'s
transfer groups); the index-hint format is in :mod:`~lengen_core.tasks.index_hints`.
"""

from lengen_core.tasks import arithmetic, copying, counting, formal_languages, hints, retrieval, sparse, transfer  # noqa: F401
from lengen_core.tasks.base import ANSWER_SEGMENT, TASK_REGISTRY, Example, Task, build_task, task_names
from lengen_core.tasks.index_hints import check_index_hints, max_hinted_length, with_index_hints

__all__ = [
    "ANSWER_SEGMENT",
    "TASK_REGISTRY",
    "Example",
    "Task",
    "build_task",
    "check_index_hints",
    "max_hinted_length",
    "task_names",
    "with_index_hints",
]
