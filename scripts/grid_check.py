"""Try every choice the app offers: task x position scheme x attention, each with a tiny model.

A cell is one (task, scheme, attention) with the app's defaults otherwise (HSA at
its default chunk size, top-k and window) and each task's own length range. It
either **works** (config accepted, cost check passed, a few training steps,
greedy evaluation at two lengths, one past training, the attention maps, HSA
chunk selections and position ids the Attention and Position IDs pages draw, and
those pages' figures), or is **refused** when the config is made, with a
ConfigError naming the field and why, or it **failed**: anything else, which is
a bug. The test suite runs a fixed sample (tests/core/test_grid_check.py); this
script runs the whole grid and writes the table in docs/grid_check.md.

    python scripts/grid_check.py                         # all cells, table to docs/grid_check.md
    python scripts/grid_check.py --attention hsa_swa --tasks reverse,addition
    python scripts/grid_check.py --workers 2 --out /tmp/grid.md
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import multiprocessing
import platform
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lengen_core.config import POSITION_SCHEMES, RunConfig
from lengen_core.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

ATTENTION_VARIANTS: dict[str, dict[str, Any]] = {
    "dense": {"model.attention": "dense"},
    "hsa_swa": {"model.attention": "hsa", "model.hsa.local_mixer": "swa"},
    "hsa_recurrent": {"model.attention": "hsa", "model.hsa.local_mixer": "recurrent"},
}
TINY_MODEL: dict[str, Any] = {
    "model.n_layers": 2,  # HSA sits on the upper half of the layers: layer 1 has it, layer 0 is local only
    "model.n_heads": 2,
    "model.d_model": 16,
    "model.d_ff": 32,
    "train.steps": 3,
    "train.batch_size": 4,
    "train.warmup_steps": 1,
    "train.distractor_examples": 0,  # one example per row, as when the grid was drawn up (the defaults now pack in 2 more)
    "train.device": "cpu",
    "eval.samples_per_length": 1,
}


@dataclass(frozen=True)
class Cell:
    task: str
    scheme: str
    attention: str


@dataclass(frozen=True)
class CellResult:
    cell: Cell
    outcome: str  # "works", "refused", "failed"
    detail: str  # what was checked (works), "field: why" (refused), the error (failed)
    seconds: float


def all_cells(tasks: list[str] | None = None, schemes: list[str] | None = None, attentions: list[str] | None = None) -> list[Cell]:
    from lengen_core.tasks.base import task_names

    return [
        Cell(task, scheme, attention)
        for task in (tasks or task_names())
        for scheme in (schemes or list(POSITION_SCHEMES))
        for attention in (attentions or list(ATTENTION_VARIANTS))
    ]


def cell_config(cell: Cell) -> RunConfig:
    """The cell's config: defaults + the tiny model, the task's own shortest lengths, two eval lengths."""
    from lengen_core.tasks.base import build_task

    task = build_task(cell.task)
    low = task.min_length
    high = min(task.max_length, low + 5)
    past = min(task.max_length, 2 * high)
    changes = {
        "task.name": cell.task,
        "task.train_length_min": low,
        "task.train_length_max": high,
        "positions.scheme": cell.scheme,
        **TINY_MODEL,
        **ATTENTION_VARIANTS[cell.attention],
        "eval.lengths": sorted({high, past}),
    }
    return RunConfig().replace(**changes)


def check_cell(cell: Cell, *, figures: bool = True) -> CellResult:
    """Run one cell end to end; never raises."""
    started = time.perf_counter()
    try:
        config = cell_config(cell)
        from lengen_core.costs import default_budget
        from lengen_core.runs.admission import admit

        admit(config, 0, default_budget())
    except ConfigError as error:
        return CellResult(cell, "refused", f"{error.field}: {error.message}", time.perf_counter() - started)
    except Exception as error:  # a bug: config construction must only raise ConfigError
        return CellResult(cell, "failed", _describe(error), time.perf_counter() - started)
    try:
        detail = _exercise(config, figures)
    except Exception as error:
        return CellResult(cell, "failed", _describe(error), time.perf_counter() - started)
    return CellResult(cell, "works", detail, time.perf_counter() - started)


def _exercise(config: RunConfig, figures: bool) -> str:
    import torch

    from lengen_core.data import ExampleSource
    from lengen_core.inspection import SCHEME_VIEWS, check_fits_model, generated_example, inspect_example, position_ids_for, position_rows
    from lengen_core.runs.evaluate import evaluate_model
    from lengen_core.training import train

    torch.set_num_threads(1)
    result = train(config, seed=0)
    if result.status != "done":
        raise RuntimeError(f"training ended {result.status}: {result.error}")
    evaluation = evaluate_model(result.model, config)
    tested = [point.length for point in evaluation.result.points]
    planned = list(config.eval.lengths)
    searched = tested[len(planned) :]  # a run that held at its last length was searched further (eval.search)
    if (
        tested[: len(planned)] != planned
        or any(length <= planned[-1] for length in searched)
        or any(point.n != config.eval.samples_per_length for point in evaluation.result.points)
    ):
        raise RuntimeError(f"evaluation tested {tested} instead of {planned} (then only longer lengths, searched)")
    source = ExampleSource(config.task)
    example = generated_example(source, max(config.eval.lengths), 0, config.eval.seed)
    check_fits_model(example, config)
    inspection = inspect_example(result.model, example, source.task, seed=config.eval.seed)
    dense_maps = [layer for layer in inspection.attention if layer is not None]
    hsa_layers = [layer for layer in inspection.hsa if layer is not None]
    if config.model.attention == "dense" and len(dense_maps) != config.model.n_layers:
        raise RuntimeError(f"{len(dense_maps)} attention maps for {config.model.n_layers} layers")
    if config.model.attention == "hsa" and not hsa_layers:
        raise RuntimeError("an HSA model returned no chunk selections")
    rows = position_rows(example, list(SCHEME_VIEWS), max_position=max(config.positions.max_position, len(example.tokens)))
    own_ids = position_ids_for(example, config.positions, training=False)
    if len(own_ids) != len(example.tokens):
        raise RuntimeError("position ids do not cover the example")
    if figures:
        _draw(config, inspection, rows)
    parts = [f"trained {result.steps_done} steps", f"evaluated at {tested}", f"{len(dense_maps)} attention maps"]
    if hsa_layers:
        parts.append(f"{len(hsa_layers)} HSA selection layers")
    parts.append(f"{len(rows)} position-id rows")
    return ", ".join(parts)


def _draw(config: RunConfig, inspection: Any, rows: list) -> None:
    """The figures the Attention and Position IDs pages draw for this cell."""
    from lengen_core.charts.inspection import attention_grid, coupling_links_figure, hsa_selection_figure, position_ids_figure, predicted_ids_figure
    from lengen_core.inspection import token_labels

    labels = token_labels(inspection.tokens)
    if any(layer is not None for layer in inspection.attention):
        attention_grid(inspection.attention, labels)
    for info in inspection.hsa:
        if info is not None:
            hsa_selection_figure(info["indices"], info["weights"], config.model.hsa.chunk_size, labels)
    example = inspection.example
    position_ids_figure(token_labels(example.tokens), rows, answer_start=len(example.prompt))
    if example.coupled_ids is not None:
        coupling_links_figure(example.tokens, example.coupled_ids)
    if config.positions.scheme == "predictive_coupled":
        predicted_ids_figure(inspection.predicted_answer, inspection.true_answer_ids, inspection.predicted_answer_ids)


def _describe(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(error).__name__}: {str(error)[:300]}{where}"


def _check_many(cells: list[Cell], figures: bool) -> list[CellResult]:
    return [check_cell(cell, figures=figures) for cell in cells]


def run_grid(cells: list[Cell], *, workers: int = 1, figures: bool = True) -> list[CellResult]:
    if workers <= 1:
        return _check_many(cells, figures)
    chunks = [cells[index::workers] for index in range(workers)]
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        parts = list(pool.map(_check_many, chunks, [figures] * workers))
    order = {cell: index for index, cell in enumerate(cells)}
    return sorted((result for part in parts for result in part), key=lambda result: order[result.cell])


def refusal_reason(detail: str) -> str:
    """The kind of a refusal, for the summary: its field and why, without the task's name or values."""
    import re

    field, _, message = detail.partition(": ")
    message = re.sub(r"^task '[^']+' ", "the task ", message)
    message = re.sub(r", got .*$", "", message.split("; ")[0])
    return f"{field}: {message}"


