"""Length sweep: exact-match accuracy versus input length for one or more finished runs.

The runs shown are in the URL (``?runs=id1,id2``); without it the newest
finished run is shown. A run can be swept again at longer lengths from here:
the extra sweep is a job of the app's job manager (the same bounded queue as
training, :meth:`lengen_core.runs.manager.JobManager.submit_sweep`) and is stored under
its own name (``extra-<n>``; ``extra-<n>@<task>`` when it tests another task of
a multi-task run), so the run's default sweep and its headline breakdown length
stay as they were.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st

from lengen_core.charts.colors import scheme_color
from lengen_core.charts.curves import SweepCurve, length_sweep_figure
from lengen_core.errors import ConfigError, StoreError
from lengen_core.length_search import INTERVAL_RULE, suggested_extra_lengths
from lengen_core.params import parse_int_list
from lengen_core.runs.loading import existing_checkpoint
from lengen_core.runs.stored_sweeps import combined_sweeps, own_sweep
from lengen_core.sweep_names import sweep_part
from lengen_core.theory import GENERALIZATION_FACTOR, check_run
from pages.binding import url_picker
from pages.breakdowns import samples_text
from pages.common import get_job_manager, get_store, number_columns, page_intro, parse_id_list, plotly_config, show_config_error
from pages.escaping import code_span, escape_markdown
from pages.inspection import run_label

RUNS_KEY = "sweep_page.runs"
OPTION_LIMIT = 500  # newest finished runs offered in the picker (plus any named in the URL)
EXTRA_SEEN_KEY = "sweep_page.extra_seen"
EXTRA_TARGET_KEY = "sweep_page.extra_target"
EXTRA_DEFAULTS_KEY = "sweep_page.extra_defaults_for"  # the (run, task) the lengths and samples were filled for
EXTRA_LENGTHS_KEY = "sweep_page.extra_lengths"
EXTRA_SAMPLES_KEY = "sweep_page.extra_samples"


def curve_for(record, points: pd.DataFrame, *, include_extra: bool, label: str, part=None) -> SweepCurve:
    """The chart's view of one task of a run (``part``: a mixture's other task, as its single-task config;
    None: the main task) over its sweeps' ``points``; with extra sweeps the breakdown is recomputed over all
    its lengths (:func:`lengen_core.runs.stored_sweeps.combined_sweeps`)."""

    def curve(frame: pd.DataFrame) -> SweepCurve:
        frame = frame.reset_index(drop=True)
        return SweepCurve.from_run(record, frame, label=label) if part is None else SweepCurve.from_part(record, part, frame, label=label)

    if not include_extra:
        return curve(points[own_sweep(points)] if len(points) else points)
    tested = part if part is not None else record.run_config.task
    combined = combined_sweeps(points, record.run_config.eval.threshold, tested.train_length_min)
    shown_curve = curve(combined.points)
    if len(points) == 0:
        return shown_curve
    return dataclasses.replace(
        shown_curve,
        breakdown_length=combined.breakdown_length,
        bound_reason="the extra sweeps end there" if combined.extra_beyond else shown_curve.bound_reason,
    )


def pick_runs(done: pd.DataFrame) -> list[str]:
    """The run picker, synced with ``?runs=``; returns the chosen run ids."""
    labels = {row.run_id: run_label(row) for row in done.itertuples()}

    def not_found(missing: list[str]) -> str:
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        return f"Not shown (no finished run with this id): {', '.join(code_span(run_id) for run_id in missing[:10])}{more}"

    return url_picker(
        "sweep_page",
        "runs",
        "Runs",
        list(done["run_id"]),
        key=RUNS_KEY,
        multi=True,
        format_func=lambda run_id: labels.get(run_id, run_id),
        unknown_warning=not_found,
        help="Finished runs, newest first.",
    )


def extra_sweep_section(store, chosen: list[str], records: dict, longest_tested: dict[tuple[str, str], int]) -> None:
    manager = get_job_manager()
    st.subheader("Sweep further")
    st.caption(
        "Test a finished run at more lengths (e.g. far beyond its training range). It waits in the same queue as training "
        "runs; the points join the chart when done."
    )
    with_checkpoint = {run_id for run_id in chosen if existing_checkpoint(store, run_id)}  # one store read a run
    targets = [target for target in sweep_targets(chosen, records) if target[0] in with_checkpoint]
    if not targets:
        st.info(
            "None of the chosen runs has its checkpoint on this machine, so none can be tested at other lengths (most "
            "bundled demo runs ship their curves only). Pick a run trained here, or train one again.",
            icon=":material/info:",
        )
        return
    run_id, task = st.selectbox(
        "Run",
        targets,
        format_func=lambda target: target_label(target, records),
        key=EXTRA_TARGET_KEY,
        help="A multi-task run can be swept on any of its tasks; each keeps its own curve. Runs without a checkpoint on this machine are not offered.",
    )
    config = records[run_id].run_config
    part_config = config.task if not task else next(part for part in config.task.parts() if part.name == task)
    top = longest_tested.get((run_id, task), part_config.train_length_max)
    suggested, limit = suggested_extra_lengths(config, task, top, manager.budget)
    if st.session_state.get(EXTRA_DEFAULTS_KEY) != (run_id, task):  # the fields follow the run picked
        st.session_state[EXTRA_DEFAULTS_KEY] = (run_id, task)
        st.session_state[EXTRA_LENGTHS_KEY] = ",".join(str(length) for length in suggested)
        st.session_state[EXTRA_SAMPLES_KEY] = config.eval.samples_per_length
    if not suggested:
        st.caption(f"Tested up to {top}, as far as this run can go: {escape_markdown(limit.reason)}.")
    with st.form("extra-sweep"):
        lengths_text = st.text_input("Lengths (comma-separated)", key=EXTRA_LENGTHS_KEY, help=f"Up to {limit.length} for this run: {limit.reason}.")
        samples = st.number_input("Samples per length", min_value=1, step=50, key=EXTRA_SAMPLES_KEY)
        search = st.checkbox(
            "Search on while it holds",
            value=True,
            key="sweep_page.extra_search",
            help="If the run still holds at the longest length, double the length until it fails or a limit (the position table, "
            "the task, the evaluation budget) stops it, then bisect to 10%: the breakdown is then found, not the sweep's end.",
        )
        submitted = st.form_submit_button("Run extra sweep", icon=":material/add:")
    if submitted:
        try:
            lengths = parse_int_list(lengths_text, "eval.lengths")
            job_id = manager.submit_sweep(run_id, lengths, int(samples), task, search=search)
        except ConfigError as error:
            show_config_error(error)
        except StoreError as error:
            st.error(escape_markdown(error), icon=":material/error:")
        else:
            snapshot = manager.progress(job_id)
            st.success(f"Extra sweep `{snapshot['sweep']}` of `{run_id}` queued at lengths {sorted(set(lengths))}.", icon=":material/hourglass_top:")

    jobs = manager.jobs(run_ids=set(chosen), sweeps=True)
    if jobs:
        busy = any(job["phase"] != "finished" for job in jobs)
        st.fragment(extra_sweep_status, run_every=1.0 if busy else None)(chosen)


def extra_sweep_status(chosen: list[str]) -> None:
    """Status lines of this server's extra sweeps of the chosen runs (a fragment while any runs)."""
    jobs = get_job_manager().jobs(run_ids=set(chosen), sweeps=True)
    seen = st.session_state.setdefault(EXTRA_SEEN_KEY, set())
    for job in jobs:
        key = job["job_id"]
        name = f"`{job['sweep']}` of `{job['run_id']}`"
        if job["phase"] != "finished":
            state = "queued" if job["phase"] == "queued" else "running"
            st.info(f"{name}: {state}, {len(job['eval_points'])}/{job['total_steps']} lengths", icon=":material/hourglass_top:")
        elif job["status"] in ("failed", "cancelled"):
            st.error(f"{name} {job['status']}: {escape_markdown(job['error'] or '')}", icon=":material/error:")
        else:
            note = f" {escape_markdown(job['error'])}" if job["error"] else ""
            st.caption(f"{name} done (breakdown over its lengths: {job['breakdown_length']}; the chart combines every sweep).{note}")
        if job["phase"] == "finished" and key not in seen:
            seen.add(key)
            st.rerun(scope="app")  # redraw the chart with the new points


