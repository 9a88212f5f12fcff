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
