"""LenGen Lab's domain library: tasks, position schemes, models, training, evaluation, run store.

The public API (:mod:`lengen_core.api`) is this package's own namespace::

    import lengen_core as lg
    run = lg.train(task="reverse", scheme="coupled", steps=2000)
    run.breakdown, run.curve, run.theory, run.plot(), run.model()
    lg.sweep(["reverse"], ["coupled", "nope"], seeds=[0, 1, 2]); lg.open_store().runs(); lg.tasks()

Its names load on first use (``__getattr__``), so importing one module of the
library stays cheap. Never imports streamlit: everything the app does, a test or
the CLI can do too. Importing it fixes glibc's mmap threshold
(:func:`lengen_core.memory.configure_allocator`) so that a run's peak memory is
what :mod:`lengen_core.costs` estimates.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from lengen_core.memory import configure_allocator

__version__ = "0.1.0"

configure_allocator()

# name -> the module that defines it; ``tasks`` is the task package itself, called for the task table
_PUBLIC = {
    "train": "lengen_core.api",
    "sweep": "lengen_core.api",
    "open_store": "lengen_core.api",
    "run_config": "lengen_core.api",
    "Run": "lengen_core.api",
    "Store": "lengen_core.api",
    "Breakdown": "lengen_core.breakdown",
    "tasks": "lengen_core.tasks",
}
__all__ = ["Breakdown", "Run", "Store", "open_store", "run_config", "sweep", "tasks", "train"]  # = sorted(_PUBLIC)

if TYPE_CHECKING:
    from lengen_core import tasks
    from lengen_core.api import Run, Store, open_store, run_config, sweep, train
    from lengen_core.breakdown import Breakdown


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'lengen_core' has no attribute {name!r}")
    module = importlib.import_module(_PUBLIC[name])
    return module if name == "tasks" else getattr(module, name)
