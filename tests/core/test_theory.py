"""Theory beside measurement: which prediction applies to a run, the measured outcome, and answer-dependent coupling."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from lengen_core.charts.grid import cell_text, grid_cells
from lengen_core.config import RunConfig
from lengen_core.errors import ConfigError
from lengen_core.tasks import build_task
from lengen_core.theory import agreement_rate, check_run, measured_outcome, prediction_for, setting_label


def config_for(task: str, scheme: str, **changes: object) -> RunConfig:
    return RunConfig().replace(**{"task.name": task, "positions.scheme": scheme, "positions.max_position": 128, **changes})


def test_nope_gets_the_nope_prediction_and_ape_needs_offsets() -> None:
    nope = prediction_for(config_for("aa_star", "nope"))
    assert nope.setting == "NoPE" and nope.prediction.generalizes is False and "C-RASP program" in nope.prediction.claim
    with_offsets = prediction_for(config_for("aa_star", "learned", **{"positions.train_offset_max": 64}))
    assert with_offsets.setting == "APE with random offsets" and with_offsets.prediction.generalizes is True
    assert "Periodic, Local" in with_offsets.prediction.claim
    without = prediction_for(config_for("aa_star", "learned"))
    assert without.prediction is None and "positions.train_offset_max" in without.note
    assert prediction_for(config_for("aa_star", "rope")).prediction is None


def test_coupling_on_a_k_sparse_task_is_predicted_to_generalize_with_its_k() -> None:
    applicable = prediction_for(
        config_for("sparse_sum", "coupled", **{"task.options": {"k": 5, "span": 9}, "task.train_length_min": 8, "task.train_length_max": 16})
    )
    assert applicable.prediction.generalizes is True and "Golowich" in applicable.prediction.source
    assert "k = 5" in applicable.note and "span of 9" in applicable.note
    assert prediction_for(config_for("reverse", "coupled")).prediction is None


@pytest.mark.parametrize(
    ("breakdown", "longest", "verdict"),
    [
        (30, 30, "generalizes"),  # held to 3x the training length (10)
        (20, 30, "generalizes"),  # exactly 2x
        (15, 30, "fails"),
        (10, 30, "fails"),  # learned the training range, broke right after
        (5, 30, "did not learn"),
        (None, 30, "did not learn"),
        (15, 15, "not tested far enough"),
        (None, None, "no result"),
    ],
)
def test_measured_outcome(breakdown: int | None, longest: int | None, verdict: str) -> None:
    assert measured_outcome(breakdown, 10, longest).verdict == verdict


def test_agreement_counts_only_decided_runs_with_a_prediction() -> None:
    config = config_for("parity", "nope")
    failed, generalized, unlearned = (check_run(config, b, 30) for b in (10, 30, 3))
    assert failed.agrees is True and generalized.agrees is False and unlearned.agrees is None
    pairs = [(check.applicable.prediction, check.outcome) for check in (failed, generalized, unlearned)]
    assert agreement_rate(pairs) == (1, 2)
    predicted, measured, agreement = generalized.lines()
    assert predicted.startswith("predicted: NoPE: fails") and "measured: generalizes" in measured and agreement.startswith("DISAGREES")
    assert "exact match held up to length 30;" in measured
    never = check_run(config, None, 30).lines()[1]  # not even the shortest length held: said in words, not "length none"
    assert never.startswith("measured: did not learn (exact match below the threshold at every tested length; trained up to 10")


@pytest.mark.parametrize("task", ["sort", "associative_recall", "retrieve_right_last"])
def test_answer_dependent_coupling_is_refused_for_plain_coupling_and_runs_predictively(task: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_for(task, "coupled", **{"task.train_length_min": 4})
    assert caught.value.field == "positions.scheme" and "predictive_coupled" in caught.value.message
    config_for(task, "predictive_coupled", **{"task.train_length_min": 4})


def test_sort_couples_each_output_to_the_input_it_copies() -> None:
    task = build_task("sort")
    example = task.sample(random.Random(3), 6)
    prompt, ids = example.prompt, example.coupled_ids
    inputs = prompt[1:-1]
    assert ids[1 : 1 + len(inputs)] == tuple(range(1, len(inputs) + 1)) and ids[len(prompt) - 1] == 0
    for offset, symbol in enumerate(example.answer_without_eos):
        assert ids[len(prompt) + offset] == inputs.index(symbol) + 1
    assert ids[-1] == 0


def test_retrieval_couples_the_answer_to_where_it_is_read() -> None:
    for name, step in (("retrieve_right_first", 1), ("retrieve_left_last", -1)):
        example = build_task(name).sample(random.Random(5), 12)
        position = example.meta["query_position"]
        assert example.coupled_ids[len(example.prompt)] == position + step + 1, name
        assert example.prompt[1 + position + step] == example.answer[0]
    recall = build_task("associative_recall").sample(random.Random(2), 7)
    index = recall.meta["query_index"]
    assert recall.coupled_ids[len(recall.prompt)] == index + 1
    assert recall.coupled_ids[1 + 2 * index : 3 + 2 * index] == (index + 1, index + 1)


def test_the_compare_grid_puts_the_prediction_beside_the_runs() -> None:
    runs = pd.DataFrame(
        [
            # APE with offsets on (aa)*: predicted to generalize; one run did, one did not, one never learned
            {
                "run_id": "a",
                "task": "aa_star",
                "scheme": "learned",
                "train_offset_max": 64,
                "status": "done",
                "breakdown_length": 30,
                "train_length_max": 10,
                "breakdown_ratio": 3.0,
                "longest_tested": 30,
            },
            {
                "run_id": "b",
                "task": "aa_star",
                "scheme": "learned",
                "train_offset_max": 64,
                "status": "done",
                "breakdown_length": 12,
                "train_length_max": 10,
                "breakdown_ratio": 1.2,
                "longest_tested": 30,
            },
            {
                "run_id": "c",
                "task": "aa_star",
                "scheme": "learned",
                "train_offset_max": 64,
                "status": "done",
                "breakdown_length": 4,
                "train_length_max": 10,
                "breakdown_ratio": 0.4,
                "longest_tested": 30,
            },
            # NoPE on (aa)*: predicted to fail, and it did
            {
                "run_id": "d",
                "task": "aa_star",
                "scheme": "nope",
                "train_offset_max": -1,
                "status": "done",
                "breakdown_length": 10,
                "train_length_max": 10,
                "breakdown_ratio": 1.0,
                "longest_tested": 30,
            },
            # learned without offsets: no prediction
            {
                "run_id": "e",
                "task": "aa_star",
                "scheme": "learned",
                "train_offset_max": -1,
                "status": "done",
                "breakdown_length": 10,
                "train_length_max": 10,
                "breakdown_ratio": 1.0,
                "longest_tested": 30,
            },
        ]
    )
    cells = grid_cells(runs).set_index("scheme")
    assert setting_label("learned", 64) == "learned+offsets"
    offsets = cells.loc["learned+offsets"]
    assert offsets["predicted"] is True and offsets["decided"] == 2 and offsets["agree"] == 1
    # run a held to its sweep's end (30): a bound, so the median it enters is one too
    assert cell_text(offsets) == "≥ 2.1x<br>2/3 ≠" and "predicted: generalizes" in offsets["hover"]
    nope = cells.loc["nope"]
    assert nope["predicted"] is False and cell_text(nope) == "1.0x<br>1/1 ✓"
    plain = cells.loc["learned"]
    assert plain["predicted"] is None and cell_text(plain) == "1.0x<br>1/1" and "no prediction" in plain["hover"]
