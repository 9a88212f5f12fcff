"""An example task plug-in for LenGen Lab (docs/tasks.md walks through it).

A teacher's question: can a transformer count the a's before the first b, on strings longer than it trained on?
Installed with ``pip install -e examples/lengen-first-b``, the task shows up in ``python -m lengen_core tasks``, on
the Train page, in Compare and everywhere a task name is taken, through the ``lengen_core.tasks`` entry point
that ``pyproject.toml`` declares.
"""

from __future__ import annotations

import random
from typing import ClassVar

from lengen_core.tasks.base import ANSWER_SEGMENT, Example, Task, TaskOption
from lengen_core.tasks.common import SequenceBuilder
from lengen_core.vocab import DIGIT_IDS, VOCAB

A, B, C = (VOCAB.id(letter) for letter in "abc")
EQUALS = VOCAB.id("=")


class ABeforeB(Task):
    """Count the ``a``'s before the first ``b`` (all of them when there is no ``b``).

    Format: ``<bos> x_1 .. x_n =`` then the count in decimal, most significant digit first, and ``<eos>``::

        tokens   <bos> c a a b a =  2 <eos>

    Inputs are drawn from ``a``, ``b``, ``c`` with ``b`` rarer (``b_share``), so the first ``b`` falls anywhere.
    Coupling: none (the count's digits copy no input position), so the coupled schemes refuse it.
    """

    name = "a_before_b"
    family: ClassVar[str] = "plug-in example"
    description = "Count the a's before the first b."
    tests = "Counting up to a marker: a prefix count, which the model must stop at the first b."
    source = "examples/lengen-first-b (a LenGen Lab plug-in)"
    min_length = 1
    max_length = 512
    option_specs: ClassVar[dict[str, TaskOption]] = {"b_share": TaskOption(default=10, minimum=1, maximum=90, help="percent of the symbols that are b")}

    def generate(self, rng: random.Random, length: int) -> Example:
        share = self.options["b_share"] / 100
        symbols = [B if rng.random() < share else rng.choice((A, C)) for _ in range(length)]
        first_b = symbols.index(B) if B in symbols else length
        count = symbols[:first_b].count(A)
        builder = SequenceBuilder()
        builder.extend(symbols, 1)
        builder.add(EQUALS, 0)
        builder.end_prompt()
        builder.extend([DIGIT_IDS[int(digit)] for digit in str(count)], ANSWER_SEGMENT)
        return builder.build(length)

    def max_sequence_length(self, length: int) -> int:
        return length + 3 + len(str(length))  # <bos>, the symbols, =, the count's digits, <eos>
