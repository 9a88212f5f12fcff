"""Seeded random streams: the same parts always give the same stream.

Training and evaluation draw from *different* streams, so an evaluation example is
never one training could have drawn from the same seed: training uses
``("train", seed)``, evaluation ``("eval", eval_seed, task, length)``.
"""

from __future__ import annotations

import hashlib
import random


def stream_seed(*parts: object) -> int:
    """A stable 63-bit seed from any parts (``stream_seed("train", 3)``)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def stream_rng(*parts: object) -> random.Random:
    return random.Random(stream_seed(*parts))
