"""``python -m lengen_core``: headless training, evaluation, sweeps, run listing and export.

Every command uses the same run store as the app (``--db``, else ``$LENGEN_DB``,
else ``data/runs.duckdb``). The store serialises writers across processes, so
the CLI can run while the app is open on the same file.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from lengen_core.breakdown import Breakdown
from lengen_core.config import LIMITS, RunConfig, TrainConfig, check_seed
from lengen_core.config_codec import parse_json_object
from lengen_core.cpus import usable_cpus
from lengen_core.errors import SHOWN_CHARS, ConfigError, LenGenError, shown
from lengen_core.length_search import INTERVAL_RULE
from lengen_core.params import decode_changes, decode_mixture, parse_assignment, parse_int_list, parse_range
from lengen_core.scheme_table import POSITION_SCHEMES

if TYPE_CHECKING:
    from lengen_core.evaluation import EvalPoint
    from lengen_core.store import RunStore
    from lengen_core.training import TrainPoint

EPILOG = """examples:
  python -m lengen_core train --task reverse --scheme coupled --train-length 1-10 --time-budget 120
  python -m lengen_core train --task addition --scheme learned --set model.n_layers=3 --set eval.samples_per_length=100
  python -m lengen_core sweep --tasks reverse,addition --schemes coupled,learned,nope --seeds 0,1,2 --workers 2
  python -m lengen_core sweep --tasks reverse --schemes coupled,nope --seeds 0,1,2,3,4 --runner ray --ray-address 10.0.0.5:6379
  python -m lengen_core eval RUN_ID --lengths 10,20,40,80
  python -m lengen_core eval RUN_ID --task copy_unique --lengths 40,80   # another task of a multi-task run
  python -m lengen_core runs list --task reverse
  python -m lengen_core export --format csv --out exports/
