"""How many CPU cores this process may run on.

``os.cpu_count()`` counts the machine's cores; a process pinned to fewer (``taskset``, a
container's cpuset, a pytest-xdist worker of the test suite) may use only those, and giving
torch more threads than that makes them take turns on one core, which is many times slower
than one thread. Everything that shares out torch threads asks :func:`usable_cpus`.
:func:`busy_cores` says how busy the whole machine is (the speed probes wait for a quiet one).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable


def usable_cpus() -> int:
    """The cores this process's CPU affinity allows (``os.cpu_count()`` where affinity is unknown), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def _cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of all the machine's CPUs since boot, from /proc/stat; None where it cannot be read."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_cores(window_s: float = 1.0, *, sleep: Callable[[float], object] = time.sleep) -> float | None:
    """How many of the machine's cores were busy, on average, over the next ``window_s`` seconds (0.0: idle), from
    /proc/stat (Linux; in a container it may count the host's); None where that cannot be read. ``sleep`` waits out
    the window (an Event's ``wait`` lets a caller stop early)."""
    before = _cpu_ticks()
    sleep(window_s)
    after = _cpu_ticks()
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1]) * (os.cpu_count() or 1)
