"""How many CPU cores this process may run on.

``os.cpu_count()`` counts the machine's cores; a process pinned to fewer (``taskset``, a
container's cpuset, a pytest-xdist worker of the test suite) may use only those, and giving
torch more threads than that makes them take turns on one core, which is many times slower
than one thread. Everything that shares out torch threads asks :func:`usable_cpus`.
"""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """The cores this process's CPU affinity allows (``os.cpu_count()`` where affinity is unknown), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)
