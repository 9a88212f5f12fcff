"""The smallest run that goes through every stage of a run's life (train, sweep, checkpoint, record) in about a
second on one CPU core: what the tests, the app's load benchmarks and quick checks use. It learns nothing; it is
there to exercise the pipeline, not to show a result."""

from __future__ import annotations

from typing import Any

TINY_CONFIG_CHANGES: dict[str, Any] = {
    "task.name": "reverse",
    "task.train_length_min": 1,
    "task.train_length_max": 4,
    "positions.scheme": "coupled",
    "positions.max_position": 64,
    "model.n_layers": 1,
    "model.n_heads": 2,
    "model.d_model": 16,
    "model.d_ff": 32,
    "train.steps": 20,
    "train.batch_size": 8,
    "train.warmup_steps": 2,
    "train.log_every": 5,
    "eval.n_lengths": 3,
    "eval.samples_per_length": 5,
}
