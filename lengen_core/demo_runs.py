"""Bundled demo runs: export finished runs from a store to files, import them into another.

The Lessons page shows results at once because real runs, trained by
``scripts/make_demo_runs.py``, ship with the app under ``data/demo/``:

``data/demo/manifest.json``
    ``{"format": 1, "generated": {...how and where they were produced...},
    "runs": [entry, ...]}``; an entry holds everything the store records about
    a run (config, seed, code version, environment, training curve, evaluation
    points, breakdown length) plus ``checkpoint``: a path relative to the demo
    folder, or null when the checkpoint was left out to keep the bundle small.
``data/demo/checkpoints/<key>.safetensors``
    The weights, unchanged (float32, as :func:`lengen_core.training.save_checkpoint` wrote them).

The app reads the folder named by ``$LENGEN_DEMO_DIR`` (default data/demo).
:func:`import_demo_runs` copies the entries into a store, tagged ``demo`` and
``demo-id:<key>:<digest>``; importing twice does nothing the second time. A
run is created as ``running`` and only marked ``done`` after all its rows are
written, so an import killed half-way leaves a run the next import replaces
(and :meth:`RunStore.mark_interrupted` flags), never a ``done`` run with holes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lengen_core.breakdown import Breakdown
from lengen_core.errors import StoreError
from lengen_core.run_listing import SWEEP_TAG_PREFIX
from lengen_core.store import EVAL_COLUMNS, RunStore
from lengen_core.sweep_names import part_sweep_name

FORMAT_VERSION = 1
DEMO_TAG = "demo"
DEMO_ID_PREFIX = "demo-id:"
DEFAULT_DEMO_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"
MANIFEST_NAME = "manifest.json"


def default_demo_dir() -> Path:
    """``$LENGEN_DEMO_DIR`` if set (a folder without a manifest means: no demo runs), else data/demo."""
    configured = os.environ.get("LENGEN_DEMO_DIR")
    return Path(configured).expanduser() if configured else DEFAULT_DEMO_DIR


_TRAIN_KEYS = ("step", "loss", "accuracy", "lr", "wall_time_s", "tokens_per_s")


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)  # new run ids
    skipped: list[str] = field(default_factory=list)  # demo keys already present
    replaced: list[str] = field(default_factory=list)  # demo keys whose half-imported run was replaced


def _clean(value: Any) -> Any:
    """JSON-safe plain values (NaN -> None, numpy scalars -> Python)."""
    if hasattr(value, "item") and not isinstance(value, (list, tuple, dict)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def entry_digest(entry: Mapping[str, Any]) -> str:
    """Stable short digest of a manifest entry (identifies one bundled run across imports)."""
    payload = {key: entry[key] for key in sorted(entry) if key != "digest"}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]


def demo_id_tag(entry: Mapping[str, Any]) -> str:
    return f"{DEMO_ID_PREFIX}{entry['key']}:{entry['digest']}"


def export_demo_runs(
    store: RunStore,
    runs: Mapping[str, str],
    directory: str | os.PathLike = DEFAULT_DEMO_DIR,
    *,
    with_checkpoint: Sequence[str] | None = None,
    generated: Mapping[str, Any] | None = None,
    merge: bool = False,
    more_tags: Mapping[str, Sequence[str]] | None = None,
    known: Collection[str] | None = None,
) -> Path:
    """Write ``runs`` (``{demo key: run id}``, finished runs of ``store``) to ``directory``.

    ``with_checkpoint``: the keys whose checkpoint files are copied (default: all).
    ``more_tags``: tags an entry carries besides its run's (a run trained elsewhere gets its lesson's tag).
    ``merge``: keep the entries (and checkpoints) of the folder's current manifest
    whose keys are not in ``runs`` (and, with ``known``, are in ``known``: a lesson run that no longer exists
    leaves the bundle); otherwise the manifest holds ``runs`` only.
    Checkpoint files no entry names are removed, so the folder holds exactly what
    the manifest names. Returns the manifest path.
    """
    target = Path(directory)
    checkpoint_dir = target / "checkpoints"
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    keep = set(runs if with_checkpoint is None else with_checkpoint)
    entries = []
    written: set[str] = set()
    previous = load_manifest(target) if merge else {"runs": [], "generated": {}}
    for entry in previous["runs"]:
        if entry["key"] not in runs and (known is None or entry["key"] in known):
            entries.append(entry)
            if entry.get("checkpoint"):
                written.add(Path(entry["checkpoint"]).name)
    for key, run_id in runs.items():
        record = store.get_run(run_id)
        if record.status != "done":
            raise StoreError(f"run {run_id} ({key}) is {record.status}; only finished runs can be bundled")
        train = store.train_curve(run_id)
        evaluation = store.eval_curve([run_id], sweep="default")
        checkpoint = None
        if key in keep:
            stored_checkpoint = store.checkpoint_path(run_id)
            if stored_checkpoint is None:
                raise StoreError(f"run {run_id} ({key}) has no checkpoint to bundle")
            name = f"{key}.safetensors"
            shutil.copyfile(stored_checkpoint, checkpoint_dir / name)
            written.add(name)
            checkpoint = f"checkpoints/{name}"
        entry = {
            "key": key,
            "source_run_id": run_id,
            "name": record.name,
            "config": record.config,
            "config_id": record.config_id,
            "seed": record.seed,
            "code_version": record.code_version,
            "environment": record.environment,
            "tags": list(
                # a run taken from a sweep's store leaves its sweep behind: in the app's store it would become Compare's newest sweep
                dict.fromkeys(
                    [tag for tag in record.tags if tag != DEMO_TAG and not tag.startswith((DEMO_ID_PREFIX, SWEEP_TAG_PREFIX))]
                    + list((more_tags or {}).get(key, ()))
                )
            ),
            "breakdown_length": record.breakdown_length,
            "train_length_max": record.train_length_max,
            "steps_done": record.steps_done,
            "train_seconds": _clean(record.train_seconds),
            "train_points": [{k: _clean(row[k]) for k in _train_keys(train)} for _, row in train.iterrows()],
            "eval_points": [{k: _clean(row[k]) for k in EVAL_COLUMNS} for _, row in evaluation.iterrows()],
            "checkpoint": checkpoint,
            "checkpoint_sha256": _file_digest(checkpoint_dir / f"{key}.safetensors") if checkpoint else None,
        }
        if (record.breakdown_low, record.breakdown_high, record.breakdown_bound) != (None, None, None):
            # the breakdown's interval and why a bound stopped ("the position ids end at 31"), as stored; entries of
            # runs stored before them keep their digest
            entry["breakdown_low"], entry["breakdown_high"] = record.breakdown_low, record.breakdown_high
            entry["bound_reason"] = record.breakdown_bound
        if record.stop_reason is not None:  # runs stored since schema v3: why training ended (older entries keep their digest)
            entry["stop_reason"] = record.stop_reason
            entry["learned_step"] = record.learned_step
        parts = _part_sweeps(store, run_id, record.run_config)
        if parts:  # only a mixture's entry has the key, so every other entry (and its digest) is as before
            entry["part_sweeps"] = parts
        entry["digest"] = entry_digest(entry)
        entries.append(entry)
    for stale in checkpoint_dir.glob("*.safetensors"):
        if stale.name not in written:
            stale.unlink()
    order = {key: index for index, key in enumerate(runs)}
    entries.sort(key=lambda entry: (entry["key"] in order, order.get(entry["key"], 0)))
    generated = dict(generated or {})
    if merge and previous.get("generated"):
        generated["earlier"] = earlier_builds(previous["generated"])
    manifest = {"format": FORMAT_VERSION, "generated": generated, "runs": entries}
    path = target / MANIFEST_NAME
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str) + "\n")
    temporary.replace(path)
    return path


def earlier_builds(previous: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The builds before this one, newest first, as one flat list: the previous build without its own history,
    then that history (manifests written before 2026-12-07 nest each build inside the next; they are unnested)."""
    builds: list[dict[str, Any]] = []
    node: Any = previous
    while isinstance(node, Mapping):
        builds.append({key: value for key, value in node.items() if key != "earlier"})
        node = node.get("earlier")
    if isinstance(node, list):
        builds.extend(node)
    return builds


