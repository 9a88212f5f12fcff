"""What a run is to the store: its statuses, the moves between them, its record, and the errors naming a run."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lengen_core.breakdown import Breakdown
from lengen_core.config import RunConfig
from lengen_core.errors import StoreError, shown

RUN_STATUSES: tuple[str, ...] = ("queued", "running", "done", "diverged", "failed", "cancelled", "interrupted")
FINAL_STATUSES: tuple[str, ...] = ("done", "diverged", "failed", "cancelled", "interrupted")

# Which status a run may move to from each status (same-status calls are no-ops).
ALLOWED_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "queued": ("running", "failed", "cancelled", "interrupted"),
    "running": ("done", "diverged", "failed", "cancelled", "interrupted"),
    **{status: () for status in FINAL_STATUSES},
}


class RunNotFound(StoreError, KeyError):
    """No run with this id is in the store."""

    def __init__(self, run_id: str, path: os.PathLike[str] | str) -> None:
        self.run_id = run_id
        super().__init__(f"no run {shown(run_id)} in run store {path}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class InvalidTransition(StoreError, ValueError):
    """A status change the run's life does not allow (a finished run cannot run again)."""


@dataclass(frozen=True)
class RunRecord:
    """One row of ``runs`` with the config and environment parsed. Times are UTC-aware."""

    run_id: str
    name: str | None
    config_id: str
    config: dict[str, Any]
    seed: int
    status: str
    error: str | None
    code_version: str
    environment: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    breakdown_length: int | None
    train_length_max: int | None
    steps_done: int
    train_seconds: float | None
    owner: str | None
    tags: list[str]
    stop_reason: str | None = None  # why training ended (lengen_core.learned_check.stop_reason); None before schema v3
    learned_step: int | None = None  # train.stop_when_learned: the step the training range counted as learned
    breakdown_low: int | None = None  # the breakdown's interval (lengen_core.length_search); None before schema v3
    breakdown_high: int | None = None
    breakdown_bound: str | None = None  # why a length search stopped without a failure: the breakdown is then "≥ L"

    @property
    def breakdown_ratio(self) -> float | None:
        return self.breakdown(None).ratio

    def breakdown(self, longest_tested: int | None) -> Breakdown:
        """The run's stored breakdown (its main task's, with interval and bound), over a sweep that tested up to
        ``longest_tested`` (the store keeps the points, not that length)."""
        return Breakdown(self.breakdown_length, self.train_length_max or 0, self.breakdown_low, self.breakdown_high, self.breakdown_bound, longest_tested)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @functools.cached_property
    def run_config(self) -> RunConfig:
        """The stored config as a validated :class:`~lengen_core.config.RunConfig` (built once per record).

        Raises :class:`~lengen_core.errors.ConfigError` when the stored config is
        not a valid one of this LenGen Lab (e.g. a hand-made partial config).
        """
        return RunConfig.from_stored(self.config)
