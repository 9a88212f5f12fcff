"""The run panel of the Train page: a queued or training run live (a polling fragment), a finished run's curves.

Kept apart from the form so the page module stays a form; the Train page is its
only user. Pause, resume and cancel act through the job manager's callbacks.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from lengen_core.charts.curves import SweepCurve, length_sweep_figure, train_curve_panels
from lengen_core.costs import duration_text
from pages.breakdowns import record_breakdown_text
from pages.common import get_job_manager, get_store, plotly_config, progress_bar, status_banner
from pages.theory_view import run_theory

FINISHED_SEEN_KEY = "train_page.finished_seen"
SCHEME_OF_KEY = "train_page.scheme_of"  # run id -> its scheme, for the live chart's colour


def _train_frame(points: list[Any]) -> pd.DataFrame:
    columns = ["step", "loss", "accuracy", "in_distribution"]
    return pd.DataFrame([{"step": p.step, "loss": p.loss, "accuracy": p.accuracy, "in_distribution": p.in_distribution} for p in points], columns=columns)


def draw_train_curves(points: pd.DataFrame, scheme: str | None, *, key: str) -> None:
    """The loss and accuracy panels side by side (keys ``<key>-loss``, ``<key>-accuracy``)."""
    panels = train_curve_panels(points, scheme=scheme)
    if not panels:
        st.caption("Waiting for the first logged step…")
        return
    for column, (name, spec) in zip(st.columns(len(panels)), panels):
        with column:
            st.vega_lite_chart(spec, width="stretch", key=f"{key}-{name}")


def _controls(run_id: str, snapshot: dict[str, Any]) -> None:
    """Pause / resume / cancel; callbacks act before the rerun, so the redraw already shows the new state."""
    manager = get_job_manager()
    shared = snapshot.get("holders", 1) > 1
    with st.container(horizontal=True):  # buttons as wide as their labels (fixed columns cut them to "P…" in a narrow panel)
        if snapshot["paused"]:
            st.button("Resume", key=f"resume-{run_id}", icon=":material/play_arrow:", on_click=manager.resume, args=(run_id,))
        elif snapshot["phase"] in ("queued", "training") and snapshot.get("pausable", True):
            st.button("Pause", key=f"pause-{run_id}", icon=":material/pause:", on_click=manager.pause, args=(run_id,))
        st.button("Cancel", key=f"cancel-{run_id}", icon=":material/stop:", on_click=manager.cancel, args=(run_id,))
    if shared:
        st.caption(
            f"{snapshot['holders']} requests with the same settings and seed follow this run. Cancel lets go of it for one "
            "of them; it is cancelled when the last lets go."
        )


def queue_text(run_id: str) -> str:
    """``position 3 in the queue; result in about 1.5 min``, by the jobs ahead of it (or why there is no place)."""
    place = get_job_manager().place_in_queue(run_id)
    if place is None:
        return "about to start"
    position, seconds = place
    return f"position {position} in the queue; its result in about {duration_text(seconds)}"


def live_progress(run_id: str) -> None:
    """The part of the page that polls: progress, controls, live curves (runs as a fragment)."""
    snapshot = get_job_manager().progress(run_id)
    if snapshot is None or snapshot["phase"] == "finished":
        if snapshot is not None and not st.session_state.get(FINISHED_SEEN_KEY, {}).get(run_id):
            st.session_state.setdefault(FINISHED_SEEN_KEY, {})[run_id] = True
            st.rerun(scope="app")  # redraw the whole page once, without polling
        return
    scheme = st.session_state.get(SCHEME_OF_KEY, {}).get(run_id)
    phase, step, total = snapshot["phase"], snapshot["step"], snapshot["total_steps"]
    if phase == "queued":
        st.info(f"Run `{run_id}` is queued ({queue_text(run_id)}); it starts when a worker is free.", icon=":material/hourglass_top:")
    elif phase == "training":
        paused = " (paused)" if snapshot["paused"] else ""
        progress_bar(min(1.0, step / max(total, 1)), f"Training `{run_id}`: step {step}/{total}{paused}")
    else:
        done = len(snapshot["eval_points"])
        progress_bar(1.0, f"Evaluating `{run_id}`: {done} lengths done (greedy decoding; past the sweep's end while it holds)")
    _controls(run_id, snapshot)
    frame = _train_frame(snapshot["train_points"])
    if len(frame):
        last = frame.iloc[-1]
        accuracy = "n/a" if pd.isna(last["accuracy"]) else f"{last['accuracy']:.3f}"
        st.caption(f"Last logged step {int(last['step'])}: loss {last['loss']:.4g}, teacher-forced accuracy {accuracy}")
        checks = frame.dropna(subset=["in_distribution"])
        if len(checks):
            check = checks.iloc[-1]
            st.caption(
                f"Learned check at step {int(check['step'])}: greedy exact match {check['in_distribution']:.2f} at the worst "
                "training length (training stops once it holds the breakdown threshold on consecutive checks)."
            )
    if phase != "queued":
        draw_train_curves(frame, scheme, key=f"live-curve-{run_id}")
    if snapshot["eval_points"]:
        st.dataframe(pd.DataFrame([p.as_row() for p in snapshot["eval_points"]]), hide_index=True)


def finished_view(run_id: str) -> None:
    """A finished (or not managed here) run: banner, training curves, length sweep."""
    store = get_store()
    try:
        record = store.get_run(run_id)
    except (KeyError, LookupError):
        st.warning(f"Run `{run_id}` is no longer in the store.")
        return
    if record.status in ("queued", "running"):
        st.info(f"Run `{run_id}` is {record.status} in another process (the CLI?); refresh to update.")
    points = store.eval_curve([run_id], sweep="default") if record.status == "done" else None
    longest = int(points["length"].max()) if points is not None and len(points) else None
    status_banner(record.status, record.error, breakdown=record_breakdown_text(record, longest, points))
    if record.stop_reason:
        st.caption(f"Training ended: {record.stop_reason}.")
    scheme = record.run_config.positions.scheme
    draw_train_curves(store.train_curve(run_id), scheme, key=f"final-curve-{run_id}")
    if record.status != "done" or points is None:
        return
    curve = SweepCurve.from_run(record, points)
    st.subheader("Length sweep")
    st.plotly_chart(length_sweep_figure([curve]), key=f"sweep-{run_id}", config=plotly_config(f"length-sweep-{run_id}"))
    run_theory(record.run_config, record.breakdown_length, int(points["length"].max()) if len(points) else None)
    st.page_link("pages/length_sweep.py", label="Open in Length sweep", icon=":material/show_chart:", query_params={"runs": run_id})


def show_run(run_id: str) -> None:
    snapshot = get_job_manager().progress(run_id)
    if snapshot is not None and snapshot["phase"] != "finished":
        st.fragment(live_progress, run_every=1.0)(run_id)
    else:
        finished_view(run_id)
