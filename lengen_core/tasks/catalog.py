"""The task table: every registered task with its family, theory labels and coupling, one row each.

The CLI's ``tasks`` command prints it and ``lengen_core.tasks()`` (the public API) returns it as a DataFrame.
"""

from __future__ import annotations

from typing import Any

from lengen_core.tasks.base import TASK_REGISTRY
from lengen_core.tasks.theory import Prediction

COLUMNS = ("task", "family", "NoPE", "APE", "k", "coupling", "min_length", "max_length", "description")
LEGEND = (
    "NoPE / APE: length generalization predicted (yes) or not (no) by Huang et al. 2025 for NoPE (a C-RASP program) "
    "and for learned APE trained with random offsets (a C-RASP[Periodic, Local] program); * our derivation from the "
    "paper's definitions. k: the default sparsity of a k-sparse task (Golowich et al. 2025; task.options.k)."
)


def verdict(prediction: Prediction | None) -> str:
    """``yes`` / ``no`` (``*``: our derivation, not the paper's), ``-`` when no source labels the task."""
    if prediction is None:
        return "-"
    word = "yes" if prediction.generalizes else "no"
    return word if prediction.derived_by == "paper" else word + "*"


def task_rows() -> list[dict[str, Any]]:
    """One row per registered task, sorted by name, with the :data:`COLUMNS` (see :data:`LEGEND`)."""
    rows = []
    for name in sorted(TASK_REGISTRY):
        task = TASK_REGISTRY[name]()
        theory = task.theory
        rows.append(
            {
                "task": name,
                "family": task.family,
                "NoPE": verdict(theory.nope),
                "APE": verdict(theory.ape),
                "k": "-" if theory.sparsity is None else str(theory.sparsity.k),
                "coupling": "predictive only" if task.coupling_needs_answer else str(task.has_coupling),
                "min_length": task.min_length,
                "max_length": task.max_length,
                "description": task.description,
            }
        )
    return rows
