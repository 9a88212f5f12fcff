"""Errors a user can cause. Each names the field and the limit it broke."""

from __future__ import annotations


class LenGenError(Exception):
    """Base class for every error LenGen Lab raises on purpose."""


class ConfigError(LenGenError, ValueError):
    """A configuration value is out of range or inconsistent.

    ``field`` is the dotted path of the offending value (``model.n_layers``),
    so a page can put the message next to the widget that set it.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class StoreError(LenGenError):
    """The run database cannot be used (corrupt, foreign, too new, locked)."""


class RunCancelled(LenGenError):
    """Raised inside the trainer when a cancel was requested."""
