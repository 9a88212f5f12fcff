"""Identical requests share one run; waits are scaled to this machine; a queued job knows its place.

Every test uses a real store in a temporary folder and a real job manager that trains the tiny config.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import lengen_core.runs.manager as manager_module
from lengen_core.breakdown import Breakdown
from lengen_core.config import RunConfig
from lengen_core.costs import estimate_cost, finish_times, queue_seconds
from lengen_core.cpus import busy_cores, usable_cpus
from lengen_core.runs.identity import RunIdentity, Submission
from lengen_core.runs.manager import JobManager
from lengen_core.runs.provenance import code_version
from lengen_core.runs.speed import (
    CONTENTION_RANGE,
    PROBE_CHANGES,
    PROBE_FAMILY,
    RATIO_RANGE,
    MachineSpeed,
    family_of,
    observe_finished_run,
    probe_contention,
    probe_training,
)
from lengen_core.smoke import TINY_CONFIG_CHANGES
from lengen_core.store import RunStore

TINY = RunConfig().replace(**TINY_CONFIG_CHANGES)
LONG = TINY.replace(**{"train.steps": 200_000, "train.time_budget_s": 60.0})


def _wait_for_phase(manager: JobManager, job_id: str, phase: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while manager.progress(job_id)["phase"] != phase:
        assert time.monotonic() < deadline, f"{job_id} never reached {phase}: {manager.progress(job_id)}"
        time.sleep(0.05)


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs.duckdb")


def test_an_identical_request_joins_the_running_job_and_one_cancel_does_not_stop_it_for_the_other(store: RunStore) -> None:
    manager = JobManager(store, max_concurrent=1)
    try:
        first = manager.request(LONG, 3, tags=("lesson-run:a",))
        _wait_for_phase(manager, first.run_id, "training")
        second = manager.request(LONG, 3, tags=("lesson-run:b",))
        assert first == Submission(first.run_id) and second == Submission(first.run_id, "joined")
        assert store.count_runs() == 1 and manager.progress(first.run_id)["holders"] == 2
        assert store.get_run(first.run_id).tags == ["lesson-run:a", "lesson-run:b"]  # both requests find it by their tag
        manager.pause(first.run_id)  # a shared job is not paused for one of its followers
        assert manager.progress(first.run_id)["paused"] is False
        assert manager.cancel(first.run_id) is False  # one follower lets go; the other still waits on it
        time.sleep(0.3)
        assert manager.progress(first.run_id)["phase"] == "training"
        assert manager.cancel(first.run_id) is True
        assert manager.wait(first.run_id, timeout=60) == "cancelled"
        fresh = manager.request(LONG, 3)  # a cancelled run has no result to share: this trains again
        assert fresh.shared is None and fresh.run_id != first.run_id
        manager.cancel(fresh.run_id)
        manager.wait(fresh.run_id, timeout=60)
    finally:
        manager.shutdown()


def test_a_request_identical_to_a_finished_run_gets_it_at_once_and_another_seed_trains(store: RunStore) -> None:
    manager = JobManager(store, max_concurrent=1)
    try:
        done = manager.request(TINY, 0).run_id
        assert manager.wait(done, timeout=120) == "done"
        again = manager.request(TINY, 0, tags=("sweep:class",))
        assert again == Submission(done, "stored") and "trained earlier" in (again.note() or "")
        assert store.count_runs() == 1 and "sweep:class" in store.get_run(done).tags
        other_seed = manager.request(TINY, 1)
        assert other_seed.shared is None and other_seed.run_id != done
        forced = manager.submit(TINY, 0)  # submit never shares: a new run of the same settings
        assert forced not in (done, other_seed.run_id)
        assert manager.wait(other_seed.run_id, timeout=120) == manager.wait(forced, timeout=120) == "done"
        assert store.count_runs() == 3
        with pytest.raises(Exception, match="seed"):  # a shared request is admitted like a new one
            manager.request(TINY, -1)
    finally:
        manager.shutdown()


def test_the_store_finds_an_identical_run_by_config_id_seed_and_code_version_only_when_done(store: RunStore) -> None:
    identity = RunIdentity.of(TINY, 5)
    assert identity == RunIdentity(TINY.config_id, 5, code_version())

    def create(version: str, status: str) -> str:
        spec = {"config": TINY.to_dict(), "config_id": TINY.config_id, "seed": 5, "code_version": version, "environment": {}, "status": "queued"}
        run_id = store.create_run(**spec)
        if status != "queued":
            store.set_status(run_id, "running")
            store.set_status(run_id, status)
        return run_id

    create("0.0.1+gold", "done")  # other code: not identical
    create(identity.code_version, "failed")  # no result to share
    assert store.find_identical(identity.config_id, 5, identity.code_version) is None
    ours = create(identity.code_version, "done")
    assert store.find_identical(identity.config_id, 5, identity.code_version) == ours
    assert store.find_identical(identity.config_id, 6, identity.code_version) is None
    store.add_tags(ours, ["a", "b", "a"])
    store.add_tags(ours, ["b", "c"])
    assert store.get_run(ours).tags == ["a", "b", "c"]
    with pytest.raises(Exception, match="tags"):
        store.add_tags(ours, "not-a-list")


def test_a_queued_job_knows_its_place_and_when_its_result_should_arrive(store: RunStore) -> None:
    manager = JobManager(store, max_concurrent=1)
    try:
        running = manager.submit(LONG, 0)
        _wait_for_phase(manager, running, "training")
        first = manager.submit(TINY, 1)
        second = manager.submit(TINY, 2)
        assert manager.place_in_queue(running) is None  # it is not waiting
        place_1, seconds_1 = manager.place_in_queue(first)
        place_2, seconds_2 = manager.place_in_queue(second)
        assert (place_1, place_2) == (1, 2)
        tiny = manager.progress(second)["estimated_seconds"]
        assert tiny > 0 and seconds_2 == pytest.approx(seconds_1 + tiny)  # one worker: the second waits for the first
        manager.cancel(first)  # a cancelled job will not run: the second moves up
        assert manager.place_in_queue(first) is None and manager.place_in_queue(second) == (1, pytest.approx(seconds_1, rel=0.05))
        manager.cancel(running)
        assert manager.wait(first, timeout=60) == "cancelled"
        assert manager.wait(second, timeout=120) == "done"
    finally:
        manager.shutdown()


def test_finish_times_share_jobs_over_workers_first_in_first_out() -> None:
    assert finish_times([10, 4, 3, 5], 2) == [10, 4, 7, 12]
    assert queue_seconds([10, 4, 3, 5], 2) == 12 and queue_seconds([], 2) == 0


def test_the_machine_speed_starts_from_its_first_observation_then_follows_and_stays_in_range() -> None:
    speed = MachineSpeed()
    estimate = estimate_cost(TINY, threads=1)
    assert speed.seconds(estimate) == pytest.approx(estimate.time_to_result_s)  # no observation: the model's own
    speed.observe(estimated_train_s=10.0, measured_train_s=5.0)
    assert speed.reading().train_ratio == pytest.approx(0.5) and speed.reading().eval_ratio == 1.0
    speed.observe(estimated_train_s=10.0, measured_train_s=20.0, estimated_eval_s=2.0, measured_eval_s=3.0)
    reading = speed.reading()
    assert reading.train_ratio == pytest.approx(0.5 + (2.0 - 0.5) / 3) and reading.eval_ratio == pytest.approx(1.5)
    assert (reading.train_observations, reading.eval_observations) == (2, 1)
    assert speed.seconds(estimate) == pytest.approx(estimate.train_seconds * reading.train_ratio + estimate.eval_seconds * 1.5)
    speed.observe(estimated_eval_s=1.0, measured_eval_s=1e6)
    assert speed.reading().eval_ratio <= RATIO_RANGE[1]
    speed.observe(estimated_train_s=0.0, measured_train_s=3.0)  # nothing estimated: skipped
    assert speed.reading().train_observations == 2


def test_each_family_of_runs_follows_its_own_ratio_and_an_unseen_one_uses_the_median() -> None:
    assert family_of(TINY) == "dense:reverse" and family_of(RunConfig().replace(**PROBE_CHANGES)) == PROBE_FAMILY
    speed = MachineSpeed()
    estimate = estimate_cost(TINY, threads=1)
    speed.observe(family="dense:reverse", estimated_train_s=10.0, measured_train_s=8.0)
    assert speed.reading("hsa:passkey").train_ratio == pytest.approx(0.8) and speed.reading("hsa:passkey").train_observations == 0
    speed.observe(family="hsa:passkey", estimated_train_s=10.0, measured_train_s=26.0)  # the model misjudges HSA, not the machine
    speed.observe(family="dense:majority", estimated_train_s=10.0, measured_train_s=9.0)
    assert speed.reading("dense:reverse").train_ratio == pytest.approx(0.8)
    assert speed.reading("hsa:passkey").train_ratio == pytest.approx(2.6)
    assert speed.reading("dense:sort").train_ratio == pytest.approx(0.9)  # unseen: the median of 0.8, 0.9 and 2.6
    assert speed.seconds(estimate, "hsa:passkey") > speed.seconds(estimate, "dense:reverse")
    assert speed.families() == ["dense:majority", "dense:reverse", "hsa:passkey"]
    assert "measurement of hsa:passkey runs here" in speed.describe("hsa:passkey") and "median" in speed.describe("dense:sort")


def test_the_probe_times_real_training_and_a_finished_job_updates_the_speed(store: RunStore) -> None:
    estimated, measured = probe_training(1)
    assert estimated > 0 and measured > 0
    manager = JobManager(store, max_concurrent=1)
    try:
        run_id = manager.submit(TINY, 0)
        assert manager.wait(run_id, timeout=120) == "done"
        reading = manager.speed.reading()
        assert reading.train_observations == 1 and reading.eval_observations == 1
        record = store.get_run(run_id)
        expected = estimate_cost(TINY, manager.budget, threads=usable_cpus())  # alone, the job had every core
        assert record.steps_done == TINY.train.steps
        assert reading.train_ratio == pytest.approx(min(RATIO_RANGE[1], max(RATIO_RANGE[0], record.train_seconds / expected.train_seconds)))
    finally:
        manager.shutdown()


def test_a_sweep_is_compared_with_the_models_time_for_the_lengths_it_tested(store: RunStore) -> None:
    """A length search past the planned sweep tests more lengths: that is the run generalizing, not the machine being slow."""
    manager = JobManager(store, max_concurrent=1)
    try:
        run_id = manager.submit(TINY, 0)
        assert manager.wait(run_id, timeout=120) == "done"
        searched = [1, 4, 8, 16, 32, 64]  # as a search that doubled past the planned [1, 4, 8, 16] would store
        rows = [{"length": length, "n": 5, "exact_match": 1.0, "exact_match_low": 0.5, "exact_match_high": 1.0, "token_accuracy": 1.0} for length in searched]
        store.set_eval_points(run_id, rows, Breakdown(None, 4))
        record = store.get_run(run_id)
        speed = MachineSpeed()
        wall = record.train_seconds + 2.0
        observe_finished_run(speed, store, run_id, TINY, budget=manager.budget, threads=1, wall_seconds=wall)
        searched_estimate = estimate_cost(TINY, manager.budget, lengths=searched, threads=1).eval_seconds
        assert searched_estimate > estimate_cost(TINY, manager.budget, threads=1).eval_seconds
        assert speed.reading().eval_ratio == pytest.approx(min(RATIO_RANGE[1], 2.0 / searched_estimate))
    finally:
        manager.shutdown()


def test_a_job_beside_others_is_announced_slower_by_the_measured_contention() -> None:
    """On a 2-vCPU EPYC two lesson runs at once each trained 1.37x slower than one alone, and the first wait announced
    for a lesson was 0.57x the real one: the speed now carries that factor for jobs that will share the machine."""
    speed = MachineSpeed()
    estimate = estimate_cost(TINY, threads=1)
    assert speed.contention == 1.0 and speed.seconds(estimate, shared=True) == speed.seconds(estimate)  # not measured yet
    speed.set_contention(1.5)
    assert speed.seconds(estimate, shared=True) == pytest.approx(1.5 * speed.seconds(estimate))
    train_alone, eval_alone = speed.scaled(estimate)
    assert speed.scaled(estimate, shared=True) == pytest.approx((1.5 * train_alone, 1.5 * eval_alone))
    assert speed.slowdown(0.0) == 1.0 and speed.slowdown(0.5) == pytest.approx(1.25) and speed.slowdown(1.0) == pytest.approx(1.5)
    assert "1.50x as long as alone" in speed.describe()
    speed.set_contention(0.7)  # a probe disturbed the other way: a job beside others is never faster than alone
    assert speed.contention == CONTENTION_RANGE[0]
    speed.set_contention(50.0)
    assert speed.contention == CONTENTION_RANGE[1]


def test_a_finished_jobs_time_beside_others_is_divided_out_of_its_observation(store: RunStore) -> None:
    manager = JobManager(store, max_concurrent=1)
    try:
        run_id = manager.submit(TINY, 0)
        assert manager.wait(run_id, timeout=120) == "done"
        record = store.get_run(run_id)
        sweep = 3 * estimate_cost(TINY, manager.budget, threads=1).eval_seconds  # a sweep time whose ratio stays inside RATIO_RANGE
        ratios = []
        for fraction in (0.0, 1.0):
            speed = MachineSpeed()
            speed.set_contention(2.0)
            observe_finished_run(
                speed, store, run_id, TINY, budget=manager.budget, threads=1, wall_seconds=record.train_seconds + sweep, shared_fraction=fraction
            )
            ratios.append(speed.reading())
        alone, shared = ratios
        assert shared.train_ratio == pytest.approx(alone.train_ratio / 2.0) and shared.eval_ratio == pytest.approx(alone.eval_ratio / 2.0)
    finally:
        manager.shutdown()


def test_two_workers_time_the_jobs_that_share_the_machine_and_announce_them_slower(store: RunStore) -> None:
    """The probe that measures the factor is tested below (test_the_speed_probes_wait_until_no_job_runs)."""
    manager = JobManager(store, max_concurrent=2)
    try:
        threads = max(1, usable_cpus() // 2)
        manager.speed.set_contention(1.5)  # a known factor
        assert not manager.shares_next()  # nothing runs: a job now would run alone
        estimate = estimate_cost(TINY, manager.budget, threads=manager.threads_when_busy())
        assert manager.batch_seconds([TINY, TINY]) == pytest.approx(1.5 * manager.speed.seconds(estimate, family_of(TINY)))  # two at once, each 1.5x
        first = manager.submit(LONG, 0)
        _wait_for_phase(manager, first, "training")
        assert manager.shares_next()  # a job now would run beside the first
        second = manager.submit(TINY, 1)
        assert manager.wait(second, timeout=120) == "done"
        manager.cancel(first)
        assert manager.wait(first, timeout=60) == "cancelled"
        beside = manager.progress(second)
        assert beside["shared_seconds"] > 0 and beside["estimated_seconds"] == pytest.approx(
            1.5 * manager.speed.seconds(estimate_cost(TINY, manager.budget, threads=threads), family_of(TINY))
        )
    finally:
        manager.shutdown()


def test_the_speed_probes_wait_until_no_job_runs(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first visitor's first run is not slowed by the start-up probes (nor are the probes by it): they run once no job
    is queued or running. On a fresh server they took seconds of both cores beside the browser test's first run."""
    monkeypatch.setattr(manager_module, "PROBE_QUIET_WAIT_S", 0.0)  # the wait for a quiet machine is tested below
    manager = JobManager(store, max_concurrent=2)
    try:
        first = manager.submit(LONG, 0)
        _wait_for_phase(manager, first, "training")
        measured: list[bool] = []
        probing = threading.Thread(target=lambda: measured.append(manager.measure_speed()))
        probing.start()
        probing.join(timeout=3.0)
        assert probing.is_alive() and manager.speed.reading().train_observations == 0, "the probes wait while a job trains"
        manager.cancel(first)
        assert manager.wait(first, timeout=60) == "cancelled"
        probing.join(timeout=180)
        assert measured == [True] and manager.speed.reading().train_observations == 1  # the probe's (a cancelled job tells nothing)
        assert manager.speed.contention == pytest.approx(min(CONTENTION_RANGE[1], max(CONTENTION_RANGE[0], probe_contention(2, max(1, usable_cpus() // 2)))))
    finally:
        manager.shutdown()


def test_the_speed_probes_wait_for_a_quiet_machine(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A probe beside a first session's page being drawn read the machine as 2.4x slower than the model where an idle
    machine reads 1.25x: the probes wait until the machine is quiet (or PROBE_QUIET_WAIT_S has passed; shortened here,
    as the other pytest worker may keep the machine busy)."""
    monkeypatch.setattr(manager_module, "PROBE_QUIET_WAIT_S", 6.0)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    manager = JobManager(store, max_concurrent=1)
    try:
        assert (busy_cores(1.0) or 0.0) >= 0.5  # the spinner keeps a core busy
        measured: list[bool] = []
        probing = threading.Thread(target=lambda: measured.append(manager.measure_speed()))
        probing.start()
        probing.join(timeout=3.0)
        assert probing.is_alive() and manager.speed.reading().train_observations == 0, "no probe while a core is busy"
        spinner.kill()
        probing.join(timeout=manager_module.PROBE_QUIET_WAIT_S + 120)
        assert measured == [True] and manager.speed.reading().train_observations == 1
    finally:
        spinner.kill()
        manager.shutdown()


def test_a_manager_shut_down_before_its_probes_could_run_skips_them(store: RunStore) -> None:
    manager = JobManager(store, max_concurrent=1)
    first = manager.submit(LONG, 0)
    _wait_for_phase(manager, first, "training")
    measured: list[bool] = []
    probing = threading.Thread(target=lambda: measured.append(manager.measure_speed()))
    probing.start()
    manager.shutdown()
    probing.join(timeout=5.0)
    assert measured == [False] and manager.speed.reading().train_observations == 0


def test_the_manager_keeps_a_bounded_number_of_finished_jobs(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manager_module, "KEEP_FINISHED", 2)
    manager = JobManager(store, max_concurrent=1)
    try:
        run_ids = []
        for seed in range(4):
            run_ids.append(manager.submit(TINY, seed))
            assert manager.wait(run_ids[-1], timeout=120) == "done"
        kept = [snapshot["run_id"] for snapshot in manager.jobs()]
        assert len(kept) <= 3 and run_ids[0] not in kept and run_ids[-1] in kept  # the newest stay; the store keeps all
        assert store.count_runs() == 4 and manager.progress(run_ids[0]) is None
    finally:
        manager.shutdown()
