"""The public Python API: what the CLI does, from a notebook, in four functions.

    import lengen_core as lg

    run = lg.train(task="reverse", scheme="coupled", steps=2000)   # trains into the default store, returns a Run
    run.curve          # exact match per length: n, and the Wilson interval (exact_match_low / _high)
    run.breakdown      # where it breaks: 40 (4.0x; interval 36-44)
    run.theory         # Huang et al.'s prediction for the task and scheme beside what the run did
    run.plot()         # the accuracy-versus-length figure (plotly; library="altair" for altair)
    run.model()        # the trained model, loaded from its checkpoint

    runs = lg.sweep(["reverse", "parity"], ["coupled", "nope"], seeds=[0, 1, 2], steps=2000)
    store = lg.open_store()          # $LENGEN_DB, else data/runs.duckdb (the app's)
    store.runs()                     # every stored run, one row each
    store.get(run.run_id)            # a Run again
    lg.tasks()                       # the tasks with their theory labels

Any config field is a keyword: its dotted name as the CLI's ``--set`` writes it
(``**{"model.n_layers": 4}``), or with ``__`` for the dot (``model__n_layers=4``).
Every argument goes through the config's own validation (:class:`RunConfig`),
so a bad value raises the same :class:`~lengen_core.errors.ConfigError`
(naming the field and the limit) as the app, the links and the CLI give it, and
a request the machine cannot afford is refused before anything is written.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import pandas as pd

from lengen_core.breakdown import Breakdown
from lengen_core.charts.run_figure import run_figure
from lengen_core.config import RunConfig
from lengen_core.costs import default_budget
from lengen_core.errors import ConfigError, shown
from lengen_core.evaluation import EvalPoint
from lengen_core.runs.admission import create_run
from lengen_core.runs.execution import execute_run
from lengen_core.runs.loading import load_run
from lengen_core.runs.progress import RunProgress
from lengen_core.store import RunStore
from lengen_core.store.records import RunRecord
from lengen_core.sweeps import InlineRunner, LocalProcessRunner, Runner, expand_grid, queue_sweep
from lengen_core.theory import TheoryCheck, check_run
from lengen_core.training import TrainPoint

if TYPE_CHECKING:
    from lengen_core.models.transformer import Transformer

RUNNERS = ("inline", "processes", "ray")


class Run:
    """One stored run: its config, its curves, its breakdown beside the theory's prediction, its model.

    ``run_id``, ``seed`` and ``status`` (queued, running, done, diverged, failed, cancelled or interrupted) are as
    the store had them when the Run was made (:meth:`refresh` reads them again); ``config`` is the run's full config,
    the store's copy (the truth); ``record`` the store's whole row.
    """

    def __init__(self, store: RunStore, record: RunRecord) -> None:
        self._store = store
        self.record = record
        self.run_id, self.seed, self.status = record.run_id, record.seed, record.status
        self.config: RunConfig = record.run_config

    @functools.cached_property
    def curve(self) -> pd.DataFrame:
        """The run's own length sweep: length, n, exact_match with its 95% Wilson interval (exact_match_low,
        exact_match_high), token_accuracy; one row per length tested. Read once per Run, as its record is."""
        frame = self._store.eval_curve([self.run_id], sweep="default")
        return frame[["length", "n", "exact_match", "exact_match_low", "exact_match_high", "token_accuracy"]].reset_index(drop=True)

    @property
    def train_curve(self) -> pd.DataFrame:
        """Training as logged: step, loss, accuracy, lr, wall_time_s, tokens_per_s (and in_distribution when checked)."""
        return self._store.train_curve(self.run_id)

    @property
    def breakdown(self) -> Breakdown:
        """Where exact match breaks down (``str()`` writes it with its interval; see :class:`Breakdown`)."""
        lengths = self.curve["length"]
        return self.record.breakdown(int(lengths.max()) if len(lengths) else None)

    @property
    def theory(self) -> TheoryCheck:
        """The prediction for the run's task and scheme (Huang et al. 2025, or none and why) beside what it did;
        ``print(run.theory)`` writes both and whether they agree."""
        breakdown = self.breakdown
        return check_run(self.config, breakdown.length, breakdown.longest_tested)

    def model(self, device: str = "cpu") -> Transformer:
        """The trained model from the run's checkpoint (refused when the file disagrees with the store)."""
        return load_run(self._store, self.run_id, device=device).model

    def plot(self, library: str = "plotly") -> Any:
        """Exact match against length with its interval, the training range shaded, the breakdown marked and the
        prediction in the title: the Length sweep page's figure (plotly; ``library="altair"`` for altair)."""
        config = self.config
        titles = (f"{config.task.name} / {config.positions.scheme}, seed {self.seed}: breakdown {self.breakdown}", self.theory.applicable.sentence())
        return run_figure(self.record, self.curve, titles, library)

    def refresh(self) -> Run:
        """The run as the store has it now (a sweep still running fills in)."""
        return Run(self._store, self._store.get_run(self.run_id))

    def __repr__(self) -> str:
        config = self.config
        what = f"{config.task.name} / {config.positions.scheme}, seed {self.seed}, trained on {config.task.train_length_min}-{config.task.train_length_max}"
        if self.status != "done":
            return f"<Run {self.run_id}: {what}: {self.status}>"
        return f"<Run {self.run_id}: {what}: breakdown {self.breakdown}; {self.theory.outcome.verdict}>"


