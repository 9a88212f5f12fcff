"""Multi-task runs in the app: the Train page's recipes and mixture field (URL round trip), per-task curves on Length sweep."""

from __future__ import annotations

from typing import Any

import pandas as pd

from lengen_core.config import RunConfig
from lengen_core.params import config_to_params
from pages.common import get_job_manager, get_store
from tests.conftest import TINY_CONFIG_CHANGES, assert_clean, drawn_figure, rendered

TRAIN, SWEEP = "pages/train.py", "pages/length_sweep.py"
MIXTURE_TEXT = "copy_forward_nonunique:1-8,sort:1-3/train-only"


def text_input(app: Any, label: str) -> Any:
    matches = [element for element in app.text_input if element.label == label]
    assert len(matches) == 1, f"no text input {label!r}"
    return matches[0]


def test_a_recipe_fills_the_task_and_its_partners_and_the_link_carries_them(open_app: Any) -> None:
    app = open_app(TRAIN, query_params={"positions.scheme": "predictive_coupled", "task.train_length_max": "8"})
    assert_clean(app)
    recipe = next(element for element in app.selectbox if element.label == "Start from a recipe")
    recipe.set_value("successor_hint").run()
    assert not app.exception
    assert app.session_state["train:task.name"] == "sort"
    assert text_input(app, "Tasks trained beside the main one").value == "sort_successor:1-8"
    assert app.query_params["task.name"] == "sort" and app.query_params["task.mixture"] == "sort_successor:1-8"
    assert any("The paper found: trained on lengths <= 20" in rendered(element) for element in app.caption)
    assert not app.error, [rendered(element) for element in app.error]


def test_a_mixture_link_sets_the_field_and_a_bad_entry_is_refused_by_name(open_app: Any) -> None:
    app = open_app(TRAIN, query_params={"positions.scheme": "learned", "task.mixture": MIXTURE_TEXT})
    assert_clean(app)
    assert text_input(app, "Tasks trained beside the main one").value == MIXTURE_TEXT
    text_input(app, "Tasks trained beside the main one").set_value("copy_forward_nonunique:1-8,nosuch:1-3").run()
    assert not app.exception
    assert any("task.mixture.1.name" in rendered(element) and "unknown task" in rendered(element) for element in app.error)


def test_length_sweep_draws_one_curve_per_tested_task_of_a_mixture(open_app: Any, app_db: Any) -> None:
    mixture = [{"name": "copy_forward_nonunique", "train_length_max": 8}, {"name": "sort", "train_length_max": 3, "evaluate": False}]
    config = RunConfig().replace(**(TINY_CONFIG_CHANGES | {"positions.scheme": "learned", "positions.max_position": 128, "task.mixture": mixture}))
    manager = get_job_manager()
    run_id = manager.submit(config, 0)
    assert manager.wait(run_id, timeout=120) == "done"
    app = open_app(SWEEP, query_params={"runs": run_id})
    assert_clean(app)
    figure = drawn_figure(app, "sweep_page.chart")
    names = [trace.name for trace in figure.data if trace.mode == "lines+markers"]
    assert len(names) == 2 and names[0].endswith("· reverse") and names[1].endswith("· copy_forward_nonunique"), names
    copy_curve = [trace for trace in figure.data if trace.mode == "lines+markers"][1]
    assert max(copy_curve.x) == 32  # 4x its own training range (8), not the main task's (4)
    summary = app.dataframe[0].value
    assert list(summary["trained on"]) == ["1..4", "1..8"]
    assert config_to_params(config)["task.mixture"] == "copy_forward_nonunique:1-8,sort:1-3/train-only"
    # "Sweep further" tests any task of the mixture: here the train-only one, which then gets its own curve.
    target = next(element for element in app.selectbox if element.label == "Run")
    assert f"{run_id} (sort, trained beside reverse / learned)" in target.options
    target.set_value((run_id, "sort")).run()  # the lengths and samples refill for the run picked
    app.text_input(key="sweep_page.extra_lengths").set_value("4, 6")
    app.number_input(key="sweep_page.extra_samples").set_value(3)
    next(button for button in app.button if button.label == "Run extra sweep").click().run()
    assert not app.exception and not app.error, [rendered(element) for element in app.error]
    assert any("extra-1@sort" in rendered(element) for element in app.success)
    [job] = manager.jobs(run_ids={run_id}, sweeps=True)
    assert manager.wait(job["job_id"], timeout=60) == "done"
    app.run()
    curves = [trace for trace in drawn_figure(app, "sweep_page.chart").data if trace.mode == "lines+markers"]
    assert [trace.name.rsplit("· ", 1)[1] for trace in curves] == ["reverse", "copy_forward_nonunique", "sort"]
    assert list(curves[2].x) == [4, 6]
    assert list(app.dataframe[0].value["trained on"]) == ["1..4", "1..8", "1..3"]
    # Compare: the mixture's row, and a row for the other task it tested by its own sweep (not the extra one).
    compare = open_app("pages/compare.py")
    assert_clean(compare)
    table = next(frame.value for frame in compare.dataframe if "learned" in frame.value.columns)
    assert list(table.index) == ["copy_forward_nonunique in reverse + copy_forward_nonunique + sort", "reverse + copy_forward_nonunique + sort"]
    part_sweep = get_store().part_sweeps([run_id]).iloc[0]
    learned = not pd.isna(part_sweep["breakdown_length"]) and part_sweep["breakdown_length"] >= 8
    expected = f"{part_sweep['breakdown_length'] / 8:.1f}x · 1 of 1 learned" if learned else "did not learn · 0 of 1 learned"
    assert table.iloc[0]["learned"] in (expected, "≥ " + expected), table.iloc[0]["learned"]  # no prediction: trained in a mixture
    # Runs: the other tested task's breakdown over its own training range, beside the main task's.
    runs_page = open_app("pages/runs.py")
    assert_clean(runs_page)
    listing = runs_page.dataframe[0].value.set_index("run_id")
    breakdown = "none" if pd.isna(part_sweep["breakdown_length"]) else int(part_sweep["breakdown_length"])
    assert listing.loc[run_id, "part_breakdowns"] == f"copy_forward_nonunique {breakdown}/8"


