"""A run recorded through RecordingStore + apply_records equals the same run written straight into a store."""

from __future__ import annotations

from pathlib import Path

import pytest

from lengen_core.config import RunConfig
from lengen_core.remote_records import ForeignRecord, RecordingStore, apply_records, merge_train_points
from lengen_core.runs.admission import create_run
from lengen_core.runs.execution import execute_run
from lengen_core.store import RunStore
from tests.conftest import TINY_CONFIG_CHANGES


def test_records_applied_by_the_driver_equal_a_run_written_in_place(tmp_path: Path) -> None:
    config = RunConfig().replace(**{**TINY_CONFIG_CHANGES, "train.steps": 20, "train.log_every": 5})
    direct, relayed = RunStore(tmp_path / "direct.duckdb"), RunStore(tmp_path / "relayed.duckdb")
    direct_id, relayed_id = create_run(direct, config, 3), create_run(relayed, config, 3)
    assert execute_run(direct, direct_id, config, 3) == "done"

    sent: list = []
    worker_folder = tmp_path / "worker"
    assert execute_run(RecordingStore(sent.append, checkpoint_dir=worker_folder), relayed_id, config, 3) == "done"
    assert relayed.get_run(relayed_id).status == "queued"  # the worker wrote nothing
    methods = [method for method, _, _ in sent]
    assert methods[0] == "set_status" and methods.count("append_train_points") == 4 and methods[-1] == "set_status"
    writes, dropped = apply_records(relayed, sent, run_ids={relayed_id}, checkpoint_dir=tmp_path / "driver-checkpoints")
    assert dropped == [] and writes < len(sent)  # the four training-point records went in as one write

    ours, theirs = relayed.get_run(relayed_id), direct.get_run(direct_id)
    assert (
        (ours.status, ours.steps_done, ours.breakdown_length)
        == (theirs.status, theirs.steps_done, theirs.breakdown_length)
        == ("done", 20, theirs.breakdown_length)
    )
    assert relayed.train_curve(relayed_id)["loss"].tolist() == pytest.approx(direct.train_curve(direct_id)["loss"].tolist())
    assert relayed.eval_curve([relayed_id])["exact_match"].tolist() == direct.eval_curve([direct_id])["exact_match"].tolist()
    checkpoint = Path(relayed.checkpoint_path(relayed_id))
    assert checkpoint.parent == tmp_path / "driver-checkpoints" and checkpoint.read_bytes() == (worker_folder / checkpoint.name).read_bytes()


