"""A real ``streamlit run app.py`` server and Debian's Chromium driven by Playwright.

Skips cleanly when chromium (or playwright) is not installed; CI installs both.
Screenshots go to the test's tmp dir and to ``test-output/screenshots/``
(git-ignored); with ``LENGEN_UPDATE_SCREENSHOTS=1`` also to ``docs/screenshots/``.

The server, the browser's path and flags, and ``wait_idle`` are the harness in bench/browser.py (shared with the
app benchmarks).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.browser import CHROMIUM, CHROMIUM_ARGS, ROOT, StreamlitServer


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., StreamlitServer]]:
    """``server_factory(**env)`` starts a server (stopped at the end of the module)."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    servers: list[StreamlitServer] = []

    def start(**env: str) -> StreamlitServer:
        server = StreamlitServer(tmp_path_factory.mktemp("streamlit"), **env)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


def error_texts(page: Any) -> list[str]:
    """Texts of Streamlit exception boxes and st.error alerts on the page."""
    boxes = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]')
    return boxes.all_inner_texts()


@pytest.fixture
def save_screenshot(tmp_path: Path) -> Callable[[Any, str], Path]:
    """``save_screenshot(page, "train")``: full-page PNG in tmp_path and test-output/ (and docs/ on request)."""

    def save(page: Any, name: str) -> Path:
        path = tmp_path / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        targets = [ROOT / "test-output" / "screenshots"]
        if os.environ.get("LENGEN_UPDATE_SCREENSHOTS") == "1":
            targets.append(ROOT / "docs" / "screenshots")
        for target in targets:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target / f"{name}.png")
        assert path.stat().st_size > 10_000, f"screenshot {name} looks empty"
        return path

    return save
