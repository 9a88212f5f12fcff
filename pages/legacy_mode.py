"""The one workaround for Streamlit's legacy multipage mode (a folder named pages/ next to app.py).

That folder puts Streamlit in its legacy mode until ``st.navigation`` has run
once: a page opened by its URL before app.py ever ran would run alone (no
navigation, no sidebar), and every file of pages/ (``common.py`` included) would
be registered as a page. Importing this module leaves that mode for good (every
page imports it through :mod:`pages.common`); :func:`ensure_app_shell` reruns
the one script run that was already started in it, now through app.py's
navigation. The project keeps the folder name pages/ (its documented layout).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

PagesManager.uses_pages_directory = False


def ensure_app_shell() -> None:
    """Rerun through app.py's navigation if this script run is in the legacy mode (it registered common.py as a page)."""
    context = get_script_run_ctx()
    if context is None:
        return
    registered = context.pages_manager.get_pages().values()
    if any(Path(str(info.get("script_path", ""))).name == "common.py" for info in registered):
        PagesManager.uses_pages_directory = False
        st.rerun()