def test_a_record_for_another_run_or_a_non_write_is_refused_before_it_is_written(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.duckdb")
    run_id = create_run(store, RunConfig().replace(**TINY_CONFIG_CHANGES), 0)
    with pytest.raises(ForeignRecord, match="does not hold"):
        apply_records(
            store,
            [("set_status", run_id, {"status": "running", "error": None}), ("set_status", "other", {"status": "failed", "error": None})],
            run_ids={run_id},
            checkpoint_dir=tmp_path,
        )
    assert store.get_run(run_id).status == "queued"  # the batch's valid first record was not written either
    with pytest.raises(ForeignRecord, match="not a store write"):
        apply_records(store, [("delete_run", run_id, {})], run_ids={run_id}, checkpoint_dir=tmp_path)
    with pytest.raises(ForeignRecord, match="plain file name"):
        apply_records(
            store,
            [("add_artifact", run_id, {"kind": "checkpoint", "name": "../escape.safetensors", "data": b"x"})],
            run_ids={run_id},
            checkpoint_dir=tmp_path / "c",
        )
    assert not (tmp_path / "escape.safetensors").exists() and store.get_run(run_id).status == "queued"


def test_merging_keeps_each_runs_order_and_its_last_progress() -> None:
    point = lambda step: {"step": step, "loss": 1.0}  # noqa: E731
    records = [
        ("append_train_points", "a", {"rows": [point(5)], "steps_done": 5, "train_seconds": 0.5}),
        ("append_train_points", "b", {"rows": [point(5)], "steps_done": 5, "train_seconds": 0.4}),
        ("append_train_points", "a", {"rows": [point(10)], "steps_done": 10, "train_seconds": 1.0}),
        ("append_train_points", "a", {"rows": [point(15)], "steps_done": None, "train_seconds": None}),
        ("set_eval_points", "a", {"rows": []}),
        ("append_train_points", "a", {"rows": [point(20)], "steps_done": 20, "train_seconds": 2.0}),
    ]
    merged = merge_train_points(records)
    summary = [(method, run, [row["step"] for row in arguments["rows"]], arguments.get("steps_done")) for method, run, arguments in merged]
    assert summary == [
        ("append_train_points", "a", [5, 10, 15], 10),  # b's record in between does not stop the merge
        ("append_train_points", "b", [5], 5),
        ("set_eval_points", "a", [], None),
        ("append_train_points", "a", [20], 20),  # a's own record in between does
    ]
    assert merged[0][2]["train_seconds"] == 1.0


def test_a_refused_record_is_left_out_and_the_rest_of_the_batch_lands(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.duckdb")
    config = RunConfig().replace(**TINY_CONFIG_CHANGES)
    kept, deleted = create_run(store, config, 0), create_run(store, config, 1)
    store.delete_runs([deleted], force=True)  # deleted from the Runs page while its task ran
    records = [
        ("set_status", kept, {"status": "running", "error": None}),
        ("set_status", deleted, {"status": "running", "error": None}),
        ("append_train_points", kept, {"rows": [{"step": 5, "loss": 1.0}], "steps_done": 5, "train_seconds": 0.1}),
    ]
    writes, dropped = apply_records(store, records, run_ids={kept, deleted}, checkpoint_dir=tmp_path)
    assert writes == 2 and len(dropped) == 1 and deleted in dropped[0]
    assert store.get_run(kept).status == "running" and store.train_curve(kept)["step"].tolist() == [5]


def test_a_batch_is_one_transaction(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.duckdb")
    run_id = create_run(store, RunConfig().replace(**TINY_CONFIG_CHANGES), 0)
    with pytest.raises(RuntimeError), store.batch():
        store.set_status(run_id, "running")
        store.append_train_points(run_id, [{"step": 5, "loss": 1.0}], steps_done=5, train_seconds=0.1)
        raise RuntimeError("the driver died mid-batch")
    assert store.get_run(run_id).status == "queued" and store.train_curve(run_id).empty  # none of it landed
    with store.batch():
        store.set_status(run_id, "running")
        store.append_train_points(run_id, [{"step": 5, "loss": 1.0}], steps_done=5, train_seconds=0.1)
    assert store.get_run(run_id).status == "running" and store.get_run(run_id).steps_done == 5


def test_training_points_of_many_runs_land_in_one_write(tmp_path: Path) -> None:
    from lengen_core.store import RunNotFound

    store = RunStore(tmp_path / "runs.duckdb")
    config = RunConfig().replace(**TINY_CONFIG_CHANGES)
    first, second = create_run(store, config, 0), create_run(store, config, 1)
    store.append_train_points_of_runs(
        {first: ([{"step": 5, "loss": 2.0}, {"step": 10, "loss": 1.5}], 10, 1.0), second: ([{"step": 5, "loss": 3.0}], None, None)}
    )
    assert store.train_curve(first)["loss"].tolist() == [2.0, 1.5] and store.train_curve(second)["step"].tolist() == [5]
    assert store.get_run(first).steps_done == 10 and store.get_run(second).steps_done == 0
    with pytest.raises(RunNotFound):
        store.append_train_points_of_runs({first: ([{"step": 15, "loss": 1.0}], 15, 1.5), "nope-run": ([{"step": 5, "loss": 1.0}], 5, 0.1)})
    assert store.train_curve(first)["step"].tolist() == [5, 10] and store.get_run(first).steps_done == 10  # none of it landed
