#!/usr/bin/env python3
"""Train the lessons' demo runs and bundle them under data/demo/.

Every run comes from the project's own pipeline (:func:`lengen_core.runs.execution.execute_run`:
train, greedy length sweep, checkpoint) on the CPU, in a throwaway run store;
the finished runs are then exported with :func:`lengen_core.demo_runs.export_demo_runs`.
Nothing is edited by hand: the manifest records the measured numbers, the
machine, the versions and the wall time.

    python scripts/make_demo_runs.py                  # all lessons, 2 worker processes
    python scripts/make_demo_runs.py --keys reverse_learned,reverse_coupled --out /tmp/demo
    python scripts/make_demo_runs.py --keys theory_sort_nope --from-db DB   # bundle DB's finished run of that config and seed

Runs that need a missing feature (HSA) are skipped with a note; their lesson
then says so. Total on a 2-core CPU: about 6-8 minutes.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from lengen_core.demo_runs import DEFAULT_DEMO_DIR, demo_size_bytes, export_demo_runs, load_manifest
from lengen_core.lesson_claims import RunOutcome
from lengen_core.lessons import LESSONS, all_lesson_runs, check_lesson, feature_available
from lengen_core.runs.admission import create_run
from lengen_core.store import RunStore
from lengen_core.sweeps import LocalProcessRunner, SweepJob

ROOT = Path(__file__).resolve().parent.parent

# Checkpoints bundled (the Attention / Position IDs pages can open these at once);
# the others ship their curves only, to keep data/demo small (~4 MB).
CHECKPOINT_KEYS: tuple[str, ...] = (
    "reverse_learned",
    "reverse_coupled",
    "reverse_predictive",
    "sort_predictive",
    "addition_coupled",
    "majority_ape",
    "passkey_hsa",
)


def estimated_cost(config) -> float:
    """Rough relative training cost, to start the longest runs first."""
    model = config.model
    return config.train.steps * config.train.batch_size * model.n_layers * model.d_model * (model.d_model + model.d_ff) * config.task.train_length_max


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(DEFAULT_DEMO_DIR), help="demo folder to write (default data/demo)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--keys", default="", help="comma-separated run keys (default: every lesson run); the folder's other bundled runs are kept")
    parser.add_argument("--db", default="", help="run store to train into (default: a temporary one)")
    parser.add_argument("--steps", type=int, default=0, help="override train.steps (smoke tests only: the lessons' configs change)")
    parser.add_argument(
        "--from-db",
        default="",
        help="bundle the newest finished run of DB with each key's config and seed (same config id) instead of training it; keys without one are trained",
    )
    args = parser.parse_args(argv)

    wanted = [key for key in args.keys.split(",") if key]
    runs = [run for run in all_lesson_runs() if not wanted or run.key in wanted]
    unknown = set(wanted) - {run.key for run in runs}
    if unknown:
        parser.error(f"unknown run keys: {sorted(unknown)}")
    skipped = {}
    for run in list(runs):
        for feature in run.requires:
            available, reason = feature_available(feature)
            if not available:
                skipped[run.key] = reason
                runs.remove(run)
    for key, reason in skipped.items():
        print(f"skip {key}: {reason}")

    workdir = Path(tempfile.mkdtemp(prefix="lengen-demo-"))
    store = RunStore(args.from_db or args.db or workdir / "runs.duckdb")
    configs = {run.key: run.config() for run in runs}
    if args.steps:
        configs = {key: config.replace(**{"train.steps": args.steps, "eval.samples_per_length": 10}) for key, config in configs.items()}
    run_ids: dict[str, str] = {}
    if args.from_db:  # runs already trained with the lesson's config (e.g. bench/theory_lesson_calibrate.py's)
        for run in list(runs):
            found = store.list_runs(status="done", config_id=configs[run.key].config_id, with_checkpoint=True)
            found = found[found["seed"] == run.seed]
            if len(found):
                run_ids[run.key] = found["run_id"].iloc[0]
                runs.remove(run)
                print(f"  {run.key:22s} taken from {args.from_db}: run {run_ids[run.key]}", flush=True)
    order = sorted(runs, key=lambda run: -estimated_cost(configs[run.key]))
    jobs = []
    for run in order:
        config = configs[run.key]
        run_id = create_run(store, config, run.seed, name=f"lesson: {run.label} ({run.key})", tags=(run.tag,))
        run_ids[run.key] = run_id
        jobs.append(SweepJob(run_id, config.to_json(), run.seed, str(store.path)))

    started = time.perf_counter()
    print(f"training {len(jobs)} runs with {args.workers} workers (store {store.path})", flush=True)

    def on_done(run_id: str, status: str) -> None:
        key = next(k for k, v in run_ids.items() if v == run_id)
        record = store.get_run(run_id)
        print(
            f"  {time.perf_counter() - started:6.1f}s  {key:22s} {status:8s} breakdown {record.breakdown_length} "
            f"(train <= {record.train_length_max}, {record.train_seconds or 0:.0f}s training)",
            flush=True,
        )

    if jobs:
        LocalProcessRunner(workers=args.workers).run(jobs, on_done=on_done)
    wall = time.perf_counter() - started

    failed = {key: store.get_run(run_id).status for key, run_id in run_ids.items() if store.get_run(run_id).status != "done"}
    if failed:
        print(f"runs that did not finish: {failed}", file=sys.stderr)
        return 1

    merge = bool(wanted)
    outcomes = {}
    if merge:
        for entry in load_manifest(args.out)["runs"]:
            if entry["key"] not in run_ids:
                outcomes[entry["key"]] = RunOutcome.of_bundled(entry)
    for key, run_id in run_ids.items():
        record = store.get_run(run_id)
        outcomes[key] = RunOutcome(record.breakdown_length, record.train_length_max or 0, max(configs[key].eval.lengths))
    verdicts = {}
    print("\nlessons:")
    for lesson in LESSONS:
        checks = check_lesson(lesson, outcomes)
        labels = {key: key for key in lesson.runs}
        verdicts[lesson.key] = [{"claim": expectation.describe(labels), "status": status.value} for expectation, status in checks]
        for expectation, status in checks:
            print(f"  {lesson.key:18s} {status.value:16s} {expectation.describe(labels)}")

    import torch

    generated = {
        "script": "scripts/make_demo_runs.py",
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_seconds": round(wall, 1),
        "workers": args.workers,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "trained": sorted(key for key in run_ids if any(job.run_id == run_ids[key] for job in jobs)),
        "taken_from": {key: args.from_db for key in run_ids if not any(job.run_id == run_ids[key] for job in jobs)} if args.from_db else {},
        "skipped": skipped,
        "lesson_checks": verdicts,
    }
    manifest = export_demo_runs(
        store,
        run_ids,
        args.out,
        with_checkpoint=[key for key in CHECKPOINT_KEYS if key in run_ids],
        generated=generated,
        merge=merge,
        more_tags={run.key: [run.tag] for run in all_lesson_runs() if run.key in run_ids},
        known={run.key for run in all_lesson_runs()},  # a run no lesson shows any more leaves the bundle
    )
    if not args.db and not args.from_db:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nwrote {manifest} ({demo_size_bytes(args.out) / 1e6:.2f} MB in {args.out}); training wall time {wall:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
