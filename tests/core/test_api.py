"""The public Python API (``import lengen_core as lg``): train, sweep, open_store, tasks, and the Run they return,
through the same validation and pipeline as the app and the CLI; and the notebook example, run end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import lengen_core as lg
from lengen_core.config import RunConfig
from lengen_core.errors import ConfigError
from tests.conftest import TINY_CONFIG_CHANGES

ROOT = Path(__file__).resolve().parents[2]
TINY = {key: value for key, value in TINY_CONFIG_CHANGES.items() if key not in ("task.name", "positions.scheme", "train.steps")}


def test_train_returns_a_run_with_its_curve_interval_breakdown_and_prediction(tmp_path: Path, capsys) -> None:
    store = lg.open_store(tmp_path / "runs.duckdb")
    run = lg.train(task="reverse", scheme="coupled", steps=20, store=store, seed=4, **TINY)
    assert run.status == "done" and run.seed == 4
    assert run.config == RunConfig().replace(**TINY_CONFIG_CHANGES)  # the same config the app would build
    curve = run.curve
    assert list(curve.columns) == ["length", "n", "exact_match", "exact_match_low", "exact_match_high", "token_accuracy"]
    assert (curve["n"] == 5).all() and (curve["exact_match_low"] <= curve["exact_match"]).all() and (curve["exact_match"] <= curve["exact_match_high"]).all()
    assert run.breakdown.length == store.store.get_run(run.run_id).breakdown_length
    assert str(run.breakdown) and run.breakdown.longest_tested == int(curve["length"].max())
    assert run.theory.lines()[0].startswith("predicted: ")
    assert len(run.train_curve) >= 1
    printed = capsys.readouterr().out
    assert f"run {run.run_id}: reverse / coupled, seed 4, 20 steps" in printed and "exact match" in printed
    assert store.get(run.run_id).run_id == run.run_id and list(store.runs()["run_id"]) == [run.run_id]
    model = run.model()
    assert sum(parameter.numel() for parameter in model.parameters()) > 0
    figure = run.plot()
    assert [trace.name for trace in figure.data][:2] == [f"{run.run_id} 95% band", run.run_id]  # the Length sweep page's figure
    assert "reverse / coupled, seed 4: breakdown" in figure.layout.title.text
    assert run.theory.applicable.sentence() in figure.layout.title.text  # the prediction beside the measurement
    chart = run.plot("altair").to_dict()
    assert len(chart["layer"]) >= 4
    with pytest.raises(ConfigError, match="library"):
        run.plot("matplotlib")


def test_bad_arguments_raise_the_configs_own_errors_and_write_nothing(tmp_path: Path) -> None:
    store = lg.open_store(tmp_path / "runs.duckdb")
    with pytest.raises(ConfigError) as ours:
        lg.train(task="reverse", steps=20, store=store, model__n_layers=0)
    with pytest.raises(ConfigError) as configs:
        RunConfig().replace(**{"model.n_layers": 0})
    assert (ours.value.field, ours.value.message) == (configs.value.field, configs.value.message)
    with pytest.raises(ConfigError, match="model.nope"):
        lg.train(store=store, **{"model.nope": 1})
    with pytest.raises(ConfigError, match="seed"):
        lg.train(store=store, seed=-1, **TINY)
    with pytest.raises(ConfigError, match="train.steps"):
        lg.train(store=store, steps=5, **{"train.steps": 6})
    with pytest.raises(ConfigError, match="runner"):
        lg.sweep(["reverse"], ["coupled"], store=store, runner="threads")
    assert store.runs().empty


def test_a_run_can_start_from_any_config_with_changes_on_top() -> None:
    base = RunConfig().replace(**TINY_CONFIG_CHANGES)
    changed = lg.run_config(base=base, steps=7, model__d_model=32)
    assert changed == base.replace(**{"train.steps": 7, "model.d_model": 32})
    assert lg.run_config(base=base) == base
    with pytest.raises(ConfigError, match="model.d_model"):
        lg.run_config(base=base, model__d_model=-1)


def test_sweep_trains_every_cell_and_refuses_a_bad_cell_before_writing(tmp_path: Path) -> None:
    store = lg.open_store(tmp_path / "runs.duckdb")
    runs = lg.sweep(["reverse", "copy_unique"], ["coupled", "nope"], seeds=[0], steps=20, store=store, tag="api", **TINY)
    assert [(run.config.task.name, run.config.positions.scheme, run.status) for run in runs] == [
        ("reverse", "coupled", "done"),
        ("reverse", "nope", "done"),
        ("copy_unique", "coupled", "done"),
        ("copy_unique", "nope", "done"),
    ]
    assert set(store.runs()["run_id"]) == {run.run_id for run in runs}
    with pytest.raises(ConfigError, match="task=majority, scheme=coupled"):  # no coupling rule: the cell is named
        lg.sweep(["reverse", "majority"], ["coupled"], steps=20, store=store, **TINY)
    assert len(store.runs()) == 4


def test_tasks_is_the_task_table_and_importing_the_package_stays_cheap() -> None:
    assert lg.__all__ == sorted(lg._PUBLIC)
    table = lg.tasks()
    assert {"reverse", "parity", "majority"} <= set(table["task"]) and list(table.columns)[:4] == ["task", "family", "NoPE", "APE"]
    assert table.set_index("task").loc["parity", "NoPE"] == "no"
    probe = "import sys, lengen_core; print(json.dumps(['torch' in sys.modules, 'lengen_core.api' in sys.modules]))"
    output = subprocess.run([sys.executable, "-c", "import json; " + probe], capture_output=True, text=True, check=True).stdout
    assert json.loads(output) == [False, False]


def test_the_notebook_example_runs_end_to_end(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "docs" / "notebook_example.py"),
            "--steps",
            "20",
            "--samples",
            "10",
            "--db",
            str(tmp_path / "nb.duckdb"),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "read back:" in result.stdout and result.stdout.count("predicted: ") == 2
    assert (tmp_path / "notebook_example_coupled.html").stat().st_size > 1000
    assert json.loads((tmp_path / "notebook_example_learned.json").read_text())["layer"]
