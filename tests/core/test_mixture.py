"""Multi-task runs (``task.mixture``): config, text form, data stream, per-task evaluation, store and CLI.

A single-task run must stay exactly what it was before mixtures existed: the
fingerprints below (config id; the first three training batches' tokens and
position ids; the initial weights) were taken with the code of e0cbf53, the
last commit without mixtures.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
from pathlib import Path

import pytest
import torch

from lengen_core.cli import main as cli_main
from lengen_core.config import LIMITS, MixtureTask, RunConfig
from lengen_core.data import ExampleSource, stream_rng
from lengen_core.errors import ConfigError
from lengen_core.models.transformer import build_model
from lengen_core.params import config_from_params, config_to_params
from lengen_core.positions import build_scheme
from lengen_core.runs.admission import create_run
from lengen_core.runs.execution import execute_run
from lengen_core.store import RunStore
from lengen_core.sweep_names import part_sweep_name
from lengen_core.tasks.base import task_names
from lengen_core.training import BatchSource, load_checkpoint
from lengen_core.vocab import BOS_ID, MARKED_TASKS, MARKER_SLOTS, MIXTURE_VOCAB_SIZE, SINGLE_TASK_VOCAB_SIZE, VOCAB, task_marker_id

BEFORE_MIXTURES = [  # (changes, config id, stream and init fingerprint) measured at e0cbf53
    ({}, "273e05ecb94979b0", "7714eb8285cf891a"),
    # addition's id moved when the task took the coupling_format option (issue 22): "dd91d82063c515b8" before;
    # its data stream and initial weights are those measured at e0cbf53
    ({"task.name": "addition", "positions.scheme": "abacus"}, "d600bcd88b6248e9", "015012d788159ed3"),
    ({"task.name": "sort", "positions.scheme": "learned", "train.distractor_examples": 0}, "e539312209272f3b", "d96b31137afed1b4"),
]


def stream_fingerprint(config: RunConfig, seed: int = 0) -> str:
    batches = BatchSource(config, seed)
    digest = hashlib.sha256()
    for _ in range(3):
        prepared = batches.next()
        digest.update(prepared.inputs.numpy().tobytes())
        digest.update(prepared.position_ids.numpy().tobytes())
    torch.manual_seed(1)
    model = build_model(config.model, build_scheme(config.positions))
    digest.update(torch.cat([parameter.detach().flatten() for parameter in model.parameters()]).numpy().tobytes())
    return digest.hexdigest()[:16]


@pytest.mark.parametrize(("changes", "config_id", "fingerprint"), BEFORE_MIXTURES)
def test_a_single_task_run_keeps_its_config_id_data_stream_and_initial_weights(changes, config_id, fingerprint) -> None:
    config = RunConfig().replace(**changes)
    assert config.config_id == config_id
    assert "mixture" not in json.loads(config.to_json())["task"]
    assert stream_fingerprint(config) == fingerprint


def mixture_config(**changes) -> RunConfig:
    base = {
        "task.name": "reverse",
        "task.train_length_max": 6,
        "positions.scheme": "learned",
        "task.mixture": [{"name": "copy_unique", "train_length_max": 12, "weight": 3.0}, {"name": "sort", "train_length_max": 4, "evaluate": False}],
    }
    return RunConfig().replace(**(base | changes))


def test_every_task_has_a_marker_token_in_a_fixed_pool() -> None:
    from lengen_core.tasks.plugins import PLUGIN_TASKS

    assert set(task_names()) - set(PLUGIN_TASKS) <= set(MARKED_TASKS)  # every built-in task; a plug-in trains alone (below)
    with pytest.raises(ConfigError, match="no marker token"):
        RunConfig().replace(**{"task.name": "reverse", "positions.scheme": "rope", "task.mixture": [{"name": "a_before_b", "train_length_max": 8}]})
    assert MIXTURE_VOCAB_SIZE == SINGLE_TASK_VOCAB_SIZE + MARKER_SLOTS
    assert VOCAB.token(task_marker_id("sort")) == "<task:sort>"
    assert min(task_marker_id(name) for name in MARKED_TASKS) == SINGLE_TASK_VOCAB_SIZE


def test_mixture_examples_carry_their_marker_lengths_from_their_own_range_and_tasks_by_weight() -> None:
    config = mixture_config(**{"train.distractor_examples": 0})
    source = ExampleSource(config.task)
    examples = source.sample_training(stream_rng("test"), 3000)
    by_marker = collections.Counter(example.prompt[1] for example in examples)
    assert set(by_marker) == {task_marker_id(name) for name in ("reverse", "copy_unique", "sort")}
    # weights 1 : 3 : 1 -> 600 : 1800 : 600 expected; 6 standard deviations of slack
    assert abs(by_marker[task_marker_id("copy_unique")] - 1800) < 6 * (3000 * 0.6 * 0.4) ** 0.5
    ranges = {"reverse": (1, 6), "copy_unique": (1, 12), "sort": (1, 4)}
    for example in examples:
        assert example.prompt[0] == BOS_ID
        name = VOCAB.token(example.prompt[1]).removeprefix("<task:").removesuffix(">")
        low, high = ranges[name]
        assert low <= example.length <= high
        assert example.segment_ids[1] == 0
    seen = {VOCAB.token(example.prompt[1]): example.length for example in examples}
    assert len(seen) == 3
    assert max(e.length for e in examples if e.prompt[1] == task_marker_id("copy_unique")) == 12


def test_a_typed_example_of_a_mixture_run_gets_its_marker() -> None:
    from lengen_core.inspection import render_tokens, typed_example

    source = ExampleSource(mixture_config().task)  # main task reverse
    plain = typed_example(source, "<bos> s1 s2 s3 >", "s3 s2 s1")
    assert plain.example.prompt[:2] == (BOS_ID, task_marker_id("reverse")) and plain.truth_known
    assert render_tokens(plain.example.prompt) == "<bos> <task:reverse> s1 s2 s3 >"
    typed_marker = typed_example(source, "<bos> <task:reverse> s1 s2 s3 >", "s3 s2 s1")
    assert typed_marker.example.prompt == plain.example.prompt  # typed or not, one marker
    single = typed_example(ExampleSource(RunConfig().replace(**{"task.name": "reverse"}).task), "<bos> s1 s2 s3 >", "s3 s2 s1")
    assert task_marker_id("reverse") not in single.example.prompt  # a single-task run's examples have none


def test_a_mixture_with_distractors_keeps_every_part_marked() -> None:
    source = ExampleSource(mixture_config(**{"train.distractor_examples": 2}).task)
    example = next(e for e in source.sample_training(stream_rng("d"), 200, max_distractors=2) if e.meta.get("distractors"))
    starts = [index for index, token in enumerate(example.tokens) if token == BOS_ID]
    assert all(VOCAB.token(example.tokens[start + 1]).startswith("<task:") for start in starts)


def test_mixture_text_form_round_trips_and_keeps_the_config_id() -> None:
    config = config_from_params({"task.mixture": "copy_unique:1-12*0.5{alphabet_size=64},sort:1-5/train-only", "positions.scheme": "learned"})
    assert config.task.mixture == (
        MixtureTask("copy_unique", 1, 12, {"alphabet_size": 64}, 0.5, True),
        MixtureTask("sort", 1, 5, {"alphabet_size": 128}, 1.0, False),
    )
    params = config_to_params(config)
    assert params["task.mixture"] == "copy_unique:1-12*0.5{alphabet_size=64},sort:1-5/train-only"
    again = config_from_params(params)
    assert again == config and again.config_id == config.config_id != RunConfig().replace(**{"positions.scheme": "learned"}).config_id
    assert RunConfig.from_json(config.to_json()) == config
    as_json = config_from_params({"task.mixture": json.dumps([{"name": "sort", "train_length_max": 5}]), "positions.scheme": "learned"})
    assert as_json.task.mixture[0].name == "sort"


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("copy_unique", "task.mixture.0", "expected name:min-max"),
        ("sort:1-3,nope:1-3", "task.mixture.1.name", "unknown task"),
        ("copy_unique:1-9999", "task.mixture.0.train_length_max", "between 1 and 128"),
        ("copy_unique:1-4{zz=3}", "task.mixture.0.options.zz", "unknown option"),
        ("reverse:1-4", "task.mixture.0.name", "already in the run"),
        ("sort:1-3,sort:1-4", "task.mixture.1.name", "already in the run"),
        ("copy_unique:5-2", "task.mixture.0.train_length_min", "<= task.mixture.0.train_length_max"),
        ("copy_unique:1-3*0", "task.mixture.0.weight", "between 0.001 and 1000"),
        (
            ",".join(f"{name}:1-3" for name in ("sort", "copy_unique", "majority", "parity", "mode", "counting", "duplicate", "flip_flop", "dyck_1")),
            "task.mixture",
            f"at most {LIMITS['max_mixture_tasks']}",
        ),
        ('[{"name": "sort", "bogus": 1}]', "task.mixture.0.bogus", "unknown field"),
        ("[1, 2", "task.mixture", "not a valid JSON list"),
        ("x" * 100_000, "task.mixture.0", "characters"),
    ],
)
def test_bad_mixtures_are_refused_naming_the_entry_and_field(text: str, field: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_params({"task.mixture": text, "positions.scheme": "learned"})
    assert caught.value.field == field and words in caught.value.message, str(caught.value)


def test_every_task_of_a_mixture_must_suit_the_scheme() -> None:
    with pytest.raises(ConfigError, match="has no numbers; Abacus"):
        RunConfig().replace(**{"task.name": "addition", "positions.scheme": "abacus", "task.mixture": [{"name": "reverse"}]})
    with pytest.raises(ConfigError, match="index hints apply to single-task runs"):
        RunConfig().replace(**{"task.index_hints": True, "task.mixture": [{"name": "copy_unique"}]})


def test_a_mixture_run_stores_one_sweep_per_tested_task_and_its_checkpoint_has_the_marker_rows(tmp_path: Path, capsys) -> None:
    config = mixture_config(**{"train.steps": 30, "eval.samples_per_length": 10, "eval.n_lengths": 3})
    store = RunStore(tmp_path / "runs.duckdb")
    run_id = create_run(store, config, 0)
    assert execute_run(store, run_id, config, 0, checkpoint_dir=tmp_path) == "done"
    sweeps = store.sweeps(run_id).set_index("sweep")
    assert sorted(sweeps.index) == ["default", part_sweep_name("default", "copy_unique")] == ["default", "default@copy_unique"]
    assert sweeps.loc["default", "train_length_max"] == 6 and sweeps.loc["default@copy_unique", "train_length_max"] == 12
    curve = store.eval_curve([run_id])
    assert max(curve[curve["sweep"] == "default@copy_unique"]["length"]) == 48  # 4x its own range, not the main task's
    assert max(curve[curve["sweep"] == "default"]["length"]) == 24
    model, stored_config, _ = load_checkpoint(store.checkpoint_path(run_id))
    assert stored_config == config and model.token_embedding.weight.shape[0] == MIXTURE_VOCAB_SIZE
    out = io.StringIO()
    assert cli_main(["--db", str(tmp_path / "runs.duckdb"), "runs", "show", run_id], out=out) == 0
    text = out.getvalue()
    assert "task reverse (the main task of a mixture with copy_unique, sort)" in text
    assert "task copy_unique (trained on lengths 1-12)" in text and "task sort" not in text
    # An extra sweep tests one task of the mixture, at its lengths, stored under its own name.
    db = ["--db", str(tmp_path / "runs.duckdb")]
    out = io.StringIO()
    assert cli_main(db + ["eval", run_id, "--task", "sort", "--lengths", "5,7", "--samples", "3"], out=out) == 0
    assert "sweep 'extra@sort' stored" in out.getvalue()
    sweeps = store.sweeps(run_id).set_index("sweep")
    assert sweeps.loc["extra@sort", "train_length_max"] == 4  # the sort entry's own range
    assert store.eval_curve([run_id], sweep="extra@sort")["length"].tolist() == [5, 7]
    out = io.StringIO()
    assert cli_main(db + ["eval", run_id, "--task", "copy_unique", "--samples", "2"], out=out) == 0  # its own lengths
    assert max(store.eval_curve([run_id], sweep="extra@copy_unique")["length"]) == 48
    out = io.StringIO()
    assert cli_main(db + ["runs", "show", run_id], out=out) == 0
    assert "task sort (trained on lengths 1-4)" in out.getvalue()  # trained only, but now tested
    for bad, words in ((["--task", "mode"], "run " + run_id + " trains reverse, copy_unique, sort, not 'mode'"), (["--sweep-name", "x@y"], "without '@'")):
        capsys.readouterr()
        assert cli_main(db + ["eval", run_id, "--lengths", "5", *bad], out=io.StringIO()) == 2
        assert words in capsys.readouterr().err
    assert sorted(store.sweeps(run_id)["sweep"]) == ["default", "default@copy_unique", "extra@copy_unique", "extra@sort"]


def test_the_marker_tells_the_model_which_task_to_do() -> None:
    """reverse and copy share one input format: only the marker says which answer is wanted."""
    from lengen_core.evaluation import sweep

    config = RunConfig().replace(
        **{
            "task.name": "reverse",
            "task.train_length_min": 2,
            "task.train_length_max": 4,
            "task.options.alphabet_size": 8,
            "task.mixture": [{"name": "copy_forward_nonunique", "train_length_min": 2, "train_length_max": 4, "options": {"alphabet_size": 8}}],
            "positions.scheme": "learned",
            "train.steps": 300,
            "train.distractor_examples": 0,
            "eval.lengths": [3, 4],
            "eval.samples_per_length": 100,
        }
    )
    from lengen_core.training import train

    model = train(config, 0).model.eval()
    for part in ("", "copy_forward_nonunique"):
        result = sweep(model, config.task, config.eval, part=part)
        assert min(point.exact_match for point in result.points) > 0.9, (part, result.points)


@pytest.mark.parametrize("name", sorted(__import__("lengen_core.recipes", fromlist=["RECIPES"]).RECIPES))
def test_every_recipe_makes_a_mixture_whose_examples_are_its_tasks_and_whose_url_round_trips(name: str) -> None:
    from lengen_core.recipes import RECIPES, baseline, matching_recipe

    item = RECIPES[name]
    config = item.apply(
        RunConfig().replace(
            **{"task.name": item.main_task, "task.train_length_min": 2, "task.train_length_max": 6, "positions.scheme": "nope", "train.distractor_examples": 0}
        )
    )
    assert config.task.name == item.main_task and [entry.name for entry in config.task.mixture] == [p.name for p in item.partners]
    for partner, entry in zip(item.partners, config.task.mixture):
        from lengen_core.tasks.base import build_task

        assert entry.train_length_max == min(6 * partner.length_factor, build_task(partner.name).max_length)  # 2x for transfer
    assert matching_recipe(config.task.name, [entry.name for entry in config.task.mixture]) is item
    examples = ExampleSource(config.task).sample_training(stream_rng("recipes"), 200)
    markers = {VOCAB.token(example.prompt[1]) for example in examples}
    assert markers == {f"<task:{task}>" for task in [item.main_task, *(p.name for p in item.partners)]}
    assert config_from_params(config_to_params(config)) == config
    assert baseline(config).task.mixture == () and baseline(config).task.name == item.main_task
