"""The markup of the app's flat progress bar (the pages draw it under a line of text with ``st.markdown``)."""

from __future__ import annotations

PROGRESS_COLOUR = "#1c83e1"  # under way: blue (red reads as an error)
DONE_COLOUR = "#21a366"  # finished: green


def progress_bar_markup(fraction: float, *, done: bool = False) -> str:
    """A 6-pixel bar filled to ``fraction`` (clipped to 0..1), green once ``done``, with its ARIA progress role."""
    percent = max(0.0, min(1.0, fraction)) * 100
    return (
        f'<div class="lengen-progress" role="progressbar" aria-valuenow="{percent:.0f}" aria-valuemin="0" aria-valuemax="100" '
        f'style="background:rgba(151,166,195,0.25);border-radius:4px;height:6px;margin-top:-0.5rem">'
        f'<div style="width:{percent:.1f}%;background:{DONE_COLOUR if done else PROGRESS_COLOUR};border-radius:4px;height:6px"></div></div>'
    )
