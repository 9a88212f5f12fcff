"""Sparse family: k-sparse planted tasks (Golowich, Jelassi, Brandfonbrener, Kakade, Malach 2025).

Golowich et al. (arXiv 2502.16792) show that "length generalization occurs as
long as each predicted token depends on a small (fixed) number of previous
tokens", formalised as *k-sparse planted correlation* distributions, and that
length generalization improves as the sparsity ``k`` decreases; their guarantee
needs the ``k`` tokens to lie close together (locality), a condition position
coupling removes. Their paper's exact synthetic distributions could not be read
here (only its abstract was reachable), so the tasks below are our own
instances of the definition, and say so:

Every task hides ``k`` marked input tokens among ``n`` random ones and asks for
one answer token that is a fixed function of the marked ones only:

- ``sparse_parity``: the XOR of ``k`` marked bits;
- ``sparse_sum``: the sum modulo 10 of ``k`` marked digits;
- ``sparse_majority``: whether more than half of ``k`` marked bits are 1.

Format ``<bos> t t # t t t # t t = a <eos>``: each marked token is preceded
by ``#``. The length knob is ``n``, the number of random tokens (the markers
are extra: the prompt has ``n + k + 2`` tokens). Options:

- ``k`` (1..8): how many tokens the answer depends on;
- ``span`` (0..512): the locality. ``0`` puts the ``k`` marked tokens anywhere
  among the ``n``; ``span = s >= k`` puts them inside one window of ``s``
  consecutive input tokens, at a uniform start, so the dependency is local
  whatever ``n`` is. (Our parameterisation of their locality condition.)

Coupling rule (for the coupled schemes): the answer depends on exactly the
marked tokens, so they and their markers are coupled with the answer and
everything else is left uncoupled; in position-id space the dependency is then
local at every length, which is how coupling relaxes the locality condition.
The ids follow Cho et al.'s parity rule (``src/data/parity.py``: input bits
``start``, ``=`` ``start + 1``, answer ``start``) restricted to the marked
tokens: markers and marked tokens 1, ``=`` 2, answer 1, all others 0. Example,
``sparse_parity`` with ``k = 2``::

    tokens      <bos> 0 # 1 1 # 1 0 = 0 <eos>
    coupled_ids   0   0 1 1 0 1 1 0 2 1   0

This rule is ours (Golowich et al.'s coupling for such tasks could not be read here).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import ClassVar

from lengen_core.errors import ConfigError
from lengen_core.tasks.base import ANSWER_SEGMENT, Example, Task, TaskOption, register
from lengen_core.tasks.common import DIGIT_IDS, EQUALS_ID, HASH_ID, ONE_ID, ZERO_ID, SequenceBuilder
from lengen_core.tasks.theory import GOLOWICH_2025, Sparsity, TaskTheory

CHO_2024 = "Cho et al. (2024). Position Coupling. arXiv 2405.20671 (parity coupling, src/data/parity.py of HanseulJo/position-coupling)"
MAX_K = 8
MAX_SPAN = 512
BITS: tuple[int, ...] = (ZERO_ID, ONE_ID)


class _PlantedTask(Task):
    """``k`` marked tokens among ``n`` random ones; the answer is ``answer_of`` the marked values.

    Subclasses set ``alphabet`` (the token ids inputs are drawn from, uniformly)
    and implement :meth:`answer_of` (values are indices into ``alphabet``).
    """

    family: ClassVar[str] = "sparse"
    source = GOLOWICH_2025 + " (task ours, after their definition); coupling ids follow " + CHO_2024
    has_coupling = True
    min_length = MAX_K
    max_length = 512
    alphabet: ClassVar[tuple[int, ...]] = BITS
    option_specs = {
        "k": TaskOption(default=3, minimum=1, maximum=MAX_K, help=f"number of marked tokens the answer depends on, 1..{MAX_K}"),
        "span": TaskOption(
            default=0, minimum=0, maximum=MAX_SPAN, help="0: marked tokens anywhere; s >= k: all inside one window of s consecutive input tokens (locality)"
        ),
    }

    def __init__(self, options: dict | None = None) -> None:
        super().__init__(options)
        k, span = self.options["k"], self.options["span"]
        if 0 < span < k:
            raise ConfigError("task.options.span", f"must be 0 (anywhere) or >= task.options.k ({k}), got {span}")
        self.theory = TaskTheory(sparsity=Sparsity(k=k, span=span or None))

    def check_length(self, length: int, field_name: str = "length") -> None:
        super().check_length(length, field_name)
        if length < self.options["k"]:
            raise ConfigError(field_name, f"task {self.name!r} needs length >= task.options.k ({self.options['k']}), got {length}")

    def planted_positions(self, rng: random.Random, length: int) -> list[int]:
        """``k`` distinct positions among ``0..length-1``: uniform, or uniform inside one window of ``span``."""
        k, span = self.options["k"], self.options["span"]
        if span == 0 or span >= length:
            return sorted(rng.sample(range(length), k))
        start = rng.randrange(length - span + 1)
        return sorted(rng.sample(range(start, start + span), k))

    def answer_of(self, values: Sequence[int]) -> int:  # pragma: no cover - abstract
        """The answer token for the marked values (indices into ``alphabet``)."""
        raise NotImplementedError

    def generate(self, rng: random.Random, length: int) -> Example:
        values = rng.choices(range(len(self.alphabet)), k=length)  # as sparse_parity drew its bits before the family
        planted = self.planted_positions(rng, length)
        marked = set(planted)
        builder = SequenceBuilder(coupled=True)
        for position, value in enumerate(values):
            if position in marked:
                builder.add(HASH_ID, 0, coupled=1)
                builder.add(self.alphabet[value], 1, coupled=1)
            else:
                builder.add(self.alphabet[value], 1)
        builder.add(EQUALS_ID, 0, coupled=2)
        builder.end_prompt()
        builder.add(self.answer_of([values[p] for p in planted]), ANSWER_SEGMENT, coupled=1)
        return builder.build(length, {"planted": tuple(planted)})

    def max_sequence_length(self, length: int) -> int:
        return length + self.options["k"] + 4


@register
class SparseParity(_PlantedTask):
    """Parity (XOR) of ``k`` marked bits among ``n`` random bits."""

    name = "sparse_parity"
    description = "Parity of the few bits marked with '#' among many random bits."
    tests = "Whether length generalization depends on how many tokens (k) the answer depends on."

    def answer_of(self, values: Sequence[int]) -> int:
        return BITS[sum(values) % 2]


@register
class SparseSum(_PlantedTask):
    """Sum modulo 10 of ``k`` marked digits among ``n`` random digits."""

    name = "sparse_sum"
    description = "Sum (mod 10) of the few digits marked with '#' among many random digits."
    tests = "k-sparse dependency with ten answer values: does generalization degrade as k grows?"
    alphabet = tuple(DIGIT_IDS[:10])

    def answer_of(self, values: Sequence[int]) -> int:
        return DIGIT_IDS[sum(values) % 10]


@register
class SparseMajority(_PlantedTask):
    """Whether more than half of ``k`` marked bits are 1 (``1``) or not (``0``; a tie is ``0``)."""

    name = "sparse_majority"
    description = "Are most of the few bits marked with '#' ones? (A tie answers 0.)"
    tests = "A k-sparse threshold function: easier than parity for the same k?"

    def answer_of(self, values: Sequence[int]) -> int:
        return BITS[int(2 * sum(values) > len(values))]
