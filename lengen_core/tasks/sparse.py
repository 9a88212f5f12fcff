"""Sparse family: k-sparse planted parity (Golowich, Jelassi, Brandfonbrener, Kakade, Malach 2025).

Golowich et al. (arXiv 2502.16792) show that a decoder length-generalises when
each predicted token depends on a small, fixed number ``k`` of earlier tokens
("k-sparse planted correlations"), and test it with a sparse parity task whose
``k`` relevant positions are marked by special tokens: the larger ``k``, the
worse the length generalization.
"""

from __future__ import annotations

import random
from typing import ClassVar

from lengen_core.errors import ConfigError
from lengen_core.tasks.base import ANSWER_SEGMENT, Example, Task, TaskOption, register
from lengen_core.tasks.common import EQUALS_ID, HASH_ID, ONE_ID, ZERO_ID, SequenceBuilder

GOLOWICH_2025 = (
    "Golowich, Jelassi, Brandfonbrener, Kakade, Malach (2025). The Role of Sparsity for Length Generalization "
    "in Transformers. ICML 2025, arXiv 2502.16792"
)
CHO_2024 = (
    "Cho et al. (2024). Position Coupling. arXiv 2405.20671 (parity coupling, src/data/parity.py of "
    "HanseulJo/position-coupling)"
)
MAX_K = 8


@register
class SparseParity(Task):
    """Parity of ``k`` planted bits among ``n`` random bits, each planted bit preceded by the marker ``#``.

    ``<bos> b b # b b b # b b = p <eos>``: ``p`` is the parity of the bits right
    after the ``k`` markers. The length knob is ``n``, the number of bits (the
    markers are extra, so the prompt has ``n + k + 2`` tokens); planted
    positions are ``k`` distinct positions drawn uniformly; bits are uniform.

    Coupling rule: the answer depends on exactly the ``k`` planted bits, so
    they (and their markers) are coupled with the answer and everything else is
    left uncoupled, which makes the dependency local in position-id space
    whatever ``n`` is (the point of Golowich et al.'s analysis of position
    coupling). The ids are those of Cho et al.'s parity rule
    (``src/data/parity.py``: input bits ``start``, ``=`` ``start + 1``, answer
    ``start``) restricted to the relevant bits: markers and planted bits 1,
    ``=`` 2, answer 1, all other tokens 0. Example, ``k = 2``::

        tokens      <bos> 0 # 1 1 # 1 0 = 0 <eos>
        coupled_ids   0   0 1 1 0 1 1 0 2 1   0

    Golowich et al.'s own coupling for this task could not be retrieved from
    their paper or code here; this rule is ours and is documented as such.
    """

    name = "sparse_parity"
    family: ClassVar[str] = "sparse"
    description = "Parity of the few bits marked with '#' among many random bits."
    tests = "Whether length generalization depends on how many tokens (k) the answer depends on."
    source = GOLOWICH_2025 + "; coupling ids follow " + CHO_2024
    sparsity_k = 3
    has_coupling = True
    min_length = MAX_K
    max_length = 512
    option_specs = {"k": TaskOption(default=3, minimum=1, maximum=MAX_K, help=f"number of planted bits, 1..{MAX_K}")}

    def __init__(self, options: dict | None = None) -> None:
        super().__init__(options)
        self.sparsity_k = self.options["k"]  # the instance's k (the class attribute is the default)

    def generate(self, rng: random.Random, length: int) -> Example:
        k = self.options["k"]
        if length < k:
            raise ConfigError("length", f"task 'sparse_parity' needs length >= task.options.k ({k}), got {length}")
        bits = rng.choices((0, 1), k=length)
        planted = set(rng.sample(range(length), k))
        builder = SequenceBuilder(coupled=True)
        parity = 0
        for position, bit in enumerate(bits):
            if position in planted:
                builder.add(HASH_ID, 0, coupled=1)
                builder.add(ONE_ID if bit else ZERO_ID, 1, coupled=1)
                parity ^= bit
            else:
                builder.add(ONE_ID if bit else ZERO_ID, 1)
        builder.add(EQUALS_ID, 0, coupled=2)
        builder.end_prompt()
        builder.add(ONE_ID if parity else ZERO_ID, ANSWER_SEGMENT, coupled=1)
        return builder.build(length, {"planted": tuple(sorted(planted))})

    def max_sequence_length(self, length: int) -> int:
        return length + self.options["k"] + 4
