"""Theory beside measurement: which prediction applies to a run, and what the run did.

A task carries its labels (:mod:`lengen_core.tasks.theory`); this module picks
the one that applies to a run's position scheme and compares it with the
run's length sweep:

- ``nope`` runs get Huang et al.'s NoPE prediction (a C-RASP program);
- ``learned`` runs trained with random offsets (``positions.train_offset_max > 0``)
  get their APE prediction (a C-RASP[Periodic, Local] program). Learned APE
  without offsets has no prediction: positions past the training length are
  never trained, and the theory assumes offsets that cover them;
- the coupled schemes on a k-sparse task get Golowich et al.'s prediction:
  coupling gives the ``k`` tokens an answer depends on fixed position ids, so
  the dependency is local whatever the length (their Theorem on position
  coupling), and length generalization is predicted;
- every other scheme has no prediction from the papers the app rests on.

The measured outcome (our operational choice, stated here so that every page
and the CLI say the same): a run **generalizes** when exact match stays at or
above the run's threshold (``eval.threshold``) at every tested length up to
:data:`GENERALIZATION_FACTOR` times its longest training length; it **fails**
when it learned its training range at that threshold but breaks before that; it
**did not learn** when it breaks inside the training range (such a run says
nothing about length generalization and is left out of agreement rates); and it
is **not tested far enough** when it held up to the longest length it was tested
at but that length is short of the factor.
"""

from __future__ import annotations

from dataclasses import dataclass

from lengen_core.config import PositionConfig, RunConfig
from lengen_core.tasks import build_task
from lengen_core.tasks.theory import GOLOWICH_2025, Prediction, TaskTheory

GENERALIZATION_FACTOR = 2.0
OUTCOMES = ("generalizes", "fails", "did not learn", "not tested far enough", "no result")
COUPLING_CLAIM = "a k-sparse dependency made local by coupled ids"


@dataclass(frozen=True)
class ApplicablePrediction:
    """The prediction for one run's setting, or why there is none.

    setting: ``"NoPE"``, ``"APE with random offsets"``, ``"position coupling"`` or the scheme's name.
    prediction: the verdict, or ``None`` when no source predicts this setting.
    note: why there is no prediction, or a caveat on it.
    """

    setting: str
    prediction: Prediction | None
    note: str = ""

    def sentence(self) -> str:
        if self.prediction is None:
            return f"{self.setting}: no prediction ({self.note})"
        text = f"{self.setting}: {self.prediction.sentence()}"
        return f"{text}; {self.note}" if self.note else text


def setting_label(scheme: str, train_offset_max: int | None) -> str:
    """The column a run belongs to when predictions are compared: ``learned+offsets`` for APE with offsets."""
    if scheme == "learned" and train_offset_max is not None and train_offset_max > 0:
        return "learned+offsets"
    return scheme


def prediction_for_setting(theory: TaskTheory, scheme: str, train_offset_max: int) -> ApplicablePrediction:
    """Which of a task's labels applies to ``scheme`` trained with offsets up to ``train_offset_max``."""
    if scheme == "nope":
        note = "" if theory.nope is not None else "no source labels this task for NoPE"
        return ApplicablePrediction("NoPE", theory.nope, note)
    if scheme == "learned":
        if train_offset_max <= 0:
            return ApplicablePrediction(
                "learned APE without offsets", None, "Huang et al.'s APE prediction assumes training with random offsets (set positions.train_offset_max > 0)"
            )
        note = "" if theory.ape is not None else "no source labels this task for APE"
        return ApplicablePrediction("APE with random offsets", theory.ape, note)
    if scheme in ("coupled", "predictive_coupled"):
        if theory.sparsity is None:
            return ApplicablePrediction("position coupling", None, "the theory covers k-sparse tasks; this task is not labelled k-sparse")
        prediction = Prediction(True, COUPLING_CLAIM, GOLOWICH_2025)
        return ApplicablePrediction("position coupling", prediction, theory.sparsity.sentence())
    return ApplicablePrediction(scheme, None, "none of the app's sources predicts this scheme")


