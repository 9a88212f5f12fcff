"""The Ray runner against a real Ray cluster (``ray start --head`` on 127.0.0.1: tests/conftest.py's ``ray_cluster``).

The driver (this test process) alone opens the store; the Ray workers send
their records back. Compared with :class:`LocalProcessRunner` on the same
cells and seeds, and with a worker killed mid-run.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from lengen_core.config import RunConfig
from lengen_core.ray_runner import RayRunner
from lengen_core.store import RunStore
from lengen_core.sweeps import LocalProcessRunner, expand_grid, queue_sweep
from tests.conftest import TINY_CONFIG_CHANGES

pytest.importorskip("ray")  # requirements.txt installs it; the runner itself imports it only when it runs

CELL_CHANGES = {**TINY_CONFIG_CHANGES, "train.steps": 30, "train.log_every": 10}


def six_cells() -> list[tuple[RunConfig, int]]:
    base = RunConfig().replace(**CELL_CHANGES)
    return expand_grid(base, tasks=["reverse"], schemes=["coupled", "nope"], seeds=[0, 1, 2])


def checkpoint_tensors(store: RunStore, run_id: str) -> dict:
    from safetensors.torch import load_file

    path = store.checkpoint_path(run_id)
    assert path is not None and Path(path).exists(), f"{run_id} has no checkpoint file"
    return load_file(path)


def test_a_ray_sweep_records_every_run_once_and_matches_the_local_runner(ray_cluster: str, tmp_path: Path) -> None:
    ray_store, local_store = RunStore(tmp_path / "ray.duckdb"), RunStore(tmp_path / "local.duckdb")
    ray_jobs = queue_sweep(ray_store, six_cells(), tag="ray")
    local_jobs = queue_sweep(local_store, six_cells(), tag="local")
    done: list[str] = []
    runner = RayRunner(ray_cluster, cpus_per_run=1)
    results = runner.run(ray_jobs, on_done=lambda run_id, status: done.append(run_id))
    assert results == {job.run_id: "done" for job in ray_jobs}
    assert sorted(done) == sorted(job.run_id for job in ray_jobs)  # each reported once
    LocalProcessRunner(workers=2).run(local_jobs)

    ray_runs = ray_store.list_runs()
    assert len(local_store.list_runs()) == 6
    assert len(ray_runs) == 6 and ray_runs["run_id"].is_unique and set(ray_runs["status"]) == {"done"}
    pairs = {(job.config_json, job.seed): job.run_id for job in local_jobs}
    for job in ray_jobs:
        twin = pairs[(job.config_json, job.seed)]
        ours, theirs = ray_store.train_curve(job.run_id), local_store.train_curve(twin)
        assert ours["step"].tolist() == [10, 20, 30] == theirs["step"].tolist()  # streamed once each, in order
        assert ours["loss"].tolist() == pytest.approx(theirs["loss"].tolist(), rel=1e-5)
        ray_eval = ray_store.eval_curve([job.run_id]).sort_values("length")
        local_eval = local_store.eval_curve([twin]).sort_values("length")
        assert ray_eval[["length", "n", "exact_match"]].values.tolist() == local_eval[["length", "n", "exact_match"]].values.tolist()
        assert ray_store.get_run(job.run_id).breakdown_length == local_store.get_run(twin).breakdown_length
        ours_weights, theirs_weights = checkpoint_tensors(ray_store, job.run_id), checkpoint_tensors(local_store, twin)
        assert ours_weights.keys() == theirs_weights.keys()
        for name, tensor in ours_weights.items():
            assert (tensor - theirs_weights[name]).abs().max().item() <= 1e-5, name
        record = ray_store.get_run(job.run_id)
        assert record.started_at is not None and record.finished_at is not None
    assert runner.stats.store_writes > 0


def test_a_custom_task_and_a_plugin_task_travel_to_ray_workers_in_their_config(ray_cluster: str, tmp_path: Path) -> None:
    """The expression is part of the config, and the plug-in is installed where the workers run (issue 24)."""
    base = RunConfig().replace(**CELL_CHANGES)
    expression = {"name": "my_reverse", "answer": "x[::-1]", "symbols": "abcd", "coupling": "len(x) - 1 - i"}
    cells = [
        (base.replace(**{"task.name": "expression", "task.options": expression}), 0),
        (base.replace(**{"task.name": "a_before_b", "positions.scheme": "rope"}), 0),
    ]
    store = RunStore(tmp_path / "ray.duckdb")
    jobs = queue_sweep(store, cells, tag="custom")
    assert RayRunner(ray_cluster, cpus_per_run=1).run(jobs) == {job.run_id: "done" for job in jobs}
    listed = store.list_runs().set_index("run_id")
    assert sorted(listed["task"]) == ["a_before_b", "expression:my_reverse"]
    for job in jobs:
        assert len(store.eval_curve([job.run_id])) >= 3  # eval.n_lengths, and any the breakdown search added


def worker_pids_running(run_id: str) -> list[int]:
    """Ray names a task's worker process ``ray::lengen-run-<id>`` while it runs the task."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if f"lengen-run-{run_id}" in command:
                pids.append(int(entry.name))
    return pids


