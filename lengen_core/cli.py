"""``python -m lengen_core``: headless training, evaluation, sweeps, run listing and export.

Every command uses the same run store as the app (``--db``, else ``$LENGEN_DB``,
else ``data/runs.duckdb``). The store serialises writers across processes, so
the CLI can run while the app is open on the same file.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from lengen_core.config import LIMITS, POSITION_SCHEMES, RunConfig, check_seed, parse_json_object, set_dotted
from lengen_core.errors import SHOWN_CHARS, ConfigError, LenGenError, shown

EPILOG = """examples:
  python -m lengen_core train --task reverse --scheme coupled --train-length 1-10 --time-budget 120
  python -m lengen_core train --task addition --scheme learned --set model.n_layers=3 --set eval.samples_per_length=100
  python -m lengen_core sweep --tasks reverse,addition --schemes coupled,learned,nope --seeds 0,1,2 --workers 2
  python -m lengen_core eval RUN_ID --lengths 10,20,40,80
  python -m lengen_core runs list --task reverse
  python -m lengen_core export --format csv --out exports/
"""


def parse_value(text: str, field: str = "--set") -> Any:
    """``--set`` values are JSON when they parse as JSON (numbers, true, [1,2]), else strings."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
    except RecursionError:
        raise ConfigError(field, "value is nested too deeply") from None
    except ValueError:  # an integer of more than 4,300 digits: Python refuses to read it
        raise ConfigError(field, "value is not usable: a number of more than 4,300 digits") from None


def parse_range(text: str, field: str) -> tuple[int, int]:
    """``"1-10"`` -> (1, 10); ``"8"`` -> (8, 8)."""
    try:
        if "-" in text:
            low, high = text.split("-", 1)
            return int(low), int(high)
        return int(text), int(text)
    except ValueError:
        raise ConfigError(field, f"expected a length or a range like 1-10, got {shown(text)}") from None


