"""The Ray runner against the local process pool, and how many concurrent tasks one DuckDB driver can serve.

Two parts, each with its baseline measured in the same run:

* ``sweep``: the same ``--runs``-run sweep (reverse x coupled/nope/rope x
  seeds, 300 steps of a 2-layer d_model-32 model) through
  :class:`LocalProcessRunner` (2 worker processes) and through
  :class:`RayRunner` on a local Ray (2 CPUs, 1 per run, so 2 in flight as
  well). Ray's own start is timed apart. Reported: both wall times, their
  ratio, and Ray's overhead per run, ``(ray - local) x 2 / runs`` (the extra
  seconds each of the two run slots spent per run). The two stores must hold
  the same results (exact match at every length).
* ``scale``: ``--tasks`` synthetic runs in flight at once through the real
  driver loop (``RayRunner(task=synthetic_run)``): each task sends what a real
  run sends (running, ``--points`` training points ``--interval`` s apart, 12
  evaluation points, a ``--checkpoint-kb`` checkpoint, done) and trains
  nothing. Reported: records per second the driver applied, the store
  transactions they took (one per drained batch), and the driver process's CPU
  seconds (all its threads) over the wall time, and the seconds it spent writing:
  records per write-second is what one driver can absorb. Baseline: the store's own
  ceiling on this machine, one-row ``append_train_points`` transactions back
  to back in this process: the driver keeps up while its transactions per
  second stay under it, and each transaction carries a whole batch.

    python bench/bench_ray.py [--only sweep|scale] [--runs 12] [--tasks 100]

Needs ray (requirements.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from lengen_core.config import RunConfig
from lengen_core.ray_runner import RayRunner, RemoteJob
from lengen_core.store import RunStore
from lengen_core.sweeps import LocalProcessRunner, expand_grid, queue_sweep

SWEEP_CHANGES = {
    "task.name": "reverse",
    "task.train_length_min": 1,
    "task.train_length_max": 6,
    "positions.max_position": 64,
    "model.n_layers": 2,
    "model.n_heads": 2,
    "model.d_model": 32,
    "model.d_ff": 64,
    "train.steps": 300,
    "train.batch_size": 32,
    "train.log_every": 25,
    "eval.n_lengths": 4,
    "eval.samples_per_length": 50,
}


def sweep_cells(runs: int) -> list[tuple[RunConfig, int]]:
    schemes = ["coupled", "nope", "rope"]
    return expand_grid(RunConfig().replace(**SWEEP_CHANGES), tasks=["reverse"], schemes=schemes, seeds=list(range(max(1, runs // len(schemes)))))


def measure_sweep(ray, runs: int, folder: Path) -> dict:
    local_store, ray_store = RunStore(folder / "local.duckdb"), RunStore(folder / "ray.duckdb")
    local_jobs, ray_jobs = queue_sweep(local_store, sweep_cells(runs), tag="local"), queue_sweep(ray_store, sweep_cells(runs), tag="ray")
    started = time.perf_counter()
    LocalProcessRunner(workers=2).run(local_jobs)
    local_wall = time.perf_counter() - started

    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False, configure_logging=False)
    ray_start = time.perf_counter() - started
    started = time.perf_counter()
    results = RayRunner(cpus_per_run=1).run(ray_jobs)
    ray_wall = time.perf_counter() - started
    ray.shutdown()

    assert set(results.values()) == {"done"}, results
    same = True
    for local_job, ray_job in zip(local_jobs, ray_jobs):
        ours = ray_store.eval_curve([ray_job.run_id]).sort_values("length")["exact_match"].tolist()
        theirs = local_store.eval_curve([local_job.run_id]).sort_values("length")["exact_match"].tolist()
        same &= ours == theirs
    return {
        "runs": len(local_jobs),
        "local_wall_s": round(local_wall, 2),
        "ray_wall_s": round(ray_wall, 2),
        "ray_start_s": round(ray_start, 2),
        "ratio_ray_over_local": round(ray_wall / local_wall, 3),
        "ray_overhead_per_run_s": round((ray_wall - local_wall) * 2 / len(local_jobs), 2),
        "same_exact_match_everywhere": same,
    }


def synthetic_run(job: RemoteJob, mailbox) -> str:
    """A Ray task that sends what a real run sends, at a real run's pace, and trains nothing."""
    import ray

    settings = json.loads(os.environ.get("BENCH_SYNTHETIC", "{}")) or {"points": 20, "interval": 0.5, "checkpoint_kb": 200}

    def send(record):
        ray.get(mailbox.put.remote(record))

    send(("set_status", job.run_id, {"status": "running", "error": None}))
    for index in range(settings["points"]):
        time.sleep(settings["interval"])
        step = 10 * (index + 1)
        row = {"step": step, "loss": 1.0 / step, "accuracy": 0.5, "lr": 1e-3, "wall_time_s": 0.1 * step, "tokens_per_s": 1e4}
        send(("append_train_points", job.run_id, {"rows": [row], "steps_done": step, "train_seconds": 0.1 * step}))
    rows = [{"length": length, "n": 50, "exact_match": 0.5, "exact_match_low": 0.4, "exact_match_high": 0.6, "token_accuracy": 0.7} for length in range(1, 13)]
    send(("set_eval_points", job.run_id, {"rows": rows, "breakdown_length": 6, "train_length_max": 6, "sweep": "default"}))
    send(("add_artifact", job.run_id, {"kind": "checkpoint", "name": f"{job.run_id}.safetensors", "data": os.urandom(settings["checkpoint_kb"] * 1024)}))
    send(("set_status", job.run_id, {"status": "done", "error": None}))
    return "done"


