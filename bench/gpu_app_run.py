"""One real run through the app's job manager on a GPU (issue 14, item 5): train, length sweep, attention maps.

    python bench/gpu_app_run.py --out OUT.json            # train.device = cuda (needs a GPU)
    python bench/gpu_app_run.py --out OUT.json --smoke    # the same path on the CPU, a few steps (CI, a dry run)

The run goes where the Train page sends it: :class:`lengen_core.runs.manager.JobManager`
(queue, worker thread, store writes, checkpoint), into a fresh store in a
temporary folder. Then the Length sweep's data (the stored sweep) and the
Attention page's maps (:func:`lengen_core.inspection.inspect_example` on the
checkpoint, loaded as the page loads it) are read back. The JSON says what the
store recorded: status, device, environment, training time, breakdown length,
the attention tensor's shape; the command exits 1 unless every part worked.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from lengen_core.config import RunConfig
from lengen_core.data import ExampleSource
from lengen_core.inspection import generated_example, inspect_example
from lengen_core.runs.loading import existing_checkpoint, load_run
from lengen_core.runs.manager import JobManager
from lengen_core.store import RunStore

ROOT = Path(__file__).resolve().parent.parent

# Reverse with position coupling, the first lesson's task, at a size a GPU trains in seconds.
CHANGES = {
    "task.name": "reverse",
    "task.train_length_min": 1,
    "task.train_length_max": 8,
    "positions.scheme": "coupled",
    "positions.max_position": 32,
    "model.n_layers": 2,
    "model.n_heads": 4,
    "model.d_model": 128,
    "model.d_ff": 256,
    "train.steps": 800,
    "train.lr": 2e-3,
    "train.batch_size": 64,
    "eval.lengths": [4, 8, 12, 16, 24],
    "eval.samples_per_length": 100,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--smoke", action="store_true", help="on the CPU, 20 steps: the same path, for a dry run")
    args = parser.parse_args(argv)
    import torch

    device = "cpu" if args.smoke else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: use --smoke on a CPU", file=sys.stderr)
        return 2
    changes = CHANGES | {"train.device": device} | ({"train.steps": 20, "eval.samples_per_length": 10} if args.smoke else {})
    config = RunConfig().replace(**changes)
    folder = Path(tempfile.mkdtemp(prefix="lengen-gpu-run-"))
    store = RunStore(folder / "runs.duckdb")
    manager = JobManager(store, checkpoint_dir=folder / "checkpoints")
    started = time.perf_counter()
    run_id = manager.submit(config, seed=0)
    status = manager.wait(run_id, timeout=600)
    wall = time.perf_counter() - started
    record = store.get_run(run_id)
    report: dict = {
        "run_id": run_id,
        "status": status,
        "error": record.error,
        "wall_s": round(wall, 2),
        "train_seconds": record.train_seconds,
        "steps_done": record.steps_done,
        "device": record.environment.get("device"),
        "environment": record.environment,
        "breakdown_length": record.breakdown_length,
        "train_length_max": record.train_length_max,
    }
    curve = store.eval_curve([run_id])
    report["sweep"] = [{"length": int(row.length), "n": int(row.n), "exact_match": float(row.exact_match)} for row in curve.itertuples()]
    if status == "done" and existing_checkpoint(store, run_id):
        loaded = load_run(store, run_id)  # on the CPU, as the Attention page loads it
        model, stored_config = loaded.model, loaded.config
        source = ExampleSource(stored_config.task)
        example = generated_example(source, 12, 0, stored_config.eval.seed)  # the Attention page's first example at 12
        inspection = inspect_example(model, example, source.task, seed=stored_config.eval.seed)
        report["attention_shape"] = [len(inspection.attention), *inspection.attention[0].shape]  # layers, heads, T, T
        report["example_correct"] = bool(inspection.correct)
    manager.shutdown()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, default=str))
    print(json.dumps({key: value for key, value in report.items() if key != "environment"}, default=str))
    worked = status == "done" and bool(report["sweep"]) and "attention_shape" in report
    return 0 if worked else 1


if __name__ == "__main__":
    raise SystemExit(main())
