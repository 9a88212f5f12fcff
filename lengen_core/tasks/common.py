"""Helpers every task family shares: token ids, option specs, the example builder.

Token ids come from :mod:`lengen_core.vocab` only; this module names the ones
the task families use so that each family reads ``SEP_COPY`` rather than
``VOCAB.id(">")``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lengen_core.errors import ConfigError
from lengen_core.tasks.base import ANSWER_SEGMENT, Example, TaskOption
from lengen_core.vocab import BOS_ID, DIGIT_IDS, EOS_ID, LETTER_TOKENS, NO_ID, SYMBOL_IDS, VOCAB, YES_ID

# Separators and punctuation.
PLUS_ID = VOCAB.id("+")
TIMES_ID = VOCAB.id("*")
EQUALS_ID = VOCAB.id("=")
ARROW_ID = VOCAB.id(">")  # ends the prompt of sequence-to-sequence tasks (copy, sort, ...)
PIPE_ID = VOCAB.id("|")  # separates a context from its query
QUESTION_ID = VOCAB.id("?")
HASH_ID = VOCAB.id("#")
COLON_ID = VOCAB.id(":")
SEMICOLON_ID = VOCAB.id(";")

ZERO_ID, ONE_ID = DIGIT_IDS[0], DIGIT_IDS[1]
LETTER_IDS: tuple[int, ...] = tuple(VOCAB.ids(LETTER_TOKENS))
MAX_ALPHABET = len(SYMBOL_IDS)  # 128 generic symbols s0..s127

__all__ = [
    "ANSWER_SEGMENT",
    "ARROW_ID",
    "BOS_ID",
    "COLON_ID",
    "DIGIT_IDS",
    "EOS_ID",
    "EQUALS_ID",
    "HASH_ID",
    "LETTER_IDS",
    "MAX_ALPHABET",
    "NO_ID",
    "ONE_ID",
    "PIPE_ID",
    "PLUS_ID",
    "QUESTION_ID",
    "SEMICOLON_ID",
    "SYMBOL_IDS",
    "TIMES_ID",
    "YES_ID",
    "ZERO_ID",
    "SequenceBuilder",
    "alphabet_option",
    "check_unique_alphabet",
    "random_number_digits",
]


def alphabet_option(default: int, minimum: int = 2, maximum: int = MAX_ALPHABET) -> TaskOption:
    """``alphabet_size``: how many of the generic symbols s0..s127 a task draws from."""
    return TaskOption(
        default=default, minimum=minimum, maximum=maximum, help=f"number of distinct symbols (s0..s{{n-1}}) the inputs are drawn from, {minimum}..{maximum}"
    )


def check_unique_alphabet(task_name: str, length: int, alphabet_size: int, field_name: str = "length") -> None:
    """Unique-token tasks draw ``length`` distinct symbols: refuse lengths above the alphabet."""
    if length > alphabet_size:
        raise ConfigError(
            field_name,
            f"task {task_name!r} draws {length} distinct tokens but task.options.alphabet_size is "
            f"{alphabet_size}: unique-token tasks need alphabet_size >= length "
            f"(the vocabulary has {MAX_ALPHABET} symbols, so length <= {MAX_ALPHABET})",
        )


def random_number_digits(rng: random.Random, n_digits: int, base: int = 10) -> list[int]:
    """Digits (most significant first, values 0..base-1) of a uniform ``n_digits``-digit number.

    As in Cho et al. 2024 (``src/data/addition.py``): a 1-digit number is uniform in
    ``0..base-1``; a longer one has a non-zero leading digit and uniform other digits.
    """
    if n_digits == 1:
        return [rng.randrange(base)]
    digits = rng.choices(range(base), k=n_digits)
    digits[0] = rng.randrange(1, base)
    return digits


class SequenceBuilder:
    """Accumulates ``prompt + answer`` with its annotations, then builds an :class:`Example`.

    Starts with ``<bos>`` (segment 0, coupled id 0, significance 0). Call
    :meth:`end_prompt` after the separator; :meth:`build` appends ``<eos>``.
    Annotation lists are kept only when asked for (``coupled`` / ``significance``).
    """

    __slots__ = ("tokens", "segments", "coupled", "significance", "prompt_length")

    def __init__(self, coupled: bool = False, significance: bool = False) -> None:
        self.tokens: list[int] = [BOS_ID]
        self.segments: list[int] = [0]
        self.coupled: list[int] | None = [0] if coupled else None
        self.significance: list[int] | None = [0] if significance else None
        self.prompt_length = -1

    def add(self, token: int, segment: int, coupled: int = 0, significance: int = 0) -> None:
        self.tokens.append(token)
        self.segments.append(segment)
        if self.coupled is not None:
            self.coupled.append(coupled)
        if self.significance is not None:
            self.significance.append(significance)

    def extend(self, tokens: Sequence[int], segment: int, coupled: Iterable[int] | None = None, significance: Iterable[int] | None = None) -> None:
        """Append many tokens of one segment (coupled ids / significances default to 0)."""
        count = len(tokens)
        self.tokens.extend(tokens)
        self.segments.extend([segment] * count)
        if self.coupled is not None:
            if coupled is None:
                self.coupled.extend([0] * count)
            else:
                self.coupled.extend(coupled)
        if self.significance is not None:
            if significance is None:
                self.significance.extend([0] * count)
            else:
                self.significance.extend(significance)

    def end_prompt(self) -> None:
        """Everything added so far is the prompt; what follows is the answer."""
        self.prompt_length = len(self.tokens)

    def build(self, length: int, meta: Mapping[str, Any] | None = None) -> Example:
        """Append ``<eos>`` (answer segment, uncoupled) and freeze the example."""
        if self.prompt_length < 0:
            raise ValueError("SequenceBuilder.end_prompt() was never called")
        self.add(EOS_ID, ANSWER_SEGMENT)
        split = self.prompt_length
        tokens = self.tokens
        return Example(
            prompt=tuple(tokens[:split]),
            answer=tuple(tokens[split:]),
            length=length,
            segment_ids=tuple(self.segments),
            coupled_ids=None if self.coupled is None else tuple(self.coupled),
            digit_significance=None if self.significance is None else tuple(self.significance),
            meta=meta if meta is not None else {},
        )
