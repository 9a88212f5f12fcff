"""Runs page: filters <-> URL, baseline pin, config diff, delete with confirmation, export."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pandas as pd
import pytest

from lengen_core.config import RunConfig
from lengen_core.params import config_diff
from lengen_core.runs.provenance import code_version
from pages.common import get_store
from tests.conftest import TINY_CONFIG_CHANGES, rendered

RUNS = "pages/runs.py"


def seed_runs(store: Any) -> list[str]:
    """Four recorded runs (no training needed): two tasks, two schemes, mixed statuses."""
    base = RunConfig().replace(**TINY_CONFIG_CHANGES)
    specs = []
    for task, scheme, status, name in [
        ("reverse", "coupled", "done", "alpha"),
        ("reverse", "rope", "failed", "beta"),
        ("addition", "coupled", "done", "gamma"),
        ("addition", "learned", "cancelled", "delta"),
    ]:
        config = base.replace(**{"task.name": task, "task.options": {}, "positions.scheme": scheme})
        specs.append(
            {
                "config": config.to_dict(),
                "config_id": config.config_id,
                "seed": len(specs),
                "code_version": code_version(),
                "environment": {},
                "status": status,
                "name": name,
                "tags": ["sweep:demo"] if task == "addition" else [],
            }
        )
    return store.create_runs(specs)


def table(app: Any) -> pd.DataFrame:
    return app.dataframe(key="runs_page.table").value


def select_rows(app: Any, rows: list[int]) -> Any:
    app.session_state["runs_page.table"] = {"selection": {"rows": rows, "columns": []}}
    return app.run()


def button(app: Any, label_start: str) -> Any:
    matches = [element for element in app.button if element.label.startswith(label_start)]
    assert matches, f"no button {label_start!r}; have {[b.label for b in app.button]}"
    return matches[0]


def test_all_runs_listed_newest_first(open_app: Any) -> None:
    ids = seed_runs(get_store())
    app = open_app(RUNS)
    assert not app.exception and not app.error
    assert app.title[0].value == "Runs"
    assert table(app)["run_id"].tolist() == ids[::-1]
    assert table(app)[["stop_reason", "init_from", "mixture"]].map(repr).eq("''").all().all()  # blank, not "None"


def test_filters_from_and_to_the_url(open_app: Any) -> None:
    ids = seed_runs(get_store())
    app = open_app(RUNS, query_params={"status": "done", "task": "addition"})
    assert app.multiselect(key="runs_page.status").value == ["done"]
    assert table(app)["run_id"].tolist() == [ids[2]]
    app.multiselect(key="runs_page.task").set_value([]).run()
    assert sorted(table(app)["run_id"]) == sorted([ids[0], ids[2]])
    assert app.query_params == {"status": "done"}
    app.multiselect(key="runs_page.scheme").set_value(["coupled"]).run()
    app.text_input(key="runs_page.q").set_value("ALPH").run()
    assert table(app)["run_id"].tolist() == [ids[0]]
    assert app.query_params == {"status": "done", "scheme": "coupled", "q": "ALPH"}
    app.text_input(key="runs_page.q").set_value("sweep:demo").run()  # tags are searched too
    assert table(app)["run_id"].tolist() == [ids[2]]


def test_pin_baseline_and_diff(open_app: Any) -> None:
    ids = seed_runs(get_store())
    app = open_app(RUNS)
    order = table(app)["run_id"].tolist()
    select_rows(app, [order.index(ids[0])])
    button(app, "Pin selected").click().run()
    assert app.session_state["runs_page.baseline"] == ids[0]
    assert app.query_params.get("baseline") == ids[0]
    assert any(ids[0] in rendered(element) for element in app.info)
    assert table(app).iloc[order.index(ids[0])]["baseline"] == "★"
    select_rows(app, [order.index(ids[1])])  # baseline + one selected run: their diff
    diff = [frame.value for frame in app.dataframe if "field" in frame.value.columns][0]
    assert diff["field"].tolist() == ["positions.scheme", "seed"]
    row = diff[diff["field"] == "positions.scheme"].iloc[0]
    assert (row[ids[0]], row[ids[1]]) == ("coupled", "rope")
    select_rows(app, [order.index(ids[3])])  # another task: its options differ too
    diff = [frame.value for frame in app.dataframe if "field" in frame.value.columns][0]
    assert {"task.name", "positions.scheme", "seed"} <= set(diff["field"])


def test_baseline_from_the_url(open_app: Any) -> None:
    ids = seed_runs(get_store())
    app = open_app(RUNS, query_params={"baseline": ids[1]})
    assert app.session_state["runs_page.baseline"] == ids[1]
    assert any(ids[1] in rendered(element) and "failed" in rendered(element) for element in app.info)


def test_delete_needs_confirmation(open_app: Any) -> None:
    ids = seed_runs(get_store())
    app = open_app(RUNS)
    order = table(app)["run_id"].tolist()
    select_rows(app, [order.index(ids[1]), order.index(ids[3])])
    button(app, "Delete 2 selected").click().run()
    assert get_store().count_runs() == 4  # nothing deleted before confirming
    assert any("Delete 2 run(s) permanently" in rendered(element) for element in app.warning)
    button(app, "Cancel").click().run()
    assert get_store().count_runs() == 4
    select_rows(app, [order.index(ids[1]), order.index(ids[3])])
    button(app, "Delete 2 selected").click().run()
    button(app, "Yes, delete").click().run()
    assert not app.exception
    assert get_store().count_runs() == 2
    assert sorted(table(app)["run_id"]) == sorted([ids[0], ids[2]])
    assert any("Deleted 2" in rendered(element) for element in app.success)


def test_running_runs_cannot_be_deleted(open_app: Any) -> None:
    store = get_store()
    ids = seed_runs(store)
    config = RunConfig().replace(**TINY_CONFIG_CHANGES)
    running = store.create_run(config=config.to_dict(), config_id=config.config_id, seed=9, code_version="t", environment={}, status="running")
    app = open_app(RUNS)
    select_rows(app, [table(app)["run_id"].tolist().index(running)])
    button(app, "Delete 1 selected").click().run()
    assert any("still queued or running" in rendered(element) for element in app.error)
    assert store.count_runs() == len(ids) + 1


def test_export_offers_a_zip_of_parquet_or_csv(open_app: Any, trained_run: Any) -> None:
    run_id = trained_run()
    store = get_store()
    for fmt in ("parquet", "csv"):
        name, data, mime = store.export_download([run_id], fmt)
        assert name.endswith(".zip") and mime == "application/zip"
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = sorted(archive.namelist())
            assert names == sorted(f"{table}.{fmt}" for table in ("runs", "train_curve", "eval_curve", "artifacts"))
            raw = archive.read(f"eval_curve.{fmt}")
        frame = (
            pd.read_parquet(io.BytesIO(raw)) if fmt == "parquet" else pd.read_csv(io.BytesIO(raw), dtype={"run_id": str})
        )  # an id like 50e885034980 reads as a float otherwise
        assert frame["run_id"].unique().tolist() == [run_id] and len(frame) == len(store.eval_curve([run_id]))
    app = open_app(RUNS)
    downloads = app.get("download_button")
    assert len(downloads) == 1 and "all 1 matching" in str(downloads[0].proto)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ({"model": {"n_layers": 2}}, {"model": {"n_layers": 2}}, []),
        ({"model": {"n_layers": 2}, "train": {"lr": 1e-3}}, {"model": {"n_layers": 3}, "train": {"lr": 0.001}}, [("model.n_layers", 2, 3)]),
        ({"train": {"time_budget_s": 60}}, {"train": {"time_budget_s": 60.0}}, []),
        ({"task": {"index_hints": True}}, {"task": {"index_hints": 1}}, [("task.index_hints", True, 1)]),
        ({"task": {"options": {"a": 1}}}, {"task": {"options": {}}}, [("task.options", None, {}), ("task.options.a", 1, None)]),
    ],
)
def test_config_diff(a: dict, b: dict, expected: list) -> None:
    assert config_diff(a, b) == expected