"""


def read_config_file(path_text: str) -> RunConfig:
    """The run config in a JSON file; a missing file, a folder, unreadable or non-UTF-8 bytes are ConfigErrors."""
    path = Path(path_text).expanduser()
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise ConfigError("--config", f"{shown(path_text)} is a folder, not a JSON file")
        if size > 1_000_000:
            raise ConfigError("--config", f"{shown(path_text)} has {size:,} bytes; a run config is at most 1,000,000")
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError("--config", f"cannot read {shown(path_text)}: {error.strerror or error}") from None
    return RunConfig.from_dict(parse_json_object(data, "--config"))


def config_from_args(args: argparse.Namespace, scheme: str | None = None, task: str | None = None) -> RunConfig:
    """Defaults <- ``--config`` file <- convenience flags <- ``--set`` overrides (later wins).

    ``--set field=value`` reads the value by the field's type, as a link does (:mod:`lengen_core.params`).
    ``scheme`` and ``task`` stand in for ``--scheme`` and ``--task`` (a sweep's base takes its first
    scheme and task, so that a recipe's tasks are checked against a scheme the sweep runs, and a
    ``--set`` of a task's field, ``task.supervision``, against a task it runs, not the default ones).
    """
    base = read_config_file(args.config) if args.config else RunConfig()
    changes: dict[str, Any] = {}
    if getattr(args, "init_from", None):  # fine-tuning: the parent's model and positions, unless --set changes them
        try:
            parent = open_store(args).get_run(args.init_from).run_config
        except KeyError:
            raise ConfigError("--init-from", f"no run {shown(args.init_from)} in this store") from None
        base = dataclasses.replace(base, model=parent.model, positions=parent.positions)
        changes["train.init_from"] = args.init_from
    if getattr(args, "task", None) or task:
        changes["task.name"] = getattr(args, "task", None) or task
    if getattr(args, "scheme", None) or scheme:
        changes["positions.scheme"] = getattr(args, "scheme", None) or scheme
    if getattr(args, "train_length", None):
        low, high = parse_range(args.train_length, "--train-length")
        changes["task.train_length_min"], changes["task.train_length_max"] = low, high
    if getattr(args, "steps", None) is not None:
        changes["train.steps"] = args.steps
    if getattr(args, "time_budget", None) is not None:
        changes["train.time_budget_s"] = args.time_budget
    if getattr(args, "search", None) is not None:
        changes["eval.search"] = args.search
    if getattr(args, "until_learned", None) is not None:
        changes["train.stop_when_learned"] = args.until_learned
    if getattr(args, "attention", None):
        changes["model.attention"] = args.attention
    if getattr(args, "recipe", None):  # the recipe's main task and partners, at the lengths chosen so far
        from lengen_core.recipes import recipe

        chosen = recipe(args.recipe, "--recipe")
        if changes.get("task.name", chosen.main_task) != chosen.main_task:
            raise ConfigError("--task", f"recipe {chosen.name!r} trains {chosen.main_task!r} as its main task; leave --task out")
        low = changes.get("task.train_length_min", base.task.train_length_min)
        high = changes.get("task.train_length_max", base.task.train_length_max)
        batch = changes.get("train.batch_size", base.train.batch_size)
        changes.update(chosen.changes(low, high, batch))
    if getattr(args, "mix", None):
        changes["task.mixture"] = decode_mixture("--mix", ",".join(args.mix))
    texts = dict(parse_assignment(item, "--set") for item in getattr(args, "set", None) or [])
    changes.update(decode_changes(texts, changes.get("task.name", base.task.name)))
    return base.replace(**changes)


class ProgressBar:
    """A command's progress on stderr: a live rich bar on a terminal; elsewhere (CI logs, files, pipes)
    a plain line at the first update, then at most one every ``every_s`` seconds, and a final one at close."""

    def __init__(self, total: float, label: str, stream: TextIO | None = None, every_s: float = 10.0) -> None:
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

        stream = stream or sys.stderr  # looked up now, so redirected or captured stderr is followed
        self.interactive = stream.isatty()
        self.console = text_console(stream, self.interactive, width=200)
        self.every_s = every_s
        self.started = time.perf_counter()
        self._printed_at: float | None = None
        self._closed = False
        columns = [
            TextColumn("{task.description}", markup=False),
            *([BarColumn()] if self.interactive else []),
            TaskProgressColumn(),
            TextColumn("{task.fields[count]}", markup=False),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}", markup=False),
        ]
        self.progress = Progress(*columns, console=self.console, disable=not self.interactive, redirect_stdout=False, redirect_stderr=False)
        self.task = self.progress.add_task(label, total=max(total, 1e-9), count="", note="")
        self.progress.start()  # does nothing when disabled (not a terminal)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def update(self, completed: float, count: str, note: str = "") -> None:
        """Set the bar to ``completed`` (of its total), its count text (e.g. ``3/8 lengths``) and a note."""
        self.progress.update(self.task, completed=completed, count=count, note=note)
        now = time.perf_counter()
        if not self.interactive and not self._closed and (self._printed_at is None or now - self._printed_at >= self.every_s):
            self._print_line(now)

    def _print_line(self, now: float) -> None:
        self.console.print(self.progress.make_tasks_table(self.progress.tasks))
        self._printed_at = now

    def close(self) -> None:
        """Leave the final state on screen (a terminal) or as the last line (elsewhere); closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        if self.interactive:
            self.progress.stop()
        else:
            self._print_line(time.perf_counter())


def text_console(stream: TextIO, interactive: bool, width: int) -> Any:
    """A rich Console on ``stream``: styled on a terminal, plain text (no ANSI codes, ``width`` columns) elsewhere.

    ``force_terminal`` is the stream's own answer, so FORCE_COLOR or TTY_COMPATIBLE in the
    environment cannot put escape codes into a pipe, a file or a CI log.
    """
    from rich.console import Console

    return Console(file=stream, force_terminal=interactive, width=None if interactive else width, highlight=False)


def print_table(out: TextIO, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """``rows`` as a rich table on ``out``: every column in full (folded, never cut, on a narrow terminal)."""
    from numbers import Number

    from rich import box
    from rich.table import Table
    from rich.text import Text

    def cell(value: Any) -> str:
        if value is None or (isinstance(value, float) and value != value):  # None and NaN: not measured
            return "-"
        if isinstance(value, float):
            return f"{value:.3f}"
        return str(value)

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for column in columns:
        values = [row.get(column) for row in rows if row.get(column) is not None]
        numeric = bool(values) and all(isinstance(value, Number) and not isinstance(value, bool) for value in values)
        table.add_column(column, justify="right" if numeric else "left", no_wrap=numeric, overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell(row.get(column))) for column in columns))  # Text: stored names are never markup
    interactive = out.isatty()
    console = text_console(out, interactive, width=10_000)  # off a terminal: the table's natural width, never wrapped
    if interactive:
        console.print(table)
        return
    with console.capture() as captured:
        console.print(table)
    out.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))  # no trailing blanks in files


