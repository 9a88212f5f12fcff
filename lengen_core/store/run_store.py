"""RunStore: the one object callers use; each method is one session composed from the store's modules."""

from __future__ import annotations

import contextlib
import os
import pathlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import lengen_core.store.run_reads as run_reads
import lengen_core.store.run_writes as run_writes
import lengen_core.store.schema as schema
from lengen_core.breakdown import Breakdown
from lengen_core.store.bulk import TRAIN_LAYOUT, empty_columns
from lengen_core.store.export import export_download, export_tables
from lengen_core.store.opening import open_store_file
from lengen_core.store.owners import has_dead_owners, interrupt_runs_of_dead_owners
from lengen_core.store.records import RunRecord
from lengen_core.store.run_rows import check_tags, eval_point_columns, new_run_columns, train_point_columns
from lengen_core.store.values import check_name, check_status, optional_float, optional_text, required_int

if TYPE_CHECKING:  # imported where used: a worker that only writes starts faster without it
    import pandas


class RunStore:
    """The run database at ``path`` (default :func:`~lengen_core.store.default_store_path`).

    Safe to share between threads, and between processes using the same file
    (see :mod:`lengen_core.store`). ``read_only=True`` never writes: no migrations,
    no lock file created, every write method raises :class:`StoreError`.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, lock_timeout_s: float = 30.0, read_only: bool = False) -> None:
        self._file, dead_owners_seen = open_store_file(path, lock_timeout_s=lock_timeout_s, read_only=read_only)
        if not self.read_only and dead_owners_seen:
            self.mark_interrupted()  # every process that opens the store settles the runs of dead owners

    @property
    def path(self) -> pathlib.Path:
        """The store file (absolute)."""
        return self._file.path

    @property
    def lock_path(self) -> pathlib.Path:
        """The sidecar file ``<path>.lock`` that serialises sessions across processes."""
        return self._file.lock_path

    @property
    def lock_timeout_s(self) -> float:
        """How long one call waits in total for the store before it raises :class:`StoreBusy`."""
        return self._file.lock_timeout_s

    @lock_timeout_s.setter
    def lock_timeout_s(self, seconds: float) -> None:
        self._file.lock_timeout_s = float(seconds)

    @property
    def read_only(self) -> bool:
        return self._file.read_only

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r}{', read_only=True' if self.read_only else ''})"

    def schema_version(self) -> int:
        with self._file.session(write=False) as connection:
            return schema.stored_version(connection)

    # -- writing ---------------------------------------------------------------

    def create_run(
        self,
        *,
        config: dict[str, Any],
        config_id: str,
        seed: int,
        code_version: str,
        environment: dict[str, Any],
        name: str | None = None,
        status: str = "queued",
        tags: Sequence[str] = (),
    ) -> str:
        """Record a new run; returns its id (12 hex digits)."""
        return self.create_runs(
            [
                {
                    "config": config,
                    "config_id": config_id,
                    "seed": seed,
                    "code_version": code_version,
                    "environment": environment,
                    "name": name,
                    "status": status,
                    "tags": tags,
                }
            ]
        )[0]

    def create_runs(self, runs: Sequence[Mapping[str, Any]]) -> list[str]:
        """Record many runs in one transaction (each mapping holds :meth:`create_run`'s arguments).

        Returns their ids in order. Runs of one call get strictly increasing
        ``created_at`` (1 microsecond apart) so "newest first" keeps their order.
        """
        ids, columns = new_run_columns(runs)
        if not ids:
            return []
        with self._file.transaction(write=True) as connection:
            run_writes.insert_runs(connection, columns)
        return ids

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Every write of the block as one transaction and one session: all land at the end, or (on any
        exception) none. A driver applying many small records (the Ray runner) pays one commit, not one each."""
        with self._file.transaction(write=True):
            yield

    def set_status(self, run_id: str, status: str, *, error: str | None = None) -> None:
        """Move a run to ``status``; ``running`` sets started_at and the owner, a final status finished_at.

        Allowed moves are :data:`ALLOWED_TRANSITIONS`; a repeated status is a
        no-op (``running`` again refreshes the owner). Anything else raises
        :class:`InvalidTransition` naming both statuses.
        """
        check_status(status)
        with self._file.transaction(write=True) as connection:
            run_writes.move_status(connection, self.path, run_id, status, error)

    def update_progress(self, run_id: str, *, steps_done: int, train_seconds: float, stop_reason: str | None = None, learned_step: int | None = None) -> None:
        """The run's steps done and training seconds; at the end of training also why it ended
        (``stop_reason``) and, for a run stopped when learned, the step it counted as learned."""
        steps = required_int("steps_done", steps_done)
        seconds = optional_float("train_seconds", train_seconds)
        learned = None if learned_step is None else required_int("learned_step", learned_step)
        reason = optional_text("stop_reason", stop_reason)
        with self._file.transaction(write=True) as connection:
            run_writes.set_progress(connection, self.path, run_id, steps, seconds, reason, learned)

    def append_train_points(self, run_id: str, rows: Sequence[Mapping[str, Any]], *, steps_done: int | None = None, train_seconds: float | None = None) -> None:
        """Append training-curve points: step, loss, accuracy, lr, wall_time_s, tokens_per_s (all but step/loss may be None).

        With ``steps_done`` (and ``train_seconds``) the run's progress is updated
        in the same transaction, which halves the cost of a log event compared
        with a separate :meth:`update_progress` call.
        """
        columns = train_point_columns(run_id, rows)
        steps = None if steps_done is None else required_int("steps_done", steps_done)
        seconds = optional_float("train_seconds", train_seconds)
        with self._file.transaction(write=True) as connection:
            run_writes.append_train_points(connection, self.path, run_id, columns, None if steps is None else (steps, seconds))

    def append_train_points_of_runs(self, points: Mapping[str, tuple[Sequence[Mapping[str, Any]], int | None, float | None]]) -> None:
        """:meth:`append_train_points` for many runs at once, ``{run_id: (rows, steps_done, train_seconds)}``:
        one transaction of three statements however many runs (the Ray driver's batches). All land or none;
        an unknown run raises :class:`RunNotFound`."""
        columns = empty_columns(TRAIN_LAYOUT)
        progress = []
        for run_id, (rows, steps_done, train_seconds) in points.items():
            for name, values in train_point_columns(run_id, rows).items():
                columns[name].extend(values)
            if steps_done is not None:
                progress.append((run_id, required_int("steps_done", steps_done), optional_float("train_seconds", train_seconds)))
        with self._file.transaction(write=True) as connection:
            run_writes.append_train_points_of_runs(connection, self.path, columns, progress)

    def set_eval_points(self, run_id: str, rows: Sequence[Mapping[str, Any]], breakdown: Breakdown, *, sweep: str = "default") -> None:
        """Replace the points of sweep ``sweep`` of the run and its breakdown, atomically.

        Rows hold length, n, exact_match, exact_match_low, exact_match_high, token_accuracy. The store keeps the
        breakdown's length, training length, interval and bound reason (its ``longest_tested`` comes from the
        points). The ``default`` sweep's breakdown is the run's own.
        """
        check_name("sweep", sweep)
        checked = Breakdown(
            length=None if breakdown.length is None else required_int("breakdown.length", breakdown.length),
            train_length_max=required_int("breakdown.train_length_max", breakdown.train_length_max),
            low=None if breakdown.low is None else required_int("breakdown.low", breakdown.low),
            high=None if breakdown.high is None else required_int("breakdown.high", breakdown.high),
            bound_reason=optional_text("breakdown.bound_reason", breakdown.bound_reason),
        )
        columns = eval_point_columns(run_id, sweep, rows)
        with self._file.transaction(write=True) as connection:
            run_writes.replace_sweep(connection, self.path, run_id, sweep, columns, checked)

    def add_tags(self, run_id: str, tags: Sequence[str]) -> None:
        """Add ``tags`` to the run's tags (those it has are kept, in order; a tag is added once)."""
        new_tags = check_tags(tags)
        with self._file.transaction(write=True) as connection:
            run_writes.add_tags(connection, self.path, run_id, new_tags)

    def add_artifact(self, run_id: str, kind: str, path: str) -> None:
        check_name("kind", kind)
        with self._file.transaction(write=True) as connection:
            run_writes.add_artifact(connection, self.path, run_id, kind, path)

    def delete_runs(self, run_ids: Sequence[str], *, force: bool = False) -> int:
        """Delete runs and every row that belongs to them; returns how many runs were deleted.

        Unknown ids are skipped. A queued or running run whose process may still
        be alive is refused (:class:`StoreError` naming it; cancel it first) unless
        ``force=True``, so a worker never finds its run gone. Files (checkpoints)
        are not touched: read :meth:`artifacts` first.
        """
        ids = [str(run_id) for run_id in run_ids]
        if not ids:
            return 0
        with self._file.transaction(write=True) as connection:
            return run_writes.delete_runs(connection, ids, force=force)

    def mark_interrupted(self) -> list[str]:
        """Flip queued/running runs whose owner process on this host is gone to ``interrupted``; returns their ids.

        Called by every process that opens the store (read-write): a run whose
        process was killed is shown as interrupted by the next CLI command or
        page load, not left ``running``. Reads first, and writes only when
        there is a dead owner's run to settle.
        """
        self._file.refuse_read_only()
        with self._file.transaction(write=False) as connection:
            if not has_dead_owners(connection):
                return []
        with self._file.transaction(write=True) as connection:
            return interrupt_runs_of_dead_owners(connection)

    # -- reading ---------------------------------------------------------------

    def get_run(self, run_id: str) -> RunRecord:
        with self._file.transaction(write=False) as connection:
            return run_reads.read_run(connection, self.path, run_id)

    def find_identical(self, config_id: str, seed: int, code_version: str) -> str | None:
        """The newest ``done`` run with this config id, seed and code version, or None.

        What counts as identical, and why, is :mod:`lengen_core.runs.identity`'s to say.
        """
        with self._file.transaction(write=False) as connection:
            return run_reads.find_identical(connection, config_id, int(seed), code_version)

    def count_runs(self) -> int:
        with self._file.transaction(write=False) as connection:
            return run_reads.count_runs(connection)

    def list_runs(
        self,
        *,
        status: str | None = None,
        task: str | None = None,
        scheme: str | None = None,
        config_id: str | None = None,
        limit: int | None = None,
        tag: str | None = None,
        run_ids: Sequence[str] | None = None,
        with_checkpoint: bool = False,
    ) -> pandas.DataFrame:
        """One row per run, newest first, without the JSON blobs.

        Columns: run_id, name, status, task, scheme, attention, train_length_max,
        breakdown_length, breakdown_ratio, seed, config_id, created_at,
        started_at, finished_at, steps_done, train_seconds, tags, train_offset_max
        (from the config; null when the config has none), longest_tested (the
        longest length of the run's default sweep; null before it has one).

        ``with_checkpoint=True`` adds ``checkpoint_path`` (the run's newest
        checkpoint artifact, as recorded; the file may since have been removed)
        and keeps only runs that have one; it is the same single query, and
        ``limit`` then counts runs with a checkpoint.
        """
        query, parameters = run_reads.list_runs_query(
            status=status, task=task, scheme=scheme, config_id=config_id, limit=limit, tag=tag, run_ids=run_ids, with_checkpoint=with_checkpoint
        )
        with self._file.transaction(write=False) as connection:
            return run_reads.read_listing(connection, query, parameters)

    def train_curve(self, run_id: str) -> pandas.DataFrame:
        """Columns step, loss, accuracy, lr, wall_time_s, tokens_per_s, ordered by step."""
        with self._file.transaction(write=False) as connection:
            return run_reads.read_train_curve(connection, self.path, run_id)

    def eval_curve(self, run_ids: Sequence[str], sweep: str | None = None) -> pandas.DataFrame:
        """Columns run_id, sweep, length, n, exact_match(_low/_high), token_accuracy, and the sweep's
        breakdown_length and train_length_max; ordered by run, sweep, length. Unknown ids give no rows."""
        query, parameters = run_reads.eval_curve_request(run_ids, sweep)
        with self._file.transaction(write=False) as connection:
            return connection.execute(query, parameters).df()

    def sweeps(self, run_id: str) -> pandas.DataFrame:
        """The stored sweeps of a run: sweep, breakdown_length, train_length_max, created_at."""
        with self._file.transaction(write=False) as connection:
            return run_reads.read_sweeps(connection, self.path, run_id)

    def part_sweeps(self, run_ids: Sequence[str]) -> pandas.DataFrame:
        """Each mixture run's own sweep of each of its other tested tasks: run_id, task, breakdown_length,
        train_length_max (that task's), longest_tested; one query for all of ``run_ids``."""
        with self._file.transaction(write=False) as connection:
            return run_reads.read_part_sweeps(connection, run_ids)

    def artifacts(self, run_id: str) -> pandas.DataFrame:
        """Columns run_id, kind, path, created_at, oldest first."""
        with self._file.transaction(write=False) as connection:
            return run_reads.read_artifacts(connection, self.path, run_id)

    @property
    def checkpoint_dir(self) -> pathlib.Path:
        """Where runs of this store write their checkpoint files: ``checkpoints/`` beside the database."""
        return self.path.parent / "checkpoints"

    def checkpoint_path(self, run_id: str) -> str | None:
        """The path of the run's newest checkpoint artifact as recorded, or None when it has none.

        The file itself is not looked at (:func:`lengen_core.runs.loading.existing_checkpoint`
        also checks that it is on disk). Unknown runs raise :class:`RunNotFound`.
        """
        with self._file.transaction(write=False) as connection:
            return run_reads.read_checkpoint_path(connection, self.path, run_id)

    # -- export ------------------------------------------------------------------

    def export(self, run_ids: Sequence[str] | None, directory: str | os.PathLike[str], fmt: str = "parquet") -> list[pathlib.Path]:
        """Write runs, train_curve, eval_curve and artifacts as ``<directory>/<table>.<fmt>``.

        ``run_ids=None`` exports every run. All four tables come from one
        snapshot. In CSV, tags are a JSON list. Returns the written paths.
        """
        return export_tables(self._file, run_ids, directory, fmt)

    def export_download(self, run_ids: Sequence[str], fmt: str = "parquet") -> tuple[str, bytes, str]:
        """The export of ``run_ids`` as one download (file name, bytes, mime type): one file, or a zip of the tables."""
        return export_download(self._file, run_ids, fmt)
