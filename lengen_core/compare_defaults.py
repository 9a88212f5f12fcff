"""Compare's launcher: the config each cell of its sweep trains, and what a calibration found each cell needs.

Issue 28: a sweep launched with the form's defaults should show cells that learned
their training range, since a cell that did not learn says nothing about length.
:data:`CALIBRATION` holds, per (task, scheme), the steps in which the launcher's
config learned lengths 1..10 on every calibrated seed (or that it did not, within
the cap), measured by::

    python bench/compare_calibrate.py DB --workers 1 --seeds 0,1 --step-cap 6000 [--tasks ...] [--schemes ...]

(``bench/compare_calibrate.py`` prints the table's rows; docs/results.md keeps the
full table with each seed's step, in-distribution exact match and time). The form
sets its steps from this table when tasks and schemes are picked, and names every
cell whose settings fall below what the table found necessary
(:func:`launcher_warnings`).

Our choice, and what was not searched: the table calibrates steps at the launcher's one
model (2 layers x width 64, lr 2e-3, batch 64) for every cell, since one sweep trains
one model size for all its cells; other sizes and learning rates were not tried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lengen_core.config import RunConfig
from lengen_core.errors import ConfigError
from lengen_core.sweeps import expand_grid

# The launcher's numbers: (field, label, minimum, default, step); the Compare page draws them four to a row.
LAUNCH_NUMBERS: tuple[tuple[str, str, float, float, float], ...] = (
    ("seeds", "Seeds per cell", 1, 2, 1),
    ("steps", "Steps", 1, 1000, 250),
    ("budget", "Time budget per run (s, 0 = none)", 0.0, 0.0, 30.0),
    ("train_max", "Train lengths up to", 1, 10, 1),
    ("layers", "Layers", 1, 2, 1),
    ("d_model", "Width (d_model)", 8, 64, 8),
    ("samples", "Eval samples per length", 1, 100, 50),
    ("batch", "Batch size", 1, 64, 8),
    ("ape_offset", "Learned APE: random training offset up to (0 = none)", 0, 0, 16),
)
LAUNCH_DEFAULTS: dict[str, float] = {field: default for field, _, _, default, _ in LAUNCH_NUMBERS}
# Reverse alone by default: at the launcher's size (2 layers x width 64) addition is learned in distribution by no
# scheme within 6,000 steps (lowest exact match over lengths 1-10: learned APE 0.00 on 2 seeds, RoPE 0.82, coupling
# 0.00), so its cells would be grey after 7-8 minutes each. A user who adds it is told so (launcher_warnings).
DEFAULT_TASKS = ("reverse",)
DEFAULT_SCHEMES = ("learned", "rope", "coupled")
# Stopping once learned is an option, off by default: measured with bench/bench_stop_when_learned.py, a coupled
# reverse run of the default sweep keeps extending its breakdown long after it fits lengths 1-10, so a stopped run
# understates what its scheme reaches with the sweep's steps (docs/results.md, issue 28).
LAUNCH_UNTIL_LEARNED = False
UNTIL_LEARNED_CAUTION = (
    "a coupled reverse run of the default sweep that stops once learned (750-1,000 steps) breaks at 18 on 2 of 2 seeds, "
    "the same run trained to its 6,000 steps at 60 and 100, so cells that stop at different steps are not compared "
    "on equal terms."
)


CHECK_EVERY = RunConfig().train.learned_check_every  # the launcher's learned checks (250 steps apart)


@dataclass(frozen=True)
class CellCalibration:
    """What the calibration measured for one (task, scheme) at the launcher's defaults.

    ``learned_steps``: the step each seed's learned check passed at (None: not learned
    within ``step_cap``). ``in_distribution``: each seed's lowest exact match over the
    training lengths after training. ``seconds``: each seed's time to result (training,
    length sweep and search), one run at a time on one core of the development machine.
    """

    learned_steps: tuple[int | None, ...]
    in_distribution: tuple[float, ...]
    seconds: tuple[float, ...]
    step_cap: int

    @property
    def learned(self) -> bool:
        return all(step is not None for step in self.learned_steps)

    @property
    def steps_needed(self) -> int | None:
        """The largest seed's learned step rounded up to a learned check, or None when a seed did not learn."""
        if not self.learned:
            return None
        most = max(step for step in self.learned_steps if step is not None)
        return -(-most // CHECK_EVERY) * CHECK_EVERY


# Measured by the command in the module docstring (2 seeds each, launcher defaults, until learned, cap 6,000 steps).
CALIBRATION: dict[tuple[str, str], CellCalibration] = {
    ("reverse", "learned"): CellCalibration(learned_steps=(4250, None), in_distribution=(0.96, 0.9), seconds=(237, 250), step_cap=6000),
    ("reverse", "rope"): CellCalibration(learned_steps=(4250, 4500), in_distribution=(0.95, 1.0), seconds=(238, 244), step_cap=6000),
    ("reverse", "coupled"): CellCalibration(learned_steps=(500, 750), in_distribution=(1.0, 1.0), seconds=(32, 41), step_cap=6000),
    ("addition", "learned"): CellCalibration(learned_steps=(None, None), in_distribution=(0.0, 0.0), seconds=(395, 396), step_cap=6000),
    # one seed each: with the first one at 0.82 and 0.00 after 6,000 steps, the second was not run
    ("addition", "rope"): CellCalibration(learned_steps=(None,), in_distribution=(0.82,), seconds=(498,), step_cap=6000),
    ("addition", "coupled"): CellCalibration(learned_steps=(None,), in_distribution=(0.0,), seconds=(475,), step_cap=6000),
}


def launcher_changes(numbers: dict[str, Any], until_learned: bool) -> dict[str, Any]:
    """The dotted config fields the launcher's numbers set (every cell shares them; task and scheme come per cell)."""
    return {
        "task.train_length_max": int(numbers["train_max"]),
        "train.steps": int(numbers["steps"]),
        "train.time_budget_s": float(numbers["budget"]) or None,
        "train.batch_size": int(numbers["batch"]),
        "train.stop_when_learned": bool(until_learned),
        "model.n_layers": int(numbers["layers"]),
        "model.d_model": int(numbers["d_model"]),
        "model.d_ff": 4 * int(numbers["d_model"]),
        "eval.samples_per_length": int(numbers["samples"]),
    }


def launcher_config(task: str, scheme: str, *, steps: int, until_learned: bool = LAUNCH_UNTIL_LEARNED) -> RunConfig:
    """The config one Compare cell trains with the form's defaults and ``steps``: what the calibration measures."""
    numbers = dict(LAUNCH_DEFAULTS, steps=steps)
    return RunConfig().replace(**launcher_changes(numbers, until_learned), **{"task.name": task, "positions.scheme": scheme})


def launcher_cells(tasks: list[str], schemes: list[str], numbers: dict[str, Any], until_learned: bool) -> tuple[list[tuple[RunConfig, int]], list[str]]:
    """The launch's cells x seeds, and a note for every (task, scheme) left out because the combination is invalid.

    ``numbers["ape_offset"] > 0`` trains the ``learned`` cells with random position offsets up to it
    (``positions.train_offset_max``; the APE setting of Huang et al.'s predictions); other schemes keep theirs.
    Raises :class:`ConfigError` naming the field when the numbers themselves are invalid.
    """
    base = RunConfig().replace(**launcher_changes(numbers, until_learned), **{"task.name": tasks[0] if tasks else RunConfig().task.name})
    seeds = list(range(int(numbers["seeds"])))
    ape_offset = int(numbers["ape_offset"])
    per_scheme = {"learned": {"positions.train_offset_max": ape_offset}} if ape_offset > 0 else None
    cells: list[tuple[RunConfig, int]] = []
    skipped: list[str] = []
    for task in tasks:
        for scheme in schemes:
            try:
                cells.extend(expand_grid(base, tasks=[task], schemes=[scheme], seeds=seeds, changes_per_scheme=per_scheme))
            except ConfigError as error:
                skipped.append(f"{task} / {scheme}: {error.field}: {error.message.split(' (in sweep cell')[0]}")
    return cells, skipped


def suggested_steps(tasks: list[str], schemes: list[str]) -> int | None:
    """Steps that let every calibrated chosen cell learn (the largest need; a cell not learned within its cap
    asks for its cap), or None when no chosen cell was calibrated."""
    needs: list[int] = []
    for cell in ((task, scheme) for task in tasks for scheme in schemes):
        found = CALIBRATION.get(cell)
        if found is not None:
            steps_needed = found.steps_needed  # None when a seed did not learn
            needs.append(found.step_cap if steps_needed is None else steps_needed)
    return max(needs) if needs else None


def launcher_warnings(tasks: list[str], schemes: list[str], numbers: dict[str, Any]) -> list[str]:
    """One sentence per chosen cell whose settings fall below what the calibration found necessary."""
    smaller_model = [
        f"{label.lower()} {numbers[field]:g} < {LAUNCH_DEFAULTS[field]:g}"
        for field, label in (("layers", "Layers"), ("d_model", "Width"), ("batch", "Batch size"))
        if numbers[field] < LAUNCH_DEFAULTS[field]
    ]
    notes = []
    if smaller_model and any((t, s) in CALIBRATION for t in tasks for s in schemes):
        trained = f"{LAUNCH_DEFAULTS['layers']:g} layers x width {LAUNCH_DEFAULTS['d_model']:g}, batch {LAUNCH_DEFAULTS['batch']:g}"
        notes.append(f"The calibration trained {trained}; here {', '.join(smaller_model)}, so its steps may not be enough.")
    if numbers["train_max"] != LAUNCH_DEFAULTS["train_max"] and any((t, s) in CALIBRATION for t in tasks for s in schemes):
        notes.append(f"The calibration trained lengths 1..{LAUNCH_DEFAULTS['train_max']:g}; here 1..{numbers['train_max']:g}, so its steps are only a guide.")
    for task in tasks:
        for scheme in schemes:
            found = CALIBRATION.get((task, scheme))
            if found is None:
                continue
            if not found.learned:
                shown = ", ".join(f"{value:.2f}" for value in found.in_distribution)
                seeds = len(found.learned_steps)
                learned = sum(step is not None for step in found.learned_steps)
                if learned:
                    notes.append(
                        f"{task} / {scheme} learned its training range on only {learned} of {seeds} seeds within "
                        f"{found.step_cap:,} steps in calibration (in-distribution exact match {shown}): expect some "
                        "of its runs not to learn it."
                    )
                else:
                    notes.append(
                        f"{task} / {scheme} did not learn its training range within {found.step_cap:,} steps in "
                        f"calibration (in-distribution exact match {shown}): expect a grey cell."
                    )
            elif numbers["steps"] < found.steps_needed:
                notes.append(
                    f"{task} / {scheme} needed {found.steps_needed:,} steps to learn its range in calibration "
                    f"({len(found.learned_steps)} seeds); {int(numbers['steps']):,} may end before it does."
                )
    return notes
