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


# How far the n-th run of one scheme in a chart moves from the scheme's colour: toward black (negative) or white
# (positive). The first run keeps the scheme's own colour, so a scheme still reads as itself (our choice).
SHADE_STEPS: tuple[float, ...] = (0.0, -0.45, 0.45, -0.7, 0.65, -0.25, 0.25)


def shade(hex_color: str, amount: float) -> str:
    """``hex_color`` mixed toward black (``amount < 0``) or white (``amount > 0``) by ``|amount|`` (0..1)."""
    value = hex_color.lstrip("#")
    target = 255 if amount > 0 else 0
    channels = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return "#" + "".join(f"{round(channel + (target - channel) * abs(amount)):02x}" for channel in channels)


def scheme_places(schemes: list[str]) -> list[int]:
    """Each run's place among the runs of its scheme in a chart: ``["a", "b", "a"]`` -> ``[0, 0, 1]``."""
    seen: dict[str, int] = {}
    places = []
    for scheme in schemes:
        places.append(seen.get(scheme, 0))
        seen[scheme] = places[-1] + 1
    return places


def run_color(scheme: str, place: int) -> str:
    """The colour of the ``place``-th run (from 0) of ``scheme`` in a chart (:func:`scheme_places`)."""
    return shade(scheme_color(scheme), SHADE_STEPS[place % len(SHADE_STEPS)])


def run_colors(schemes: list[str]) -> list[str]:
    """One colour per run of a chart, in order: its scheme's colour, a darker or lighter shade of it for the second,
    third ... run of the same scheme, so runs that share a scheme are told apart by colour, not only by dash."""
    return [run_color(scheme, place) for scheme, place in zip(schemes, scheme_places(schemes))]
