"""Length sweep page: run picker <-> ?runs=, the chart's content, extra sweeps in the background."""

from __future__ import annotations

from typing import Any

import pytest

from lengen_core.breakdown import Breakdown
from pages.common import get_job_manager, get_store
from tests.conftest import assert_clean, drawn_figure, rendered

SWEEP = "pages/length_sweep.py"


def figure_of(app: Any, key: str = "sweep_page.chart") -> Any:
    """The drawn plotly figure, rebuilt from what the page sent."""
    return drawn_figure(app, key)


def lines(figure: Any) -> list[Any]:
    return [trace for trace in figure.data if trace.mode == "lines+markers"]


def submit(app: Any, label: str) -> Any:
    buttons = [button for button in [*app.button, *app.form_submit_button] if button.label == label]
    assert buttons, f"no button {label!r}"
    return buttons[0]


def test_empty_store_explains_what_to_do(open_app: Any) -> None:
    app = open_app(SWEEP)
    assert_clean(app)
    assert app.title[0].value == "Length sweep"
    assert any("No finished runs yet" in rendered(element) for element in app.info)


def test_default_is_the_newest_done_run_and_the_url_follows(open_app: Any, trained_run: Any) -> None:
    older = trained_run(seed=0)
    newer = trained_run(seed=1, **{"positions.scheme": "rope"})
    app = open_app(SWEEP)
    assert_clean(app)
    assert app.multiselect[0].value == [newer]
    assert app.query_params == {"runs": newer}
    drawn = lines(figure_of(app))
    assert len(drawn) == 1 and drawn[0].line.color == "#9467bd"  # rope's colour
    eval_points = get_store().eval_curve([newer])
    assert list(drawn[0].x) == eval_points["length"].tolist()
    assert list(drawn[0].y) == pytest.approx(eval_points["exact_match"].tolist())
    app.multiselect[0].set_value([older, newer]).run()
    assert app.query_params == {"runs": f"{older},{newer}"}
    assert len(lines(figure_of(app))) == 2


def test_runs_from_the_url_and_unknown_ids(open_app: Any, trained_run: Any) -> None:
    first, second = trained_run(seed=0), trained_run(seed=1)
    app = open_app(SWEEP, query_params={"runs": f"{first},nosuchrun"})
    assert not app.exception
    assert app.multiselect[0].value == [first]
    assert any("nosuchrun" in rendered(element) for element in app.warning)
    figure = figure_of(app)
    train_range = [shape for shape in figure.layout.shapes if shape.name == "train-range"]
    assert len(train_range) == 1 and (train_range[0].x0, train_range[0].x1) == (0.5, 4.5)
    bands = [trace for trace in figure.data if trace.fill == "toself"]
    assert len(bands) == 1
    assert second not in app.multiselect[0].value


def test_named_and_unnamed_runs_with_an_unknown_id_in_the_url(open_app: Any, trained_run: Any) -> None:
    """A missing name is no name: with named and unnamed runs listed and an unknown id in the link
    (whose empty lookup once turned missing names into NaN), the picker labels every run."""
    named, unnamed = trained_run(seed=0, name="my run"), trained_run(seed=1)
    app = open_app(SWEEP, query_params={"runs": f"{unnamed},nosuchrun"})
    assert not app.exception
    assert app.multiselect[0].value == [unnamed]
    labels = {option.split(" · ")[0]: option for option in app.multiselect[0].options}
    assert labels[named].startswith(f"{named} · my run · ") and "nan" not in labels[unnamed]


def test_view_toggle_and_bands(open_app: Any, trained_run: Any) -> None:
    trained_run()
    app = open_app(SWEEP)
    app.checkbox(key="sweep_page.bands").uncheck().run()
    assert not [trace for trace in figure_of(app).data if trace.fill == "toself"]
    app.segmented_control[0].set_value("Both").run()
    figure = figure_of(app)
    assert {trace.yaxis or "y" for trace in figure.data} == {"y", "y2"}
    assert "per-token" in figure.layout.yaxis2.title.text


def test_extra_sweep_runs_in_the_background_and_joins_the_chart(open_app: Any, trained_run: Any) -> None:
    run_id = trained_run()
    headline = get_store().get_run(run_id).breakdown_length
    app = open_app(SWEEP)
    app.text_input(key="sweep_page.extra_lengths").set_value("20, 24")
    app.number_input(key="sweep_page.extra_samples").set_value(4)
    submit(app, "Run extra sweep").click().run()
    assert not app.exception
    assert any("extra-1" in rendered(element) for element in app.success)
    manager = get_job_manager()
    [job] = manager.jobs(run_ids={run_id}, sweeps=True)
    assert job["sweep"] == "extra-1"
    assert manager.wait(job["job_id"], timeout=60) == "done"
    stored = get_store().eval_curve([run_id], sweep="extra-1")
    assert stored["length"].tolist() == [20, 24] and stored["n"].tolist() == [4, 4]
    assert get_store().get_run(run_id).breakdown_length == headline  # the run's own sweep is untouched
    assert get_store().sweeps(run_id)["sweep"].tolist() == ["default", "extra-1"]
    app.run()
    assert {20, 24} <= set(lines(figure_of(app))[0].x)
    app.checkbox(key="sweep_page.extra").uncheck().run()
    assert 24 not in set(lines(figure_of(app))[0].x)


