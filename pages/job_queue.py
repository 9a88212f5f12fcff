"""The sidebar's job queue, on every page: this server's running and queued jobs (with each queued job's place and
the time its result should arrive) and its running Ray sweeps, refreshed while any is live."""

from __future__ import annotations

import streamlit as st

from lengen_core.costs import duration_text
from lengen_core.errors import ConfigError, StoreError
from lengen_core.run_listing import sweep_tag
from lengen_core.store import FINAL_STATUSES
from pages.common import get_job_manager, get_ray_sweeps, get_store, progress_bar
from pages.escaping import escape_markdown


def render_job_queue() -> None:
    """Running and queued jobs of this server (the sidebar shows it on every page)."""
    manager = get_job_manager()
    snapshots = manager.jobs()
    active = [s for s in snapshots if s["phase"] in ("training", "evaluating")]
    waiting = [s for s in snapshots if s["phase"] == "queued"]
    where = f" on Ray ({escape_markdown(manager.remote.settings.where())})" if manager.remote is not None else ""
    st.markdown(f"**Jobs**: {len(active)} running, {len(waiting)} queued (at most {manager.max_concurrent} at once{where})")
    for snapshot in active:
        fraction = min(1.0, snapshot["step"] / max(snapshot["total_steps"], 1))
        label = "evaluating" if snapshot["phase"] == "evaluating" else f"step {snapshot['step']}/{snapshot['total_steps']}"
        progress_bar(fraction, f"`{snapshot['run_id']}` {label}{' (paused)' if snapshot['paused'] else ''}")
    for snapshot in waiting:
        place = manager.place_in_queue(snapshot["job_id"])
        if place is not None:
            st.caption(f"{place[0]}. `{snapshot['run_id']}` waiting; result in about {duration_text(place[1])}")
    for tag, done, total in ray_sweep_progress():
        progress_bar(done / max(total, 1), f"Ray sweep `{escape_markdown(tag)}`: {done}/{total} runs finished")


def running_ray_sweeps() -> set[str]:
    """Tags of this server's Ray sweeps whose driver is still going (none without ``LENGEN_RUNNER=ray``;
    a bad setting is the Compare page's to report)."""
    try:
        sweeps = get_ray_sweeps()
    except ConfigError:
        return set()
    return set() if sweeps is None else sweeps.running()


def ray_sweep_progress() -> list[tuple[str, int, int]]:
    """(tag, finished runs, runs) of each running Ray sweep, from the store (the job manager does not run them)."""
    progress = []
    for tag in sorted(running_ray_sweeps()):
        try:
            statuses = get_store().list_runs(tag=sweep_tag(tag))["status"]
        except StoreError:
            continue
        progress.append((tag, int(statuses.isin(FINAL_STATUSES).sum()), len(statuses)))
    return progress


def job_queue_fragment() -> None:
    """:func:`render_job_queue` refreshed every few seconds while jobs are running or queued (here or on Ray)."""
    manager = get_job_manager()
    busy = manager.active_count() + manager.queued_count() > 0 or bool(running_ray_sweeps())
    st.fragment(run_every=2.0 if busy else None)(render_job_queue)()
