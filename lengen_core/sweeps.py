"""Sweeps: a grid of tasks x position schemes x seeds, run by a pool of workers.

The grid is expanded into :class:`SweepJob` s, each recorded in the store as a
queued run first (so the app's Compare page shows the whole grid at once and
fills cells as runs finish). A :class:`Runner` executes jobs; the local one uses
worker *processes* (training is CPU-bound), each with ``cores // workers`` torch
threads, which open the store file themselves (:func:`run_sweep_job`).
:class:`lengen_core.ray_runner.RayRunner` implements the same interface on a
Ray cluster, where workers never see the store: they send their records back
and the driver writes them.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from lengen_core.config import RunConfig
from lengen_core.costs import Budget
from lengen_core.cpus import usable_cpus
from lengen_core.errors import ConfigError
from lengen_core.run_listing import sweep_tag

if TYPE_CHECKING:
    from lengen_core.store import RunStore

GRID_LIMIT = 512


@dataclass(frozen=True)
class SweepJob:
    """One cell x seed of a sweep, already recorded as a queued run."""

    run_id: str
    config_json: str
    seed: int
    store_path: str
    budget: Budget | None = None  # what each worker may use (default: this machine's share per LENGEN_MAX_JOBS)


def expand_grid(
    base: RunConfig,
    *,
    tasks: Sequence[str],
    schemes: Sequence[str],
    seeds: Sequence[int],
    changes_per_task: dict[str, dict[str, Any]] | None = None,
    changes_per_scheme: dict[str, dict[str, Any]] | None = None,
) -> list[tuple[RunConfig, int]]:
    """Every (task, scheme, seed) combination of ``base``; invalid combinations raise ConfigError naming the cell.

    ``changes_per_task`` / ``changes_per_scheme`` add dotted-field changes to the
    cells of one task / scheme (e.g. a learned table sized for the whole sequence).
    """
    combinations = len(tasks) * len(schemes) * len(seeds)
    if combinations == 0:
        raise ConfigError("sweep", "needs at least one task, one scheme and one seed")
    if combinations > GRID_LIMIT:
        raise ConfigError("sweep", f"{combinations} runs requested; at most {GRID_LIMIT} per sweep")
    cells: list[tuple[RunConfig, int]] = []
    for task in tasks:
        for scheme in schemes:
            changes: dict[str, Any] = {"task.name": task, "positions.scheme": scheme}
            changes.update((changes_per_task or {}).get(task, {}))
            changes.update((changes_per_scheme or {}).get(scheme, {}))
            try:
                config = base.replace(**changes)
            except ConfigError as error:
                raise ConfigError(error.field, f"{error.message} (in sweep cell task={task}, scheme={scheme})") from None
            cells.extend((config, seed) for seed in seeds)
    return cells


def run_sweep_job(job: SweepJob, torch_threads: int | None = None) -> tuple[str, str]:
    """Execute one queued sweep run in this process; returns (run_id, final status)."""
    import torch

    from lengen_core.runs.execution import execute_run
    from lengen_core.store import RunStore

    if torch_threads:
        torch.set_num_threads(torch_threads)
    store = RunStore(job.store_path)
    status = execute_run(store, job.run_id, RunConfig.from_json(job.config_json), job.seed, budget=job.budget)
    return job.run_id, status


class Runner(Protocol):
    """Executes sweep jobs; ``on_done(run_id, status)`` is called as each finishes."""

    def run(self, jobs: Sequence[SweepJob], on_done: Callable[[str, str], None] | None = None) -> dict[str, str]: ...


class InlineRunner:
    """Runs jobs one after another in this process (tests, one-core machines)."""

    def run(self, jobs: Sequence[SweepJob], on_done: Callable[[str, str], None] | None = None) -> dict[str, str]:
        results = {}
        for job in jobs:
            run_id, status = run_sweep_job(job)
            results[run_id] = status
            if on_done:
                on_done(run_id, status)
        return results


class LocalProcessRunner:
    """A pool of ``workers`` spawned processes sharing the machine's cores."""

    def __init__(self, workers: int = 2) -> None:
        if workers < 1:
            raise ConfigError("workers", f"must be >= 1, got {workers}")
        self.workers = workers
        self.torch_threads = max(1, usable_cpus() // workers)

    def run(self, jobs: Sequence[SweepJob], on_done: Callable[[str, str], None] | None = None) -> dict[str, str]:
        results: dict[str, str] = {}
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=self.workers, mp_context=context) as pool:
            futures = {pool.submit(run_sweep_job, job, self.torch_threads): job for job in jobs}
            for future in concurrent.futures.as_completed(futures):
                job = futures[future]
                try:
                    run_id, status = future.result()
                except Exception as error:  # worker process died: the run is marked by the store later
                    run_id, status = job.run_id, f"failed ({type(error).__name__})"
                results[run_id] = status
                if on_done:
                    on_done(run_id, status)
        return results


def queue_sweep(store: RunStore, cells: Iterable[tuple[RunConfig, int]], *, tag: str, budget: Budget | None = None) -> list[SweepJob]:
    """Record every cell as a queued run tagged ``sweep:<tag>`` (all or none); returns the jobs to execute.

    Every cell is admitted (seed, device, cost against ``budget``) before any run is written.
    """
    from lengen_core.runs.admission import create_runs

    cells = list(cells)
    run_ids = create_runs(store, cells, tags=(sweep_tag(tag),), budget=budget)
    return [SweepJob(run_id, config.to_json(), seed, str(store.path), budget) for run_id, (config, seed) in zip(run_ids, cells)]
