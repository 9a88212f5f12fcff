"""The breakdown as the pages write it: the stored record's (or sweep's) number, interval and bound, in one line;
and the number of examples behind a curve's points, which every table shows beside it.

The words are :class:`lengen_core.breakdown.Breakdown`'s; runs stored before the interval existed (schema v4) get
it from their points when the page has them.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from lengen_core.evaluation import eval_points_of
from lengen_core.length_search import breakdown_interval
from lengen_core.store import RunRecord


def record_breakdown_text(record: RunRecord, longest_tested: int | None, points: pd.DataFrame | None = None) -> str:
    """A run's headline breakdown (its ``default`` sweep) in words; ``points`` fill the interval of an older run."""
    breakdown = record.breakdown(longest_tested)
    if breakdown.low is None and breakdown.high is None and points is not None and len(points):
        config = record.run_config
        low, high = breakdown_interval(eval_points_of(points), config.eval.threshold, config.task.train_length_min)
        breakdown = dataclasses.replace(breakdown, low=low, high=high)
    return str(breakdown)


def samples_text(counts: pd.Series) -> str:
    """``100``, or ``50-200`` when a curve's lengths were tested on different numbers of examples (``-`` without points)."""
    if not len(counts):
        return "-"
    low, high = int(counts.min()), int(counts.max())
    return str(low) if low == high else f"{low}-{high}"
