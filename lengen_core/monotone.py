"""The one bisection: the largest length at which a monotone condition still holds (the length search's limits,
the longest length index hints can cover)."""

from __future__ import annotations

from collections.abc import Callable


def largest_length(fits: Callable[[int], bool], low: int, high: int) -> int:
    """The largest ``n`` in ``low..high`` with ``fits(n)`` (``fits`` monotone: true, then false), ``low - 1`` if none."""
    if low > high or not fits(low):
        return low - 1
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low
