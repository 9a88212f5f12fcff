"""Arithmetic family: addition (decimal and binary), multi-operand addition, N x M multiplication.

The format and the coupling rule follow the official position-coupling code
(Cho et al. 2024, HanseulJo/position-coupling, ``src/data/addition.py`` and
``src/data/multiplication.py``, with the settings of ``configs/task/addition_coupled.yaml``:
``padding: True, pad_token: '0', reverse_output: True``):

- operands are written most-significant digit first and zero-padded on the
  left to the length of the longest operand;
- the answer is zero-padded on the left to its largest possible length
  (``n+1`` digits for two n-digit operands) and then written reversed
  (units digit first);
- prompt ``<bos> a + b =``, answer ``c <eos>``.

Coupling rule: the repository's current rule (option ``coupling_format = current``,
the default), ``AdditionDatasetWithCoupledPositions.__getitem__`` at commit
384431cca675 ("modified: least significant digit has least position ID"),
evaluated with ``start = 1`` as at evaluation time::

    plus_position = start
    a_positions = reversed(range(start + 1, start + 1 + len(a)))    # likewise b
    label_positions = [start] + list(range(start + 1, start + 1 + len(labels)))   # '=' then the answer

The collator (``src/tokenization/tokenization.py``, ``tokenize_for_decoder``) puts
``=`` before the answer and gives ``<bos>`` id 0 and ``<eos>`` the padding id 0.
Hence a digit of significance ``s`` (1 = units) gets id ``s + 1`` in every operand
and in the answer, and ``+`` and ``=`` get 1. Worked example (their code's own
output, 653 + 049): input ids ``4 3 2 1 4 3 2``, label ids ``1 2 3 4 5``.
The multi-operand rule (``MultipleAdditionDatasetWithCoupledPositions``) is the
same, with every operand padded to the answer's width (see
:class:`MultiOperandAddition`).

``coupling_format = early`` is the rule of the repository's earlier commits,
which LenGen Lab followed before this option existed (runs stored without the
option were trained with it; :data:`lengen_core.config_migrations.STORED_BEFORE_OPTION`):
the mirror image, ``end = start + max_len + 1``, a digit of significance ``s``
gets ``D + 1 - s`` (``D`` the answer digits), the operators ``D + 1``; the
multi-operand operands are padded to the longest operand only.

Digit significance (Abacus, McLeish et al. 2024, mcleish7/arithmetic ``abacus.py``):
Abacus numbers each run of consecutive digits 1, 2, 3, ... from its first
token, which is the units digit because their numbers are written least
significant digit first. Here ``digit_significance`` is that index computed
from the number itself (1 = units digit, padding zeros included), whatever
order the digits are written in; so Abacus ids here equal theirs on their
reversed format, and operands written most-significant first still get the
id of their significance.

Length knob: the number of digits of the longest operand (``L``). Option
``operand_lengths``: ``independent`` (default; one operand, chosen at random,
has exactly ``L`` digits and the other's length is drawn uniformly from
``1..L``, independently, as Cho et al. draw each operand's length
independently) or ``equal`` (every operand has ``L`` digits, as in Cho et al.'s
evaluation sets). A number with ``k > 1`` digits has a non-zero leading digit.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import ClassVar

from lengen_core.tasks.base import ANSWER_SEGMENT, Example, Task, TaskOption, register
from lengen_core.tasks.citations import cho_2024
from lengen_core.tasks.common import DIGIT_IDS, EQUALS_ID, PLUS_ID, TIMES_ID, SequenceBuilder, random_number_digits
from lengen_core.tasks.theory import huang

CHO_2024 = cho_2024("src/data/addition.py", "src/data/multiplication.py")
MCLEISH_2024 = (
    "McLeish et al. (2024). Transformers Can Do Arithmetic with the Right Embeddings. NeurIPS 2024, "
    "arXiv 2405.17399 (Abacus embeddings; code: mcleish7/arithmetic)"
)

COUPLING_FORMAT = TaskOption(
    default="current",
    choices=("current", "early"),
    help="current: the position-coupling repository's rule at commit 384431c (units digit has the lowest id); "
    "early: its earlier mirror-image rule, which runs stored before this option used",
)
OPERAND_LENGTHS = TaskOption(
    default="independent",
    choices=("independent", "equal"),
    help="independent: the longest operand has L digits, the others a uniform length in 1..L; equal: all have L digits",
)


def digits_of(value: int, base: int, width: int) -> list[int]:
    """``value`` in ``base``, most significant digit first, zero-padded on the left to ``width`` digits."""
    digits = []
    for _ in range(width):
        value, digit = divmod(value, base)
        digits.append(digit)
    if value:
        raise ValueError("value does not fit in width digits")
    return digits[::-1]


def n_digits(value: int, base: int) -> int:
    """Number of digits of ``value`` in ``base`` (0 has one digit)."""
    count = 1
    while value >= base:
        value //= base
        count += 1
    return count


def value_of(digits: Sequence[int], base: int) -> int:
    value = 0
    for digit in digits:
        value = value * base + digit
    return value


def answer_width(longest: int, n_operands: int, base: int) -> int:
    """Digits of the largest possible sum of ``n_operands`` numbers of ``longest`` digits.

    As ``overflow = len(str(int('9' * max_len) * n_operands)) - max_len`` in Cho et al.'s
    ``MultipleAdditionDataset`` (generalised to any base).
    """
    largest = (base**longest - 1) * n_operands
    width = 0
    while largest:
        largest //= base
        width += 1
    return width


def addition_example(operands: Sequence[int], base: int = 10, length: int | None = None, coupling_format: str = "current") -> Example:
    """The example ``o_1 + .. + o_k = sum`` in Cho et al.'s format with its coupling and significance.

    ``length`` (the digits of the longest operand) defaults to the digits of the
    longest operand given. With ``coupling_format = current`` (the repository's
    rule at commit 384431c) two operands are padded to ``length`` digits, three or
    more to the answer's width ``D`` (as their ``MultipleAdditionDataset``); a digit
    of significance ``s`` gets id ``s + 1``, every operator 1. With ``early``, every
    operand is padded to ``length`` and a digit of significance ``s`` gets ``D + 1 - s``,
    the operators ``D + 1`` (see the module docstring). Used by the addition tasks;
    handy for worked examples.
    """
    n_operands = len(operands)
    longest = max(n_digits(value, base) for value in operands)
    length = longest if length is None else length
    total = sum(operands)
    width = answer_width(length, n_operands, base)  # D, the answer digits
    current = coupling_format == "current"
    padded_to = width if current and n_operands > 2 else length
    operator_id = 1 if current else width + 1

    def id_of(significance: int) -> int:
        return significance + 1 if current else width + 1 - significance

    operand_significance = range(padded_to, 0, -1)
    builder = SequenceBuilder(coupled=True, significance=True)
    for index, value in enumerate(operands):
        padded = digits_of(value, base, padded_to)
        builder.extend([DIGIT_IDS[d] for d in padded], index + 1, [id_of(s) for s in operand_significance], operand_significance)
        builder.add(PLUS_ID if index < n_operands - 1 else EQUALS_ID, 0, coupled=operator_id)
    builder.end_prompt()
    answer_digits = digits_of(total, base, width)[::-1]  # units digit first
    builder.extend([DIGIT_IDS[d] for d in answer_digits], ANSWER_SEGMENT, coupled=[id_of(s) for s in range(1, width + 1)], significance=range(1, width + 1))
    return builder.build(length, {"operands": tuple(operands), "result": total})


class _AdditionTask(Task):
    """Sum of ``n_operands`` numbers in ``base``, in Cho et al.'s padded, reversed-answer format.

    See the module docstring for the coupling rule; worked example (decimal,
    ``653 + 49``, L = 3, D = 4; the current rule's ids are those their code writes)::

        tokens        <bos> 6 5 3 + 0 4 9 = 2 0 7 0 <eos>
        coupled_ids     0   4 3 2 1 4 3 2 1 2 3 4 5   0     (coupling_format = current)
        coupled_ids     0   2 3 4 5 2 3 4 5 4 3 2 1   0     (coupling_format = early)
        significance    0   3 2 1 0 3 2 1 0 1 2 3 4   0
    """

    family: ClassVar[str] = "arithmetic"
    base: ClassVar[int] = 10
    has_coupling = True
    has_significance = True
    supports_index_hints = True
    min_length = 1
    max_length = 512

    def _n_operands(self) -> int:
        return 2

    def generate(self, rng: random.Random, length: int) -> Example:
        base = self.base
        n_operands = self._n_operands()
        if self.options["operand_lengths"] == "equal":
            lengths = [length] * n_operands
        else:
            lengths = [rng.randint(1, length) for _ in range(n_operands)]
            lengths[rng.randrange(n_operands)] = length  # the longest operand has exactly L digits
        values = [value_of(random_number_digits(rng, count, base), base) for count in lengths]
        return addition_example(values, base, length, self.options["coupling_format"])

    def max_sequence_length(self, length: int) -> int:
        n_operands = self._n_operands()
        width = answer_width(length, n_operands, self.base)
        operand = width if n_operands > 2 and self.options["coupling_format"] == "current" else length
        return 1 + n_operands * (operand + 1) + width + 1


@register
class Addition(_AdditionTask):
    """Decimal addition of two numbers exactly as in Cho et al. 2024 (padded operands, reversed answer).

    Tests: carrying across digits of equal significance; position coupling
    lets 1-layer models generalise far beyond the trained length.
    """

    name = "addition"
    description = "Add two decimal numbers; the answer is written units digit first."
    tests = "Aligning digits of equal significance and propagating carries."
    source = CHO_2024 + "; digit significance for " + MCLEISH_2024
    option_specs = {"operand_lengths": OPERAND_LENGTHS, "coupling_format": COUPLING_FORMAT}


@register
class BinaryAddition(_AdditionTask):
    """Binary addition in Cho et al.'s format (padded, reversed answer) with base 2.

    Huang et al. 2025 (arXiv 2410.02140, ``AdditionDataset`` in
    lacoco-lab/length_generalization) use binary addition as a task outside
    C-RASP (failure predicted with absolute positions); the label is carried here.
    """

    name = "binary_addition"
    description = "Add two binary numbers; the answer is written lowest bit first."
    tests = "Carry propagation over aligned bits; outside C-RASP (Huang et al. 2025)."
    source = (
        CHO_2024 + " (format and coupling, base 2); C-RASP label: Huang et al. (2025), A Formal Framework for "
        "Understanding Length Generalization in Transformers, arXiv 2410.02140"
    )
    theory = huang(False, False, reported_nope="99.5/28/0", reported_ape="99.7/27/0")
    base = 2
    option_specs = {"operand_lengths": OPERAND_LENGTHS, "coupling_format": COUPLING_FORMAT}


@register
class MultiOperandAddition(_AdditionTask):
    """Addition of several numbers (Cho et al. 2024, ``MultipleAdditionDatasetWithCoupledPositions``).

    As their ``MultipleAdditionDataset`` at commit 384431c (``padding: True``,
    ``reverse_output: True``): every operand and the answer are zero-padded to the
    answer's width ``D = len(str(int('9' * L) * n_operands))`` and the answer is
    reversed; a digit of significance ``s`` gets id ``s + 1`` in every operand and
    in the answer, every ``+`` and the ``=`` get 1. Example ``12 + 7 + 95``
    (L = 2, D = 3), the ids their code writes for it::

        tokens       <bos> 0 1 2 + 0 0 7 + 0 9 5 = 4 1 1 <eos>
        coupled_ids    0   4 3 2 1 4 3 2 1 4 3 2 1 2 3 4   0

    ``coupling_format = early`` (runs stored before the option): operands padded to
    ``L`` digits only, ids ``D + 1 - s`` and ``D + 1`` for the operators
    (``<bos> 1 2 + 0 7 + 9 5 = 4 1 1``: ``0 2 3 4 2 3 4 2 3 4 3 2 1 0``).
    """

    name = "multi_operand_addition"
    description = "Add several decimal numbers; the answer is written units digit first."
    tests = "Aligning digits across many operands and carrying values larger than 1."
    source = CHO_2024 + " (MultipleAdditionDataset); digit significance for " + MCLEISH_2024
    max_length = 256
    option_specs = {
        "operand_lengths": OPERAND_LENGTHS,
        "n_operands": TaskOption(default=3, minimum=2, maximum=20, help="how many numbers are added, 2..20"),
        "coupling_format": COUPLING_FORMAT,
    }

    def _n_operands(self) -> int:
        return self.options["n_operands"]


@register
class Multiplication(Task):
    """N x M multiplication (Cho et al. 2024, ``NxMMultiplicationDatasetWithCoupledPositions``).

    ``a`` has exactly ``N`` digits (the length knob; leading digit non-zero when
    ``N > 1``); ``b`` is uniform in ``0 .. 10**M - 1`` written with ``M`` digits
    (``f"{b:0{M}d}"``); the product is zero-padded to ``N + M`` digits and written
    reversed. Coupling (their code, ``start = 1``): ``end = start + N + M``,
    ``a`` digits and ``*`` get ``range(end - N, end + 1)``, ``b`` digits and ``=`` get
    ``range(end - M, end + 1)``, the answer ``reversed(range(end - (N + M), end))``:
    a digit of significance ``s`` gets ``end - s`` everywhere, ``*`` and ``=`` get
    ``end``. Example, ``N = 3, M = 2``, ``123 * 45 = 5535`` (end = 6)::

        tokens        <bos> 1 2 3 * 4 5 = 5 3 5 5 0 <eos>
        coupled_ids     0   3 4 5 6 4 5 6 5 4 3 2 1   0
        significance    0   3 2 1 0 2 1 0 1 2 3 4 5   0
    """

    name = "multiplication"
    family = "arithmetic"
    description = "Multiply an N-digit number by an M-digit number (default M = 2); answer units digit first."
    tests = "Digit-by-digit products with carries; the coupling aligns digits of equal significance."
    source = CHO_2024 + " (NxMMultiplicationDataset); digit significance for " + MCLEISH_2024
    has_coupling = True
    has_significance = True
    supports_index_hints = True
    min_length = 1
    max_length = 512
    option_specs = {"multiplier_digits": TaskOption(default=2, minimum=1, maximum=4, help="M, the digits of the second operand")}

    def generate(self, rng: random.Random, length: int) -> Example:
        multiplicand = value_of(random_number_digits(rng, length), 10)
        multiplier = rng.randrange(10 ** self.options["multiplier_digits"])
        return multiplication_example(multiplicand, multiplier, self.options["multiplier_digits"])

    def max_sequence_length(self, length: int) -> int:
        m_digits = self.options["multiplier_digits"]
        return 1 + length + 1 + m_digits + 1 + (length + m_digits) + 1


def multiplication_example(multiplicand: int, multiplier: int, multiplier_digits: int = 2) -> Example:
    """``a * b = a*b`` in Cho et al.'s N x M format (``b`` zero-padded to M digits) with coupling and significance."""
    length = n_digits(multiplicand, 10)
    a_digits = digits_of(multiplicand, 10, length)
    b_digits = digits_of(multiplier, 10, multiplier_digits)
    product = multiplicand * multiplier
    width = length + multiplier_digits
    end = width + 1
    builder = SequenceBuilder(coupled=True, significance=True)
    builder.extend([DIGIT_IDS[d] for d in a_digits], 1, range(end - length, end), range(length, 0, -1))
    builder.add(TIMES_ID, 0, coupled=end)
    builder.extend([DIGIT_IDS[d] for d in b_digits], 2, range(end - multiplier_digits, end), range(multiplier_digits, 0, -1))
    builder.add(EQUALS_ID, 0, coupled=end)
    builder.end_prompt()
    answer_digits = digits_of(product, 10, width)[::-1]
    builder.extend([DIGIT_IDS[d] for d in answer_digits], ANSWER_SEGMENT, coupled=range(width, 0, -1), significance=range(1, width + 1))
    return builder.build(length, {"operands": (multiplicand, multiplier), "result": product})
