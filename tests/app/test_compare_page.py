"""Compare page: a sweep launched from the form goes through the job manager; the grid fills in."""

from __future__ import annotations

from typing import Any

import pytest

from pages.common import get_job_manager, get_store
from tests.conftest import drawn_figure, progress_texts, rendered

COMPARE = "pages/compare.py"


def fill_tiny_form(app: Any, *, tasks: list[str], schemes: list[str], seeds: int = 1, name: str = "t1") -> Any:
    app.text_input(key="compare_page.name").set_value(name)
    app.multiselect(key="compare_page.tasks").set_value(tasks)
    app.multiselect(key="compare_page.schemes").set_value(schemes).run()  # the steps follow the choice (calibration); then ours
    for key, value in {"seeds": seeds, "steps": 20, "train_max": 4, "layers": 1, "d_model": 16, "samples": 5, "batch": 8}.items():
        app.number_input(key=f"compare_page.{key}").set_value(value)
    return app.button(key="compare_page.launch")


def test_empty_store(open_app: Any) -> None:
    app = open_app(COMPARE)
    assert not app.exception and not app.error
    assert app.title[0].value == "Compare"


def test_sweep_from_the_page_fills_the_grid(open_app: Any) -> None:
    app = open_app(COMPARE)
    # sort defines no position-coupling rule: that cell is skipped with a note, the other three run
    fill_tiny_form(app, tasks=["reverse", "sort"], schemes=["rope", "coupled"], seeds=1).click().run()
    assert not app.exception
    assert any("runs submitted" in rendered(element) for element in app.success), [rendered(e) for e in app.error]
    runs = get_store().list_runs(tag="sweep:t1")
    skipped = [rendered(element) for element in app.warning if "Skipped" in element.value]
    assert len(skipped) == 1 and "sort / coupled" in skipped[0] and "positions.scheme" in skipped[0]
    assert len(runs) == 3
    assert all(tags == ["sweep:t1"] for tags in runs["tags"].map(list))
    manager = get_job_manager()
    assert sorted(manager.wait(run_id, timeout=180) for run_id in runs["run_id"]) == ["done"] * len(runs)
    app.run()
    assert not app.exception
    assert app.selectbox(key="compare_page.sweep").value == "sweep:t1"
    assert app.query_params.get("sweep") == "t1"
    figure = drawn_figure(app, "compare_page.grid")
    assert figure.data[0].type == "heatmap"
    assert set(figure.data[0].y) == set(runs["task"])
    table = app.dataframe(key="compare_page.table").value
    texts = table.to_numpy().flatten().tolist()
    assert texts.count("no run") == 1  # the cell no run fills says so (it was left blank)
    assert all(text.endswith(("of 1 learned", "theory agrees", "theory disagrees")) for text in texts if text != "no run")
    summary = [element.value for element in app.markdown if element.value.startswith("3 runs: ")]
    assert summary and "learned their training range" in summary[0]
    # open a cell: its runs and a link to their length sweeps
    label = app.selectbox(key="compare_page.cell").value
    task, scheme = label.split(" / ")
    members = [frame.value for frame in app.dataframe if "seed" in frame.value.columns][0]
    assert len(members) == 1 and set(members["run_id"]) == set(runs[(runs.task == task) & (runs.scheme == scheme)]["run_id"])
    assert any("runs=" in str(link.proto) or "length_sweep" in str(link.proto) for link in app.get("page_link"))


def test_the_same_sweep_launched_again_shares_its_runs_and_its_grid_finds_them(open_app: Any) -> None:
    app = open_app(COMPARE)
    fill_tiny_form(app, tasks=["reverse"], schemes=["rope", "coupled"], seeds=1, name="first").click().run()
    store, manager = get_store(), get_job_manager()
    first = store.list_runs(tag="sweep:first")
    assert len(first) == 2 and sorted(manager.wait(run_id, timeout=180) for run_id in first["run_id"]) == ["done", "done"]
    again = open_app(COMPARE)
    fill_tiny_form(again, tasks=["reverse"], schemes=["rope", "coupled"], seeds=1, name="second").click().run()
    assert not again.exception
    assert any("2 of these runs had the same settings and seed" in rendered(element) for element in again.info)
    assert store.count_runs() == 2  # nothing trained again
    assert set(store.list_runs(tag="sweep:second")["run_id"]) == set(first["run_id"])  # the grid of "second" finds them


