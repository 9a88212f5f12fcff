"""The one vocabulary every task shares.

A fixed, global token list keeps checkpoints comparable across tasks and lets
the app render any token id. Tasks pick the tokens they need by name through
:data:`VOCAB`; nothing else assigns token ids.

Layout (ids are stable; append only):
    0 <pad>, 1 <bos>, 2 <eos>, 3 <yes>, 4 <no>
    digits '0'..'9'
    punctuation / operators: + * = > | ( ) , : ? # ; -
    letters 'a'..'z'
    generic symbols 's0'..'s127'   (alphabets for copy/sort/majority/...)
    index-hint tokens 'h0'..'h63' (Zhou et al. 2023 index hints)
    task markers '<task:reverse>', ... (multi-task runs), in a pool of 128 slots
    upper-case letters 'A'..'Z' (the capitalize tasks of Cai et al. 2025), added after the pool

A single-task run's model has rows for the tokens before the markers only
(:data:`SINGLE_TASK_VOCAB_SIZE`, what every run had before mixtures existed), so
its initialisation and its checkpoint are exactly what they were. A mixture's
model has rows for the whole pool (:data:`MIXTURE_VOCAB_SIZE`); the pool is fixed,
so adding a task fills a slot and changes no mixture model's size. A run with a
task that writes upper-case letters (:data:`UPPER_LETTER_TOKENS`, added later,
hence after the pool) has rows for every token (:data:`FULL_VOCAB_SIZE`); no
earlier run had such a task, so none changes size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "<bos>", "<eos>", "<yes>", "<no>")
DIGIT_TOKENS: tuple[str, ...] = tuple(str(d) for d in range(10))
PUNCTUATION_TOKENS: tuple[str, ...] = ("+", "*", "=", ">", "|", "(", ")", ",", ":", "?", "#", ";", "-")
LETTER_TOKENS: tuple[str, ...] = tuple(chr(c) for c in range(ord("a"), ord("z") + 1))
NUM_SYMBOLS = 128
SYMBOL_TOKENS: tuple[str, ...] = tuple(f"s{i}" for i in range(NUM_SYMBOLS))
NUM_HINTS = 64
HINT_TOKENS: tuple[str, ...] = tuple(f"h{i}" for i in range(NUM_HINTS))
UPPER_LETTER_TOKENS: tuple[str, ...] = tuple(chr(c) for c in range(ord("A"), ord("Z") + 1))


class Vocabulary:
    """Bidirectional token <-> id map over a fixed token list."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary tokens must be unique")
        self.tokens: tuple[str, ...] = tuple(tokens)
        self._ids = {token: index for index, token in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def id(self, token: str) -> int:
        """Id of one token; KeyError names the unknown token."""
        try:
            return self._ids[token]
        except KeyError:
            raise KeyError(f"token {token!r} is not in the vocabulary") from None

    def ids(self, tokens: Iterable[str]) -> list[int]:
        return [self.id(token) for token in tokens]

    def token(self, token_id: int) -> str:
        return self.tokens[token_id]

    def decode(self, token_ids: Iterable[int]) -> list[str]:
        return [self.tokens[i] for i in token_ids]

    def render(self, token_ids: Iterable[int], separator: str = " ") -> str:
        """Human-readable string of a token id sequence."""
        return separator.join(self.decode(token_ids))


# Tasks with a marker token, in slot order: append only (a slot's id is in every mixture checkpoint).
MARKED_TASKS: tuple[str, ...] = (
    "aa_star",
    "aaaa_star",
    "abab_star",
    "addition",
    "associative_recall",
    "binary_addition",
    "binary_majority",
    "copy_backward_nonunique",
    "copy_backward_unique",
    "copy_forward_nonunique",
    "copy_forward_unique",
    "copy_repeated",
    "copy_unique",
    "counting",
    "duplicate",
    "dyck_1",
    "flip_flop",
    "interleaved_majority",
    "majority",
    "mode",
    "multi_operand_addition",
    "multiplication",
    "parity",
    "parity_scratchpad",
    "passkey_retrieval",
    "retrieve_left_first",
    "retrieve_left_last",
    "retrieve_left_unique",
    "retrieve_right_first",
    "retrieve_right_last",
    "retrieve_right_unique",
    "reverse",
    "sort",
    "sparse_majority",
    "sparse_parity",
    "sparse_sum",
    "tomita_1",
    "tomita_2",
    "tomita_3",
    "tomita_4",
    "tomita_5",
    "tomita_6",
    "tomita_7",
    "sort_successor",
    "sort_predecessor",
    "sort_restricted",
    "reversed_addition",
    "no_carry_addition",
    "carry_only_addition",
    "reversed_subtraction",
    "copy_first_operand",
    "mqar",
    "capitalize",
    "reverse_letters",
    "capitalize_reverse",
    "reverse_restricted",
    "sort_repeated",
    "sort_successor_dense",
    "expression",
)
MARKER_SLOTS = 128
MARKER_TOKENS: tuple[str, ...] = tuple(f"<task:{name}>" for name in MARKED_TASKS) + tuple(
    f"<task-slot:{slot}>" for slot in range(len(MARKED_TASKS), MARKER_SLOTS)
)

_SINGLE_TASK_TOKENS = SPECIAL_TOKENS + DIGIT_TOKENS + PUNCTUATION_TOKENS + LETTER_TOKENS + SYMBOL_TOKENS + HINT_TOKENS
VOCAB = Vocabulary(_SINGLE_TASK_TOKENS + MARKER_TOKENS + UPPER_LETTER_TOKENS)

PAD_ID = VOCAB.id("<pad>")
BOS_ID = VOCAB.id("<bos>")
EOS_ID = VOCAB.id("<eos>")
YES_ID = VOCAB.id("<yes>")
NO_ID = VOCAB.id("<no>")
DIGIT_IDS: tuple[int, ...] = tuple(VOCAB.ids(DIGIT_TOKENS))
SYMBOL_IDS: tuple[int, ...] = tuple(VOCAB.ids(SYMBOL_TOKENS))
HINT_IDS: tuple[int, ...] = tuple(VOCAB.ids(HINT_TOKENS))
UPPER_LETTER_IDS: tuple[int, ...] = tuple(VOCAB.ids(UPPER_LETTER_TOKENS))
SINGLE_TASK_VOCAB_SIZE = len(_SINGLE_TASK_TOKENS)
MIXTURE_VOCAB_SIZE = SINGLE_TASK_VOCAB_SIZE + MARKER_SLOTS
FULL_VOCAB_SIZE = len(VOCAB)


def task_marker_id(task_name: str) -> int:
    """The marker token that opens every example of ``task_name`` in a mixture run."""
    return VOCAB.id(f"<task:{task_name}>")


def is_task_marker(token_id: int) -> bool:
    """Whether ``token_id`` is one of the pool's task markers (or a free slot of it)."""
    return SINGLE_TASK_VOCAB_SIZE <= token_id < MIXTURE_VOCAB_SIZE


def model_vocab_size(is_mixture: bool, writes_upper_letters: bool = False) -> int:
    """Rows of a run's embedding and output head (see the module docstring)."""
    if writes_upper_letters:
        return FULL_VOCAB_SIZE
    return MIXTURE_VOCAB_SIZE if is_mixture else SINGLE_TASK_VOCAB_SIZE
