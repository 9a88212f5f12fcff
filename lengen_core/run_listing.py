"""What the run listings show, computed from :meth:`lengen_core.store.RunStore.list_runs`'s table: the filters of
the Runs page, each run's breakdown as every view writes it, a mixture run's other tasks' breakdowns, and the
sweeps in a store (Compare's picker). The pages draw these; they do not compute them."""

from __future__ import annotations

import numbers
from typing import Protocol

import pandas as pd

from lengen_core.breakdown import Breakdown


class PartSweepReader(Protocol):
    def part_sweeps(self, run_ids: list[str]) -> pd.DataFrame: ...


def _stored(row: pd.Series, column: str) -> object:
    """A listing cell, None where it is missing or NaN."""
    value = row.get(column)
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


def _stored_int(row: pd.Series, column: str) -> int | None:
    """A listing cell as an int (nullable integer columns come back as floats where a row has NaN)."""
    value = _stored(row, column)
    if value is None:
        return None
    if not isinstance(value, numbers.Real):
        raise TypeError(f"listing column {column!r} holds {value!r}, not a number")
    return int(float(value))


def breakdown_texts(runs: pd.DataFrame) -> list[str]:
    """Each finished run's breakdown as every view writes it (``≥ L: why`` when it is a bound, else ``L (r x; interval)``);
    empty for a run not finished."""
    texts = []
    for _, row in runs.iterrows():
        if row["status"] != "done":
            texts.append("")
            continue
        reason = _stored(row, "breakdown_bound")
        breakdown = Breakdown(
            _stored_int(row, "breakdown_length"),
            _stored_int(row, "train_length_max") or 0,
            low=_stored_int(row, "breakdown_low"),
            high=_stored_int(row, "breakdown_high"),
            bound_reason=None if reason is None else str(reason),
            longest_tested=_stored_int(row, "longest_tested"),
        )
        texts.append(str(breakdown))
    return texts


def part_breakdown_texts(store: PartSweepReader, runs: pd.DataFrame) -> dict[str, str]:
    """For each finished mixture run among ``runs``: its other tested tasks' breakdown lengths over their own
    training maxima, ``"copy_unique 24/12, sort none/4"`` (one query, :meth:`RunStore.part_sweeps`)."""
    if "mixture" not in runs:
        return {}
    mixtures = runs.loc[runs["mixture"].notna() & (runs["status"] == "done"), "run_id"].tolist()
    if not mixtures:
        return {}
    texts: dict[str, list[str]] = {}
    for part in store.part_sweeps(mixtures).itertuples():
        breakdown = "none" if pd.isna(part.breakdown_length) else int(part.breakdown_length)
        texts.setdefault(part.run_id, []).append(f"{part.task} {breakdown}/{int(part.train_length_max)}")
    return {run_id: ", ".join(parts) for run_id, parts in texts.items()}


def filter_runs(runs: pd.DataFrame, *, statuses: list[str], tasks: list[str], schemes: list[str], text: str) -> pd.DataFrame:
    """Rows matching every non-empty filter; ``text`` is a case-insensitive substring of id, name, config id or a tag."""
    mask = pd.Series(True, index=runs.index)
    if statuses:
        mask &= runs["status"].isin(statuses)
    if tasks:
        mask &= runs["task"].isin(tasks)
    if schemes:
        mask &= runs["scheme"].isin(schemes)
    text = text.strip().lower()
    if text:
        haystack = (
            runs["run_id"].astype(str)
            + " "
            + runs["name"].fillna("").astype(str)
            + " "
            + runs["config_id"].astype(str)
            + " "
            + runs["tags"].map(lambda tags: " ".join(tags) if tags is not None else "")
        ).str.lower()
        mask &= haystack.str.contains(text, regex=False)
    return runs[mask]


SWEEP_TAG_PREFIX = "sweep:"


def sweep_tag(name: str) -> str:
    """The tag every run of the sweep ``name`` carries: Compare's, the CLI's ``sweep --tag``, a Ray sweep's."""
    return f"{SWEEP_TAG_PREFIX}{name}"


def sweep_name_of(tag: str) -> str:
    """The sweep's name in its runs' tag (the inverse of :func:`sweep_tag`)."""
    return tag.removeprefix(SWEEP_TAG_PREFIX)


def sweep_tags(runs: pd.DataFrame) -> list[str]:
    """``sweep:<name>`` tags in the store, newest sweep first."""
    if len(runs) == 0 or "tags" not in runs:
        return []
    exploded = runs[["tags", "created_at"]].explode("tags").dropna(subset=["tags"])
    exploded = exploded[exploded["tags"].astype(str).str.startswith(SWEEP_TAG_PREFIX)]
    newest = exploded.groupby("tags")["created_at"].max().sort_values(ascending=False)
    return list(newest.index)
