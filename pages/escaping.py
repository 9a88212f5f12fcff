"""User text shown as typed: Markdown escaping and code spans for what a link or a person typed."""

from __future__ import annotations

import re
from typing import Any

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=&^\"'])")


_AUTOLINK_TRIGGERS = re.compile(r"(:/)(/)|(www)(\.)|(@)", re.IGNORECASE)
WORD_JOINER = "\u2060"  # invisible; splits a URL or e-mail address so the front end does not linkify it


def escape_markdown(text: Any) -> str:
    """``text`` with every Markdown character backslash-escaped, so it shows as typed.

    Text that comes from a user (a URL parameter, a typed example, a value in an
    error message) goes through this before it reaches ``st.markdown`` / ``st.error``:
    a crafted link must not draw a clickable link or make the browser fetch an image.
    Streamlit's front end also turns bare URLs and e-mail addresses into links
    after the Markdown is parsed (backslash escapes do not stop that, measured in
    Chromium), so an invisible word joiner goes inside ``://``, ``www.`` and after ``@``.
    """
    joined = _AUTOLINK_TRIGGERS.sub(
        lambda match: WORD_JOINER.join(part for part in match.groups() if part) + (WORD_JOINER if match.group(5) else ""), str(text)
    )
    return _MARKDOWN_SPECIAL.sub(r"\\\1", joined).replace("\n", " ")


def code_span(text: Any, limit: int = 80) -> str:
    """``text`` as inline code (cut to ``limit`` characters), safe whatever backticks it holds."""
    value = " ".join(str(text).split())
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {value} {fence}" if longest else f"`{value}`" if value else "``"
