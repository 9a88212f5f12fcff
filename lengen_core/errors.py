"""Errors a user can cause. Each names the field and the limit it broke.

User-supplied values are quoted through :func:`shown`, which cuts them short:
an error message never echoes a 100,000-character value, and never fails on an
integer too long for Python to print (more than 4,300 digits).
"""

from __future__ import annotations

from typing import Any

SHOWN_CHARS = 60  # the longest quoted value in a message
FIELD_CHARS = 120  # the longest field name in a message
MESSAGE_CHARS = 2000


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text):,} characters)"


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """A short ``repr`` of a user value for an error message: cut to ``limit`` characters,
    with the full size noted; huge integers are described by their number of digits."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        digits = int(value.bit_length() * 0.30103) + 1
        return f"{'-' if value < 0 else ''}an integer of about {digits:,} digits"
    if isinstance(value, str):
        return repr(_cut(value, limit))
    if isinstance(value, (dict, list, tuple, set)) and len(value) > 20:
        return f"a {type(value).__name__} of {len(value):,} items"
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return f"a {type(value).__name__}"
    return _cut(text, limit)


class LenGenError(Exception):
    """Base class for every error LenGen Lab raises on purpose."""


class ConfigError(LenGenError, ValueError):
    """A configuration value is out of range or inconsistent.

    ``field`` is the dotted path of the offending value (``model.n_layers``),
    so a page can put the message next to the widget that set it. Both are cut
    to a readable length (a field name can come from a URL).
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = _cut(str(field), FIELD_CHARS)
        self.message = _cut(str(message), MESSAGE_CHARS)
        super().__init__(f"{self.field}: {self.message}")


class StoreError(LenGenError):
    """The run database cannot be used (corrupt, foreign, too new, locked)."""
