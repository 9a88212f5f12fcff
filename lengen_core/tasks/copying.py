"""Copying family: copy, reverse, sort, duplicate, and the copy/retrieval tasks of
"Born a Transformer – Always a Transformer?" (Jobanputra, Veitsman et al. 2025,
arXiv 2505.21785; official code lacoco-lab/always_a_transformer,
``fromscratch/create_datasets.py``).

Format (all tasks here): ``<bos> x_1 .. x_n > y_1 .. y_m <eos>`` with the
input symbols drawn from the generic symbols ``s0 .. s{A-1}`` (``A`` =
``alphabet_size``), except the neighbour-retrieval tasks, whose prompt is
``<bos> c_1 .. c_n | q =`` and whose answer is one symbol. The length knob is
``n``, the number of input symbols (for retrieval: the context length).

Segments: input symbols 1, the query symbol 2, separators 0, answer ``ANSWER_SEGMENT``.

Position coupling (Cho et al. 2024, HanseulJo/position-coupling,
``src/data/copy.py``, ``CopyDatasetWithCoupledPositions.__getitem__`` with
``start = 1``): an output symbol shares the id of the input symbol it copies.
Their collator (``src/tokenization/tokenization.py``, ``tokenize_for_decoder``)
gives ``<bos>`` id 0 and the trailing ``<eos>`` the padding id 0; here 0 means
"uncoupled", so both stay 0.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import ClassVar

from lengen_core.tasks.base import ANSWER_SEGMENT, Example, Task, TaskOption, register
from lengen_core.tasks.citations import BORN_2025, HUANG_2025, cho_2024
from lengen_core.tasks.common import ARROW_ID, EQUALS_ID, MAX_ALPHABET, PIPE_ID, SYMBOL_IDS, SequenceBuilder, alphabet_option, check_unique_alphabet
from lengen_core.tasks.theory import GOLOWICH_2025, born, huang

CHO_2024 = cho_2024()


def _with_coupling_rule(source: str) -> str:
    """A task's citation followed by that of its coupling rule (Cho et al. 2024)."""
    return source + "; coupling rule: " + CHO_2024


class _SymbolTask(Task):
    """Shared machinery: an ``alphabet_size`` option and symbol drawing (unique or with repeats).

    Defaults (what most tasks here use): lengths 1..512, 16 symbols drawn with repeats.
    """

    family: ClassVar[str] = "copying"
    unique_tokens: ClassVar[bool] = False
    min_length = 1
    max_length = 512
    option_specs: ClassVar[Mapping[str, TaskOption]] = {"alphabet_size": alphabet_option(16)}

    def _alphabet(self) -> tuple[int, ...]:
        return SYMBOL_IDS[: self.options["alphabet_size"]]

    def check_length(self, length: int, field_name: str = "length") -> None:
        super().check_length(length, field_name)
        if self.unique_tokens:
            check_unique_alphabet(self.name, length, self.options["alphabet_size"], field_name)

    def _draw(self, rng: random.Random, length: int) -> list[int]:
        alphabet = self._alphabet()
        if self.unique_tokens:
            check_unique_alphabet(self.name, length, len(alphabet))
            return rng.sample(alphabet, length)
        return rng.choices(alphabet, k=length)


class _CoupledSymbolTask(_SymbolTask):
    """A symbol task with a coupling rule: :meth:`from_inputs` builds the example for given inputs."""

    has_coupling = True
    supports_index_hints = True

    def generate(self, rng: random.Random, length: int) -> Example:
        return self.from_inputs(self._draw(rng, length))

    def from_inputs(self, inputs: Sequence[int]) -> Example:  # pragma: no cover - abstract
        """The example for given input symbols (token ids), with its coupling."""
        raise NotImplementedError


class _DistinctSymbols:
    """Mixin for a :class:`_SymbolTask` whose input symbols are all different: at most the whole alphabet of them."""

    unique_tokens: ClassVar[bool] = True
    max_length: ClassVar[int] = MAX_ALPHABET
    option_specs: ClassVar[Mapping[str, TaskOption]] = {"alphabet_size": alphabet_option(MAX_ALPHABET)}


