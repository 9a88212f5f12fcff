"""The DuckDB run store: round trips, status rules, migrations, refusals, and many writers at once.

Every test uses a real DuckDB file under ``tmp_path``; concurrency tests use
real threads and real processes (one of them killed with SIGKILL mid-write).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import threading
import time

import duckdb
import pandas
import pytest

from lengen_core.breakdown import Breakdown
from lengen_core.errors import StoreError
from lengen_core.store import FINAL_STATUSES, MIGRATIONS, RUN_STATUSES, SCHEMA_VERSION, InvalidTransition, RunNotFound, RunStore, StoreBusy, default_store_path

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
EVAL_KEYS = ("length", "n", "exact_match", "exact_match_low", "exact_match_high", "token_accuracy")


def make_config(task: str = "reverse", scheme: str = "coupled", attention: str = "dense", train_length_max: int = 10) -> dict:
    return {
        "task": {"name": task, "train_length_min": 1, "train_length_max": train_length_max, "options": {}},
        "positions": {"scheme": scheme, "max_position": 256},
        "model": {"n_layers": 2, "attention": attention},
        "train": {"steps": 100},
        "eval": {"samples_per_length": 50},
    }


def new_run(store: RunStore, **changes) -> str:
    arguments = {"config": make_config(), "config_id": "cfg0", "seed": 0, "code_version": "0.1.0+gtest", "environment": {"torch": "x", "device": "cpu"}}
    arguments.update(changes)
    return store.create_run(**arguments)


def train_rows(count: int, start: int = 0) -> list[dict]:
    return [
        {"step": step, "loss": 1.0 / (step + 1), "accuracy": step / 100, "lr": 1e-3, "wall_time_s": step * 0.1, "tokens_per_s": 1000.0 + step}
        for step in range(start, start + count)
    ]


def eval_rows(lengths: list[int], accuracy: float = 0.95) -> list[dict]:
    return [
        {
            "length": length,
            "n": 50,
            "exact_match": accuracy,
            "exact_match_low": accuracy - 0.1,
            "exact_match_high": min(1.0, accuracy + 0.04),
            "token_accuracy": 0.99,
        }
        for length in lengths
    ]


def sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def table_counts(path: pathlib.Path, run_id: str) -> dict[str, int]:
    """Rows per table for one run, read straight from the file (independent of the store's queries)."""
    connection = duckdb.connect(str(path), read_only=True)
    try:
        return {
            table: connection.execute(f"SELECT count(*) FROM {table} WHERE run_id = ?", [run_id]).fetchall()[0][0]
            for table in ("runs", "train_points", "eval_points", "eval_sweeps", "artifacts")
        }
    finally:
        connection.close()


def child_script(tmp_path: pathlib.Path, name: str, body: str) -> pathlib.Path:
    """A python file that imports lengen_core from this checkout and runs ``body``."""
    script = tmp_path / f"{name}.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(REPO_ROOT)!r})\n" + textwrap.dedent(body))
    return script


CHILD_HELPERS = """
from lengen_core.breakdown import Breakdown
from lengen_core.store import RunStore

def make_config():
    return {"task": {"name": "reverse", "train_length_max": 10}, "positions": {"scheme": "coupled"}, "model": {"attention": "dense"}}

def new_run(store, tag):
    return store.create_run(config=make_config(), config_id="child", seed=0, code_version="t", environment={}, tags=[tag])

def rows(count):
    return [{"step": s, "loss": 1.0, "accuracy": 0.5, "lr": 1e-3, "wall_time_s": 0.1, "tokens_per_s": 10.0} for s in range(count)]
"""


# ---------------------------------------------------------------------------
# Round trips


def test_default_path_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LENGEN_DB", str(tmp_path / "elsewhere.duckdb"))
    assert default_store_path() == tmp_path / "elsewhere.duckdb"
    monkeypatch.delenv("LENGEN_DB")
    assert default_store_path() == REPO_ROOT / "data" / "runs.duckdb"


def test_fresh_path_creates_folder_and_current_schema(tmp_path):
    path = tmp_path / "missing" / "deeper" / "runs.duckdb"
    store = RunStore(path)
    assert path.is_file()
    assert store.schema_version() == SCHEMA_VERSION == MIGRATIONS[-1][0]
    assert store.count_runs() == 0
    # built under a temporary name and linked: no leftovers beside it
    assert sorted(p.name for p in path.parent.iterdir()) == ["runs.duckdb", "runs.duckdb.lock"]
    connection = duckdb.connect(str(path), read_only=True)
    assert dict(connection.execute("SELECT key, value FROM meta").fetchall()) == {"app": "lengen-lab", "schema_version": str(SCHEMA_VERSION)}
    connection.close()


