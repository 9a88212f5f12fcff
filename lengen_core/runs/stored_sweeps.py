"""Which of a run's stored sweeps set its curve: its own sweep wins at a length, then the one with most samples."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lengen_core.evaluation import EvalPoint, breakdown_length
from lengen_core.store import EVAL_COLUMNS
from lengen_core.sweep_names import part_sweep_base


def own_sweep(points: pd.DataFrame) -> pd.Series:
    """True for the points of the run's own sweep (``default``, or ``default@<task>`` of a mixture's other task)."""
    return points["sweep"].map(part_sweep_base) == "default"


def combine_sweeps(points: pd.DataFrame) -> pd.DataFrame:
    """One point per length from all of a run's sweeps of one task: its own sweep wins, then the most samples."""
    if len(points) == 0:
        return points
    ranked = points.assign(_default=(~own_sweep(points)).astype(int)).sort_values(["length", "_default", "n"], ascending=[True, True, False])
    return ranked.drop_duplicates("length").drop(columns="_default").reset_index(drop=True)


@dataclass(frozen=True)
class CombinedSweeps:
    """A run's sweeps of one task as one curve: ``points`` one row per length (:func:`combine_sweeps`), the
    breakdown over all of them, and whether the extra sweeps reach past the run's own sweep (then the curve ends
    where they end)."""

    points: pd.DataFrame
    breakdown_length: int | None
    extra_beyond: bool


def combined_sweeps(points: pd.DataFrame, threshold: float, train_length_min: int) -> CombinedSweeps:
    """All of a run's stored sweeps of one task (``points``: rows of its eval curve with their ``sweep``) as one
    curve, with the breakdown recomputed over every length tested (``threshold``: the run's pass rate)."""
    frame = combine_sweeps(points)
    eval_points = [EvalPoint(**{key: row[key] for key in EVAL_COLUMNS}) for row in frame.to_dict("records")]
    own = points[own_sweep(points)]["length"] if len(points) else pd.Series(dtype=int)
    extra_beyond = len(frame) > 0 and (len(own) == 0 or int(frame["length"].max()) != int(own.max()))
    return CombinedSweeps(frame, breakdown_length(eval_points, threshold, train_length_min) if eval_points else None, extra_beyond)
