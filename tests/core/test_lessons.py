"""Lesson presets (valid configs, honest expectations) and the bundled demo runs (export/import, idempotence)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lengen_core.config import RunConfig
from lengen_core.config_codec import flatten
from lengen_core.demo_runs import DEFAULT_DEMO_DIR, DEMO_TAG, demo_id_tag, demo_size_bytes, earlier_builds, export_demo_runs, import_demo_runs, load_manifest
from lengen_core.lesson_claims import ClaimStatus, Expectation, RunOutcome, claim_text, tally
from lengen_core.lessons import (
    LESSON_RUNS,
    LESSONS,
    all_lesson_runs,
    check_lesson,
    feature_available,
    get_lesson,
    missing_requirements,
    pick_lesson_run_ids,
    run_tag,
)
from lengen_core.store import RunStore

TINY = {
    "task.name": "reverse",
    "task.train_length_min": 1,
    "task.train_length_max": 3,
    "positions.scheme": "coupled",
    "positions.max_position": 16,
    "model.n_layers": 1,
    "model.n_heads": 2,
    "model.d_model": 16,
    "model.d_ff": 16,
    "train.steps": 5,
    "train.batch_size": 4,
    "train.warmup_steps": 1,
    "train.log_every": 2,
    "train.device": "cpu",
    "eval.lengths": [2, 3, 5],
    "eval.samples_per_length": 4,
}


def test_at_least_five_lessons_each_with_valid_runs() -> None:
    assert len(LESSONS) >= 5
    assert len({lesson.key for lesson in LESSONS}) == len(LESSONS)
    for lesson in LESSONS:
        assert lesson.title and lesson.question.endswith("?") and lesson.takeaway and lesson.setup
        assert len(lesson.runs) >= 2 and all(key in LESSON_RUNS for key in lesson.runs)
        for expectation in lesson.expectations:
            assert expectation.run in lesson.runs and (expectation.other is None or expectation.other in lesson.runs)
    from lengen_core.recipe_regime import regime_arms

    regime_ids = {arm.config().config_id for arm in regime_arms()}
    for run in all_lesson_runs():
        config = run.config()  # validates every preset (task, scheme, lengths, model)
        if run.on_defaults:  # a run of the regime sweep (one of its seeds); its lesson says how long a retrain takes
            assert config.config_id in regime_ids, run.key
            assert all("minutes" in lesson.setup for lesson in LESSONS if run.key in lesson.runs), run.key
        elif config.train.stop_when_learned:  # trained until learned on its own model (the theory lesson): a cap, 4 layers at most
            assert config.train.device == "cpu" and config.train.steps <= 6000
            assert config.model.d_model <= 128 and config.model.n_layers <= 4
        else:  # a classroom minute
            assert config.train.device == "cpu" and config.train.steps <= 3000
            assert config.model.d_model <= 128 and config.model.n_layers <= 2
        assert max(config.eval.lengths) >= 2 * config.task.train_length_max  # tested well past training


def test_lessons_compare_one_thing_at_a_time() -> None:
    """Within a lesson, runs of the same task differ only in positions / attention (the lesson's variable);
    the k lesson's variable is the task's k, the recipe lessons' the tasks trained beside the main one."""
    for lesson in LESSONS:
        variables = ("positions.", "model.attention", "model.hsa") + (("task.options.k",) if lesson.key == "k_sparse" else ())
        # a recipe arm's batch grows with its partners (the same main-task examples); the hint lesson's fourth run scales attention
        variables += ("task.mixture", "train.batch_size", "model.length_scaling") if lesson.key in ("hint_sort", "transfer_copy") else ()
        configs = [flatten(LESSON_RUNS[key].config().to_dict()) for key in lesson.runs]
        for config in configs[1:]:
            if config["task.name"] != configs[0]["task.name"]:
                continue
            differing = {key for key in config if config[key] != configs[0][key]}
            allowed = {key for key in differing if key.startswith(variables)}
            assert differing == allowed, (lesson.key, differing - allowed)


def test_the_c_rasp_lesson_uses_the_task_labels() -> None:
    from lengen_core.tasks import TASK_REGISTRY

    lesson = get_lesson("c_rasp")
    from lengen_core.theory import prediction_for

    configs = {key: LESSON_RUNS[key].config() for key in lesson.runs}
    assert len({config.task.name for config in configs.values()}) == 12, "a dozen tasks"
    expected = {expectation.run: expectation.kind for expectation in lesson.expectations}
    for key, config in configs.items():  # each run is checked against the prediction that applies to its setting
        theory = TASK_REGISTRY[config.task.name].theory
        applicable = prediction_for(config)
        prediction = theory.nope if config.positions.scheme == "nope" else theory.ape
        assert applicable.prediction is prediction, key
        assert applicable.setting == ("NoPE" if config.positions.scheme == "nope" else "APE with random offsets"), key
        assert expected[key] == "predicted", key
    predicted = {expectation.run: expectation.generalizes for expectation in lesson.expectations}
    for key, config in configs.items():
        theory = TASK_REGISTRY[config.task.name].theory
        assert predicted[key] is (theory.nope if config.positions.scheme == "nope" else theory.ape).generalizes, key
    assert predicted["majority_ape"] is True and predicted["parity_ape"] is False


@pytest.mark.parametrize(
    ("expectation", "outcomes", "holds"),
    [
        (Expectation("extrapolates", "a", factor=2.0), {"a": RunOutcome(16, 8, 24)}, True),
        (Expectation("extrapolates", "a", factor=2.0), {"a": RunOutcome(12, 8, 24)}, False),
        (Expectation("extrapolates", "a", factor=4.0), {"a": RunOutcome(24, 8, 24)}, True),  # capped at the longest tested
        (Expectation("stops", "a"), {"a": RunOutcome(8, 8, 24)}, True),
        (Expectation("stops", "a"), {"a": RunOutcome(12, 8, 24)}, False),
        (Expectation("short", "a", factor=4.0), {"a": RunOutcome(24, 8, 40)}, True),
        (Expectation("short", "a", factor=4.0), {"a": RunOutcome(32, 8, 40)}, False),
        (Expectation("beats", "a", "b"), {"a": RunOutcome(16, 8, 24), "b": RunOutcome(8, 8, 24)}, True),
        (Expectation("beats", "a", "b"), {"a": RunOutcome(8, 8, 24), "b": RunOutcome(8, 8, 24)}, False),
        (Expectation("learns", "a", "b"), {"a": RunOutcome(8, 8, 24), "b": RunOutcome(4, 8, 24)}, True),
        (Expectation("learns", "a", "b"), {"a": RunOutcome(24, 8, 24), "b": RunOutcome(None, 8, 24)}, True),
        (Expectation("learns", "a", "b"), {"a": RunOutcome(8, 8, 24), "b": RunOutcome(8, 8, 24)}, False),  # both learned
        (Expectation("learns", "a", "b"), {"a": RunOutcome(4, 8, 24), "b": RunOutcome(None, 8, 24)}, False),  # neither
        (Expectation("learns", "a", "b"), {"a": RunOutcome(8, 8, 24)}, None),
        (Expectation("beats", "a", "b"), {"a": RunOutcome(8, 8, 24)}, None),
        (Expectation("stops", "a"), {}, None),
    ],
)
def test_expectations(expectation: Expectation, outcomes: dict, holds: bool | None) -> None:
    assert expectation.check(outcomes) is holds
    assert expectation.status(outcomes) == {True: ClaimStatus.HOLDS, False: ClaimStatus.FAILS, None: ClaimStatus.PENDING}[holds]


@pytest.mark.parametrize(
    ("generalizes", "outcome", "status"),
    [
        (True, RunOutcome(40, 10, 40), ClaimStatus.HOLDS),  # held to 4x: generalizes, as predicted
        (True, RunOutcome(12, 10, 40), ClaimStatus.FAILS),  # learned its range, broke before 2x
        (False, RunOutcome(12, 10, 40), ClaimStatus.HOLDS),
        (False, RunOutcome(20, 10, 40), ClaimStatus.FAILS),  # predicted to fail, held to 2x
        (True, RunOutcome(8, 10, 40), ClaimStatus.NOT_LEARNED),  # never a breakdown below the training length counted as agreement
        (False, RunOutcome(None, 10, 40), ClaimStatus.NOT_LEARNED),
        (False, RunOutcome(16, 10, 16), ClaimStatus.PENDING),  # held to the end of a sweep shorter than 2x: not decided
    ],
)
def test_a_predicted_claim_counts_did_not_learn_apart(generalizes: bool, outcome: RunOutcome, status: ClaimStatus) -> None:
    claim = Expectation("predicted", "a", generalizes=generalizes)
    assert claim.status({"a": outcome}) == status
    assert claim.check({"a": outcome}) is {ClaimStatus.HOLDS: True, ClaimStatus.FAILS: False}.get(status)
    counts = tally([status, ClaimStatus.HOLDS])
    assert counts[ClaimStatus.HOLDS] == 1 + (status == ClaimStatus.HOLDS) and sum(counts.values()) == 2


@pytest.mark.parametrize("kind", ["stops", "short"])
@pytest.mark.parametrize("breakdown", [None, 4])
def test_a_failure_claim_on_a_run_that_failed_inside_its_range_is_did_not_learn(kind: str, breakdown: int | None) -> None:
    """APE that breaks at 4 when trained on 1-8 shows nothing about lengths past 8: never "holds"."""
    claim = Expectation(kind, "a")
    assert claim.status({"a": RunOutcome(breakdown, 8, 24)}) == ClaimStatus.NOT_LEARNED
    assert claim.check({"a": RunOutcome(breakdown, 8, 24)}) is None


@pytest.mark.parametrize(
    ("winner", "loser"),
    [(RunOutcome(24, 8, 24), RunOutcome(4, 8, 24)), (RunOutcome(24, 8, 24), RunOutcome(None, 8, 24)), (RunOutcome(4, 8, 24), RunOutcome(None, 8, 24))],
)
def test_a_comparison_with_a_run_that_never_learned_its_range_is_did_not_learn(winner: RunOutcome, loser: RunOutcome) -> None:
    """HSA holding to 256 "beats" a dense run that broke at 32 of its 48 only by the dense run failing to learn 48:
    that compares learning, not length, so it is never "holds" (the lesson says ``learns`` when that is its claim)."""
    claim = Expectation("beats", "a", "b")
    assert claim.status({"a": winner, "b": loser}) == ClaimStatus.NOT_LEARNED
    assert claim.check({"a": winner, "b": loser}) is None


def test_a_claim_that_did_not_learn_names_the_run_that_did_not() -> None:
    claim = Expectation("beats", "passkey_hsa", "passkey_dense")
    labels = {"passkey_hsa": "sparse attention (HSA)", "passkey_dense": "dense attention"}
    outcomes = {"passkey_hsa": RunOutcome(256, 48, 256), "passkey_dense": RunOutcome(32, 48, 256)}  # dense: 0.84 at 48
    status = claim.status(outcomes)
    assert status == ClaimStatus.NOT_LEARNED
    text = claim_text(claim, status, labels, outcomes)
    assert text.startswith("dense attention did not learn its training range") and "(HSA) did not" not in text
    assert text.endswith("sparse attention (HSA) generalizes further than dense attention")
    held = {**outcomes, "passkey_dense": RunOutcome(48, 48, 256)}
    assert claim_text(claim, claim.status(held), labels, held) == "sparse attention (HSA) generalizes further than dense attention"


def test_every_lesson_shows_its_claims_on_its_bundled_runs() -> None:
    """What a class sees first: each lesson's claims hold on the runs it ships (the theory lesson's predictions are
    counted by its takeaway instead, below); a lesson whose bundled run never learned its range fails here."""
    manifest = load_manifest(DEFAULT_DEMO_DIR)
    entries = {entry["key"]: entry for entry in manifest["runs"]}
    if not entries:
        pytest.skip("no demo runs bundled")
    for lesson in LESSONS:
        if lesson.key == "c_rasp" or not set(lesson.runs) <= set(entries):
            continue
        outcomes = {key: RunOutcome.of_bundled(entries[key]) for key in lesson.runs}
        statuses = {expectation.describe({}): status for expectation, status in check_lesson(lesson, outcomes)}
        assert set(statuses.values()) == {ClaimStatus.HOLDS}, (lesson.key, statuses)


def test_check_lesson_reports_every_expectation() -> None:
    lesson = get_lesson("ape_fails")
    checks = check_lesson(lesson, {"reverse_learned": RunOutcome(8, 8, 24), "reverse_coupled": RunOutcome(24, 8, 24)})
    assert [status for _, status in checks] == [ClaimStatus.HOLDS] * 3
    checks = check_lesson(lesson, {"reverse_learned": RunOutcome(12, 8, 24), "reverse_coupled": RunOutcome(12, 8, 24)})
    assert [status for _, status in checks] == [ClaimStatus.FAILS] * 3


def test_pick_lesson_run_ids_prefers_the_newest_finished_run() -> None:
    frame = pd.DataFrame(
        [  # newest first, as RunStore.list_runs returns them
            {"run_id": "live-running", "status": "running", "tags": [run_tag("a"), "lesson-live"]},
            {"run_id": "live-done", "status": "done", "tags": [run_tag("a"), "lesson-live"]},
            {"run_id": "demo-a", "status": "done", "tags": [run_tag("a"), DEMO_TAG]},
            {"run_id": "demo-b", "status": "done", "tags": [run_tag("b"), DEMO_TAG]},
            {"run_id": "other", "status": "done", "tags": []},
        ]
    )
    assert pick_lesson_run_ids(frame, ["a", "b", "c"]) == {"a": "live-done", "b": "demo-b"}
    assert pick_lesson_run_ids(frame.iloc[0:0], ["a"]) == {}


def test_hsa_requirement_matches_the_installation() -> None:
    present = importlib.util.find_spec("lengen_core.models.hsa") is not None
    available, reason = feature_available("hsa")
    assert available == present or (present and "cannot be built" in reason)
    lesson = get_lesson("hsa_needle")
    assert (missing_requirements(lesson) == []) == available
    if not available:
        assert "HSA" in missing_requirements(lesson)[0] or "sparse attention" in missing_requirements(lesson)[0]


# --------------------------------------------------------------------------- demo runs


def _finished_run(store: RunStore, tmp_path: Path, key: str, **changes: Any) -> str:
    from lengen_core.runs.admission import create_run
    from lengen_core.runs.execution import execute_run

    config = RunConfig().replace(**{**TINY, **changes})
    run_id = create_run(store, config, 0, name=f"lesson: {key}", tags=(run_tag(key),))
    assert execute_run(store, run_id, config, 0, checkpoint_dir=tmp_path / "checkpoints") == "done"
    return run_id


def test_export_then_import_copies_the_run_exactly_and_only_once(tmp_path: Path) -> None:
    source = RunStore(tmp_path / "source.duckdb")
    run_id = _finished_run(source, tmp_path, "tiny")
    demo = tmp_path / "demo"
    manifest_path = export_demo_runs(source, {"tiny": run_id}, demo, generated={"note": "test"})
    manifest = json.loads(manifest_path.read_text())
    (entry,) = manifest["runs"]
    assert entry["key"] == "tiny" and entry["checkpoint"] == "checkpoints/tiny.safetensors"
    assert (demo / entry["checkpoint"]).exists() and demo_size_bytes(demo) > 0

    target = RunStore(tmp_path / "target.duckdb")
    report = import_demo_runs(target, demo)
    (imported,) = report.imported
    record, original = target.get_run(imported), source.get_run(run_id)
    assert record.status == "done" and record.config == original.config and record.seed == 0
    assert record.breakdown_length == original.breakdown_length and record.code_version == original.code_version
    assert {DEMO_TAG, run_tag("tiny"), demo_id_tag(entry)} <= set(record.tags)
    pd.testing.assert_frame_equal(target.eval_curve([imported]).drop(columns="run_id"), source.eval_curve([run_id]).drop(columns="run_id"))
    assert len(target.train_curve(imported)) == len(source.train_curve(run_id)) > 0
    assert (record.stop_reason, record.learned_step) == (original.stop_reason, original.learned_step) and record.stop_reason
    artifacts = target.artifacts(imported)
    assert artifacts["path"].tolist() == [str((demo / "checkpoints/tiny.safetensors").resolve())]

    count = target.count_runs()
    again = import_demo_runs(target, demo)
    assert again.imported == [] and again.skipped == ["tiny"] and target.count_runs() == count


def test_a_bundled_run_keeps_its_breakdowns_interval_and_why_a_bound_stopped(tmp_path: Path) -> None:
    from lengen_core.breakdown import Breakdown
    from lengen_core.store import EVAL_COLUMNS

    source = RunStore(tmp_path / "source.duckdb")
    run_id = _finished_run(source, tmp_path, "held")
    curve = source.eval_curve([run_id])
    longest = int(curve["length"].max())
    held = Breakdown(longest, 3, low=2, high=longest, bound_reason="the position ids end at 31 (positions.max_position)")
    source.set_eval_points(run_id, [{key: row[key] for key in EVAL_COLUMNS} for _, row in curve.iterrows()], held)  # as a run that held
    export_demo_runs(source, {"held": run_id}, tmp_path / "demo")
    target = RunStore(tmp_path / "target.duckdb")
    (imported,) = import_demo_runs(target, tmp_path / "demo").imported
    assert target.get_run(imported).breakdown(longest) == source.get_run(run_id).breakdown(longest) == dataclasses.replace(held, longest_tested=longest)
    assert str(target.get_run(imported).breakdown(longest)).endswith(": the position ids end at 31 (positions.max_position)")


def test_a_bundled_run_keeps_its_learned_checks(tmp_path: Path) -> None:
    source = RunStore(tmp_path / "source.duckdb")
    run_id = _finished_run(source, tmp_path, "checked", **{"train.stop_when_learned": True, "train.learned_check_every": 2})
    export_demo_runs(source, {"checked": run_id}, tmp_path / "demo", with_checkpoint=[])
    target = RunStore(tmp_path / "target.duckdb")
    (imported,) = import_demo_runs(target, tmp_path / "demo").imported
    checks = target.train_curve(imported)["in_distribution"]
    assert checks.notna().sum() > 0
    pd.testing.assert_series_equal(checks, source.train_curve(run_id)["in_distribution"])
    assert target.get_run(imported).stop_reason == source.get_run(run_id).stop_reason


def test_a_half_finished_import_is_replaced(tmp_path: Path) -> None:
    source = RunStore(tmp_path / "source.duckdb")
    run_id = _finished_run(source, tmp_path, "tiny")
    demo = tmp_path / "demo"
    export_demo_runs(source, {"tiny": run_id}, demo, with_checkpoint=[])
    (entry,) = load_manifest(demo)["runs"]
    assert entry["checkpoint"] is None
    target = RunStore(tmp_path / "target.duckdb")
    broken = target.create_run(
        config=entry["config"], config_id=entry["config_id"], seed=0, code_version="x", environment={}, status="running", tags=[DEMO_TAG, demo_id_tag(entry)]
    )  # as if an import died before marking its run done
    report = import_demo_runs(target, demo)
    assert report.replaced == ["tiny"] and len(report.imported) == 1
    assert target.count_runs() == 1 and broken not in target.list_runs()["run_id"].tolist()
    assert target.get_run(report.imported[0]).status == "done" and len(target.artifacts(report.imported[0])) == 0


def test_missing_manifest_means_no_demo_runs(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.duckdb")
    assert import_demo_runs(store, tmp_path / "nothing").imported == []
    assert store.count_runs() == 0


def test_bundled_demo_runs_match_the_lessons_and_are_small() -> None:
    manifest = load_manifest(DEFAULT_DEMO_DIR)
    if not manifest["runs"]:
        pytest.skip("no demo runs bundled (run scripts/make_demo_runs.py)")
    # 7.5 MB: 7.1 MB since the first lesson's three reverse runs have 2 layers (1.35 MB a checkpoint), the fewest
    # with which learned APE learns its own training range (docs/results.md, "Lesson 1 on every seed"); was 5.5 MB
    assert demo_size_bytes(DEFAULT_DEMO_DIR) < 7_500_000
    for entry in manifest["runs"]:
        run = LESSON_RUNS[entry["key"]]
        stored = flatten(entry["config"])  # the fields the bundled run was stored with, read as the store reads them
        bundled = flatten(RunConfig.from_stored(entry["config"]).to_dict())
        for dotted, value in flatten({**run.config().to_dict()}).items():
            if dotted.split(".")[0] in ("task", "positions", "model", "train", "eval") and dotted in stored:
                assert bundled[dotted] == value, (entry["key"], dotted)
        assert entry["seed"] == run.seed and run_tag(run.key) in entry["tags"]
        assert entry["eval_points"] and all(0.0 <= point["exact_match"] <= 1.0 for point in entry["eval_points"])
        if entry["checkpoint"]:
            assert (DEFAULT_DEMO_DIR / entry["checkpoint"]).exists()
    trained = {entry["key"] for entry in manifest["runs"]}
    for lesson in LESSONS:
        if not missing_requirements(lesson):
            assert set(lesson.runs) <= trained, f"lesson {lesson.key} has no bundled runs for {set(lesson.runs) - trained}"


def test_bundled_manifest_is_plain_json(tmp_path: Any) -> None:
    path = DEFAULT_DEMO_DIR / "manifest.json"
    if not path.exists():
        pytest.skip("no demo runs bundled")
    text = path.read_text()
    assert "NaN" not in text and json.loads(text)["format"] == 1


def test_the_theory_lessons_takeaway_counts_what_its_bundled_runs_show() -> None:
    import re

    manifest = load_manifest(DEFAULT_DEMO_DIR)
    lesson = get_lesson("c_rasp")
    entries = {entry["key"]: entry for entry in manifest["runs"]}
    if not set(lesson.runs) <= set(entries):
        pytest.skip("no bundled runs of the theory lesson")
    outcomes = {key: RunOutcome.of_bundled(entries[key]) for key in lesson.runs}
    counts = tally([status for _, status in check_lesson(lesson, outcomes)])
    learned = counts[ClaimStatus.HOLDS] + counts[ClaimStatus.FAILS]
    agree, of = (int(number) for number in re.search(r"agree on (\d+) of the (\d+) runs that learned", lesson.takeaway).groups())
    assert (agree, of) == (counts[ClaimStatus.HOLDS], learned)
    assert f"The {counts[ClaimStatus.FAILS]} disagreements" in lesson.takeaway
    assert counts[ClaimStatus.NOT_LEARNED] == 1 and "did not learn it" in lesson.takeaway


def test_each_rebuild_adds_one_flat_entry_to_the_build_history(tmp_path: Path) -> None:
    source = RunStore(tmp_path / "source.duckdb")
    run_id = _finished_run(source, tmp_path, "tiny")
    demo = tmp_path / "demo"
    export_demo_runs(source, {"tiny": run_id}, demo, with_checkpoint=[], generated={"build": 1})
    for build in (2, 3):
        export_demo_runs(source, {"tiny": run_id}, demo, with_checkpoint=[], generated={"build": build}, merge=True)
    generated = load_manifest(demo)["generated"]
    assert generated["build"] == 3 and generated["earlier"] == [{"build": 2}, {"build": 1}]
    nested = {"build": 3, "earlier": {"build": 2, "earlier": {"build": 1}}}  # how manifests before 2026-12-07 kept it
    assert earlier_builds(nested) == [{"build": 3}, {"build": 2}, {"build": 1}]
