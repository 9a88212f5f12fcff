"""The position schemes' table: each scheme's id rule and how its ids enter the model.

The table of :mod:`lengen_core.positions`' module docstring, as data. It sits below
:mod:`lengen_core.config` (which validates ``positions.scheme`` and
``positions.base_encoding`` against it) and :mod:`lengen_core.config_checks` (which
asks what a scheme needs of a task), and imports nothing of the project.
"""

from __future__ import annotations

# scheme -> (its id rule, how the ids enter the model; "<base>" = positions.base_encoding)
SCHEME_RULES: dict[str, tuple[str, str]] = {
    "nope": ("index", "none"),
    "learned": ("index", "learned"),
    "sinusoidal": ("index", "sinusoidal"),
    "rope": ("index", "rope"),
    "alibi": ("index", "alibi"),
    "fire": ("index", "fire"),
    "randomized": ("randomized", "<base>"),
    "coupled": ("coupled", "<base>"),
    "predictive_coupled": ("coupled", "<base>"),
    "abacus": ("abacus", "learned"),
}
POSITION_SCHEMES: tuple[str, ...] = tuple(SCHEME_RULES)
BASE_ENCODINGS: tuple[str, ...] = ("learned", "sinusoidal", "rope", "alibi", "fire")


def rule_and_encoding(scheme: str, base_encoding: str) -> tuple[str, str]:
    """(id rule, encoding) of ``scheme``, with ``base_encoding`` where the scheme takes it."""
    rule, encoding = SCHEME_RULES[scheme]
    return rule, base_encoding if encoding == "<base>" else encoding


def needs_position_table(rule: str, encoding: str) -> bool:
    """Whether every position id of a row must lie in ``positions.max_position`` (a learned table, or the range randomized ids are drawn from)."""
    return (rule == "index" and encoding == "learned") or rule == "randomized"
