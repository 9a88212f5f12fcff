"""Lessons: guided classroom demos, each answering one question with one button.

A lesson (:mod:`lengen_core.lessons`) compares a few runs. Its bundled demo
runs (data/demo, imported into the store on first use) are shown at once:
accuracy versus length with the training range and breakdown points marked,
the measured breakdown lengths, whether the expected effect showed, and the
takeaway. "Retrain live" queues the same configs through the job manager; the
progress refreshes in a fragment and the chart switches to the live runs as
they finish. The lesson is in the URL (``?lesson=``).
"""

from __future__ import annotations

import streamlit as st

from lengen_core.breakdown import ratio_text
from lengen_core.charts.curves import MAX_RUNS_IN_ONE_CHART, SweepCurve, length_sweep_figure, length_sweep_panels, panels_by_task
from lengen_core.costs import duration_text
from lengen_core.errors import LenGenError
from lengen_core.lesson_claims import ClaimStatus, RunOutcome, claim_text, tally
from lengen_core.lessons import (
    DEMO_TAG,
    LESSON_RUNS,
    LESSONS,
    LIVE_TAG,
    Lesson,
    check_lesson,
    get_lesson,
    lesson_configs,
    missing_requirements,
    pick_lesson_run_ids,
)
from lengen_core.runs.identity import Submission
from lengen_core.sweep_names import part_sweep_base, part_sweep_name
from lengen_core.tasks import build_task
from lengen_core.theory import check_run
from pages.binding import url_picker
from pages.breakdowns import record_breakdown_text, samples_text
from pages.caps import max_concurrent_jobs
from pages.common import ensure_demo_runs, get_job_manager, get_store, jobs_ahead_text, page_intro, plotly_config, progress_bar, show_config_error
from pages.escaping import code_span, escape_markdown

LESSON_KEY = "lessons.lesson"


def live_key(lesson: Lesson) -> str:
    return f"lessons.live.{lesson.key}"


def pick_lesson() -> Lesson:
    """The lesson picker, synced with ``?lesson=``."""
    titles = {lesson.key: f"{index}. {lesson.title}" for index, lesson in enumerate(LESSONS, start=1)}
    return get_lesson(
        url_picker(
            "lessons",
            "lesson",
            "Lesson",
            [lesson.key for lesson in LESSONS],
            key=LESSON_KEY,
            format_func=lambda key: titles[key],
            unknown_warning=lambda missing: f"There is no lesson {code_span(missing[0])}; showing the first.",
        )
    )


def lesson_results(lesson: Lesson):
    """(chosen run ids by run key, list_runs rows by run id, eval points) for the lessons' runs: each run's own sweeps
    (``default``, and ``default@<task>`` of a recipe's partner task), read in one query."""
    store = get_store()
    tagged = store.list_runs(status="done")
    chosen = pick_lesson_run_ids(tagged, lesson.runs)
    rows = {row.run_id: row for row in tagged.itertuples() if row.run_id in chosen.values()}
    if not chosen:
        return chosen, rows, None
    points = store.eval_curve(list(chosen.values()))
    return chosen, rows, points[points["sweep"].map(part_sweep_base) == "default"]


def result_row(curve: SweepCurve, task: str, breakdown_text: str, ratio: str, source: str, run_id: str) -> dict[str, str]:
    """A line of a lesson's table: the curve's run, task, training range, breakdown, ratio and n per length."""
    return {
        "run": curve.label,
        "task": task,
        "trained on": f"{curve.train_length_min}-{curve.train_length_max}",
        "breakdown length": breakdown_text,
        "× training length": ratio,
        "n per length": samples_text(curve.points["n"]),
        "source": source,
        "run id": run_id,
    }