class _CopyTask(_CoupledSymbolTask):
    """Copy (forward) or reverse (backward) the input.

    Coupling rule (Cho et al. 2024, ``src/data/copy.py``, lines with
    ``input_positions`` / ``label_positions``; ``start = 1``):

    - forward: ``x_i -> i+1``, ``> -> 1``, ``y_i -> i+1``
      (``input_positions = range(start+1, start+n+1)``, ``label_positions = range(start, start+n+1)``
      covering ``>`` and the outputs);
    - backward: ``x_i -> i``, ``> -> n+1``, ``y_j -> n+1-j``
      (``input_positions = range(start, start+n+1)`` covering the inputs and ``>``;
      ``label_positions = range(start, start+n)`` reversed).

    Worked example, forward, ``s3 s1 s4``::

        tokens      <bos> s3 s1 s4  >  s3 s1 s4 <eos>
        coupled_ids   0    2  3  4  1   2  3  4   0

    Backward, ``s3 s1 s4``::

        tokens      <bos> s3 s1 s4  >  s4 s1 s3 <eos>
        coupled_ids   0    1  2  3  4   3  2  1   0
    """

    backward: ClassVar[bool] = False

    def written(self, symbol: int) -> int:
        """The token the answer writes for an input symbol (itself; the capitalize tasks override it)."""
        return symbol

    def from_inputs(self, inputs: Sequence[int]) -> Example:
        """The example for given input symbols (token ids), with its coupling."""
        length = len(inputs)
        outputs = [self.written(symbol) for symbol in inputs]
        builder = SequenceBuilder(coupled=True)
        if self.backward:
            builder.extend(inputs, 1, coupled=range(1, length + 1))
            builder.add(ARROW_ID, 0, coupled=length + 1)
            builder.end_prompt()
            builder.extend(outputs[::-1], ANSWER_SEGMENT, coupled=range(length, 0, -1))
        else:
            builder.extend(inputs, 1, coupled=range(2, length + 2))
            builder.add(ARROW_ID, 0, coupled=1)
            builder.end_prompt()
            builder.extend(outputs, ANSWER_SEGMENT, coupled=range(2, length + 2))
        return builder.build(length)

    def max_sequence_length(self, length: int) -> int:
        return 2 * length + 3


@register
class CopyUnique(_DistinctSymbols, _CopyTask):
    """Copy a string of distinct symbols (Huang et al. 2025, ``unique_copy``).

    Tests: whether the model can find "the symbol after the one I just wrote"
    (an induction head); expressible in C-RASP because every symbol occurs once.
    Source: Huang et al. 2025 (``algorithmic/language_modeling_train.py``,
    ``UniqueCopyDataset``: tokens drawn without replacement); coupling: Cho et al. 2024.
    """

    name = "copy_unique"
    description = "Copy a string whose symbols are all different."
    tests = "Induction-style lookup: find the symbol you just wrote in the input and copy its right neighbour."
    source = _with_coupling_rule(HUANG_2025)
    theory = huang(False, True, reported_nope="100/18/0", reported_ape="100/99.9/98.7")


@register
class CopyRepeated(_CopyTask):
    """Copy a string in which symbols repeat (Huang et al. 2025, ``repeat_copy``, alphabet {a, b} there).

    Tests: copying when a symbol does not identify its position, so the model
    must track positions; not expressible in C-RASP, length generalization fails
    with absolute positions (Huang et al. 2025). Coupling: Cho et al. 2024.
    """

    name = "copy_repeated"
    description = "Copy a string in which symbols repeat (default: only two symbols)."
    tests = "Copying by position rather than by content: repeated symbols make content lookup ambiguous."
    source = _with_coupling_rule(HUANG_2025)
    theory = huang(False, False, reported_nope="100/28/0", reported_ape="100/26/0")
    option_specs = {"alphabet_size": alphabet_option(2)}


@register
class Reverse(_CopyTask):
    """Write the input backwards; symbols may repeat.

    Tests: position arithmetic (output j copies input n+1-j). With repeated
    symbols this is backward non-unique copying, which Jobanputra et al. 2025
    (task NB) place outside C-RASP. Coupling: Cho et al. 2024 (``reverse_output=True``).
    """

    name = "reverse"
    description = "Write the input string backwards."
    tests = "Position arithmetic: the j-th output symbol is the (n+1-j)-th input symbol."
    source = CHO_2024 + " (copy with reverse_output); C-RASP label: " + BORN_2025 + " (task NB)"
    theory = born(nope=False, ape=False)
    backward = True


