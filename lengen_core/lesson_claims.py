"""The claims a lesson makes about its runs, and how each is checked against what the runs measured.

A claim (:class:`Expectation`) names one or two of a lesson's runs and a rule on their breakdown lengths:
"coupling holds to 2x", "APE stops at its training length", "HSA generalizes further than dense attention", "the
predictive run learns its range where NoPE does not". :meth:`Expectation.status` checks it against each run's
:class:`RunOutcome` and says :class:`ClaimStatus`: holds, does not hold, not measured yet, or "did not learn" when
a run it compares never learned its own training range, which says nothing about lengths past it
(:func:`lengen_core.theory.measured_outcome` decides what learned means). The lessons themselves are in
:mod:`lengen_core.lessons`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lengen_core.theory import MeasuredOutcome, measured_outcome


@dataclass(frozen=True)
class RunOutcome:
    """What a finished run measured, as far as lessons care."""

    breakdown_length: int | None
    train_length_max: int
    max_tested_length: int

    @classmethod
    def of_bundled(cls, entry: Mapping[str, Any]) -> RunOutcome:
        """The outcome of a bundled demo run, from its manifest entry (``data/demo/manifest.json``)."""
        lengths = [point["length"] for point in entry["eval_points"]] or [entry["train_length_max"]]
        return cls(entry["breakdown_length"], entry["train_length_max"], max(lengths))

    @property
    def measured(self) -> MeasuredOutcome:
        """The run's outcome in theory's words (:func:`lengen_core.theory.measured_outcome`)."""
        return measured_outcome(self.breakdown_length, self.train_length_max, self.max_tested_length)

    @property
    def learned(self) -> bool:
        """Whether the run learned its own training range."""
        return self.measured.verdict != "did not learn"


class ClaimStatus(StrEnum):
    """Where a lesson's claim stands against its runs. ``did not learn``: a claim about generalization whose run
    did not learn its own training range, so theory says nothing either way (counted apart, never as agreement)."""

    HOLDS = "holds"
    FAILS = "does not hold"
    NOT_LEARNED = "did not learn"
    PENDING = "not measured yet"


@dataclass(frozen=True)
class Expectation:
    """A claim about the runs of a lesson, checked against their outcomes.

    kinds:
      ``extrapolates``: ``run`` keeps accuracy >= threshold up to ``factor`` x its
        longest training length (or to the longest tested length, if shorter);
      ``stops``: ``run`` learned its training range and breaks down at its longest training length;
      ``short``: ``run`` learned its training range and breaks down before ``factor`` x its longest training
        length (what a predicted failure means in :mod:`lengen_core.theory`);
      ``beats``: ``run`` and ``other`` both learned their training ranges, and ``run`` has the larger breakdown length;
      ``learns``: ``run`` learned its training range and ``other``, trained with the same budget, did not (a claim
        about learning, not about length: where a baseline never fits its range, this is all its runs can show);
      ``predicted``: theory's prediction for ``run`` (``generalizes``) against its
        measured outcome (:func:`lengen_core.theory.measured_outcome`): holds when they
        agree, does not hold when they disagree, and "did not learn" when the run did
        not learn its training range (then the prediction says nothing about it).

    A ``stops``, ``short``, ``beats`` or ``predicted`` claim on a run that did not learn its training range is "did
    not learn", never "holds": a run that fails inside its range shows nothing about lengths beyond it, and "generalizes
    further than" a run that never fitted its range compares nothing.
    """

    kind: str
    run: str
    other: str | None = None
    factor: float = 2.0
    generalizes: bool | None = None  # the prediction a ``predicted`` claim compares with

    def __post_init__(self) -> None:
        if self.kind not in ("extrapolates", "stops", "short", "beats", "learns", "predicted"):
            raise ValueError(f"unknown expectation kind {self.kind!r}")
        if self.kind in ("beats", "learns") and self.other is None:
            raise ValueError(f"a {self.kind!r} expectation needs another run")
        if self.kind == "predicted" and self.generalizes is None:
            raise ValueError("a 'predicted' expectation needs the prediction (generalizes)")

    def describe(self, labels: Mapping[str, str]) -> str:
        name = labels.get(self.run, self.run)
        other = labels.get(self.other or "", self.other)
        if self.kind == "extrapolates":
            return f"{name} stays accurate up to {self.factor:g}x its training length"
        if self.kind == "stops":
            return f"{name} breaks down at (or before) its training length"
        if self.kind == "short":
            return f"{name} breaks down before {self.factor:g}x its training length"
        if self.kind == "predicted":
            return f"{name}: theory predicts it {'generalizes' if self.generalizes else 'fails'} (holds to {self.factor:g}x or not)"
        if self.kind == "learns":
            return f"{name} learns its training range; {other}, with the same budget, does not"
        return f"{name} generalizes further than {other}"

    def status(self, outcomes: Mapping[str, RunOutcome]) -> ClaimStatus:
        """Whether the claim holds against ``outcomes`` (see :class:`ClaimStatus`)."""
        outcome = outcomes.get(self.run)
        other = outcomes.get(self.other) if self.other is not None else None
        if outcome is None or (self.other is not None and other is None):
            return ClaimStatus.PENDING
        if self.kind == "learns":
            assert other is not None
            return ClaimStatus.HOLDS if outcome.learned and not other.learned else ClaimStatus.FAILS
        if self.kind in ("predicted", "stops", "short", "beats"):
            # a failure past the training range, or a comparison of two, needs every range learned first
            if not outcome.learned or (other is not None and not other.learned):
                return ClaimStatus.NOT_LEARNED
            if self.kind == "predicted":
                measured = outcome.measured
                if not measured.decided:
                    return ClaimStatus.PENDING
                return ClaimStatus.HOLDS if (measured.verdict == "generalizes") == self.generalizes else ClaimStatus.FAILS
        return ClaimStatus.HOLDS if self._holds(outcome, other) else ClaimStatus.FAILS

    def runs_not_learned(self, outcomes: Mapping[str, RunOutcome]) -> tuple[str, ...]:
        """The keys of this claim's runs (``run``, then ``other``) that have an outcome and did not learn their range."""
        keys = (self.run,) if self.other is None else (self.run, self.other)
        return tuple(key for key in keys if key in outcomes and not outcomes[key].learned)

    def check(self, outcomes: Mapping[str, RunOutcome]) -> bool | None:
        """True / False, or None when a run it needs has no outcome yet or did not learn its range (see :meth:`status`)."""
        return {ClaimStatus.HOLDS: True, ClaimStatus.FAILS: False}.get(self.status(outcomes))

    def _holds(self, outcome: RunOutcome, other: RunOutcome | None) -> bool:
        """The claim's rule on measured breakdowns (``outcome``: its run's; ``other``: a ``beats`` claim's other run)."""
        reached = outcome.breakdown_length or 0
        if self.kind == "extrapolates":
            return reached >= min(self.factor * outcome.train_length_max, outcome.max_tested_length)
        if self.kind == "stops":
            return reached <= outcome.train_length_max
        if self.kind == "short":
            return reached < self.factor * outcome.train_length_max
        assert other is not None
        return reached > (other.breakdown_length or 0)


def claim_text(expectation: Expectation, status: ClaimStatus, labels: Mapping[str, str], outcomes: Mapping[str, RunOutcome]) -> str:
    """A claim as a lesson lists it beside its status: for "did not learn", which run did not learn its range first."""
    if status == ClaimStatus.NOT_LEARNED:
        names = " and ".join(labels.get(key, key) for key in expectation.runs_not_learned(outcomes))
        return f"{names} did not learn its training range, so this says nothing yet: {expectation.describe(labels)}"
    return expectation.describe(labels)


def tally(statuses: Sequence[ClaimStatus]) -> dict[ClaimStatus, int]:
    """How many claims are in each status (every status present, zeros included)."""
    return {status: sum(1 for value in statuses if value == status) for status in ClaimStatus}
