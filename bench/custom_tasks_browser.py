"""Three custom tasks trained from the app in a real browser (issue 24), with their breakdowns and screenshots.

    python bench/custom_tasks_browser.py [--out docs/screenshots] [--json results.json]

A real ``streamlit run app.py`` server on a fresh database and Debian's Chromium: for each task, the Train page opens
on a link that sets the model (the lessons' reverse setup: 1 layer, width 128, 800 steps at lr 2e-3, trained on
1-8, tested to 3x) and the task (its answer ``x``, a copy), the answer ``x[::-1]`` is typed into its field, the five examples are read back, "Start training" is
pressed and the run is followed until its length sweep has finished; the breakdown is read from the page.

- ``reverse-coupled``: ``x[::-1]`` with the coupling rule ``len(x) - 1 - i`` and position coupling (predicted to
  generalize: Cho et al.'s reversal);
- ``reverse-ape``: the same task with learned absolute positions (predicted to stop at its training length);
- ``plugin-a-before-b``: the plug-in task of ``examples/lengen-first-b`` (count the a's before the first b) with RoPE.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

try:  # run as python -m bench.<script> or as python bench/<script>.py
    from bench.browser import CHROMIUM, CHROMIUM_ARGS, ROOT, StreamlitServer, wait_idle
except ImportError:
    from browser import CHROMIUM, CHROMIUM_ARGS, ROOT, StreamlitServer, wait_idle

from lengen_core.config import RunConfig
from lengen_core.params import config_to_params

SETUP = {  # the reverse lesson's model (lengen_core.lessons), so the three finish in minutes on 2 cores
    "model.n_layers": 1,
    "model.n_heads": 2,
    "model.d_model": 128,
    "model.d_ff": 256,
    "train.lr": 2e-3,
    "train.steps": 800,
    "train.distractor_examples": 0,
    "task.train_length_min": 1,
    "task.train_length_max": 8,
    "eval.lengths": [4, 8, 12, 16, 20, 24],
    "eval.samples_per_length": 100,
}
TASKS: dict[str, tuple[dict[str, Any], str]] = {  # name -> (config changes, the answer typed into the page)
    "reverse-coupled": (
        {
            "task.name": "expression",
            "task.options": {"name": "my_reverse", "answer": "x", "alphabet_size": 16, "coupling": "len(x) - 1 - i"},
            "positions.scheme": "coupled",
            "positions.max_position": 32,  # as the lesson's coupled run: its random offsets then reach the test lengths' ids
        },
        "x[::-1]",
    ),
    "reverse-ape": (
        {
            "task.name": "expression",
            "task.options": {"name": "my_reverse", "answer": "x", "alphabet_size": 16},
            "positions.scheme": "learned",
            "positions.max_position": 64,
        },
        "x[::-1]",
    ),
    "plugin-a-before-b": ({"task.name": "a_before_b", "positions.scheme": "rope"}, ""),
}
FINISHED = '[data-testid^="stAlertContent"]:has-text("Run finished")'


def open_train_page(page: Any, url: str, changes: dict[str, Any]) -> None:
    config = RunConfig().replace(**{**SETUP, **changes})  # the link a user would be sent
    page.goto(f"{url}/?{urlencode({**config_to_params(config), 'seed': '0'})}", timeout=90_000)
    page.wait_for_selector("h1:has-text('Train')", timeout=90_000)
    wait_idle(page)


def type_answer(page: Any, answer: str) -> None:
    """Type ``answer`` into the custom task's Answer field, as a user does (Enter applies it)."""
    field = page.get_by_label("Answer", exact=True)
    field.fill(answer)
    field.press("Enter")
    wait_idle(page)


def example_rows(page: Any) -> int:
    """How many example rows the Train page's examples table shows."""
    page.wait_for_selector('[data-testid="stTable"] tbody tr', state="attached", timeout=30_000)
    return page.locator('[data-testid="stTable"] tbody tr').count()


def train_and_wait(page: Any, timeout_s: float) -> str:
    """Press Start, follow the run until its length sweep is done; the breakdown as the page states it."""
    page.get_by_role("button", name="Start training").click()
    page.wait_for_selector(FINISHED, timeout=timeout_s * 1000)
    wait_idle(page)
    banner = page.locator(FINISHED).inner_text().replace("check_circle", "").strip()
    found = re.search(r"Breakdown length: ([^\n]+?)\.?$", banner, flags=re.M)
    return found.group(1).strip() if found else banner.splitlines()[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"), help="folder for the screenshots")
    parser.add_argument("--json", default="", help="also write the results here")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for each run")
    parser.add_argument("--tasks", default=",".join(TASKS), help="which of them (comma-separated)")
    parser.add_argument("--steps", type=int, default=SETUP["train.steps"], help="training steps (a quick check of the script: 50)")
    args = parser.parse_args(argv)
    if CHROMIUM is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        server = StreamlitServer(Path(folder)).start()
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name in args.tasks.split(","):
                changes, answer = TASKS[name]
                page = browser.new_context(viewport={"width": 1400, "height": 2600}).new_page()  # the whole form and the run
                open_train_page(page, server.url, {**changes, "train.steps": args.steps})
                if answer:
                    type_answer(page, answer)
                rows = example_rows(page)
                started = time.perf_counter()
                breakdown = train_and_wait(page, args.timeout)
                seconds = time.perf_counter() - started
                page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .scatterlayer .trace').length >= 2", timeout=60_000)
                wait_idle(page)
                page.evaluate("document.querySelector('[data-testid=\"stMain\"]')?.scrollTo(0, 0)")  # the app scrolls inside its main section
                page.screenshot(path=str(out / f"custom-{name}.png"), full_page=True)
                results.append({"task": name, "breakdown": breakdown, "seconds": round(seconds, 1), "example_rows": rows})
                print(f"{name}: breakdown {breakdown} ({seconds:.0f} s from Start; {rows} examples shown)", flush=True)
                page.context.close()
        finally:
            browser.close()
            server.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