def store_ceiling(folder: Path, writes: int = 400) -> float:
    """One-row append_train_points transactions per second, back to back (the store's own write rate here)."""
    store = RunStore(folder / "ceiling.duckdb")
    [job] = queue_sweep(store, sweep_cells(3)[:1], tag="ceiling")
    store.set_status(job.run_id, "running")
    started = time.perf_counter()
    for step in range(1, writes + 1):
        store.append_train_points(job.run_id, [{"step": step, "loss": 1.0}], steps_done=step, train_seconds=0.1)
    return writes / (time.perf_counter() - started)


def measure_scale(ray, tasks: int, points: int, interval: float, checkpoint_kb: int, folder: Path) -> dict:
    settings = {"points": points, "interval": interval, "checkpoint_kb": checkpoint_kb}
    os.environ["BENCH_SYNTHETIC"] = json.dumps(settings)  # the workers inherit it from the local Ray started here
    ceiling = store_ceiling(folder)
    store = RunStore(folder / "scale.duckdb")
    base = RunConfig().replace(**SWEEP_CHANGES)
    jobs = queue_sweep(store, [(base, seed) for seed in range(tasks)], tag="scale")
    ray.init(
        num_cpus=tasks,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
        _system_config={"worker_maximum_startup_concurrency": 16} if tasks > 16 else None,
    )
    ray.get([ray.remote(num_cpus=1)(lambda: os.getpid()).remote() for _ in range(tasks)])  # start the worker processes first
    runner = RayRunner(cpus_per_run=1, max_in_flight=tasks, task=synthetic_run)
    cpu_before, started = time.process_time(), time.perf_counter()
    results = runner.run(jobs)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    ray.shutdown()
    records = runner.stats.records_received
    assert records == tasks * (points + 4)
    runs = store.list_runs()
    assert set(results.values()) == {"done"} and len(runs) == tasks and runs["run_id"].is_unique, results
    assert all(len(store.train_curve(job.run_id)) == points for job in jobs[:5])
    return {
        "tasks_in_flight": tasks,
        **settings,
        "wall_s": round(wall, 2),
        "records": records,
        "store_writes": runner.stats.store_writes,
        "store_transactions": runner.stats.store_batches,
        "records_per_s": round(records / wall, 1),
        "store_writes_per_s": round(runner.stats.store_writes / wall, 1),
        "offered_records_per_s": round(tasks / interval, 1),
        "driver_cpu_s": round(cpu, 2),
        "driver_cores": round(cpu / wall, 3),
        "driver_write_s": round(runner.stats.write_seconds, 2),
        "write_share_of_wall": round(runner.stats.write_seconds / wall, 3),
        "records_per_write_second": round(records / runner.stats.write_seconds, 1),
        "transactions_per_s": round(runner.stats.store_batches / wall, 1),
        "store_ceiling_transactions_per_s": round(ceiling, 1),
        "transactions_as_share_of_ceiling": round(runner.stats.store_batches / wall / ceiling, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("sweep", "scale"))
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--points", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--checkpoint-kb", type=int, default=200)
    args = parser.parse_args()
    import ray
    import torch

    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "python": platform.python_version(),
        "ray": ray.__version__,
        "torch": torch.__version__,
    }
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as folder:
        if args.only in (None, "sweep"):
            result["sweep"] = measure_sweep(ray, args.runs, Path(folder))
            print(json.dumps(result["sweep"]), flush=True)
        if args.only in (None, "scale"):
            result["scale"] = measure_scale(ray, args.tasks, args.points, args.interval, args.checkpoint_kb, Path(folder))
            print(json.dumps(result["scale"]), flush=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
