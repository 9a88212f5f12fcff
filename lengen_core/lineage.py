"""Fine-tuning lineage: which stored run a run started from (``train.init_from``), and that run's, and so on.

Kept apart from :mod:`lengen_core.runs` (which imports torch) so the Runs page can draw it cheaply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lengen_core.store import RunStore


def lineage(store: RunStore, run_id: str, limit: int = 32) -> list[str]:
    """The run's ancestors by ``train.init_from``, oldest first, ending with ``run_id``;
    a deleted ancestor ends the chain with ``"<id> (deleted)"``."""
    chain = [run_id]
    current = run_id
    while len(chain) < limit:
        try:
            parent = store.get_run(current).run_config.train.init_from
        except KeyError:
            chain[-1] = f"{current} (deleted)"
            break
        if parent is None or parent in chain:
            break
        chain.append(parent)
        current = parent
    return chain[::-1]