def print_sweep_table(store: RunStore, run_id: str, out: TextIO) -> None:
    from lengen_core.store import EVAL_COLUMNS
    from lengen_core.sweep_names import part_sweep_name, sweep_part
    from lengen_core.theory import check_run

    record = store.get_run(run_id)
    config = record.run_config
    curve = store.eval_curve([run_id])
    main_curve = curve[~curve["sweep"].str.contains("@", regex=False)]
    rows = main_curve.sort_values("length").to_dict("records")
    if config.task.is_mixture:
        out.write(f"task {config.task.name} (the main task of a mixture with {', '.join(e.name for e in config.task.mixture)}):\n")
    print_table(out, rows, EVAL_COLUMNS)
    longest = int(main_curve["length"].max()) if len(main_curve) else None
    out.write(f"breakdown length: {record.breakdown(longest)} (trained up to {record.train_length_max}; {INTERVAL_RULE})\n")
    for line in check_run(config, record.breakdown_length, longest).lines():
        out.write(line + "\n")
    evaluated = {part.name for part in config.task.evaluated_parts()}
    for part in config.task.parts()[1:]:  # a mixture's other tasks, tested by its own sweep or an extra one
        part_curve = curve[curve["sweep"].map(sweep_part) == part.name]
        if part.name not in evaluated and part_curve.empty:
            continue
        out.write(f"task {part.name} (trained on lengths {part.train_length_min}-{part.train_length_max}):\n")
        print_table(out, part_curve.sort_values("length").to_dict("records"), EVAL_COLUMNS)
        own = part_curve[part_curve["sweep"] == part_sweep_name("default", part.name)]
        out.write(f"breakdown length: {stored_breakdown_text(own, part.train_length_max)} (trained up to {part.train_length_max})\n")


def stored_breakdown_text(curve: Any, train_length_max: int) -> str:
    """The :class:`~lengen_core.breakdown.Breakdown` of one stored sweep's points (``RunStore.eval_curve`` rows), in words."""
    import pandas

    if curve.empty:
        return "not tested"

    def value(column: str) -> Any:
        stored = curve[column].iloc[0]
        return None if stored is None or pandas.isna(stored) else (stored if isinstance(stored, str) else int(stored))

    breakdown = Breakdown(
        value("breakdown_length"),
        train_length_max,
        low=value("breakdown_low"),
        high=value("breakdown_high"),
        bound_reason=value("bound_reason"),
        longest_tested=int(curve["length"].max()),
    )
    return str(breakdown)


def open_store(args: argparse.Namespace) -> Any:
    from lengen_core.store import RunStore

    return RunStore(args.db)


