"""Compare's default sweep as a user launches it, timed: the launcher's defaults now, or those before issue 28.

    python bench/compare_default_sweep.py [--before] [--seeds 2] [--json out.json]

The cells are the launcher's default tasks x schemes x seeds (:mod:`lengen_core.compare_defaults`), each trained
with the config the page builds (:func:`lengen_core.compare_defaults.launcher_config`) at the steps the form shows
for the defaults (:func:`lengen_core.compare_defaults.suggested_steps`), stopping once learned when the form does so
by default (``LAUNCH_UNTIL_LEARNED``). ``--before``: the
form as issue 28 found it (reverse and addition, 1,000 steps, every run to its full budget). The runs go through a
:class:`lengen_core.runs.manager.JobManager` as the page's do (two at a time, the cores shared out between them) over a fresh
store in a temporary folder; the clock runs from the first submit to the last finished run (training, length sweep,
search, checkpoint): what the user waits for. Then per cell: each seed's steps, whether it learned its training range
(greedy exact match >= the threshold at every training length) and its breakdown with its interval. Markdown and JSON.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from lengen_core.compare_defaults import DEFAULT_SCHEMES, DEFAULT_TASKS, LAUNCH_DEFAULTS, LAUNCH_UNTIL_LEARNED, launcher_config, suggested_steps
from lengen_core.config import RunConfig
from lengen_core.runs.manager import JobManager
from lengen_core.store import RunStore

try:  # python -m bench.compare_default_sweep
    from bench.common import cpu_environment, report
except ModuleNotFoundError:  # python bench/compare_default_sweep.py
    from common import cpu_environment, report

CONCURRENT_JOBS = 2  # the app's default LENGEN_MAX_JOBS
BEFORE_TASKS = ("reverse", "addition")  # the form issue 28 found: 1,000 steps, no stopping
BEFORE_STEPS = 1000


def sweep_cells(before: bool, seeds: int) -> list[tuple[str, str, RunConfig, int]]:
    """(task, scheme, config, seed) of every run the default sweep starts."""
    tasks = BEFORE_TASKS if before else DEFAULT_TASKS
    steps = BEFORE_STEPS if before else suggested_steps(list(DEFAULT_TASKS), list(DEFAULT_SCHEMES)) or int(LAUNCH_DEFAULTS["steps"])
    return [
        (task, scheme, launcher_config(task, scheme, steps=steps, until_learned=LAUNCH_UNTIL_LEARNED and not before), seed)
        for task in tasks
        for scheme in DEFAULT_SCHEMES
        for seed in range(seeds)
    ]


def learned_range(store: RunStore, run_id: str, config: RunConfig) -> tuple[bool, float]:
    """Whether the run holds the threshold at every training length of its sweep, and its lowest exact match there
    (the store's ``in_distribution``; 0 when it has no point there)."""
    lowest = store.list_runs(run_ids=[run_id])["in_distribution"].iloc[0]
    lowest = 0.0 if lowest is None or lowest != lowest else float(lowest)  # None or NaN: no point at a training length
    return lowest >= config.eval.threshold, lowest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", action="store_true", help="the launcher's defaults before issue 28")
    parser.add_argument("--seeds", type=int, default=int(LAUNCH_DEFAULTS["seeds"]))
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // CONCURRENT_JOBS))
    cells = sweep_cells(args.before, args.seeds)
    with tempfile.TemporaryDirectory(prefix="lengen-compare-") as folder:
        store = RunStore(Path(folder) / "runs.duckdb")
        manager = JobManager(store, max_concurrent=CONCURRENT_JOBS, checkpoint_dir=Path(folder) / "checkpoints")
        started = time.perf_counter()
        run_ids = [manager.submit(config, seed, name=f"{task}/{scheme}/s{seed}") for task, scheme, config, seed in cells]
        statuses = [manager.wait(run_id, timeout=7200) for run_id in run_ids]
        wall = time.perf_counter() - started
        manager.shutdown()
        runs = []
        for (task, scheme, config, seed), run_id, status in zip(cells, run_ids, statuses):
            record = store.get_run(run_id)
            learned, lowest = learned_range(store, run_id, config)
            runs.append(
                {
                    "task": task,
                    "scheme": scheme,
                    "seed": seed,
                    "status": status,
                    "steps": record.steps_done,
                    "stop_reason": record.stop_reason,
                    "train_seconds": round(record.train_seconds or 0.0, 1),
                    "in_distribution": round(lowest, 3),
                    "learned": learned,
                    "breakdown": str(record.breakdown(None)),
                }
            )
    print(
        f"\n{'before issue 28' if args.before else 'defaults now'}: {len(runs)} runs in {wall:.0f} s, "
        f"{sum(run['learned'] for run in runs)} learned their training range\n"
    )
    print("| task | scheme | steps (per seed) | learned | in distribution (per seed) | breakdown (per seed) |")
    print("|---|---|---|---|---|---|")
    for task, scheme in dict.fromkeys((run["task"], run["scheme"]) for run in runs):
        mine = [run for run in runs if (run["task"], run["scheme"]) == (task, scheme)]
        steps = ", ".join(f"{run['steps']:,}" for run in mine)
        inside = ", ".join(f"{run['in_distribution']:.2f}" for run in mine)
        breakdowns = "; ".join(run["breakdown"] for run in mine)
        print(f"| {task} | {scheme} | {steps} | {sum(run['learned'] for run in mine)} of {len(mine)} | {inside} | {breakdowns} |")
    report({**cpu_environment(), "before": args.before, "wall_seconds": round(wall, 1), "runs": runs}, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
