"""The CLI: help, clear config errors, a real tiny training run, listing, export, sweeps."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lengen_core.cli import main
from lengen_core.store import RunStore

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "--set",
    "model.n_layers=1",
    "--set",
    "model.d_model=32",
    "--set",
    "model.d_ff=64",
    "--set",
    "model.n_heads=2",
    "--set",
    "train.batch_size=8",
    "--set",
    "train.log_every=5",
    "--set",
    "train.warmup_steps=2",
    "--set",
    "eval.samples_per_length=5",
    "--set",
    "eval.lengths=[2,4]",
    "--set",
    "positions.max_position=32",
    "--train-length",
    "1-3",
    "--steps",
    "10",
]


def run_cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(args), out=out)
    return code, out.getvalue()


def read_table(output: str, first_column: str) -> tuple[list[str], list[list[str]]]:
    """The table in ``output`` whose header starts with ``first_column``: its headers and rows of cells.

    The CLI's tables are a header line, a rule, then one line per row, columns at least 2 spaces apart.
    """
    lines = output.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(first_column + " "))
    headers = re.split(r"\s{2,}", lines[start].strip())
    assert set(lines[start + 1].strip()) <= {"─", "-"}, lines[start + 1]  # the rule under the header
    rows = []
    for line in lines[start + 2 :]:
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) != len(headers):
            break
        rows.append(cells)
    return headers, rows


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


def test_train_list_show_export_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "runs.duckdb")
    code, output = run_cli("--db", db, "train", "--task", "reverse", "--scheme", "coupled", *TINY)
    assert code == 0, output
    assert "breakdown length" in output and "exact_match" in output
    assert "10/10 steps" in capsys.readouterr().err  # no time budget: the bar counts steps
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
    assert "\x1b" not in output  # plain text off a terminal
    code, output = run_cli("--db", db, "runs", "show", run_id)
    assert code == 0 and '"status": "done"' in output
    # theory beside measurement: reverse has no prediction under coupling, and the measured outcome is named
    assert "predicted: position coupling: no prediction (the theory covers k-sparse tasks" in output
    assert "measured: " in output and "no comparison" in output

    code, output = run_cli("--db", db, "eval", run_id, "--lengths", "3,6", "--samples", "4")
    assert code == 0, output
    extra = store.eval_curve([run_id], sweep="extra")
    assert sorted(extra["length"]) == [3, 6] and set(extra["n"]) == {4}
    assert "2/2 lengths" in capsys.readouterr().err

    code, output = run_cli("--db", db, "export", "--format", "csv", "--out", str(tmp_path / "export"))
    assert code == 0
    exported = pd.read_csv(tmp_path / "export" / "runs.csv")
    assert list(exported["run_id"]) == [run_id]


def test_sweep_runs_every_cell_in_worker_processes(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.duckdb")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = [
        sys.executable,
        "-m",
        "lengen_core",
        "--db",
        db,
        "sweep",
        "--tasks",
        "reverse,copy_unique",
        "--schemes",
        "coupled,nope",
        "--seeds",
        "0",
        "--workers",
        "2",
        "--tag",
        "t1",
        *TINY,
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    runs = RunStore(db).list_runs()
    assert len(runs) == 4
    assert set(runs["status"]) == {"done"}
    assert set(zip(runs["task"], runs["scheme"])) == {("reverse", "coupled"), ("reverse", "nope"), ("copy_unique", "coupled"), ("copy_unique", "nope")}


def test_a_cli_run_killed_with_sigkill_is_interrupted_by_the_next_command(tmp_path: Path) -> None:
    """kill -9 of a training CLI process, then `runs list`: the run shows interrupted, earlier runs are intact."""
    import signal
    import time

    db = str(tmp_path / "runs.duckdb")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code, _ = run_cli("--db", db, "train", "--task", "reverse", *TINY)
    assert code == 0
    [earlier] = RunStore(db).list_runs()["run_id"].tolist()
    earlier_curve = RunStore(db).eval_curve([earlier])
    long_run = [sys.executable, "-m", "lengen_core", "--db", db, "train", "--task", "reverse", *TINY[:-2], "--steps", "200000", "--time-budget", "300"]
    child = subprocess.Popen(long_run, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:  # until the child has logged training steps
            running = RunStore(db, read_only=True).list_runs(status="running")
            if len(running) and int(running.iloc[0]["steps_done"]) > 0:
                break
            assert time.monotonic() < deadline and child.poll() is None, "the training child never started"
            time.sleep(0.2)
        killed = str(running.iloc[0]["run_id"])
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    listing = subprocess.run([sys.executable, "-m", "lengen_core", "--db", db, "runs", "list"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr
    line = next(row for row in listing.stdout.splitlines() if row.startswith(killed))
    assert " interrupted " in f" {line} "
    store = RunStore(db, read_only=True)
    record = store.get_run(killed)
    assert record.status == "interrupted" and record.error.startswith("interrupted: its process") and record.finished_at is not None
    assert store.get_run(earlier).status == "done"
    pd.testing.assert_frame_equal(store.eval_curve([earlier]), earlier_curve)
    assert len(store.train_curve(killed)) >= 1  # the steps it logged before it died are kept


def test_export_expands_the_home_folder_and_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "runs.duckdb")
    assert run_cli("--db", db, "train", "--task", "reverse", *TINY)[0] == 0
    code, output = run_cli("--db", db, "export", "--format", "csv", "--out", "~/x")
    assert code == 0, output
    assert sorted(path.name for path in (home / "x").iterdir()) == ["artifacts.csv", "eval_curve.csv", "runs.csv", "train_curve.csv"]
    assert not (tmp_path / "~").exists()


def test_eval_with_zero_samples_is_refused_not_ignored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "runs.duckdb")
    assert run_cli("--db", db, "train", "--task", "reverse", *TINY)[0] == 0
    run_id = RunStore(db).list_runs()["run_id"].iloc[0]
    code, _ = run_cli("--db", db, "eval", run_id, "--samples", "0", "--lengths", "3")
    assert code == 2 and "--samples: must be an integer between 1 and 5000, got 0" in capsys.readouterr().err
    assert RunStore(db).sweeps(run_id)["sweep"].tolist() == ["default"]
    code, output = run_cli("--db", db, "eval", run_id, "--samples", "3", "--lengths", "3")
    assert code == 0 and RunStore(db).eval_curve([run_id], sweep="extra")["n"].tolist() == [3]


def test_sweep_with_no_workers_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "runs.duckdb")
    code, _ = run_cli("--db", db, "sweep", "--tasks", "reverse", "--schemes", "coupled,nope", "--workers", "0", *TINY)
    assert code == 2 and "--workers" in capsys.readouterr().err
    code, _ = run_cli("--db", db, "sweep", "--tasks", "reverse", "--schemes", "coupled,abacus", *TINY)  # abacus: reverse has no numbers
    assert code == 2 and "positions.scheme" in capsys.readouterr().err
    assert RunStore(db).count_runs() == 0


def test_a_sweep_with_every_prefix_labels_its_recognition_tasks_and_says_which_train_on_the_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "runs.duckdb")
    code, output = run_cli(
        "--db", db, "sweep", "--tasks", "dyck_1,parity", "--schemes", "nope", "--workers", "1", *TINY, "--set", "task.supervision=every_prefix"
    )
    assert code == 0, output
    assert "parity have no label per prefix and train on the answer alone" in output
    store = RunStore(db)
    supervision = {record.run_config.task.name: record.run_config.task.supervision for record in map(store.get_run, store.list_runs()["run_id"])}
    assert supervision == {"dyck_1": "every_prefix", "parity": "answer"}
    code, output = run_cli("--db", db, "sweep", "--tasks", "parity,dyck_1", "--schemes", "nope", "--dry-run", *TINY, "--set", "task.supervision=every_prefix")
    assert code == 0 and "parity have no label per prefix" in output, output  # the order of the tasks does not matter
    code, _ = run_cli("--db", db, "sweep", "--tasks", "parity,reverse", "--schemes", "nope", "--dry-run", *TINY, "--set", "task.supervision=every_prefix")
    assert code == 2 and "task.supervision: task 'parity' has no label per prefix" in capsys.readouterr().err  # no task takes it


def test_a_time_budgeted_run_shows_seconds_of_its_budget_not_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 4 s budget with 200,000 steps: the bar counts seconds of the budget, in a few lines, not one per log point."""
    db = str(tmp_path / "runs.duckdb")
    # every step logged, so even a machine under load (a few steps in the budget) has many log points
    code, output = run_cli("--db", db, "train", "--task", "reverse", *TINY[:-2], "--set", "train.log_every=1", "--steps", "200000", "--time-budget", "4")
    assert code == 0, output
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("train ")]
    assert "/200000" not in err and "\x1b" not in err
    assert 1 <= len(lines) <= 3, err  # the first line and the last (another at most every 10 s): not one per step
    run_id = RunStore(db).list_runs()["run_id"].iloc[0]
    curve = RunStore(db).train_curve(run_id)
    assert len(curve) > 3  # there were many log points, yet only a few lines
    last = re.search(r"steps (\d+) · (\d+)/4 s", lines[-1])
    assert last, lines[-1]
    assert int(last.group(1)) == int(curve["step"].max())  # the final line is the run's last logged step
    assert int(last.group(2)) in (3, 4)