class _BornCopyTask(_CopyTask):
    """One of Jobanputra et al. 2025's four copy tasks, named by its code in the paper (``born_task``):
    ``U`` (distinct symbols) or ``N`` (symbols may repeat), then ``F`` (forward) or ``B`` (backward).

    The code sets the citation, the direction and the theory labels (:func:`~lengen_core.tasks.theory.born`):
    the paper gives a C-RASP program with local relations (APE) exactly to the distinct-symbol tasks; the
    NoPE verdict, no program for any of the four, is ours.
    """

    born_task: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        distinct = cls.born_task.startswith("U")
        if distinct != cls.unique_tokens:
            raise TypeError(f"{cls.__name__}: task {cls.born_task} and unique_tokens={cls.unique_tokens} disagree")
        cls.source = _with_coupling_rule(f"{BORN_2025} (task {cls.born_task})")
        cls.theory = born(nope=False, ape=distinct)
        cls.backward = cls.born_task.endswith("B")


@register
class CopyForwardUnique(_DistinctSymbols, _BornCopyTask):
    """Jobanputra et al. 2025, task UF: forward copy, distinct symbols (``_CopyDataset(unique=True, reverse=False)``).

    Tests: induction (look up the previous output, copy its right neighbour).
    C-RASP expressible (length generalization guaranteed by Huang et al.'s theory).
    """

    name = "copy_forward_unique"
    description = "Copy a string of distinct symbols (Born-a-Transformer task UF)."
    tests = "Induction: find the symbol just written and copy its right neighbour."
    born_task = "UF"


@register
class CopyForwardNonUnique(_BornCopyTask):
    """Jobanputra et al. 2025, task NF: forward copy with repeated symbols (``unique=False, reverse=False``).

    Tests: copying when content does not identify position; not C-RASP expressible.
    """

    name = "copy_forward_nonunique"
    description = "Copy a string whose symbols may repeat (Born-a-Transformer task NF)."
    tests = "Copying by position: repeated symbols defeat the induction shortcut."
    born_task = "NF"


@register
class CopyBackwardUnique(_DistinctSymbols, _BornCopyTask):
    """Jobanputra et al. 2025, task UB: backward copy, distinct symbols (``unique=True, reverse=True``).

    Tests: anti-induction (find the symbol just written, copy its left neighbour).
    C-RASP expressible.
    """

    name = "copy_backward_unique"
    description = "Write a string of distinct symbols backwards (Born-a-Transformer task UB)."
    tests = "Anti-induction: find the symbol just written and copy its left neighbour."
    born_task = "UB"


@register
class CopyBackwardNonUnique(_BornCopyTask):
    """Jobanputra et al. 2025, task NB: backward copy with repeated symbols (``unique=False, reverse=True``).

    Tests: reversing by position; not C-RASP expressible.
    """

    name = "copy_backward_nonunique"
    description = "Write a string whose symbols may repeat backwards (Born-a-Transformer task NB)."
    tests = "Reversing by position: repeated symbols defeat the anti-induction shortcut."
    born_task = "NB"


@register
class Sort(_DistinctSymbols, _SymbolTask):
    """Sort distinct symbols by index (Huang et al. 2025, ``sort``: ``SortDataset``, unique tokens).

    Tests: the k-th output is the symbol with exactly k-1 smaller symbols in the
    input, a counting property, so C-RASP expressible (Huang et al. 2025).

    Coupling rule (for predictive position coupling, Golowich et al. 2025): an
    output symbol shares the id of the input position it is copied from, so the
    ids of the answer depend on the answer itself; inference cannot know them in
    advance, and plain ``coupled`` is refused (it would hand the model the
    sorted order). ``x_i -> i``, ``>`` and ``<eos>`` uncoupled (0), ``y_j ->`` the
    position of ``y_j`` in the input. Our rule, documented as such. Example, ``s3 s1 s4``::

        tokens      <bos> s3 s1 s4  >  s1 s3 s4 <eos>
        coupled_ids   0    1  2  3  0   2  1  3   0
    """

    name = "sort"
    description = "Sort distinct symbols in increasing order (s0 < s1 < ...)."
    tests = "Counting-based selection: output the smallest symbol not yet written."
    source = HUANG_2025 + "; coupling rule (predictive coupling only): ours, after " + GOLOWICH_2025
    theory = huang(True, True, reported_nope="100/99.8/80.6", reported_ape="100/100/99.4")
    has_coupling = True
    coupling_needs_answer = True

    def generate(self, rng: random.Random, length: int) -> Example:
        inputs = self._draw(rng, length)
        where = {symbol: index + 1 for index, symbol in enumerate(inputs)}
        answer = sorted(inputs)  # symbol ids are contiguous, s0 < s1 < ...
        builder = SequenceBuilder(coupled=True)
        builder.extend(inputs, 1, coupled=range(1, length + 1))
        builder.add(ARROW_ID, 0)
        builder.end_prompt()
        builder.extend(answer, ANSWER_SEGMENT, coupled=[where[symbol] for symbol in answer])
        return builder.build(length)

    def max_sequence_length(self, length: int) -> int:
        return 2 * length + 3


