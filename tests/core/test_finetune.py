"""Starting from a trained model (``train.init_from``): refusals before anything is written, the parent's
weights as the start, the vocabulary growing to a mixture's, lineage, and the CLI's ``--init-from``."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from lengen_core.cli import main as cli_main
from lengen_core.config import RunConfig
from lengen_core.errors import ConfigError
from lengen_core.lineage import lineage
from lengen_core.runs.admission import create_run
from lengen_core.runs.execution import execute_run
from lengen_core.store import RunStore
from lengen_core.training import load_checkpoint
from lengen_core.vocab import MIXTURE_VOCAB_SIZE, SINGLE_TASK_VOCAB_SIZE
from tests.conftest import TINY_CONFIG_CHANGES

TINY = RunConfig().replace(**TINY_CONFIG_CHANGES)


def run(store: RunStore, config: RunConfig, tmp_path: Path, seed: int = 0) -> str:
    run_id = create_run(store, config, seed)
    assert execute_run(store, run_id, config, seed, checkpoint_dir=tmp_path) == "done"
    return run_id


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs.duckdb")


def test_a_fine_tuned_run_starts_from_its_parents_weights(store: RunStore, tmp_path: Path) -> None:
    parent = run(store, TINY, tmp_path)
    frozen = TINY.replace(**{"train.init_from": parent, "train.steps": 1, "train.lr": 1e-7, "train.warmup_steps": 0})
    child = run(store, frozen, tmp_path, seed=5)
    scratch = run(store, TINY.replace(**{"train.steps": 1, "train.lr": 1e-7, "train.warmup_steps": 0}), tmp_path, seed=5)
    weights = {run_id: load_checkpoint(store.checkpoint_path(run_id))[0].state_dict() for run_id in (parent, child, scratch)}
    assert weights[child]["token_embedding.weight"].shape[0] == MIXTURE_VOCAB_SIZE  # a fine-tuned model has the marker rows
    assert weights[parent]["token_embedding.weight"].shape[0] == SINGLE_TASK_VOCAB_SIZE
    for name, tensor in weights[parent].items():
        if name in ("token_embedding.weight", "lm_head.weight"):
            assert torch.allclose(weights[child][name][:SINGLE_TASK_VOCAB_SIZE], tensor, atol=1e-4), name
        else:
            assert torch.allclose(weights[child][name], tensor, atol=1e-4), name
    assert not torch.allclose(weights[scratch]["blocks.0.mlp.0.weight"], weights[parent]["blocks.0.mlp.0.weight"], atol=1e-3)
    assert frozen.config_id != TINY.config_id
    assert store.list_runs(run_ids=[child])["init_from"].tolist() == [parent]


def test_a_single_task_parent_adapts_to_a_held_out_task_in_a_mixture(store: RunStore, tmp_path: Path) -> None:
    parent = run(store, TINY, tmp_path)
    child_config = TINY.replace(
        **{
            "train.init_from": parent,
            "task.name": "copy_forward_nonunique",
            "positions.scheme": "coupled",
            "task.mixture": [{"name": "reverse", "train_length_max": 4}],
        }
    )
    child = run(store, child_config, tmp_path)
    record = store.get_run(child)
    assert record.run_config.train.init_from == parent
    assert store.list_runs(run_ids=[child])["mixture"].tolist() == ["reverse"]


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"train.init_from": "nosuchrun"}, "no run 'nosuchrun' in this store"),
        ({"model.d_model": 32}, "model.d_model differ"),
        ({"positions.scheme": "rope"}, "positions.scheme differ"),
        ({"positions.max_position": 128}, "positions.max_position differ"),
    ],
)
def test_a_parent_that_cannot_be_the_start_is_refused_before_anything_is_written(store: RunStore, tmp_path: Path, changes, words) -> None:
    parent = run(store, TINY, tmp_path)
    before = store.count_runs()
    config = TINY.replace(**({"train.init_from": parent} | changes))
    with pytest.raises(ConfigError) as caught:
        create_run(store, config, 0)
    assert caught.value.field == "train.init_from" and words in caught.value.message, str(caught.value)
    assert store.count_runs() == before


def test_an_unfinished_parent_is_refused(store: RunStore, tmp_path: Path) -> None:
    queued = create_run(store, TINY, 0)
    with pytest.raises(ConfigError, match="is queued and has no checkpoint"):
        create_run(store, TINY.replace(**{"train.init_from": queued}), 0)


@pytest.mark.parametrize("bad", ["", "a b", "x" * 65, "../etc"])
def test_init_from_must_look_like_a_run_id(bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        TINY.replace(**{"train.init_from": bad})
    assert caught.value.field == "train.init_from"


def test_lineage_follows_parents_and_marks_a_deleted_one(store: RunStore, tmp_path: Path) -> None:
    first = run(store, TINY, tmp_path)
    second = run(store, TINY.replace(**{"train.init_from": first}), tmp_path)
    third = run(store, TINY.replace(**{"train.init_from": second}), tmp_path)
    assert lineage(store, third) == [first, second, third]
    assert lineage(store, first) == [first]
    store.delete_runs([first])
    assert lineage(store, third) == [f"{first} (deleted)", second, third]


def test_the_cli_fine_tunes_with_the_parents_model_and_positions(store: RunStore, tmp_path: Path) -> None:
    parent = run(store, TINY, tmp_path)
    out = io.StringIO()
    code = cli_main(["--db", str(store.path), "train", "--init-from", parent, "--steps", "5", "--set", "eval.n_lengths=2"], out=out)
    assert code == 0, out.getvalue()
    child = store.list_runs(limit=1)
    assert child["init_from"].tolist() == [parent]
    assert store.get_run(child["run_id"].iloc[0]).run_config.model == TINY.model
    assert cli_main(["--db", str(store.path), "train", "--init-from", "nosuchrun", "--dry-run"], out=io.StringIO()) == 2


def test_letter_tasks_get_the_upper_case_rows_and_a_child_keeps_its_parents_rows(store: RunStore, tmp_path: Path) -> None:
    """capitalize writes A..Z (the vocabulary's last rows): its run has every row, and a fine-tuned run of a
    task without them keeps the parent's rows instead of being refused for shrinking the vocabulary."""
    from lengen_core.recipes import recipe
    from lengen_core.vocab import FULL_VOCAB_SIZE, VOCAB

    letters = TINY.replace(**{"task.name": "capitalize"})
    assert letters.vocab_size == FULL_VOCAB_SIZE > MIXTURE_VOCAB_SIZE
    parent = run(store, letters, tmp_path)
    state = load_checkpoint(store.checkpoint_path(parent))[0].state_dict()
    assert state["token_embedding.weight"].shape[0] == FULL_VOCAB_SIZE > VOCAB.id("Z")
    child = run(store, TINY.replace(**{"train.init_from": parent, "train.steps": 2}), tmp_path)
    child_state = load_checkpoint(store.checkpoint_path(child))[0].state_dict()
    assert child_state["token_embedding.weight"].shape[0] == FULL_VOCAB_SIZE
    # Cai et al.'s string group trains as a mixture: capitalize-reverse short, its partners twice as long.
    mixture = recipe("transfer_capitalize").apply(TINY.replace(**{"task.name": "capitalize_reverse"}))
    assert [(part.name, part.train_length_max) for part in mixture.task.parts()] == [("capitalize_reverse", 4), ("capitalize", 8), ("reverse_letters", 8)]
    assert mixture.vocab_size == FULL_VOCAB_SIZE
    mixed = run(store, mixture, tmp_path)
    assert sorted(store.sweeps(mixed)["sweep"]) == ["default", "default@capitalize", "default@reverse_letters"]
