"""Both stores a run can write to provide every write of :class:`RunSink`, and a run recorded through either
reads back the same (the relay itself is tested in test_remote_records.py)."""

from __future__ import annotations

from lengen_core.remote_records import RecordingStore
from lengen_core.runs.sink import RunSink
from lengen_core.store import RunStore


def test_the_store_and_the_recording_store_are_run_sinks(tmp_path) -> None:
    store = RunStore(tmp_path / "runs.duckdb")
    recorder = RecordingStore(lambda record: None, checkpoint_dir=tmp_path / "worker")
    assert isinstance(store, RunSink)
    assert isinstance(recorder, RunSink)
    assert store.checkpoint_dir == tmp_path / "checkpoints"
    assert recorder.checkpoint_dir == tmp_path / "worker"


def test_an_object_missing_a_write_is_not_a_run_sink() -> None:
    class Partial:
        def set_status(self, run_id: str, status: str, *, error: str | None = None) -> None: ...

    assert not isinstance(Partial(), RunSink)
