"""A stored run as a model in memory: :func:`load_run`, and the one rule for its checkpoint.

The rule: the store's config is the run's. The checkpoint file must hold the same
training config (every section but ``eval``: evaluation settings do not change a
trained model, and an extra sweep changes them) and the same seed; a checkpoint that
disagrees (replaced by hand, another run's file) is refused rather than used as this
run. The pages (Attention, Position IDs), the extra sweeps, the CLI and the bench
scripts all load a run here, so they all apply it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from lengen_core.config import RunConfig
from lengen_core.errors import ConfigError
from lengen_core.models.transformer import Transformer
from lengen_core.runs.sink import RunSink
from lengen_core.store import RunStore
from lengen_core.store.records import RunRecord
from lengen_core.training import grow_vocabulary, load_checkpoint

# path -> (model, the config it was saved with, its seed): load_checkpoint, or a page's cached copy of it
CheckpointLoader = Callable[[str], tuple[Transformer, RunConfig, int]]


@dataclass(frozen=True)
class LoadedRun:
    """A finished run with its model: ``config`` is the store's (the truth), ``checkpoint`` the file it came from."""

    record: RunRecord
    config: RunConfig
    model: Transformer
    seed: int
    checkpoint: str


def existing_checkpoint(store: RunStore, run_id: str) -> str | None:
    """The run's newest checkpoint file, when it exists on disk (the store records the path; the file may be gone)."""
    path = store.checkpoint_path(run_id)
    return path if path is not None and Path(path).exists() else None


def check_checkpoint_agrees(record: RunRecord, checkpoint_config: RunConfig, checkpoint_seed: int, path: str) -> None:
    """Refuse a checkpoint that holds another training config or seed than the store records for ``record``."""
    trained = {section: values for section, values in checkpoint_config.to_dict().items() if section != "eval"}
    recorded = {section: values for section, values in record.run_config.to_dict().items() if section != "eval"}
    if trained != recorded:
        differing = ", ".join(section for section in sorted(recorded) if recorded[section] != trained.get(section))
        raise ConfigError(
            "run",
            f"the checkpoint {path} holds config {checkpoint_config.config_id}, but run {record.run_id} has config "
            f"{record.run_config.config_id} ({differing} differ); retrain the run",
        )
    if checkpoint_seed != record.seed:
        raise ConfigError("run", f"the checkpoint {path} was trained with seed {checkpoint_seed}, run {record.run_id} with seed {record.seed}; retrain the run")


def load_run(store: RunStore, run_id: str, *, device: torch.device | str = "cpu", load: CheckpointLoader | None = None) -> LoadedRun:
    """Run ``run_id`` of ``store`` with its model, on ``device`` (``load``: how a checkpoint file is read; default
    :func:`lengen_core.training.load_checkpoint` on ``device``, the pages pass their cached loader).

    Raises :class:`~lengen_core.errors.ConfigError` (field ``run``) when the run is unknown, unfinished, has no
    checkpoint file, or its checkpoint disagrees with the store (:func:`check_checkpoint_agrees`).
    """
    try:
        record = store.get_run(run_id)
    except KeyError:
        raise ConfigError("run", f"no run {run_id!r} in this store") from None
    if record.status != "done":
        raise ConfigError("run", f"run {run_id} is {record.status}; only finished (done) runs have a model to load")
    path = existing_checkpoint(store, run_id)
    if path is None:
        raise ConfigError("run", f"run {run_id} has no checkpoint on disk; retrain the run")
    model, checkpoint_config, seed = (load or (lambda file: load_checkpoint(file, device=device)))(path)
    check_checkpoint_agrees(record, checkpoint_config, seed, path)
    return LoadedRun(record, record.run_config, model, seed, path)


def parent_model(store: RunSink, config: RunConfig) -> Transformer:
    """The fine-tuning run's starting model: its parent's checkpoint, grown to the run's vocabulary
    (or kept at the parent's, when the parent had more rows: the upper-case letters)."""
    path = store.checkpoint_path(config.train.init_from) if config.train.init_from else None
    if path is None:
        raise ConfigError("train.init_from", f"run {config.train.init_from!r} has no checkpoint any more")
    model, _, _ = load_checkpoint(path)
    return grow_vocabulary(model, max(config.vocab_size, model.token_embedding.weight.shape[0])).train()
