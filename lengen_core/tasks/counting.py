"""Counting family: parity, majority and its variants, mode, counting occurrences.

Most tasks follow Huang et al. 2025 (A Formal Framework for Understanding
Length Generalization in Transformers, arXiv 2410.02140; code
lacoco-lab/length_generalization, ``algorithmic/language_modeling_train.py``),
which predicts length generalization exactly for functions expressible in
C-RASP: majority-type counting comparisons are expressible, parity is not.

Format: ``<bos> x_1 .. x_n = y <eos>`` (``y`` one or more tokens). The length
knob is ``n``, the number of input symbols (for ``interleaved_majority``: the
symbols per interleaved stream). Segments: inputs 1, a query symbol 2,
separators 0, answer ``ANSWER_SEGMENT``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import ClassVar

from lengen_core.tasks.base import ANSWER_SEGMENT, Example, Task, TaskOption, register
from lengen_core.tasks.citations import HUANG_2025, cho_2024
from lengen_core.tasks.common import DIGIT_IDS, EQUALS_ID, LETTER_IDS, ONE_ID, PIPE_ID, SYMBOL_IDS, ZERO_ID, SequenceBuilder, alphabet_option
from lengen_core.tasks.theory import huang

CHO_2024 = cho_2024("src/data/parity.py")
BIT_IDS = (ZERO_ID, ONE_ID)


class _CountingTask(Task):
    family: ClassVar[str] = "counting"
    min_length = 1
    max_length = 512


def _balanced_bits(rng: random.Random, length: int, allow_tie: bool) -> list[int]:
    """Bits whose number of zeros is uniform in ``0..length`` (ties excluded unless allowed), shuffled.

    As Huang et al.'s ``ParityDataset`` (ties allowed) and ``BinaryMajorityDataset`` (ties resampled).
    """
    while True:
        zeros = rng.randint(0, length)
        if allow_tie or 2 * zeros != length:
            break
    bits = [0] * zeros + [1] * (length - zeros)
    rng.shuffle(bits)
    return bits


@register
class Parity(_CountingTask):
    """Parity of a bit string (Huang et al. 2025, ``ParityDataset``; answer ``0`` even / ``1`` odd).

    Tests: a global modular count; not expressible in C-RASP, so Huang et al.
    predict (and observe) failure to length-generalise. The number of ones is
    uniform in ``0..n`` as in their generator.

    Coupling rule (Cho et al. 2024, ``src/data/parity.py``,
    ``ParityDatasetWithCoupledPositions``, ``start = 1``): every input bit gets
    ``start``, ``=`` gets ``start + 1``, the answer ``start``. Example ``1 0 1``::

        tokens      <bos> 1 0 1 = 0 <eos>
        coupled_ids   0   1 1 1 2 1   0
    """

    name = "parity"
    description = "Is the number of 1s even (answer 0) or odd (answer 1)?"
    tests = "A global count modulo 2, the classic case outside C-RASP."
    source = HUANG_2025 + "; coupling rule: " + CHO_2024
    theory = huang(False, False, reported_nope="97.5/74.5/63.3", reported_ape="100/83/62")
    has_coupling = True

    def generate(self, rng: random.Random, length: int) -> Example:
        return self.from_bits(_balanced_bits(rng, length, allow_tie=True))

    def from_bits(self, bits: Sequence[int]) -> Example:
        """The example for given input bits (0/1), with its coupling."""
        length = len(bits)
        builder = SequenceBuilder(coupled=True)
        builder.extend([BIT_IDS[b] for b in bits], 1, coupled=[1] * length)
        builder.add(EQUALS_ID, 0, coupled=2)
        builder.end_prompt()
        builder.add(BIT_IDS[sum(bits) % 2], ANSWER_SEGMENT, coupled=1)
        return builder.build(length)

    def max_sequence_length(self, length: int) -> int:
        return length + 4


@register
class ParityScratchpad(_CountingTask):
    """Parity with a scratchpad of running parities (Cho et al. 2024, ``ParityDatasetWithScratchpad``).

    As their ``configs/task/parity_scratchpad_coupled.yaml`` at commit 384431c
    (``reversed_scratchpad: False``, the default ``coupling_format = current``): for
    input ``x_1 .. x_n`` the answer is the running parities read forwards,
    ``y_1 = x_1`` and ``y_j = y_{j-1} XOR x_j`` (their ``generate_scratchpad_for_parity``);
    ``y_n`` is the parity. Bits are uniform.

    Coupling rule (``ParityDatasetWithScratchpadAndCoupledPositions``, the
    non-reversed "naive" branch, ``start = 1``): ``input_positions = range(start+1,
    start+1+n)``, ``label_positions = range(start, start+n+1)`` covering ``=`` and the
    answer; i.e. ``x_i -> i+1``, ``= -> 1``, ``y_i -> i+1``: each running parity shares
    its id with the input bit it consumes. Example ``1 0 1 1`` (the ids their code
    writes for it)::

        tokens      <bos> 1 0 1 1 = 1 1 0 1 <eos>
        coupled_ids   0   2 3 4 5 1 2 3 4 5   0

    ``coupling_format = early``, the rule LenGen Lab followed before the option (runs
    stored without it; :data:`lengen_core.config_migrations.STORED_BEFORE_OPTION`): the running
    parities over the input read backwards (``y_1 = x_n``), ``x_i -> i+1``,
    ``= -> n+1``, ``y_j -> n+1-j`` (``1 0 1 1``: answer ``1 0 0 1``, ids
    ``0 2 3 4 5 5 4 3 2 1 0``), their reversed branch's construction variant.
    """

    name = "parity_scratchpad"
    description = "Parity, written out step by step as the running parities of the bits read so far."
    tests = "Whether a chain of local steps (one bit and the previous answer) fixes parity's length generalization."
    source = CHO_2024 + " (parity with scratchpad, commit 384431c)"
    has_coupling = True
    supports_index_hints = True
    option_specs = {
        "coupling_format": TaskOption(
            default="current",
            choices=("current", "early"),
            help="current: running parities forwards, each coupled to the bit it consumes (the position-coupling repository at "
            "commit 384431c); early: backwards, the rule runs stored before this option used",
        )
    }

    def generate(self, rng: random.Random, length: int) -> Example:
        return self.from_bits(rng.choices((0, 1), k=length))

    def from_bits(self, bits: Sequence[int]) -> Example:
        """The example for given input bits (0/1), with its coupling."""
        length = len(bits)
        forwards = self.options["coupling_format"] == "current"
        running = []
        value = 0
        for bit in bits if forwards else reversed(bits):
            value ^= bit
            running.append(value)
        builder = SequenceBuilder(coupled=True)
        builder.extend([BIT_IDS[b] for b in bits], 1, coupled=range(2, length + 2))
        builder.add(EQUALS_ID, 0, coupled=1 if forwards else length + 1)
        builder.end_prompt()
        builder.extend([BIT_IDS[b] for b in running], ANSWER_SEGMENT, coupled=range(2, length + 2) if forwards else range(length, 0, -1))
        return builder.build(length)

    def max_sequence_length(self, length: int) -> int:
        return 2 * length + 3


@register
class BinaryMajority(_CountingTask):
    """Which bit is more frequent (Huang et al. 2025, ``BinaryMajorityDataset``; ties never occur).

    Tests: comparing two counts; expressible in C-RASP, so length generalization is predicted.
    """

    name = "binary_majority"
    description = "Are there more 0s or more 1s? Answer the more frequent bit."
    tests = "Comparing two counts, a C-RASP-expressible operation."
    source = HUANG_2025
    theory = huang(True, True, reported_nope="about 100 everywhere", reported_ape="about 100 everywhere")

    def generate(self, rng: random.Random, length: int) -> Example:
        bits = _balanced_bits(rng, length, allow_tie=False)
        builder = SequenceBuilder()
        builder.extend([BIT_IDS[b] for b in bits], 1)
        builder.add(EQUALS_ID, 0)
        builder.end_prompt()
        builder.add(BIT_IDS[int(2 * sum(bits) > length)], ANSWER_SEGMENT)
        return builder.build(length)

    def max_sequence_length(self, length: int) -> int:
        return length + 4


def _strict_mode(rng: random.Random, symbols: list[int]) -> int:
    """Make the most frequent symbol unique (in place) and return it.

    If several symbols tie for the highest count, one of them (chosen at
    random) takes over one position of another tied symbol: its count becomes
    the unique maximum. (Huang et al. resample the whole string instead, which
    is slow for short strings over 26 letters.)
    """
    counts = Counter(symbols)
    top = max(counts.values())
    tied = [symbol for symbol, count in counts.items() if count == top]
    if len(tied) == 1:
        return tied[0]
    winner = rng.choice(tied)
    losers = set(tied) - {winner}
    positions = [index for index, symbol in enumerate(symbols) if symbol in losers]
    symbols[rng.choice(positions)] = winner
    return winner


@register
class Majority(_CountingTask):
    """Most frequent letter (Huang et al. 2025, ``MajorityDataset`` over the 26 letters; unique winner).

    Tests: comparing many counts; expressible in C-RASP. Letters are uniform;
    ties for the top count are broken by moving one position to a random tied
    letter (see ``_strict_mode``), so the answer is always unique.
    """

    name = "majority"
    description = "Which letter occurs most often? (There is always exactly one.)"
    tests = "Comparing the counts of many symbols, a C-RASP-expressible operation."
    source = HUANG_2025
    theory = huang(True, True, reported_nope="about 100 everywhere", reported_ape="about 100 everywhere")
    option_specs = {"alphabet_size": alphabet_option(26, minimum=2, maximum=len(LETTER_IDS))}

    def generate(self, rng: random.Random, length: int) -> Example:
        letters = rng.choices(LETTER_IDS[: self.options["alphabet_size"]], k=length)
        winner = _strict_mode(rng, letters)
        builder = SequenceBuilder()
        builder.extend(letters, 1)
        builder.add(EQUALS_ID, 0)
        builder.end_prompt()
        builder.add(winner, ANSWER_SEGMENT)
        return builder.build(length)

    def max_sequence_length(self, length: int) -> int:
        return length + 4


@register
class InterleavedMajority(_CountingTask):
    """Majority of each of ``period`` interleaved bit streams (Huang et al. 2025, ``bin_majority_interleave``).

    The input is ``s_1[1] s_2[1] .. s_p[1] s_1[2] ..``: stream ``k`` occupies the
    positions congruent to ``k`` modulo ``p``. The answer is the majority bit of
    each stream, in stream order. The length knob is the number of bits per
    stream (the input has ``period * length`` bits); each stream is drawn like
    ``binary_majority`` (no ties). Expressible in C-RASP with periodic
    positional relations (Huang et al. 2025).
    """

    name = "interleaved_majority"
    description = "The bits form several interleaved streams; give the majority bit of each stream."
    tests = "Counting restricted to positions with a fixed remainder (periodic position information)."
    source = HUANG_2025
    theory = huang(False, True, reported_nope="96/69/40", reported_ape="100/97/85")
    max_length = 256
    option_specs = {"period": TaskOption(default=3, minimum=2, maximum=5, help="number of interleaved streams, 2..5")}

    def generate(self, rng: random.Random, length: int) -> Example:
        period = self.options["period"]
        streams = [_balanced_bits(rng, length, allow_tie=False) for _ in range(period)]
        interleaved = [streams[k][i] for i in range(length) for k in range(period)]
        builder = SequenceBuilder()
        builder.extend([BIT_IDS[b] for b in interleaved], 1)
        builder.add(EQUALS_ID, 0)
        builder.end_prompt()
        builder.extend([BIT_IDS[int(2 * sum(stream) > length)] for stream in streams], ANSWER_SEGMENT)
        return builder.build(length)

    def max_sequence_length(self, length: int) -> int:
        period = self.options["period"]
        return period * length + period + 3


@register
class Mode(_CountingTask):
    """Most frequent symbol, ties allowed and broken towards the smallest symbol (s0 < s1 < ...).

    Tests: counting plus a fixed tie-break; unlike ``majority`` the tie case is
    part of the task. No Huang et al. label.
    """

    name = "mode"
    description = "Which symbol occurs most often? On a tie, the smallest symbol (s0 before s1 ...)."
    tests = "Comparing counts with a deterministic tie-break."
    source = "Task of this library; a variant of majority in " + HUANG_2025
    option_specs = {"alphabet_size": alphabet_option(8)}

    def generate(self, rng: random.Random, length: int) -> Example:
        symbols = rng.choices(SYMBOL_IDS[: self.options["alphabet_size"]], k=length)
        counts = Counter(symbols)
        top = max(counts.values())
        winner = min(symbol for symbol, count in counts.items() if count == top)
        builder = SequenceBuilder()
        builder.extend(symbols, 1)
        builder.add(EQUALS_ID, 0)
        builder.end_prompt()
        builder.add(winner, ANSWER_SEGMENT)
        return builder.build(length, {"tie": sum(count == top for count in counts.values()) > 1})

    def max_sequence_length(self, length: int) -> int:
        return length + 4


@register
class Counting(_CountingTask):
    """How often does the query symbol occur? ``<bos> x_1 .. x_n | q = c <eos>``.

    The count ``c`` (0..n) is written in decimal, most significant digit first,
    with its digits' significance annotated. The query is uniform over the
    alphabet, so it may be absent (count 0).
    """

    name = "counting"
    description = "Count how many times the query symbol occurs in the string."
    tests = "Exact counting, with an answer whose number of digits grows with the length."
    source = (
        "Chang & Bisk (2024). Language Models Need Inductive Biases to Count Inductively. arXiv 2405.20131; counting in the C-RASP framework: " + HUANG_2025
    )
    has_significance = True
    option_specs = {"alphabet_size": alphabet_option(4)}

    def generate(self, rng: random.Random, length: int) -> Example:
        alphabet = SYMBOL_IDS[: self.options["alphabet_size"]]
        symbols = rng.choices(alphabet, k=length)
        query = rng.choice(alphabet)
        count = symbols.count(query)
        digits = [int(c) for c in str(count)]
        builder = SequenceBuilder(significance=True)
        builder.extend(symbols, 1)
        builder.add(PIPE_ID, 0)
        builder.add(query, 2)
        builder.add(EQUALS_ID, 0)
        builder.end_prompt()
        builder.extend([DIGIT_IDS[d] for d in digits], ANSWER_SEGMENT, significance=range(len(digits), 0, -1))
        return builder.build(length, {"count": count})

    def max_sequence_length(self, length: int) -> int:
        return length + 5 + len(str(length))
