"""Auxiliary tasks for sorting: the hints of task hinting and the restrictions of the auxiliary-task recipe.

Both train beside ``sort`` in one multi-task run (``task.mixture``):

- **Task hinting** (Awasthi & Gupta 2023, arXiv 2310.00726): sorting trained
  with a simpler related task; the successor hint (the element that follows a
  given one in sorted order) took length-100 exact match from under 1% to above
  92% with training lengths <= 20, while other natural hints (predecessor among
  them) helped far less. ``sort_successor`` and ``sort_predecessor`` are those
  two hints.
- **Auxiliary tasks** (Awasthi, Gupta & Kumar, NeurIPS 2025, "Length
  Generalization via Auxiliary Tasks"): for a task whose every prediction
  depends on a few tokens, train also on random short *restrictions* of long
  inputs that keep every token the prediction depends on. ``sort_restricted``
  is that recipe for sorting, ``reverse_restricted`` for reversal (the paper
  evaluates both).

What we could read and what we chose. Neither paper's body (formats, tables)
was available to us, only their abstracts and reviews; the details below are our
choices, made to fit ``sort``'s format (Huang et al.'s, distinct symbols):

- A hint example is one step of sorting with the previous output given:
  ``<bos> x_1 .. x_n > q`` then the answer ``succ(q) <eos>``, where ``q`` is one
  of the inputs. A sorting model at step j sees exactly this (the input, ``>``,
  then its last output ``y_{j-1}``) and must write the successor of ``y_{j-1}``;
  the hint trains that step on every element, not only along sorted runs.
  ``#`` answers when ``q`` has no successor (predecessor: is the smallest).
- A restriction (``sort_restricted``): draw a long sorting instance of ``N``
  distinct symbols (``N`` uniform in ``n .. source_factor x n``, capped by the
  alphabet), pick a step ``y_{j-1} -> y_j`` of its sorted output, and keep
  ``y_{j-1}``, ``y_j`` (the tokens that step depends on) and ``n - 2`` others
  drawn uniformly, in their input order. The example asks for that step on the
  ``n`` kept tokens; its answer is unchanged by the restriction (removing other
  symbols cannot put one between ``y_{j-1}`` and ``y_j``). So its queries have
  the small gaps of long inputs while its length stays in the training range.
  Its format is the successor hint's.
- A reversal restriction (``reverse_restricted``), for reversing distinct
  symbols (``copy_backward_unique``): a step of reversal writes, after the
  output ``x_k``, the input's left neighbour ``x_{k-1}`` of it. From a long
  instance, pick a step, keep ``x_{k-1}``, ``x_k`` (adjacent) and ``n - 2``
  others in input order: ``x_{k-1}`` stays ``x_k``'s left neighbour, so the
  answer is unchanged. Same format: ``<bos> x_1 .. x_n > x_k`` -> ``x_{k-1}``.
  With repeated symbols the previous output would not say where the step is,
  so the recipe is for distinct symbols (our choice).

Coupling (for predictive coupling, as ``sort``): ``x_i -> i``, ``>`` uncoupled,
``q`` and the answer each get the id of the input position they name. Like
sort's, the answer's id depends on the answer, so only predictive coupling may
use the rule.
"""

from __future__ import annotations

import random
from typing import ClassVar

from lengen_core.tasks.base import ANSWER_SEGMENT, Example, TaskOption, register
from lengen_core.tasks.common import ARROW_ID, HASH_ID, SequenceBuilder
from lengen_core.tasks.copying import _DistinctSymbols, _SymbolTask

AWASTHI_GUPTA_2023 = (
    "Awasthi & Gupta (2023). Improving Length-Generalization in Transformers via Task Hinting. arXiv 2310.00726"
)
AWASTHI_GUPTA_KUMAR_2025 = "Awasthi, Gupta & Kumar (2025). Length Generalization via Auxiliary Tasks. NeurIPS 2025"


def neighbour_step_example(inputs: list[int], query: int, answer: int | None, length: int) -> Example:
    """``<bos> inputs > query`` -> ``answer`` (``#`` for None), with sort's coupling (ids of input positions)."""
    where = {symbol: index + 1 for index, symbol in enumerate(inputs)}
    builder = SequenceBuilder(coupled=True)
    builder.extend(inputs, 1, coupled=range(1, len(inputs) + 1))
    builder.add(ARROW_ID, 0)
    builder.add(query, 2, coupled=where[query])
    builder.end_prompt()
    if answer is None:
        builder.add(HASH_ID, ANSWER_SEGMENT)
    else:
        builder.add(answer, ANSWER_SEGMENT, coupled=where[answer])
    return builder.build(length, {"query": query})


