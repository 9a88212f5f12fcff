"""Runs: every run in the store as a filterable table; pin a baseline, diff two configs, delete, export.

Filters and the pinned baseline live in the URL (``?status=done&task=reverse&q=...&baseline=<id>``).
Deleting asks for confirmation and refuses runs that are still queued or
running. Export writes Parquet or CSV through :meth:`RunStore.export` and offers
the bytes (several tables zipped).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lengen_core.config import POSITION_SCHEMES
from lengen_core.errors import LenGenError, StoreError
from lengen_core.length_search import INTERVAL_RULE
from lengen_core.lineage import lineage
from lengen_core.params import config_diff
from lengen_core.run_listing import breakdown_texts, filter_runs, part_breakdown_texts
from pages.binding import UrlBinding, load_url_bindings, write_url_bindings
from pages.common import ALL_STATUSES, get_store, listed_runs, page_intro
from pages.escaping import code_span, escape_markdown

PAGE = "runs_page"
BASELINE_KEY = "runs_page.baseline"
TABLE_KEY = "runs_page.table"
PENDING_DELETE_KEY = "runs_page.pending_delete"
BINDINGS = (
    UrlBinding("status", "runs_page.status", multi=True),
    UrlBinding("task", "runs_page.task", multi=True),
    UrlBinding("scheme", "runs_page.scheme", multi=True),
    UrlBinding("q", "runs_page.q"),
    UrlBinding("baseline", BASELINE_KEY),
)
ROW_LIMITS = (500, 2_000, 10_000, 1_000_000)  # a browser table of many thousand rows is slow to draw; the newest come first
TABLE_COLUMNS = [
    "run_id",
    "name",
    "status",
    "task",
    "mixture",
    "part_breakdowns",
    "init_from",
    "scheme",
    "attention",
    "seed",
    "train_length_max",
    "breakdown",
    "breakdown_length",
    "breakdown_ratio",
    "in_distribution",
    "stop_reason",
    "steps_done",
    "train_seconds",
    "created_at",
    "config_id",
    "tags",
]
TEXT_COLUMNS = ["name", "mixture", "part_breakdowns", "init_from", "breakdown", "stop_reason"]  # missing reads blank, not "None"


def baseline_section(store, runs: pd.DataFrame, selected: list[str]) -> None:
    baseline = st.session_state.get(BASELINE_KEY) or ""
    columns = st.columns([3, 1, 1])
    with columns[0]:
        if baseline:
            row = runs[runs["run_id"] == baseline]
            if len(row):
                row = row.iloc[0]
                ratio = "" if pd.isna(row["breakdown_ratio"]) else f", breakdown {row['breakdown_ratio']:.2g}x train length"
                st.info(f"Baseline ★ {code_span(baseline)}: {row['task']} / {row['scheme']}, seed {row['seed']}, {row['status']}{ratio}")
            else:
                st.warning(f"Baseline {code_span(baseline)} is not in the store.")
        else:
            st.caption("No baseline pinned. Select one run and pin it to compare others against it.")
    with columns[1]:
        if st.button("Pin selected as baseline", disabled=len(selected) != 1, key="runs_page.pin"):
            st.session_state[BASELINE_KEY] = selected[0]
            st.rerun()
    with columns[2]:
        if st.button("Unpin", disabled=not baseline, key="runs_page.unpin"):
            st.session_state[BASELINE_KEY] = ""
            st.rerun()


def diff_section(store, selected: list[str]) -> None:
    st.subheader("Diff two configurations")
    baseline = st.session_state.get(BASELINE_KEY) or ""
    candidates = list(dict.fromkeys(([baseline] if baseline else []) + selected))
    if len(candidates) < 2:
        st.caption("Select two runs in the table (or pin a baseline and select one more) to see the settings that differ.")
        return
    left, right = st.columns(2)
    with left:
        run_a = st.selectbox("Run A", candidates, index=0, key="runs_page.diff_a")
    with right:
        others = [c for c in candidates if c != run_a]
        run_b = st.selectbox("Run B", others, index=0, key="runs_page.diff_b")
    try:
        record_a, record_b = store.get_run(run_a), store.get_run(run_b)
    except StoreError as error:
        st.error(escape_markdown(error), icon=":material/error:")
        return
    rows = [{"field": field, run_a: value_a, run_b: value_b} for field, value_a, value_b in config_diff(record_a.config, record_b.config)]
    if record_a.seed != record_b.seed:
        rows.append({"field": "seed", run_a: record_a.seed, run_b: record_b.seed})
    if not rows:
        st.success("Same configuration and seed.", icon=":material/check:")
        return
    frame = pd.DataFrame(rows)
    st.dataframe(frame.astype({run_a: str, run_b: str}), hide_index=True, key="runs_page.diff")


def delete_section(store, runs: pd.DataFrame, selected: list[str]) -> None:
    pending = st.session_state.get(PENDING_DELETE_KEY)
    if pending:
        active = runs[runs["run_id"].isin(pending) & runs["status"].isin(["queued", "running"])]["run_id"].tolist()
        if active:
            st.error(f"Cannot delete runs that are still queued or running: {', '.join(active)}. Cancel them first.", icon=":material/error:")
            st.session_state[PENDING_DELETE_KEY] = None
            return
        st.warning(
            f"Delete {len(pending)} run(s) permanently: {', '.join(pending[:10])}{' …' if len(pending) > 10 else ''}? Their checkpoint files stay on disk.",
            icon=":material/warning:",
        )
        confirm, cancel, _ = st.columns([1, 1, 4])
        with confirm:
            if st.button("Yes, delete", type="primary", key="runs_page.confirm_delete"):
                try:
                    deleted = store.delete_runs(pending)
                except StoreError as error:
                    st.error(escape_markdown(error), icon=":material/error:")
                    return
                st.session_state[PENDING_DELETE_KEY] = None
                if st.session_state.get(BASELINE_KEY) in pending:
                    st.session_state[BASELINE_KEY] = ""
                st.session_state["runs_page.deleted_message"] = f"Deleted {deleted} run(s)."
                st.rerun()
        with cancel:
            if st.button("Cancel", key="runs_page.cancel_delete"):
                st.session_state[PENDING_DELETE_KEY] = None
                st.rerun()
        return
    if st.button(f"Delete {len(selected)} selected…", disabled=not selected, icon=":material/delete:", key="runs_page.delete"):
        st.session_state[PENDING_DELETE_KEY] = list(selected)
        st.rerun()


def export_section(store, filtered: pd.DataFrame, selected: list[str]) -> None:
    ids = selected or filtered["run_id"].tolist()
    what = f"{len(selected)} selected" if selected else f"all {len(ids)} matching"
    fmt_column, button_column = st.columns([1, 3])
    with fmt_column:
        fmt = st.radio("Format", ["parquet", "csv"], horizontal=True, key="runs_page.format")
    with button_column:
        st.write("")
        st.download_button(
            f"Export {what} runs ({fmt}, zip of runs/train_curve/eval_curve/artifacts)",
            data=lambda: store.export_download(ids, fmt)[1],
            file_name=f"lengen-runs-{fmt}.zip",
            mime="application/zip",
            disabled=not ids,
            icon=":material/download:",
            key="runs_page.download",
            on_click="ignore",
        )


def main() -> None:
    page_intro("Runs", "Every run you and others trained: filter, pin one as a baseline, see what differs between two, delete or export them.")
    store = get_store()
    runs = listed_runs()
    if runs is None:
        return
    message = st.session_state.pop("runs_page.deleted_message", None)
    if message:
        st.success(message, icon=":material/delete:")

    tasks = sorted(runs["task"].dropna().unique())
    present_schemes = set(runs["scheme"].dropna().unique())
    schemes = [scheme for scheme in POSITION_SCHEMES if scheme in present_schemes]
    load_url_bindings(PAGE, BINDINGS, options={"status": list(ALL_STATUSES), "task": tasks, "scheme": schemes})
    columns = st.columns([2, 2, 2, 3])
    with columns[0]:
        statuses = st.multiselect("Status", list(ALL_STATUSES), key="runs_page.status")
    with columns[1]:
        chosen_tasks = st.multiselect("Task", tasks, key="runs_page.task")
    with columns[2]:
        chosen_schemes = st.multiselect("Scheme", schemes, key="runs_page.scheme")
    with columns[3]:
        text = st.text_input("Search (id, name, config id, tag)", key="runs_page.q")
    write_url_bindings(PAGE, BINDINGS)

    filtered = filter_runs(runs, statuses=statuses, tasks=chosen_tasks, schemes=chosen_schemes, text=text).reset_index(drop=True)
    shown = filtered
    limit_note = ""
    if len(filtered) > ROW_LIMITS[0]:
        limit = st.selectbox("Rows shown", ROW_LIMITS, key="runs_page.limit", format_func=lambda n: "all" if n == ROW_LIMITS[-1] else f"newest {n:,}")
        shown = filtered.head(limit)
        if len(shown) < len(filtered):
            limit_note = f" Showing the newest {len(shown):,}; filter or search to find older ones."
    st.caption(f"{len(filtered)} of {len(runs)} runs.{limit_note} Select rows to pin, diff, delete or export them.")
    baseline = st.session_state.get(BASELINE_KEY) or ""
    if len(shown):
        shown = shown.assign(part_breakdowns=shown["run_id"].map(part_breakdown_texts(store, shown)), breakdown=breakdown_texts(shown))
    table = shown[[column for column in TABLE_COLUMNS if column in shown.columns]].copy()
    blank = [column for column in TEXT_COLUMNS if column in table.columns]
    table[blank] = table[blank].astype(object).where(table[blank].notna(), "")
    table.insert(0, "baseline", table["run_id"].eq(baseline).map({True: "★", False: ""}))
    event = st.dataframe(
        table,
        key=TABLE_KEY,
        on_select="rerun",
        selection_mode="multi-row",
        hide_index=True,
        column_config={
            "breakdown": st.column_config.TextColumn(
                "breakdown", help=f"the breakdown length, ≥ L when the run held to where its length search stopped; {INTERVAL_RULE}"
            ),
            "breakdown_ratio": st.column_config.NumberColumn("breakdown / train", format="%.2f"),
            "in_distribution": st.column_config.NumberColumn("EM in range", format="%.2f", help="the lowest exact match of its sweep at its training lengths"),
            "stop_reason": st.column_config.TextColumn("training ended", help="learned at a step (train.stop_when_learned), or which budget was spent"),
            "train_seconds": st.column_config.NumberColumn("train s", format="%.1f"),
            "created_at": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm:ss"),
            "tags": st.column_config.ListColumn("tags"),
            "mixture": st.column_config.TextColumn("also trained on", help="the other tasks of a multi-task run"),
            "part_breakdowns": st.column_config.TextColumn(
                "their breakdowns", help="each other tested task's breakdown length / its own longest training length"
            ),
            "init_from": st.column_config.TextColumn("started from", help="the run whose checkpoint this run was fine-tuned from"),
        },
    )
    rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    selected = [table.iloc[row]["run_id"] for row in rows if 0 <= row < len(table)]

    try:
        baseline_section(store, runs, selected)
        diff_section(store, selected)
        st.subheader("Delete or export")
        delete_section(store, runs, selected)
        export_section(store, filtered, selected)
    except LenGenError as error:
        st.error(escape_markdown(error), icon=":material/error:")
    if len(selected) == 1:
        chain = lineage(store, selected[0])
        if len(chain) > 1:
            st.caption("Lineage (each run fine-tuned from the one before): " + " → ".join(code_span(run_id) for run_id in chain))
    if len(selected) == 1 and runs.loc[runs["run_id"] == selected[0], "status"].eq("done").any():
        st.page_link("pages/length_sweep.py", label="Open its length sweep", icon=":material/show_chart:", query_params={"runs": selected[0]})
    elif len(selected) > 1:
        done = runs[runs["run_id"].isin(selected) & (runs["status"] == "done")]["run_id"].tolist()
        if done:
            st.page_link(
                "pages/length_sweep.py",
                label=f"Open the length sweeps of {len(done)} selected runs",
                icon=":material/show_chart:",
                query_params={"runs": ",".join(done)},
            )


if __name__ == "__main__":
    main()