def test_round_trip_of_a_real_config(tmp_path):
    from lengen_core.config import RunConfig

    config = RunConfig().replace(**{"task.train_length_max": 8, "positions.scheme": "learned"})
    store = RunStore(tmp_path / "runs.duckdb")
    run_id = store.create_run(
        config=config.to_dict(),
        config_id=config.config_id,
        seed=7,
        code_version="0.1.0+gabc",
        environment={"torch": "2.13", "device": "cpu", "threads": 4},
        name="my run",
        tags=["lesson:1", "sweep:a"],
    )
    assert len(run_id) == 12 and int(run_id, 16) >= 0
    queued = store.get_run(run_id)
    assert queued.status == "queued" and queued.started_at is None and queued.finished_at is None
    assert RunConfig.from_dict(queued.config) == config and queued.config_id == config.config_id
    assert queued.owner == f"{os.uname().nodename}:{os.getpid()}"

    store.set_status(run_id, "running")
    points = train_rows(3)
    points[1]["loss"] = float("nan")  # a diverging step must stay NaN, not become NULL
    points[2]["accuracy"] = None
    points[2]["in_distribution"] = 0.75  # a learned check ran at this step
    store.append_train_points(run_id, points[:2])
    store.append_train_points(run_id, points[2:], steps_done=2, train_seconds=1.0)  # one transaction for both
    assert (store.get_run(run_id).steps_done, store.get_run(run_id).train_seconds) == (2, 1.0)
    store.update_progress(run_id, steps_done=3, train_seconds=1.25)
    assert (store.get_run(run_id).stop_reason, store.get_run(run_id).learned_step) == (None, None)
    store.update_progress(run_id, steps_done=3, train_seconds=1.25, stop_reason="learned at step 2", learned_step=2)
    store.set_eval_points(run_id, eval_rows([4, 8, 16]), Breakdown(8, 8))
    store.add_artifact(run_id, "checkpoint", str(tmp_path / "ck.safetensors"))
    store.set_status(run_id, "done")

    record = store.get_run(run_id)
    assert (record.name, record.seed, record.status, record.error) == ("my run", 7, "done", None)
    assert record.code_version == "0.1.0+gabc"
    assert record.environment == {"torch": "2.13", "device": "cpu", "threads": 4}
    assert record.tags == ["lesson:1", "sweep:a"]
    assert (record.steps_done, record.train_seconds) == (3, 1.25)
    assert (record.stop_reason, record.learned_step) == ("learned at step 2", 2)
    assert (record.breakdown_length, record.train_length_max, record.breakdown_ratio) == (8, 8, 1.0)
    assert record.created_at.tzinfo is not None
    assert record.created_at <= record.started_at <= record.finished_at

    curve = store.train_curve(run_id)
    assert list(curve.columns) == ["step", "loss", "accuracy", "lr", "wall_time_s", "tokens_per_s", "in_distribution"]
    assert curve["step"].tolist() == [0, 1, 2]
    assert curve["loss"][0] == 1.0 and math.isnan(curve["loss"][1]) and curve["loss"][2] == pytest.approx(1 / 3)
    assert curve["accuracy"][1] == pytest.approx(0.01) and pandas.isna(curve["accuracy"][2])
    assert curve["tokens_per_s"].tolist() == [1000.0, 1001.0, 1002.0]
    assert pandas.isna(curve["in_distribution"][0]) and curve["in_distribution"][2] == 0.75

    sweep = store.eval_curve([run_id])
    assert sweep["length"].tolist() == [4, 8, 16] and set(sweep["sweep"]) == {"default"}
    assert sweep[list(EVAL_KEYS)].to_dict("records") == eval_rows([4, 8, 16])
    assert sweep["breakdown_length"].tolist() == [8, 8, 8]

    artifacts = store.artifacts(run_id)
    assert artifacts[["kind", "path"]].values.tolist() == [["checkpoint", str(tmp_path / "ck.safetensors")]]

    listed = store.list_runs()
    row = listed.iloc[0].to_dict()
    assert (row["task"], row["scheme"], row["attention"], row["seed"], row["status"]) == ("reverse", "learned", "dense", 7, "done")
    assert (row["train_length_max"], row["breakdown_length"], row["breakdown_ratio"]) == (8, 8, 1.0)
    assert list(row["tags"]) == ["lesson:1", "sweep:a"]
    assert (row["stop_reason"], row["learned_step"]) == ("learned at step 2", 2)


def test_status_transitions(tmp_path):
    store = RunStore(tmp_path / "runs.duckdb")
    run_id = new_run(store)
    with pytest.raises(ValueError, match="'finished'"):
        store.set_status(run_id, "finished")
    with pytest.raises(InvalidTransition, match="queued.*done"):
        store.set_status(run_id, "done")  # must run first
    store.set_status(run_id, "running")
    started = store.get_run(run_id).started_at
    store.set_status(run_id, "running")  # repeated: refreshes the owner, keeps the start time
    assert store.get_run(run_id).started_at == started
    store.set_status(run_id, "diverged", error="loss is NaN at step 40")
    record = store.get_run(run_id)
    assert (record.status, record.error) == ("diverged", "loss is NaN at step 40")
    assert record.finished_at >= record.started_at
    store.set_status(run_id, "diverged")  # same final status again: no-op
    assert store.get_run(run_id).error == "loss is NaN at step 40"
    for target in ("running", "queued", "done", "failed"):
        with pytest.raises(InvalidTransition, match=f"diverged.*{target}") as caught:
            store.set_status(run_id, target)
        assert isinstance(caught.value, StoreError) and isinstance(caught.value, ValueError)
    assert store.get_run(run_id).status == "diverged"

    # every final status is reachable from running, and queued runs can be cancelled directly
    for final in FINAL_STATUSES:
        other = new_run(store)
        store.set_status(other, "running")
        store.set_status(other, final)
        assert store.get_run(other).status == final
    cancelled = new_run(store)
    store.set_status(cancelled, "cancelled", error="cancelled while queued")
    assert store.get_run(cancelled).finished_at is not None and store.get_run(cancelled).started_at is None
    assert set(RUN_STATUSES) == {"queued", "running"} | set(FINAL_STATUSES)


def test_missing_runs_are_named(tmp_path):
    store = RunStore(tmp_path / "runs.duckdb")
    for call in (
        lambda: store.get_run("feedfacecafe"),
        lambda: store.set_status("feedfacecafe", "running"),
        lambda: store.update_progress("feedfacecafe", steps_done=1, train_seconds=1.0),
        lambda: store.append_train_points("feedfacecafe", train_rows(1)),
        lambda: store.set_eval_points("feedfacecafe", eval_rows([1]), Breakdown(1, 1)),
        lambda: store.add_artifact("feedfacecafe", "checkpoint", "x"),
        lambda: store.train_curve("feedfacecafe"),
        lambda: store.artifacts("feedfacecafe"),
    ):
        with pytest.raises(RunNotFound, match="feedfacecafe") as caught:
            call()
        assert isinstance(caught.value, KeyError) and isinstance(caught.value, StoreError)
    assert store.count_runs() == 0


