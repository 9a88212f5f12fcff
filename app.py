"""LenGen Lab: train small transformers on algorithmic tasks and watch where length generalization breaks.

Run with ``streamlit run app.py``. This entry point only sets up navigation over
``pages/`` and the sidebar (the shared job queue); the run store and the job
manager are created once per server process in :mod:`pages.common`
(``st.cache_resource``). The database is ``$LENGEN_DB`` (default data/runs.duckdb);
``LENGEN_MAX_JOBS`` bounds how many runs train at once. The bundled demo runs (data/demo) are imported
into the store when the first session opens (``LENGEN_DEMO_RUNS=0``: only when a page that needs them opens).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from lengen_core.errors import StoreError
from pages.legacy_mode import ensure_app_shell

ROOT = Path(__file__).resolve().parent

# (file, title, icon); the first is the default page.
PAGES: list[tuple[str, str, str]] = [
    ("pages/train.py", "Train", ":material/model_training:"),
    ("pages/length_sweep.py", "Length sweep", ":material/show_chart:"),
    ("pages/attention.py", "Attention", ":material/grid_on:"),
    ("pages/position_ids.py", "Position IDs", ":material/format_list_numbered:"),
    ("pages/compare.py", "Compare", ":material/table_chart:"),
    ("pages/runs.py", "Runs", ":material/database:"),
    ("pages/lessons.py", "Lessons", ":material/school:"),
]


def build_navigation() -> st.Page:
    pages = [
        st.Page(path, title=title, icon=icon, default=index == 0)
        for index, (path, title, icon) in enumerate(PAGES)
        if (ROOT / path).exists()  # a page still being written is left out rather than breaking the app
    ]
    return st.navigation(pages)


def main() -> None:
    st.set_page_config(page_title="LenGen Lab", page_icon=":material/straighten:", layout="wide")
    navigation = build_navigation()
    ensure_app_shell()  # Streamlit's legacy pages/ mode: see pages/legacy_mode.py
    # Imported once the navigation is drawn: on a fresh server this import (torch with it) takes seconds, and until
    # the navigation replaces it the sidebar lists every file of pages/, helper modules included (3.7 s of them
    # before; see tests/browser/test_browser.py).
    from pages.caps import demo_runs_at_launch
    from pages.common import ensure_demo_runs, get_job_manager, get_store
    from pages.job_queue import job_queue_fragment

    try:
        get_store()
        get_job_manager()
    except StoreError as error:
        st.error(f"The run database cannot be used: {error}", icon=":material/error:")
        st.stop()
    if demo_runs_at_launch():  # once per server process: every page of a fresh store shows the lessons' runs
        ensure_demo_runs()
    with st.sidebar:
        st.caption("LenGen Lab: where does length generalization break?")
        queue_slot = st.container()
    try:
        navigation.run()
    finally:  # after the page, so a job it just queued is counted and the queue polls from this run on
        with queue_slot:
            job_queue_fragment()


main()
