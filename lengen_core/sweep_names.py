"""Names of a run's stored sweeps: ``default`` (the run's own sweep of its main task), ``extra-<n>`` (more
lengths later), and for a multi-task run ``default@<task>``, the run's own sweep of one more task.
"""

from __future__ import annotations


def part_sweep_name(sweep_name: str, task_name: str = "") -> str:
    """The stored sweep of one task of a mixture: the main task's is ``sweep_name`` itself
    (``default``), another task's ``default@<task>``."""
    return f"{sweep_name}@{task_name}" if task_name else sweep_name


def part_sweep_base(sweep_name: str) -> str:
    """The sweep a stored sweep of one task belongs to: ``extra-2`` of ``extra-2@copy_unique``."""
    return sweep_name.partition("@")[0]


def sweep_part(sweep_name: str) -> str:
    """Which task of a mixture a stored sweep tests: "" for the main task (the inverse of :func:`part_sweep_name`)."""
    return sweep_name.partition("@")[2]
