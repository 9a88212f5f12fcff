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


VOCAB = Vocabulary(
    SPECIAL_TOKENS + DIGIT_TOKENS + PUNCTUATION_TOKENS + LETTER_TOKENS + SYMBOL_TOKENS + HINT_TOKENS
)

PAD_ID = VOCAB.id("<pad>")
BOS_ID = VOCAB.id("<bos>")
EOS_ID = VOCAB.id("<eos>")
YES_ID = VOCAB.id("<yes>")
NO_ID = VOCAB.id("<no>")
DIGIT_IDS: tuple[int, ...] = tuple(VOCAB.ids(DIGIT_TOKENS))
SYMBOL_IDS: tuple[int, ...] = tuple(VOCAB.ids(SYMBOL_TOKENS))
HINT_IDS: tuple[int, ...] = tuple(VOCAB.ids(HINT_TOKENS))
VOCAB_SIZE = len(VOCAB)
