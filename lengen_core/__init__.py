"""LenGen Lab's domain library: tasks, position schemes, models, training, evaluation, run store.

Never imports streamlit: everything the app does, a test or the CLI can do too.
"""

__version__ = "0.1.0"
