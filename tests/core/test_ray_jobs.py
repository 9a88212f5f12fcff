"""The job manager on Ray (``LENGEN_RUNNER=ray``): a training job runs as a Ray task on a real local cluster
(tests/conftest.py's ``ray_cluster``), its progress streams back, the server alone writes the store, cancel cancels
the task, and the result is the one the same run gives on this machine."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from lengen_core.config import RunConfig
from lengen_core.ray_runner import RayJobs, RaySettings
from lengen_core.runs.manager import JobManager
from lengen_core.smoke import TINY_CONFIG_CHANGES
from lengen_core.store import RunStore

pytest.importorskip("ray")

TINY = RunConfig().replace(**{**TINY_CONFIG_CHANGES, "train.steps": 40, "train.log_every": 10})


def test_a_training_job_runs_on_ray_streams_its_progress_and_matches_the_local_run(ray_cluster: str, tmp_path: Path) -> None:
    remote_store, local_store = RunStore(tmp_path / "ray.duckdb"), RunStore(tmp_path / "local.duckdb")
    remote = JobManager(remote_store, max_concurrent=1, remote=RayJobs(RaySettings(ray_cluster, 1)))
    local = JobManager(local_store, max_concurrent=1)
    try:
        assert remote.threads_for_next() == remote.threads_when_busy() == 1  # a Ray task's threads, not this machine's cores
        # long enough that the driver polls (every 0.2 s) while it trains: a 40-step run can finish between two polls
        longer = TINY.replace(**{"train.steps": 400, "train.log_every": 100})
        ours, theirs = remote.submit(longer, 2), local.submit(longer, 2)
        steps_seen: set[int] = set()
        deadline = time.monotonic() + 180
        while remote.progress(ours)["phase"] != "finished":
            steps_seen.update(point.step for point in remote.progress(ours)["train_points"])
            assert time.monotonic() < deadline, remote.progress(ours)
            time.sleep(0.05)
        assert remote.wait(ours, timeout=10) == "done" and local.wait(theirs, timeout=120) == "done"
        snapshot = remote.progress(ours)
        assert [point.step for point in snapshot["train_points"]] == [100, 200, 300, 400]  # streamed from the worker
        assert steps_seen, "progress was seen while the task ran"
        assert snapshot["pausable"] is False  # a Ray task cannot pause
        ray_curve, local_curve = remote_store.train_curve(ours), local_store.train_curve(theirs)
        assert ray_curve["loss"].tolist() == pytest.approx(local_curve["loss"].tolist(), rel=1e-5)
        ray_eval, local_eval = remote_store.eval_curve([ours]), local_store.eval_curve([theirs])
        assert ray_eval[["length", "n", "exact_match"]].values.tolist() == local_eval[["length", "n", "exact_match"]].values.tolist()
        checkpoint = remote_store.checkpoint_path(ours)
        assert checkpoint is not None and Path(checkpoint).parent == remote_store.checkpoint_dir and Path(checkpoint).exists()
    finally:
        remote.shutdown()
        local.shutdown()


def test_cancelling_a_job_on_ray_cancels_its_task_and_records_it(ray_cluster: str, tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.duckdb")
    manager = JobManager(store, max_concurrent=1, remote=RayJobs(RaySettings(ray_cluster, 1)))
    try:
        run_id = manager.submit(TINY.replace(**{"train.steps": 200_000, "train.time_budget_s": 120.0}), 0)
        deadline = time.monotonic() + 120
        while not manager.progress(run_id)["train_points"]:
            assert time.monotonic() < deadline, manager.progress(run_id)
            time.sleep(0.1)
        manager.pause(run_id)
        assert manager.progress(run_id)["paused"] is False
        manager.cancel(run_id)
        assert manager.wait(run_id, timeout=60) == "cancelled"
        assert store.get_run(run_id).status == "cancelled"
    finally:
        manager.shutdown()


def test_when_ray_cannot_be_joined_the_job_fails_with_the_reason(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.duckdb")
    manager = JobManager(store, max_concurrent=1, remote=RayJobs(RaySettings("127.0.0.1:1", 1)))
    try:
        run_id = manager.submit(TINY, 0)
        assert manager.wait(run_id, timeout=60) == "failed"
        assert "nothing answers at '127.0.0.1:1'" in (store.get_run(run_id).error or "")
    finally:
        manager.shutdown()


def test_an_extra_sweep_runs_on_ray_and_stores_what_the_local_sweep_stores(ray_cluster: str, tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.duckdb")
    local = JobManager(store, max_concurrent=1)
    try:
        run_id = local.submit(TINY, 1)
        assert local.wait(run_id, timeout=120) == "done"
        here = local.submit_sweep(run_id, [5, 6], 4)
        assert local.wait(here, timeout=120) == "done"
    finally:
        local.shutdown()
    remote = JobManager(store, max_concurrent=1, remote=RayJobs(RaySettings(ray_cluster, 1)))
    try:
        there = remote.submit_sweep(run_id, [5, 6], 4)
        assert there.endswith(":extra-2") and remote.wait(there, timeout=180) == "done"
        assert remote.progress(there)["breakdown_length"] == local.progress(here)["breakdown_length"]
        columns = ["length", "n", "exact_match", "token_accuracy"]
        assert store.eval_curve([run_id], sweep="extra-2")[columns].values.tolist() == store.eval_curve([run_id], sweep="extra-1")[columns].values.tolist()
        cancelled = remote.submit_sweep(run_id, list(range(7, 31)), 4000)  # seconds of work, so the cancel lands first on a fast machine
        deadline = time.monotonic() + 60
        while remote.progress(cancelled)["phase"] != "evaluating":  # its Ray task is submitted
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)
        remote.cancel(cancelled)
        assert remote.wait(cancelled, timeout=120) == "cancelled"
        assert "extra-3" not in set(store.sweeps(run_id)["sweep"])  # a cancelled sweep stores nothing
    finally:
        remote.shutdown()
