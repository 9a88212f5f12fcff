"""The app shell: shared resources, the job queue in the sidebar, caps, a broken database shown as an error."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from lengen_core.config import LIMITS, RunConfig
from pages.caps import app_cap_violations, app_caps
from pages.common import get_job_manager, get_store
from tests.conftest import ROOT, TINY_CONFIG_CHANGES, rendered


def test_store_and_job_manager_are_shared_and_bounded(app_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_store() is get_store() and get_store().path == app_db
    manager = get_job_manager()
    assert manager is get_job_manager()
    assert manager.max_concurrent == 1  # LENGEN_MAX_JOBS from the fixture
    assert manager.max_queued == app_caps()["jobs.queued"].limit


def test_sidebar_shows_running_and_queued_jobs(open_app: Any) -> None:
    manager = get_job_manager()
    long_config = RunConfig().replace(**{**TINY_CONFIG_CHANGES, "train.steps": 100_000})
    ids = [manager.submit(long_config, seed) for seed in range(3)]
    try:
        deadline = time.monotonic() + 60
        while manager.active_count() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        app = open_app()
        sidebar = " ".join(element.value for element in app.sidebar.markdown)
        assert "1 running, 2 queued" in sidebar
        waiting = " ".join(element.value for element in app.sidebar.caption)
        assert ids[1] in waiting and ids[2] in waiting
    finally:
        for run_id in ids:
            manager.cancel(run_id)
    assert [manager.wait(run_id, timeout=60) for run_id in ids] == ["cancelled"] * 3


def test_app_caps_name_field_limit_and_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    config = RunConfig().replace(
        **{**TINY_CONFIG_CHANGES, "train.steps": 300, "model.d_model": 64, "eval.max_length_factor": 40.0, "positions.max_position": 512}
    )
    assert app_cap_violations(config) == []
    monkeypatch.setenv("LENGEN_APP_MAX_STEPS", "299")
    monkeypatch.setenv("LENGEN_APP_MAX_D_MODEL", "32")
    monkeypatch.setenv("LENGEN_APP_MAX_EVAL_LENGTH", "100")
    found = {error.field: error.message for error in app_cap_violations(config)}
    assert set(found) == {"train.steps", "model.d_model", "eval.lengths"}
    assert "300 is above this app's limit of 299 (set by LENGEN_APP_MAX_STEPS)" == found["train.steps"]
    assert "160" in found["eval.lengths"] and "100" in found["eval.lengths"]
    monkeypatch.setenv("LENGEN_APP_MAX_STEPS", str(10 * LIMITS["max_steps"]))
    assert app_caps()["train.steps"].limit == LIMITS["max_steps"]  # never looser than lengen_core's own limit


def test_a_file_that_is_not_a_run_store_is_an_error_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    from pages.common import shutdown_resources

    bogus = tmp_path / "notes.duckdb"
    bogus.write_text("this is not a database")
    monkeypatch.setenv("LENGEN_DB", str(bogus))
    shutdown_resources()
    try:
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
        assert not app.exception
        assert any("run database cannot be used" in rendered(element) and "notes.duckdb" in rendered(element) for element in app.error)
        assert bogus.read_text() == "this is not a database"
    finally:
        shutdown_resources()


def test_app_draws_its_navigation_before_the_slow_imports() -> None:
    """Until app.py's navigation replaces it, Streamlit's legacy pages/ mode lists every file of pages/ (common, binding,
    ...) in the sidebar; app.py imports pages.common (torch with it, seconds on a fresh server) only after drawing its
    navigation, which shortens that. Measured in Chromium on a warm fresh server: helper modules listed from 1.9 to
    5.6 s before, not at all after; on a fresh clone (first imports compile) CI still saw them briefly, so the browser
    cannot be asked for "never"."""
    import ast
    from pathlib import Path

    tree = ast.parse((Path(__file__).resolve().parents[2] / "app.py").read_text())
    top_level = {
        alias.name if isinstance(node, ast.Import) else node.module
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert "pages.common" not in top_level
    main = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main")
    order = [
        "navigation" if isinstance(node, ast.Assign) and "build_navigation" in ast.unparse(node.value) else "import"
        for node in main.body
        if isinstance(node, ast.ImportFrom) and node.module == "pages.common" or isinstance(node, ast.Assign) and "build_navigation" in ast.unparse(node.value)
    ]
    assert order == ["navigation", "import"]


@pytest.mark.parametrize("setting", [None, "0"])
def test_a_fresh_store_shows_the_bundled_runs_on_every_page_unless_told_to_wait(
    app_db: Path, open_app: Any, monkeypatch: pytest.MonkeyPatch, setting: str | None
) -> None:
    """The README's first launch: the lessons' bundled runs are in the store when the first session opens, so the
    Length sweep page (which never asks for them itself) lists them. Before, they came in only with the Lessons,
    Attention or Position IDs page, and a first visit to Length sweep said "No finished runs yet". With
    ``LENGEN_DEMO_RUNS=0`` they still wait for such a page."""
    from lengen_core.demo_runs import load_manifest

    if setting is None:
        monkeypatch.delenv("LENGEN_DEMO_RUNS", raising=False)
    else:
        monkeypatch.setenv("LENGEN_DEMO_RUNS", setting)
    app = open_app("pages/length_sweep.py")
    assert not app.exception
    empty = any("No finished runs yet" in rendered(element) for element in app.info)
    bundled = len(load_manifest()["runs"])
    stored = get_store().count_runs()
    if setting is None:
        assert not empty and stored == bundled, (stored, bundled)
        assert app.multiselect, "the Length sweep page offers the bundled runs"
    else:
        assert empty and stored == 0
        open_app("pages/attention.py")  # a page that needs them still imports them
        assert get_store().count_runs() == bundled
