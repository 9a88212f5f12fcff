"""Time to result of the presets a user starts with one click: the Train page's defaults and
every lesson's "Retrain live", as the app runs them, beside the wait the app announced.

Each preset is submitted to a :class:`lengen_core.runs.manager.JobManager` like the app's
(two concurrent jobs, the cores shared out as ``pages/common.py`` does:
cores // 2 torch threads each) over a fresh run store in a temporary folder.
The clock runs from the submit to the moment the last of the preset's runs is
finished (training, the length sweep, the checkpoint): what the user waits for.

Beside it, two estimates of that wait, both queued over the two workers first in,
first out as the page computes them:

* ``model_estimate_s``: the cost model alone (:attr:`lengen_core.costs.CostEstimate.time_to_result_s`),
  what the app showed before calibration;
* ``calibrated_estimate_s``: the same scaled to this machine
  (:class:`lengen_core.runs.speed.MachineSpeed`), what the app shows now (the job
  manager's ``batch_seconds``, as the Lessons page asks it): the probes the app runs at
  start (a run alone, then two at once: the contention factor), then every finished run,
  carried from preset to preset as a server that keeps running carries it.

Each with its ratio to the measured wall time (1.0 = exact). Also each run's
breakdown length, and for a lesson whether each of its claims held
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
from lengen_core.costs import estimate_cost, queue_seconds
from lengen_core.lesson_claims import Expectation, RunOutcome, tally
from lengen_core.lessons import LESSONS, check_lesson, get_lesson, lesson_configs, missing_requirements
from lengen_core.runs.manager import JobManager
from lengen_core.runs.speed import PROBE_FAMILY, MachineSpeed, family_of, probe_contention, probe_training
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


def time_preset(preset: str, speed: MachineSpeed) -> dict[str, Any]:
    runs = preset_runs(preset)
    with tempfile.TemporaryDirectory(prefix="lengen-preset-") as folder:
        store = RunStore(Path(folder) / "runs.duckdb")
        manager = JobManager(store, max_concurrent=CONCURRENT_JOBS, checkpoint_dir=Path(folder) / "checkpoints", speed=speed)
        threads = max(1, (os.cpu_count() or 1) // CONCURRENT_JOBS)  # what the job manager gives each of two runs
        estimates = {key: estimate_cost(config, threads=threads) for key, config, _seed in runs}
        model_estimate = queue_seconds([estimate.time_to_result_s for estimate in estimates.values()], CONCURRENT_JOBS)
        families = {key: family_of(config) for key, config, _seed in runs}
        calibrated_estimate = manager.batch_seconds([config for _key, config, _seed in runs])
        readings = {family: speed.reading(family) for family in sorted(set(families.values()))}
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
        "model_estimate_s": round(model_estimate, 1),
        "model_estimate_ratio": round(model_estimate / wall, 2),
        "calibrated_estimate_s": round(calibrated_estimate, 1),
        "calibrated_estimate_ratio": round(calibrated_estimate / wall, 2),
        "speed_used": {
            family: {"train_ratio": round(used.train_ratio, 3), "eval_ratio": round(used.eval_ratio, 3), "runs_measured": used.eval_observations}
            for family, used in readings.items()
        },
        "model_estimate_s_per_run": {key: round(estimate.time_to_result_s, 1) for key, estimate in estimates.items()},
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
    speed = MachineSpeed()
    estimated, measured = probe_training(torch.get_num_threads())  # the probe the app's job manager runs at start
    speed.observe(family=PROBE_FAMILY, estimated_train_s=estimated, measured_train_s=measured)
    speed.set_contention(probe_contention(CONCURRENT_JOBS, torch.get_num_threads()))  # as the app's job manager does at start
    results = []
    for preset in args.presets.split(","):
        if preset != "train" and missing_requirements(get_lesson(preset)):
            results.append({"preset": preset, "skipped": missing_requirements(get_lesson(preset))})
            continue
        results.append(time_preset(preset, speed))
        print(results[-1], flush=True)
    timed = [result for result in results if "wall_seconds_to_result" in result]
    summary = {
        "model_estimate_ratio": _spread([result["model_estimate_ratio"] for result in timed]),
        "calibrated_estimate_ratio": _spread([result["calibrated_estimate_ratio"] for result in timed]),
    }
    probe = {"estimated_s": round(estimated, 2), "measured_s": round(measured, 2), "contention": round(speed.contention, 3)}
    report({**cpu_environment(), "torch_threads_per_job": torch.get_num_threads(), "probe": probe, "ratio_summary": summary, "presets": results}, args.json)


def _spread(ratios: list[float]) -> dict[str, float]:
    """Median, lowest and highest of the estimate-to-measured ratios, and the median distance from 1 (as a factor)."""
    if not ratios:
        return {}
    ordered = sorted(ratios)
    factors = sorted(max(ratio, 1 / ratio) for ratio in ratios)
    return {"median": ordered[len(ordered) // 2], "lowest": ordered[0], "highest": ordered[-1], "median_factor_off": round(factors[len(factors) // 2], 2)}


if __name__ == "__main__":
    main()