@pytest.mark.parametrize(("lengths", "field"), [("20, x", "eval.lengths"), ("600", "eval.lengths"), ("", "eval.lengths")])
def test_bad_extra_sweep_lengths_name_the_field(open_app: Any, trained_run: Any, lengths: str, field: str) -> None:
    run_id = trained_run()
    app = open_app(SWEEP)
    app.text_input(key="sweep_page.extra_lengths").set_value(lengths)
    submit(app, "Run extra sweep").click().run()
    assert not app.exception
    assert any(field in rendered(element) for element in app.error), [rendered(element) for element in app.error]
    assert get_job_manager().jobs(run_ids={run_id}, sweeps=True) == []


def test_the_summary_puts_the_prediction_beside_the_measurement(open_app: Any, trained_run: Any) -> None:
    run_id = trained_run(seed=0, **{"task.name": "majority", "positions.scheme": "nope", "task.train_length_min": 1})
    app = open_app(SWEEP, query_params={"runs": run_id})
    assert_clean(app)
    summary = app.dataframe[0].value
    record = get_store().get_run(run_id)
    from lengen_core.theory import check_run

    check = check_run(record.run_config, record.breakdown_length, int(get_store().eval_curve([run_id])["length"].max()))
    assert summary["predicted"].tolist() == ["generalizes"]  # majority has a C-RASP program
    assert summary["by"].tolist() == ["NoPE: a C-RASP program"]
    assert summary["measured"].tolist() == [check.outcome.verdict]
    assert summary["agrees"].tolist() == [{True: "yes", False: "NO", None: "-"}[check.agrees]]
    # n beside the result, and the prediction and the measurement among the first columns (no sideways scroll to them)
    assert summary["n per length"].tolist() == [str(record.run_config.eval.samples_per_length)]
    assert list(summary.columns).index("predicted") < 6 and list(summary.columns).index("agrees") < 8


def test_a_run_that_never_broke_reads_as_a_bound_with_its_reason(open_app: Any) -> None:
    from lengen_core.config import RunConfig
    from lengen_core.evaluation import wilson_interval

    store = get_store()
    config = RunConfig().replace(**{"positions.max_position": 24, "eval.lengths": [5, 10]})
    run_id = store.create_run(config=config.to_dict(), config_id=config.config_id, seed=0, code_version="test", environment={})
    store.set_status(run_id, "running")
    rows = [
        {"length": n, "n": 100, "exact_match": 1.0, "exact_match_low": wilson_interval(100, 100)[0], "exact_match_high": 1.0, "token_accuracy": 1.0}
        for n in (5, 10, 20, 22)
    ]
    reason = "the position ids end at 23 (positions.max_position)"
    store.set_eval_points(run_id, rows, Breakdown(22, 10, low=22, high=22, bound_reason=reason))
    store.set_status(run_id, "done")
    app = open_app(SWEEP, query_params={"runs": run_id})
    assert_clean(app)
    summary = app.dataframe[0].value
    assert summary["breakdown length"].tolist() == [f"≥ 22 (≥ 2.2x): {reason}"]
    assert summary["breakdown / train length"].tolist() == ["≥ 2.2x"]
    annotations = [annotation.text for annotation in figure_of(app).layout.annotations]
    assert "breakdown ≥ 22" in annotations


def test_sweep_further_fills_in_lengths_for_the_run_picked_and_skips_runs_without_a_checkpoint(open_app: Any, trained_run: Any) -> None:
    """Suggestions follow the run picked (they came from the first run whichever was picked) and stay within what it can
    be tested at; a run whose checkpoint is not on disk (most bundled runs) is not offered: its sweep could only fail."""
    from lengen_core.length_search import suggested_extra_lengths

    short, long = trained_run(seed=0), trained_run(seed=1, **{"eval.lengths": [2, 4, 6, 12]})
    app = open_app(SWEEP, query_params={"runs": f"{short},{long}"})
    assert_clean(app)
    store, budget = get_store(), get_job_manager().budget

    def suggestion(run_id: str) -> str:
        tested = int(store.eval_curve([run_id])["length"].max())
        return ",".join(str(length) for length in suggested_extra_lengths(store.get_run(run_id).run_config, "", tested, budget)[0])

    target = next(element for element in app.selectbox if element.label == "Run")
    assert app.text_input(key="sweep_page.extra_lengths").value == suggestion(target.value[0])
    other = long if target.value[0] == short else short
    target.set_value((other, "")).run()
    assert app.text_input(key="sweep_page.extra_lengths").value == suggestion(other) != suggestion(short if other == long else long)

    from pathlib import Path

    for run_id in (short, long):
        Path(str(store.checkpoint_path(run_id))).unlink()
    app = open_app(SWEEP, query_params={"runs": f"{short},{long}"})
    assert_clean(app)
    assert not [button for button in app.button if button.label == "Run extra sweep"]
    assert any("has its checkpoint on this machine" in rendered(element) for element in app.info)
