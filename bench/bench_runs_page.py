"""Runs page first paint with 10,000 runs in the store, beside the floor of a bare Streamlit page.

Two servers run in turn on this machine, each started with ``streamlit run``:

* baseline: a one-file Streamlit app that draws a title, a caption and a
  500-row ``st.dataframe`` of made-up data (the same shape the Runs page shows
  by default). Nothing else: no store, no torch. This is the floor Streamlit's
  own front end sets on this machine.
* baseline_nav: the same page as one of seven pages under ``st.navigation``
  with material icons and a sidebar caption, as app.py has: the floor of a
  multipage Streamlit app.
* ours: ``app.py`` on a store bulk-loaded with 10,000 finished runs, page /runs.

Each page is opened ``--repeats`` times in a fresh browser context (an empty
cache, as for a new visitor) and, with ``--same-context``, also in one context
(a returning visitor whose browser cached the scripts). Times are from
``page.goto`` to: the title drawn, and the table's canvas drawn.

    python bench/bench_runs_page.py [--repeats 5] [--runs 10000]

Needs Debian's chromium and playwright (as the browser tests do).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

try:  # run as python -m bench.<script> or as python bench/<script>.py
    from bench.browser import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, bulk_load_runs
    from bench.common import add_browser_bench_args, time_page_load
except ImportError:
    from browser import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, bulk_load_runs
    from common import add_browser_bench_args, time_page_load

BASELINE_APP = textwrap.dedent(
    """
    import numpy as np
    import pandas as pd
    import streamlit as st

    st.set_page_config(layout="wide")
    st.title("Runs")
    rows = 500
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "run_id": [f"{i:012x}" for i in range(rows)], "name": [f"bulk-{i}" for i in range(rows)],
        "status": "done", "task": "reverse", "scheme": "coupled", "seed": np.arange(rows),
        "breakdown_length": rng.integers(5, 40, rows), "breakdown_ratio": rng.random(rows),
        "steps_done": 60, "train_seconds": rng.random(rows) * 10,
        "created_at": pd.Timestamp("2026-11-29") + pd.to_timedelta(np.arange(rows), unit="s"),
    })
    st.caption(f"{rows} of {rows} runs.")
    st.dataframe(frame, hide_index=True, on_select="rerun", selection_mode="multi-row")
    """
)
NAV_PAGES = ["train", "sweep", "attention", "ids", "compare", "runs", "lessons"]  # "runs" holds BASELINE_APP
NAV_APP = textwrap.dedent(
    """
    import streamlit as st

    st.set_page_config(page_title="LenGen Lab", page_icon=":material/straighten:", layout="wide")
    icons = ["model_training", "show_chart", "grid_on", "format_list_numbered", "table_chart", "database", "school"]
    names = NAV_PAGES
    navigation = st.navigation([
        st.Page(f"pages/{name}.py", title=name, icon=f":material/{icon}:", default=index == 0)
        for index, (name, icon) in enumerate(zip(names, icons))
    ])
    with st.sidebar:
        st.caption("LenGen Lab: where does length generalization break?")
        st.markdown("**Jobs**: 0 running, 0 queued (at most 2 at once)")
    navigation.run()
    """
).replace("NAV_PAGES", repr(NAV_PAGES))
VIEWPORT = {"width": 1400, "height": 1200}
TABLE_DRAWN = '[data-testid="stDataFrame"] canvas'


def open_once(context: Any, url: str) -> tuple[float, float]:
    """(seconds to the title, seconds to the table's canvas) for one navigation in ``context``."""
    return time_page_load(context, url, TABLE_DRAWN, state="visible", timeout_ms=120_000)


def measure(browser: Any, url: str, repeats: int, same_context: bool) -> dict[str, Any]:
    """Warm-up load, then ``repeats`` loads; medians and all samples."""
    shared = browser.new_context(viewport=VIEWPORT)
    open_once(shared, url)  # the server's first script run pays for imports; not a visitor's view
    samples = []
    for _ in range(repeats):
        context = shared if same_context else browser.new_context(viewport=VIEWPORT)
        samples.append(open_once(context, url))
        if context is not shared:
            context.close()
    shared.close()
    return {
        "title_s": statistics.median(title for title, _ in samples),
        "table_s": statistics.median(table for _, table in samples),
        "samples": [[round(title, 3), round(table, 3)] for title, table in samples],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_browser_bench_args(parser)
    args = parser.parse_args()
    if CHROMIUM is None:
        sys.exit("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    directory = Path(tempfile.mkdtemp(prefix="bench-runs-page-"))
    (directory / "baseline").mkdir()
    baseline_app = directory / "baseline" / "baseline_app.py"
    baseline_app.write_text(BASELINE_APP)
    (directory / "baseline_nav" / "pages").mkdir(parents=True)
    nav_app = directory / "baseline_nav" / "nav_app.py"
    nav_app.write_text(NAV_APP)
    for name in NAV_PAGES:
        page = BASELINE_APP.replace('st.set_page_config(layout="wide")', "") if name == "runs" else f"import streamlit as st\n\nst.title({name!r})\n"
        (directory / "baseline_nav" / "pages" / f"{name}.py").write_text(page)
    (directory / "ours").mkdir()
    bulk_load_runs(directory / "ours" / "runs.duckdb", args.runs)

    results: dict[str, Any] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, app, path in (("baseline", baseline_app, ""), ("baseline_nav", nav_app, "runs"), ("ours", None, "runs")):
            server = StreamlitServer(directory / name, app=str(app) if app else None)
            server.start()
            try:
                for visitor, same in (("new_visitor", False), ("returning_visitor", True)):
                    results[f"{name}_{visitor}"] = measure(browser, f"{server.url}/{path}", args.repeats, same)
            finally:
                server.stop()
        browser.close()

    print(f"machine: {platform.processor() or platform.machine()}, {platform.system()} {platform.release()}, python {platform.python_version()}")
    print(f"Runs page with {args.runs} runs vs a bare Streamlit page with a 500-row table (alone, and under st.navigation); medians of {args.repeats} loads")
    print(f"{'':<24} {'title (s)':>10} {'table (s)':>10} {'table ratio':>12}")
    for visitor in ("new_visitor", "returning_visitor"):
        base = results[f"baseline_{visitor}"]
        for name in ("baseline", "baseline_nav", "ours"):
            row = results[f"{name}_{visitor}"]
            ratio = row["table_s"] / base["table_s"]
            print(f"{name + ' ' + visitor.split('_')[0]:<24} {row['title_s']:>10.2f} {row['table_s']:>10.2f} {ratio:>11.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": args.runs, "repeats": args.repeats, **results}, indent=2))


if __name__ == "__main__":
    main()
