"""LenGen Lab's domain library: tasks, position schemes, models, training, evaluation, run store.

Never imports streamlit: everything the app does, a test or the CLI can do too.
Importing it fixes glibc's mmap threshold (:func:`lengen_core.memory.configure_allocator`)
so that a run's peak memory is what :mod:`lengen_core.costs` estimates.
"""

from lengen_core.memory import configure_allocator

__version__ = "0.1.0"

configure_allocator()
