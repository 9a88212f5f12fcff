"""The text form of a run configuration (lengen_core.params): short links that reproduce the config exactly."""

from __future__ import annotations

import pytest

from lengen_core.config import RunConfig
from lengen_core.errors import ConfigError
from lengen_core.params import config_from_params, config_to_params, is_config_param
from pages.common import parse_id_list


def test_default_config_is_an_empty_query() -> None:
    assert config_to_params(RunConfig()) == {}
    assert config_from_params({}) == RunConfig()


def test_only_changed_fields_appear_as_dotted_strings() -> None:
    config = RunConfig().replace(**{"model.n_layers": 3, "train.lr": 3e-4, "positions.scheme": "rope"})
    assert config_to_params(config) == {"model.n_layers": "3", "train.lr": "0.0003", "positions.scheme": "rope"}


@pytest.mark.parametrize(
    "changes",
    [
        {"model.n_layers": 3, "model.d_model": 64, "model.n_heads": 2},
        {"train.time_budget_s": 90.5, "train.steps": 123},
        {"train.lr": 1.2345678901234567e-4, "eval.threshold": 0.95},
        {"eval.lengths": [5, 10, 40]},
        {"task.name": "addition", "task.options": {}, "positions.scheme": "abacus"},
        {"task.index_hints": True, "task.name": "copy_repeated", "task.options": {}, "positions.scheme": "rope"},
        {"model.attention": "hsa", "model.hsa.chunk_size": 4, "model.hsa.top_k": 2, "model.hsa.weighting": "softmax"},
        {"task.options": {"alphabet_size": 8}},
        {"positions.scheme": "randomized", "positions.base_encoding": "rope"},
    ],
)
def test_round_trip_is_exact(changes: dict) -> None:
    config = RunConfig().replace(**changes)
    params = config_to_params(config)
    assert all(isinstance(key, str) and isinstance(value, str) for key, value in params.items())
    back = config_from_params(params)
    assert back == config
    assert back.config_id == config.config_id
    assert len(params) <= len(changes) + 1  # only what changed (a task change may reset nothing else)


def test_task_change_starts_from_that_tasks_default_options() -> None:
    config = config_from_params({"task.name": "addition"})
    assert config.task.name == "addition"
    assert config.task.options == RunConfig().replace(**{"task.name": "addition"}).task.options
    # an option that only the default task has is refused once the task changes
    with pytest.raises(ConfigError) as caught:
        config_from_params({"task.name": "addition", "task.options.alphabet_size": "8"})
    assert caught.value.field == "task.options.alphabet_size"


def test_page_params_are_ignored_and_lists_take_the_last_value() -> None:
    params = {"runs": "a,b", "seed": "3", "baseline": "x", "model.n_layers": ["2", "4"]}
    assert config_from_params(params) == RunConfig().replace(**{"model.n_layers": 4})
    assert is_config_param("model.n_layers") and not is_config_param("runs") and not is_config_param("model")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"model.n_layers": "three"}, "model.n_layers"),
        ({"model.n_layerz": "3"}, "model.n_layerz"),
        ({"model.n_layers": "99"}, "model.n_layers"),
        ({"task.index_hints": "maybe"}, "task.index_hints"),
        ({"task.train_length_min": "9", "task.train_length_max": "4"}, "task.train_length_min"),
        ({"task.name": "no_such_task"}, "task.name"),
    ],
)
def test_bad_values_name_the_field(params: dict, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_params(params)
    assert caught.value.field == field


def test_time_budget_none_and_lengths_empty() -> None:
    assert config_from_params({"train.time_budget_s": "none"}).train.time_budget_s is None
    assert config_from_params({"eval.lengths": ""}).eval.lengths == ()


def test_parse_id_list() -> None:
    assert parse_id_list("a, b,,a") == ["a", "b"]
    assert parse_id_list(["a,b", "c"]) == ["a", "b", "c"]
    assert parse_id_list(None) == []


def cli_config(*flags: str) -> RunConfig:
    from lengen_core.cli import build_parser, config_from_args

    return config_from_args(build_parser().parse_args(["train", *flags]))


@pytest.mark.parametrize(
    "texts",
    [
        {"model.n_layers": "3", "train.lr": "0.0003", "positions.scheme": "rope"},
        {"eval.lengths": "5,10,40", "train.time_budget_s": "none"},
        {"task.name": "addition", "positions.scheme": "abacus"},
        {"task.options.alphabet_size": "8", "task.index_hints": "true"},
        {"model.attention": "hsa", "model.hsa.chunk_size": "4", "model.hsa.weighting": "softmax"},
    ],
)
def test_the_cli_and_a_link_read_the_same_text_as_the_same_config(texts: dict) -> None:
    from_cli = cli_config(*[part for key, text in texts.items() for part in ("--set", f"{key}={text}")])
    assert from_cli == config_from_params(texts)
    assert config_from_params(config_to_params(from_cli)) == from_cli


def test_the_cli_also_reads_json_spellings() -> None:
    assert cli_config("--set", "eval.lengths=[5, 10, 40]").eval.lengths == (5, 10, 40)
    assert cli_config("--set", 'positions.scheme="rope"').positions.scheme == "rope"
    assert cli_config("--set", 'task.options={"alphabet_size": 8}').task.options["alphabet_size"] == 8


@pytest.mark.parametrize(
    ("flag", "field", "words"),
    [
        ("nosuch.field=1", "nosuch.field", "unknown config field"),  # not ignored, as a page param would be
        ("model.hsa=5", "model.hsa", "model.hsa.chunk_size"),  # a group: the message lists its fields
        ("model.n_layers=three", "model.n_layers", "integer"),
        ("n_layers=3", "n_layers", "dotted field name"),
        ("model.n_layers", "--set", "field=value"),
    ],
)
def test_the_cli_refuses_what_no_field_takes_naming_it(flag: str, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        cli_config("--set", flag)
    assert caught.value.field == field
    assert words in caught.value.message
