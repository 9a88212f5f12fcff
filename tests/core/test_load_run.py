"""``load_run``: a stored run with its model, and the one rule every reader applies to its checkpoint (the store's
config is the run's; a checkpoint with another training config or seed is refused, evaluation settings may differ)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from lengen_core.config import RunConfig
from lengen_core.errors import ConfigError
from lengen_core.runs.admission import create_run
from lengen_core.runs.execution import execute_run
from lengen_core.runs.extra_sweeps import execute_extra_sweep, plan_extra_sweep
from lengen_core.runs.loading import load_run
from lengen_core.store import RunStore
from lengen_core.training import load_checkpoint
from tests.conftest import TINY_CONFIG_CHANGES

TINY = RunConfig().replace(**TINY_CONFIG_CHANGES)


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs.duckdb")


def trained(store: RunStore, config: RunConfig, seed: int) -> str:
    run_id = create_run(store, config, seed)
    assert execute_run(store, run_id, config, seed) == "done"
    return run_id


def test_a_stored_run_loads_with_the_stores_config_and_its_own_weights(store: RunStore) -> None:
    run_id = trained(store, TINY, 3)
    loaded = load_run(store, run_id)
    assert loaded.config == store.get_run(run_id).run_config and loaded.seed == 3 and loaded.record.run_id == run_id
    saved, _, _ = load_checkpoint(loaded.checkpoint)
    for name, tensor in saved.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], tensor), name


def test_a_checkpoint_of_another_seed_or_config_is_refused_everywhere(store: RunStore) -> None:
    run_id = trained(store, TINY, 0)
    other_seed = trained(store, TINY, 1)
    other_config = trained(store, TINY.replace(**{"model.d_model": 32}), 0)
    own = Path(store.checkpoint_path(run_id))
    shutil.copyfile(store.checkpoint_path(other_seed), own)
    with pytest.raises(ConfigError, match="seed 1, run .* with seed 0"):
        load_run(store, run_id)
    plan = plan_extra_sweep(store, run_id, [6], 10)
    with pytest.raises(ConfigError, match="seed 1"):  # an extra sweep applies the same rule
        execute_extra_sweep(store, plan, "extra-1")
    shutil.copyfile(store.checkpoint_path(other_config), own)
    with pytest.raises(ConfigError, match="model differ"):
        load_run(store, run_id)


def test_unknown_unfinished_and_fileless_runs_are_refused_by_name(store: RunStore) -> None:
    with pytest.raises(ConfigError, match="no run 'nosuch'"):
        load_run(store, "nosuch")
    queued = create_run(store, TINY, 0)
    with pytest.raises(ConfigError, match="is queued"):
        load_run(store, queued)
    run_id = trained(store, TINY, 0)
    Path(store.checkpoint_path(run_id)).unlink()
    with pytest.raises(ConfigError, match="no checkpoint on disk"):
        load_run(store, run_id)


def test_an_extra_sweep_with_other_evaluation_settings_still_loads(store: RunStore) -> None:
    run_id = trained(store, TINY, 0)
    plan = plan_extra_sweep(store, run_id, [5, 6], 8)  # eval settings differ from the checkpoint's: allowed
    evaluation = execute_extra_sweep(store, plan, "extra-1")
    assert evaluation is not None and [point.length for point in evaluation.result.points][:2] == [5, 6]
