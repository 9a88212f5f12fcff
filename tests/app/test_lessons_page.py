"""Lessons page: bundled demo runs shown at once (imported once, no job), one button queues real jobs,
the lesson in the URL, the C-RASP labels beside the measurements, and the 'needs HSA' note."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from lengen_core.breakdown import Breakdown
from lengen_core.demo_runs import DEFAULT_DEMO_DIR, load_manifest
from lengen_core.lessons import LESSON_RUNS, LIVE_TAG, get_lesson, run_tag
from lengen_core.theory import OUTCOMES
from pages.common import get_job_manager, get_store
from tests.conftest import assert_clean, drawn_figure, progress_texts, rendered

LESSONS = "pages/lessons.py"

MANIFEST = load_manifest(DEFAULT_DEMO_DIR)
BUNDLED = {entry["key"]: entry for entry in MANIFEST["runs"]}
needs_bundle = pytest.mark.skipif(not {"reverse_learned", "reverse_coupled"} <= set(BUNDLED), reason="data/demo has no bundled runs for the first lesson")


def button(app: Any, label: str) -> Any:
    matches = [element for element in app.button if element.label == label]
    assert matches, f"no button {label!r}"
    return matches[0]


def lines(figure: Any) -> list[Any]:
    return [trace for trace in figure.data if trace.mode == "lines+markers"]


@needs_bundle
def test_bundled_results_show_at_once_without_training(open_app: Any) -> None:
    store = get_store()
    assert store.count_runs() == 0
    app = open_app(LESSONS)
    assert_clean(app)
    assert app.title[0].value == "Lessons" and app.selectbox[0].value == "ape_fails"
    imported = store.count_runs()
    assert imported == len(BUNDLED)  # first use imported the bundle, once
    assert len(store.list_runs(tag="demo")) == imported
    assert get_job_manager().jobs() == []  # nothing trains

    figure = drawn_figure(app, "lessons.chart")
    drawn = {trace.name: trace for trace in lines(figure)}
    lesson = get_lesson("ape_fails")
    assert set(drawn) == {LESSON_RUNS[key].label for key in lesson.runs}
    for key in lesson.runs:
        entry, trace = BUNDLED[key], drawn[LESSON_RUNS[key].label]
        assert list(trace.x) == [point["length"] for point in entry["eval_points"]]
        assert list(trace.y) == pytest.approx([point["exact_match"] for point in entry["eval_points"]])
    breakdowns = {shape.name for shape in figure.layout.shapes if (shape.name or "").startswith("breakdown:")}
    expected = {f"breakdown:{LESSON_RUNS[key].label}" for key in lesson.runs if BUNDLED[key]["breakdown_length"] is not None}
    assert breakdowns == expected
    table = app.dataframe[0].value
    for key, text in zip(lesson.runs, table["breakdown length"]):  # a run that held to its longest length is a bound
        entry = BUNDLED[key]
        longest = max(point["length"] for point in entry["eval_points"])
        stored = Breakdown(entry["breakdown_length"], entry["train_length_max"], longest_tested=longest)
        assert text.split(";")[0].split(")")[0] == str(stored).split(")")[0], key  # the page adds the interval from the points
    assert table["breakdown length"].iloc[0].startswith("8 (1.0x")  # learned APE learned 1-8 and broke right after
    assert table["breakdown length"].iloc[1].startswith("≥ 62 (≥ 7.8x): the position ids end at 63")  # to its table's end
    assert set(table["source"]) == {"bundled demo"}
    assert set(table["n per length"]) == {"100"}  # the lesson's eval.samples_per_length, beside every result
    assert any("What we expected" in element.value for element in app.markdown)

    again = open_app(LESSONS)  # a second visit (new session): still no import, no job
    assert_clean(again)
    assert store.count_runs() == imported and get_job_manager().jobs() == []


@pytest.mark.parametrize(("lesson", "run_key", "partner"), [("transfer_copy", "copy_with_mqar", "mqar"), ("hint_sort", "sortrep_hint", "sort_successor_dense")])
def test_a_recipes_partner_task_is_drawn_and_tabled_beside_its_run(open_app: Any, lesson: str, run_key: str, partner: str) -> None:
    """The takeaways cite how well the partner task was learned; its curve and row show it, with n and its breakdown."""
    [part] = [part for part in BUNDLED[run_key]["part_sweeps"] if part["task"] == partner]
    app = open_app(LESSONS, query_params={"lesson": lesson})
    assert_clean(app)
    label = f"{LESSON_RUNS[run_key].label} · {partner}"
    [trace] = [trace for trace in lines(drawn_figure(app, "lessons.chart")) if trace.name == label]
    assert list(trace.x) == [point["length"] for point in part["eval_points"]]
    assert list(trace.y) == pytest.approx([point["exact_match"] for point in part["eval_points"]])
    table = app.dataframe[0].value
    [row] = table[table["run"] == label].to_dict("records")
    assert row["task"].startswith(partner) and row["n per length"] == "100"
    assert row["breakdown length"].startswith(f"{part['breakdown_length']} (")  # with its interval where the bands leave one
    assert row["× training length"] == f"{part['breakdown_length'] / part['train_length_max']:.1f}x"


def test_retrain_live_queues_real_jobs(open_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import lengen_core.runs.manager as manager_module

    monkeypatch.setattr(manager_module, "PROBE_QUIET_WAIT_S", 0.0)  # the probe waits for no quiet machine (tested in test_shared_runs)
    app = open_app(LESSONS, query_params={"lesson": "randomized"})
    assert_clean(app)
    from lengen_core.costs import duration_text, queue_seconds
    from lengen_core.cpus import usable_cpus
    from pages.caps import max_concurrent_jobs

    assert get_job_manager().wait_warmed_up(timeout=120), "the server measures its speed at start"
    assert get_job_manager().speed.reading().train_observations == 1
    app.run()  # drawn again with the measured speed
    lesson = get_lesson("randomized")
    manager = get_job_manager()
    assert manager.threads_when_busy() == max(1, usable_cpus() // max_concurrent_jobs())
    expected = queue_seconds(
        [manager.estimate_seconds(LESSON_RUNS[key].config(), threads=manager.threads_when_busy()) for key in lesson.runs], max_concurrent_jobs()
    )
    assert any(f"all results in about {duration_text(expected)}" in caption.value for caption in app.caption), "the wait is shown before the press"
    assert any("scaled to this machine: training x" in caption.value for caption in app.caption), "and how it was made"
    store = get_store()
    before = store.count_runs()
    button(app, "Retrain live").click().run()
    assert not app.exception
    lesson = get_lesson("randomized")
    manager = get_job_manager()
    jobs = manager.jobs()
    assert len(jobs) == len(lesson.runs)
    live = store.list_runs(tag=LIVE_TAG)
    assert len(live) == len(lesson.runs) and store.count_runs() == before + len(lesson.runs)
    assert sorted(live["config_id"]) == sorted(LESSON_RUNS[key].config().config_id for key in lesson.runs)
    for key in lesson.runs:
        assert len(store.list_runs(tag=run_tag(key)).query("run_id in @live.run_id")) == 1
    assert set(live["status"]) <= {"queued", "running"}
    assert progress_texts(app), "the live progress is shown"
    for job in jobs:  # real jobs: stop them rather than train for minutes in the test
        manager.cancel(job["run_id"])
    for job in jobs:
        assert manager.wait(job["run_id"], timeout=60) == "cancelled"


def test_two_sessions_retraining_the_same_lesson_share_its_runs(open_app: Any) -> None:
    """A class pressing the same button: the second session joins the first one's jobs; another seed trains."""
    lesson = get_lesson("randomized")
    first, second = open_app(LESSONS, query_params={"lesson": "randomized"}), open_app(LESSONS, query_params={"lesson": "randomized"})
    store = get_store()
    before = store.count_runs()
    button(first, "Retrain live").click().run()
    button(second, "Retrain live").click().run()
    assert not first.exception and not second.exception
    assert store.count_runs() == before + len(lesson.runs)  # trained once for both
    manager = get_job_manager()
    assert [job["holders"] for job in manager.jobs()] == [2] * len(lesson.runs)
    assert any("shared with an identical request" in text for text in progress_texts(second))
    assert not any("shared" in text for text in progress_texts(first))
    third = open_app(LESSONS, query_params={"lesson": "randomized"})
    third.number_input(key="lessons.seed.randomized").set_value(7).run()
    button(third, "Retrain live").click().run()
    assert store.count_runs() == before + 2 * len(lesson.runs)  # another seed: its own runs
    for job in manager.jobs():  # every follower lets go: then the jobs are cancelled
        while not manager.cancel(job["run_id"]):
            pass
    for job in manager.jobs():
        assert manager.wait(job["run_id"], timeout=60) == "cancelled"


