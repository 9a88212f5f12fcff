"""First paint of the Runs and Attention pages of app.py with 10,000 runs in the store.

One ``streamlit run app.py`` server on a store bulk-loaded with ``--runs`` finished
runs (plus the bundled demo runs, which the Attention page imports and which have
checkpoints). Each page is opened ``--repeats`` times in a fresh browser context;
times are from ``page.goto`` until the page's title, and until what the page is
for is drawn: the Runs table's canvas, the Attention page's heatmap. The server's
first script run (imports) is a warm-up, not counted. Used to check that a
refactoring leaves the pages no slower (docs/benchmarks.md has before/after).

    python bench/bench_first_paint.py [--repeats 5] [--runs 10000] [--json out.json]

Needs Debian's chromium and playwright (as the browser tests do).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

try:  # run as python -m bench.<script> or as python bench/<script>.py
    from bench.browser import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, bulk_load_runs
    from bench.common import add_browser_bench_args, time_page_load
except ImportError:
    from browser import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, bulk_load_runs
    from common import add_browser_bench_args, time_page_load

ROOT = Path(__file__).resolve().parent.parent

PAGES = {  # page path: what shows that the page did its job
    "runs": '[data-testid="stDataFrame"] canvas',
    "attention": '[data-testid="stPlotlyChart"]',
}
VIEWPORT = {"width": 1400, "height": 1200}


def open_once(browser: Any, url: str, drawn: str) -> tuple[float, float]:
    context = browser.new_context(viewport=VIEWPORT)
    title, done = time_page_load(context, url, drawn, state="attached", timeout_ms=180_000)
    context.close()
    return title, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_browser_bench_args(parser)
    args = parser.parse_args()
    if CHROMIUM is None:
        sys.exit("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    directory = Path(tempfile.mkdtemp(prefix="bench-first-paint-"))
    bulk_load_runs(directory / "runs.duckdb", args.runs)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    results: dict[str, Any] = {"runs": args.runs, "repeats": args.repeats, "commit": commit}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        server = StreamlitServer(directory)
        server.start()
        try:
            for path, drawn in PAGES.items():
                open_once(browser, f"{server.url}/{path}", drawn)  # warm-up: the server's imports, the demo runs
                samples = [open_once(browser, f"{server.url}/{path}", drawn) for _ in range(args.repeats)]
                results[path] = {
                    "title_s": statistics.median(title for title, _ in samples),
                    "drawn_s": statistics.median(done for _, done in samples),
                    "samples": [[round(title, 3), round(done, 3)] for title, done in samples],
                }
        finally:
            server.stop()
        browser.close()
    print(f"machine: {platform.machine()}, {platform.system()} {platform.release()}, python {platform.python_version()}, commit {commit}")
    print(f"app.py with {args.runs} runs; medians of {args.repeats} loads in fresh browser contexts")
    for path in PAGES:
        row = results[path]
        print(f"  /{path:<10} title {row['title_s']:.2f} s, drawn {row['drawn_s']:.2f} s  {row['samples']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
