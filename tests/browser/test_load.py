"""Load: a 10,000-run store (Runs page first paint) and 8 simultaneous browser sessions each starting a run.

Prints its measurements (``pytest -s`` shows them; they are also attached to the
test report as ``user_properties``). The bounds asserted are generous so CI
noise cannot flake them; the targets are 1 s for the Runs page's first paint.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any
from urllib.parse import urlencode

import pytest

from bench.browser import CHROMIUM, StreamlitServer, bulk_load_runs, cpu_seconds_by_program, wait_idle, wait_server_settled
from lengen_core.config import RunConfig
from lengen_core.params import config_to_params
from lengen_core.store import RunStore
from tests.browser.conftest import error_texts
from tests.conftest import TINY_CONFIG_CHANGES

pytestmark = [pytest.mark.browser, pytest.mark.load]
PlaywrightTimeoutError = pytest.importorskip("playwright.sync_api").TimeoutError

BULK_RUNS = 10_000
SESSIONS = 8
VIEWPORT = {"width": 1400, "height": 1200}
FIRST_PAINT_BOUND_S = 5.0  # target 1 s; asserted loosely
# A fresh Runs page while 8 tabs show live training. Chromium runs on the same 2
# cores as the server here and takes most of them (the test prints the split),
# so this bounds the rig as much as the server. CI once took 32.0 s (this machine 25.1 s) while the
# tabs drew st.progress and plotly curves; with the cheaper redraws this machine takes 18.4 s
# (docs/benchmarks.md, "What a polling tab costs").
RESPONSIVE_BOUND_S = 30.0
# Fresh Runs pages probed while the runs train; each takes a few seconds of both cores (Chromium's), so probing until
# every run is done stretched the test (119 s here) without telling more than the first few.
RESPONSIVE_PROBES = 4
# Long enough that the eight runs (two at a time) outlast the check that every tab shows its run:
# with 150 steps CI finished all eight 32.6 s after the clicks, as that check ended (32.5 s); with 300
# steps (2026-12-01, this machine) the check ended at 13.3 s and the runs 119 s after the clicks.
RUN_STEPS = 200


@pytest.fixture(scope="module")
def loaded_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A server whose store already holds 10,000 finished runs (bulk-inserted through the store)."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    # LENGEN_DEMO_RUNS=0: the page counts exactly the bulk runs (the bundled demo runs would add theirs at launch)
    server = StreamlitServer(tmp_path_factory.mktemp("load"), LENGEN_MAX_JOBS="2", LENGEN_DEMO_RUNS="0")
    started = time.perf_counter()
    bulk_load_runs(server.db_path, BULK_RUNS)
    print(f"\n[load] bulk-inserted {RunStore(server.db_path).count_runs()} runs in {time.perf_counter() - started:.1f} s")
    server.start()
    yield server
    server.stop()


def runs_page_paint(browser: Any, url: str) -> tuple[float, float]:
    """(wall seconds from goto to the table being visible, the page's own performance.now() then)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    started = time.perf_counter()
    page.goto(f"{url}/runs", timeout=120_000)
    page.wait_for_selector('[data-testid="stDataFrame"]', state="visible", timeout=120_000)
    page.wait_for_selector(f"text={BULK_RUNS} of {BULK_RUNS} runs", timeout=120_000)
    wall = time.perf_counter() - started
    in_page = page.evaluate("performance.now()") / 1000
    assert error_texts(page) == []
    context.close()
    return wall, in_page


def runs_page_probe(browser: Any, url: str) -> float:
    """Seconds for a fresh session's Runs page (filtered to live runs) to show its run count."""
    started = time.perf_counter()
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(f"{url}/runs?status=queued,running", timeout=60_000)
    page.wait_for_selector("text=/of \\d+ runs/", timeout=60_000)
    seconds = time.perf_counter() - started
    context.close()
    return seconds


RUN_SHOWN = re.compile(r"is queued|Training [0-9a-f]{12}|Evaluating|Run finished")


def accepted_times(pages: list[Any], clicked: float, timeout_s: float) -> dict[int, float]:
    """Seconds from the clicks until each session's page shows its run (queued, training or finished)."""
    shown: dict[int, float] = {}
    deadline = time.monotonic() + timeout_s
    while len(shown) < len(pages) and time.monotonic() < deadline:
        for index, page in enumerate(pages):
            if index in shown:
                continue
            try:  # a tab busy drawing under this load may not answer at once; ask again next round
                text = page.locator('[data-testid="stMain"]').inner_text(timeout=5_000)
            except PlaywrightTimeoutError:
                continue
            if RUN_SHOWN.search(text):
                shown[index] = time.perf_counter() - clicked
    return shown


def test_runs_page_first_paint_with_10k_runs(browser: Any, loaded_server: Any, save_screenshot: Any, record_property: Any) -> None:
    cold = runs_page_paint(browser, loaded_server.url)  # first session: includes the server's imports
    # Warm means started: the first session also starts the job manager's speed probes (a few seconds of both cores)
    settled = wait_server_settled(loaded_server.process.pid)
    warm = [runs_page_paint(browser, loaded_server.url) for _ in range(3)]
    best_warm = min(warm, key=lambda pair: pair[0])
    print(
        f"[load] Runs page first paint with {BULK_RUNS} runs: cold {cold[0]:.2f} s (page {cold[1]:.2f} s), "
        f"warm (after {settled:.1f} s of start-up work) {', '.join(f'{wall:.2f}' for wall, _ in warm)} s (page {', '.join(f'{page:.2f}' for _, page in warm)} s)"
    )
    record_property("runs_page_first_paint_cold_s", round(cold[0], 3))
    record_property("runs_page_first_paint_warm_s", round(best_warm[0], 3))
    assert best_warm[0] <= FIRST_PAINT_BOUND_S
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(f"{loaded_server.url}/runs?q=bulk-999", timeout=60_000)
    page.wait_for_selector("text=of 10000 runs", timeout=60_000)
    wait_idle(page)
    page.get_by_role("button", name=re.compile("^Export")).wait_for(timeout=60_000)  # the last widget, drawn
    assert page.locator("text=11 of 10000 runs").count() == 1  # bulk-999 and bulk-9990..9999
    save_screenshot(page, "runs-10k")
    context.close()


def test_eight_sessions_each_start_a_run(browser: Any, loaded_server: Any, record_property: Any) -> None:
    store = RunStore(loaded_server.db_path)
    before = set(store.list_runs()["run_id"])
    params = config_to_params(RunConfig().replace(**{**TINY_CONFIG_CHANGES, "train.steps": RUN_STEPS, "train.log_every": 10}))
    contexts = [browser.new_context(viewport=VIEWPORT) for _ in range(SESSIONS)]
    pages = [context.new_page() for context in contexts]
    opened = time.perf_counter()
    for seed, page in enumerate(pages):
        page.goto(f"{loaded_server.url}/?{urlencode({**params, 'seed': str(seed)})}", wait_until="commit", timeout=120_000)
    for page in pages:
        page.get_by_role("button", name="Start training").wait_for(timeout=120_000)
        wait_idle(page, timeout_s=120)
    print(f"[load] {SESSIONS} sessions open in {time.perf_counter() - opened:.1f} s")

    cpu_before = cpu_seconds_by_program(loaded_server.process.pid)
    clicked = time.perf_counter()
    for page in pages:
        page.get_by_role("button", name="Start training").click()
    # every session shows its run as queued, training or finished
    accepted = accepted_times(pages, clicked, timeout_s=60)
    assert len(accepted) == SESSIONS, f"only sessions {sorted(accepted)} showed their run within 60 s"

    # pages stay responsive while the jobs run: a fresh Runs page paints while runs are still queued or training
    response_times = []
    deadline = time.monotonic() + 240
    new: Any = None
    while time.monotonic() < deadline:
        frame = store.list_runs()
        new = frame[~frame["run_id"].isin(before)]
        if len(new) == SESSIONS and new["status"].isin(["done", "diverged", "failed", "cancelled", "interrupted"]).all():
            break
        if len(response_times) < RESPONSIVE_PROBES:
            response_times.append(runs_page_probe(browser, loaded_server.url))
        else:  # enough probes: the browser's paints would only slow the runs they wait for
            time.sleep(1.0)
    all_done = time.perf_counter() - clicked
    cpu_used = cpu_seconds_by_program(loaded_server.process.pid) - cpu_before
    assert new is not None and len(new) == SESSIONS, f"expected {SESSIONS} new runs, found {0 if new is None else len(new)}"
    assert sorted(new["seed"]) == list(range(SESSIONS))  # one run per session: none lost, none duplicated
    assert new["status"].tolist() == ["done"] * SESSIONS, new[["run_id", "status"]]
    for page in pages:
        page.wait_for_selector("text=Run finished", timeout=60_000)
        assert error_texts(page) == []
    print(
        f"[load] {SESSIONS} runs: all shown as queued/training {max(accepted.values()):.1f} s after the clicks, all done after {all_done:.1f} s; "
        f"Runs page under load: {len(response_times)} probes, max {max(response_times, default=0):.2f} s; "
        f"CPU seconds meanwhile: server {cpu_used['server']:.0f}, chromium {cpu_used['chromium']:.0f} (of {(os.cpu_count() or 1) * all_done:.0f} on {os.cpu_count()} cores)"
    )
    record_property("eight_sessions_all_shown_s", round(max(accepted.values()), 2))
    record_property("eight_sessions_all_done_s", round(all_done, 2))
    record_property("runs_page_under_load_max_s", round(max(response_times, default=0), 3))
    assert response_times, "no Runs page was probed while runs were still queued or training"
    assert max(response_times) <= RESPONSIVE_BOUND_S
    for context in contexts:
        context.close()