def test_on_a_ray_server_a_lesson_retrains_on_ray_with_its_progress_in_the_page(open_app: Any, ray_cluster: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENGEN_RUNNER", "ray")
    monkeypatch.setenv("RAY_ADDRESS", ray_cluster)
    app = open_app(LESSONS, query_params={"lesson": "ape_fails"})
    manager = get_job_manager()
    assert manager.remote is not None and manager.remote.settings.address == ray_cluster
    button(app, "Retrain live").click().run()
    assert_clean(app)
    run_ids = [job["run_id"] for job in manager.jobs()]
    deadline = time.monotonic() + 180
    while not any(re.search(r"step [1-9]\d*/\d+", text) for text in progress_texts(app)):  # logged steps, streamed back from the Ray worker
        assert time.monotonic() < deadline, progress_texts(app)
        time.sleep(0.5)
        app.run()
    assert get_store().get_run(run_ids[0]).status == "running"  # written by this server from the worker's records
    for run_id in run_ids:
        manager.cancel(run_id)
    for run_id in run_ids:
        assert manager.wait(run_id, timeout=60) == "cancelled"


def test_lesson_from_the_url_with_c_rasp_labels(open_app: Any) -> None:
    app = open_app(LESSONS, query_params={"lesson": "c_rasp"})
    assert_clean(app)
    assert app.selectbox[0].value == "c_rasp"
    assert app.header[0].value == get_lesson("c_rasp").title
    lesson = get_lesson("c_rasp")
    if not set(lesson.runs) <= set(BUNDLED):
        pytest.skip("no bundled runs of the theory lesson")
    table = app.dataframe[0].value.set_index("run")
    assert len(table) == 24
    majority, parity = table.loc["majority, APE + offsets"], table.loc["parity, NoPE"]
    assert (majority["NoPE predicts"], majority["APE (random offsets) predicts"]) == ("generalizes", "generalizes")
    assert (parity["NoPE predicts"], parity["APE (random offsets) predicts"]) == ("fails", "fails")
    assert majority["this run's setting"] == "APE with random offsets" and parity["this run's setting"] == "NoPE"
    copy_nope = table.loc["copy_unique, NoPE"]
    assert (copy_nope["NoPE predicts"], copy_nope["APE (random offsets) predicts"]) == ("fails", "generalizes")
    assert set(table["agrees"]) <= {"agrees", "DISAGREES", "did not learn"} and set(table["measured"]) <= set(OUTCOMES)
    assert (table["agrees"] == "did not learn").sum() == (table["measured"] == "did not learn").sum()
    counts = table["agrees"].value_counts()
    expected = f"{counts.get('agrees', 0)} hold · {counts.get('DISAGREES', 0)} do not hold · {counts.get('did not learn', 0)} did not learn their range"
    assert any(expected in element.value for element in app.markdown), expected  # the tally counts each verdict apart
    app.selectbox[0].set_value("ape_fails").run()
    assert app.query_params["lesson"] == "ape_fails"


def test_hsa_lesson_says_it_needs_hsa_when_hsa_is_missing(open_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import lengen_core.lessons as lessons

    monkeypatch.setattr(lessons, "feature_available", lambda feature: (False, "hierarchical sparse attention is not part of this installation yet"))
    app = open_app(LESSONS, query_params={"lesson": "hsa_needle"})
    assert not app.exception
    assert any("Needs HSA" in rendered(element) for element in app.warning)
    assert button(app, "Retrain live").disabled
    assert get_job_manager().jobs() == []


def test_retrain_live_keeps_each_runs_seed_unless_one_is_given(open_app: Any) -> None:
    app = open_app(LESSONS, query_params={"lesson": "c_rasp"})
    assert_clean(app)
    lesson = get_lesson("c_rasp")
    seeds = {LESSON_RUNS[key].config().config_id: LESSON_RUNS[key].seed for key in lesson.runs}
    assert len(set(seeds.values())) > 1, "the theory lesson bundles runs of more than one seed"
    button(app, "Retrain live").click().run()
    live = get_store().list_runs(tag=LIVE_TAG)
    manager = get_job_manager()
    for run_id in live["run_id"]:  # real jobs: stop them, only their seeds matter here
        manager.cancel(run_id)
    assert {row.config_id: row.seed for row in live.itertuples()} == seeds
    for run_id in live["run_id"]:
        manager.wait(run_id, timeout=60)
