"""The GPU benchmark scripts stay runnable: their ``--smoke`` mode (tiny shapes, Triton interpreter
on a CPU) checks each kernel against its reference and exits non-zero on a mismatch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("script", ["bench/bench_hsa.py", "bench/bench_coupled_attention.py"])
def test_benchmark_smoke_run(script: str) -> None:
    env = {**os.environ, "TRITON_INTERPRET": "1"} if not _cuda() else dict(os.environ)
    result = subprocess.run([sys.executable, script, "--smoke"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def test_the_gpu_session_app_run_works_on_the_cpu(tmp_path: Path) -> None:
    """bench/gpu_session.sh's last step (issue 14, item 5), in its CPU dry run: a run through the job manager,
    its stored sweep and the Attention page's maps from its checkpoint."""
    import json

    out = tmp_path / "app.json"
    result = subprocess.run([sys.executable, "bench/gpu_app_run.py", "--out", str(out), "--smoke"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["status"] == "done" and report["device"] == "cpu" and report["steps_done"] == 20
    assert [point["length"] for point in report["sweep"]] == [4, 8, 12, 16, 24]
    assert report["attention_shape"][:2] == [2, 4]  # layers, heads