def test_a_killed_ray_worker_fails_its_run_and_the_others_finish(ray_cluster: str, tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.duckdb")
    base = RunConfig().replace(**CELL_CHANGES)
    long_cell = (base.replace(**{"train.steps": 200_000, "train.time_budget_s": 120.0}), 7)
    jobs = queue_sweep(store, [long_cell, *six_cells()[:3]], tag="fault")
    victim = jobs[0].run_id
    runner = RayRunner(ray_cluster, cpus_per_run=1, max_in_flight=2)
    results: dict[str, str] = {}
    driver = threading.Thread(target=lambda: results.update(runner.run(jobs)))
    driver.start()
    deadline = time.monotonic() + 120
    while True:  # wait until the long run has streamed a training point, then kill its worker
        assert time.monotonic() < deadline, "the long run never reported training progress"
        if len(store.train_curve(victim)) and worker_pids_running(victim):
            break
        time.sleep(0.5)
    for pid in worker_pids_running(victim):
        os.kill(pid, signal.SIGKILL)
    driver.join(timeout=240)
    assert not driver.is_alive(), "the sweep did not end after its worker was killed"

    assert results[victim] == "failed"
    killed = store.get_run(victim)
    assert killed.status == "failed" and "Ray task failed" in (killed.error or "")
    assert {results[job.run_id] for job in jobs[1:]} == {"done"}
    reopened = RunStore(store.path)  # the file opens, and nothing is there twice
    runs = reopened.list_runs()
    assert len(runs) == 4 and runs["run_id"].is_unique
    curve = reopened.train_curve(victim)
    assert len(curve) >= 1 and curve["step"].is_unique  # what it streamed before dying is kept, once
    for job in jobs[1:]:
        assert reopened.train_curve(job.run_id)["step"].tolist() == [10, 20, 30]


def test_cancelling_a_ray_sweep_cancels_its_tasks(ray_cluster: str, tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.duckdb")
    base = RunConfig().replace(**{**CELL_CHANGES, "train.steps": 200_000, "train.time_budget_s": 120.0})
    jobs = queue_sweep(store, [(base, seed) for seed in range(3)], tag="cancel")
    runner = RayRunner(ray_cluster, cpus_per_run=1, max_in_flight=2)
    results: dict[str, str] = {}
    driver = threading.Thread(target=lambda: results.update(runner.run(jobs)))
    driver.start()
    deadline = time.monotonic() + 120
    while not any(len(store.train_curve(job.run_id)) for job in jobs):
        assert time.monotonic() < deadline, "no run started"
        time.sleep(0.5)
    runner.cancel()
    driver.join(timeout=90)
    assert not driver.is_alive(), "the sweep did not stop after cancel()"
    assert results == {job.run_id: "cancelled" for job in jobs}
    assert set(store.list_runs()["status"]) == {"cancelled"}


def test_the_cli_sweeps_on_the_cluster_it_is_given(ray_cluster: str, tmp_path: Path) -> None:
    from tests.core.test_cli import TINY, read_table, run_cli

    db = str(tmp_path / "runs.duckdb")
    code, output = run_cli(
        "--db",
        db,
        "sweep",
        "--tasks",
        "reverse",
        "--schemes",
        "coupled,nope",
        "--seeds",
        "0",
        "--runner",
        "ray",
        "--ray-address",
        ray_cluster,
        "--tag",
        "cli",
        *TINY,
    )
    assert code == 0, output
    assert f"on {ray_cluster}, 1 CPU(s) each" in output
    headers, rows = read_table(output, "run_id")
    assert len(rows) == 2 and {row[headers.index("status")] for row in rows} == {"done"}
    runs = RunStore(db).list_runs(tag="sweep:cli")
    assert len(runs) == 2 and set(runs["status"]) == {"done"}


def test_without_ray_installed_the_ray_runner_is_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from lengen_core.errors import ConfigError
    from lengen_core.ray_runner import app_ray_settings
    from tests.core.test_cli import run_cli
    from tests.core.test_hostile_inputs import run_cli as run_cli_capturing

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError, as on a machine without it
    code, _, err = run_cli_capturing(
        ["--db", str(tmp_path / "runs.duckdb"), "sweep", "--tasks", "reverse", "--schemes", "coupled", "--runner", "ray", "--dry-run"]
    )
    assert code == 2 and "--runner" in err and "pip install" in err, err
    with pytest.raises(ConfigError, match="LENGEN_RUNNER"):
        app_ray_settings({"LENGEN_RUNNER": "ray"})
    assert app_ray_settings({}) is None  # the default needs no Ray
    code, output = run_cli("--db", str(tmp_path / "runs.duckdb"), "sweep", "--tasks", "reverse", "--schemes", "coupled", "--dry-run")
    assert code == 0, output  # the local runner works without Ray
    assert not (tmp_path / "runs.duckdb").exists()


def test_ray_flags_are_checked_before_anything_starts(tmp_path: Path) -> None:
    from tests.core.test_hostile_inputs import run_cli as run_cli_capturing

    base = ["--db", str(tmp_path / "runs.duckdb"), "sweep", "--tasks", "reverse", "--schemes", "coupled"]
    for extra, message in [
        (["--ray-address", "127.0.0.1:1"], "--ray-address: needs --runner ray"),
        (["--runner", "dask"], "--runner: must be 'local' or 'ray'"),
        (["--runner", "ray", "--ray-cpus-per-run", "0"], "--ray-cpus-per-run: must be an integer between 1"),
        (["--runner", "ray", "--workers", "0"], "--workers: must be an integer between 1"),
    ]:
        code, _, err = run_cli_capturing(base + extra)
        assert code == 2 and message in err, (extra, err)
    assert not (tmp_path / "runs.duckdb").exists()


def test_a_fine_tuning_run_on_ray_starts_from_its_parent_sent_by_the_driver(ray_cluster: str, tmp_path: Path) -> None:
    from lengen_core.runs.admission import create_run
    from lengen_core.runs.execution import execute_run

    store = RunStore(tmp_path / "runs.duckdb")
    parent_config = RunConfig().replace(**CELL_CHANGES)
    parent = create_run(store, parent_config, 0)
    assert execute_run(store, parent, parent_config, 0) == "done"
    child_config = parent_config.replace(**{"train.init_from": parent, "train.steps": 10, "train.log_every": 10})
    [job] = queue_sweep(store, [(child_config, 1)], tag="child")
    assert RayRunner(ray_cluster).run([job]) == {job.run_id: "done"}  # the worker had no store to read the parent from
    child, scratch = store.train_curve(job.run_id)["loss"].iloc[0], store.train_curve(parent)["loss"].iloc[0]
    assert child < scratch  # its first logged loss is past where a fresh model starts


def test_an_address_where_nothing_listens_is_refused_at_once(tmp_path: Path) -> None:
    """Ray itself would retry for about a minute; the runner says at once that nothing answers there."""
    import socket

    from lengen_core.errors import ConfigError
    from tests.core.test_hostile_inputs import run_cli as run_cli_capturing

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    code, _, err = run_cli_capturing(
        [
            "--db",
            str(tmp_path / "runs.duckdb"),
            "sweep",
            "--tasks",
            "reverse",
            "--schemes",
            "coupled",
            "--seeds",
            "0",
            "--runner",
            "ray",
            "--ray-address",
            f"127.0.0.1:{port}",
            "--steps",
            "2",
        ]
    )
    assert code == 2 and f"--ray-address: nothing answers at '127.0.0.1:{port}'" in err, err
    assert time.monotonic() - started < 30
    assert not (tmp_path / "runs.duckdb").exists()  # refused before any run was written
    # Through the runner itself (the app's path: its runs are queued first), the runs end failed, with the reason.
    store = RunStore(tmp_path / "app.duckdb")
    jobs = queue_sweep(store, six_cells()[:2], tag="dead")
    with pytest.raises(ConfigError, match="nothing answers"):
        RayRunner(f"127.0.0.1:{port}").run(jobs)
    runs = store.list_runs(tag="sweep:dead")
    assert list(runs["status"]) == ["failed", "failed"]
    assert all("nothing answers" in store.get_run(run_id).error for run_id in runs["run_id"])
