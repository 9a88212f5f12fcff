"""Train page: URL <-> widgets, server-side caps and config errors, a real run through the job manager."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from lengen_core.config import RunConfig
from lengen_core.params import config_to_params
from pages.common import get_job_manager, get_store
from tests.conftest import TINY_CONFIG_CHANGES, progress_texts, rendered

TRAIN = "pages/train.py"


def widget(app: Any, dotted: str) -> Any:
    return app.session_state[f"train:{dotted}"]


def number(app: Any, label: str) -> Any:
    matches = [element for element in app.number_input if element.label == label]
    assert len(matches) == 1, f"no number input {label!r}"
    return matches[0]


def button(app: Any, label: str) -> Any:
    matches = [element for element in app.button if element.label == label]
    assert matches, f"no button {label!r}; have {[b.label for b in app.button]}"
    return matches[0]


def errors(app: Any) -> list[str]:
    return [rendered(element) for element in app.error]


def assert_no_exception(app: Any) -> None:
    assert not app.exception, [element.value for element in app.exception]


def tiny_params(**extra: str) -> dict[str, str]:
    return {**config_to_params(RunConfig().replace(**TINY_CONFIG_CHANGES)), **extra}


def test_defaults_give_a_clean_url_and_an_intro(open_app: Any) -> None:
    app = open_app(TRAIN)
    assert_no_exception(app)
    assert app.title[0].value == "Train"
    assert app.caption[0].value.startswith("Pick a task")
    assert app.query_params == {}
    assert number(app, "Steps").value == RunConfig().train.steps
    assert not errors(app)


def test_the_time_to_result_is_estimated_before_start(open_app: Any) -> None:
    def estimate(app: Any) -> str:
        [text] = [rendered(element) for element in app.info if "Result in about" in rendered(element)]
        return text

    short = estimate(open_app(TRAIN, query_params=tiny_params(**{"train.steps": "100"})))
    long = estimate(open_app(TRAIN, query_params=tiny_params(**{"train.steps": "20000"})))
    assert "training about" in short and "length sweep about" in short
    assert short != long and ("min" in long or " h" in long)  # 200x the steps (the app's cap): minutes, not seconds
    # one time on the page: the caption under it names the scaling and the memory, not the unscaled model's seconds
    app = open_app(TRAIN, query_params=tiny_params(**{"train.steps": "100"}))
    [caption] = [element.value for element in app.caption if "Cost check passed" in element.value]
    assert "peak memory about" in caption and "training about" not in caption and "Times are the cost model scaled" in caption


def test_query_params_set_the_widgets(open_app: Any) -> None:
    app = open_app(TRAIN, query_params={"model.n_layers": "3", "train.steps": "123", "positions.scheme": "rope", "seed": "7", "train.lr": "0.0003"})
    assert_no_exception(app)
    assert number(app, "Layers").value == 3
    assert number(app, "Steps").value == 123
    assert number(app, "Seed").value == 7
    assert [box.value for box in app.selectbox if box.label == "Position scheme"] == ["rope"]
    assert widget(app, "train.lr") == pytest.approx(3e-4)
    # untouched by the page: the URL still says exactly what the widgets say
    assert app.query_params == {"model.n_layers": "3", "train.steps": "123", "positions.scheme": "rope", "seed": "7", "train.lr": "0.0003"}


def test_changing_widgets_updates_the_url(open_app: Any) -> None:
    app = open_app(TRAIN)
    number(app, "Layers").set_value(4).run()
    assert app.query_params == {"model.n_layers": "4"}
    [box for box in app.selectbox if box.label == "Attention"][0].set_value("hsa").run()
    number(app, "HSA chunk size").set_value(8).run()
    assert app.query_params == {"model.n_layers": "4", "model.attention": "hsa", "model.hsa.chunk_size": "8"}
    number(app, "Layers").set_value(RunConfig().model.n_layers).run()
    assert "model.n_layers" not in app.query_params  # back to the default: dropped from the link
    number(app, "Seed").set_value(5).run()
    assert app.query_params["seed"] == "5"
    assert_no_exception(app)


def test_distractor_examples_and_length_scaling_have_widgets_tied_to_the_url(open_app: Any) -> None:
    app = open_app(TRAIN, query_params={"train.distractor_examples": "1"})  # the default is 2
    assert_no_exception(app)
    assert number(app, "Distractor examples per training row").value == 1
    [box for box in app.selectbox if box.label == "Attention length scaling"][0].set_value("log").run()
    assert app.query_params == {"train.distractor_examples": "1", "model.length_scaling": "log"}
    number(app, "Distractor examples per training row").set_value(9).run()
    assert any("train.distractor_examples" in text and "between 0 and 8" in text for text in errors(app)), errors(app)


def test_fields_without_a_widget_survive_in_the_url(open_app: Any) -> None:
    app = open_app(TRAIN, query_params={"train.weight_decay": "0.05", "eval.lengths": "5,10,20"})
    number(app, "Layers").set_value(3).run()
    assert app.query_params == {"train.weight_decay": "0.05", "eval.lengths": "5,10,20", "model.n_layers": "3"}


def test_bad_link_shows_an_error_naming_the_field_and_falls_back(open_app: Any) -> None:
    app = open_app(TRAIN, query_params={"model.n_layers": "lots"})
    assert_no_exception(app)
    assert any("model.n_layers" in message for message in errors(app))
    assert number(app, "Layers").value == RunConfig().model.n_layers


def test_a_seed_beyond_exact_integers_in_a_link_is_refused_not_replaced(open_app: Any) -> None:
    """Before: a link with seed 2**60 trained seed 0 without a word. Now it says so, and the page keeps seed 0 visibly."""
    app = open_app(TRAIN, query_params={"seed": str(2**60), "model.n_layers": "3"})
    assert_no_exception(app)
    assert any("**seed**: must be between 0 and 9007199254740991, got 1152921504606846976" in message for message in errors(app)), errors(app)
    assert number(app, "Seed").value == 0 and number(app, "Layers").value == 3  # only the bad field takes its default


def test_the_cost_check_refuses_a_run_too_big_for_this_machine(open_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENGEN_JOB_MEMORY_GB", "0.05")
    from pages.common import shutdown_resources

    shutdown_resources()  # the job manager reads the budget when it is made
    app = open_app(TRAIN, query_params={**tiny_params(), "train.batch_size": "256", "model.d_model": "256"})
    messages = errors(app)
    assert any("train.batch_size" in message and "LENGEN_JOB_MEMORY_GB" in message for message in messages), messages
    before = get_store().count_runs()
    button(app, "Start training").click().run()
    assert_no_exception(app)
    assert get_store().count_runs() == before


def test_steps_over_the_app_cap_is_refused(open_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENGEN_APP_MAX_STEPS", "500")
    app = open_app(TRAIN, query_params=tiny_params())
    number(app, "Steps").set_value(501).run()
    messages = errors(app)
    assert any("train.steps" in message and "500" in message and "LENGEN_APP_MAX_STEPS" in message for message in messages), messages
    before = get_store().count_runs()
    button(app, "Start training").click().run()
    assert_no_exception(app)
    assert get_store().count_runs() == before
    assert get_job_manager().jobs() == []
    assert any("Not started" in message for message in errors(app))


def test_model_size_caps(open_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENGEN_APP_MAX_LAYERS", "2")
    app = open_app(TRAIN, query_params=tiny_params())
    number(app, "Layers").set_value(3).run()
    assert any("model.n_layers" in message and "2" in message for message in errors(app))
    number(app, "Layers").set_value(20).run()  # above lengen_core's own LIMITS too
    assert any("model.n_layers" in message and "12" in message for message in errors(app))
    button(app, "Start training").click().run()
    assert get_store().count_runs() == 0


def test_train_length_min_above_max_is_refused(open_app: Any) -> None:
    app = open_app(TRAIN, query_params=tiny_params())
    number(app, "Train lengths from").set_value(9).run()
    assert any("task.train_length_min" in message for message in errors(app))
    button(app, "Start training").click().run()
    assert_no_exception(app)
    assert get_store().count_runs() == 0


def test_tiny_run_trains_in_the_background_and_appears_on_runs(open_app: Any) -> None:
    app = open_app(TRAIN, query_params=tiny_params(seed="3"))
    assert not errors(app)
    button(app, "Start training").click().run()
    assert_no_exception(app)
    run_id = app.session_state["train_page.run_id"]
    # the sidebar counts the job the click queued in that same run (it was drawn before the page and said 0, and
    # so never began to poll)
    [jobs_line] = [element.value for element in app.sidebar.markdown if element.value.startswith("**Jobs**")]
    assert not jobs_line.startswith("**Jobs**: 0 running, 0 queued"), jobs_line
    manager = get_job_manager()
    assert manager.wait(run_id, timeout=120) == "done"
    record = get_store().get_run(run_id)
    assert record.seed == 3 and record.config == RunConfig().replace(**TINY_CONFIG_CHANGES).to_dict()
    app.run()
    assert_no_exception(app)
    assert any("Breakdown length" in element.value or "below the threshold" in rendered(element) for element in [*app.success, *app.warning])
    assert {chart.key for chart in app.get("plotly_chart")} >= {f"sweep-{run_id}"}
    assert [json.loads(chart.proto.spec)["title"]["text"] for chart in app.get("vega_lite_chart")] == ["training loss", "accuracy (teacher-forced)"]
    assert app.query_params["runs"] == run_id  # the link names the run, so a reload (a new session) shows it again
    reloaded = open_app(TRAIN, query_params={**tiny_params(seed="3"), "runs": run_id})
    assert_no_exception(reloaded)
    assert {chart.key for chart in reloaded.get("plotly_chart")} >= {f"sweep-{run_id}"}
    app.switch_page("pages/runs.py").run()
    assert_no_exception(app)
    assert run_id in app.dataframe[0].value["run_id"].tolist()


def test_a_reload_shows_the_live_run_again_and_a_link_to_an_unknown_run_says_so(open_app: Any) -> None:
    app = open_app(TRAIN, query_params=tiny_params(seed="11", **{"train.steps": "20000"}))
    button(app, "Start training").click().run()
    run_id = app.session_state["train_page.run_id"]
    try:
        reloaded = open_app(TRAIN, query_params={"runs": f"{run_id},0123456789ab", **tiny_params(seed="11")})
        assert_no_exception(reloaded)
        assert reloaded.session_state["train_page.my_runs"] == [run_id]
        assert any(re.search(rf"(Training|Run) `{run_id}`", text) for text in progress_texts(reloaded) + [rendered(e) for e in reloaded.info])
        assert any("'0123456789ab'" in rendered(element) and "does not hold" in rendered(element) for element in reloaded.warning)
    finally:
        get_job_manager().cancel(run_id)
    assert get_job_manager().wait(run_id, timeout=60) == "cancelled"


def test_the_same_run_asked_again_is_shared_and_a_queued_run_shows_its_place_and_wait(open_app: Any) -> None:
    first = open_app(TRAIN, query_params=tiny_params(seed="4"))
    button(first, "Start training").click().run()
    done = first.session_state["train_page.run_id"]
    manager = get_job_manager()
    assert manager.wait(done, timeout=120) == "done"
    again = open_app(TRAIN, query_params=tiny_params(seed="4"))  # another session, the same settings and seed
    button(again, "Start training").click().run()
    assert_no_exception(again)
    assert again.session_state["train_page.run_id"] == done and get_store().count_runs() == 1
    assert any("was trained earlier; its result is shown" in rendered(element) for element in again.info)
    assert any("Breakdown length" in element.value or "below the threshold" in rendered(element) for element in [*again.success, *again.warning])

    sessions = []
    for seed in range(5, 5 + manager.max_concurrent + 1):  # every worker busy, then one more: it waits
        session = open_app(TRAIN, query_params=tiny_params(seed=str(seed), **{"train.steps": "20000"}))
        button(session, "Start training").click().run()
        sessions.append(session)
    queued = sessions[-1].session_state["train_page.run_id"]
    assert manager.progress(queued)["phase"] == "queued"
    texts = [rendered(element) for element in sessions[-1].info]
    assert any(re.search(r"is queued \(position 1 in the queue; its result in about \d", text) for text in texts), texts
    for session in sessions:
        manager.cancel(session.session_state["train_page.run_id"])
    for session in sessions:
        assert manager.wait(session.session_state["train_page.run_id"], timeout=60) == "cancelled"


def test_pause_resume_and_cancel(open_app: Any) -> None:
    params = tiny_params()
    params["train.steps"] = "5000"
    app = open_app(TRAIN, query_params=params)
    button(app, "Start training").click().run()
    run_id = app.session_state["train_page.run_id"]
    manager = get_job_manager()
    deadline = time.monotonic() + 60
    while manager.progress(run_id)["phase"] != "training" and time.monotonic() < deadline:
        time.sleep(0.05)
    app.run()
    button(app, "Pause").click().run()
    assert manager.progress(run_id)["paused"] is True
    assert any("(paused)" in text for text in progress_texts(app))
    button(app, "Resume").click().run()
    assert manager.progress(run_id)["paused"] is False
    button(app, "Cancel").click().run()
    assert manager.wait(run_id, timeout=60) == "cancelled"
    app.run()
    assert_no_exception(app)
    assert any("cancelled" in element.value.lower() for element in app.warning)
    assert get_store().get_run(run_id).status == "cancelled"


def test_divergence_is_shown_as_such(open_app: Any) -> None:
    params = tiny_params()
    params["train.divergence_loss"] = "1.0"  # any real loss is "above" this: the run is stopped as diverged
    app = open_app(TRAIN, query_params=params)
    button(app, "Start training").click().run()
    run_id = app.session_state["train_page.run_id"]
    assert get_job_manager().wait(run_id, timeout=60) == "diverged"
    app.run()
    assert any("Training diverged" in message for message in errors(app))


def test_reset_to_defaults(open_app: Any) -> None:
    app = open_app(TRAIN, query_params={"model.n_layers": "3", "seed": "4"})
    button(app, "Reset to defaults").click().run()
    assert_no_exception(app)
    assert number(app, "Layers").value == RunConfig().model.n_layers
    assert number(app, "Seed").value == 0
    assert app.query_params == {}


def test_picking_a_task_moves_the_training_lengths_into_its_range(open_app: Any) -> None:
    app = open_app(TRAIN)
    [task] = [box for box in app.selectbox if box.label == "Task"]
    task.set_value("passkey_retrieval").run()
    assert_no_exception(app)
    assert (number(app, "Train lengths from").value, number(app, "Train lengths to").value) == (16, 16)
    assert not [message for message in errors(app) if "train_length" in message], errors(app)
    [task] = [box for box in app.selectbox if box.label == "Task"]
    task.set_value("addition").run()
    assert (number(app, "Train lengths from").value, number(app, "Train lengths to").value) == (16, 16)  # in range: kept


def test_the_theory_beside_the_task_follows_the_scheme_and_offsets(open_app: Any) -> None:
    def panel(app: Any) -> str:
        [text] = [rendered(element) for element in app.markdown if "What theory predicts" in rendered(element)]
        return text

    app = open_app(TRAIN, query_params=tiny_params(**{"task.name": "aa_star", "positions.scheme": "nope"}))
    assert_no_exception(app)
    text = panel(app)
    assert "NoPE: fails: a C-RASP program does not exist" in text and "100/0/0" in text
    assert "APE with random offsets: generalizes: a C-RASP[Periodic, Local] program exists" in text
    assert "This run (nope): NoPE: fails" in text
    app = open_app(TRAIN, query_params=tiny_params(**{"task.name": "aa_star", "positions.scheme": "learned"}))
    assert "This run (learned): learned APE without offsets: no prediction" in panel(app)
    number(app, "Random start offset in training (up to)").set_value(64).run()
    assert "This run (learned): APE with random offsets: generalizes" in panel(app)
    assert app.query_params["positions.train_offset_max"] == "64"


def test_picking_a_task_starts_its_options_at_its_own_defaults(open_app: Any) -> None:
    app = open_app(TRAIN)  # reverse: alphabet_size 16
    assert widget(app, "task.options.alphabet_size") == 16
    [task] = [box for box in app.selectbox if box.label == "Task"]
    task.set_value("sort").run()  # sort's own default is 128, not reverse's 16 kept under the same widget
    assert_no_exception(app)
    assert widget(app, "task.options.alphabet_size") == 128
    assert not [message for message in errors(app) if "alphabet_size" in message], errors(app)


def test_a_recognition_task_offers_every_prefix_supervision_and_the_link_carries_it(open_app: Any) -> None:
    app = open_app(TRAIN)
    assert not [box for box in app.selectbox if box.label == "Supervision"]  # reverse has no label per prefix
    [task] = [box for box in app.selectbox if box.label == "Task"]
    task.set_value("tomita_3").run()
    [scheme] = [box for box in app.selectbox if box.label == "Position scheme"]
    scheme.set_value("nope").run()
    [supervision] = [box for box in app.selectbox if box.label == "Supervision"]
    supervision.set_value("every_prefix").run()
    assert_no_exception(app)
    assert app.query_params["task.supervision"] == "every_prefix" and not errors(app), errors(app)
    [supervision] = [box for box in app.selectbox if box.label == "Supervision"]
    assert supervision.options == [
        "the answer only", "every prefix's label too", "Huang et al.'s format: prefixes of members, every label tested"
    ]  # fmt: skip
    supervision.set_value("member_prefixes").run()
    assert app.query_params["task.supervision"] == "member_prefixes" and not errors(app), errors(app)
    [task] = [box for box in app.selectbox if box.label == "Task"]
    task.set_value("dyck_1").run()  # another recognition task keeps it
    assert app.query_params["task.supervision"] == "member_prefixes" and not errors(app), errors(app)
    [task] = [box for box in app.selectbox if box.label == "Task"]
    task.set_value("reverse").run()  # a task with no label per prefix: back to the answer alone, no error
    assert "task.supervision" not in app.query_params and not errors(app), errors(app)
    assert not [box for box in app.selectbox if box.label == "Supervision"]


def test_stop_when_learned_is_a_checkbox_tied_to_the_url_and_the_run_says_why_it_stopped(open_app: Any) -> None:
    app = open_app(TRAIN, query_params=tiny_params())
    [box] = [box for box in app.checkbox if box.label == "Stop when the training range is learned"]
    assert box.value is False and not [n for n in app.number_input if n.label == "Check every (steps)"]
    box.check().run()
    assert_no_exception(app)
    assert app.query_params["train.stop_when_learned"] == "true"
    number(app, "Check every (steps)").set_value(5).run()
    assert app.query_params["train.learned_check_every"] == "5"
    button(app, "Start training").click().run()
    run_id = app.session_state["train_page.run_id"]
    assert get_job_manager().wait(run_id, timeout=120) == "done"
    record = get_store().get_run(run_id)
    assert record.run_config.train.stop_when_learned and record.stop_reason
    app.run()
    assert_no_exception(app)
    assert any(caption.value == f"Training ended: {record.stop_reason}." for caption in app.caption)
    accuracy = [json.loads(chart.proto.spec) for chart in app.get("vega_lite_chart")][1]
    assert accuracy["layer"][1]["data"]["values"]  # the learned checks drawn beside the teacher-forced line


def test_task_options_have_readable_labels_and_no_budget_reads_as_zero_seconds(open_app: Any) -> None:
    app = open_app(TRAIN)
    labels = [element.label for element in app.number_input]
    assert "Alphabet size" in labels and "alphabet_size" not in labels
    budget = number(app, "Time budget (s, 0 = none)")
    assert budget.format == "%.0f" and budget.value in (0, 0.0, None)


def test_the_length_search_is_on_by_default_and_a_checkbox_turns_it_off_in_the_link(open_app: Any) -> None:
    app = open_app(TRAIN)
    [box] = [box for box in app.checkbox if box.label == "Search past the sweep's end"]
    assert box.value is True and "eval.search" not in app.query_params
    box.uncheck().run()
    assert_no_exception(app)
    assert app.query_params["eval.search"] == "false"


def test_a_link_with_one_bad_field_keeps_its_other_settings(open_app: Any) -> None:
    """One typo threw the whole link away ('the defaults are shown'): now only that field takes its default."""
    app = open_app(TRAIN, query_params={"model.n_layers": "abc", "train.steps": "123", "positions.scheme": "rope", "seed": "7"})
    assert_no_exception(app)
    assert number(app, "Steps").value == 123 and number(app, "Seed").value == 7
    assert [box.value for box in app.selectbox if box.label == "Position scheme"] == ["rope"]
    assert number(app, "Layers").value == RunConfig().model.n_layers
    [message] = [rendered(element) for element in app.error if "link" in rendered(element)]
    assert "model.n_layers" in message and "other settings are kept" in message