class Store:
    """A LenGen Lab run store (a DuckDB file): the app's, the CLI's and this API's runs are the same runs."""

    def __init__(self, store: RunStore) -> None:
        self.store = store

    @property
    def path(self) -> Path:
        return self.store.path

    def runs(self, *, status: str | None = None, task: str | None = None, scheme: str | None = None, limit: int | None = None) -> pd.DataFrame:
        """Stored runs, newest first, one row each (run_id, task, scheme, seed, status, breakdown_length, ...)."""
        return self.store.list_runs(status=status, task=task, scheme=scheme, limit=limit)

    def get(self, run_id: str) -> Run:
        """The run with id ``run_id``; ConfigError (field ``run``) when the store has none."""
        try:
            return Run(self.store, self.store.get_run(run_id))
        except KeyError:
            raise ConfigError("run", f"no run {shown(run_id)} in {self.path}") from None

    def __repr__(self) -> str:
        return f"<Store {self.path}: {self.store.count_runs()} runs>"


def open_store(path: str | os.PathLike[str] | None = None) -> Store:
    """The store at ``path`` (created if missing); default ``$LENGEN_DB``, else the app's data/runs.duckdb."""
    return Store(RunStore(path))


def run_config(task: str | None = None, scheme: str | None = None, steps: int | None = None, *, base: RunConfig | None = None, **changes: Any) -> RunConfig:
    """The validated config that :func:`train` would run: ``base`` (default: the defaults, as the Train page starts)
    with ``task``, ``scheme``, ``steps`` and any dotted field changes (``model__n_layers=4`` or
    ``**{"model.n_layers": 4}``)."""
    dotted = {name.replace("__", "."): value for name, value in changes.items()}
    named = {"task.name": task, "positions.scheme": scheme, "train.steps": steps}
    for field, value in named.items():
        if value is not None:
            if field in dotted:
                raise ConfigError(field, f"given twice (as a keyword and as {field!r}); give it once")
            dotted[field] = value
    start = base if base is not None else RunConfig()
    return start.replace(**dotted) if dotted else start  # a new task.name resets the options first (RunConfig.replace)


def _store_of(store: Store | RunStore | str | os.PathLike[str] | None) -> RunStore:
    if isinstance(store, Store):
        return store.store
    if isinstance(store, RunStore):
        return store
    return RunStore(store)


