"""The length search (issue 29): doubling then bisection past the sweep's end, its limits, the breakdown's interval."""

from __future__ import annotations

import pytest

from lengen_core.breakdown import Breakdown
from lengen_core.config import RunConfig
from lengen_core.costs import default_budget
from lengen_core.evaluation import EvalPoint, wilson_interval
from lengen_core.length_search import SearchLimit, breakdown_interval, search, search_lengths, search_limit, suggested_extra_lengths
from lengen_core.monotone import largest_length
from lengen_core.runs.admission import create_run
from lengen_core.runs.execution import execute_run
from lengen_core.store import RunStore


def point(length: int, correct: int, n: int = 100) -> EvalPoint:
    low, high = wilson_interval(correct, n)
    return EvalPoint(length, n, correct / n, low, high, correct / n)


def curve(breaks_after: int):
    """A model that is right on every example up to ``breaks_after`` and on none beyond, with the lengths it was asked."""
    asked: list[int] = []

    def measure(length: int) -> EvalPoint:
        asked.append(length)
        return point(length, 100 if length <= breaks_after else 0)

    return measure, asked


def test_doubling_then_bisection_to_the_resolution() -> None:
    measure, asked = curve(57)
    result = search([point(5, 100), point(10, 100)], measure, threshold=0.9, shortest_trained=1, limit=SearchLimit(10_000, "task"), resolution=0.1)
    assert asked == [20, 40, 80, 60, 50, 55]  # doubles to the first failure, then halves the gap 40-80
    assert result.bound_reason is None
    lengths = sorted(p.length for p in result.points)
    held = max(p.length for p in result.points if p.exact_match >= 0.9)
    failed = min(p.length for p in result.points if p.exact_match < 0.9)
    assert (held, failed) == (55, 60) and failed - held <= max(1, int(0.1 * held))
    assert lengths == [20, 40, 50, 55, 60, 80]


def test_a_model_that_never_breaks_is_a_bound_with_the_limit_named() -> None:
    measure, asked = curve(10**9)
    result = search([point(10, 100)], measure, threshold=0.9, shortest_trained=1, limit=SearchLimit(64, "the position table ends at 64"), resolution=0.1)
    assert asked == [20, 40, 64]  # the limit itself is tested before stopping there
    assert result.bound_reason == "the position table ends at 64"
    assert str(Breakdown(64, 10, bound_reason=result.bound_reason, longest_tested=64)) == "≥ 64 (≥ 6.4x): the position table ends at 64"


def test_no_search_when_the_sweep_already_broke_or_was_stopped() -> None:
    measure, asked = curve(100)
    assert search([point(10, 100), point(20, 50)], measure, threshold=0.9, shortest_trained=1, limit=SearchLimit(99, "x"), resolution=0.1).points == []
    assert asked == []
    stopped = search([point(10, 100)], lambda length: None, threshold=0.9, shortest_trained=1, limit=SearchLimit(99, "x"), resolution=0.1)
    assert stopped.points == [] and stopped.bound_reason == "the evaluation was stopped"


def test_the_interval_is_where_the_wilson_bands_straddle_the_threshold() -> None:
    points = [point(10, 100), point(20, 97), point(30, 93), point(40, 89), point(50, 80), point(60, 95)]
    # 97/100: Wilson low 0.916 >= 0.9; 93/100: low 0.863 straddles; 89/100: high 0.94 straddles; 80/100: high 0.87 below
    assert breakdown_interval(points, 0.9, 1) == (20, 40)
    assert breakdown_interval([point(10, 10)], 0.9, 1) == (None, None)
    assert str(Breakdown(30, 10, low=20, high=40, longest_tested=60)) == "30 (3.0x; interval 20-40)"
    assert str(Breakdown(None, 10)) == "none: below the threshold at the shortest tested length"
    # 49/50 at 16 (Wilson low 0.895): even the first tested length may be below the threshold
    assert str(Breakdown(48, 48, low=None, high=48, longest_tested=256)) == "48 (1.0x; interval from below the first tested length to 48)"


def test_search_plan_lengths_and_the_largest_fitting_length() -> None:
    assert search_lengths(40, 320, 0.1)[:3] == [80, 160, 320] and set(search_lengths(40, 320, 0.1)[3:]) == {320}
    assert largest_length(lambda n: n * n <= 50, 1, 100) == 7
    assert largest_length(lambda n: False, 5, 10) == 4


def test_the_limit_is_the_position_table_for_learned_ape_and_the_task_without_a_table() -> None:
    budget = default_budget(1)
    learned = RunConfig().replace(
        **{"task.name": "reverse", "positions.scheme": "learned", "positions.max_position": 64, "eval.lengths": [10], "train.distractor_examples": 0}
    )
    limit = search_limit(learned, "", 10, budget, seconds_left=3600)
    assert limit.reason == "the position table ends at 64 (positions.max_position)"
    assert 2 * limit.length + 3 <= 64 < 2 * (limit.length + 1) + 3  # <bos> x > y <eos>
    nope = RunConfig().replace(**{"task.name": "majority", "positions.scheme": "nope"})
    assert search_limit(nope, "", 10, budget, seconds_left=3600).reason == "task majority has lengths up to 512"
    capped = nope.replace(**{"eval.search_max_length": 100})
    assert search_limit(capped, "", 10, budget, seconds_left=3600) == SearchLimit(100, "eval.search_max_length is 100")
    squeezed = search_limit(nope, "", 10, budget, seconds_left=0.01)
    assert squeezed.length < 512 and "time bound" in squeezed.reason


