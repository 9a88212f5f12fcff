"""Export: runs, train curves, eval curves and artifacts as parquet or CSV files, from one snapshot.

Each table is written to a temporary name in the target folder and renamed
into place, so a failed export never leaves a temporary or half-written file.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pathlib
import tempfile
import uuid
import zipfile
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lengen_core.errors import ConfigError, StoreError
from lengen_core.store.queries import ARTIFACT_COLUMNS, LIST_COLUMNS, LIST_ORDER, TRAIN_COLUMNS, eval_curve_query
from lengen_core.store.records import RunNotFound
from lengen_core.store.run_reads import RUN_TIMES
from lengen_core.store.sessions import StoreFile
from lengen_core.store.values import localize_times

if TYPE_CHECKING:  # imported where used: a worker that only writes starts faster without it
    import pandas

EXPORT_FORMATS: tuple[str, ...] = ("parquet", "csv")


def export_tables(store_file: StoreFile, run_ids: Sequence[str] | None, directory: str | os.PathLike[str], fmt: str = "parquet") -> list[pathlib.Path]:
    """Write runs, train_curve, eval_curve and artifacts as ``<directory>/<table>.<fmt>``.

    ``run_ids=None`` exports every run. All four tables come from one
    snapshot. In CSV, tags are a JSON list. Returns the written paths.
    """
    if fmt not in EXPORT_FORMATS:
        raise ConfigError("fmt", f"export format must be one of {list(EXPORT_FORMATS)}, got {fmt!r}")
    ids = None if run_ids is None else [str(run_id) for run_id in run_ids]
    frames = _read_tables(store_file, ids)
    target = pathlib.Path(os.fspath(directory)).expanduser()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot create export folder {target}: {error.strerror or error}") from None
    return [_write_table(target, table, frame, fmt) for table, frame in frames.items()]


def export_download(store_file: StoreFile, run_ids: Sequence[str], fmt: str) -> tuple[str, bytes, str]:
    """The export of ``run_ids`` as one download: (file name, bytes, mime type).

    One table comes back as that file; several are zipped together.
    """
    with tempfile.TemporaryDirectory(prefix="lengen-export-") as directory:
        paths = export_tables(store_file, list(run_ids), directory, fmt)
        if len(paths) == 1:
            mime = "text/csv" if fmt == "csv" else "application/vnd.apache.parquet"
            return paths[0].name, paths[0].read_bytes(), mime
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in paths:
                archive.write(path, arcname=path.name)
        return f"lengen-runs-{fmt}.zip", buffer.getvalue(), "application/zip"


def _read_tables(store_file: StoreFile, ids: list[str] | None) -> dict[str, pandas.DataFrame]:
    """The four exported tables of runs ``ids`` (None: all), read in one transaction; unknown ids raise RunNotFound."""
    condition, parameters = ("", []) if ids is None else ("WHERE list_contains(?, run_id)", [ids])
    queries = {
        "runs": f"SELECT {LIST_COLUMNS}, code_version, error, owner, config, environment FROM runs {condition} {LIST_ORDER}",
        "train_curve": f"SELECT run_id, {', '.join(TRAIN_COLUMNS)} FROM train_points {condition} ORDER BY run_id, step",
        "eval_curve": eval_curve_query() if ids is None else eval_curve_query("list_contains(?, p.run_id)"),
        "artifacts": f"SELECT {ARTIFACT_COLUMNS} FROM artifacts {condition} ORDER BY run_id, created_at",
    }
    frames = {}
    with store_file.transaction(write=False) as connection:
        if ids is not None:
            found = {row[0] for row in connection.execute("SELECT run_id FROM runs WHERE list_contains(?, run_id)", [ids]).fetchall()}
            missing = [run_id for run_id in ids if run_id not in found]
            if missing:
                raise RunNotFound(missing[0], store_file.path)
        for table, query in queries.items():
            frames[table] = connection.execute(query, parameters).df()
    return frames


def _write_table(target: pathlib.Path, table: str, frame: pandas.DataFrame, fmt: str) -> pathlib.Path:
    """Write one table as ``<target>/<table>.<fmt>`` through a temporary file; the written path."""
    frame = localize_times(frame, RUN_TIMES)
    path = target / f"{table}.{fmt}"
    temporary = target / f".{table}.{fmt}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        if fmt == "parquet":
            frame.to_parquet(temporary, index=False)
        else:
            if "tags" in frame.columns:
                frame["tags"] = [json.dumps(list(tags)) for tags in frame["tags"]]
            frame.to_csv(temporary, index=False)
        os.replace(temporary, path)
    except BaseException as error:  # no temporary file is ever left behind
        with contextlib.suppress(OSError):
            temporary.unlink()
        if isinstance(error, OSError):
            raise StoreError(f"cannot write export file {path}: {error.strerror or error}") from None
        raise
    return path
