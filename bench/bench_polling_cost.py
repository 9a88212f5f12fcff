"""What a polling tab costs: CPU cores a headless Chromium and the server spend while tabs redraw live progress.

The Train, Lessons and Compare pages redraw their progress in a fragment every
second or two, in every open tab. On a 2-core machine where the browser and the
server share the cores (the load test's rig, a classroom laptop), that redraw
competes with training. This measures it, two ways, each beside its baselines
in the same run:

* ``widgets``: a one-page Streamlit app whose fragment redraws once a second
  one of: nothing (the floor of polling itself), a line of text, Streamlit's
  ``st.progress``, our ``pages.common.progress_bar`` (its markup, :func:`lengen_core.charts.progress.progress_bar_markup`), the two-panel plotly
  training-curve figure the Train page drew before (rebuilt here as it was),
  and our ``lengen_core.charts.curves.train_curve_panels`` (Vega-Lite). The curves
  carry 100-200 logged points, as a run of 1,000-2,000 steps logging every 10.
* ``app``: ``app.py`` itself, ``--tabs`` Train tabs each watching a live run
  (two train at a time, the rest queue), as the load test opens them.

Cores = CPU seconds used in the window (``/proc``, summed per program) over its
wall seconds, after a settling pause.

    python bench/bench_polling_cost.py [--tabs 4] [--window 15] [--only widgets|app]

Needs Debian's chromium and playwright (as the browser tests do).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import textwrap
import time
from pathlib import Path
from urllib.parse import urlencode

try:  # run as python -m bench.<script> or as python bench/<script>.py
    from bench.browser import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, cpu_seconds_by_program, wait_idle
except ImportError:
    from browser import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, cpu_seconds_by_program, wait_idle

ROOT = Path(__file__).resolve().parent.parent
VIEWPORT = {"width": 1400, "height": 1200}
WIDGETS = ("nothing", "text", "st_progress", "progress_bar", "plotly_curves", "vega_curves")

WIDGET_APP = textwrap.dedent(
    '''
    import os
    import sys
    import time

    import pandas as pd
    import plotly.graph_objects as go
    import streamlit as st

    from lengen_core.charts.curves import train_curve_panels
    from lengen_core.charts.progress import progress_bar_markup

    WIDGET = os.environ["BENCH_WIDGET"]


    def points(now):
        count = int(now) % 100 + 100
        return pd.DataFrame({{"step": [10 * i for i in range(count)], "loss": [2.0 / (i + 1) for i in range(count)], "accuracy": [i / count for i in range(count)]}})


    def plotly_curves(frame):
        """The Train page's figure before the change: loss and accuracy as two plotly panels."""
        steps, panel = frame["step"].tolist(), dict(xref="paper", yref="paper", y=1.0, yanchor="bottom", showarrow=False)
        line = {{"color": "#2ca02c"}}
        return go.Figure({{
            "data": [
                {{"type": "scatter", "x": steps, "y": frame["loss"].tolist(), "mode": "lines+markers", "line": line, "marker": {{"size": 4}}, "xaxis": "x", "yaxis": "y"}},
                {{"type": "scatter", "x": steps, "y": frame["accuracy"].tolist(), "mode": "lines+markers", "line": {{**line, "dash": "dash"}}, "marker": {{"size": 4}}, "xaxis": "x2", "yaxis": "y2"}},
            ],
            "layout": {{
                "xaxis": {{"domain": [0.0, 0.45], "anchor": "y", "title": {{"text": "step"}}}},
                "yaxis": {{"anchor": "x", "type": "log", "title": {{"text": "cross-entropy"}}}},
                "xaxis2": {{"domain": [0.55, 1.0], "anchor": "y2", "title": {{"text": "step"}}}},
                "yaxis2": {{"anchor": "x2", "range": [-0.02, 1.02]}},
                "annotations": [{{**panel, "x": 0.225, "text": "training loss"}}, {{**panel, "x": 0.775, "text": "accuracy"}}],
                "height": 320, "showlegend": False, "margin": {{"l": 40, "r": 20, "t": 50, "b": 40}},
            }},
        }})


    def redraw():
        now = time.time()
        fraction = (now % 100) / 100
        if WIDGET == "text":
            st.caption(f"step {{int(now)}}: {{fraction:.0%}}")
        elif WIDGET == "st_progress":
            st.progress(fraction, text=f"Training: step {{int(now)}}")
        elif WIDGET == "progress_bar":
            st.markdown(f"Training: step {{int(now)}}\\n\\n" + progress_bar_markup(fraction), unsafe_allow_html=True)  # as pages.common.progress_bar draws it
        elif WIDGET == "plotly_curves":
            st.plotly_chart(plotly_curves(points(now)), key="curves")
        elif WIDGET == "vega_curves":
            for column, (name, spec) in zip(st.columns(2), train_curve_panels(points(now), scheme="coupled")):
                with column:
                    st.vega_lite_chart(spec, width="stretch", key=name)


    st.title("polling")
    st.fragment(redraw, run_every=1.0)()
    '''
)


def cores_used(server: StreamlitServer, window_s: float) -> dict[str, float]:
    """Cores used by chromium and by the server process over ``window_s`` seconds from now."""
    before = cpu_seconds_by_program(server.process.pid)
    started = time.perf_counter()
    time.sleep(window_s)
    used = cpu_seconds_by_program(server.process.pid) - before
    wall = time.perf_counter() - started
    return {"chromium": used["chromium"] / wall, "server": used["server"] / wall}


def measure_widgets(browser, tabs: int, window_s: float) -> dict[str, dict[str, float]]:
    directory = Path(tempfile.mkdtemp(prefix="polling-"))
    app = directory / "polling_app.py"
    app.write_text(WIDGET_APP.format())  # the template doubles its braces
    results = {}
    for widget in WIDGETS:
        server = StreamlitServer(directory, app=str(app), BENCH_WIDGET=widget).start()
        contexts = [browser.new_context(viewport=VIEWPORT) for _ in range(tabs)]
        for context in contexts:
            page = context.new_page()
            page.goto(server.url, timeout=60_000)
            page.wait_for_selector("h1:has-text('polling')", timeout=60_000)
        time.sleep(5)  # imports and first draws done
        results[widget] = cores_used(server, window_s)
        for context in contexts:
            context.close()
        server.stop()
        print(f"{widget:>14}: chromium {results[widget]['chromium']:.2f} cores, server {results[widget]['server']:.2f}", flush=True)
    return results


def measure_app(browser, tabs: int, window_s: float) -> dict[str, float]:
    from lengen_core.config import RunConfig
    from lengen_core.params import config_to_params
    from lengen_core.smoke import TINY_CONFIG_CHANGES

    server = StreamlitServer(Path(tempfile.mkdtemp(prefix="polling-app-")), LENGEN_MAX_JOBS="2").start()
    params = config_to_params(RunConfig().replace(**{**TINY_CONFIG_CHANGES, "train.steps": 20000, "train.log_every": 10}))
    pages = []
    for seed in range(tabs):
        page = browser.new_context(viewport=VIEWPORT).new_page()
        page.goto(f"{server.url}/?{urlencode({**params, 'seed': str(seed)})}", timeout=120_000)
        page.get_by_role("button", name="Start training").wait_for(timeout=120_000)
        wait_idle(page, timeout_s=120)
        pages.append(page)
    for page in pages:
        page.get_by_role("button", name="Start training").click()
    time.sleep(8)  # every tab shows its run
    result = cores_used(server, window_s)
    print(f"app, {tabs} Train tabs: chromium {result['chromium']:.2f} cores, server (training included) {result['server']:.2f}", flush=True)
    server.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tabs", type=int, default=4)
    parser.add_argument("--window", type=float, default=15.0, help="seconds measured per variant")
    parser.add_argument("--only", choices=("widgets", "app"))
    args = parser.parse_args()
    if CHROMIUM is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    print(f"machine: {platform.machine()}, {platform.platform()}, python {platform.python_version()}; {args.tabs} tabs, {args.window:.0f} s windows")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        if args.only in (None, "widgets"):
            widgets = measure_widgets(browser, args.tabs, args.window)
            floor = widgets["nothing"]["chromium"]
            print(
                f"st.progress -> progress_bar: chromium {widgets['st_progress']['chromium']:.2f} -> {widgets['progress_bar']['chromium']:.2f} cores "
                f"(text alone {widgets['text']['chromium']:.2f}, polling floor {floor:.2f})"
            )
            print(
                f"plotly curves -> Vega-Lite curves: chromium {widgets['plotly_curves']['chromium']:.2f} -> {widgets['vega_curves']['chromium']:.2f} cores, "
                f"server {widgets['plotly_curves']['server']:.2f} -> {widgets['vega_curves']['server']:.2f}"
            )
        if args.only in (None, "app"):
            measure_app(browser, args.tabs, args.window)
        browser.close()


if __name__ == "__main__":
    main()