def _train_keys(train: Any) -> tuple[str, ...]:
    """The training-point keys a bundled run keeps: with the learned checks' exact match only when the run has checks."""
    checked = "in_distribution" in train.columns and bool(train["in_distribution"].notna().any())
    return (*_TRAIN_KEYS, "in_distribution") if checked else _TRAIN_KEYS


def _part_sweeps(store: RunStore, run_id: str, config: Any) -> list[dict[str, Any]]:
    """A mixture run's own sweeps of its other tested tasks, as manifest data."""
    import pandas

    parts = []
    for part in config.task.evaluated_parts()[1:]:
        curve = store.eval_curve([run_id], sweep=part_sweep_name("default", part.name))
        stored = curve["breakdown_length"].iloc[0] if len(curve) else None
        parts.append(
            {
                "task": part.name,
                "breakdown_length": None if stored is None or pandas.isna(stored) else int(stored),
                "train_length_max": part.train_length_max,
                "eval_points": [{k: _clean(row[k]) for k in EVAL_COLUMNS} for _, row in curve.iterrows()],
            }
        )
    return parts


def load_manifest(directory: str | os.PathLike | None = None) -> dict[str, Any]:
    """The parsed manifest, or ``{"format": 1, "runs": []}`` when no demo runs are bundled."""
    path = Path(directory if directory is not None else default_demo_dir()) / MANIFEST_NAME
    if not path.exists():
        return {"format": FORMAT_VERSION, "generated": {}, "runs": []}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise StoreError(f"the demo-run manifest {path} cannot be read: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION or not isinstance(manifest.get("runs"), list):
        raise StoreError(f"the demo-run manifest {path} is not format {FORMAT_VERSION}")
    return manifest


def import_demo_runs(store: RunStore, directory: str | os.PathLike | None = None) -> ImportReport:
    """Copy the bundled runs (``directory``, default :func:`default_demo_dir`) into ``store`` (idempotent)."""
    directory = Path(directory if directory is not None else default_demo_dir())
    manifest = load_manifest(directory)
    report = ImportReport()
    if not manifest["runs"]:
        return report
    present = store.list_runs(tag=DEMO_TAG)
    by_tag: dict[str, tuple[str, str]] = {}
    for _, row in present.iterrows():
        for tag in row["tags"]:
            if tag.startswith(DEMO_ID_PREFIX):
                by_tag[tag] = (row["run_id"], row["status"])
    for entry in manifest["runs"]:
        tag = demo_id_tag(entry)
        if tag in by_tag:
            run_id, status = by_tag[tag]
            if status == "done":
                report.skipped.append(entry["key"])
                continue
            store.delete_runs([run_id], force=True)  # a half-finished import (or one that died): start over
            report.replaced.append(entry["key"])
        report.imported.append(_import_entry(store, directory, entry, tag))
    return report


def _import_entry(store: RunStore, directory: Path, entry: Mapping[str, Any], demo_tag: str) -> str:
    """One bundled run into the store, as one transaction (``RunStore.batch``): all of it or none."""
    with store.batch():
        tags = list(dict.fromkeys([*entry.get("tags", []), DEMO_TAG, demo_tag]))
        run_id = store.create_run(
            config=entry["config"],
            config_id=entry["config_id"],
            seed=int(entry["seed"]),
            code_version=entry["code_version"],
            environment=entry["environment"],
            name=entry.get("name") or f"demo: {entry['key']}",
            status="running",
            tags=tags,
        )
        if entry["train_points"]:
            store.append_train_points(run_id, entry["train_points"])
        breakdown = Breakdown(
            entry["breakdown_length"], int(entry["train_length_max"]), entry.get("breakdown_low"), entry.get("breakdown_high"), entry.get("bound_reason")
        )
        store.set_eval_points(run_id, entry["eval_points"], breakdown)
        for part in entry.get("part_sweeps", []):
            part_breakdown = Breakdown(part["breakdown_length"], int(part["train_length_max"]))
            store.set_eval_points(run_id, part["eval_points"], part_breakdown, sweep=part_sweep_name("default", part["task"]))
        store.update_progress(
            run_id,
            steps_done=int(entry["steps_done"] or 0),
            train_seconds=entry.get("train_seconds") or 0.0,
            stop_reason=entry.get("stop_reason"),
            learned_step=entry.get("learned_step"),
        )
        if entry.get("checkpoint"):
            path = (directory / entry["checkpoint"]).resolve()
            if path.exists():
                store.add_artifact(run_id, "checkpoint", str(path))
        store.set_status(run_id, "done")
        return run_id


def demo_size_bytes(directory: str | os.PathLike | None = None) -> int:
    """Total size of the files under the demo folder."""
    folder = Path(directory if directory is not None else default_demo_dir())
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
