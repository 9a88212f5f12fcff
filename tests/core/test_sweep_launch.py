"""Whether a sweep may start (lengen_core.runs.admission): its name, its size, a server's caps, the queue, admission."""

from __future__ import annotations

import pytest

from lengen_core.compare_defaults import LAUNCH_DEFAULTS, launcher_cells
from lengen_core.config import RunConfig
from lengen_core.costs import Budget
from lengen_core.errors import ConfigError
from lengen_core.runs.admission import SweepRoom, check_sweep_name, sweep_launch_errors

ROOMY = SweepRoom(max_runs=64, max_runs_by="LENGEN_APP_MAX_SWEEP_RUNS", queue_free=32, queue_size=32)
BUDGET = Budget(memory_bytes=8 << 30, eval_seconds=600.0, source="the test")


def cells(tasks: list[str], schemes: list[str], seeds: int = 1) -> list[tuple[RunConfig, int]]:
    numbers = {**LAUNCH_DEFAULTS, "seeds": seeds, "steps": 20, "train_max": 4, "layers": 1, "d_model": 16, "samples": 5, "batch": 8}
    made, _ = launcher_cells(tasks, schemes, numbers, until_learned=False)
    return made


def fields(errors: list[ConfigError]) -> list[str]:
    return [error.field for error in errors]


def test_a_sweep_that_fits_may_start() -> None:
    assert sweep_launch_errors(cells(["reverse", "copy_unique"], ["rope", "coupled"], seeds=2), ROOMY, BUDGET) == []


def test_names_are_stripped_and_bounded() -> None:
    assert check_sweep_name("  mine ") == "mine"
    for bad in ("", "   ", "x" * 65):
        with pytest.raises(ConfigError, match=r"sweep\.name: must be a name of 1\.\.64 characters"):
            check_sweep_name(bad)
    with pytest.raises(ConfigError, match="--tag"):
        check_sweep_name("", "--tag")


def test_too_many_runs_names_the_limit_and_who_set_it() -> None:
    room = SweepRoom(max_runs=3, max_runs_by="LENGEN_APP_MAX_SWEEP_RUNS")
    errors = sweep_launch_errors(cells(["reverse"], ["rope", "learned"], seeds=2), room, BUDGET)
    assert fields(errors) == ["sweep.runs"]
    assert "4 runs requested; the limit is 3 per sweep (set by LENGEN_APP_MAX_SWEEP_RUNS)" in str(errors[0])


def test_cap_errors_come_once_each_and_only_eval_lengths_from_later_cells() -> None:
    seen: list[str] = []

    def caps(config: RunConfig) -> list[ConfigError]:
        seen.append(config.task.name)
        return [ConfigError("train.steps", "20 is above 10"), ConfigError("eval.lengths", f"{config.task.name}'s lengths are too long")]

    errors = sweep_launch_errors(cells(["reverse", "copy_unique"], ["rope"], seeds=2), ROOMY, BUDGET, caps)
    assert len(seen) == 4  # every cell was checked
    assert [str(error) for error in errors] == [
        "train.steps: 20 is above 10",
        "eval.lengths: reverse's lengths are too long",
        "eval.lengths: copy_unique's lengths are too long",
    ]


def test_a_full_queue_refuses_but_a_sweep_that_does_not_queue_here_passes() -> None:
    full = SweepRoom(max_runs=64, max_runs_by="x", queue_free=1, queue_size=32)
    errors = sweep_launch_errors(cells(["reverse"], ["rope", "coupled"]), full, BUDGET)
    assert fields(errors) == ["jobs.queued"] and "2 runs would not fit in the queue (1 places free of 32)" in str(errors[0])
    assert sweep_launch_errors(cells(["reverse"], ["rope", "coupled"]), SweepRoom(max_runs=64, max_runs_by="x"), BUDGET) == []


def test_no_cells_is_refused() -> None:
    assert fields(sweep_launch_errors([], ROOMY, BUDGET)) == ["sweep"]


def test_one_cell_over_the_budget_refuses_the_whole_sweep() -> None:
    tiny = Budget(memory_bytes=1 << 20, eval_seconds=600.0, source="a 1 MiB test budget")
    errors = sweep_launch_errors(cells(["reverse"], ["rope"]), ROOMY, tiny)
    assert len(errors) == 1 and "1 MiB test budget" in str(errors[0])


def test_a_sweeps_cells_are_requested_named_and_tagged_and_a_refusal_keeps_the_rest(tmp_path) -> None:
    import time

    from lengen_core.run_listing import sweep_name_of, sweep_tag, sweep_tags
    from lengen_core.runs.manager import JobManager
    from lengen_core.store import RunStore

    store = RunStore(tmp_path / "runs.duckdb")
    grid = cells(["reverse"], ["rope", "coupled"], seeds=2)  # 4 runs
    manager = JobManager(store, max_concurrent=1, max_queued=2, budget=BUDGET)
    try:
        busy = manager.submit(grid[0][0].replace(**{"train.steps": 200_000, "train.time_budget_s": 60.0}), 9)
        deadline = time.monotonic() + 60
        while manager.progress(busy)["phase"] == "queued" and time.monotonic() < deadline:  # until the worker takes it
            time.sleep(0.05)
        submissions, refused = manager.request_sweep(grid, "mine")
        # the only worker is busy: two cells fill the queue, the third is refused, and the two stay requested
        assert refused is not None and refused.field == "jobs" and len(submissions) == 2
        assert [store.get_run(submission.run_id).name for submission in submissions] == ["mine:reverse/rope/s0", "mine:reverse/rope/s1"]
        assert all(sweep_tag("mine") in store.get_run(submission.run_id).tags for submission in submissions)
        assert sweep_tags(store.list_runs()) == ["sweep:mine"] and sweep_name_of("sweep:mine") == "mine"
        again, refused = manager.request_sweep(grid[:2], "again")  # the same cells: joined, tagged with both sweeps
        assert refused is None and [submission.run_id for submission in again] == [submission.run_id for submission in submissions]
        assert [submission.shared for submission in again] == ["joined", "joined"]
        assert sweep_tag("again") in store.get_run(again[0].run_id).tags
    finally:
        manager.shutdown()