def test_tables_list_every_column_and_value(tmp_path: Path) -> None:
    from lengen_core.tasks import TASK_REGISTRY

    db = str(tmp_path / "runs.duckdb")
    code, output = run_cli("--db", db, "train", "--task", "reverse", "--scheme", "coupled", *TINY)
    assert code == 0, output
    store = RunStore(db)
    run_id = store.list_runs()["run_id"].iloc[0]
    headers, rows = read_table(output, "length")
    assert headers == ["length", "n", "exact_match", "exact_match_low", "exact_match_high", "token_accuracy"]
    curve = store.eval_curve([run_id]).sort_values("length")
    expected = [[str(row.length), str(row.n), *(f"{getattr(row, name):.3f}" for name in headers[2:])] for row in curve.itertuples()]
    assert rows == expected

    code, output = run_cli("--db", db, "runs", "list")
    assert code == 0
    headers, rows = read_table(output, "run_id")
    assert headers == ["run_id", "created_at", "task", "scheme", "seed", "status", "train_length_max", "breakdown_length", "breakdown_ratio"]
    record = store.get_run(run_id)
    [row] = rows
    assert row[0] == run_id and row[2:7] == ["reverse", "coupled", "0", "done", "3"]
    assert row[7] == ("-" if record.breakdown_length is None else str(record.breakdown_length))
    assert output.splitlines()[-1] == "1 runs"

    code, output = run_cli("tasks")
    assert code == 0
    headers, rows = read_table(output, "task")
    assert headers == ["task", "family", "NoPE", "APE", "k", "coupling", "description"]
    assert [row[0] for row in rows] == sorted(TASK_REGISTRY)

    def verdict(prediction) -> str:
        if prediction is None:
            return "-"
        return ("yes" if prediction.generalizes else "no") + ("" if prediction.derived_by == "paper" else "*")

    for row in rows:  # every description in full on its own line: nothing cut or wrapped
        task = TASK_REGISTRY[row[0]]()
        k = "-" if task.theory.sparsity is None else str(task.theory.sparsity.k)
        coupling = "predictive only" if task.coupling_needs_answer else str(task.has_coupling)
        assert row[1:] == [task.family, verdict(task.theory.nope), verdict(task.theory.ape), k, coupling, task.description]
    by_task = {row[0]: row for row in rows}
    assert by_task["aa_star"][2:4] == ["no", "yes"] and by_task["tomita_7"][2:4] == ["yes", "yes"]
    assert by_task["sparse_sum"][4] == "3" and by_task["sort"][5] == "predictive only"
    assert "Huang et al. 2025" in output and "* our derivation" in output