def test_bad_rows_are_refused_before_anything_is_written(tmp_path):
    store = RunStore(tmp_path / "runs.duckdb")
    run_id = new_run(store)
    store.set_eval_points(run_id, eval_rows([2, 4]), Breakdown(4, 4))
    broken = eval_rows([2, 4, 8])
    del broken[2]["exact_match"]
    with pytest.raises(ValueError, match=r"eval_points\[2\]\.exact_match"):
        store.set_eval_points(run_id, broken, Breakdown(2, 4))
    assert store.eval_curve([run_id])["length"].tolist() == [2, 4]
    assert store.get_run(run_id).breakdown_length == 4
    with pytest.raises(ValueError, match=r"breakdown\.low: must be an integer, got 2\.5"):
        store.set_eval_points(run_id, eval_rows([2]), Breakdown(2, 4, low=2.5))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"breakdown\.train_length_max: must be an integer"):
        store.set_eval_points(run_id, eval_rows([2]), Breakdown(2, None))  # type: ignore[arg-type]
    assert store.eval_curve([run_id])["length"].tolist() == [2, 4]
    with pytest.raises(ValueError, match=r"train_points\[1\]\.step"):
        store.append_train_points(run_id, [train_rows(1)[0], {"loss": 1.0}])
    assert store.train_curve(run_id).empty
    with pytest.raises(ValueError, match="seed"):
        new_run(store, seed="three")
    with pytest.raises(ValueError, match="status"):
        new_run(store, status="paused")
    assert store.count_runs() == 1


def test_eval_points_replace_per_sweep(tmp_path):
    store = RunStore(tmp_path / "runs.duckdb")
    run_id, other = new_run(store), new_run(store)
    store.set_eval_points(run_id, eval_rows([5, 10, 20]), Breakdown(10, 10))
    store.set_eval_points(other, eval_rows([5]), Breakdown(5, 10))
    store.set_eval_points(run_id, eval_rows([10, 40], accuracy=0.5), Breakdown(None, 10))
    curve = store.eval_curve([run_id])
    assert curve["length"].tolist() == [10, 40] and curve["exact_match"].tolist() == [0.5, 0.5]
    assert store.get_run(run_id).breakdown_length is None
    # a second sweep keeps its own breakdown and leaves the run's headline number alone
    store.set_eval_points(run_id, eval_rows([80, 160]), Breakdown(160, 10), sweep="extra")
    assert store.get_run(run_id).breakdown_length is None
    assert store.eval_curve([run_id], sweep="extra")["length"].tolist() == [80, 160]
    both = store.eval_curve([run_id, other])
    assert both.groupby(["run_id", "sweep"]).size().to_dict() == {(run_id, "default"): 2, (run_id, "extra"): 2, (other, "default"): 1}
    sweeps = store.sweeps(run_id).set_index("sweep")
    assert pandas.isna(sweeps.loc["default", "breakdown_length"]) and sweeps.loc["extra", "breakdown_length"] == 160
    assert store.eval_curve(["not-a-run"]).empty


def test_list_runs_filters_and_order(tmp_path):
    store = RunStore(tmp_path / "runs.duckdb")
    made = []
    for index, (task, scheme, attention) in enumerate(
        [("reverse", "coupled", "dense"), ("addition", "coupled", "hsa"), ("addition", "learned", "dense"), ("reverse", "nope", "dense")]
    ):
        made.append(
            new_run(
                store,
                config=make_config(task, scheme, attention, train_length_max=5 + index),
                config_id=f"c{index}",
                seed=index,
                tags=["even"] if index % 2 == 0 else [],
            )
        )
    store.set_status(made[1], "running")
    store.set_eval_points(made[2], eval_rows([3]), Breakdown(15, 7))
    everything = store.list_runs()
    assert everything["run_id"].tolist() == made[::-1]  # newest first
    assert everything["created_at"].is_monotonic_decreasing
    assert list(everything.columns)[:16] == [
        "run_id",
        "name",
        "status",
        "task",
        "scheme",
        "attention",
        "train_length_max",
        "breakdown_length",
        "breakdown_ratio",
        "seed",
        "config_id",
        "created_at",
        "started_at",
        "finished_at",
        "steps_done",
        "train_seconds",
    ]
    assert "config" not in everything.columns  # no JSON blobs in listings
    assert store.list_runs(task="addition")["run_id"].tolist() == [made[2], made[1]]
    assert store.list_runs(scheme="coupled", task="reverse")["run_id"].tolist() == [made[0]]
    assert store.list_runs(status="running")["run_id"].tolist() == [made[1]]
    assert store.list_runs(config_id="c3")["run_id"].tolist() == [made[3]]
    assert store.list_runs(limit=2)["run_id"].tolist() == [made[3], made[2]]
    assert store.list_runs(tag="even")["run_id"].tolist() == [made[2], made[0]]
    assert store.list_runs(run_ids=[made[0], made[3], "nope"])["run_id"].tolist() == [made[3], made[0]]
    assert store.list_runs(task="parity").empty
    ratio = everything.set_index("run_id").loc[made[2]]
    assert (ratio["breakdown_length"], ratio["train_length_max"], ratio["breakdown_ratio"]) == (15, 7, pytest.approx(15 / 7))
    with pytest.raises(ValueError, match="'nonsense'"):
        store.list_runs(status="nonsense")


def test_run_config_is_the_stored_config(tmp_path):
    from lengen_core.config import RunConfig
    from lengen_core.errors import ConfigError

    config = RunConfig().replace(**{"task.name": "addition", "task.train_length_max": 6, "positions.scheme": "learned", "model.n_layers": 3})
    store = RunStore(tmp_path / "runs.duckdb")
    run_id = store.create_run(config=config.to_dict(), config_id=config.config_id, seed=1, code_version="t", environment={})
    record = store.get_run(run_id)
    assert isinstance(record.run_config, RunConfig)
    assert record.run_config == config and record.run_config.config_id == record.config_id
    assert (record.run_config.task.name, record.run_config.model.n_layers) == ("addition", 3)
    assert record.run_config is record.run_config  # built once per record
    assert record == store.get_run(run_id)  # the cached config is no field: records still compare by their rows
    # a partial config is completed as a stored one: fields added since take the value it trained with
    partial = store.get_run(new_run(store, config=make_config(task="reverse", train_length_max=9)))
    assert partial.run_config == RunConfig.from_stored(make_config(task="reverse", train_length_max=9))
    assert partial.run_config.task.train_length_max == 9 and partial.run_config.train.packing == "off"
    # a stored config this LenGen Lab cannot build says why, naming the field
    stranger = store.get_run(new_run(store, config={"task": {"name": "no-such-task"}}))
    with pytest.raises(ConfigError, match="task.name"):
        _ = stranger.run_config