def draw_results(lesson: Lesson, chosen: dict[str, str], rows, points) -> None:
    store = get_store()
    curves, tasks, table, outcomes = [], [], [], {}
    for run_key in lesson.runs:
        run = LESSON_RUNS[run_key]
        run_id = chosen.get(run_key)
        if run_id is None:
            continue
        row = rows[run_id]
        source = "bundled demo" if DEMO_TAG in list(row.tags) else "live run"
        record = store.get_run(run_id)
        config = record.run_config
        own = points[points["run_id"] == run_id]
        frame = own[own["sweep"] == "default"].reset_index(drop=True)
        breakdown = record.breakdown_length
        train_max = config.task.train_length_max
        curve = SweepCurve.from_run(record, frame, label=run.label)
        curves.append(curve)
        tasks.append(config.task.name)
        longest = curve.longest_tested
        outcomes[run_key] = RunOutcome(breakdown, train_max, longest or train_max)
        entry = result_row(
            curve, config.task.name, record_breakdown_text(record, longest, frame), ratio_text(breakdown, train_max, curve.is_bound), source, run_id
        )
        if lesson.key == "c_rasp":
            theory = build_task(config.task.name, config.task.options).theory
            check = check_run(config, breakdown, longest)
            entry["NoPE predicts"] = "-" if theory.nope is None else theory.nope.verdict
            entry["APE (random offsets) predicts"] = "-" if theory.ape is None else theory.ape.verdict
            entry["this run's setting"] = check.applicable.setting
            entry["measured"] = check.outcome.verdict
            entry["agrees"] = {True: "agrees", False: "DISAGREES", None: "did not learn" if check.outcome.verdict == "did not learn" else "-"}[check.agrees]
        table.append(entry)
        for part in config.task.evaluated_parts()[1:]:  # a recipe's partner task, by the run's own sweep of it
            part_points = own[own["sweep"] == part_sweep_name("default", part.name)].reset_index(drop=True)
            if not len(part_points):
                continue
            part_curve = SweepCurve.from_part(record, part, part_points, label=f"{run.label} · {part.name}")
            curves.append(part_curve)
            tasks.append(part.name)
            part_breakdown = part_curve.breakdown  # with its interval over the points
            table.append(
                result_row(part_curve, f"{part.name} (trained beside {config.task.name})", str(part_breakdown), part_breakdown.ratio_text, source, run_id)
            )
    if not curves:
        return
    figure = length_sweep_panels(panels_by_task(curves, tasks)) if len(curves) > MAX_RUNS_IN_ONE_CHART else length_sweep_figure(curves, height_per_panel=360)
    st.plotly_chart(figure, key="lessons.chart", config=plotly_config(f"lesson-{lesson.key}"))
    st.dataframe(table, hide_index=True, key="lessons.table")
    checks = check_lesson(lesson, outcomes)
    labels = {key: LESSON_RUNS[key].label for key in lesson.runs}
    lines = [f"{STATUS_MARKS[status]} {claim_text(expectation, status, labels, outcomes)}" for expectation, status in checks]
    counts = tally([status for _, status in checks])
    st.markdown(f"**What we expected, and whether these runs show it** ({tally_text(counts)})  \n" + "  \n".join(lines))
    if counts[ClaimStatus.FAILS] or counts[ClaimStatus.NOT_LEARNED]:
        st.warning(
            "These runs do not show every expected effect. A run that did not learn its own training range says nothing "
            "about the claim (theory is about models that fit it); one that learned and disagrees is a real disagreement. "
            "Retrain live (a new run with the same settings) or change the seed, and compare.",
            icon=":material/replay:",
        )
    if counts[ClaimStatus.HOLDS] == len(checks):
        st.success(f"**Takeaway.** {lesson.takeaway}", icon=":material/school:")
    else:
        st.info(f"**What the lesson is about.** {lesson.takeaway}", icon=":material/school:")


STATUS_MARKS = {
    ClaimStatus.HOLDS: ":green[:material/check_circle:]",
    ClaimStatus.FAILS: ":red[:material/cancel:]",
    ClaimStatus.NOT_LEARNED: ":orange[:material/school:]",
    ClaimStatus.PENDING: ":gray[:material/hourglass_empty:]",
}


def tally_text(counts: dict[ClaimStatus, int]) -> str:
    """``12 agree · 3 disagree · 2 did not learn`` (pending only when there is some)."""
    parts = [f"{counts[ClaimStatus.HOLDS]} hold", f"{counts[ClaimStatus.FAILS]} do not hold", f"{counts[ClaimStatus.NOT_LEARNED]} did not learn their range"]
    if counts[ClaimStatus.PENDING]:
        parts.append(f"{counts[ClaimStatus.PENDING]} not measured yet")
    return " · ".join(parts)


def where_jobs_run() -> str:
    """``on this machine``, or ``on Ray`` when the server runs its jobs there (``LENGEN_RUNNER=ray``)."""
    return "on this machine" if get_job_manager().remote is None else "on Ray"