def test_table_cell_click_opens_that_cell(open_app: Any, trained_run: Any) -> None:
    trained_run(seed=0)
    trained_run(seed=0, **{"positions.scheme": "rope"})
    app = open_app(COMPARE)
    table = app.dataframe(key="compare_page.table").value
    column = list(table.columns).index("rope")
    app.session_state["compare_page.table"] = {"selection": {"rows": [], "columns": [], "cells": [[0, "rope"]]}}
    app.run()
    assert not app.exception
    assert app.selectbox(key="compare_page.cell").value == f"{table.index[0]} / rope", column


def test_too_many_runs_is_refused(open_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENGEN_APP_MAX_SWEEP_RUNS", "3")
    app = open_app(COMPARE)
    fill_tiny_form(app, tasks=["reverse"], schemes=["rope", "learned"], seeds=2).click().run()
    assert any("sweep.runs" in rendered(element) and "3" in rendered(element) for element in app.error)
    assert get_store().count_runs() == 0


def test_over_cap_steps_in_a_sweep_is_refused(open_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENGEN_APP_MAX_STEPS", "10")
    app = open_app(COMPARE)
    fill_tiny_form(app, tasks=["reverse"], schemes=["rope"]).click().run()
    assert any("train.steps" in rendered(element) and "10" in rendered(element) for element in app.error)
    assert get_store().count_runs() == 0


def test_on_a_ray_server_a_sweep_from_the_page_runs_on_ray_and_fills_the_grid(open_app: Any, ray_cluster: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from pages.common import get_ray_sweeps

    monkeypatch.setenv("LENGEN_RUNNER", "ray")
    monkeypatch.setenv("RAY_ADDRESS", ray_cluster)
    app = open_app(COMPARE)
    fill_tiny_form(app, tasks=["reverse"], schemes=["rope", "coupled"], seeds=1, name="r1").click().run()
    assert not app.exception and not app.error, [rendered(element) for element in app.error]
    assert any("2 runs submitted to Ray" in rendered(element) and ray_cluster in rendered(element) for element in app.success)
    runs = get_store().list_runs(tag="sweep:r1")
    assert len(runs) == 2 and get_job_manager().jobs() == []  # queued in the store, none through the local job manager
    assert any("Running on Ray" in rendered(element) for element in app.caption)  # the runs are still queued: Ray workers start in seconds
    assert [button.label for button in app.button if button.key == "compare_page.cancel_ray"] == ["Cancel this sweep"]
    app.run()  # the sidebar's queue lists the sweep while its driver runs (the job manager does not run it)
    shown_now = [text for text in progress_texts(app) if text.startswith("Ray sweep `r1`")]
    assert shown_now or "r1" not in get_ray_sweeps().running(), progress_texts(app)
    assert all(text.endswith("/2 runs finished") for text in shown_now)
    assert get_ray_sweeps().wait("r1", timeout=180)
    app.run()
    assert not app.exception
    runs = get_store().list_runs(tag="sweep:r1")
    assert runs["status"].tolist() == ["done", "done"]
    assert not [button for button in app.button if button.key == "compare_page.cancel_ray"]  # nothing left to cancel
    figure = drawn_figure(app, "compare_page.grid")
    assert set(figure.data[0].x) == {"rope", "coupled"}
    table = app.dataframe(key="compare_page.table").value
    assert sum(" of 1 learned" in str(text) for text in table.to_numpy().flatten()) == 2  # both cells: their 1 run finished and judged


def test_a_bad_runner_setting_is_refused_naming_the_variable(open_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENGEN_RUNNER", "dask")
    app = open_app(COMPARE)
    fill_tiny_form(app, tasks=["reverse"], schemes=["rope"], seeds=1, name="bad").click().run()
    assert not app.exception
    assert any("LENGEN_RUNNER" in rendered(element) and "dask" in rendered(element) for element in app.error)
    assert get_store().count_runs() == 0


def test_the_launcher_estimates_the_sweep_before_launch_and_stops_runs_when_learned(open_app: Any) -> None:
    app = open_app(COMPARE)
    fill_tiny_form(app, tasks=["reverse"], schemes=["rope", "coupled"], seeds=2)
    assert app.checkbox(key="compare_page.until_learned").value is False  # off by default: stopped cells understate
    app.checkbox(key="compare_page.until_learned").check()
    app.run()
    [estimate] = [rendered(element) for element in app.info if "runs**, about" in element.value]
    assert estimate.startswith("**4 runs**, about **") and " at a time" in estimate and "stop sooner" in estimate
    app.button(key="compare_page.launch").click().run()
    runs = get_store().list_runs(tag="sweep:t1")
    assert len(runs) == 4
    assert all(get_store().get_run(run_id).run_config.train.stop_when_learned for run_id in runs["run_id"])
    manager = get_job_manager()
    assert manager.seconds_left(set(runs["run_id"])) > 0  # queued or running: their estimates still to go
    for run_id in runs["run_id"]:
        manager.wait(run_id, timeout=180)
    assert manager.seconds_left(set(runs["run_id"])) == 0
    assert all(get_store().get_run(run_id).stop_reason for run_id in runs["run_id"])


def test_the_launcher_takes_its_steps_from_the_calibration_and_launches_what_was_calibrated(open_app: Any) -> None:
    from lengen_core.compare_defaults import CALIBRATION, DEFAULT_SCHEMES, DEFAULT_TASKS, launcher_config, suggested_steps

    app = open_app(COMPARE)
    defaults = list(DEFAULT_TASKS), list(DEFAULT_SCHEMES)
    assert all((task, scheme) in CALIBRATION for task in defaults[0] for scheme in defaults[1])  # every default cell measured
    assert app.number_input(key="compare_page.steps").value == suggested_steps(*defaults)
    at_defaults = [rendered(element) for element in app.warning if "calibration" in element.value]
    assert not [note for note in at_defaults if "may end before it does" in note]  # the default steps cover every cell
    assert len(at_defaults) == sum(not CALIBRATION[(t, s)].learned for t in defaults[0] for s in defaults[1])  # only cells a seed missed
    app.multiselect(key="compare_page.schemes").set_value(["coupled"]).run()
    assert app.number_input(key="compare_page.steps").value == suggested_steps(defaults[0], ["coupled"])
    app.number_input(key="compare_page.steps").set_value(10).run()  # below what the calibration needed: said, per cell
    notes = [rendered(element) for element in app.warning if "calibration" in element.value]
    assert len(notes) == len(defaults[0]) and all("may end before it does" in note and "10 may" in note for note in notes)
    app.number_input(key="compare_page.layers").set_value(1).run()
    assert any("layers 1 < 2" in rendered(element) for element in app.warning)
    # what the page launches at its defaults is the config the calibration measured
    app.number_input(key="compare_page.layers").set_value(2)
    app.number_input(key="compare_page.steps").set_value(suggested_steps(defaults[0], ["coupled"]))
    app.number_input(key="compare_page.seeds").set_value(1)
    app.text_input(key="compare_page.name").set_value("cal").run()
    app.button(key="compare_page.launch").click().run()
    runs = get_store().list_runs(tag="sweep:cal")
    manager = get_job_manager()
    for run_id in runs["run_id"]:  # only the configs matter here: stop them
        manager.cancel(run_id)
    assert sorted((row.task, row.config_id) for row in runs.itertuples()) == sorted(
        (task, launcher_config(task, "coupled", steps=suggested_steps(defaults[0], ["coupled"])).config_id) for task in defaults[0]
    )
    for run_id in runs["run_id"]:
        manager.wait(run_id, timeout=120)