def stable_sorted_positions(inputs: Sequence[int]) -> list[int]:
    """The input positions in sorted order, equal symbols in input order (a stable sort): ``[2, 0, 1]`` for ``s3 s4 s1``."""
    return sorted(range(len(inputs)), key=lambda index: (inputs[index], index))


@register
class SortRepeated(_SymbolTask):
    """Sort symbols that may repeat (the regime of Awasthi & Gupta 2023's task hinting).

    Awasthi & Gupta's headline (trained on lengths <= 20: under 1% exact match at length 100 for sort alone, 92.6%
    with the successor hint) is sorting *with repetitions*. Their data format could not be read (only the abstract
    and reviews were available to us); ours: ``alphabet_size`` symbols (default 16) drawn uniformly with
    replacement, so a length-20 input repeats symbols and a length-100 input holds each about six times; the answer
    is every input symbol in increasing order, repeats kept. Format as ``sort``.

    No C-RASP label is published for sorting with repeats, so no prediction is carried.

    Coupling rule (predictive coupling only, as ``sort``): ``x_i -> i``, ``y_j ->`` the input position it is copied
    from in a stable sort (equal symbols in input order). Example, ``s3 s1 s3``::

        tokens      <bos> s3 s1 s3  >  s1 s3 s3 <eos>
        coupled_ids   0    1  2  3  0   2  1  3   0
    """

    name = "sort_repeated"
    description = "Sort symbols that may repeat, in increasing order (s0 < s1 < ...), repeats kept."
    tests = "Sorting with repetitions: which symbol comes next, and how many copies of it are still to write."
    source = "Task hinting regime of Awasthi & Gupta (2023), arXiv 2310.00726 (format ours, see the docstring)"
    has_coupling = True
    coupling_needs_answer = True

    def generate(self, rng: random.Random, length: int) -> Example:
        return self.from_inputs(self._draw(rng, length))

    def from_inputs(self, inputs: Sequence[int]) -> Example:
        """The example for given input symbols (token ids), with its coupling."""
        order = stable_sorted_positions(inputs)
        builder = SequenceBuilder(coupled=True)
        builder.extend(list(inputs), 1, coupled=range(1, len(inputs) + 1))
        builder.add(ARROW_ID, 0)
        builder.end_prompt()
        builder.extend([inputs[index] for index in order], ANSWER_SEGMENT, coupled=[index + 1 for index in order])
        return builder.build(len(inputs))

    def max_sequence_length(self, length: int) -> int:
        return 2 * length + 3


@register
class Duplicate(_CoupledSymbolTask):
    """Output the input twice: ``x > x x``.

    Tests: copying plus knowing when the first copy ended (a position/count
    signal), with repeated symbols. No Huang et al. label.

    Coupling rule (Cho et al.'s forward-copy rule applied to both copies): each
    output symbol shares the id of the input symbol it copies:
    ``x_i -> i+1``, ``> -> 1``, ``y_i -> i+1`` and ``y_{n+i} -> i+1``. Example, ``s3 s1``::

        tokens      <bos> s3 s1  >  s3 s1 s3 s1 <eos>
        coupled_ids   0    2  3  1   2  3  2  3   0
    """

    name = "duplicate"
    description = "Write the input string twice."
    tests = "Copying twice: the model must know where the first copy ends."
    source = "Task of this library; coupling rule follows " + CHO_2024

    def from_inputs(self, inputs: Sequence[int]) -> Example:
        """The example for given input symbols (token ids), with its coupling."""
        length = len(inputs)
        ids = range(2, length + 2)
        builder = SequenceBuilder(coupled=True)
        builder.extend(inputs, 1, coupled=ids)
        builder.add(ARROW_ID, 0, coupled=1)
        builder.end_prompt()
        builder.extend(inputs, ANSWER_SEGMENT, coupled=ids)
        builder.extend(inputs, ANSWER_SEGMENT, coupled=ids)
        return builder.build(length)

    def max_sequence_length(self, length: int) -> int:
        return 3 * length + 3


