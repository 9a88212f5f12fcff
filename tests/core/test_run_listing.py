"""What the Runs and Compare pages list (lengen_core.run_listing), on a real run store in a temp dir."""

from __future__ import annotations

import time

from lengen_core.breakdown import Breakdown
from lengen_core.config import RunConfig
from lengen_core.run_listing import breakdown_texts, filter_runs, part_breakdown_texts, sweep_tags
from lengen_core.store import RunStore
from tests.core.test_store import eval_rows


def stored_run(store: RunStore, config: RunConfig, *, name: str | None = None, tags: list[str] | None = None) -> str:
    return store.create_run(config=config.to_dict(), config_id=config.config_id, seed=0, code_version="t", environment={}, name=name, tags=tags or [])


def test_filters_breakdowns_and_sweeps_of_a_real_store(tmp_path):
    store = RunStore(tmp_path / "runs.duckdb")
    reverse = RunConfig().replace(**{"task.name": "reverse", "positions.scheme": "rope", "task.train_length_max": 8})
    sort = RunConfig().replace(**{"task.name": "sort", "positions.scheme": "nope", "task.train_length_max": 8})
    mixture = reverse.replace(**{"task.mixture": [{"name": "copy_unique", "train_length_min": 1, "train_length_max": 16}]})
    held = stored_run(store, reverse, name="long one", tags=["sweep:first"])
    time.sleep(0.01)
    broke = stored_run(store, sort, tags=["sweep:second", "mine"])
    mixed = stored_run(store, mixture, tags=["sweep:second"])
    queued = stored_run(store, sort)
    for run_id in (held, broke, mixed):
        store.set_status(run_id, "running")
        store.set_status(run_id, "done")
    store.set_eval_points(held, eval_rows([8, 16, 32, 64]), Breakdown(32, 8, low=28, high=36))
    store.set_eval_points(broke, eval_rows([8, 16], accuracy=0.2), Breakdown(None, 8))
    store.set_eval_points(mixed, eval_rows([8]), Breakdown(8, 8))
    store.set_eval_points(mixed, eval_rows([16, 24]), Breakdown(24, 16), sweep="default@copy_unique")
    runs = store.list_runs()

    assert set(filter_runs(runs, statuses=["done"], tasks=[], schemes=[], text="")["run_id"]) == {held, broke, mixed}
    assert list(filter_runs(runs, statuses=[], tasks=["sort"], schemes=["nope"], text="MINE")["run_id"]) == [broke]
    assert list(filter_runs(runs, statuses=[], tasks=[], schemes=[], text="long ONE")["run_id"]) == [held]
    assert filter_runs(runs, statuses=["failed"], tasks=[], schemes=[], text="").empty

    texts = dict(zip(runs["run_id"], breakdown_texts(runs)))
    assert texts[held].startswith("32 (4.0x; interval 28-36)")
    assert texts[broke].startswith("none")
    assert texts[queued] == ""
    assert part_breakdown_texts(store, runs) == {mixed: "copy_unique 24/16"}

    assert sweep_tags(runs) == ["sweep:second", "sweep:first"]  # newest sweep first
    assert sweep_tags(runs.iloc[0:0]) == []
