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
was available to us, only their abstracts and reviews (searched again for issue 22:
every stored copy holds the abstract only); the details below are our choices.

In the paper's regime (issue 22): sorting *with repetitions* (``sort_repeated``), where
sort alone fails past its training length, with the successor hint posed densely:

- ``sort_successor_dense``: ``<bos> x_1 .. x_n >`` then the answer
  ``x_1 s(x_1) x_2 s(x_2) .. x_n s(x_n) <eos>``, every token supervised, where ``s(v)``
  is the smallest input symbol larger than ``v`` (``#`` when none). Why this form: a
  sorting model that has just written ``v`` and has written every copy of it must write
  ``s(v)`` next, with ``v`` right before its answer; each pair puts an input symbol right
  before its successor in the same way, for every element at once, so the hint's gradient
  is as dense as sort's own (one supervised token per input element, and the echo).
  With repeats the successor is a property of the value, not of an occurrence (our choice:
  "which copy comes next" is sort's counting, not the hint's).

The first, sparse form (kept for the runs that used it; the format ``sort`` has, distinct symbols):

- A hint example is one step of sorting with the previous output given:
  ``<bos> x_1 .. x_n > q`` then the answer ``succ(q) <eos>``, where ``q`` is one
  of the inputs. A sorting model at step j sees exactly this (the input, ``>``,
  then its last output ``y_{j-1}``) and must write the successor of ``y_{j-1}``;
  the hint trains that step on every element, not only along sorted runs.
  ``#`` answers when ``q`` has no successor (predecessor: is the smallest).
- A restriction, ``format = short`` (the first form, kept for runs stored before the option): draw a long sorting instance of ``N``
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

Restrictions that carry length (``format = long_to_end``, the default since issue 22's second
round; ``long`` was the first round's): a restricted example keeps the *position* its tokens had
in the long instance, so that absolute and relative encodings meet the long distances of
length-``N`` inputs at length-``n`` cost, and it keeps the outputs before the supervised step.
From a long instance ``<bos> x_1 .. x_N > y_1 .. y_N <eos>`` (``N`` uniform in
``n .. source_factor x n``) pick a step ``j >= 2``; keep the inputs the step depends on (the input
occurrences of ``y_{j-1}`` and ``y_j``: for sort the symbol just written and the next in a stable
sort, for reversal ``x_k`` and its left neighbour ``x_{k-1}``) and ``n - 2`` more input positions
drawn uniformly; the example is

    ``<bos>`` (index 0), the kept inputs in input order (each at its index in the long
    instance), ``>`` (index ``N + 1``), the kept outputs before step ``j`` in output order
    (each at its long index ``N + 1 + t``), then the answer: ``y_j`` (at ``N + 1 + j``) and
    every later kept output (``long_to_end``; ``long``: ``y_j`` alone), then ``<eos>`` right
    after the last answer token.

Its answer is the kept instance's own continuation (a stable sort, or the reversal,
restricted to kept positions keeps their order), so it is right by construction; its
length knob is ``n``, the kept inputs. The indices travel as ``Example.source_index``:
the index position rule (learned APE, RoPE, ALiBi, FIRE) reads them instead of the
tokens' own indices; NoPE sees the restriction as a short instance (its examples carry
their task marker in a mixture). With ``repeats`` (sort), the long instance is a
``sort_repeated`` one (symbols with repeats).

Why ``long_to_end`` (our choice, measured): with one supervised step (``long``) the
``<eos>`` after it cannot be predicted, because the tokens do not say where the given
outputs end and the answer begins; the model learned to stop at random (the partner held
0.37 exact match at 1x, loss 0.079 at the end, docs/results.md), and stopping early is
the wrong lesson for the main task. Supervising the kept instance to its end makes the
``<eos>`` a fact of the example (every kept input written) and the supervision as dense as
sort's own.

