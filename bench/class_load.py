"""A class on one server: sessions in real browsers each press a lesson's "Retrain live", a mix of identical and
distinct seeds, and every student's time to result is measured.

Each session, in turn, opens the lesson in its own browser context (its own Streamlit
session), sets its seed (or leaves the bundled runs' seeds), presses "Retrain live",
reads what the page tells it (each run's id and its place in the queue with the time its
result should arrive, or that it shares an identical run), and closes. The jobs go on
in the server. Then the store is polled until every run a session was given is final.

Measured per session: seconds from its press to the last of its runs finished
(``finished_at`` in the store; a run shared from an earlier finished one counts as
ready at the press). Over the class: the median and the worst, how many runs were
trained, and the server's resident memory (``VmRSS``) before and after the first session
(which imports torch and starts the first jobs), its highest until every run is final,
and at the end. Checked: every session saw its place or its result,
no run was lost (every run final and ``done``), and with sharing on (``LENGEN_SHARE_RUNS``,
the default) no identical run was trained twice.

    python bench/class_load.py [--sessions 30] [--lesson ape_fails] [--share 1|0] [--runner local|ray] [--screenshot page.png] [--json out.json]

``--share 0`` is the "before": every request trains its own run (the queue cap is
raised so the class fits in it, which at the app's default of 32 it would not).
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:  # python -m bench.class_load, or imported by the tests
    from bench.browser import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, wait_idle
    from bench.common import cpu_environment, report
except ModuleNotFoundError:  # python bench/class_load.py
    from browser import CHROMIUM, CHROMIUM_ARGS, StreamlitServer, wait_idle
    from common import cpu_environment, report

VIEWPORT = {"width": 1400, "height": 1200}
RUN_LINE = re.compile(r"`?([0-9a-f]{12})`?: (.+)")
FINAL = ("done", "diverged", "failed", "cancelled", "interrupted")


def class_seeds(sessions: int) -> list[int | None]:
    """The class's seeds: half leave the bundled seeds (None, all identical), a third pick seeds in pairs (two
    students each), the rest a seed of their own. 30 sessions: 15 + 10 + 5, 11 distinct requests."""
    bundled = sessions // 2
    paired = (sessions // 3) // 2 * 2
    own = sessions - bundled - paired
    return [None] * bundled + [1 + index // 2 for index in range(paired)] + [100 + index for index in range(own)]


@dataclass
class Session:
    """One student: the seed asked for, when the button was pressed, what the page said of each run."""

    seed: int | None
    pressed_at: float = 0.0
    lines: dict[str, str] = field(default_factory=dict)  # run id -> the progress line shown for it
    ready_at: float | None = None

    @property
    def saw_place_or_result(self) -> bool:
        return bool(self.lines) and all(
            "position" in line or "trained earlier" in line or "step" in line or "evaluating" in line or "done" in line for line in self.lines.values()
        )


def press_retrain(browser: Any, url: str, lesson: str, session: Session, timeout_s: float = 120.0, screenshot: Path | None = None) -> None:
    """Open the lesson in a fresh context, set the seed, press "Retrain live", read the line of each of the lesson's
    runs (and save a ``screenshot`` of the page then, when asked), close."""
    from lengen_core.lessons import get_lesson

    runs = len(get_lesson(lesson).runs)
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        page.goto(f"{url}/lessons?lesson={lesson}", timeout=timeout_s * 1000)
        button = page.get_by_role("button", name="Retrain live")
        button.wait_for(timeout=timeout_s * 1000)
        wait_idle(page, timeout_s=timeout_s)
        if session.seed is not None:
            seed_box = page.locator('input[aria-label="Seed"]')
            seed_box.fill(str(session.seed))
            seed_box.press("Enter")
            wait_idle(page, timeout_s=timeout_s)
        session.pressed_at = time.time()
        button.click()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = page.locator('[data-testid="stMain"]').inner_text(timeout=10_000)
            lines = {match.group(1): match.group(2) for match in (RUN_LINE.search(line) for line in text.splitlines()) if match}
            if len(lines) == runs and all(line.strip() for line in lines.values()):
                session.lines = lines
                if screenshot is not None:  # once its runs train: the steps as the page streams them
                    page.wait_for_selector("text=/step [1-9][0-9]*\\/[0-9]+/", timeout=timeout_s * 1000)
                    page.screenshot(path=str(screenshot), full_page=True)
                return
            time.sleep(0.2)
        raise TimeoutError(f"the session with seed {session.seed} saw no run lines within {timeout_s} s")
    finally:
        context.close()


def resident_mib(pid: int) -> float:
    """The process's resident memory in MiB (``VmRSS`` of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def run_class(
    browser: Any, server: StreamlitServer, lesson: str, seeds: list[int | None], *, timeout_s: float = 3600.0, screenshot: Path | None = None
) -> dict[str, Any]:
    """Every session presses, in turn; then wait for every run; returns the measurements (module docstring).
    ``screenshot``: where to save the first session's page as it shows its runs' progress."""
    from lengen_core.store import RunStore

    assert server.process is not None, "the server is started"
    pid = server.process.pid
    sessions = [Session(seed) for seed in seeds]
    memory = {"before_first_session": resident_mib(pid)}
    started = time.time()
    for index, session in enumerate(sessions):
        press_retrain(browser, server.url, lesson, session, screenshot=screenshot if index == 0 else None)
        if index == 0:
            memory["after_first_session"] = resident_mib(pid)  # torch imported, the lesson drawn once, the first jobs started
    presses_s = time.time() - started
    store = RunStore(server.db_path, read_only=True)
    asked = sorted({run_id for session in sessions for run_id in session.lines})
    peak = memory["after_first_session"]
    deadline = time.monotonic() + timeout_s
    while True:
        peak = max(peak, resident_mib(pid))
        runs = store.list_runs(run_ids=asked)
        if len(runs) == len(asked) and runs["status"].isin(FINAL).all():
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"runs not final after {timeout_s} s: {runs[~runs['status'].isin(FINAL)][['run_id', 'status']].values.tolist()}")
        time.sleep(1.0)
    memory |= {"peak": peak, "end": resident_mib(pid)}
    finished = {row.run_id: row.finished_at.timestamp() for row in runs.itertuples()}
    for session in sessions:
        session.ready_at = max(finished[run_id] for run_id in session.lines)
    waits = [max(0.0, session.ready_at - session.pressed_at) for session in sessions if session.ready_at is not None]
    identities = runs.groupby(["config_id", "seed"]).size()
    return {
        "lesson": lesson,
        "sessions": len(sessions),
        "distinct_requests": len({session.seed for session in sessions}),
        "presses_took_s": round(presses_s, 1),
        "runs_trained": len(asked),
        "runs_done": int((runs["status"] == "done").sum()),
        "identical_runs_trained_twice": int((identities > 1).sum()),
        "sessions_that_saw_their_place_or_result": sum(session.saw_place_or_result for session in sessions),
        "shared_lines": sum("shared" in line or "trained earlier" in line for session in sessions for line in session.lines.values()),
        "time_to_result_s": {"median": round(statistics.median(waits), 1), "worst": round(max(waits), 1), "best": round(min(waits), 1)},
        "server_memory_mib": {key: round(value) for key, value in memory.items()},
        "first_lines": [next(iter(session.lines.values()), "") for session in sessions[:3]] + [next(iter(sessions[-1].lines.values()), "")],
        "announced_vs_measured": announced_vs_measured(sessions),
        "per_session": [{"seed": session.seed, "wait_s": round(wait, 1), "lines": list(session.lines.values())} for session, wait in zip(sessions, waits)],
    }