class StatementLog:
    """Wraps the store engine's DuckDB connection and records every statement the store sends it."""

    SESSION_STATEMENTS = ("ATTACH", "USE ", "DETACH", "BEGIN", "COMMIT", "ROLLBACK", "SELECT value FROM meta")

    def __init__(self, connection, log):
        self._connection, self._log = connection, log

    def execute(self, query, *arguments):
        self._log.append(query)
        return self._connection.execute(query, *arguments)

    def __getattr__(self, name):
        return getattr(self._connection, name)

    @classmethod
    def install(cls, monkeypatch) -> list[str]:
        """Record from now on; returns the log, to which only the statements of the calls themselves are added."""
        from lengen_core.store.engine import current_engine

        engine, log = current_engine(), []
        real = engine.connection
        monkeypatch.setattr(engine, "connection", lambda: cls(real(), log))
        return log

    @classmethod
    def work(cls, log: list[str]) -> list[str]:
        """The statements of ``log`` that are not attach/detach/transaction bookkeeping."""
        return [query for query in log if not query.lstrip().startswith(cls.SESSION_STATEMENTS)]


def test_list_runs_with_checkpoint_paths_in_one_query(tmp_path, monkeypatch):
    store = RunStore(tmp_path / "runs.duckdb")
    two_checkpoints = new_run(store, status="done")
    store.add_artifact(two_checkpoints, "checkpoint", "/ck/old.safetensors")
    store.add_artifact(two_checkpoints, "checkpoint", "/ck/new.safetensors")
    store.add_artifact(two_checkpoints, "log", "/logs/later.txt")  # other kinds are no checkpoint, even when newer
    no_artifacts = new_run(store, status="done")
    only_a_log = new_run(store, status="done")
    store.add_artifact(only_a_log, "log", "/logs/only.txt")
    failed_with_checkpoint = new_run(store, status="failed")
    store.add_artifact(failed_with_checkpoint, "checkpoint", "/ck/failed.safetensors")
    other_scheme = new_run(store, config=make_config(scheme="learned"), status="done")
    store.add_artifact(other_scheme, "checkpoint", "/ck/learned.safetensors")
    newest_without = new_run(store, status="done")

    log = StatementLog.install(monkeypatch)
    listed = store.list_runs(with_checkpoint=True)
    work = StatementLog.work(log)
    assert len(work) == 1 and "artifacts" in work[0] and "runs" in work[0], work  # one query, no per-run look-ups
    monkeypatch.undo()

    assert list(listed.columns) == [*store.list_runs().columns, "checkpoint_path"]
    assert dict(zip(listed["run_id"], listed["checkpoint_path"])) == {
        other_scheme: "/ck/learned.safetensors",
        failed_with_checkpoint: "/ck/failed.safetensors",
        two_checkpoints: "/ck/new.safetensors",
    }
    assert listed["run_id"].tolist() == [other_scheme, failed_with_checkpoint, two_checkpoints]  # newest first
    assert str(listed["created_at"].dt.tz) == "UTC"
    assert "checkpoint_path" not in store.list_runs().columns and store.list_runs()["run_id"].iloc[0] == newest_without
    # the usual filters apply, and the limit counts runs that have a checkpoint
    done = store.list_runs(status="done", scheme="coupled", with_checkpoint=True)
    assert done[["run_id", "checkpoint_path"]].values.tolist() == [[two_checkpoints, "/ck/new.safetensors"]]
    assert store.list_runs(with_checkpoint=True, limit=1)["run_id"].tolist() == [other_scheme]
    assert store.list_runs(with_checkpoint=True, run_ids=[no_artifacts, only_a_log]).empty

    assert store.checkpoint_path(two_checkpoints) == "/ck/new.safetensors"
    assert store.checkpoint_path(only_a_log) is None and store.checkpoint_path(no_artifacts) is None
    with pytest.raises(RunNotFound, match="abcdefabcdef"):
        store.checkpoint_path("abcdefabcdef")
    store.delete_runs([two_checkpoints])
    assert two_checkpoints not in store.list_runs(with_checkpoint=True)["run_id"].tolist()


def test_delete_removes_rows_everywhere_but_not_files(tmp_path):
    store = RunStore(tmp_path / "runs.duckdb")
    keep, drop = new_run(store), new_run(store)
    checkpoint = tmp_path / "drop.safetensors"
    checkpoint.write_bytes(b"weights")
    for run_id in (keep, drop):
        store.append_train_points(run_id, train_rows(4))
        store.set_eval_points(run_id, eval_rows([1, 2]), Breakdown(2, 2))
        store.set_eval_points(run_id, eval_rows([3]), Breakdown(3, 2), sweep="extra")
        store.add_artifact(run_id, "checkpoint", str(checkpoint))
        store.set_status(run_id, "cancelled")
    assert table_counts(store.path, drop) == {"runs": 1, "train_points": 4, "eval_points": 3, "eval_sweeps": 2, "artifacts": 1}
    paths = store.artifacts(drop)["path"].tolist()
    assert store.delete_runs([drop, "never-existed"]) == 1
    assert table_counts(store.path, drop) == {"runs": 0, "train_points": 0, "eval_points": 0, "eval_sweeps": 0, "artifacts": 0}
    assert table_counts(store.path, keep) == {"runs": 1, "train_points": 4, "eval_points": 3, "eval_sweeps": 2, "artifacts": 1}
    assert paths == [str(checkpoint)] and checkpoint.read_bytes() == b"weights"
    assert store.delete_runs([]) == 0 and store.count_runs() == 1
    # a run that is still running in a live process is not pulled from under its worker
    busy = new_run(store)
    store.set_status(busy, "running")
    with pytest.raises(StoreError, match=f"run {busy} is running.*cancel it"):
        store.delete_runs([keep, busy])
    assert store.count_runs() == 2
    assert store.delete_runs([busy], force=True) == 1
    with pytest.raises(RunNotFound):
        store.get_run(drop)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_reads_back(tmp_path, fmt):
    store = RunStore(tmp_path / "runs.duckdb")
    chosen, other = new_run(store, tags=["a", "b"], name="chosen"), new_run(store)
    for run_id in (chosen, other):
        store.append_train_points(run_id, train_rows(5))
        store.set_eval_points(run_id, eval_rows([2, 4, 8]), Breakdown(4, 4))
        store.add_artifact(run_id, "checkpoint", f"/data/{run_id}.safetensors")
    store.set_status(chosen, "running")
    store.set_status(chosen, "done")
    written = store.export([chosen], tmp_path / "out" / "nested", fmt=fmt)
    assert [path.name for path in written] == [f"{table}.{fmt}" for table in ("runs", "train_curve", "eval_curve", "artifacts")]
    # a run id is 12 hex digits: as CSV text, "49505444e763" reads as a number unless the column is kept as text
    read = pandas.read_parquet if fmt == "parquet" else (lambda path: pandas.read_csv(path, dtype={"run_id": str}))
    tables = {path.stem: read(path) for path in written}
    runs = tables["runs"]
    assert runs["run_id"].tolist() == [chosen] and runs["status"].tolist() == ["done"] and runs["name"].tolist() == ["chosen"]
    assert json.loads(runs["config"][0]) == make_config()
    tags = runs["tags"][0]
    assert (list(tags) if fmt == "parquet" else json.loads(tags)) == ["a", "b"]
    assert tables["train_curve"]["step"].tolist() == [0, 1, 2, 3, 4]
    assert tables["train_curve"]["loss"].tolist() == pytest.approx([row["loss"] for row in train_rows(5)])
    assert set(tables["train_curve"]["run_id"]) == {chosen}
    assert tables["eval_curve"][list(EVAL_KEYS)].to_dict("records") == eval_rows([2, 4, 8])
    assert tables["artifacts"]["path"].tolist() == [f"/data/{chosen}.safetensors"]
    everything = store.export(None, tmp_path / "all", fmt=fmt)
    assert len(read(everything[0])) == 2 and len(read(everything[1])) == 10 and len(read(everything[2])) == 6
    assert not [p for p in (tmp_path / "all").iterdir() if p.name.endswith(".tmp")]


