"""Shared fixtures of the app and browser tests (kept light: nothing heavy is imported at collection)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lengen_core.smoke import TINY_CONFIG_CHANGES  # noqa: F401 - the tests' tiny run (tests import it from here)

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real streamlit server with Chromium (skips without chromium)")
    config.addinivalue_line("markers", "load: many simultaneous browser sessions and a 10,000-run store (about 2 minutes)")
    config.addinivalue_line(
        "markers",
        "serial: needs the whole machine (time bounds, every core, a Ray cluster, a browser); "
        "scripts/test.sh runs these after the parallel part, one at a time",
    )
    pin_xdist_worker()


def pin_xdist_worker() -> None:
    """In a pytest-xdist worker (``gw<i>``), run on core ``i`` only (mod the usable cores).

    Then ``lengen_core.cpus.usable_cpus`` is 1 in the worker and in everything it starts (a CLI
    child, a process pool, a Streamlit server), so its torch threads never take turns on a core
    that the other worker is using. Without this, two workers each giving torch every core run
    many times slower than one.
    """
    import os

    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > len(cores):
        return  # more workers than cores: sharing them is the best there is
    os.sched_setaffinity(0, {cores[int(worker[2:]) % len(cores)]})
    os.environ["OMP_NUM_THREADS"] = "1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser and load tests, and every test on the Ray cluster, are ``serial`` as well."""
    for item in items:
        if item.get_closest_marker("browser") or item.get_closest_marker("load") or "ray_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.serial)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """A one-node Ray cluster on 127.0.0.1 with 2 CPUs (``ray start --head --block``), stopped after the session; yields its address.

    Its token authentication is off (``RAY_AUTH_MODE=disabled``): Ray 2.60 turns it on for a
    ``ray start`` when ``~/.ray/auth_token`` exists (a local ``ray.init()`` writes one), and a client
    that has not set ``RAY_AUTH_MODE=token`` then cannot connect. Skips when Ray is not installed
    (requirements.txt installs it).
    """
    import os
    import signal
    import socket
    import subprocess
    import sys
    import tempfile
    import time

    pytest.importorskip("ray")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # Ray's socket paths must stay short
    command = [
        sys.executable,
        "-m",
        "ray.scripts.scripts",
        "start",
        "--head",
        "--block",
        "--node-ip-address=127.0.0.1",
        f"--port={port}",
        "--num-cpus=2",
        "--num-gpus=0",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir}",
    ]
    log = Path(temp_dir) / "head.log"  # a file, not a pipe: nobody reads the head's output while the session runs
    with log.open("wb") as output:
        head = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, "RAY_ADDRESS": "", "RAY_AUTH_MODE": "disabled"}
        )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            probe = subprocess.run(
                [sys.executable, "-c", f"import ray; ray.init(address={address!r}, log_to_driver=False); ray.shutdown()"], capture_output=True, timeout=60
            )
            if probe.returncode == 0:
                break
            assert head.poll() is None, log.read_text(errors="replace")[-2000:]
            assert time.monotonic() < deadline, probe.stderr.decode()[-2000:]
            time.sleep(1)
        yield address
    finally:
        os.killpg(head.pid, signal.SIGINT)  # --block: on Ctrl-C the head stops every Ray process it started
        try:
            head.wait(timeout=3)  # 2 s when idle; after the suite's Ray tests it took the full 10 s it once had: killed then
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)


@pytest.fixture
def tiny_config() -> Any:
    """The tiny :class:`RunConfig` above."""
    from lengen_core.config import RunConfig

    return RunConfig().replace(**TINY_CONFIG_CHANGES)


@pytest.fixture
def app_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh run database for the app (``LENGEN_DB``); the app's cached store and job manager are
    dropped before and after (running jobs cancelled), so every test starts clean. The store stays empty
    until a page that needs the bundled demo runs opens (``LENGEN_DEMO_RUNS=0``; the default, importing
    them when the first session opens, is tested in tests/app/test_app.py)."""
    from pages.common import shutdown_resources

    path = tmp_path / "runs.duckdb"
    monkeypatch.setenv("LENGEN_DB", str(path))
    monkeypatch.setenv("LENGEN_MAX_JOBS", "1")
    monkeypatch.setenv("LENGEN_DEMO_RUNS", "0")
    shutdown_resources()
    yield path
    shutdown_resources()


@pytest.fixture
def open_app(app_db: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``open_app("pages/runs.py", query_params={...})``: an AppTest of app.py that has run on that page.

    A real server leaves Streamlit's legacy pages/ mode once per process (the first
    ``st.navigation`` call); AppTest resets that flag before every run, so each run
    would start in legacy mode and be rerun by ``ensure_app_shell``, which drops the
    button click that started it. The flag is held at its real-server value here;
    the legacy first run itself is covered by the browser test.
    """
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    original_init = PagesManager.__init__

    def init_after_navigation(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init_after_navigation)

    def open_page(page: str | None = None, *, query_params: dict[str, Any] | None = None, timeout: float = 60) -> AppTest:
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
        if page is not None:
            app.switch_page(page)
        for key, value in (query_params or {}).items():
            app.query_params[key] = value
        return app.run()

    return open_page


@pytest.fixture
def trained_run(app_db: Path, tiny_config: Any) -> Callable[..., str]:
    """``trained_run(seed=0, **changes)``: train a tiny run through the app's job manager; returns its id (status done)."""
    from pages.common import get_job_manager

    def train(seed: int = 0, name: str | None = None, **changes: Any) -> str:
        config = tiny_config.replace(**changes) if changes else tiny_config
        manager = get_job_manager()
        run_id = manager.submit(config, seed, name=name)
        assert manager.wait(run_id, timeout=120) == "done"
        return run_id

    return train


def _decode_typed_arrays(node: Any) -> Any:
    """Plotly's JSON packs numeric arrays as ``{"dtype", "bdata"[, "shape"]}``; unpack them into lists."""
    import base64

    import numpy

    if isinstance(node, dict):
        if "bdata" in node and "dtype" in node:
            values = numpy.frombuffer(base64.b64decode(node["bdata"]), dtype=numpy.dtype(node["dtype"]))
            if "shape" in node:
                values = values.reshape([int(size) for size in str(node["shape"]).split(",")])
            return values.tolist()
        return {key: _decode_typed_arrays(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_decode_typed_arrays(item) for item in node]
    return node


def rendered(element: Any) -> str:
    """The text a Markdown element shows: the page escapes user text with backslashes, the browser drops them."""
    import re

    return re.sub(r"\\(.)", r"\1", element.value)


def progress_texts(app: Any) -> list[str]:
    """The lines of the progress bars an AppTest page drew (``pages.common.progress_bar``)."""
    return [element.value.split("\n\n")[0] for element in app.markdown if 'class="lengen-progress"' in element.value]


def assert_clean(app: Any) -> None:
    """An AppTest page ran without an exception or an error box."""
    assert not app.exception, [element.value for element in app.exception]
    assert not app.error, [element.value for element in app.error]


def drawn_figure(app: Any, key: str) -> Any:
    """The plotly figure an AppTest page drew under ``key``, rebuilt as a ``go.Figure``."""
    import json

    import plotly.graph_objects as go

    charts = [chart for chart in app.get("plotly_chart") if chart.key == key]
    assert len(charts) == 1, f"no plotly chart with key {key!r}; have {[chart.key for chart in app.get('plotly_chart')]}"
    return go.Figure(_decode_typed_arrays(json.loads(charts[0].proto.spec)))
