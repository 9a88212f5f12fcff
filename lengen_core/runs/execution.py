"""The whole life of one run: :func:`execute_run`.

Mark it running, train (from scratch or from its parent's checkpoint), sweep
lengths on every task it is tested on, write the checkpoint, record everything,
and end in exactly one final status (done, diverged, failed, cancelled). A crash
inside it is recorded as ``failed`` with the error; a process that dies outright
leaves ``running`` rows that :meth:`RunStore.mark_interrupted` later flips to
``interrupted``. Nothing is half-written: eval points are replaced atomically,
checkpoints are written to a temporary name and renamed. Every write goes to a
:class:`~lengen_core.runs.sink.RunSink` (the store, or a worker's messages to it).
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

from lengen_core.config import RunConfig
from lengen_core.costs import Budget
from lengen_core.runs.evaluate import evaluate_model, record_sweep
from lengen_core.runs.loading import parent_model
from lengen_core.runs.progress import RunProgress
from lengen_core.runs.sink import RunSink
from lengen_core.sweep_names import part_sweep_name
from lengen_core.training import TrainingControl, TrainPoint, resolve_device, save_checkpoint, train


def execute_run(
    store: RunSink,
    run_id: str,
    config: RunConfig,
    seed: int,
    *,
    control: TrainingControl | None = None,
    progress: RunProgress | None = None,
    checkpoint_dir: Path | None = None,
    budget: Budget | None = None,
) -> str:
    """Train, sweep and record run ``run_id`` (already created in ``store``); returns its final status."""
    control = control or TrainingControl()
    progress = progress or RunProgress(run_id, config.train.steps)
    checkpoint_dir = checkpoint_dir or store.checkpoint_dir
    try:
        device = resolve_device(config.train.device)
        store.set_status(run_id, "running")
        progress.update(phase="training", status="running")

        def on_log(point: TrainPoint) -> None:
            progress.add_train_point(point)
            store.append_train_points(run_id, [_train_row(point)], steps_done=point.step, train_seconds=point.wall_time_s)

        start = parent_model(store, config) if config.train.init_from else None
        result = train(config, seed, control=control, on_log=on_log, model=start)
        store.update_progress(
            run_id, steps_done=result.steps_done, train_seconds=result.train_seconds, stop_reason=result.stop_reason, learned_step=result.learned_step
        )
        progress.update(stop_reason=result.stop_reason)
        if result.status != "done":
            return finish(store, progress, run_id, result.status, result.error)

        progress.update(phase="evaluating")
        evaluation = evaluate_model(result.model, config, budget=budget, device=device, on_point=progress.add_eval_point, should_stop=control.should_stop)
        if control.cancelled:
            return finish(store, progress, run_id, "cancelled", "cancelled during evaluation")
        for task_name, part_outcome in evaluation.parts:  # a mixture's other tasks, each its own sweep
            record_sweep(store, run_id, part_outcome, part_sweep_name("default", task_name))
        record_sweep(store, run_id, evaluation.result, "default")
        checkpoint = save_checkpoint(result.model, config, seed, checkpoint_dir / f"{run_id}.safetensors")
        store.add_artifact(run_id, "checkpoint", str(checkpoint))
        return finish(store, progress, run_id, "done", evaluation.stopped)
    except BaseException as error:  # recorded, never lost; re-raised only for interpreter exits
        message = f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=8)}"
        try:
            finish(store, progress, run_id, "cancelled" if isinstance(error, KeyboardInterrupt) else "failed", message)
        finally:
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                raise
        return "failed"


def finish(store: RunSink, progress: RunProgress, run_id: str, status: str, error: str | None) -> str:
    """End the run in ``status`` (with ``error``) in the store and in its live progress; returns the status."""
    store.set_status(run_id, status, error=error)
    progress.update(phase="finished", status=status, error=error, paused=False)
    return status


def _train_row(point: TrainPoint) -> dict[str, Any]:
    return {
        "step": point.step,
        "loss": point.loss,
        "accuracy": point.accuracy,
        "lr": point.lr,
        "wall_time_s": point.wall_time_s,
        "tokens_per_s": point.tokens_per_s,
        "in_distribution": point.in_distribution,
    }
