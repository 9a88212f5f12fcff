"""usable_cpus counts the cores a process may run on, so pinned processes never oversubscribe them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lengen_core.cpus import usable_cpus


def test_usable_cpus_is_the_affinity_mask() -> None:
    assert usable_cpus() == len(os.sched_getaffinity(0))


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux CPU affinity")
def test_a_process_pinned_to_one_core_shares_out_one_thread() -> None:
    """Pinned to one core (as a test-suite worker is), a sweep's local runner gives each worker one torch thread."""
    script = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "from lengen_core.cpus import usable_cpus; from lengen_core.sweeps import LocalProcessRunner; "
        "print(usable_cpus(), LocalProcessRunner(workers=1).torch_threads, os.cpu_count())"
    )
    printed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert printed[:2] == ["1", "1"], printed