def _small_reverse(**changes: object) -> RunConfig:
    base = {
        "positions.scheme": "coupled",
        "task.train_length_max": 6,
        "train.batch_size": 64,
        "train.distractor_examples": 0,
        "train.steps": 250,
        "train.device": "cpu",
        "eval.lengths": [3, 6],
        "eval.samples_per_length": 50,
    }
    return RunConfig().replace(**{**base, **changes})


def test_a_real_run_that_holds_at_its_sweeps_end_is_searched_until_it_breaks(tmp_path) -> None:
    store = RunStore(tmp_path / "runs.duckdb")
    config = _small_reverse()
    run_id = create_run(store, config, 0)
    assert execute_run(store, run_id, config, 0, checkpoint_dir=tmp_path) == "done"
    record = store.get_run(run_id)
    points = store.eval_curve([run_id], sweep="default")
    lengths = points["length"].tolist()
    assert lengths[:2] == [3, 6] and len(lengths) > 2  # the search added lengths past the sweep's end
    assert record.breakdown_length is not None and record.breakdown_length >= 6
    failed = points[points["exact_match"] < config.eval.threshold]["length"]
    if record.breakdown_bound is None:  # it broke: a measurement to 10%
        first_fail = int(failed[failed > record.breakdown_length].min())
        assert first_fail - record.breakdown_length <= max(1, int(0.1 * record.breakdown_length))
    else:  # it held to the coupling ids' end
        assert "position ids end" in record.breakdown_bound and failed.empty
    assert record.breakdown_low is not None and record.breakdown_low <= record.breakdown_length <= record.breakdown_high


def test_a_real_run_that_never_breaks_before_its_table_ends_is_a_bound(tmp_path) -> None:
    """Reverse with coupling (trained on 1-6, with distractor examples) and a position table of 12 ids: it holds to the
    table's end (exact match 0.98-1.00 at 10 on seeds 0-4; 16 s a run on one core, where the Train page's defaults with
    24 ids took 67 s)."""
    store = RunStore(tmp_path / "runs.duckdb")
    config = _small_reverse(**{"positions.max_position": 12, "train.distractor_examples": 2})
    run_id = create_run(store, config, 0)
    assert execute_run(store, run_id, config, 0, checkpoint_dir=tmp_path) == "done"
    record = store.get_run(run_id)
    assert record.breakdown_length == 10  # reverse at 10 symbols needs ids up to 11: the table's last row
    assert record.breakdown_bound == "the position ids end at 11 (positions.max_position)"
    assert store.eval_curve([run_id], sweep="default")["length"].tolist() == [3, 6, 10]


def test_search_off_reproduces_the_fixed_sweep(tmp_path) -> None:
    store = RunStore(tmp_path / "runs.duckdb")
    config = _small_reverse(**{"eval.search": False})
    run_id = create_run(store, config, 0)
    assert execute_run(store, run_id, config, 0, checkpoint_dir=tmp_path) == "done"
    assert store.eval_curve([run_id], sweep="default")["length"].tolist() == [3, 6]
    record = store.get_run(run_id)
    if record.breakdown_length == 6:
        assert record.breakdown_bound == "the sweep ends there"


@pytest.mark.parametrize(("field", "value"), [("eval.search", "yes"), ("eval.search_resolution", 0.9), ("eval.search_max_length", 0)])
def test_bad_search_settings_name_their_field(field: str, value: object) -> None:
    from lengen_core.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        RunConfig().replace(**{field: value})
    assert caught.value.field == field


def test_stored_runs_did_not_search_and_new_ones_do_with_the_same_config_id() -> None:
    stored = RunConfig().to_dict()
    del stored["eval"]["search"]
    assert RunConfig.from_stored(stored).eval.search is False and RunConfig().eval.search is True
    assert "search" not in RunConfig().to_json()


def test_the_search_stops_at_its_factor_of_the_training_length() -> None:
    config = RunConfig().replace(**{"task.name": "majority", "positions.scheme": "nope", "eval.search_max_factor": 4.0})
    limit = search_limit(config, "", 10, default_budget(1), seconds_left=3600)
    assert limit == SearchLimit(40, "the search stops at 4x the training length (eval.search_max_factor)")
    assert "search_max_factor" not in RunConfig().to_json()


def test_sweep_further_suggests_lengths_the_run_can_be_tested_at() -> None:
    """1.5x, 2x, 3x the longest tested length, none past the position table (the page offered 45,60,90 to a run whose
    ids end at 31, and each was refused)."""
    config = RunConfig().replace(
        **{"task.name": "reverse", "positions.scheme": "coupled", "positions.max_position": 32, "task.train_length_max": 8, "eval.lengths": [4, 8, 12]}
    )
    budget = default_budget(1)
    assert suggested_extra_lengths(config, "", 12, budget)[0] == [18, 24, 30]  # 36 would need id 37: cut to the table's 30
    lengths, limit = suggested_extra_lengths(config, "", 30, budget)
    assert lengths == [] and limit == SearchLimit(30, "the position ids end at 31 (positions.max_position)")
    wide = config.replace(**{"positions.max_position": 256})
    assert suggested_extra_lengths(wide, "", 12, budget)[0] == [18, 24, 36]
