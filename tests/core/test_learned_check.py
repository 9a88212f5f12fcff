"""Train until learned (``train.stop_when_learned``): the held-out check, the stop rule, what a run records."""

from __future__ import annotations

import pytest
import torch

from lengen_core.config import RunConfig, TaskConfig
from lengen_core.data import ExampleSource, stream_rng
from lengen_core.errors import ConfigError
from lengen_core.evaluation import sweep
from lengen_core.learned_check import CHECK_SAMPLES_PER_LENGTH, CheckResult, LearnedCheck, check_lengths, stop_reason
from lengen_core.runs.admission import create_run
from lengen_core.runs.execution import execute_run
from lengen_core.store import RunStore
from lengen_core.training import train


def reverse_config(**changes: object) -> RunConfig:
    """Reverse 1..6 with coupling: learned in about 150 steps (2 s)."""
    base = {
        "positions.scheme": "coupled",
        "task.train_length_max": 6,
        "train.batch_size": 64,
        "train.distractor_examples": 0,
        "train.steps": 650,
        "train.device": "cpu",
        "train.learned_check_every": 25,
        "eval.lengths": [3, 6, 12],
        "eval.samples_per_length": 100,
    }
    return RunConfig().replace(**{**base, **changes})


def test_check_lengths_spread_over_the_range_with_both_ends() -> None:
    assert check_lengths(TaskConfig(train_length_min=1, train_length_max=6)) == [1, 2, 3, 4, 5, 6]
    spread = check_lengths(TaskConfig(train_length_min=1, train_length_max=50))
    assert len(spread) == 8 and spread[0] == 1 and spread[-1] == 50 and spread == sorted(set(spread))


def test_a_run_stops_once_learned_and_the_stopped_model_holds_its_range() -> None:
    config = reverse_config(**{"train.stop_when_learned": True})
    result = train(config, seed=0)
    assert result.status == "done"
    assert result.steps_done < 650, result.stop_reason
    assert result.stop_reason.startswith(f"learned at step {result.learned_step}:")
    checks = [(point.step, point.in_distribution) for point in result.points if point.in_distribution is not None]
    assert [step for step, _ in checks] == list(range(25, result.steps_done + 1, 25))  # every check, and only checks, carry it
    assert all(value >= config.eval.threshold for _, value in checks[-2:]) and checks[0][1] < config.eval.threshold
    assert result.learned_step == checks[-2][0]
    # the honest test on fresh examples (the evaluation stream) agrees that the training range is learned
    outcome = sweep(result.model, config.task, config.eval, lengths=[1, 3, 6])
    assert min(point.exact_match for point in outcome.points) >= config.eval.threshold


def test_a_run_that_does_not_learn_goes_to_its_budget_and_says_so() -> None:
    config = reverse_config(**{"train.stop_when_learned": True, "train.steps": 30})
    result = train(config, seed=0)
    assert result.steps_done == 30 and result.learned_step is None
    assert result.stop_reason.startswith("step budget of 30 steps spent: the last learned check gave 0.")  # at the final step
    assert result.stop_reason.endswith(f"at step 30, below its stopping threshold {config.eval.threshold:.2f}")
    assert [point.step for point in result.points if point.in_distribution is not None] == [25, 30]


def test_off_by_default_with_the_config_id_unchanged() -> None:
    config = reverse_config()
    assert not config.train.stop_when_learned
    assert "stop_when_learned" not in RunConfig().to_json() and "learned_check" not in RunConfig().to_json()
    assert RunConfig().config_id == "273e05ecb94979b0"  # the default config's id before these fields existed
    on = config.replace(**{"train.stop_when_learned": True})
    assert on.config_id != config.config_id and '"stop_when_learned":true' in on.to_json()
    result = train(config.replace(**{"train.steps": 20}), seed=0)
    assert result.stop_reason == "step budget of 20 steps spent"
    assert all(point.in_distribution is None for point in result.points)


@pytest.mark.parametrize(
    ("field", "value"), [("train.stop_when_learned", "yes"), ("train.learned_check_every", 0), ("train.learned_checks", 0), ("train.learned_threshold", 1.5)]
)
def test_bad_settings_name_their_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        RunConfig().replace(**{field: value})
    assert caught.value.field == field


