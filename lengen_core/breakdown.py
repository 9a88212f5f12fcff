"""A breakdown: where a run's exact match first falls below its threshold, as one value.

A sweep measures it (:attr:`lengen_core.evaluation.SweepResult.breakdown`), the store keeps it
(:meth:`lengen_core.store.RunStore.set_eval_points`, :meth:`lengen_core.store.records.RunRecord.breakdown`), and
every view writes it the same way (``str()``): ``40 (4.0x; interval 36-44)``, ``≥ 640 (≥ 64.0x): the position
table ends at 640``, or ``none: below the threshold at the shortest tested length``. This module imports nothing of
lengen_core, so every layer can hold one.
"""

from __future__ import annotations

from dataclasses import dataclass


def is_bound(breakdown: int | None, longest_tested: int | None, bound_reason: str | None) -> bool:
    """Whether a breakdown is a lower bound: a search stopped without a failure, or a sweep held to its end."""
    return breakdown is not None and (bound_reason is not None or (longest_tested is not None and breakdown >= longest_tested))


def ratio_text(breakdown: int | None, train_length_max: int, bound: bool = False) -> str:
    """``4.0x`` / ``≥ 4.0x`` (``-`` without a breakdown): the breakdown over the longest training length."""
    if breakdown is None or not train_length_max:
        return "-"
    return f"{'≥ ' if bound else ''}{breakdown / train_length_max:.1f}x"


@dataclass(frozen=True)
class Breakdown:
    """Where exact match first falls below the threshold, with its interval and whether it is a bound.

    ``length`` is the last length that held (None: not even the shortest); ``train_length_max`` the longest training
    length it is measured against; ``low``/``high`` the interval where the Wilson bands straddle the threshold
    (:func:`lengen_core.length_search.breakdown_interval`); ``bound_reason`` why a length search stopped while the run
    still held (the breakdown is then "≥ L"); ``longest_tested`` the longest length the sweep tested (a breakdown
    there is a bound too). The store keeps every field but ``longest_tested``, which it reads from the points.
    """

    length: int | None
    train_length_max: int
    low: int | None = None
    high: int | None = None
    bound_reason: str | None = None
    longest_tested: int | None = None

    @property
    def ratio(self) -> float | None:
        """The breakdown as a multiple of the longest training length."""
        return None if self.length is None or not self.train_length_max else self.length / self.train_length_max

    @property
    def is_bound(self) -> bool:
        """Whether the run still held where the sweep or search stopped (the breakdown is then "≥ L")."""
        return is_bound(self.length, self.longest_tested, self.bound_reason)

    @property
    def ratio_text(self) -> str:
        """``4.0x``, ``≥ 4.0x`` for a bound, ``-`` without a breakdown."""
        return ratio_text(self.length, self.train_length_max, self.is_bound)

    def __str__(self) -> str:
        if self.length is None:
            return "none: below the threshold at the shortest tested length"
        if self.is_bound:
            return f"≥ {self.length} ({self.ratio_text}): {self.bound_reason or 'the sweep ended there'}"
        low, high = self.low, self.high
        interval = ""
        if high is not None and (low, high) != (self.length, self.length):
            # low None: even the first tested length's interval reaches below the threshold
            interval = f"; interval {low}-{high}" if low is not None else f"; interval from below the first tested length to {high}"
        return f"{self.length} ({self.ratio_text}{interval})"
