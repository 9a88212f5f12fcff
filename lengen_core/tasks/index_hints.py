"""Index hints (Zhou et al. 2023, "What Algorithms Can Transformers Learn? A Study in Length Generalization").

Zhou et al. put a hint token before every significant token so that tokens
which belong together carry the same hint, e.g. for addition
``a5 b4 + a3 b2 = a8 b6`` (their Section 4.1). This is a data format, so it
applies to examples of any position scheme.

Which tokens belong together is exactly what a task's coupling rule says
(``coupled_ids``), so the hint of a token is derived from it: a token with
coupled id ``c >= 1`` that is part of an operand/input or of the answer
(``segment_ids != 0``) gets the hint ``h{c-1}`` placed right before it;
separators (segment 0: ``+``, ``=``, ``>``), ``<bos>``/``<eos>`` and uncoupled
tokens get none. Answer tokens get hints too: the model writes them, as in
Zhou et al. The inserted hint inherits the segment and coupled id of the token
it annotates, and has digit significance 0 (it is not a digit).

Example (reverse, ``s3 s1 s4``; coupled ids 1 2 3 | 4 | 3 2 1)::

    <bos> h0 s3 h1 s1 h2 s4 > h2 s4 h1 s1 h0 s3 <eos>

The vocabulary has 64 hints (``h0``..``h63``), so an example whose hinted
tokens reach coupled id 65 cannot be written; that is a ConfigError on
``task.index_hints`` naming the limit.
"""

from __future__ import annotations

import random
from typing import Any

from lengen_core.errors import ConfigError
from lengen_core.monotone import largest_length
from lengen_core.tasks.base import TASK_REGISTRY, Example, Task
from lengen_core.vocab import HINT_IDS, NUM_HINTS

PROBE_SAMPLES = 4


def _hinted_tasks() -> list[str]:
    return sorted(name for name, task_class in TASK_REGISTRY.items() if task_class.supports_index_hints)


def with_index_hints(example: Example) -> Example:
    """The example rewritten in the index-hint format (see the module docstring).

    Raises ConfigError(``task.index_hints``) when the example has no coupling
    structure to hint, or needs more than 64 distinct hints.
    """
    coupled = example.coupled_ids
    if coupled is None:
        raise ConfigError("task.index_hints", f"this task has no structure to hint (no coupling rule); index hints work with {_hinted_tasks()}")
    if example.meta.get("index_hints"):
        raise ConfigError("task.index_hints", "the example already carries index hints")
    segments = example.segment_ids
    significance = example.digit_significance
    prompt_length = len(example.prompt)
    tokens = example.tokens
    needed = max((c for c, s in zip(coupled, segments) if c > 0 and s != 0), default=0)
    if needed > NUM_HINTS:
        raise ConfigError(
            "task.index_hints",
            f"an example of length {example.length} needs {needed} distinct index hints but the vocabulary has "
            f"{NUM_HINTS} (h0..h{NUM_HINTS - 1}); use shorter lengths or no index hints",
        )
    new_tokens: list[int] = []
    new_segments: list[int] = []
    new_coupled: list[int] = []
    new_significance: list[int] | None = None if significance is None else []
    new_prompt_length = 0
    for index, token in enumerate(tokens):
        if index == prompt_length:
            new_prompt_length = len(new_tokens)
        coupled_id, segment = coupled[index], segments[index]
        if coupled_id > 0 and segment != 0:
            new_tokens.append(HINT_IDS[coupled_id - 1])
            new_segments.append(segment)
            new_coupled.append(coupled_id)
            if new_significance is not None:
                new_significance.append(0)
        new_tokens.append(token)
        new_segments.append(segment)
        new_coupled.append(coupled_id)
        if new_significance is not None and significance is not None:  # both or neither
            new_significance.append(significance[index])
    meta: dict[str, Any] = dict(example.meta)
    meta["index_hints"] = True
    return Example(
        prompt=tuple(new_tokens[:new_prompt_length]),
        answer=tuple(new_tokens[new_prompt_length:]),
        length=example.length,
        segment_ids=tuple(new_segments),
        coupled_ids=tuple(new_coupled),
        digit_significance=None if new_significance is None else tuple(new_significance),
        meta=meta,
    )


def check_index_hints(task: Task, length: int) -> None:
    """Refuse index hints for a task without hint structure, or at a length needing more than 64 hints."""
    if not task.supports_index_hints:
        raise ConfigError("task.index_hints", f"task {task.name!r} has no structure to hint; index hints work with {_hinted_tasks()}")
    rng = random.Random(f"index-hints-probe:{task.name}:{length}")
    for _ in range(PROBE_SAMPLES):
        with_index_hints(task.sample(rng, length))


def max_hinted_length(task: Task) -> int:
    """The largest length (within the task's range) whose examples fit in the 64 hints; 0 if none.

    Found by bisection with a few probe examples per length (the hints needed
    grow with the length for every task that supports them).
    """
    if not task.supports_index_hints:
        return 0

    def fits(length: int) -> bool:
        try:
            check_index_hints(task, length)
        except ConfigError:
            return False
        return True

    longest = largest_length(fits, task.min_length, task.max_length)
    return longest if longest >= task.min_length else 0
