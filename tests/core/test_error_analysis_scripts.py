"""The error-analysis scripts behind docs/results.md run on a real checkpoint and print what they claim."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from lengen_core.config import RunConfig
from lengen_core.training import save_checkpoint, train
from tests.conftest import TINY_CONFIG_CHANGES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reverse_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = RunConfig().replace(**TINY_CONFIG_CHANGES)  # reverse with coupling, a few steps
    result = train(config, seed=0)
    return save_checkpoint(result.model, config, 0, tmp_path_factory.mktemp("ckpt") / "reverse.safetensors")


def run_script(*args: str) -> str:
    result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


def test_attention_leak_splits_the_weight_by_source_and_id_distance(reverse_checkpoint: Path) -> None:
    output = run_script("bench/attention_leak.py", str(reverse_checkpoint), "12", "--samples", "6")
    rows = re.findall(r"^\s*(\d+)-(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", output, flags=re.MULTILINE)
    assert [int(start) for start, *_ in rows] == [0, 5, 10]  # 12 answer symbols in blocks of 5
    for _, _, mean, minimum, accuracy in rows:
        assert 0.0 <= float(minimum) <= float(mean) <= 1.0 and 0.0 <= float(accuracy) <= 1.0
    near, far = map(float, re.search(r"([\d.]+) on ids at most 4 from .*?, ([\d.]+) on ids further away", output).groups())
    assert 0.0 <= near <= 1.0 and 0.0 < far <= 1.0  # 12 symbols put ids further apart than training's 4


def test_attention_leak_refuses_a_run_it_cannot_read(tmp_path: Path) -> None:
    config = RunConfig().replace(**{**TINY_CONFIG_CHANGES, "positions.scheme": "nope"})
    path = save_checkpoint(train(config.replace(**{"train.steps": 1}), seed=0).model, config, 0, tmp_path / "nope.safetensors")
    result = subprocess.run([sys.executable, "bench/attention_leak.py", str(path), "8"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "positions.scheme coupled" in result.stderr


def test_first_errors_counts_wrong_answers_by_where_they_first_go_wrong(reverse_checkpoint: Path) -> None:
    output = run_script("bench/first_errors.py", str(reverse_checkpoint), "12", "--samples", "8")
    wrong, total = map(int, re.search(r"at length 12: (\d+)/(\d+) wrong", output).groups())
    assert total == 8
    counts = [int(count) for _, count in re.findall(r"^\s*(\d+)\s+(\d+)\s+\S+\s+\S+$", output, flags=re.MULTILINE)]
    assert sum(counts) == wrong
