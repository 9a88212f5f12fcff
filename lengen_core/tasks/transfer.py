"""The tasks of length-generalization transfer (Cai et al. 2025, "Extrapolation by Association", arXiv 2506.09251).

A main task trained short, co-trained (``task.mixture``) with a related task
trained longer, extrapolates towards the longer task's range; an unrelated
partner (the control) gives no transfer. Their groups: reversed addition (16)
with no-carry + carry-only addition (32), or with reversed subtraction (32);
string copy (16) with multi-query associative recall (32); the control pairs
reversed addition with copy-first-operand.

Formats, from the paper ("for all arithmetic tasks, both the inputs and
outputs are written in reverse digit order"; length = the digits of the longer
operand) and the authors' earlier code (JackCai1206/transformer_arithmetic_v2,
``lib/data_formats.py``), on ``a = 4567, b = 1985`` (L = 4)::

    reversed_addition      <bos> 7 6 5 4 + 5 8 9 1 =  ->  2 5 5 6 0      (a + b, units first, L + 1 digits)
    no_carry_addition      <bos> 7 6 5 4 + 5 8 9 1 =  ->  2 4 4 5 0      ((a_i + b_i) mod 10, then 0)
    carry_only_addition    <bos> 7 6 5 4 + 5 8 9 1 =  ->  0 1 1 1 0      (the carry into each digit)
    reversed_subtraction   <bos> 7 6 5 4 - 5 8 9 1 =  ->  2 8 5 2 0      (a - b, units first, L + 1 digits)
    copy_first_operand     <bos> 7 6 5 4 + 5 8 9 1 =  ->  7 6 5 4        (the control)

Operands are written without padding, each of its own length: one has exactly
L digits, the other a uniform length in 1..L (option ``operand_lengths``:
``equal`` gives both L digits, as their evaluation sets do); a number of more than one
digit has a non-zero leading digit. Answers are zero-padded to L + 1 digits.
Our choice: ``reversed_subtraction`` draws ``a >= b`` (the operands swapped if
needed), so differences are never negative; the authors' earlier code wrote a
trailing minus sign, the paper does not say.

Coupling (Cho et al.'s rule for this format) and Abacus: the digit of
significance ``s`` gets id ``s`` in both operands and in the answer;
operators are uncoupled.

The string group (``capitalize_reverse`` with ``capitalize`` and
``reverse_letters``) works on strings of lower-case letters, on ``s = b a c``::

    capitalize             <bos> b a c >  ->  B A C        (every letter in upper case)
    reverse_letters        <bos> b a c >  ->  c a b        (the string backwards)
    capitalize_reverse     <bos> b a c >  ->  C A B        (both: the main task)

Our choices (the paper's exact string formats were not available to us): the
letters repeat (uniform over the ``alphabet_size`` first letters), "capitalize"
means every letter in upper case, and the layout and coupling are those of
copy and reverse (:class:`lengen_core.tasks.copying._CopyTask`: an output letter
shares the id of the input letter it writes). Their theory labels are our
derivation: with repeated letters, capitalize is a forward copy of repeated
symbols through a fixed letter map (Born a Transformer's task NF) and both
reverses are backward copies of repeated symbols (task NB), none of which has a
C-RASP program, with or without local relations.

``mqar`` (multi-query associative recall), two formats (option ``format``); length =
``L``, the string's symbols:

- ``repeated`` (the default since 2026-12-07): Cai et al.'s own wording, "given a repeated
  query substring, retrieve the next character following each occurrence".
  ``<bos> s_1 .. s_L | q >``, answered by the symbol after every occurrence of ``q`` in ``s``,
  left to right (overlapping occurrences included), on ``s = a b c a b d``, ``q = a``:
  ``<bos> a b c a b d | a >  ->  b b``. Our choices (their Table 2, which gives the
  serialization, was not available to us): ``q`` is ``query_length`` symbols long (default 1)
  and is the substring at a uniformly drawn position that has a symbol after it, so it occurs
  at least once and the answer is never empty; the answer grows with ``L`` (about
  ``L / alphabet_size`` symbols for one-symbol queries), like copy's, which it is paired with.
- ``pairs`` (what runs stored before 2026-12-07 did): ``<bos> s_1 .. s_L | q_1 ; q_2 ; .. >``
  with each query a pair of adjacent symbols of ``s`` that occurs once in it, and the answer
  the symbol that follows each query, in the queries' order (``queries`` of them). Our
  reading of the paper's shorter phrase "given a random substring, retrieve the next
  character"; on the CPU it was never learned (issue 22: 0.00 exact match at 4 layers x 128
  after 3,000 steps), since each answer needs the query matched in two symbols and the
  queries' order followed.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from lengen_core.errors import ConfigError
from lengen_core.tasks.base import ANSWER_SEGMENT, Example, Task, TaskOption, register
from lengen_core.tasks.citations import BORN_2025, HUANG_2025
from lengen_core.tasks.common import (
    ARROW_ID,
    DIGIT_IDS,
    EQUALS_ID,
    LETTER_IDS,
    PIPE_ID,
    PLUS_ID,
    SEMICOLON_ID,
    SequenceBuilder,
    alphabet_option,
    random_number_digits,
)
from lengen_core.tasks.copying import _CopyTask
from lengen_core.tasks.theory import APE_CLAIM, NOPE_CLAIM, Prediction, TaskTheory
from lengen_core.vocab import UPPER_LETTER_IDS, VOCAB

CAI_2025 = (
    "Cai, Lee, Schwarzschild, Oymak & Papailiopoulos (2025). Extrapolation by Association: Length Generalization "
    "Transfer in Transformers. arXiv 2506.09251 (formats after the authors' JackCai1206/transformer_arithmetic_v2)"
)
MINUS_ID = VOCAB.id("-")

OPERAND_LENGTHS = TaskOption(
    default="independent",
    choices=("independent", "equal"),
    help="independent: one operand has L digits, the other a uniform length in 1..L; equal: both have L digits",
)


def units_first(value: int) -> list[int]:
    """The decimal digits of ``value``, units digit first."""
    return [int(digit) for digit in str(value)[::-1]]


def padded(digits: Sequence[int], width: int) -> list[int]:
    return list(digits) + [0] * (width - len(digits))


def digit_pairs(a: int, b: int, width: int) -> list[tuple[int, int]]:
    """The digits of ``a`` and ``b`` of equal significance, units first, both zero-padded to ``width``."""
    return list(zip(padded(units_first(a), width), padded(units_first(b), width)))


class _ReversedArithmetic(Task):
    """Two operands written units digit first, an answer of ``L + 1`` digits (module docstring)."""

    family: ClassVar[str] = "transfer"
    source = CAI_2025
    has_coupling = True
    has_significance = True
    min_length = 1
    max_length = 256
    option_specs = {"operand_lengths": OPERAND_LENGTHS}
    operator_id: ClassVar[int] = PLUS_ID

    def operands(self, rng: random.Random, length: int) -> tuple[int, int]:
        if self.options["operand_lengths"] == "equal":
            lengths = [length, length]
        else:
            lengths = [rng.randint(1, length), rng.randint(1, length)]
            lengths[rng.randrange(2)] = length
        a, b = (int("".join(map(str, random_number_digits(rng, count)))) for count in lengths)
        return a, b

    def answer_digits(self, a: int, b: int, length: int) -> list[int]:  # pragma: no cover - abstract
        raise NotImplementedError

    def generate(self, rng: random.Random, length: int) -> Example:
        a, b = self.operands(rng, length)
        return self.example(a, b, length)

    def example(self, a: int, b: int, length: int) -> Example:
        builder = SequenceBuilder(coupled=True, significance=True)
        for index, value in enumerate((a, b)):
            digits = units_first(value)
            places = range(1, len(digits) + 1)
            builder.extend([DIGIT_IDS[d] for d in digits], index + 1, coupled=places, significance=places)
            builder.add(self.operator_id if index == 0 else EQUALS_ID, 0)
        builder.end_prompt()
        answer = self.answer_digits(a, b, length)
        places = range(1, len(answer) + 1)
        builder.extend([DIGIT_IDS[d] for d in answer], ANSWER_SEGMENT, coupled=places, significance=places)
        return builder.build(length, {"operands": (a, b)})

    def max_sequence_length(self, length: int) -> int:
        return 1 + 2 * (length + 1) + length + 1 + 1


@register
class ReversedAddition(_ReversedArithmetic):
    """``a + b`` with operands and sum units digit first (Cai et al.'s main arithmetic task)."""

    name = "reversed_addition"
    description = "Add two numbers written units digit first; the sum is written units digit first too."
    tests = "Carrying, with every number in the order carries travel (the main task of Cai et al.'s groups)."

    def answer_digits(self, a: int, b: int, length: int) -> list[int]:
        return padded(units_first(a + b), length + 1)


@register
class NoCarryAddition(_ReversedArithmetic):
    """Digit-wise sums mod 10, no carries (Cai et al.'s auxiliary task of reversed addition)."""

    name = "no_carry_addition"
    description = "Add two reversed numbers digit by digit, dropping every carry."
    tests = "Aligning digits of equal significance without carrying."

    def answer_digits(self, a: int, b: int, length: int) -> list[int]:
        return [(x + y) % 10 for x, y in digit_pairs(a, b, length)] + [0]


@register
class CarryOnlyAddition(_ReversedArithmetic):
    """The carry into each digit of the sum (Cai et al.'s other auxiliary task of reversed addition)."""

    name = "carry_only_addition"
    description = "For two reversed numbers, write the carry (0 or 1) that enters each digit of their sum."
    tests = "Carry propagation alone: generated where digits sum past 9, passed on where they sum to 9."

    def answer_digits(self, a: int, b: int, length: int) -> list[int]:
        carries, carry = [0], 0
        for x, y in digit_pairs(a, b, length):
            carry = (x + y + carry) // 10
            carries.append(carry)
        return carries


@register
class ReversedSubtraction(_ReversedArithmetic):
    """``a - b`` (``a >= b``) with operands and difference units digit first (module docstring)."""

    name = "reversed_subtraction"
    description = "Subtract the second reversed number from the first (never negative); units digit first."
    tests = "Borrowing, the mirror of carrying (Cai et al.'s auxiliary task of reversed addition)."
    operator_id = MINUS_ID

    def operands(self, rng: random.Random, length: int) -> tuple[int, int]:
        a, b = super().operands(rng, length)
        return (a, b) if a >= b else (b, a)

    def answer_digits(self, a: int, b: int, length: int) -> list[int]:
        return padded(units_first(a - b), length + 1)


@register
class CopyFirstOperand(_ReversedArithmetic):
    """The control of Cai et al.: the addition format, but the answer copies the first operand."""

    name = "copy_first_operand"
    description = "Read an addition of two reversed numbers and write the first number back as written."
    tests = "Long inputs in the addition format without the addition: the control that should not transfer."

    def answer_digits(self, a: int, b: int, length: int) -> list[int]:
        return units_first(a)


MQAR_FORMATS = ("repeated", "pairs")


@register
class MultiQueryRecall(Task):
    """Multi-query associative recall in Cai et al.'s form: the symbol after each occurrence of a query
    (``format = repeated``), or after each of several once-only pairs (``pairs``); module docstring."""

    name = "mqar"
    family: ClassVar[str] = "transfer"
    description = "Read a string, then write the symbol that follows each occurrence of the queried substring."
    tests = "Retrieval by content at several places of a long string (Cai et al.'s partner of string copy)."
    source = CAI_2025 + "; query layout ours"
    min_length = 2  # set per instance from the options
    max_length = 512
    option_specs = {
        "format": TaskOption(
            default="repeated",
            choices=MQAR_FORMATS,
            help="repeated: the symbol after every occurrence of one query (Cai et al.); pairs: after each of several once-only pairs",
        ),
        "alphabet_size": alphabet_option(16, minimum=4),
        "query_length": TaskOption(default=1, minimum=1, maximum=4, help="symbols in the query", used_when=("format", ("repeated",))),
        "queries": TaskOption(default=4, minimum=1, maximum=16, help="pairs asked about per example", used_when=("format", ("pairs",))),
    }

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        if self.options["format"] == "repeated":
            self.min_length = self.options["query_length"] + 1  # the query and a symbol after it
        else:
            self.min_length = self.options["queries"] + 2  # a string with a pair and a symbol after it per query

    def check_length(self, length: int, field_name: str = "length") -> None:
        """Refuse strings too short for the query, and, in format ``pairs``, strings so long for the alphabet that
        few pairs occur once (the expected once-only pairs among the ``L - 2`` that have a symbol after them,
        about ``(L - 2)(1 - 1/A^2)^(L - 2)``, must reach 0.9 x the queries)."""
        super().check_length(length, field_name)
        if self.options["format"] == "repeated":
            return
        queries, pairs = self.options["queries"], self.options["alphabet_size"] ** 2
        if (length - 2) * (1 - 1 / pairs) ** (length - 2) < 0.9 * queries:
            raise ConfigError(
                field_name,
                f"task 'mqar' with alphabet_size {self.options['alphabet_size']} repeats most pairs at length {length}, "
                f"leaving too few to ask {queries} queries about; use a larger task.options.alphabet_size or a shorter length",
            )

    def generate(self, rng: random.Random, length: int) -> Example:
        alphabet = VOCAB.ids(f"s{i}" for i in range(self.options["alphabet_size"]))
        if self.options["format"] == "repeated":
            return self._repeated_query(rng, length, alphabet)
        return self._once_only_pairs(rng, length, alphabet)

    def _repeated_query(self, rng: random.Random, length: int, alphabet: list[int]) -> Example:
        span = self.options["query_length"]
        string = rng.choices(alphabet, k=length)
        start = rng.randrange(length - span)  # a place with a symbol after the query
        query = string[start : start + span]
        places = [i for i in range(length - span) if string[i : i + span] == query]  # left to right, overlaps kept
        builder = SequenceBuilder()
        builder.extend(string, 1)
        builder.add(PIPE_ID, 0)
        builder.extend(query, 2)
        builder.add(ARROW_ID, 0)
        builder.end_prompt()
        builder.extend([string[i + span] for i in places], ANSWER_SEGMENT)
        return builder.build(length, {"occurrences": tuple(places)})

    def _once_only_pairs(self, rng: random.Random, length: int, alphabet: list[int]) -> Example:
        for _ in range(1000):  # a string with enough pairs that occur once (almost always the first draw)
            string = rng.choices(alphabet, k=length)
            pairs = [tuple(string[i : i + 2]) for i in range(length - 2)]  # a pair with a symbol after it
            counts: dict[tuple[int, ...], int] = {}
            for pair in [tuple(string[i : i + 2]) for i in range(length - 1)]:
                counts[pair] = counts.get(pair, 0) + 1
            unique = [i for i, pair in enumerate(pairs) if counts[pair] == 1]
            if len(unique) >= self.options["queries"]:
                break
        else:
            raise RuntimeError(f"mqar: no string of length {length} with {self.options['queries']} once-only pairs in 1000 draws")
        starts = rng.sample(unique, self.options["queries"])
        builder = SequenceBuilder()
        builder.extend(string, 1)
        builder.add(PIPE_ID, 0)
        for index, start in enumerate(starts):
            if index:
                builder.add(SEMICOLON_ID, 0)
            builder.extend(string[start : start + 2], 2)
        builder.add(ARROW_ID, 0)
        builder.end_prompt()
        builder.extend([string[start + 2] for start in starts], ANSWER_SEGMENT)
        return builder.build(length, {"queries": tuple(starts)})

    def max_sequence_length(self, length: int) -> int:
        if self.options["format"] == "repeated":
            span = self.options["query_length"]
            return 1 + length + 1 + span + 1 + (length - span) + 1  # every place but the last span an occurrence
        queries = self.options["queries"]
        return 1 + length + 1 + 3 * queries + queries + 1


_LETTER_COPY_THEORY = TaskTheory(
    nope=Prediction(False, NOPE_CLAIM, HUANG_2025, derived_by="ours"), ape=Prediction(False, APE_CLAIM, BORN_2025, derived_by="ours")
)
_UPPER_OF = dict(zip(LETTER_IDS, UPPER_LETTER_IDS))


class _LetterStringTask(_CopyTask):
    """A copy or reverse of a string of lower-case letters, optionally capitalized (module docstring)."""

    family: ClassVar[str] = "transfer"
    source = CAI_2025 + "; format and coupling ours (those of copy and reverse)"
    theory = _LETTER_COPY_THEORY
    option_specs = {
        "alphabet_size": TaskOption(
            default=len(LETTER_IDS),
            minimum=2,
            maximum=len(LETTER_IDS),
            help=f"number of distinct lower-case letters (a..) the inputs are drawn from, 2..{len(LETTER_IDS)}",
        )
    }
    capitalized: ClassVar[bool] = False

    def _alphabet(self) -> tuple[int, ...]:
        return LETTER_IDS[: self.options["alphabet_size"]]

    def written(self, symbol: int) -> int:
        return _UPPER_OF.get(symbol, symbol) if self.capitalized else symbol


@register
class Capitalize(_LetterStringTask):
    """Every letter of a lower-case string in upper case, in order (Cai et al.'s string partner; module docstring)."""

    name = "capitalize"
    description = "Rewrite a string of lower-case letters in upper case."
    tests = "A forward copy through a letter map (a partner of capitalize-reverse in Cai et al.'s string group)."
    capitalized = True
    writes_upper_letters = True


@register
class ReverseLetters(_LetterStringTask):
    """A lower-case string backwards (Cai et al.'s other string partner; module docstring)."""

    name = "reverse_letters"
    description = "Write a string of lower-case letters backwards."
    tests = "Position arithmetic on letters (a partner of capitalize-reverse in Cai et al.'s string group)."
    backward = True


@register
class CapitalizeReverse(_LetterStringTask):
    """A lower-case string backwards and in upper case: Cai et al.'s main string task (module docstring)."""

    name = "capitalize_reverse"
    description = "Write a string of lower-case letters backwards, in upper case."
    tests = "Both partners' skills at once: the main task of Cai et al.'s string group."
    capitalized = True
    backward = True
    writes_upper_letters = True