def prediction_for(config: RunConfig) -> ApplicablePrediction:
    """The prediction that applies to a run's task (with its options) and position scheme."""
    task = build_task(config.task.name, config.task.options)
    return prediction_for_setting(task.theory, config.positions.scheme, _offset(config.positions))


def _offset(positions: PositionConfig) -> int:
    """The offset a learned table trains with: ``-1`` (the scheme's default) is none for learned APE."""
    return max(positions.train_offset_max, 0)


@dataclass(frozen=True)
class MeasuredOutcome:
    """What a run did, in the words of :data:`OUTCOMES`, with the lengths it rests on."""

    verdict: str
    breakdown_length: int | None
    train_length_max: int
    longest_tested: int | None

    @property
    def decided(self) -> bool:
        """Whether the run says anything about length generalization (generalizes or fails)."""
        return self.verdict in ("generalizes", "fails")

    def agrees_with(self, prediction: Prediction | None) -> bool | None:
        """``True``/``False`` when both a prediction and a decided outcome exist, else ``None``."""
        if prediction is None or not self.decided:
            return None
        return prediction.generalizes == (self.verdict == "generalizes")


def measured_outcome(breakdown_length: int | None, train_length_max: int, longest_tested: int | None) -> MeasuredOutcome:
    """The outcome of a finished run's length sweep (see the module docstring for the rule)."""
    if longest_tested is None:
        verdict = "no result"
    elif breakdown_length is None or breakdown_length < min(train_length_max, longest_tested):
        verdict = "did not learn"
    elif breakdown_length >= GENERALIZATION_FACTOR * train_length_max:
        verdict = "generalizes"
    elif breakdown_length >= longest_tested:
        verdict = "not tested far enough"
    else:
        verdict = "fails"
    return MeasuredOutcome(verdict, breakdown_length, train_length_max, longest_tested)


def agreement_rate(pairs: list[tuple[Prediction | None, MeasuredOutcome]]) -> tuple[int, int]:
    """(agreeing, compared) over the pairs where a prediction and a decided outcome exist."""
    compared = [outcome.agrees_with(prediction) for prediction, outcome in pairs]
    decided = [value for value in compared if value is not None]
    return sum(decided), len(decided)


@dataclass(frozen=True)
class TheoryCheck:
    """One run's prediction beside its measured outcome."""

    applicable: ApplicablePrediction
    outcome: MeasuredOutcome

    @property
    def agrees(self) -> bool | None:
        return self.outcome.agrees_with(self.applicable.prediction)

    @property
    def agreement_word(self) -> str:
        """``"yes"``, ``"NO"`` or ``"-"`` (nothing to compare): the tables' agrees column."""
        return {True: "yes", False: "NO", None: "-"}[self.agrees]

    def lines(self) -> list[str]:
        """``predicted: ...``, ``measured: ...``, and whether they agree: what the CLI and pages print."""
        outcome = self.outcome
        held = (
            "exact match below the threshold at every tested length"
            if outcome.breakdown_length is None
            else f"exact match held up to length {outcome.breakdown_length}"
        )
        measured = (
            f"measured: {outcome.verdict} ({held}; trained up to "
            f"{outcome.train_length_max}, tested up to {outcome.longest_tested or '-'}; generalizing means holding to "
            f"{GENERALIZATION_FACTOR:g}x the training length)"
        )
        agreement = {True: "agrees with the prediction", False: "DISAGREES with the prediction", None: "no comparison"}[self.agrees]
        return [f"predicted: {self.applicable.sentence()}", measured, agreement]


def check_run(config: RunConfig, breakdown_length: int | None, longest_tested: int | None) -> TheoryCheck:
    """The prediction for ``config`` beside what its length sweep measured."""
    outcome = measured_outcome(breakdown_length, config.task.train_length_max, longest_tested)
    return TheoryCheck(prediction_for(config), outcome)
