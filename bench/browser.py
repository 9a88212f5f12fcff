"""A real ``streamlit run app.py`` server, Debian's Chromium, and what they cost: the harness the browser tests
(tests/browser) and the app benchmarks (bench/bench_*_page.py, bench_first_paint, bench_polling_cost) share.

Imported as ``bench.browser`` (tests, ``python -m bench.<script>``) or ``browser`` (``python bench/<script>.py``:
its folder is then ``sys.path[0]``). Nothing here imports pytest or the tests.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class StreamlitServer:
    """``streamlit run app.py`` (or another ``app`` file) headless on a free port with its own run database."""

    def __init__(self, directory: Path, app: str | None = None, **env: str) -> None:
        self.app = app or str(ROOT / "app.py")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_path = directory / "runs.duckdb"
        self.log_path = directory / "streamlit.log"
        self.env = {**os.environ, "LENGEN_DB": str(self.db_path), "LENGEN_MAX_JOBS": "2", **env}
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> StreamlitServer:
        command = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            self.app,
            "--server.headless",
            "true",
            "--server.port",
            str(self.port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ]
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=self.log_path.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.25)
        raise RuntimeError(f"streamlit did not become healthy in {timeout} s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def bulk_load_runs(db_path: Path, count: int) -> None:
    """Insert ``count`` finished runs of the tiny config (names ``bulk-0`` ...) in batches of 2,500."""
    from lengen_core.config import RunConfig
    from lengen_core.runs.provenance import code_version
    from lengen_core.smoke import TINY_CONFIG_CHANGES
    from lengen_core.store import RunStore

    config = RunConfig().replace(**TINY_CONFIG_CHANGES)
    store = RunStore(db_path)
    spec = {"config": config.to_dict(), "config_id": config.config_id, "code_version": code_version(), "environment": {}, "status": "done"}
    for offset in range(0, count, 2_500):
        batch = range(offset, min(offset + 2_500, count))
        store.create_runs([{**spec, "seed": 1000 + index, "name": f"bulk-{index}"} for index in batch])


IDLE_SELECTOR = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def wait_idle(page: Any, timeout_s: float = 60.0, settle_s: float = 0.3) -> None:
    """Until the page's script run has finished (Streamlit marks the app root), and still is ``settle_s`` later.

    The mark also reads "notRunning" for a moment between a script run that
    calls ``st.rerun()`` (app.py's first, legacy-mode run) and the rerun, with
    only part of the page drawn; seeing it twice, ``settle_s`` apart, skips that gap.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        page.wait_for_selector(IDLE_SELECTOR, timeout=max(1.0, deadline - time.monotonic()) * 1000)
        time.sleep(settle_s)
        if page.locator(IDLE_SELECTOR).count() == 1:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the page's script run did not stay finished within {timeout_s} s")


def wait_server_settled(server_pid: int, *, timeout_s: float = 60.0, busy_share: float = 0.1, window_s: float = 1.0) -> float:
    """Wait until the server process uses under ``busy_share`` of one core over ``window_s`` (its start-up work,
    imports and the job manager's speed probes, done); returns the seconds waited (``timeout_s`` at the most)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        before = cpu_seconds_by_program(server_pid)["server"]
        time.sleep(window_s)
        if cpu_seconds_by_program(server_pid)["server"] - before < busy_share * window_s:
            break
    return time.monotonic() - started


def cpu_seconds_by_program(server_pid: int) -> Counter:
    """CPU seconds used so far, summed per program name from /proc; the server process is ``server``."""
    ticks = os.sysconf("SC_CLK_TCK")
    used: Counter = Counter()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended meanwhile
            continue
        name = "server" if int(entry.name) == server_pid else stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        used[name] += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return used
