"""One colour per position scheme, the same on every page, chart and notebook figure."""

from __future__ import annotations

from lengen_core.scheme_table import POSITION_SCHEMES

# One colour per position scheme, the same on every page and chart.
SCHEME_COLORS: dict[str, str] = {
    "nope": "#7f7f7f",
    "learned": "#d62728",
    "sinusoidal": "#ff7f0e",
    "rope": "#9467bd",
    "alibi": "#8c564b",
    "fire": "#e377c2",
    "randomized": "#bcbd22",
    "coupled": "#2ca02c",
    "predictive_coupled": "#17becf",
    "abacus": "#1f77b4",
}
assert set(SCHEME_COLORS) == set(POSITION_SCHEMES)


def scheme_color(scheme: str) -> str:
    """The scheme's colour; a comparison setting such as ``learned+offsets`` takes its scheme's."""
    return SCHEME_COLORS.get(scheme.split("+")[0], "#333333")
