"""The CLI: help, clear config errors, a real tiny training run, listing, export, sweeps."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lengen_core.cli import main
from lengen_core.store import RunStore

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "--set", "model.n_layers=1", "--set", "model.d_model=32", "--set", "model.d_ff=64", "--set", "model.n_heads=2",
    "--set", "train.batch_size=8", "--set", "train.log_every=5", "--set", "train.warmup_steps=2",
    "--set", "eval.samples_per_length=5", "--set", "eval.lengths=[2,4]", "--set", "positions.max_position=32",
    "--train-length", "1-3", "--steps", "10",
]


def run_cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(args), out=out)
    return code, out.getvalue()


def test_help_explains_every_command() -> None:
    result = subprocess.run([sys.executable, "-m", "lengen_core", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in ("train", "eval", "sweep", "runs", "export", "tasks"):
        assert command in result.stdout
    assert "examples:" in result.stdout


def test_config_errors_name_the_field_and_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run_cli("--db", str(tmp_path / "runs.duckdb"), "train", "--task", "reverse", "--set", "model.n_layers=50")
    assert code == 2
    assert "model.n_layers: must be between 1 and 12, got 50" in capsys.readouterr().err
    code, _ = run_cli("--db", str(tmp_path / "runs.duckdb"), "train", "--task", "reverse", "--train-length", "ten")
    assert code == 2
    assert "--train-length" in capsys.readouterr().err
    assert RunStore(tmp_path / "runs.duckdb").count_runs() == 0  # nothing half-written


def test_train_list_show_export_round_trip(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.duckdb")
    code, output = run_cli("--db", db, "train", "--task", "reverse", "--scheme", "coupled", *TINY)
    assert code == 0, output
    assert "breakdown length" in output and "exact_match" in output
    store = RunStore(db)
    runs = store.list_runs()
    assert len(runs) == 1 and runs.iloc[0]["status"] == "done"
    run_id = runs.iloc[0]["run_id"]
    assert len(store.train_curve(run_id)) == 2  # steps 5 and 10
    assert sorted(store.eval_curve([run_id])["length"]) == [2, 4]
    checkpoint = store.artifacts(run_id)
    assert Path(checkpoint.iloc[0]["path"]).exists()

    code, output = run_cli("--db", db, "runs", "list")
    assert code == 0 and run_id in output
    code, output = run_cli("--db", db, "runs", "show", run_id)
    assert code == 0 and '"status": "done"' in output

    code, output = run_cli("--db", db, "eval", run_id, "--lengths", "3,6", "--samples", "4")
    assert code == 0, output
    extra = store.eval_curve([run_id], sweep="extra")
    assert sorted(extra["length"]) == [3, 6] and set(extra["n"]) == {4}

    code, output = run_cli("--db", db, "export", "--format", "csv", "--out", str(tmp_path / "export"))
    assert code == 0
    exported = pd.read_csv(tmp_path / "export" / "runs.csv")
    assert list(exported["run_id"]) == [run_id]


def test_sweep_runs_every_cell_in_worker_processes(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.duckdb")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [
        sys.executable, "-m", "lengen_core", "--db", db, "sweep", "--tasks", "reverse,copy_unique",
        "--schemes", "coupled,nope", "--seeds", "0", "--workers", "2", "--tag", "t1", *TINY,
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    runs = RunStore(db).list_runs()
    assert len(runs) == 4
    assert set(runs["status"]) == {"done"}
    assert set(zip(runs["task"], runs["scheme"])) == {
        ("reverse", "coupled"), ("reverse", "nope"), ("copy_unique", "coupled"), ("copy_unique", "nope"),
    }