def main() -> None:
    page_intro("Length sweep", "How often is the whole answer right as inputs get longer than anything seen in training? The grey band is the training range.")
    store = get_store()
    try:
        done = store.list_runs(status="done", limit=OPTION_LIMIT)
        url_runs = parse_id_list(st.query_params.get_all("runs"))
        listed = set(done["run_id"])
        extra_ids = [run_id for run_id in url_runs if run_id not in listed]
        extra = store.list_runs(status="done", run_ids=extra_ids) if extra_ids else None
        if extra is not None and len(extra):  # an empty frame's float columns would turn missing names into NaN
            done = pd.concat([done, extra], ignore_index=True)
    except StoreError as error:
        st.error(escape_markdown(error), icon=":material/error:")
        return
    if len(done) == 0:
        st.info("No finished runs yet. Start one on the Train page (or open a Lesson); its sweep appears here.", icon=":material/info:")
        st.page_link("pages/train.py", label="Go to Train", icon=":material/rocket_launch:")
        return

    chosen = pick_runs(done)
    if not chosen:
        st.info("Pick at least one run.")
        return

    controls = st.columns([3, 2, 2])
    with controls[0]:
        view = st.segmented_control("Show", ["Exact match", "Per-token accuracy", "Both"], default="Exact match", key="sweep_page.view", required=True)
    with controls[1]:
        show_bands = st.checkbox("95% Wilson bands", value=True, key="sweep_page.bands")
    with controls[2]:
        include_extra = st.checkbox("Include extra sweeps", value=True, key="sweep_page.extra")
    metrics = {"Exact match": ("exact_match",), "Per-token accuracy": ("token_accuracy",), "Both": ("exact_match", "token_accuracy")}[view or "Exact match"]

    records = {run_id: store.get_run(run_id) for run_id in chosen}
    points = store.eval_curve(chosen)
    part_of = points["sweep"].map(sweep_part)
    names = [records[run_id].name or run_id for run_id in chosen]
    curves, checked = [], []  # each curve with the config its prediction is for (a mixture's other tasks: their own)
    for run_id in chosen:
        record = records[run_id]
        config = record.run_config
        label = record.name or run_id
        if names.count(label) > 1:
            label = f"{label} ({run_id})"
        label = f"{label} · {config.positions.scheme}"
        run_points = points[(points["run_id"] == run_id) & (part_of == "")]
        main_label = f"{label} · {config.task.name}" if config.task.is_mixture else label
        curves.append(curve_for(record, run_points, include_extra=include_extra, label=main_label))
        checked.append(config)
        evaluated = {part.name for part in config.task.evaluated_parts()}
        for part in config.task.parts()[1:]:  # one curve per tested task of a mixture (by its own sweep or an extra one)
            part_points = points[(points["run_id"] == run_id) & (part_of == part.name)]
            if part.name not in evaluated and len(part_points) == 0:
                continue
            curves.append(curve_for(record, part_points, include_extra=include_extra, label=f"{label} · {part.name}", part=part))
            checked.append(dataclasses.replace(config, task=part))

    figure = length_sweep_figure(curves, metrics=metrics, show_bands=show_bands)
    st.plotly_chart(figure, key="sweep_page.chart", config=plotly_config("length-sweep"))

    checks = [check_run(config, curve.breakdown_length, curve.longest_tested) for config, curve in zip(checked, curves)]
    breakdowns = [curve.breakdown for curve in curves]  # each reads its interval from the curve's points once
    summary = pd.DataFrame(
        [
            {
                # the prediction beside the measurement first, so neither needs a sideways scroll; the long texts last
                "run": curve.label,
                "scheme": curve.scheme,
                "trained on": f"{curve.train_length_min}..{curve.train_length_max}",
                "n per length": samples_text(curve.points["n"]),
                "breakdown / train length": breakdown.ratio_text,
                "predicted": "-" if check.applicable.prediction is None else check.applicable.prediction.verdict,
                "measured": check.outcome.verdict,
                "agrees": check.agreement_word,
                "breakdown length": str(breakdown),
                "threshold": f"{curve.threshold:.2f}",
                "by": check.applicable.setting if check.applicable.prediction is None else f"{check.applicable.setting}: {check.applicable.prediction.claim}",
            }
            for curve, check, breakdown in zip(curves, checks, breakdowns)
        ]
    )
    st.caption(
        f"predicted: what theory says for the run's task and scheme (Huang et al. 2025 for NoPE and for learned APE with "
        f"random offsets; Golowich et al. 2025 for coupling on k-sparse tasks). measured: generalizes when exact match "
        f"holds at every tested length up to {GENERALIZATION_FACTOR:g}x the training length; 'did not learn' runs are not compared. "
        f"A breakdown written ≥ L held at every length tested: the search (or sweep) stopped there, for the reason given. The {INTERVAL_RULE}."
    )
    st.dataframe(
        summary.style.apply(lambda row: [f"color: {scheme_color(row['scheme'])}" if column == "scheme" else "" for column in row.index], axis=1),
        hide_index=True,
    )
    with st.expander("All points", expanded=False):
        table = points.copy()
        table.insert(0, "run", table["run_id"].map({run_id: records[run_id].name or run_id for run_id in chosen}))
        table = table.drop(columns=["breakdown_length", "train_length_max", "breakdown_low", "breakdown_high", "bound_reason"], errors="ignore")
        st.dataframe(table, hide_index=True, column_config=number_columns(["exact_match", "exact_match_low", "exact_match_high", "token_accuracy"]))

    longest_tested = {(str(run_id), str(part)): int(length) for (run_id, part), length in points.groupby(["run_id", part_of])["length"].max().items()}
    extra_sweep_section(store, chosen, records, longest_tested)


def sweep_targets(chosen: list[str], records: dict) -> list[tuple[str, str]]:
    """What "Sweep further" can test: (run id, task) for every chosen run's main task ("") and, for a
    mixture, each of its other tasks."""
    return [(run_id, task) for run_id in chosen for task in [""] + [part.name for part in records[run_id].run_config.task.parts()[1:]]]


def target_label(target: tuple[str, str], records: dict) -> str:
    run_id, task = target
    config = records[run_id].run_config
    if not task:
        main = " (main task)" if config.task.is_mixture else ""
        return f"{run_id} ({config.task.name}{main} / {config.positions.scheme})"
    return f"{run_id} ({task}, trained beside {config.task.name} / {config.positions.scheme})"


if __name__ == "__main__":
    main()
