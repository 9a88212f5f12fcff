"""Compare's launcher defaults: the calibration table, the steps it suggests and the warnings it gives."""

from __future__ import annotations

import pytest

from lengen_core import compare_defaults
from lengen_core.compare_defaults import (
    CALIBRATION,
    DEFAULT_SCHEMES,
    DEFAULT_TASKS,
    LAUNCH_DEFAULTS,
    CellCalibration,
    launcher_config,
    launcher_warnings,
    suggested_steps,
)


def test_every_default_cell_is_calibrated_on_the_launchers_config() -> None:
    for task in DEFAULT_TASKS:
        for scheme in DEFAULT_SCHEMES:
            found = CALIBRATION[(task, scheme)]
            assert len(found.learned_steps) == len(found.in_distribution) == len(found.seconds) >= 2
            assert all(step is None or 0 < step <= found.step_cap for step in found.learned_steps)
    config = launcher_config("reverse", "rope", steps=1500)
    assert (config.model.n_layers, config.model.d_model, config.train.batch_size, config.task.train_length_max) == (2, 64, 64, 10)
    assert not config.train.stop_when_learned and config.train.steps == 1500  # the launcher's default (LAUNCH_UNTIL_LEARNED)
    assert launcher_config("reverse", "rope", steps=1500, until_learned=True).train.stop_when_learned  # what the calibration trains


def test_steps_needed_is_the_slowest_seed_rounded_up_to_a_check() -> None:
    assert CellCalibration((500, 1250), (1.0, 1.0), (30, 60), 6000).steps_needed == 1250
    assert CellCalibration((500, 1300), (1.0, 1.0), (30, 60), 6000).steps_needed == 1500
    never = CellCalibration((500, None), (1.0, 0.4), (30, 400), 6000)
    assert not never.learned and never.steps_needed is None


def test_suggested_steps_cover_every_chosen_cell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        compare_defaults,
        "CALIBRATION",
        {
            ("a", "x"): CellCalibration((500, 750), (1.0, 1.0), (1, 1), 6000),
            ("a", "y"): CellCalibration((2000, 2250), (1.0, 1.0), (1, 1), 6000),
            ("b", "x"): CellCalibration((None, 2250), (0.3, 1.0), (1, 1), 4000),
            ("b", "y"): CellCalibration((None, None), (0.0, 0.1), (1, 1), 4000),
        },
    )
    assert compare_defaults.suggested_steps(["a"], ["x"]) == 750
    assert compare_defaults.suggested_steps(["a"], ["x", "y"]) == 2250
    assert compare_defaults.suggested_steps(["a", "b"], ["x"]) == 4000  # not learned within its cap: the cap
    assert compare_defaults.suggested_steps(["c"], ["x"]) is None
    numbers = dict(LAUNCH_DEFAULTS, steps=1000)
    notes = compare_defaults.launcher_warnings(["a", "b"], ["x", "y"], numbers)
    assert any(note.startswith("a / y needed 2,250 steps") for note in notes)
    assert any(note.startswith("b / x learned its training range on only 1 of 2 seeds within 4,000 steps") and "0.30, 1.00" in note for note in notes)
    assert any(note.startswith("b / y did not learn its training range within 4,000 steps") and "grey cell" in note for note in notes)
    assert not any(note.startswith("a / x") for note in notes)
    assert compare_defaults.launcher_warnings(["c"], ["x"], dict(numbers, layers=1)) == []  # nothing calibrated: nothing to compare


def test_the_defaults_need_no_warning() -> None:
    steps = suggested_steps(list(DEFAULT_TASKS), list(DEFAULT_SCHEMES))
    learned = all(CALIBRATION[(t, s)].learned for t in DEFAULT_TASKS for s in DEFAULT_SCHEMES)
    notes = launcher_warnings(list(DEFAULT_TASKS), list(DEFAULT_SCHEMES), dict(LAUNCH_DEFAULTS, steps=steps))
    assert notes == [] if learned else all("not to learn it" in note or "did not learn" in note for note in notes)
    assert not any("needed" in note for note in notes)  # the suggested steps cover every cell that learned
