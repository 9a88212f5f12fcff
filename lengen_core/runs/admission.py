"""What a request must pass before anything is written (:func:`admit`, :func:`check_parent`), and the queued
runs it then becomes (:func:`create_run`, :func:`create_runs`, with their provenance)."""

from __future__ import annotations

import dataclasses
from typing import Any

from lengen_core.config import RunConfig, check_seed
from lengen_core.costs import Budget, CostEstimate, check_budget, default_budget
from lengen_core.errors import ConfigError
from lengen_core.runs.provenance import code_version, environment
from lengen_core.store import RunStore
from lengen_core.training import resolve_device


def admit(config: RunConfig, seed: int, budget: Budget | None = None, threads: int | None = None) -> CostEstimate:
    """Everything a request must pass before anything is written: the seed, the device, the cost.

    Raises :class:`~lengen_core.errors.ConfigError` naming the field (and what
    to shrink, when the cost estimate is over ``budget``).
    """
    check_seed(seed)
    resolve_device(config.train.device)
    return check_budget(config, budget, threads=threads)


def check_parent(store: RunStore, config: RunConfig) -> None:
    """Refuse a fine-tuning run (``train.init_from``) whose parent cannot be its start: not in the
    store, not finished, without a checkpoint, or with other model or position settings."""
    parent_id = config.train.init_from
    if parent_id is None:
        return
    try:
        parent = store.get_run(parent_id)
    except KeyError:
        raise ConfigError("train.init_from", f"no run {parent_id!r} in this store") from None
    if parent.status != "done" or store.checkpoint_path(parent_id) is None:
        raise ConfigError("train.init_from", f"run {parent_id!r} is {parent.status} and has no checkpoint to start from")
    parent_config = parent.run_config
    if parent_config.model != config.model:
        raise ConfigError(
            "train.init_from", f"run {parent_id!r} has another model ({_differing('model', config.model, parent_config.model)} differ); use its model settings"
        )
    ours = dataclasses.replace(config.positions, train_offset_max=0)  # the offsets are training's, not the model's
    theirs = dataclasses.replace(parent_config.positions, train_offset_max=0)
    if ours != theirs:
        raise ConfigError("train.init_from", f"run {parent_id!r} has other position settings ({_differing('positions', ours, theirs)} differ)")


def _differing(section: str, ours: Any, theirs: Any) -> str:
    """``model.d_model, model.n_layers``: the fields of two config sections that differ."""
    mine, other = dataclasses.asdict(ours), dataclasses.asdict(theirs)
    return ", ".join(f"{section}.{key}" for key in sorted(mine) if mine[key] != other[key])


def create_run(store: RunStore, config: RunConfig, seed: int, *, name: str | None = None, tags: tuple[str, ...] = (), budget: Budget | None = None) -> str:
    """Record a queued run of ``config`` with ``seed`` once :func:`admit` accepts it; returns its id."""
    return create_runs(store, [(config, seed)], name=name, tags=tags, budget=budget)[0]


def create_runs(
    store: RunStore, cells: list[tuple[RunConfig, int]], *, name: str | None = None, tags: tuple[str, ...] = (), budget: Budget | None = None
) -> list[str]:
    """Record queued runs of every (config, seed) in one transaction, once :func:`admit` accepts every one.

    A refused cell raises its ConfigError before anything is written.
    """
    if name is not None and (not isinstance(name, str) or len(name) > 200):
        raise ConfigError("name", "must be text of at most 200 characters")
    budget = budget or default_budget()
    specs = []
    for config, seed in cells:
        admit(config, seed, budget)
        check_parent(store, config)
        specs.append(
            {
                "config": config.to_dict(),
                "config_id": config.config_id,
                "seed": seed,
                "code_version": code_version(),
                "environment": environment(resolve_device(config.train.device)),
                "name": name,
                "status": "queued",
                "tags": tags,
            }
        )
    return store.create_runs(specs)