class _NeighbourRetrieval(_SymbolTask):
    """Retrieve the left/right neighbour of a query symbol (Jobanputra et al. 2025, ``_RetrievalDataset``).

    Prompt ``<bos> c_1 .. c_n | q =``, answer the neighbour of ``q`` in the context:
    to its right ("induction") or left ("anti-induction"). ``unique``: ``q``
    occurs exactly once, the other symbols are drawn with replacement from the
    rest of the alphabet and ``q`` is inserted where it has the needed
    neighbour. ``first`` / ``last``: symbols drawn with replacement, ``q`` is
    a context symbol picked uniformly over positions, resampled until it occurs
    at least twice and its first (last) occurrence has the needed neighbour.
    As the official generator (commit eeb250d), a context whose *last* occurrence of
    the query is the final context token is resampled for left and right retrieval
    alike (``which == 'last' and pos > len(context) - 2``), though a left neighbour
    would exist: so ``retrieve_left_last`` draws the contexts theirs draws.
    One difference, kept on purpose: the official code does not check the left
    neighbour of a first occurrence at index 0 (Python's ``context[-1]`` wraps
    around to the last context symbol); here that case is resampled, since
    "the symbol left of the first symbol" has no answer.

    C-RASP labels (Huang et al.'s framework, C-RASP with local relations): the
    unique and first-occurrence variants are expressible (the first occurrence
    is where the running count of ``q`` is 1, a one-position feature), the
    last-occurrence variants are not (being "last" compares a count at the
    occurrence with the total at the query, across positions). These labels are
    our derivation from the C-RASP definition, consistent with the paper's
    claims (its from-scratch runs use learned APE with random offsets, or RoPE);
    the paper's own table could not be consulted here. Without positions
    (NoPE) no variant has a C-RASP program: "the symbol next to" is a local
    relation (our derivation).

    Coupling rule (for predictive position coupling, Golowich et al. 2025):
    context symbol ``c_i -> i``; ``|``, the query and ``=`` uncoupled (0); the
    answer gets the id of the context position it is read from. That id is
    the retrieval itself, so inference cannot know it: plain ``coupled`` is
    refused and only ``predictive_coupled`` runs. Our rule, documented as such.
    Example, right neighbour, ``s2 s5 s7 | s5 =``::

        tokens      <bos> s2 s5 s7  |  s5  =  s7 <eos>
        coupled_ids   0    1  2  3  0   0  0   3   0

    With ``query_coupled`` (issue 22) the query is coupled too, to the context occurrence it asks about (the unique
    one, or the first / last), and so is the ``=`` after it, so the answer's id is theirs plus one (right) or minus
    one (left): ids that follow a sparse rule known from the prompt. Plain coupling can then run (the ids are the
    input's), and predictive coupling has to learn the rule "id + 1" from training data alone, the setting of
    Golowich et al. 2025's claim. Why ``=`` too (our choice): the answer is predicted at ``=``, so that is where an
    id can help, as in Cho et al.'s copy, where the token each output is predicted at carries the id just before
    the one it copies (with ``=`` uncoupled no scheme learned the task: 0.15-0.22 exact match at the training
    length, issue 22's first runs)::

        tokens      <bos> s2 s5 s7  |  s5  =  s7 <eos>
        coupled_ids   0    1  2  3  0   2  2   3   0
    """

    side: ClassVar[str] = "right"
    occurrence: ClassVar[str] = "unique"
    has_coupling = True
    coupling_needs_answer = True
    min_length = 4  # as in the official code (``range_min = max(4, ...)``)
    max_length = 512
    option_specs = {
        "alphabet_size": alphabet_option(16, minimum=2),
        "query_coupled": TaskOption(default=False, help="couple the query to its occurrence, so the answer's id is the query's +/- 1 (known from the prompt)"),
    }

    def __init__(self, options: Mapping[str, object] | None = None) -> None:
        super().__init__(options)
        # with the query coupled the answer's id follows from the prompt: plain coupling may run (an instance attribute)
        self.coupling_needs_answer = not self.options["query_coupled"]

    def _context_and_position(self, rng: random.Random, length: int) -> tuple[list[int], int]:
        alphabet = self._alphabet()
        if self.occurrence == "unique":
            query = rng.choice(alphabet)
            others = [symbol for symbol in alphabet if symbol != query]
            context = rng.choices(others, k=length - 1)
            position = rng.randint(1, length - 1) if self.side == "left" else rng.randint(0, length - 2)
            context.insert(position, query)
            return context, position
        for _ in range(100_000):
            context = rng.choices(alphabet, k=length)
            query = rng.choice(context)
            first = context.index(query)
            last = length - 1 - context[::-1].index(query)
            if first == last:
                continue  # q must occur at least twice
            position = first if self.occurrence == "first" else last
            if self.occurrence == "last" and position == length - 1:
                continue  # the official generator's rule, for both sides
            if self.side == "left" and position == 0:
                continue  # ours: no left neighbour (theirs wraps around)
            return context, position
        raise RuntimeError(f"{self.name}: could not draw a context with a repeated query")  # pragma: no cover

    def generate(self, rng: random.Random, length: int) -> Example:
        context, position = self._context_and_position(rng, length)
        query = context[position]
        answer = context[position - 1] if self.side == "left" else context[position + 1]
        source = position - 1 if self.side == "left" else position + 1
        builder = SequenceBuilder(coupled=True)
        builder.extend(context, 1, coupled=range(1, length + 1))
        builder.add(PIPE_ID, 0)
        query_id = position + 1 if self.options["query_coupled"] else 0
        builder.add(query, 2, coupled=query_id)
        builder.add(EQUALS_ID, 0, coupled=query_id)  # the answer is predicted here (class docstring)
        builder.end_prompt()
        builder.add(answer, ANSWER_SEGMENT, coupled=source + 1)
        return builder.build(length, {"query_position": position})

    def max_sequence_length(self, length: int) -> int:
        return length + 6