def markdown_table(results: list[CellResult], elapsed: float) -> str:
    counts = collections.Counter(result.outcome for result in results)
    reasons = collections.Counter(refusal_reason(result.detail) for result in results if result.outcome == "refused")
    lines = [
        "# Grid check: every task x position scheme x attention",
        "",
        f"`python scripts/grid_check.py` on {platform.node()} ({platform.machine()}, {platform.python_version()}), "
        f"{time.strftime('%Y-%m-%d')}, {elapsed:.0f} s. Tiny model (2 layers, 2 heads, d_model 16), 3 training steps, "
        "greedy evaluation of one example at two lengths (the longest training length and one past it), the Attention and Position IDs "
        "pages' data and figures. HSA at its defaults (chunk 16, top-k 4, window 32).",
        "",
        f"**{len(results)} cells: {counts['works']} work, {counts['refused']} refused when the config is made, {counts['failed']} failed.**",
        "",
        "## Refused, by reason",
        "",
        "| reason (field: why) | cells |",
        "|---|---|",
        *(f"| {reason} | {count} |" for reason, count in reasons.most_common()),
        "",
        "## Every cell",
        "",
        "| task | scheme | attention | outcome | detail |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        detail = result.detail.replace("|", "/")
        lines.append(f"| {result.cell.task} | {result.cell.scheme} | {result.cell.attention} | {result.outcome} | {detail} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", help="comma-separated task names (default: all)")
    parser.add_argument("--schemes", help="comma-separated schemes (default: all)")
    parser.add_argument("--attention", help=f"comma-separated of {list(ATTENTION_VARIANTS)} (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-figures", action="store_true", help="skip building the pages' figures")
    parser.add_argument("--out", default=str(ROOT / "docs" / "grid_check.md"))
    args = parser.parse_args(argv)

    def split(text: str | None) -> list[str] | None:
        return [part.strip() for part in text.split(",") if part.strip()] if text else None

    cells = all_cells(split(args.tasks), split(args.schemes), split(args.attention))
    started = time.perf_counter()
    results = run_grid(cells, workers=args.workers, figures=not args.no_figures)
    elapsed = time.perf_counter() - started
    Path(args.out).write_text(markdown_table(results, elapsed))
    counts = collections.Counter(result.outcome for result in results)
    print(f"{len(results)} cells: {counts['works']} work, {counts['refused']} refused, {counts['failed']} failed ({elapsed:.0f} s); table in {args.out}")
    for result in results:
        if result.outcome == "failed":
            print(f"FAILED {result.cell}: {result.detail}")
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