class _TrainProgress(RunProgress):
    """A run's progress as :func:`train` keeps it: written to ``out`` when given (about ten lines of training,
    then the sweep's lengths), and every training point handed on to ``on_point`` when given."""

    def __init__(self, run_id: str, total_steps: int, out: TextIO | None, on_point: Callable[[TrainPoint], None] | None) -> None:
        super().__init__(run_id, total_steps)
        self._out = out
        self._on_point = on_point
        self._every = max(1, total_steps // 10)
        self._next = self._every

    def add_train_point(self, point: TrainPoint) -> None:
        super().add_train_point(point)
        if self._out is not None and (point.step >= self._next or point.step >= self.total_steps):
            self._next = point.step + self._every
            checked = "" if point.in_distribution is None else f", exact match in range {point.in_distribution:.2f}"
            self._out.write(f"  step {point.step}/{self.total_steps}: loss {point.loss:.4f}{checked} ({point.wall_time_s:.0f} s)\n")
        if self._on_point is not None:
            self._on_point(point)

    def add_eval_point(self, point: EvalPoint) -> None:
        super().add_eval_point(point)
        if self._out is not None:
            self._out.write(
                f"  length {point.length}: exact match {point.exact_match:.3f} "
                f"(95% interval {point.exact_match_low:.2f}-{point.exact_match_high:.2f}, n={point.n})\n"
            )


def train(
    task: str | None = None,
    scheme: str | None = None,
    steps: int | None = None,
    *,
    seed: int = 0,
    config: RunConfig | None = None,
    store: Store | RunStore | str | os.PathLike[str] | None = None,
    name: str | None = None,
    tags: Sequence[str] = (),
    verbose: bool = True,
    on_point: Callable[[TrainPoint], None] | None = None,
    **changes: Any,
) -> Run:
    """Train one model here and now, sweep its lengths, store it; returns the :class:`Run`.

    ``task``, ``scheme`` (``positions.scheme``) and ``steps`` (``train.steps``) are the fields most runs change;
    any other field is a keyword (see the module docstring); ``config`` is the config they change (default: the
    defaults), e.g. a stored run's (``store.get(id).config``) or a lesson's (``lessons.LESSON_RUNS[key].config()``).
    ``store``: a :class:`Store`, a path, or None for the default store. ``verbose`` prints about ten progress lines and each tested length; ``on_point`` hears every
    logged training point. The run is admitted (seed, device, memory and time against this machine) before
    anything is written; a crash or Ctrl-C is recorded as the run's status, never lost.
    """
    config = run_config(task, scheme, steps, base=config, **changes)
    run_store = _store_of(store)
    budget = default_budget(1)
    run_id = create_run(run_store, config, seed, name=name, tags=tuple(tags), budget=budget)
    out = sys.stdout
    progress = _TrainProgress(run_id, config.train.steps, out if verbose else None, on_point)
    if verbose:
        out.write(f"run {run_id}: {config.task.name} / {config.positions.scheme}, seed {seed}, {config.train.steps} steps\n")
    started = time.monotonic()
    status = execute_run(run_store, run_id, config, seed, progress=progress, budget=budget)
    run = Run(run_store, run_store.get_run(run_id))
    if verbose:
        out.write(f"{status} in {time.monotonic() - started:.0f} s" + (f": breakdown {run.breakdown}\n" if status == "done" else "\n"))
    return run


def _runner(runner: str | Runner, workers: int, ray_address: str | None) -> Runner:
    if not isinstance(runner, str):
        return runner
    if runner == "inline":
        return InlineRunner()
    if runner == "processes":
        return LocalProcessRunner(workers)
    if runner == "ray":
        from lengen_core.ray_runner import RayRunner

        return RayRunner(ray_address, max_in_flight=workers)
    raise ConfigError("runner", f"must be one of {list(RUNNERS)} or a Runner, got {shown(runner)}")


def sweep(
    tasks: Iterable[str],
    schemes: Iterable[str],
    seeds: Iterable[int] = (0,),
    *,
    steps: int | None = None,
    runner: str | Runner = "inline",
    workers: int = 2,
    ray_address: str | None = None,
    store: Store | RunStore | str | os.PathLike[str] | None = None,
    tag: str | None = None,
    **changes: Any,
) -> list[Run]:
    """Train every task x scheme x seed (the same other ``changes`` for all); returns the runs in that order.

    ``runner``: ``"inline"`` (one after another in this process), ``"processes"`` (``workers`` processes sharing
    this machine's cores), ``"ray"`` (a Ray cluster at ``ray_address``, else ``$RAY_ADDRESS`` or a local one; Ray
    must be installed), or any :class:`~lengen_core.sweeps.Runner`. Every cell is checked and admitted before any
    run is written (a bad cell raises a ConfigError naming it); the runs are tagged ``sweep:<tag>``.
    """
    tasks, schemes = list(tasks), list(schemes)
    if not tasks or not schemes:
        raise ConfigError("sweep", "needs at least one task and one scheme")
    base = run_config(tasks[0], schemes[0], steps, **changes)  # the first cell: changes valid for its task hold
    cells = expand_grid(base, tasks=tasks, schemes=schemes, seeds=list(seeds))
    chosen = _runner(runner, workers, ray_address)
    run_store = _store_of(store)
    budget = default_budget(workers if runner == "processes" else 1)
    jobs = queue_sweep(run_store, cells, tag=tag or time.strftime("%Y%m%d-%H%M%S"), budget=budget)
    chosen.run(jobs)
    return [Run(run_store, run_store.get_run(job.run_id)) for job in jobs]