def parse_int_list(text: str, field: str) -> list[int]:
    """``"10,20, 40"`` -> [10, 20, 40]; anything else is a ConfigError naming ``field``."""
    parts = [part.strip() for part in str(text).split(",") if part.strip()]
    if len(parts) > 1000:
        raise ConfigError(field, f"at most 1000 values, got {len(parts)}")
    try:
        return [int(part) for part in parts]
    except ValueError:
        raise ConfigError(field, f"expected comma-separated integers, got {shown(text)}") from None


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


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Defaults <- ``--config`` file <- convenience flags <- ``--set`` overrides (later wins)."""
    data = RunConfig().to_dict() if not args.config else read_config_file(args.config).to_dict()
    changes: dict[str, Any] = {}
    if getattr(args, "task", None):
        changes["task.name"] = args.task
        if not args.config:
            changes["task.options"] = {}
    if getattr(args, "scheme", None):
        changes["positions.scheme"] = args.scheme
    if getattr(args, "train_length", None):
        low, high = parse_range(args.train_length, "--train-length")
        changes["task.train_length_min"], changes["task.train_length_max"] = low, high
    if getattr(args, "steps", None) is not None:
        changes["train.steps"] = args.steps
    if getattr(args, "time_budget", None) is not None:
        changes["train.time_budget_s"] = args.time_budget
    if getattr(args, "attention", None):
        changes["model.attention"] = args.attention
    for item in getattr(args, "set", None) or []:
        if "=" not in item:
            raise ConfigError("--set", f"expected field=value, got {shown(item)}")
        key, value = item.split("=", 1)
        changes[key.strip()] = parse_value(value)
    for key, value in changes.items():
        set_dotted(data, key, value)
    return RunConfig.from_dict(data)


class ProgressBar:
    """A one-line text progress bar on stderr (redrawn in place on a terminal)."""

    def __init__(self, total: int, label: str, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream
        self.width = width
        self.started = time.perf_counter()
        self.interactive = stream.isatty()
        self._last_line = ""

    def update(self, done: int, note: str = "") -> None:
        fraction = min(done / self.total, 1.0)
        filled = int(self.width * fraction)
        elapsed = time.perf_counter() - self.started
        line = f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} {elapsed:5.1f}s {note}"
        if self.interactive:
            self.stream.write("\r" + line.ljust(len(self._last_line)))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._last_line = line

    def close(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.3f}"
        return str(value)

    text_rows = [[cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(r[i]) for r in text_rows)) if text_rows else len(column) for i, column in enumerate(columns)]
    lines = ["  ".join(column.ljust(widths[i]) for i, column in enumerate(columns))]
    lines.append("  ".join("-" * width for width in widths))
    lines.extend("  ".join(r[i].ljust(widths[i]) for i in range(len(columns))) for r in text_rows)
    return "\n".join(lines)


def print_sweep_table(store: Any, run_id: str, out: TextIO) -> None:
    record = store.get_run(run_id)
    curve = store.eval_curve([run_id])
    rows = curve.sort_values("length").to_dict("records")
    out.write(format_table(rows, ["length", "n", "exact_match", "exact_match_low", "exact_match_high", "token_accuracy"]) + "\n")
    ratio = None if record.breakdown_length is None else record.breakdown_length / record.train_length_max
    out.write(
        f"breakdown length: {record.breakdown_length} (train length max {record.train_length_max}, "
        f"ratio {'-' if ratio is None else f'{ratio:.2f}'}x)\n"
    )


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
    from lengen_core.jobs import RunProgress, admit, create_run, execute_run
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
    bar = ProgressBar(total, "train")

    class BarProgress(RunProgress):
        def add_train_point(self, point: Any) -> None:  # type: ignore[override]
            super().add_train_point(point)
            budget = config.train.time_budget_s
            note = f"loss {point.loss:.4f} acc {point.accuracy if point.accuracy is not None else float('nan'):.2f}"
            if budget:
                note += f" (budget {point.wall_time_s:.0f}/{budget:.0f}s)"
            bar.update(point.step, note)

        def add_eval_point(self, point: Any) -> None:  # type: ignore[override]
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
    if status == "done":
        print_sweep_table(store, run_id, out)
    return 0 if status == "done" else 1


def command_eval(args: argparse.Namespace, out: TextIO) -> int:
    from lengen_core.costs import default_budget
    from lengen_core.jobs import execute_extra_sweep, plan_extra_sweep

    if not args.sweep_name or args.sweep_name == "default" or len(args.sweep_name) > 64:
        raise ConfigError("--sweep-name", f"must be a name of 1..64 characters other than 'default', got {shown(args.sweep_name)}")
    lengths = parse_int_list(args.lengths, "--lengths") if args.lengths is not None else None
    if lengths is not None and not lengths:
        raise ConfigError("--lengths", "give at least one length, e.g. 10,20,40")
    if args.samples is not None:
        check_int_flag("--samples", args.samples, 1, LIMITS["max_eval_samples"])
    store = open_store(args)
    budget = default_budget(1)
    plan = plan_extra_sweep(store, args.run_id, lengths, args.samples, budget)
    bar = ProgressBar(len(plan.estimate.eval_lengths), "eval")
    done = []

    def on_point(point: Any) -> None:
        done.append(point)
        bar.update(len(done), f"length {point.length}: {point.exact_match:.3f}")

    try:
        evaluation = execute_extra_sweep(store, plan, args.sweep_name, budget=budget, on_point=on_point)
    finally:
        bar.close()
    outcome = evaluation.result
    rows = [point.as_row() for point in outcome.points]
    out.write(format_table(rows, ["length", "n", "exact_match", "exact_match_low", "exact_match_high", "token_accuracy"]) + "\n")
    out.write(f"breakdown length: {outcome.breakdown_length} (sweep {args.sweep_name!r} stored)\n")
    if evaluation.stopped:
        out.write(f"note: {evaluation.stopped}\n")
    return 0


def check_int_flag(flag: str, value: Any, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ConfigError(flag, f"must be an integer between {minimum} and {maximum}, got {shown(value)}")
    return value


def command_sweep(args: argparse.Namespace, out: TextIO) -> int:
    from lengen_core.costs import default_budget
    from lengen_core.jobs import admit
    from lengen_core.sweeps import GRID_LIMIT, InlineRunner, LocalProcessRunner, expand_grid, queue_sweep

    check_int_flag("--workers", args.workers, 1, 64)
    if args.tag is not None and (not args.tag or len(args.tag) > 64):
        raise ConfigError("--tag", f"must be a name of 1..64 characters, got {shown(args.tag)}")
    base = config_from_args(args)
    tasks = [name.strip() for name in args.tasks.split(",") if name.strip()]
    schemes = [name.strip() for name in args.schemes.split(",") if name.strip()]
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
        key, value = assignment.split("=", 1)
        per_scheme.setdefault(scheme.strip(), {})[key.strip()] = parse_value(value, "--scheme-set")
    cells = expand_grid(base, tasks=tasks, schemes=schemes, seeds=seeds, changes_per_scheme=per_scheme)
    budget = default_budget(args.workers)
    for config, seed in cells:  # every cell is admitted before any run is written
        estimate = admit(config, seed, budget)
    if args.dry_run:
        out.write(f"sweep: {len(cells)} runs accepted, {args.workers} workers; the last: {estimate.summary()}\n")
        return 0
    store = open_store(args)
    tag = args.tag or time.strftime("%Y%m%d-%H%M%S")
    jobs = queue_sweep(store, cells, tag=tag, budget=budget)
    out.write(f"sweep {tag}: {len(jobs)} runs ({len(tasks)} tasks x {len(schemes)} schemes x {len(seeds)} seeds), {args.workers} workers\n")
    bar = ProgressBar(len(jobs), "sweep")
    finished: list[str] = []

    def on_done(run_id: str, status: str) -> None:
        finished.append(run_id)
        bar.update(len(finished), f"{run_id} {status}")

    runner = InlineRunner() if args.workers == 1 else LocalProcessRunner(args.workers)
    results = runner.run(jobs, on_done)
    bar.close()
    frame = store.list_runs()
    frame = frame[frame["run_id"].isin([job.run_id for job in jobs])]
    out.write(format_table(frame.to_dict("records"), ["run_id", "task", "scheme", "seed", "status", "train_length_max", "breakdown_length", "breakdown_ratio"]) + "\n")
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
    out.write(format_table(frame.to_dict("records"), ["run_id", "created_at", "task", "scheme", "seed", "status", "train_length_max", "breakdown_length", "breakdown_ratio"]) + "\n")
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
    from lengen_core.tasks import TASK_REGISTRY

    rows = []
    for name in sorted(TASK_REGISTRY):
        task_class = TASK_REGISTRY[name]
        rows.append({
            "task": name,
            "family": task_class.family,
            "c_rasp": task_class.c_rasp,
            "coupling": task_class.has_coupling,
            "description": task_class.description,
        })
    out.write(format_table(rows, ["task", "family", "c_rasp", "coupling", "description"]) + "\n")
    return 0


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, with the values quoted in its usage errors cut short (a flag can be 100,000 characters)."""

    def error(self, message: str) -> NoReturn:
        message = re.sub(r"'([^']{%d,})'" % (SHOWN_CHARS + 1), lambda match: shown(match.group(1)), message)
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
        sub.add_argument("--steps", type=int, help="training steps (default 2000)")
        sub.add_argument("--time-budget", type=float, help="stop training after this many seconds")
        sub.add_argument("--attention", choices=["dense", "hsa"], help="attention kind")
        sub.add_argument("--set", action="append", metavar="FIELD=VALUE", help="any config field, e.g. model.n_layers=3 (repeatable)")

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
    evaluate.set_defaults(handler=command_eval)

    sweep = commands.add_parser("sweep", help="grid of tasks x schemes x seeds on a pool of worker processes")
    sweep.add_argument("--tasks", required=True, help="comma-separated task names")
    sweep.add_argument("--schemes", required=True, help="comma-separated position schemes")
    sweep.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    sweep.add_argument("--workers", type=int, default=2, help="worker processes (default 2; 1 runs inline)")
    sweep.add_argument("--tag", help="sweep name (default: a timestamp)")
    sweep.add_argument(
        "--scheme-set", action="append", metavar="SCHEME:FIELD=VALUE",
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
