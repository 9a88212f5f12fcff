"""What a request must pass before anything is written (:func:`admit`, :func:`check_parent`, and for a sweep
:func:`check_sweep_name`, :func:`sweep_launch_errors`), and the queued
runs it then becomes (:func:`create_run`, :func:`create_runs`, with their provenance)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lengen_core.config import RunConfig, check_seed
from lengen_core.costs import Budget, CostEstimate, check_budget, default_budget
from lengen_core.errors import ConfigError, shown
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


def check_sweep_name(name: str, field: str = "sweep.name") -> str:
    """A sweep's name (its runs' tag is ``sweep:<name>``), stripped: 1..64 characters, else a ConfigError naming ``field``."""
    stripped = name.strip()
    if not stripped or len(stripped) > 64:
        raise ConfigError(field, f"must be a name of 1..64 characters, got {shown(name)}")
    return stripped


@dataclass(frozen=True)
class SweepRoom:
    """Where a sweep's runs must fit: at most ``max_runs`` (a limit set by ``max_runs_by``), and, when they wait in
    this process's queue, its ``queue_free`` places of ``queue_size`` (None: they do not queue here, e.g. on Ray)."""

    max_runs: int
    max_runs_by: str
    queue_free: int | None = None
    queue_size: int = 0


def sweep_launch_errors(
    cells: Sequence[tuple[RunConfig, int]], room: SweepRoom, budget: Budget | None, cell_errors: Callable[[RunConfig], list[ConfigError]] = lambda config: []
) -> list[ConfigError]:
    """Why a sweep of ``cells`` (config, seed) may not start, each error naming its field; empty: it may.

    In order, the first check that fails gives the answer: the number of runs against ``room.max_runs``;
    ``cell_errors`` (a server's own caps: every field of the first cell, and ``eval.lengths`` of the others,
    the one field a launcher's cells differ in, since each task has its own lengths; all of them, each once);
    the queue's free places; at least one cell; then every cell's admission (:func:`admit`), so that nothing is
    queued unless every cell can run.
    """
    if len(cells) > room.max_runs:
        return [ConfigError("sweep.runs", f"{len(cells)} runs requested; the limit is {room.max_runs} per sweep (set by {room.max_runs_by})")]
    over_caps = [error for config, _ in cells[:1] for error in cell_errors(config)]
    over_caps += [error for config, _ in cells[1:] for error in cell_errors(config) if error.field == "eval.lengths"]
    if over_caps:
        return list({(error.field, error.message): error for error in over_caps}.values())
    if room.queue_free is not None and len(cells) > room.queue_free:
        message = f"{len(cells)} runs would not fit in the queue ({room.queue_free} places free of {room.queue_size}); wait or launch fewer"
        return [ConfigError("jobs.queued", message)]
    if not cells:
        return [ConfigError("sweep", "every chosen task/scheme combination is invalid (see the notes)")]
    try:
        for config, seed in cells:
            admit(config, seed, budget)
    except ConfigError as error:
        return [error]
    return []


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