def test_table_cells_are_text_not_markup() -> None:
    from lengen_core.cli import print_table

    out = io.StringIO()
    print_table(out, [{"name": "[bold]x[/bold] [/oops]", "n": None, "ratio": float("nan")}], ["name", "n", "ratio"])
    headers, rows = read_table(out.getvalue(), "name")
    assert headers == ["name", "n", "ratio"] and rows == [["[bold]x[/bold] [/oops]", "-", "-"]]


def test_until_learned_stops_a_run_once_its_range_is_learned_and_prints_why(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.duckdb")
    code, output = run_cli(
        "--db",
        db,
        "train",
        "--task",
        "reverse",
        "--scheme",
        "coupled",
        "--train-length",
        "1-6",
        "--steps",
        "650",
        "--until-learned",
        "--set",
        "train.learned_check_every=25",
        "--set",
        "train.distractor_examples=0",
        "--set",
        "eval.lengths=3,6",
        "--set",
        "eval.samples_per_length=50",
    )
    assert code == 0, output
    record = RunStore(db).get_run(RunStore(db).list_runs()["run_id"].iloc[0])
    assert record.run_config.train.stop_when_learned and record.steps_done < 650
    assert f"training: learned at step {record.learned_step}:" in output
    code, output = run_cli("--db", db, "train", "--task", "reverse", "--steps", "650", "--no-until-learned", "--dry-run")
    assert code == 0 and '"stop_when_learned": false' in output
