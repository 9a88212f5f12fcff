"""The cost model's calibration harness: run one phase of a config for real and report its peak memory.

:mod:`lengen_core.costs` estimates a run's peak memory from its shapes; this script
measures it, for ``tests/core/test_costs.py`` (the estimate must lie within [1x, 3x]
of the measurement) and ``bench/cost_model_check.py`` (the table in docs/benchmarks.md).
Each measurement needs a fresh process, so that earlier allocations do not hide the
peak; Linux only (the peak resident set is read from /proc). One torch thread.

    python bench/calibrate_costs.py '{"config": {...}, "phase": "train"}'
    python bench/calibrate_costs.py '{"config": {...}, "phase": "eval", "eval_length": 40, "rows": 512}'

prints one JSON object: ``measured`` and ``estimated`` bytes, ``rows`` and ``tokens``.
"""

from __future__ import annotations

import importlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from lengen_core.config import RunConfig
from lengen_core.costs import FLOAT_BYTES, decoding_bytes, parameter_count, training_activation_bytes
from lengen_core.data import ExampleSource
from lengen_core.evaluation import greedy_decode
from lengen_core.memory import peak_resident_bytes, reset_peak_resident, resident_bytes
from lengen_core.models.transformer import build_model
from lengen_core.positions import build_scheme
from lengen_core.training import BatchSource, compute_loss, make_optimizer

ROOT = Path(__file__).resolve().parents[1]


def measure_peak_bytes(config: RunConfig, phase: str, *, eval_length: int | None = None, rows: int | None = None) -> dict[str, float]:
    """Run one phase for real in this process and return its peak resident memory above the start, with the estimate.

    ``phase="train"``: two training steps of the widest of four batches.
    ``phase="eval"``: greedy decoding of ``rows`` (default ``eval.batch_size``)
    evaluation examples at ``eval_length`` with a fresh model.
    """
    torch.manual_seed(0)
    warm = torch.randn(8, 8, requires_grad=True)
    (warm @ warm).sum().backward()  # torch's own lazy buffers, before the baseline
    if phase == "train":
        importlib.import_module("torch._dynamo")  # AdamW imports it on first use: before the baseline

        batches = BatchSource(config, 0)
        prepared = max((batches.next() for _ in range(4)), key=lambda batch: batch.inputs.shape[1])
        rows, length = prepared.inputs.shape
        start = resident_bytes()
        reset_peak_resident()
        model = build_model(config.model, build_scheme(config.positions), config.vocab_size)
        optimizer = make_optimizer(model, config)
        for _ in range(2):
            step_loss = compute_loss(model, prepared, torch.device("cpu"))
            optimizer.zero_grad(set_to_none=True)
            step_loss.loss.backward()
            optimizer.step()
        measured = peak_resident_bytes() - start
        estimated = parameter_count(config) * FLOAT_BYTES * 5 + training_activation_bytes(config, rows=rows, length=length)
        return {"measured": measured, "estimated": estimated, "rows": rows, "tokens": length}
    if phase != "eval" or eval_length is None:
        raise ValueError("phase must be 'train', or 'eval' with an eval_length")
    model = build_model(config.model, build_scheme(config.positions), config.vocab_size).eval()
    source = ExampleSource(config.task)
    examples = source.sample_many(random.Random(0), eval_length, rows or config.eval.batch_size)
    greedy_decode(model, examples[:2])  # first-call buffers
    tokens = max(len(example.tokens) for example in examples)
    prompt = max(len(example.prompt) for example in examples)
    padded = len({len(example.prompt) for example in examples}) > 1
    start = resident_bytes()
    reset_peak_resident()
    greedy_decode(model, examples)
    measured = peak_resident_bytes() - start
    estimated = decoding_bytes(config, len(examples), tokens, prompt, padded=padded)
    return {"measured": measured, "estimated": estimated, "rows": len(examples), "tokens": tokens}


def measure_in_fresh_process(config: dict[str, Any], phase: str, *, timeout_s: float, **extra: Any) -> dict[str, Any]:
    """This script run on one request in a process of its own (so earlier allocations hide no peak); its JSON
    answer. Raises RuntimeError with the end of its stderr when it fails."""
    request = json.dumps({"config": config, "phase": phase, **extra})
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), request],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if result.returncode:
        raise RuntimeError(result.stderr[-2000:])
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def main(argv: list[str]) -> None:
    request = json.loads(argv[0])
    torch.set_num_threads(1)
    config = RunConfig.from_dict(request.get("config", {}))
    print(json.dumps(measure_peak_bytes(config, request["phase"], eval_length=request.get("eval_length"), rows=request.get("rows"))))


if __name__ == "__main__":
    main(sys.argv[1:])