def test_picking_a_run_to_start_from_copies_its_model_and_the_runs_page_shows_the_lineage(open_app: Any, trained_run: Any) -> None:
    parent = trained_run(**{"model.d_model": 24, "positions.scheme": "rope"})
    app = open_app(TRAIN)
    picker = next(element for element in app.selectbox if element.label == "Start from a finished run (fine-tune)")
    picker.set_value(parent).run()
    assert not app.exception
    assert app.session_state["train:model.d_model"] == 24 and app.session_state["train:positions.scheme"] == "rope"
    assert app.query_params["train.init_from"] == parent
    child = get_job_manager().submit(
        RunConfig().replace(**(TINY_CONFIG_CHANGES | {"model.d_model": 24, "positions.scheme": "rope", "train.init_from": parent})), 0
    )
    assert get_job_manager().wait(child, timeout=120) == "done"
    runs = open_app("pages/runs.py")
    table = runs.dataframe[0].value
    assert table.loc[table["run_id"] == child, "init_from"].tolist() == [parent]


def test_compare_gives_a_mixture_its_own_row_never_pooled_with_its_main_task() -> None:
    from lengen_core.charts.grid import grid_cells, with_partner_rows

    runs = pd.DataFrame(
        [
            {
                "run_id": "a",
                "task": "sort",
                "scheme": "nope",
                "status": "done",
                "breakdown_ratio": 1.5,
                "breakdown_length": 15,
                "train_length_max": 10,
                "longest_tested": 40,
                "train_offset_max": -1,
                "mixture": None,
            },
            {
                "run_id": "b",
                "task": "sort",
                "scheme": "nope",
                "status": "done",
                "breakdown_ratio": 0.5,
                "breakdown_length": 5,
                "train_length_max": 10,
                "longest_tested": 40,
                "train_offset_max": -1,
                "mixture": "sort_successor",
            },
        ]
    )
    cells = grid_cells(runs).set_index("task")
    assert list(cells.index) == ["sort", "sort + sort_successor"]
    assert cells.loc["sort", "run_ids"] == ["a"] and cells.loc["sort + sort_successor", "run_ids"] == ["b"]
    assert cells.loc["sort", "predicted"] is not None and cells.loc["sort + sort_successor", "predicted"] is None
    # The partner's own sweep becomes a row of its own, with its breakdown over its own training range.
    parts = pd.DataFrame(
        [
            {"run_id": "b", "task": "sort_successor", "breakdown_length": 30, "train_length_max": 10, "longest_tested": 40},
            {"run_id": "gone", "task": "x", "breakdown_length": 1, "train_length_max": 1, "longest_tested": 1},
        ]
    )
    expanded = with_partner_rows(runs, parts)
    assert list(expanded["run_task"]) == ["sort", "sort", "sort"]
    cells = grid_cells(expanded).set_index("task")
    assert list(cells.index) == ["sort", "sort + sort_successor", "sort_successor in sort + sort_successor"]
    partner = cells.loc["sort_successor in sort + sort_successor"]
    assert partner["run_ids"] == ["b"] and partner["median_ratio"] == 3.0 and partner["predicted"] is None
    main = cells.loc["sort + sort_successor"]  # the main task's cell is unchanged: its run broke at 5 < 10, so it did not learn
    assert main["not_learned"] == 1 and main["learned"] == 0 and pd.isna(main["median_ratio"])