def test_export_refuses_bad_format_and_unknown_runs(tmp_path):
    store = RunStore(tmp_path / "runs.duckdb")
    run_id = new_run(store)
    with pytest.raises(ValueError, match="fmt.*xlsx"):
        store.export(None, tmp_path / "x", fmt="xlsx")
    with pytest.raises(RunNotFound, match="abcabcabcabc"):
        store.export([run_id, "abcabcabcabc"], tmp_path / "x")
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------------------
# Files that are not ours, versions, read-only


def _foreign_duckdb(path: pathlib.Path) -> None:
    connection = duckdb.connect(str(path))
    connection.execute("CREATE TABLE sales (id INTEGER, amount DOUBLE)")
    connection.execute("INSERT INTO sales VALUES (1, 9.5)")
    connection.close()


def _newer_store(path: pathlib.Path) -> None:
    RunStore(path)
    connection = duckdb.connect(str(path))
    connection.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    connection.close()


def _damaged_store(path: pathlib.Path) -> None:
    RunStore(path)
    data = bytearray(path.read_bytes())
    data[4096:] = os.urandom(len(data) - 4096)  # DuckDB header intact, everything after it garbage
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("kind", "make", "message"),
    [
        ("random bytes", lambda p: p.write_bytes(os.urandom(5000)), "not a LenGen Lab run store"),
        ("text", lambda p: p.write_text("name,loss\nrun,0.5\n" * 50), "not a LenGen Lab run store"),
        ("empty", lambda p: p.write_bytes(b""), "not a LenGen Lab run store"),
        ("foreign duckdb", _foreign_duckdb, "another application"),
        ("newer version", _newer_store, "Upgrade LenGen Lab"),
        ("damaged duckdb", _damaged_store, "run store"),
    ],
)
@pytest.mark.parametrize("read_only", [False, True])
def test_unusable_files_are_refused_and_untouched(tmp_path, kind, make, message, read_only):
    path = tmp_path / "runs.duckdb"
    make(path)
    lock_before = (tmp_path / "runs.duckdb.lock").exists()
    before = sha256(path)
    with pytest.raises(StoreError, match=message) as caught:
        RunStore(path, read_only=read_only)
    assert str(path) in str(caught.value)
    assert sha256(path) == before
    assert not (tmp_path / "runs.duckdb.wal").exists()
    assert (tmp_path / "runs.duckdb.lock").exists() == lock_before  # no trace left beside it


def test_directory_and_read_only_missing_file(tmp_path):
    with pytest.raises(StoreError, match="directory"):
        RunStore(tmp_path)
    with pytest.raises(StoreError, match="does not exist"):
        RunStore(tmp_path / "nothing.duckdb", read_only=True)
    assert not (tmp_path / "nothing.duckdb").exists()


V1_SCHEMA = [  # migration 1 exactly as released; written by hand so a change to it shows up here
    "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)",
    "INSERT INTO meta VALUES ('app', 'lengen-lab'), ('schema_version', '1')",
    """CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, name VARCHAR, config_id VARCHAR NOT NULL, config VARCHAR NOT NULL,
        task VARCHAR, scheme VARCHAR, attention VARCHAR, seed BIGINT NOT NULL, status VARCHAR NOT NULL, error VARCHAR,
        code_version VARCHAR NOT NULL, environment VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL, started_at TIMESTAMP,
        finished_at TIMESTAMP, breakdown_length INTEGER, train_length_max INTEGER, steps_done BIGINT NOT NULL DEFAULT 0,
        train_seconds DOUBLE, owner VARCHAR)""",
    "CREATE TABLE train_points (run_id VARCHAR NOT NULL, step BIGINT NOT NULL, loss DOUBLE, accuracy DOUBLE, lr DOUBLE, wall_time_s DOUBLE, tokens_per_s DOUBLE)",
    """CREATE TABLE eval_points (run_id VARCHAR NOT NULL, sweep VARCHAR NOT NULL, length INTEGER NOT NULL, n INTEGER NOT NULL,
        exact_match DOUBLE, exact_match_low DOUBLE, exact_match_high DOUBLE, token_accuracy DOUBLE)""",
    "CREATE TABLE artifacts (run_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, path VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL)",
    """INSERT INTO runs VALUES ('0123456789ab', 'old run', 'cfgold', '{"task": {"name": "reverse", "train_length_max": 6}}',
        'reverse', 'coupled', 'dense', 3, 'done', NULL, '0.0.9', '{"device": "cpu"}', TIMESTAMP '2025-01-02 03:04:05',
        TIMESTAMP '2025-01-02 03:04:06', TIMESTAMP '2025-01-02 03:14:06', 12, 6, 500, 60.5, 'oldhost:1')""",
    "INSERT INTO train_points VALUES ('0123456789ab', 50, 0.5, 0.25, 0.001, 1.0, 900.0)",
    "INSERT INTO eval_points VALUES ('0123456789ab', 'default', 6, 100, 1.0, 0.96, 1.0, 1.0), ('0123456789ab', 'default', 12, 100, 0.92, 0.85, 0.96, 0.99)",
]


