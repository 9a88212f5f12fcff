"""Time to result of the presets a user starts with one click: the Train page's defaults and
every lesson's "Retrain live", as the app runs them.

Each preset is submitted to a :class:`lengen_core.runs.manager.JobManager` like the app's
(two concurrent jobs, the cores shared out as ``pages/common.py`` does:
cores // 2 torch threads each) over a fresh run store in a temporary folder.
The clock runs from the submit to the moment the last of the preset's runs is
finished (training, the length sweep, the checkpoint): what the user waits for.
Beside it: the estimate the app shows before Start
(:attr:`lengen_core.costs.CostEstimate.time_to_result_s`), each run's breakdown
length, and for a lesson whether each of its claims held
(:func:`lengen_core.lessons.check_lesson`); for the Train page defaults the claim
is that the run keeps exact match >= 0.9 past its training length.

    python bench/preset_times.py [--presets train,ape_fails,...] [--json out.json]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from lengen_core.config import RunConfig
from lengen_core.costs import estimate_cost
from lengen_core.lessons import LESSONS, Expectation, RunOutcome, check_lesson, get_lesson, lesson_configs, missing_requirements, tally
from lengen_core.runs.manager import JobManager
from lengen_core.store import RunStore

try:  # python -m bench.preset_times
    from bench.common import cpu_environment, report
except ModuleNotFoundError:  # python bench/preset_times.py
    from common import cpu_environment, report

CONCURRENT_JOBS = 2  # the app's default LENGEN_MAX_JOBS
TRAIN_DEFAULTS_CLAIM = Expectation("extrapolates", "train_defaults", factor=1.5)


def preset_runs(preset: str) -> list[tuple[str, RunConfig, int]]:
    """(run key, config, seed) of each run the preset starts."""
    if preset == "train":
        return [("train_defaults", RunConfig(), 0)]
    return [(run.key, config, run.seed) for run, config in lesson_configs(get_lesson(preset))]


def time_preset(preset: str) -> dict[str, Any]:
    runs = preset_runs(preset)
    with tempfile.TemporaryDirectory(prefix="lengen-preset-") as folder:
        store = RunStore(Path(folder) / "runs.duckdb")
        manager = JobManager(store, max_concurrent=CONCURRENT_JOBS, checkpoint_dir=Path(folder) / "checkpoints")
        threads = max(1, (os.cpu_count() or 1) // CONCURRENT_JOBS)  # what the job manager gives each of two runs
        estimates = {key: estimate_cost(config, threads=threads).time_to_result_s for key, config, _seed in runs}
        started = time.perf_counter()
        run_ids = {key: manager.submit(config, seed, name=key) for key, config, seed in runs}
        statuses = {key: manager.wait(run_id, timeout=3600) for key, run_id in run_ids.items()}
        wall = time.perf_counter() - started
        manager.shutdown()
        records = {key: store.get_run(run_id) for key, run_id in run_ids.items()}
    configs = {key: config for key, config, _seed in runs}
    outcomes = {
        key: RunOutcome(record.breakdown_length, configs[key].task.train_length_max, max(configs[key].eval_lengths())) for key, record in records.items()
    }
    if preset == "train":
        claims = [(TRAIN_DEFAULTS_CLAIM, TRAIN_DEFAULTS_CLAIM.status(outcomes))]
    else:
        claims = check_lesson(get_lesson(preset), outcomes)
    labels = {key: key for key in configs}
    return {
        "preset": preset,
        "wall_seconds_to_result": round(wall, 1),
        "estimated_seconds_per_run": {key: round(value, 1) for key, value in estimates.items()},
        "runs": {
            key: {
                "status": statuses[key],
                "steps": record.steps_done,
                "train_seconds": round(record.train_seconds or 0.0, 1),
                "breakdown_length": record.breakdown_length,
                "train_length_max": configs[key].task.train_length_max,
            }
            for key, record in records.items()
        },
        "claims": [{"claim": claim.describe(labels), "status": status.value} for claim, status in claims],
        "tally": {status.value: count for status, count in tally([status for _, status in claims]).items()},
    }


def main() -> None:
    presets = ["train", *(lesson.key for lesson in LESSONS)]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default=",".join(presets), help=f"comma-separated, from {presets}")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // CONCURRENT_JOBS))
    results = []
    for preset in args.presets.split(","):
        if preset != "train" and missing_requirements(get_lesson(preset)):
            results.append({"preset": preset, "skipped": missing_requirements(get_lesson(preset))})
            continue
        results.append(time_preset(preset))
        print(results[-1], flush=True)
    report({**cpu_environment(), "torch_threads_per_job": torch.get_num_threads(), "presets": results}, args.json)


if __name__ == "__main__":
    main()