ANNOUNCED = re.compile(r"result in about ([0-9.]+) (s|min|h)\b")


def announced_vs_measured(sessions: list[Session]) -> dict[str, Any]:
    """For the sessions that were told a wait (a queued run's "result in about ..."), the ratio of the longest wait
    announced for their runs to the time their result took: median, lowest, highest."""
    scale = {"s": 1.0, "min": 60.0, "h": 3600.0}
    ratios = []
    for session in sessions:
        told = [float(match.group(1)) * scale[match.group(2)] for line in session.lines.values() if (match := ANNOUNCED.search(line))]
        if told and session.ready_at is not None and session.ready_at > session.pressed_at:
            ratios.append(max(told) / (session.ready_at - session.pressed_at))
    if not ratios:
        return {"sessions": 0}
    return {"sessions": len(ratios), "median": round(statistics.median(ratios), 2), "lowest": round(min(ratios), 2), "highest": round(max(ratios), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--lesson", default="ape_fails")
    parser.add_argument("--share", type=int, default=1, help="1: identical requests share a run (the app's default); 0: each trains its own")
    parser.add_argument("--runner", default="local", help="local (the server's threads) or ray (LENGEN_RUNNER=ray: a local Ray the server starts)")
    parser.add_argument("--screenshot", default=None, help="save the first session's page, showing its runs' progress, here (PNG)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if CHROMIUM is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    seeds = class_seeds(args.sessions)
    with tempfile.TemporaryDirectory(prefix="lengen-class-") as folder:
        env = {"LENGEN_MAX_JOBS": "2", "LENGEN_SHARE_RUNS": str(args.share), "LENGEN_APP_MAX_QUEUED": str(4 * args.sessions), "LENGEN_RUNNER": args.runner}
        server = StreamlitServer(Path(folder), **env).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                result = run_class(browser, server, args.lesson, seeds, screenshot=Path(args.screenshot) if args.screenshot else None)
                browser.close()
        finally:
            server.stop()
    report({**cpu_environment(), "share": bool(args.share), "runner": args.runner, "seeds": seeds, **result}, args.json)


if __name__ == "__main__":
    main()