class _SortStep(_DistinctSymbols, _SymbolTask):
    family: ClassVar[str] = "auxiliary tasks"
    has_coupling = True
    coupling_needs_answer = True
    min_length = 1

    def max_sequence_length(self, length: int) -> int:
        return length + 5  # <bos> x_1..x_n > q answer <eos>

    def neighbour(self, inputs: list[int], query: int) -> int | None:
        """The answer for ``query`` among ``inputs`` (None: there is none)."""
        raise NotImplementedError

    def generate(self, rng: random.Random, length: int) -> Example:
        inputs = self._draw(rng, length)
        query = rng.choice(inputs)
        return neighbour_step_example(inputs, query, self.neighbour(inputs, query), length)


@register
class SortSuccessor(_SortStep):
    """The successor hint of task hinting: the element after ``q`` in sorted order (module docstring)."""

    name = "sort_successor"
    description = "Given the symbols and one of them, write the next larger symbol among them (# if none)."
    tests = "One step of sorting: find the smallest input symbol above the query (the successor hint)."
    source = AWASTHI_GUPTA_2023 + " (successor hint; format ours, see lengen_core/tasks/hints.py)"

    def neighbour(self, inputs: list[int], query: int) -> int | None:
        return min((symbol for symbol in inputs if symbol > query), default=None)


@register
class SortPredecessor(_SortStep):
    """The predecessor hint of task hinting: the element before ``q`` in sorted order (module docstring)."""

    name = "sort_predecessor"
    description = "Given the symbols and one of them, write the next smaller symbol among them (# if none)."
    tests = "The mirror of the successor hint: find the largest input symbol below the query."
    source = AWASTHI_GUPTA_2023 + " (predecessor hint; format ours, see lengen_core/tasks/hints.py)"

    def neighbour(self, inputs: list[int], query: int) -> int | None:
        return max((symbol for symbol in inputs if symbol < query), default=None)


class _RestrictedStep(_SortStep):
    """One step of a long instance, shown on ``n`` of its symbols that keep the step's query and answer (module docstring)."""

    min_length = 2
    option_specs = {
        **_DistinctSymbols.option_specs,
        "source_factor": TaskOption(default=4, minimum=1, maximum=64, help="long instances have up to this many times n symbols"),
    }

    def step(self, rng: random.Random, long_input: list[int]) -> tuple[int, int]:
        """(query, answer) of a random step of the long instance ``long_input``."""
        raise NotImplementedError

    def generate(self, rng: random.Random, length: int) -> Example:
        alphabet = self._alphabet()
        total = rng.randint(length, min(len(alphabet), self.options["source_factor"] * length))
        long_input = rng.sample(alphabet, total)
        query, answer = self.step(rng, long_input)
        others = [symbol for symbol in long_input if symbol not in (query, answer)]
        kept = {query, answer, *rng.sample(others, length - 2)}
        inputs = [symbol for symbol in long_input if symbol in kept]  # input order kept
        return neighbour_step_example(inputs, query, answer, length)


@register
class SortRestricted(_RestrictedStep):
    """A sorting step on a random restriction of a longer input (Awasthi, Gupta & Kumar 2025; module docstring)."""

    name = "sort_restricted"
    description = "One step of sorting a long input, shown on a few of its symbols that keep the step's answer."
    tests = "The auxiliary task of Awasthi, Gupta & Kumar: short restrictions of long inputs that keep what a step depends on."
    source = AWASTHI_GUPTA_KUMAR_2025 + " (restriction recipe; construction ours, see lengen_core/tasks/hints.py)"

    def step(self, rng: random.Random, long_input: list[int]) -> tuple[int, int]:
        ordered = sorted(long_input)
        step = rng.randrange(1, len(ordered))  # y_{j-1} = ordered[step - 1] -> y_j = ordered[step]
        return ordered[step - 1], ordered[step]


@register
class ReverseRestricted(_RestrictedStep):
    """A reversal step on a random restriction of a longer input (Awasthi, Gupta & Kumar 2025; module docstring)."""

    name = "reverse_restricted"
    description = "One step of reversing a long input, shown on a few of its symbols that keep the step's answer."
    tests = "The auxiliary task of Awasthi, Gupta & Kumar for reversal: the left neighbour of the symbol just written."
    source = AWASTHI_GUPTA_KUMAR_2025 + " (restriction recipe for reversal; construction ours, see lengen_core/tasks/hints.py)"

    def step(self, rng: random.Random, long_input: list[int]) -> tuple[int, int]:
        step = rng.randrange(1, len(long_input))  # the output x_k = long_input[step] is followed by x_{k-1}
        return long_input[step], long_input[step - 1]
