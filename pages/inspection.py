"""Widgets and cached resources shared by the Attention, Position IDs and Lessons pages.

Checkpoint loading (cached per file version), the run
and example pickers and token rendering. The data comes from
:mod:`lengen_core.inspection`; the figures are in :mod:`lengen_core.charts`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import streamlit as st

from lengen_core.config import RunConfig
from lengen_core.data import ExampleSource
from lengen_core.errors import ConfigError, LenGenError
from lengen_core.inspection import ExampleInputError, generated_example, render_tokens, typed_example
from lengen_core.runs.loading import load_run
from lengen_core.store import RunStore
from lengen_core.tasks.base import Example
from lengen_core.training import load_checkpoint
from lengen_core.vocab import VOCAB
from pages.caps import app_caps
from pages.escaping import escape_markdown

PICKER_LIMIT = 200  # newest finished runs with a checkpoint offered by the run pickers


@st.cache_resource(max_entries=6, show_spinner="Loading the checkpoint…")
def _load_model(path: str, modified: float) -> tuple[Any, RunConfig, int]:
    return load_checkpoint(path)


def load_model(path: str) -> tuple[Any, RunConfig, int]:
    """(model, config, seed) of a checkpoint, cached per file version; raises ExampleInputError with the reason."""
    try:
        modified = os.path.getmtime(path)
    except OSError:
        raise ExampleInputError(f"the checkpoint file {path} is missing; retrain the run to inspect it") from None
    try:
        return _load_model(path, modified)
    except ImportError as error:
        raise ExampleInputError(f"this run's model cannot be built here ({error}); HSA runs need lengen_core.models.hsa") from None
    except (LenGenError, OSError, KeyError, RuntimeError, ValueError) as error:
        raise ExampleInputError(f"the checkpoint {path} cannot be loaded: {type(error).__name__}: {error}") from None


def load_run_model(store: RunStore, run_id: str) -> tuple[Any, RunConfig] | None:
    """(model, config) of stored run ``run_id``: :func:`lengen_core.runs.loading.load_run` with this page's cached
    checkpoint loader (the store's config is the run's; a checkpoint that disagrees is refused). None after showing
    why, when the stored config or the checkpoint is not usable."""
    try:
        loaded = load_run(store, run_id, load=lambda path: load_model(path))
    except LenGenError as error:
        st.error(escape_markdown(error), icon=":material/block:")
        return None
    return loaded.model, loaded.config


def checkpoint_runs(store: RunStore, *, scheme: str | None = None, limit: int = PICKER_LIMIT) -> Any:
    """Finished runs with a checkpoint (newest first, at most ``limit``); one store query."""
    return store.list_runs(status="done", scheme=scheme, limit=limit, with_checkpoint=True)


def run_label(row: Any) -> str:
    """``id · name · task / scheme · trained ≤ L`` for pickers."""
    name = f"{row.name} · " if isinstance(getattr(row, "name", None), str) and row.name else ""  # None or NaN: no name
    attention = " · HSA" if getattr(row, "attention", "dense") == "hsa" else ""
    return f"{row.run_id} · {name}{row.task} / {row.scheme}{attention} · trained ≤ {row.train_length_max}"


def example_picker(source: ExampleSource, *, key: str, default_length: int, eval_seed: int = 0, length_cap: int | None = None) -> tuple[Example, bool] | None:
    """Generated (evaluation stream) or typed example; returns (example, truth_known) or None after showing an error.

    Lengths go up to ``length_cap`` (default: the app's cap on evaluation lengths) within the task's range.
    """
    task = source.task
    length_cap = app_caps()["eval.lengths"].limit if length_cap is None else length_cap
    mode = st.radio(
        "Example",
        ["From the evaluation stream", "Type your own"],
        horizontal=True,
        key=f"{key}.mode",
        help="Evaluation examples are the ones the length sweep scores. Typed tokens are separated by spaces.",
    )
    top = max(task.min_length, min(task.max_length, length_cap))
    columns = st.columns(2)
    length = columns[0].number_input(
        "Length",
        min_value=task.min_length,
        max_value=top,
        value=min(max(default_length, task.min_length), top),
        step=1,
        key=f"{key}.length.{task.name}",
        help=f"The task's size knob ({task.min_length}..{top}).",
    )
    index = columns[1].number_input("Example #", min_value=0, max_value=999, value=0, step=1, key=f"{key}.index")
    try:
        generated = generated_example(source, int(length), int(index), eval_seed)
    except (ExampleInputError, ConfigError) as error:
        st.error(escape_markdown(error), icon=":material/block:")
        return None
    if mode != "Type your own":
        return generated, True
    prompt_key, answer_key = f"{key}.prompt.{task.name}", f"{key}.answer.{task.name}"
    if st.button("Fill in the generated example", key=f"{key}.fill") or prompt_key not in st.session_state:
        st.session_state[prompt_key] = render_tokens(generated.prompt)
        st.session_state[answer_key] = render_tokens(generated.answer_without_eos)
    prompt_text = st.text_input("Prompt tokens", key=prompt_key, help="e.g. <bos> 6 5 3 + 0 4 9 =")
    answer_text = st.text_input("Expected answer (optional)", key=answer_key, help="Leave empty to see the model's answer without a truth.")
    try:
        typed = typed_example(source, prompt_text, answer_text, hint=generated)
    except ExampleInputError as error:
        st.error(f"**Typed example**: {escape_markdown(error)}", icon=":material/block:")
        return None
    return typed.example, typed.truth_known


def tokens_html(token_ids: Sequence[int], *, colors: Sequence[str | None] | None = None) -> str:
    """Tokens as small boxes (HTML for st.markdown), optionally coloured per token."""
    import html

    boxes = []
    for index, token in enumerate(token_ids):
        color = (colors[index] if colors is not None and index < len(colors) else None) or "#f0f2f6"
        boxes.append(
            f"<span title='token {index}' style='display:inline-block;margin:1px;padding:1px 5px;border-radius:4px;"
            f"background:{color};font-family:monospace'>{html.escape(VOCAB.token(token))}</span>"
        )
    return "".join(boxes)