def _v1_store(path: pathlib.Path) -> None:
    connection = duckdb.connect(str(path))
    for statement in V1_SCHEMA:
        connection.execute(statement)
    connection.close()


def test_v1_store_is_migrated(tmp_path):
    path = tmp_path / "old.duckdb"
    _v1_store(path)
    before = sha256(path)
    with pytest.raises(StoreError, match="schema version 1"):
        RunStore(path, read_only=True)  # read-only never migrates
    assert sha256(path) == before

    store = RunStore(path)
    assert store.schema_version() == SCHEMA_VERSION == 4
    record = store.get_run("0123456789ab")
    assert (record.name, record.status, record.seed, record.tags, record.breakdown_length, record.steps_done) == ("old run", "done", 3, [], 12, 500)
    assert (record.stop_reason, record.learned_step) == (None, None)  # migration 3: not known for a run stored before it
    assert record.finished_at.isoformat() == "2025-01-02T03:14:06+00:00"
    sweeps = store.sweeps("0123456789ab")  # backfilled by migration 2
    assert sweeps[["sweep", "breakdown_length", "train_length_max"]].values.tolist() == [["default", 12, 6]]
    assert store.eval_curve(["0123456789ab"])["exact_match"].tolist() == [1.0, 0.92]
    assert store.train_curve("0123456789ab")["loss"].tolist() == [0.5]
    assert store.train_curve("0123456789ab")["in_distribution"].isna().all()
    # the new column works, and opening again migrates nothing
    new_id = new_run(store, tags=["after-migration"])
    assert RunStore(path).list_runs(tag="after-migration")["run_id"].tolist() == [new_id]


