"""The breakdown as the pages write it: the stored record's (or sweep's) number, interval and bound, in one line.

The words are :func:`lengen_core.length_search.breakdown_text`'s; runs stored before the interval existed
(schema v4) get it from their points when the page has them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from lengen_core.length_search import breakdown_interval, breakdown_text
from lengen_core.store import RunRecord


def record_breakdown_text(record: RunRecord, longest_tested: int | None, points: pd.DataFrame | None = None) -> str:
    """A run's headline breakdown (its ``default`` sweep) in words; ``points`` fill the interval of an older run."""
    low, high = record.breakdown_low, record.breakdown_high
    if low is None and high is None and points is not None and len(points):
        config = record.run_config
        low, high = breakdown_interval(_eval_points(points), config.eval.threshold, config.task.train_length_min)
    return breakdown_text(
        record.breakdown_length, record.train_length_max or 0, low=low, high=high, bound_reason=record.breakdown_bound, longest_tested=longest_tested
    )


def _eval_points(points: pd.DataFrame) -> list[Any]:
    from lengen_core.evaluation import EvalPoint

    return [
        EvalPoint(int(row.length), int(row.n), float(row.exact_match), float(row.exact_match_low), float(row.exact_match_high), float(row.token_accuracy))
        for row in points.itertuples()
    ]