Coupling (for predictive coupling, as ``sort``): ``x_i -> i``, ``>`` uncoupled,
``q`` and the answer each get the id of the input position they name. Like
sort's, the answer's id depends on the answer, so only predictive coupling may
use the rule.
"""

from __future__ import annotations

import dataclasses
import random
from typing import ClassVar

from lengen_core.tasks.base import ANSWER_SEGMENT, Example, Task, TaskOption, register
from lengen_core.tasks.common import ARROW_ID, HASH_ID, SequenceBuilder
from lengen_core.tasks.copying import _DistinctSymbols, _SymbolTask, stable_sorted_positions

AWASTHI_GUPTA_2023 = "Awasthi & Gupta (2023). Improving Length-Generalization in Transformers via Task Hinting. arXiv 2310.00726"
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
    """One step of a long instance, shown on ``n`` of its symbols that keep the step's query and answer (module docstring).

    ``format = long_to_end`` (default): kept tokens at their long-instance positions, the outputs before the step
    given, the kept instance answered to its end; ``long``: the same answering one step (issue 22's first round);
    ``short``: the first form, renumbered and without outputs (runs stored before the option).
    """

    min_length = 2
    option_specs = {
        **_DistinctSymbols.option_specs,
        "source_factor": TaskOption(default=4, minimum=1, maximum=64, help="long instances have up to this many times n symbols"),
        "format": TaskOption(
            default="long_to_end",
            choices=("long_to_end", "long", "short"),
            help="long_to_end: kept tokens keep their positions in the long instance, the outputs before a step are given "
            "and every later output of the kept instance is supervised; long: the same with one supervised step; "
            "short: the first form, renumbered, one step without outputs",
        ),
    }

    def step(self, rng: random.Random, long_input: list[int]) -> tuple[int, int]:
        """(query, answer) of a random step of the long instance ``long_input`` (``format = short``)."""
        raise NotImplementedError

    def output_order(self, long_input: list[int]) -> list[int]:
        """The long instance's output as input positions, in output order (``format = long`` and ``long_to_end``)."""
        raise NotImplementedError

    def long_input(self, rng: random.Random, length: int) -> list[int]:
        alphabet = self._alphabet()
        total = rng.randint(length, min(len(alphabet), self.options["source_factor"] * length))
        return rng.sample(alphabet, total)

    def max_sequence_length(self, length: int) -> int:
        if self.options["format"] == "short":
            return length + 5
        return 2 * length + 3  # <bos>, n kept inputs, >, at most n - 1 outputs, the answer, <eos>

    def generate(self, rng: random.Random, length: int) -> Example:
        long_input = self.long_input(rng, length)
        if self.options["format"] != "short":
            to_end = self.options["format"] == "long_to_end"
            return restriction_example(rng, long_input, self.output_order(long_input), length, to_end=to_end)
        query, answer = self.step(rng, long_input)
        others = [symbol for symbol in long_input if symbol not in (query, answer)]
        kept = {query, answer, *rng.sample(others, length - 2)}
        inputs = [symbol for symbol in long_input if symbol in kept]  # input order kept
        return neighbour_step_example(inputs, query, answer, length)


def restriction_example(rng: random.Random, long_input: list[int], order: list[int], kept_count: int, to_end: bool = True) -> Example:
    """A restriction of the long instance ``<bos> long_input > [long_input[i] for i in order] <eos>`` (module docstring).

    ``order``: the output as input positions. A step ``j >= 1`` (0-based in ``order``) is drawn; the input positions
    ``order[j - 1]`` and ``order[j]`` and ``kept_count - 2`` others are kept; the answer is ``long_input[order[j]]``,
    then (``to_end``) every later kept output, each at its long position, and ``<eos>`` right after the last.
    Coupled ids (predictive coupling): a kept input ``x_i -> i + 1``, an output the id of the input it copies.
    """
    total = len(long_input)
    step = rng.randrange(1, total)
    depends = {order[step - 1], order[step]}
    others = [index for index in range(total) if index not in depends]
    kept = depends | set(rng.sample(others, kept_count - len(depends)))
    builder = SequenceBuilder(coupled=True)
    source_index = [0]
    for index in sorted(kept):
        builder.add(long_input[index], 1, coupled=index + 1)
        source_index.append(index + 1)
    builder.add(ARROW_ID, 0)
    source_index.append(total + 1)
    for output, index in enumerate(order[:step]):
        if index in kept:
            builder.add(long_input[index], 3, coupled=index + 1)  # an output already written: segment 3
            source_index.append(total + 2 + output)
    builder.end_prompt()
    answered = [output for output in range(step, total) if order[output] in kept] if to_end else [step]
    for output in answered:
        builder.add(long_input[order[output]], ANSWER_SEGMENT, coupled=order[output] + 1)
        source_index.append(total + 2 + output)
    source_index.append(source_index[-1] + 1)  # <eos> right after the last answer
    example = builder.build(kept_count, {"long_length": total, "step": step})
    return dataclasses.replace(example, source_index=tuple(source_index))


@register
class SortRestricted(_RestrictedStep):
    """A sorting step on a random restriction of a longer input (Awasthi, Gupta & Kumar 2025; module docstring).

    ``repeats``: restrictions of ``sort_repeated`` instances (symbols with repeats from ``alphabet_size``); else of
    ``sort`` instances (distinct symbols).
    """

    name = "sort_restricted"
    description = "One step of sorting a long input, shown on a few of its symbols that keep the step's answer."
    tests = "The auxiliary task of Awasthi, Gupta & Kumar: short restrictions of long inputs that keep what a step depends on."
    source = AWASTHI_GUPTA_KUMAR_2025 + " (restriction recipe; construction ours, see lengen_core/tasks/hints.py)"
    option_specs = {
        **_RestrictedStep.option_specs,
        "repeats": TaskOption(default=False, help="restrict sort_repeated instances (symbols with repeats) instead of sort's distinct ones"),
    }

    def check_length(self, length: int, field_name: str = "length") -> None:
        if self.options["repeats"]:
            Task.check_length(self, length, field_name)
        else:
            super().check_length(length, field_name)

    def long_input(self, rng: random.Random, length: int) -> list[int]:
        if not self.options["repeats"]:
            return super().long_input(rng, length)
        if self.options["format"] == "short":
            from lengen_core.errors import ConfigError

            raise ConfigError("task.options.repeats", "restrictions of sort_repeated need format = long_to_end or long")
        return rng.choices(self._alphabet(), k=rng.randint(length, self.options["source_factor"] * length))

    def output_order(self, long_input: list[int]) -> list[int]:
        return stable_sorted_positions(long_input)

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

    def output_order(self, long_input: list[int]) -> list[int]:
        return list(range(len(long_input) - 1, -1, -1))

    def step(self, rng: random.Random, long_input: list[int]) -> tuple[int, int]:
        step = rng.randrange(1, len(long_input))  # the output x_k = long_input[step] is followed by x_{k-1}
        return long_input[step], long_input[step - 1]


@register
class SortSuccessorDense(_SymbolTask):
    """The successor hint posed densely, for sorting with repeats (module docstring).

    ``<bos> x_1 .. x_n > x_1 s(x_1) x_2 s(x_2) .. x_n`` then the answer ``s(x_n) <eos>``, where ``s(v)`` is the
    smallest input symbol above ``v`` (``#`` if none). Every ``s(x_i)`` is supervised: the pairs are in the prompt,
    and the output after each ``x_i`` there is trained to ``s(x_i)`` (``Example.prefix_targets``), the answer's
    as usual, and a test example is exactly right only when every successor is. The echoed ``x_i`` are given, not written by the model: writing them would be a copy in input order,
    which needs positions (a model without them cannot learn it, measured: 0.02 exact match at length 10 after
    4,000 steps with the echoes supervised), while the hint is one skill, "the symbol after ``v`` in sorted
    order", asked once per element. Symbols are drawn as ``sort_repeated``'s. Example, ``s3 s1 s3``::

        tokens   <bos> s3 s1 s3  >  s3  #  s1  s3  s3 |  #  <eos>
        trained          .  .  .  .  #   .   s3  .   #  |  (answer)
    """

    family: ClassVar[str] = "auxiliary tasks"
    scores_prefix_targets = True  # exactly right only when every successor is (the sweep and the learned check)
    name = "sort_successor_dense"
    description = "For each input symbol in turn (given), name the next larger symbol among the inputs (# if none)."
    tests = "The successor hint for every element at once: one supervised step of sorting per input symbol."
    source = AWASTHI_GUPTA_2023 + " (successor hint, posed densely; format ours, see lengen_core/tasks/hints.py)"

    def generate(self, rng: random.Random, length: int) -> Example:
        return self.from_inputs(self._draw(rng, length))

    def from_inputs(self, inputs: list[int]) -> Example:
        values = sorted(set(inputs))
        successor = {value: (values[index + 1] if index + 1 < len(values) else HASH_ID) for index, value in enumerate(values)}
        builder = SequenceBuilder()
        builder.extend(list(inputs), 1)
        builder.add(ARROW_ID, 0)
        targets = [0] * (len(inputs) + 2)  # <bos>, the inputs and > are not trained
        for value in inputs[:-1]:
            builder.add(value, 2)
            builder.add(successor[value], 3)
            targets += [successor[value], 0]  # the output after the query is its successor; after the successor, nothing
        builder.add(inputs[-1], 2)
        builder.end_prompt()
        builder.add(successor[inputs[-1]], ANSWER_SEGMENT)
        example = builder.build(len(inputs))
        return dataclasses.replace(example, prefix_targets=tuple(targets + [0, 0, 0]))  # the last query's is the answer's

    def max_sequence_length(self, length: int) -> int:
        return 3 * length + 3