def print_estimate(config: RunConfig, estimate: Any, out: TextIO) -> None:
    out.write(json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")
    out.write(f"accepted: {estimate.summary()}\n")
    for point in estimate.eval_lengths:
        out.write(f"  eval length {point.length}: batches of {point.batch_size}, about {point.peak_bytes / 2**30:.2f} GiB, {point.seconds:.1f} s\n")


def command_train(args: argparse.Namespace, out: TextIO) -> int:
    from lengen_core.costs import default_budget
    from lengen_core.runs.admission import admit, create_run
    from lengen_core.runs.execution import execute_run
    from lengen_core.runs.progress import RunProgress
    from lengen_core.training import TrainingControl

    config = config_from_args(args)
    budget = default_budget(1)
    estimate = admit(config, args.seed, budget)
    if args.dry_run:
        print_estimate(config, estimate, out)
        return 0
    store = open_store(args)
    run_id = create_run(store, config, args.seed, name=args.name, budget=budget)
    out.write(f"run {run_id}: {config.task.name} / {config.positions.scheme}, config {config.config_id}, seed {args.seed}\n")
    total = config.train.steps
    time_budget = config.train.time_budget_s
    # a budgeted run ends when its seconds run out (long before a large `steps`): the bar follows the clock
    bar = ProgressBar(time_budget if time_budget else total, "train")

    class BarProgress(RunProgress):
        def add_train_point(self, point: TrainPoint) -> None:
            super().add_train_point(point)
            note = f"loss {point.loss:.4f} acc {point.accuracy if point.accuracy is not None else float('nan'):.2f}"
            if point.in_distribution is not None:
                note += f" · greedy {point.in_distribution:.2f} in range"
            if time_budget:
                seconds = min(point.wall_time_s, time_budget)
                bar.update(seconds, f"steps {point.step} · {seconds:.0f}/{time_budget:.0f} s", note)
            else:
                bar.update(point.step, f"{point.step}/{total} steps", note)

        def update(self, **changes: Any) -> None:
            super().update(**changes)
            if changes.get("phase") in ("evaluating", "finished"):
                bar.close()  # before the eval lines go to `out`, so they never cut into a live bar

        def add_eval_point(self, point: EvalPoint) -> None:
            super().add_eval_point(point)
            out.write(f"  eval length {point.length}: exact match {point.exact_match:.3f} (n={point.n})\n")

    progress = BarProgress(run_id, total)
    control = TrainingControl()
    try:
        status = execute_run(store, run_id, config, args.seed, control=control, progress=progress, budget=budget)
    finally:
        bar.close()
    record = store.get_run(run_id)
    out.write(f"status: {status}{'' if not record.error else ' - ' + record.error.splitlines()[0]}\n")
    if record.stop_reason:
        out.write(f"training: {record.stop_reason}\n")
    if status == "done":
        print_sweep_table(store, run_id, out)
    return 0 if status == "done" else 1


def command_eval(args: argparse.Namespace, out: TextIO) -> int:
    from lengen_core.costs import default_budget
    from lengen_core.runs.extra_sweeps import execute_extra_sweep, plan_extra_sweep
    from lengen_core.store import EVAL_COLUMNS

    if not args.sweep_name or args.sweep_name == "default" or len(args.sweep_name) > 64 or "@" in args.sweep_name:
        raise ConfigError("--sweep-name", f"must be a name of 1..64 characters without '@', other than 'default', got {shown(args.sweep_name)}")
    lengths = parse_int_list(args.lengths, "--lengths") if args.lengths is not None else None
    if lengths is not None and not lengths:
        raise ConfigError("--lengths", "give at least one length, e.g. 10,20,40")
    if args.samples is not None:
        check_int_flag("--samples", args.samples, 1, LIMITS["max_eval_samples"])
    store = open_store(args)
    budget = default_budget(1)
    plan = plan_extra_sweep(store, args.run_id, lengths, args.samples, budget, task=args.task or "", search=args.search)
    planned = len(plan.estimate.eval_lengths)
    time_budget = plan.config.eval.time_budget_s
    # with eval.time_budget_s the sweep stops when its seconds run out: the bar follows the clock
    bar = ProgressBar(time_budget if time_budget else planned, "eval")
    done = []

    def on_point(point: Any) -> None:
        done.append(point)
        note = f"length {point.length}: {point.exact_match:.3f}"
        if time_budget:
            seconds = min(bar.elapsed, time_budget)
            bar.update(seconds, f"lengths {len(done)}/{planned} · {seconds:.0f}/{time_budget:.0f} s", note)
        else:
            bar.update(len(done), f"{len(done)}/{planned} lengths", note)

    try:
        evaluation = execute_extra_sweep(store, plan, args.sweep_name, budget=budget, on_point=on_point)
    finally:
        bar.close()
    assert evaluation is not None, "without should_stop an extra sweep is never cancelled"
    outcome = evaluation.result
    rows = [point.as_row() for point in outcome.points]
    print_table(out, rows, EVAL_COLUMNS)
    out.write(f"breakdown length: {outcome.breakdown} (sweep {plan.stored_name(args.sweep_name)!r} stored)\n")
    if evaluation.stopped:
        out.write(f"note: {evaluation.stopped}\n")
    return 0


def check_int_flag(flag: str, value: Any, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ConfigError(flag, f"must be an integer between {minimum} and {maximum}, got {shown(value)}")
    return value


def check_runner_flags(args: argparse.Namespace) -> str:
    """``local`` or ``ray``, with --workers defaulted and every runner flag checked (Ray's presence included)."""
    if args.runner not in ("local", "ray"):
        raise ConfigError("--runner", f"must be 'local' or 'ray', got {shown(args.runner)}")
    check_int_flag("--ray-cpus-per-run", args.ray_cpus_per_run, 1, 1024)
    if args.runner == "local":
        if args.ray_address is not None:
            raise ConfigError("--ray-address", "needs --runner ray")
        args.workers = 2 if args.workers is None else args.workers
        check_int_flag("--workers", args.workers, 1, 64)
        return "local"
    from lengen_core.ray_runner import import_ray

    import_ray("--runner")
    if args.workers is not None:
        check_int_flag("--workers", args.workers, 1, 100_000)
    if args.ray_address is not None and (not args.ray_address.strip() or len(args.ray_address) > 255):
        raise ConfigError("--ray-address", f"must be HOST:PORT (or ray://HOST:PORT, or 'auto'), got {shown(args.ray_address)}")
    return "ray"


def workers_text(args: argparse.Namespace) -> str:
    if args.runner == "ray":
        where = args.ray_address or os.environ.get("RAY_ADDRESS") or "a local Ray"
        limit = f"at most {args.workers} runs" if args.workers else "runs"
        return f"{limit} in flight on {where}, {args.ray_cpus_per_run} CPU(s) each"
    return f"{args.workers} workers"


def sweep_base(args: argparse.Namespace, tasks: list[str], scheme: str | None, known_tasks: list[str]) -> RunConfig:
    """The config a sweep's cells are made from: the flags on the first listed task that takes them all.

    A ``--set`` of a task's field (``task.supervision=every_prefix``) may suit only some of the
    tasks; the cells of the others fall back as :meth:`RunConfig.replace` says. When no listed
    task takes the flags, the first task's refusal is raised.
    """
    candidates: list[str | None] = [name for name in tasks if name in known_tasks] or [None]
    first_error: ConfigError | None = None
    for name in candidates:
        try:
            return config_from_args(args, scheme=scheme, task=name)
        except ConfigError as error:
            first_error = first_error or error
    assert first_error is not None
    raise first_error


def command_sweep(args: argparse.Namespace, out: TextIO) -> int:
    from lengen_core.costs import default_budget
    from lengen_core.runs.admission import admit, check_sweep_name
    from lengen_core.sweeps import GRID_LIMIT, InlineRunner, LocalProcessRunner, expand_grid, queue_sweep
    from lengen_core.tasks.base import task_names

    runner_choice = check_runner_flags(args)
    tag = None if args.tag is None else check_sweep_name(args.tag, "--tag")
    tasks = [name.strip() for name in args.tasks.split(",") if name.strip()]
    schemes = [name.strip() for name in args.schemes.split(",") if name.strip()]
    base = sweep_base(args, tasks, schemes[0] if schemes and schemes[0] in POSITION_SCHEMES else None, task_names())
    seeds = parse_int_list(args.seeds, "--seeds")
    if len(tasks) * len(schemes) * len(seeds) > GRID_LIMIT:
        raise ConfigError("sweep", f"{len(tasks) * len(schemes) * len(seeds)} runs requested; at most {GRID_LIMIT} per sweep")
    for seed in seeds:
        check_seed(seed, "--seeds")
    per_scheme: dict[str, dict[str, Any]] = {}
    for item in args.scheme_set or []:
        scheme, _, assignment = item.partition(":")
        if not assignment or "=" not in assignment:
            raise ConfigError("--scheme-set", f"expected SCHEME:field=value, got {shown(item)}")
        key, text = parse_assignment(assignment, "--scheme-set")
        per_scheme.setdefault(scheme.strip(), {}).update(decode_changes({key: text}, base.task.name))
    cells = expand_grid(base, tasks=tasks, schemes=schemes, seeds=seeds, changes_per_scheme=per_scheme)
    # a Ray node is budgeted as a node like this one, one run per --ray-cpus-per-run cores (our choice)
    budget = default_budget(args.workers if runner_choice == "local" else max(1, usable_cpus() // args.ray_cpus_per_run))
    for config, seed in cells:  # every cell is admitted before any run is written
        estimate = admit(config, seed, budget)
    if base.task.supervision != "answer":  # a task with no label per prefix keeps the answer alone (RunConfig.replace)
        unlabelled = sorted({config.task.name for config, _ in cells if config.task.supervision != base.task.supervision})
        if unlabelled:
            out.write(
                f"task.supervision = {base.task.supervision} applies to the recognition tasks; {', '.join(unlabelled)} "
                "have no label per prefix and train on the answer alone\n"
            )
    if args.dry_run:
        out.write(f"sweep: {len(cells)} runs accepted, {workers_text(args)}; the last: {estimate.summary()}\n")
        return 0
    if runner_choice == "ray":  # before any run is written: Ray would wait a minute on a dead address
        from lengen_core.ray_runner import check_reachable

        check_reachable(args.ray_address or os.environ.get("RAY_ADDRESS") or "")
    store = open_store(args)
    tag = tag or time.strftime("%Y%m%d-%H%M%S")
    jobs = queue_sweep(store, cells, tag=tag, budget=budget)
    out.write(f"sweep {tag}: {len(jobs)} runs ({len(tasks)} tasks x {len(schemes)} schemes x {len(seeds)} seeds), {workers_text(args)}\n")
    bar = ProgressBar(len(jobs), "sweep")
    finished: list[str] = []

    def on_done(run_id: str, status: str) -> None:
        finished.append(run_id)
        bar.update(len(finished), f"{len(finished)}/{len(jobs)} runs", f"{run_id} {status}")

    if runner_choice == "ray":
        from lengen_core.ray_runner import RayRunner

        runner: Any = RayRunner(args.ray_address, cpus_per_run=args.ray_cpus_per_run, max_in_flight=args.workers)
    else:
        runner = InlineRunner() if args.workers == 1 else LocalProcessRunner(args.workers)
    try:
        results = runner.run(jobs, on_done)
    finally:
        bar.close()
    frame = store.list_runs()
    frame = frame[frame["run_id"].isin([job.run_id for job in jobs])]
    print_table(out, frame.to_dict("records"), ["run_id", "task", "scheme", "seed", "status", "train_length_max", "breakdown_length", "breakdown_ratio"])
    return 0 if all(status == "done" for status in results.values()) else 1


def command_runs(args: argparse.Namespace, out: TextIO) -> int:
    from lengen_core.store import RUN_STATUSES

    if args.runs_command == "list":  # checked before the store is opened
        check_int_flag("--limit", args.limit, 0, 10**9)
        if args.status is not None and args.status not in RUN_STATUSES:
            raise ConfigError("--status", f"must be one of {list(RUN_STATUSES)}, got {shown(args.status)}")
    store = open_store(args)
    if args.runs_command == "show":
        record = store.get_run(args.run_id)
        out.write(json.dumps({k: v for k, v in record.__dict__.items()}, indent=2, default=str) + "\n")
        if record.status == "done":
            print_sweep_table(store, args.run_id, out)
        return 0
    frame = store.list_runs(status=args.status, task=args.task, scheme=args.scheme, limit=args.limit)
    print_table(
        out, frame.to_dict("records"), ["run_id", "created_at", "task", "scheme", "seed", "status", "train_length_max", "breakdown_length", "breakdown_ratio"]
    )
    out.write(f"{len(frame)} runs\n")
    return 0


def command_export(args: argparse.Namespace, out: TextIO) -> int:
    store = open_store(args)
    run_ids = [part for part in args.runs.split(",") if part] if args.runs else None
    paths = store.export(run_ids, Path(args.out).expanduser(), fmt=args.format)
    for path in paths:
        out.write(f"wrote {path}\n")
    return 0


def command_tasks(args: argparse.Namespace, out: TextIO) -> int:
    from lengen_core.tasks.catalog import LEGEND, task_rows
    from lengen_core.tasks.plugins import PLUGIN_ERRORS, PLUGIN_TASKS

    print_table(out, task_rows(), ["task", "family", "NoPE", "APE", "k", "coupling", "description"])
    out.write(LEGEND + "\n")
    if PLUGIN_TASKS:
        out.write("From installed plug-ins: " + ", ".join(f"{name} ({where})" for name, where in sorted(PLUGIN_TASKS.items())) + "\n")
    for entry, reason in sorted(PLUGIN_ERRORS.items()):
        sys.stderr.write(f"warning: plug-in {entry!r} was left out: {reason}\n")
    out.write("Your own task: --task expression --set task.options.answer='sorted(x)' (docs/tasks.md).\n")
    return 0


def command_recipes(args: argparse.Namespace, out: TextIO) -> int:
    from lengen_core.recipes import RECIPES

    rows = [
        {
            "recipe": item.name,
            "main task": item.main_task,
            "trained beside it": ", ".join(f"{p.name}" + (f" ({p.length_factor}x longer)" if p.length_factor > 1 else "") for p in item.partners),
            "the paper found": item.predicts,
        }
        for item in RECIPES.values()
    ]
    print_table(out, rows, ["recipe", "main task", "trained beside it", "the paper found"])
    out.write("Use one with `train --recipe NAME` (the main task keeps --train-length; partners follow it).\n")
    return 0


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, with the values quoted in its usage errors cut short (a flag can be 100,000 characters)."""

    def error(self, message: str) -> NoReturn:
        message = re.sub(rf"'([^']{{{SHOWN_CHARS + 1},}})'", lambda match: shown(match.group(1)), message)
        super().error(message)


@functools.lru_cache(maxsize=1)
def build_parser() -> argparse.ArgumentParser:
    """The CLI's parser (built once per process; parsing does not change it)."""
    parser = ArgumentParser(
        prog="python -m lengen_core",
        description="LenGen Lab: train small sequence models and measure where accuracy breaks down with length.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", help="run database file (default: $LENGEN_DB or data/runs.duckdb)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_config_flags(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--config", help="JSON file with a full or partial run configuration")
        sub.add_argument("--train-length", help="training lengths, e.g. 1-10")
        sub.add_argument("--steps", type=int, help=f"training steps (default {TrainConfig.steps})")
        sub.add_argument("--time-budget", type=float, help="stop training after this many seconds")
        sub.add_argument(
            "--search",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="length search (eval.search, on by default): past the sweep's last length while the run holds, doubling "
            "until it fails or a limit stops it, then bisecting to eval.search_resolution; --no-search: the fixed sweep only",
        )
        sub.add_argument(
            "--until-learned",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="stop training once the training range is learned (greedy exact match >= eval.threshold at every checked "
            "training length on train.learned_checks checks in a row, every train.learned_check_every steps); "
            "--steps / --time-budget stay the upper bound (train.stop_when_learned; the app's Compare sweeps turn it on)",
        )
        sub.add_argument("--attention", choices=["dense", "hsa"], help="attention kind")
        sub.add_argument("--set", action="append", metavar="FIELD=VALUE", help="any config field, e.g. model.n_layers=3 (repeatable)")
        sub.add_argument("--init-from", metavar="RUN_ID", help="start from this stored run's checkpoint (fine-tuning; takes its model and position settings)")
        sub.add_argument("--recipe", help="a training recipe: its main task and the tasks trained beside it (see `recipes`)")
        sub.add_argument(
            "--mix",
            action="append",
            metavar="TASK:MIN-MAX[*WEIGHT][{OPTION=VALUE;...}][/train-only]",
            help="train this task too, in one multi-task run (repeatable; the task.mixture entries, e.g. copy_unique:1-32)",
        )

    train = commands.add_parser("train", help="train one model and sweep lengths", formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("--task", help="task name (see `tasks`)")
    train.add_argument("--scheme", choices=POSITION_SCHEMES, help="position scheme")
    add_config_flags(train)
    train.add_argument("--seed", type=int, default=0, help=f"random seed, 0..{LIMITS['max_seed']} (default 0)")
    train.add_argument("--name", help="a label for the run")
    train.add_argument("--dry-run", action="store_true", help="check the config and its cost estimate, print them, and stop (nothing is written)")
    train.set_defaults(handler=command_train)

    evaluate = commands.add_parser("eval", help="re-evaluate a stored run at other lengths")
    evaluate.add_argument("run_id")
    evaluate.add_argument("--lengths", help="comma-separated lengths (default: the run's eval config)")
    evaluate.add_argument("--samples", type=int, help="examples per length")
    evaluate.add_argument("--sweep-name", default="extra", help="name of this sweep in the store (default: extra)")
    evaluate.add_argument("--task", help="which task of a multi-task run to test (default: its main task); stored as NAME@TASK")
    evaluate.add_argument(
        "--search",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="when the run holds at the longest length, go on: double until it fails or a limit stops it, then bisect "
        "(default: the run's eval.search; runs stored before the search existed do not search)",
    )
    evaluate.set_defaults(handler=command_eval)

    sweep = commands.add_parser("sweep", help="grid of tasks x schemes x seeds on a pool of worker processes")
    sweep.add_argument("--tasks", required=True, help="comma-separated task names")
    sweep.add_argument("--schemes", required=True, help="comma-separated position schemes")
    sweep.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    sweep.add_argument(
        "--workers",
        type=int,
        default=None,
        help="local: worker processes (default 2; 1 runs inline); ray: runs in flight (default: the cluster's CPUs / --ray-cpus-per-run)",
    )
    sweep.add_argument("--runner", default="local", help="local (this machine's processes, default) or ray (a Ray cluster; needs ray installed)")
    sweep.add_argument("--ray-address", default=None, help="the Ray cluster to join (default: RAY_ADDRESS, else a local Ray started for the sweep)")
    sweep.add_argument("--ray-cpus-per-run", type=int, default=1, help="CPUs each run asks Ray for, and its torch threads (default 1)")
    sweep.add_argument("--tag", help="sweep name (default: a timestamp)")
    sweep.add_argument(
        "--scheme-set",
        action="append",
        metavar="SCHEME:FIELD=VALUE",
        help="a config change for one scheme's cells only, e.g. learned:positions.max_position=128 (repeatable)",
    )
    sweep.add_argument("--dry-run", action="store_true", help="check every cell and its cost estimate, and stop (nothing is written)")
    add_config_flags(sweep)
    sweep.set_defaults(handler=command_sweep, task=None, scheme=None)

    runs = commands.add_parser("runs", help="list or show stored runs")
    runs_commands = runs.add_subparsers(dest="runs_command", required=True)
    runs_list = runs_commands.add_parser("list", help="table of runs, newest first")
    runs_list.add_argument("--status")
    runs_list.add_argument("--task")
    runs_list.add_argument("--scheme")
    runs_list.add_argument("--limit", type=int, default=50, help="at most this many runs (default 50)")
    runs_show = runs_commands.add_parser("show", help="one run: config, environment, curve")
    runs_show.add_argument("run_id")
    runs.set_defaults(handler=command_runs)

    export = commands.add_parser("export", help="export runs and curves to Parquet or CSV")
    export.add_argument("--runs", help="comma-separated run ids (default: all)")
    export.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    export.add_argument("--out", required=True, help="output directory")
    export.set_defaults(handler=command_export)

    tasks = commands.add_parser("tasks", help="list the tasks with their theory labels")
    tasks.set_defaults(handler=command_tasks)
    recipes = commands.add_parser("recipes", help="list the training recipes (multi-task setups from the papers)")
    recipes.set_defaults(handler=command_recipes)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args, out)
    except ConfigError as error:
        sys.stderr.write(f"error: {error.field}: {error.message}\n")
        return 2
    except LenGenError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    except OSError as error:  # a file the user named cannot be written or read
        sys.stderr.write(f"error: {error.strerror or error}{': ' + shown(error.filename) if error.filename else ''}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


def cli_entry() -> None:
    """The ``lengen`` console script (the same as ``python -m lengen_core``)."""
    sys.exit(main())