def live_controls(lesson: Lesson, blocked: list[str]) -> None:
    configs = lesson_configs(lesson) if not blocked else []
    total_steps = sum(config.train.steps for _, config in configs)
    columns = st.columns([2, 1, 3])
    seed = columns[1].number_input(
        "Seed",
        min_value=0,
        max_value=10_000,
        value=None,
        placeholder="bundled runs' seeds",
        key=f"lessons.seed.{lesson.key}",
        disabled=bool(blocked),
        help="Empty: each run retrains with the seed of its bundled run; a number: every run with that seed.",
    )
    pressed = columns[0].button(
        "Retrain live",
        type="primary",
        key=f"lessons.retrain.{lesson.key}",
        disabled=bool(blocked),
        help=f"Train these runs again now, {where_jobs_run()}, through the job queue." if not blocked else "; ".join(blocked),
    )
    result_in = ""
    until_learned = any(config.train.stop_when_learned for _, config in configs)
    if configs:
        manager = get_job_manager()
        bound = "at most " if until_learned else ""
        total = manager.batch_seconds([config for _, config in configs])
        result_in = f"; all results in {bound}about {duration_text(total)} {where_jobs_run()}{jobs_ahead_text(manager)}"
    steps_text = (
        f"up to {total_steps:,} training steps in all (each run stops once it has learned its range)"
        if until_learned
        else f"{total_steps:,} training steps in all"
    )
    columns[2].caption(
        f"{len(configs)} runs, {steps_text}{result_in}, {max_concurrent_jobs()} at a time. The bundled runs stay on show; "
        "the chart switches to the live runs as they finish. A run someone here already trained (or is training) with the "
        "same settings and seed is shared, not trained again; another seed trains afresh."
    )
    if configs:
        st.caption(get_job_manager().speed.describe())
    if pressed:
        manager = get_job_manager()
        submissions = []
        try:
            for run, config in configs:
                run_seed = run.seed if seed is None else int(seed)
                submissions.append(manager.request(config, run_seed, name=f"lesson live: {run.label} ({run.key})", tags=(run.tag, LIVE_TAG)))
        except LenGenError as error:
            show_config_error(error)
        st.session_state[live_key(lesson)] = submissions
    if st.session_state.get(live_key(lesson)):
        live_progress(lesson)


def live_progress(lesson: Lesson) -> None:
    manager = get_job_manager()
    submissions: list[Submission] = st.session_state[live_key(lesson)]
    snapshots = [manager.progress(submission.run_id) for submission in submissions]
    busy = any(snapshot is not None and snapshot["phase"] != "finished" for snapshot in snapshots)

    @st.fragment(run_every=1.0 if busy else None)
    def progress() -> None:
        current = [manager.progress(submission.run_id) for submission in submissions]
        for run_key, submission, snapshot in zip(lesson.runs, submissions, current):
            label = f"{LESSON_RUNS[run_key].label} `{submission.run_id}`"
            joined = " (shared with an identical request)" if submission.shared == "joined" else ""
            if submission.shared == "stored":
                progress_bar(1.0, f"{label}: trained earlier with the same settings and seed; shared, not retrained")
                continue
            if snapshot is None:
                st.caption(f"{label}: not in this server's queue")
                continue
            phase = snapshot["phase"]
            if phase == "finished":
                progress_bar(1.0, f"{label}: {snapshot['status']}{joined}")
            elif phase == "evaluating":
                progress_bar(0.99, f"{label}: evaluating at {len(snapshot['eval_points'])} lengths so far{joined}")
            elif phase == "training":
                fraction = min(1.0, snapshot["step"] / max(snapshot["total_steps"], 1))
                progress_bar(fraction, f"{label}: step {snapshot['step']}/{snapshot['total_steps']}{joined}")
            else:
                place = manager.place_in_queue(submission.run_id)
                where = f" (position {place[0]}; result in about {duration_text(place[1])})" if place is not None else ""
                progress_bar(0.0, f"{label}: waiting in the queue{where}{joined}")
        still_busy = any(snapshot is not None and snapshot["phase"] != "finished" for snapshot in current)
        if busy and not still_busy:
            st.rerun(scope="app")  # all finished: redraw the chart with the live runs

    progress()


def main() -> None:
    page_intro("Lessons", "Guided demos: one question, the runs that answer it, and one button to train them again live.")
    ensure_demo_runs()
    lesson = pick_lesson()
    st.header(lesson.title)
    st.markdown(f"**{lesson.question}**")
    st.markdown(lesson.setup)
    if lesson.references:
        st.caption(f"Reference: {lesson.references}")
    blocked = missing_requirements(lesson)
    if blocked:
        st.warning("**Needs HSA.** " + " ".join(blocked) + ". This lesson's live retraining is off until it lands.", icon=":material/extension:")
    try:
        chosen, rows, points = lesson_results(lesson)
    except LenGenError as error:
        st.error(escape_markdown(error), icon=":material/block:")
        return
    if chosen:
        draw_results(lesson, chosen, rows, points)
    elif not blocked:
        st.info("No results for this lesson yet: press **Retrain live** to produce them.", icon=":material/lightbulb:")
    else:
        st.info("No bundled results for this lesson: they need HSA too.", icon=":material/extension:")
    live_controls(lesson, blocked)


main()