_RETRIEVAL_TESTS = {
    "right": "Induction: attend from the query to its earlier occurrence and read the next symbol.",
    "left": "Anti-induction: attend from the query to its earlier occurrence and read the previous symbol.",
}


def _neighbour_task(class_name: str, side: str, occurrence: str, paper_task: str, expressible: bool) -> type[Task]:
    """Register the :class:`_NeighbourRetrieval` variant for ``side`` and ``occurrence``, named
    ``retrieve_{side}_{occurrence}`` (Jobanputra et al. 2025's task ``paper_task``)."""
    label = "yes" if expressible else "no"
    if occurrence == "unique":
        doc = f"{side} neighbour of a query that occurs once (C-RASP with local relations: {label})."
        description = f"Name the symbol just {side} of the query symbol, which occurs once in the context."
        tests = _RETRIEVAL_TESTS[side]
    else:
        doc = f"{side} neighbour of the query's {occurrence} occurrence (C-RASP with local relations: {label})."
        description = f"Name the symbol just {side} of the {occurrence} occurrence of the query symbol."
        tests = _RETRIEVAL_TESTS[side] + f" The query repeats; use its {occurrence} occurrence."
    attributes = {
        "__doc__": f"Task {paper_task} of Jobanputra et al. 2025: {doc}",
        "__module__": __name__,
        "__qualname__": class_name,
        "name": f"retrieve_{side}_{occurrence}",
        "description": description,
        "tests": tests,
        "source": BORN_2025 + f" (task {paper_task}); coupling rule (predictive coupling only): ours, after " + GOLOWICH_2025,
        "theory": born(nope=False, ape=expressible),
        "side": side,
        "occurrence": occurrence,
    }
    return register(type(class_name, (_NeighbourRetrieval,), attributes))


RetrieveLeftUnique = _neighbour_task("RetrieveLeftUnique", "left", "unique", "UL", expressible=True)
RetrieveRightUnique = _neighbour_task("RetrieveRightUnique", "right", "unique", "UR", expressible=True)
RetrieveLeftFirst = _neighbour_task("RetrieveLeftFirst", "left", "first", "NLFirst", expressible=True)
RetrieveRightFirst = _neighbour_task("RetrieveRightFirst", "right", "first", "NRFirst", expressible=True)
RetrieveLeftLast = _neighbour_task("RetrieveLeftLast", "left", "last", "NLLast", expressible=False)
RetrieveRightLast = _neighbour_task("RetrieveRightLast", "right", "last", "NRLast", expressible=False)
