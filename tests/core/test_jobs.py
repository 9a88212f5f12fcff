"""The job manager: training runs and extra sweeps share one bounded queue and the same workers."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import torch

from lengen_core.config import RunConfig
from lengen_core.cpus import usable_cpus
from lengen_core.errors import ConfigError
from lengen_core.runs.manager import JobManager
from lengen_core.store import RunStore
from lengen_core.training import TrainingControl
from tests.conftest import TINY_CONFIG_CHANGES

TINY = RunConfig().replace(**TINY_CONFIG_CHANGES)


def test_an_extra_sweep_waits_in_the_training_queue_and_counts_against_its_bound(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.duckdb")
    manager = JobManager(store, max_concurrent=1, max_queued=1)
    try:
        finished = manager.submit(TINY, 0)
        assert manager.wait(finished, timeout=120) == "done"
        busy = manager.submit(TINY.replace(**{"train.steps": 200_000, "train.time_budget_s": 60.0}), 1)
        _wait_for_phase(manager, busy, "training")  # until the worker takes it, it fills the one queue place
        sweep_job = manager.submit_sweep(finished, [5, 6], 3)
        assert manager.progress(sweep_job)["phase"] == "queued"  # the only worker is training
        with pytest.raises(ConfigError, match="the queue is full"):
            manager.submit_sweep(finished, [7], 3)
        with pytest.raises(ConfigError, match="the queue is full"):
            manager.submit(TINY, 2)
        manager.cancel(busy)
        assert manager.wait(sweep_job, timeout=120) == "done"
        assert manager.progress(sweep_job)["sweep"] == "extra-1"
        assert store.eval_curve([finished], sweep="extra-1")[["length", "n"]].values.tolist() == [[5, 3], [6, 3]]
        assert store.get_run(busy).status == "cancelled"
        second = manager.submit_sweep(finished, [7], 2)
        assert second.endswith(":extra-2") and manager.wait(second, timeout=120) == "done"
    finally:
        manager.shutdown()


def test_an_extra_sweep_of_an_unfinished_or_unknown_run_is_refused(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.duckdb")
    manager = JobManager(store, max_concurrent=1)
    try:
        with pytest.raises(Exception, match="no run 'nope'"):
            manager.submit_sweep("nope", [5], 3)
        queued = manager.submit(TINY.replace(**{"train.steps": 200_000, "train.time_budget_s": 30.0}), 0)
        with pytest.raises(ConfigError, match="only finished"):
            manager.submit_sweep(queued, [5], 3)
        manager.cancel(queued)
        manager.wait(queued, timeout=60)
        assert manager.jobs(sweeps=True) == []
    finally:
        manager.shutdown()


def _wait_for_phase(manager: JobManager, job_id: str, phase: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while manager.progress(job_id)["phase"] != phase:
        assert time.monotonic() < deadline, f"{job_id} never reached {phase}: {manager.progress(job_id)}"
        time.sleep(0.05)


@pytest.mark.serial  # a time bound or every core
def test_the_cores_are_shared_out_among_the_running_jobs(tmp_path: Path) -> None:
    """Alone a job gets every core; with a second running each gets half; when one ends the other gets all again."""
    cores = usable_cpus()
    half = max(1, cores // 2)
    store = RunStore(tmp_path / "runs.duckdb")
    manager = JobManager(store, max_concurrent=2)
    long_run = TINY.replace(**{"train.steps": 200_000, "train.time_budget_s": 60.0})
    try:
        assert manager.threads_for_next() == cores  # what the Train page's estimate assumes for a run started now
        first = manager.submit(long_run, 0)
        _wait_for_phase(manager, first, "training")
        assert manager.thread_shares() == {first: cores}
        assert manager.threads_for_next() == half  # a second run would share the cores
        second = manager.submit(long_run, 1)
        _wait_for_phase(manager, second, "training")
        assert manager.thread_shares() == {first: half, second: half}
        manager.cancel(first)
        manager.wait(first, timeout=60)
        assert manager.thread_shares() == {second: cores}
        manager.cancel(second)
        manager.wait(second, timeout=60)
        assert manager.thread_shares() == {}
    finally:
        manager.shutdown()


def test_a_thread_share_is_applied_in_the_runs_own_thread_only() -> None:
    torch.set_num_threads(2)
    control = TrainingControl()
    control.share_cores(1)
    seen: list[int] = []

    def work() -> None:
        control.apply_thread_share()
        seen.append(torch.get_num_threads())

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert seen == [1] and torch.get_num_threads() == 2  # torch's thread count is per calling thread
