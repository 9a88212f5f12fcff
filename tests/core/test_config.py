"""Configs: validation names the field and the limit; JSON round trip; stable ids."""

from __future__ import annotations

import pytest

from lengen_core.config import EvalConfig, ModelConfig, PositionConfig, RunConfig, TaskConfig, TrainConfig
from lengen_core.config_codec import flatten
from lengen_core.errors import ConfigError


def test_json_round_trip_and_stable_config_id() -> None:
    config = RunConfig(
        task=TaskConfig(name="addition", train_length_min=1, train_length_max=8),
        positions=PositionConfig(scheme="coupled", max_position=64),
        model=ModelConfig(n_layers=3),
        train=TrainConfig(steps=123, time_budget_s=30.0),
        eval=EvalConfig(lengths=(4, 8, 16)),
    )
    again = RunConfig.from_json(config.to_json())
    assert again == config
    assert again.config_id == config.config_id
    assert len(config.config_id) == 16
    assert config.replace(**{"model.n_layers": 4}).config_id != config.config_id
    # the id is a pure function of the values: the same config built twice hashes the same
    assert RunConfig().config_id == RunConfig().config_id


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"model.n_layers": 0}, "model.n_layers", "between 1 and 12"),
        ({"model.n_layers": 99}, "model.n_layers", "between 1 and 12"),
        ({"model.d_model": 12, "model.n_heads": 4, "model.d_ff": 16}, "model.d_model", "even"),
        ({"model.d_model": 100, "model.n_heads": 3}, "model.d_model", "divisible"),
        ({"train.steps": 10**9}, "train.steps", "200000"),
        ({"train.lr": "fast"}, "train.lr", "finite number"),
        ({"task.name": "nope"}, "task.name", "unknown task"),
        ({"task.train_length_min": 9, "task.train_length_max": 3}, "task.train_length_min", "<= task.train_length_max"),
        ({"positions.scheme": "magic"}, "positions.scheme", "must be one of"),
        ({"eval.threshold": 1.5}, "eval.threshold", "between 0.0 and 1.0"),
        ({"task.options": {"alphabet_size": 100000}}, "task.options.alphabet_size", "<="),
        ({"task.name": "majority", "task.options": {}, "positions.scheme": "coupled"}, "positions.scheme", "no position-coupling rule"),
        ({"positions.scheme": "learned", "positions.max_position": 16}, "positions.max_position", "needs"),
        ({"train.distractor_examples": 9}, "train.distractor_examples", "between 0 and 8"),
        ({"model.length_scaling": "sqrt"}, "model.length_scaling", "must be one of"),
        ({"task.supervision": "every_token"}, "task.supervision", "must be one of"),
        ({"task.supervision": "every_prefix"}, "task.supervision", "no label per prefix"),
        ({"task.supervision": "member_prefixes"}, "task.supervision", "member_prefixes works with the recognition tasks"),
        (
            {"task.name": "tomita_3", "positions.scheme": "nope", "task.supervision": "every_prefix", "task.index_hints": True},
            "task.supervision",
            "index hints",
        ),
        (
            {
                "task.name": "reverse",
                "task.options": {},
                "task.train_length_max": 10,
                "positions.scheme": "learned",
                "positions.max_position": 96,
                "eval.max_length_factor": 4.0,
                "train.distractor_examples": 8,
            },
            "positions.max_position",
            "training rows of up to 9 examples",
        ),
    ],
)
def test_bad_values_name_the_field_and_the_limit(changes: dict, field: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as error:
        RunConfig().replace(**changes)
    assert error.value.field == field
    assert fragment in error.value.message


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ConfigError, match="unknown"):
        RunConfig.from_dict({"model": {"n_layer": 2}})
    with pytest.raises(ConfigError, match="unknown"):
        RunConfig().replace(**{"model.bogus": 1})
    with pytest.raises(ConfigError, match="not valid JSON"):
        RunConfig.from_json("{oops")


def test_flatten_gives_dotted_paths() -> None:
    flat = flatten(RunConfig().to_dict())
    assert flat["model.n_layers"] == 1
    assert flat["model.hsa.chunk_size"] == 16
    assert "task.name" in flat


def test_changing_the_task_resets_its_options() -> None:
    config = RunConfig(task=TaskConfig(name="reverse", options={"alphabet_size": 64}))
    switched = config.replace(**{"task.name": "addition"})
    assert switched.task.options == {"operand_lengths": "independent", "coupling_format": "current"}
    kept = config.replace(**{"task.name": "copy_unique", "task.options": {"alphabet_size": 64}})
    assert kept.task.options["alphabet_size"] == 64


def test_eval_lengths_follow_the_tasks_own_range() -> None:
    passkey = RunConfig().replace(**{"task.name": "passkey_retrieval", "positions.scheme": "rope", "task.train_length_min": 32, "task.train_length_max": 128})
    assert passkey.replace(**{"eval.lengths": [512, 16384]}).eval.lengths == (512, 16384)  # beyond the 4096 training cap
    with pytest.raises(ConfigError) as caught:
        RunConfig().replace(**{"task.name": "reverse", "eval.lengths": [10, 600]})
    assert caught.value.field == "eval.lengths" and "1..512" in caught.value.message
    with pytest.raises(ConfigError) as caught:
        passkey.replace(**{"eval.lengths": [100_000]})
    assert caught.value.field == "eval.lengths" and "65536" in caught.value.message


def test_every_prefix_supervision_is_kept_by_a_recognition_task_and_dropped_by_any_other() -> None:
    """At its default the field is left out of the config id (runs stored before it keep their ids)."""
    tomita = RunConfig().replace(**{"task.name": "tomita_3", "positions.scheme": "nope"})
    assert "supervision" not in tomita.to_json() and tomita.task.supervision == "answer"
    labelled = tomita.replace(**{"task.supervision": "every_prefix"})
    assert '"supervision":"every_prefix"' in labelled.to_json() and labelled.config_id != tomita.config_id
    assert RunConfig.from_json(labelled.to_json()) == labelled
    assert labelled.replace(**{"task.name": "dyck_1"}).task.supervision == "every_prefix"
    assert labelled.replace(**{"task.name": "parity"}).task.supervision == "answer"  # a task with no label per prefix
    huang_format = tomita.replace(**{"task.supervision": "member_prefixes"})
    assert huang_format.config_id not in (tomita.config_id, labelled.config_id)
    assert huang_format.replace(**{"task.name": "aa_star"}).task.supervision == "member_prefixes"
    assert huang_format.replace(**{"task.name": "sort"}).task.supervision == "answer"