def test_a_failing_migration_changes_nothing(tmp_path, monkeypatch):
    import lengen_core.store.schema as schema_module  # the migrations are read from here when a store opens

    path = tmp_path / "runs.duckdb"
    run_id = new_run(RunStore(path))
    broken = (SCHEMA_VERSION + 1, ("ALTER TABLE runs ADD COLUMN priority INTEGER", "SELECT * FROM a_table_that_does_not_exist"))
    monkeypatch.setattr(schema_module, "MIGRATIONS", [*MIGRATIONS, broken])
    monkeypatch.setattr(schema_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(StoreError, match=f"cannot upgrade run store {path} from schema version {SCHEMA_VERSION}"):
        RunStore(path)
    monkeypatch.undo()
    store = RunStore(path)  # still the old version, still usable, without the half-added column
    assert store.schema_version() == SCHEMA_VERSION and store.get_run(run_id).status == "queued"
    connection = duckdb.connect(str(path), read_only=True)
    columns = {row[0] for row in connection.execute("DESCRIBE runs").fetchall()}
    connection.close()
    assert "priority" not in columns and "tags" in columns


def test_an_empty_duckdb_file_becomes_a_store(tmp_path):
    path = tmp_path / "empty.duckdb"
    duckdb.connect(str(path)).close()
    store = RunStore(path)
    assert store.schema_version() == SCHEMA_VERSION and store.count_runs() == 0


def test_read_only_store_reads_and_never_writes(tmp_path):
    path = tmp_path / "runs.duckdb"
    writer = RunStore(path)
    run_id = new_run(writer)
    writer.append_train_points(run_id, train_rows(2))
    before = sha256(path)
    reader = RunStore(path, read_only=True)
    assert reader.get_run(run_id).status == "queued"
    assert len(reader.list_runs()) == 1 and len(reader.train_curve(run_id)) == 2
    with pytest.raises(StoreError, match="read-only"):
        reader.set_status(run_id, "running")
    with pytest.raises(StoreError, match="read-only"):
        new_run(reader)
    with pytest.raises(StoreError, match="read-only"):
        reader.mark_interrupted()
    assert sha256(path) == before
    assert writer.get_run(run_id).status == "queued"


def test_deleted_file_is_recreated_on_next_use(tmp_path):
    path = tmp_path / "runs.duckdb"
    store = RunStore(path)
    new_run(store)
    path.unlink()
    assert store.count_runs() == 0  # recreated empty, not an error page
    new_run(store)
    assert store.count_runs() == 1


# ---------------------------------------------------------------------------
# Concurrency


def test_eight_threads_write_at_once(tmp_path):
    store = RunStore(tmp_path / "runs.duckdb")
    second = RunStore(tmp_path / "runs.duckdb")  # a second handle on the same file in the same process
    made: list[list[str]] = [[] for _ in range(8)]
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        handle = store if index % 2 else second
        try:
            for number in range(20):
                run_id = new_run(handle, seed=index * 100 + number)
                handle.append_train_points(run_id, train_rows(3, start=number))
                made[index].append(run_id)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    everyone = [run_id for ids in made for run_id in ids]
    assert len(everyone) == len(set(everyone)) == 160
    assert store.count_runs() == 160
    listed = store.list_runs()
    assert set(listed["run_id"]) == set(everyone)
    assert sorted(listed["seed"]) == sorted(index * 100 + number for index in range(8) for number in range(20))
    connection = duckdb.connect(str(store.path), read_only=True)
    counts = connection.execute("SELECT count(*), count(DISTINCT run_id), sum(step) FROM train_points").fetchall()[0]
    connection.close()
    assert counts == (480, 160, 8 * sum(3 * number + 3 for number in range(20)))


def test_processes_write_at_once(tmp_path):
    path = tmp_path / "new" / "runs.duckdb"  # all four processes race to create it
    script = child_script(
        tmp_path,
        "writer",
        CHILD_HELPERS
        + """
store = RunStore(sys.argv[1])
for number in range(8):
    run_id = new_run(store, sys.argv[2])
    store.append_train_points(run_id, rows(5))
    store.set_eval_points(run_id, [{"length": 4, "n": 10, "exact_match": 1.0, "exact_match_low": 0.7, "exact_match_high": 1.0, "token_accuracy": 1.0}], Breakdown(4, 4))
    print(run_id, flush=True)
""",
    )
    children = [
        subprocess.Popen([sys.executable, str(script), str(path), f"child{index}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for index in range(3)
    ]
    store = RunStore(path)
    mine = []
    for _ in range(8):  # this process writes at the same time
        run_id = new_run(store, tags=["parent"])
        store.append_train_points(run_id, train_rows(2))
        mine.append(run_id)
    reported = {}
    for index, child in enumerate(children):
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        reported[f"child{index}"] = out.split()
    assert store.count_runs() == 32
    for tag, ids in reported.items():
        assert len(ids) == 8
        listed = store.list_runs(tag=tag)
        assert sorted(listed["run_id"]) == sorted(ids)
        assert set(listed["breakdown_length"]) == {4}
    assert sorted(store.list_runs(tag="parent")["run_id"]) == sorted(mine)
    curves = store.eval_curve([run_id for ids in reported.values() for run_id in ids])
    assert len(curves) == 24
    assert all(len(store.train_curve(run_id)) == 5 for run_id in reported["child1"])


@pytest.mark.parametrize("kill_after_s", [0.0, 0.08, 0.3])
def test_killed_writer_loses_only_its_unfinished_call(tmp_path, kill_after_s):
    path = tmp_path / "runs.duckdb"
    RunStore(path)
    script = child_script(
        tmp_path,
        "looper",
        CHILD_HELPERS
        + """
store = RunStore(sys.argv[1])
while True:
    run_id = new_run(store, "loop")
    store.set_status(run_id, "running")
    store.append_train_points(run_id, rows(4))
    store.update_progress(run_id, steps_done=4, train_seconds=0.4)
    store.set_status(run_id, "done")
    print(run_id, flush=True)  # only after the last commit of this run
""",
    )
    child = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = child.stdout.readline()  # the child is writing in a loop now
    assert first, child.stderr.read()
    time.sleep(kill_after_s)
    os.kill(child.pid, signal.SIGKILL)
    rest, _ = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL
    reported = [first.strip()] + rest.split()

    store = RunStore(path)  # opening the store settles the dead writer's run
    for run_id in reported:
        record = store.get_run(run_id)
        assert (record.status, record.steps_done, record.train_seconds) == ("done", 4, 0.4)
        assert store.train_curve(run_id)["step"].tolist() == [0, 1, 2, 3]
    # at most one run was in flight: either its last commit landed before the kill (complete, just
    # not printed), or it was queued/running, and then opening the store marked it interrupted
    unreported = sorted(set(store.list_runs()["run_id"]) - set(reported))
    assert len(unreported) <= 1
    in_flight = [run_id for run_id in unreported if store.get_run(run_id).status == "interrupted"]
    for run_id in set(unreported) - set(in_flight):
        assert store.get_run(run_id).status == "done" and len(store.train_curve(run_id)) == 4
    assert store.list_runs(status="running").empty and store.list_runs(status="queued").empty
    assert store.mark_interrupted() == []
    # and the file is still writable
    run_id = new_run(store)
    store.append_train_points(run_id, train_rows(2))
    assert len(store.train_curve(run_id)) == 2


def test_mark_interrupted_flips_only_dead_owners(tmp_path):
    path = tmp_path / "runs.duckdb"
    store = RunStore(path)
    starter = child_script(
        tmp_path,
        "starter",
        CHILD_HELPERS
        + """
store = RunStore(sys.argv[1])
queued = new_run(store, "dead")
running = new_run(store, "dead")
store.set_status(running, "running")
print(queued, running, flush=True)
if sys.argv[2] == "stay":
    import time
    time.sleep(600)
""",
    )
    finished = subprocess.run([sys.executable, str(starter), str(path), "exit"], capture_output=True, text=True, timeout=120, check=True)
    dead_queued, dead_running = finished.stdout.split()
    staying = subprocess.Popen([sys.executable, str(starter), str(path), "stay"], stdout=subprocess.PIPE, text=True)
    try:
        live_queued, live_running = staying.stdout.readline().split()
        mine = new_run(store)
        store.set_status(mine, "running")
        finished_run = new_run(store)
        store.set_status(finished_run, "cancelled")

        # the staying process settled the dead one's runs when it opened the store
        assert store.mark_interrupted() == []
        for run_id in (dead_queued, dead_running):
            record = store.get_run(run_id)
            assert record.status == "interrupted" and record.finished_at is not None
            assert record.error.startswith("interrupted: its process")
        statuses = {run_id: store.get_run(run_id).status for run_id in (live_queued, live_running, mine, finished_run)}
        assert statuses == {live_queued: "queued", live_running: "running", mine: "running", finished_run: "cancelled"}
        assert store.mark_interrupted() == []
    finally:
        staying.kill()
        staying.wait(timeout=30)
    assert sorted(store.mark_interrupted()) == sorted([live_queued, live_running])
    assert store.get_run(mine).status == "running"


def test_mark_interrupted_sees_reused_pids_and_leaves_other_hosts(tmp_path):
    path = tmp_path / "runs.duckdb"
    store = RunStore(path)
    reused, remote = new_run(store), new_run(store)
    store.set_status(reused, "running")
    store.set_status(remote, "running")
    connection = duckdb.connect(str(path))
    connection.execute("UPDATE runs SET owner_start = owner_start - 1 WHERE run_id = ?", [reused])  # same pid, other process
    connection.execute("UPDATE runs SET owner = 'some-other-host:1' WHERE run_id = ?", [remote])
    connection.close()
    assert store.mark_interrupted() == [reused]
    assert store.get_run(remote).status == "running"


def _hold(tmp_path: pathlib.Path, body: str) -> subprocess.Popen:
    script = child_script(tmp_path, "holder", body)
    holder = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "holding"
    return holder


def test_busy_store_times_out_then_recovers(tmp_path):
    path = tmp_path / "runs.duckdb"
    store = RunStore(path, lock_timeout_s=0.5)
    run_id = new_run(store)
    holder = _hold(
        tmp_path,
        f"""
import fcntl, time
handle = open({str(path) + ".lock"!r}, "a")
fcntl.flock(handle, fcntl.LOCK_EX)
print("holding", flush=True)
time.sleep(3.0)
""",
    )
    try:
        started = time.monotonic()
        with pytest.raises(StoreBusy, match="is busy") as caught:
            store.set_status(run_id, "running")
        assert 0.45 <= time.monotonic() - started < 5
        assert str(path) in str(caught.value)
        with pytest.raises(StoreBusy, match="is busy"):
            store.list_runs()  # readers wait for a writer too
    finally:
        holder.kill()  # the kernel drops a dead process's flock
        holder.wait(timeout=30)
    patient = RunStore(path, lock_timeout_s=30)
    patient.set_status(run_id, "running")  # the lock was released when the holder died
    assert patient.get_run(run_id).status == "running"


def test_waits_for_a_program_that_ignores_the_lock_file(tmp_path):
    path = tmp_path / "runs.duckdb"
    store = RunStore(path, lock_timeout_s=0.4)
    run_id = new_run(store)
    holder = _hold(
        tmp_path,
        f"""
import duckdb, time
connection = duckdb.connect({str(path)!r})  # holds DuckDB's own file lock
print("holding", flush=True)
time.sleep(2.0)
connection.close()
""",
    )
    holding_since = time.monotonic()
    try:
        with pytest.raises(StoreBusy, match="does not use LenGen Lab's lock"):
            store.get_run(run_id)
        assert time.monotonic() - holding_since < 1.6  # so the next call starts while the file is held
        patient = RunStore(path, lock_timeout_s=30)
        patient.set_status(run_id, "running")  # retried until the other program closed the file
        assert time.monotonic() - holding_since > 1.9
    finally:
        holder.wait(timeout=30)
    assert store.get_run(run_id).status == "running"


# ---------------------------------------------------------------------------
# Speed


@pytest.mark.serial  # a time bound or every core
def test_list_runs_of_ten_thousand_runs_is_fast(tmp_path):
    store = RunStore(tmp_path / "runs.duckdb")
    specs = [
        {
            "config": make_config(("reverse", "addition", "parity")[index % 3], ("coupled", "learned")[index % 2]),
            "config_id": f"c{index % 50}",
            "seed": index,
            "code_version": "t",
            "environment": {"device": "cpu"},
            "tags": [f"sweep:{index // 100}"],
        }
        for index in range(10_000)
    ]
    started = time.perf_counter()
    ids = store.create_runs(specs)
    insert_s = time.perf_counter() - started
    assert len(set(ids)) == 10_000 and store.count_runs() == 10_000
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        frame = store.list_runs()
        timings.append(time.perf_counter() - started)
    assert len(frame) == 10_000 and frame["run_id"].iloc[0] == ids[-1] and frame["run_id"].iloc[-1] == ids[0]
    started = time.perf_counter()
    filtered = store.list_runs(task="addition", scheme="learned", limit=100)
    filtered_s = time.perf_counter() - started
    assert len(filtered) == 100 and set(filtered["task"]) == {"addition"}
    best = min(timings)
    print(
        f"\n10k runs: bulk insert {insert_s * 1000:.0f} ms, list_runs best {best * 1000:.1f} ms, median {sorted(timings)[2] * 1000:.1f} ms, filtered {filtered_s * 1000:.1f} ms"
    )
    assert best < 1.0


@pytest.mark.serial  # a time bound or every core
def test_per_call_overhead_is_small(tmp_path):
    store = RunStore(tmp_path / "runs.duckdb")
    run_id = new_run(store)
    reads, writes = [], []
    for step in range(30):
        started = time.perf_counter()
        store.get_run(run_id)
        reads.append(time.perf_counter() - started)
        started = time.perf_counter()
        store.update_progress(run_id, steps_done=step, train_seconds=step * 0.1)
        writes.append(time.perf_counter() - started)
    read_ms, write_ms = sorted(reads)[15] * 1000, sorted(writes)[15] * 1000
    print(f"\nper call (median of 30): get_run {read_ms:.1f} ms, update_progress {write_ms:.1f} ms")
    assert store.get_run(run_id).steps_done == 29
    assert read_ms < 250 and write_ms < 250  # generous: the CI machine is shared


def _forked_writer(store: RunStore, count: int) -> None:
    for _ in range(count):
        run_id = new_run(store, tags=["forked"])
        store.append_train_points(run_id, train_rows(2))


def test_a_store_object_survives_fork(tmp_path):
    """A child forked from a process that holds a store gets its own locks (not the parent's lock descriptor)."""
    import multiprocessing

    store = RunStore(tmp_path / "runs.duckdb")
    new_run(store)  # the parent has used its lock and DuckDB handle before the fork
    child = multiprocessing.get_context("fork").Process(target=_forked_writer, args=(store, 8))
    child.start()
    for _ in range(8):
        run_id = new_run(store, tags=["parent"])
        store.append_train_points(run_id, train_rows(2))
    child.join(timeout=120)
    assert child.exitcode == 0
    assert store.count_runs() == 17
    forked = store.list_runs(tag="forked")["run_id"].tolist()
    assert len(forked) == 8 and all(len(store.train_curve(run_id)) == 2 for run_id in forked)


def test_a_failed_export_leaves_no_temporary_file(tmp_path):
    store = RunStore(tmp_path / "runs.duckdb")
    new_run(store)
    target = tmp_path / "out"
    (target / "runs.csv").mkdir(parents=True)  # the table's file name is taken by a folder: the rename fails
    with pytest.raises(StoreError, match="cannot write export file"):
        store.export(None, target, fmt="csv")
    assert sorted(path.name for path in target.iterdir()) == ["runs.csv"]  # no .tmp left behind