def test_a_stricter_learned_threshold_needs_more_steps() -> None:
    config = reverse_config(**{"train.stop_when_learned": True})
    loose = train(config.replace(**{"train.learned_threshold": 0.5}), seed=0)
    strict = train(config.replace(**{"train.learned_threshold": 1.0}), seed=0)
    assert loose.learned_step is not None and strict.learned_step is not None
    assert loose.learned_step < strict.learned_step
    assert [p.in_distribution for p in strict.points if p.in_distribution is not None][-2:] == [1.0, 1.0]


def test_the_held_out_examples_are_fixed_and_not_the_evaluation_streams() -> None:
    config = reverse_config()
    first, second = LearnedCheck(config, seed=0), LearnedCheck(config, seed=0)
    assert [s.examples for s in first.sets] == [s.examples for s in second.sets]
    assert [s.length for s in first.sets] == [1, 2, 3, 4, 5, 6]
    assert first.examples == 6 * CHECK_SAMPLES_PER_LENGTH
    evaluation = ExampleSource(config.task).sample_many(stream_rng("eval", config.eval.seed, "reverse", 6), 6, CHECK_SAMPLES_PER_LENGTH)
    assert [e.tokens for e in first.sets[-1].examples] != [e.tokens for e in evaluation]
    assert [s.examples for s in LearnedCheck(config, seed=1).sets] != [s.examples for s in first.sets]


def test_a_mixture_is_learned_when_every_task_is() -> None:
    config = reverse_config(**{"task.mixture": [{"name": "copy_unique", "train_length_min": 2, "train_length_max": 4, "evaluate": False}]})
    check = LearnedCheck(config, seed=0)
    assert [(s.task, s.length) for s in check.sets] == [("reverse", n) for n in range(1, 7)] + [("copy_unique", n) for n in (2, 3, 4)]
    torch.manual_seed(0)
    result = check.measure(train(config.replace(**{"train.steps": 1}), seed=0).model, step=1)
    assert result.exact_match == 0.0 and not result.passed and not check.learned()


def test_execute_run_records_why_training_ended(tmp_path) -> None:
    store = RunStore(tmp_path / "runs.duckdb")
    config = reverse_config(**{"train.stop_when_learned": True})
    run_id = create_run(store, config, 0)
    assert execute_run(store, run_id, config, 0, checkpoint_dir=tmp_path) == "done"
    record = store.get_run(run_id)
    assert record.stop_reason.startswith(f"learned at step {record.learned_step}:") and record.steps_done < 650
    curve = store.train_curve(run_id)
    assert curve["in_distribution"].notna().sum() == record.steps_done // 25
    assert record.breakdown_length is not None and record.breakdown_length >= 6  # a full run: swept and checkpointed
    assert store.checkpoint_path(run_id) is not None


def test_a_run_learned_at_its_end_but_not_for_long_enough_is_not_told_it_fell_short() -> None:
    """The last check passed but the stopping streak was cut by the budget: the reason says so, not 'below threshold'."""
    config = reverse_config(**{"train.stop_when_learned": True, "train.steps": 30, "train.learned_checks": 3})
    check = LearnedCheck(config, seed=0)
    for step, exact_match in ((10, 0.5), (20, 1.0), (30, 1.0)):
        check.results.append(CheckResult(step, exact_match, "reverse", 1, exact_match >= check.threshold, check.examples, 0.1))
    reason = stop_reason(config, 30, check, out_of_time=False)
    assert reason == (
        "step budget of 30 steps spent: the last 2 learned checks gave 1.00 or more at every training length, "
        f"at or above the threshold {check.threshold:.2f}, but a run stops after 3 in a row"
    )
    check.results.append(CheckResult(40, 0.5, "reverse", 4, False, check.examples, 0.1))  # a failing last check: as before
    assert "gave 0.50 in distribution (length 4) at step 40, below its stopping threshold" in stop_reason(config, 40, check, out_of_time=False)
