"""Formal-language recognition: Dyck-1, (aa)*, (aaaa)*, (abab)*, Tomita 1-7.

Format: ``<bos> w_1 .. w_n = <yes>|<no> <eos>``; the length knob is ``n``, the
length of the string. Segments: string 1, ``=`` 0, answer ``ANSWER_SEGMENT``.

Sampling: when the language has strings of length ``n``, an example is a
positive with probability 1/2, drawn uniformly from the members of length
``n`` (exact counting over the automaton for the regular languages; the cycle
lemma for Dyck-1). Negatives are near misses of a positive, never random
noise: one symbol substituted (regular languages: chosen uniformly among the
substitutions that leave the language; Dyck-1: one bracket flipped, or an
outermost ``(`` swapped with the next ``)``, which keeps the counts equal but
breaks the prefix condition). At a length with no members (odd lengths of
Dyck-1 and (aa)*) every example is negative: a member of the nearest shorter
length ``n - d`` with ``d`` symbols inserted, so for (aa)* half of them are
``a^n`` itself (and for (aaaa)* at length ``4m + 3``, one in eight). At a length
where every string is a member (Tomita 3 at length 1, Tomita 4 below length 3)
every example is positive.

Labels (Huang et al. 2025, arXiv 2410.02140; their figure data,
lacoco-lab/length_generalization ``formal_lang_suite/visualise/data_local.py``,
flag ``Expressive`` per language in the ``nope`` and ``ape`` tables): each task
carries both predictions, NoPE (a C-RASP program) and APE with random offsets
(a C-RASP[Periodic, Local] program), and their measured exact match (%) on
held-out training lengths / the first / the second longer bin.

Their format differs from ours: their formal-language suite trains on
positive strings only, with a label at *every* position (which next symbols
are legal for Tomita 1-4 and 7; membership of the prefix for Tomita 5, 6 and
the star languages), 10,000 strings for 100 epochs at batch 16-32, on lengths
up to 100 (500 for (aaaa)*, (abab)*). Ours asks for one membership label at
the end, with near-miss negatives. The predictions concern the language (a
program deciding membership of a prefix decides it for the whole string, and
conversely at every prefix), so they carry over.

``task.supervision = every_prefix`` brings the per-position signal back
(:meth:`_RecognitionTask.with_prefix_targets`): the output at each symbol
``w_i`` is also trained to say whether ``w_1 .. w_i`` is in the language
(``<yes>``/``<no>``), on positives and near misses alike, and the test is the
same final label. Our choice: membership at every prefix for every language,
where their Tomita 1-4 and 7 use the set of legal next symbols instead (a
multi-label output our one-token head does not have); both say at every
position what a recognizer of the language knows there.

``task.supervision = member_prefixes`` is their format itself: every string,
in training and in the test, is a prefix of a member
(:meth:`_RecognitionTask.sample_member_prefix`: uniform over the strings of
the length that some member extends; for (aa)* that is ``a^n`` alone), every
prefix is labelled as theirs is (for Tomita 1-4 and 7 by the bits that may
follow it, :data:`NEXT_SYMBOL_TOKENS`; by membership for the others), and a
test example is right only when the label after every symbol and the answer
are (their exact match, over every position). Without the next-bit labels the
format would be empty for the languages closed under prefixes (Tomita 1, 4, 7:
every prefix of a member is a member, so every label would be ``<yes>``).
"""

from __future__ import annotations

import dataclasses
import functools
import random
from collections.abc import Sequence
from typing import ClassVar

from lengen_core.tasks.base import ANSWER_SEGMENT, Example, Task, register
from lengen_core.tasks.citations import HUANG_2025_PAPER as HUANG_2025  # cited without its code
from lengen_core.tasks.common import EQUALS_ID, NO_ID, YES_ID, SequenceBuilder
from lengen_core.tasks.theory import huang
from lengen_core.vocab import VOCAB

BHATTAMISHRA_2020 = (
    "Bhattamishra, Ahuja, Goyal (2020). On the Ability and Limitations of Transformers to Recognize Formal "
    "Languages. EMNLP 2020 (Tomita automata as in their code satwik77/Transformer-Formal-Languages)"
)
NEAR_MISS_ATTEMPTS = 16
# Huang et al.'s Tomita labels name the legal next bits (a multi-label output there): here one token per set,
# (0 legal, 1 legal) -> "*" either, "0" or "1" that one only, "-" neither (our choice of tokens).
NEXT_SYMBOL_TOKENS: dict[tuple[bool, bool], int] = {
    (True, True): VOCAB.id("*"),
    (True, False): VOCAB.id("0"),
    (False, True): VOCAB.id("1"),
    (False, False): VOCAB.id("-"),
}
TOMITA_1982 = "Tomita (1982). Dynamic construction of finite automata from examples using hill-climbing"


class _RecognitionTask(Task):
    family: ClassVar[str] = "formal_languages"
    min_length = 1
    max_length = 512

    def max_sequence_length(self, length: int) -> int:
        return length + 4

    supports_prefix_supervision: ClassVar[bool] = True

    def prefix_memberships(self, symbols: Sequence[int]) -> list[bool]:  # pragma: no cover - abstract
        """For each i, whether ``symbols[:i + 1]`` (token ids) is in the language."""
        raise NotImplementedError

    labels_next_symbols: ClassVar[bool] = False  # Huang et al. label this language's prefixes by their legal next symbols

    def next_symbol_labels(self, symbols: Sequence[int]) -> list[int]:  # pragma: no cover - abstract
        """For each i, the token naming which symbols may follow ``symbols[:i + 1]`` (:data:`NEXT_SYMBOL_TOKENS`)."""
        raise NotImplementedError

    def with_prefix_targets(self, example: Example, *, huang_labels: bool = False) -> Example:
        """``example`` with the label of every prefix: the output at ``w_i`` is trained to
        ``<yes>`` when ``w_1 .. w_i`` is in the language, else ``<no>``; 0 (nothing) at
        ``<bos>``, ``=`` and the answer, whose own targets are the answer's.

        ``huang_labels`` (``task.supervision = member_prefixes``): the labels of Huang et al.'s
        format, which for Tomita 1-4 and 7 (``labels_next_symbols``) name the symbols that may
        follow the prefix instead (:meth:`next_symbol_labels`); membership for the others.
        """
        symbols = example.prompt[1:-1]  # <bos> w_1 .. w_n =
        if huang_labels and self.labels_next_symbols:
            labels = tuple(self.next_symbol_labels(symbols))
        else:
            labels = tuple(YES_ID if member else NO_ID for member in self.prefix_memberships(symbols))
        targets = (0,) + labels + (0,) * (1 + len(example.answer))
        return dataclasses.replace(example, prefix_targets=targets)

    def member_prefix_symbols(self, rng: random.Random, length: int) -> list[int]:  # pragma: no cover - abstract
        """A string (token ids) uniform over the strings of ``length`` that some member of the language extends."""
        raise NotImplementedError

    def sample_member_prefix(self, rng: random.Random, length: int) -> Example:
        """An example of Huang et al.'s format (``task.supervision = member_prefixes``): its string is a
        prefix of a member, its answer whether the string itself is a member.

        Huang et al. draw members of the language and label every prefix; the prefixes of a
        length-``n`` string are what a member's labels cover up to ``n``. Our choice: the string
        is uniform over the prefixes of members of length exactly ``n``, so a sweep still tests
        one length per point (at a length with no members, e.g. odd lengths of (aa)*, the string
        is a prefix and its answer ``<no>``).
        """
        self.check_length(length)
        symbols = self.member_prefix_symbols(rng, length)
        return self._example(symbols, self.prefix_memberships(symbols)[-1], length, "member_prefix")

    def _example(self, symbols: Sequence[int], label: bool, length: int, kind: str) -> Example:
        builder = SequenceBuilder()
        builder.extend(symbols, 1)
        builder.add(EQUALS_ID, 0)
        builder.end_prompt()
        builder.add(YES_ID if label else NO_ID, ANSWER_SEGMENT)
        return builder.build(length, {"kind": kind})


class _RegularLanguageTask(_RecognitionTask):
    """Recognition of a regular language given by a DFA over ``alphabet`` (token ids).

    ``transitions[state][symbol_index]`` is the next state. ``_counts(r)[q]``
    is the number of strings of length ``r`` that lead from ``q`` to acceptance
    (exact integers); from it, ``_choice_table`` holds for every remaining
    length and state the cumulative probabilities of the next symbol under the
    uniform distribution over members (or non-members) of the language. Both
    are computed once per class and extended on demand.
    """

    alphabet: ClassVar[tuple[int, ...]] = ()
    transitions: ClassVar[tuple[tuple[int, ...], ...]] = ()
    start_state: ClassVar[int] = 0
    accepting: ClassVar[frozenset[int]] = frozenset()
    _count_rows: ClassVar[list[list[int]]]
    _live_states: ClassVar[frozenset[int]]  # the states from which a member can still be reached
    _live_count_rows: ClassVar[list[list[int]]]  # [r][q]: strings of length r from q that end in a live state
    _choice_rows: ClassVar[dict[bool, list[list[list[float] | None]]]]
    _preimage: ClassVar[list[list[int]]]
    _accepting_mask: ClassVar[int]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        n_states = len(cls.transitions)
        cls._count_rows = [[int(q in cls.accepting) for q in range(n_states)]]
        live = set(cls.accepting)  # the states from which a member can still be reached
        while grown := {q for q in range(n_states) if q not in live and live & set(cls.transitions[q])}:
            live |= grown
        cls._live_states = frozenset(live)
        cls._live_count_rows = [[int(q in live) for q in range(n_states)]]
        cls._choice_rows = {True: [], False: []}
        cls._accepting_mask = sum(1 << q for q in cls.accepting)
        # _preimage[symbol][mask]: the states that move into ``mask`` on ``symbol`` (bit masks over states)
        cls._preimage = [
            [sum(1 << q for q in range(n_states) if mask >> cls.transitions[q][symbol] & 1) for mask in range(1 << n_states)]
            for symbol in range(len(cls.alphabet))
        ]

    @classmethod
    def accepts(cls, symbol_indices: Sequence[int]) -> bool:
        state = cls.start_state
        for index in symbol_indices:
            state = cls.transitions[state][index]
        return state in cls.accepting

    def _states_after_each(self, symbols: Sequence[int]) -> list[int | None]:
        """The automaton run once over the string: its state after each symbol (None from a symbol outside
        the alphabet on, as a typed string may hold: no longer prefix is in the language or extends to it)."""
        index_of = {symbol: index for index, symbol in enumerate(self.alphabet)}
        state: int | None = self.start_state
        states = []
        for symbol in symbols:
            state = None if state is None or symbol not in index_of else self.transitions[state][index_of[symbol]]
            states.append(state)
        return states

    def prefix_memberships(self, symbols: Sequence[int]) -> list[bool]:
        """Acceptance after each symbol."""
        return [state in self.accepting for state in self._states_after_each(symbols)]

    def next_symbol_labels(self, symbols: Sequence[int]) -> list[int]:
        """After each prefix, which of the two symbols keep it a prefix of a member (Huang et al.'s
        Tomita labels: ``get_legal_characters``), as one token (:data:`NEXT_SYMBOL_TOKENS`)."""
        return [NEXT_SYMBOL_TOKENS[self._legal_next_symbols(state)] for state in self._states_after_each(symbols)]

    def _legal_next_symbols(self, state: int | None) -> tuple[bool, bool]:
        """Whether each of the two symbols keeps a prefix that ends in ``state`` a prefix of a member (None: none does)."""
        if state is None:
            return (False, False)
        zero, one = self.transitions[state]  # the binary alphabet of the languages Huang et al. label this way
        return (zero in self._live_states, one in self._live_states)

    @classmethod
    def _counts(cls, length: int) -> list[int]:
        cls._count_rows = cls._extended(cls._count_rows, length)
        return cls._count_rows[length]

    @classmethod
    def _extended(cls, rows: list[list[int]], length: int) -> list[list[int]]:
        """``rows`` (per length r, per state: paths of r symbols into a final set) grown to hold ``length``."""
        if len(rows) > length:
            return rows
        rows = list(rows)
        while len(rows) <= length:
            previous = rows[-1]
            rows.append([sum(previous[nxt] for nxt in row) for row in cls.transitions])
        return rows

    def member_prefix_symbols(self, rng: random.Random, length: int) -> list[int]:
        """Uniform over the strings of ``length`` that end in a live state (a member extends them), symbol by
        symbol, each weighted by how many such strings continue it (exact integers)."""
        cls = type(self)
        cls._live_count_rows = cls._extended(cls._live_count_rows, length)
        rows = cls._live_count_rows
        if rows[length][self.start_state] == 0:
            raise ValueError(f"{self.name} has no prefix of a member of length {length}")
        state, symbols = self.start_state, []
        for position in range(length):
            after = rows[length - position - 1]
            weights = [after[nxt] for nxt in self.transitions[state]]
            index = rng.choices(range(len(weights)), weights=weights)[0]
            symbols.append(self.alphabet[index])
            state = self.transitions[state][index]
        return symbols

    @classmethod
    def _choices(cls, remaining: int, member: bool) -> list[list[float] | None]:
        """Per state: cumulative probabilities of each next symbol with ``remaining`` symbols after it."""
        table = cls._choice_rows[member]
        if len(table) <= remaining:
            table = list(table)
            size = len(cls.alphabet)
            while len(table) <= remaining:
                after = len(table)
                counts = cls._counts(after)
                row: list[list[float] | None] = []
                for transitions in cls.transitions:
                    weights = [counts[nxt] if member else size**after - counts[nxt] for nxt in transitions]
                    total = sum(weights)
                    if total == 0:
                        row.append(None)
                        continue
                    cumulative, running = [], 0
                    for weight in weights:
                        running += weight
                        cumulative.append(running / total)
                    row.append(cumulative)
                table.append(row)
            cls._choice_rows[member] = table
        return table[remaining]

    def _sample(self, rng: random.Random, length: int, member: bool) -> list[int]:
        """A uniform string of ``length`` symbol indices inside (``member``) or outside the language.

        Uniform up to the rounding of the cumulative probabilities to floats.
        """
        self._choices(length, member)  # extend the table once
        table = self._choice_rows[member]
        state = self.start_state
        indices = []
        for position in range(length):
            cumulative = table[length - position - 1][state]
            assert cumulative is not None, "the walk only enters states from which a string of the asked kind goes on"
            draw = rng.random()
            index = 0
            while index < len(cumulative) - 1 and draw >= cumulative[index]:
                index += 1
            indices.append(index)
            state = self.transitions[state][index]
        return indices

    def _substitution_near_miss(self, rng: random.Random, positive: list[int]) -> list[int] | None:
        """``positive`` with one symbol replaced so that it leaves the language (uniform over such edits)."""
        length = len(positive)
        states = [self.start_state]
        for index in positive:
            states.append(self.transitions[states[-1]][index])
        accepting_from = [0] * (length + 1)  # bit mask of states from which positive[i:] is accepted
        accepting_from[length] = self._accepting_mask
        for position in range(length - 1, -1, -1):
            accepting_from[position] = self._preimage[positive[position]][accepting_from[position + 1]]
        edits = [
            (position, index)
            for position in range(length)
            for index in range(len(self.alphabet))
            if index != positive[position] and not accepting_from[position + 1] >> self.transitions[states[position]][index] & 1
        ]
        if not edits:
            return None
        position, index = rng.choice(edits)
        negative = list(positive)
        negative[position] = index
        return negative

    def _gap_to_members(self, length: int) -> int | None:
        """The smallest ``d`` in 1..NEAR_MISS_ATTEMPTS with members of length ``length - d`` (None if none)."""
        for gap in range(1, min(NEAR_MISS_ATTEMPTS, length) + 1):
            if self._counts(length - gap)[self.start_state] > 0:
                return gap
        return None

    def generate(self, rng: random.Random, length: int) -> Example:
        members = self._counts(length)[self.start_state]
        has_members = members > 0
        every_string_is_a_member = members == len(self.alphabet) ** length  # e.g. Tomita 3 at length 1
        if has_members and (every_string_is_a_member or rng.random() < 0.5):
            indices, label, kind = self._sample(rng, length, member=True), True, "positive"
        elif has_members:
            negative = None
            for _ in range(NEAR_MISS_ATTEMPTS):  # some members (e.g. 1111 for Tomita 4) have no near miss
                negative = self._substitution_near_miss(rng, self._sample(rng, length, member=True))
                if negative is not None:
                    break
            if negative is None:
                indices, kind = self._sample(rng, length, member=False), "uniform_negative"
            else:
                indices, kind = negative, "near_miss"
            label = False
        elif (gap := self._gap_to_members(length)) is not None:
            indices = self._sample(rng, length - gap, member=True)
            for _ in range(gap):
                indices.insert(rng.randint(0, len(indices)), rng.randrange(len(self.alphabet)))
            label, kind = False, "near_miss"
        else:
            indices, label, kind = self._sample(rng, length, member=False), False, "uniform_negative"
        return self._example([self.alphabet[i] for i in indices], label, length, kind)


@register
class AaStar(_RegularLanguageTask):
    """(aa)* over the letters {a, b}: strings of a's of even length.

    Tests: the parity of the length, the classic language outside C-RASP
    (Huang et al. 2025). At odd lengths every example is negative, half of them
    the hardest near miss ``a^n``; at even lengths negatives are ``a^n`` with one
    ``b``.
    """

    name = "aa_star"
    description = "Is the string an even number of a's (and nothing else)?"
    tests = "Parity of the length: outside C-RASP, failure to length-generalise predicted."
    source = HUANG_2025
    theory = huang(False, True, reported_nope="100/0/0", reported_ape="100/100/100")
    alphabet = (VOCAB.id("a"), VOCAB.id("b"))
    # states: 0 even a's (accepting), 1 odd a's, 2 dead (saw b)
    transitions = ((1, 2), (0, 2), (2, 2))
    accepting = frozenset({0})


@register
class AaaaStar(_RegularLanguageTask):
    """(aaaa)* over the letters {a, b}: strings of a's whose length is a multiple of 4.

    Tests: the length modulo 4, a periodic property: no C-RASP program without
    positions, a C-RASP[Periodic, Local] one with them (Huang et al. 2025,
    ``AAStarLanguage(4)``). Lengths that are not multiples of 4 have no members.
    """

    name = "aaaa_star"
    description = "Is the string a's only, with a length divisible by 4?"
    tests = "The length modulo 4: periodic, so predicted to generalize with APE but not NoPE."
    source = HUANG_2025
    theory = huang(False, True, reported_nope="100/0/0", reported_ape="100/92.3/86.7")
    alphabet = (VOCAB.id("a"), VOCAB.id("b"))
    # states: number of a's mod 4 (0 accepting), 4 dead (saw b)
    transitions = ((1, 4), (2, 4), (3, 4), (0, 4), (4, 4))
    accepting = frozenset({0})


@register
class AbabStar(_RegularLanguageTask):
    """(abab)* over the letters {a, b}: ``abab`` repeated (Huang et al. 2025, ``ABABStarLanguage(2)``).

    Tests: a periodic pattern of period 4; APE yes, NoPE no (Huang et al. 2025).
    """

    name = "abab_star"
    description = "Is the string abab repeated, (abab)*?"
    tests = "A pattern of period 4: predicted to generalize with APE but not NoPE."
    source = HUANG_2025
    theory = huang(False, True, reported_nope="100/0/0", reported_ape="100/89.4/82.3")
    alphabet = (VOCAB.id("a"), VOCAB.id("b"))
    # states: how much of "abab" has been read (0 accepting), 4 dead
    transitions = ((1, 4), (4, 2), (3, 4), (4, 0), (4, 4))
    accepting = frozenset({0})


class _TomitaLanguage(_RegularLanguageTask):
    """A Tomita language (Tomita 1982): a regular language over the bits {0, 1}."""

    alphabet = (VOCAB.id("0"), VOCAB.id("1"))
    source = f"{TOMITA_1982}; labels: {HUANG_2025}"  # Tomita 3 and 4 cite more
    labels_next_symbols = True  # Huang et al.'s format labels a Tomita prefix by the legal next bits (not 5 and 6)


@register
class Tomita1(_TomitaLanguage):
    """Tomita 1 over {0, 1}: ``1*``, strings of 1s only.

    One member per length (``1^n``); negatives are ``1^n`` with one bit
    flipped. Tests: "no 0 anywhere", a single existential check; C-RASP
    expressible with and without positions (Huang et al. 2025).
    """

    name = "tomita_1"
    description = "Tomita 1: is the string all 1s?"
    tests = "Spotting any 0: one existential check, C-RASP expressible."
    theory = huang(True, True, reported_nope="100/100/100", reported_ape="100/100/100")
    # states: 0 only 1s so far (accepting), 1 dead
    transitions = ((1, 0), (1, 1))
    accepting = frozenset({0})


@register
class Tomita2(_TomitaLanguage):
    """Tomita 2 over {0, 1}: ``(10)*``.

    One member per even length, none at odd lengths (every example negative
    there: ``(10)^m`` with one bit inserted). Tests: alternation starting with
    1; C-RASP expressible with and without positions (Huang et al. 2025).
    """

    name = "tomita_2"
    description = "Tomita 2: is the string 10 repeated, (10)*?"
    tests = "Strict alternation 1, 0, 1, 0 ...: C-RASP expressible."
    theory = huang(True, True, reported_nope="100/100/100", reported_ape="100/100/100")
    # states: 0 expecting 1 (accepting), 1 expecting 0, 2 dead
    transitions = ((2, 1), (0, 2), (2, 2))
    accepting = frozenset({0})


@register
class Tomita3(_TomitaLanguage):
    """Tomita 3 over {0, 1}: no odd-length run of 1s immediately followed by an odd-length run of 0s.

    The automaton is Bhattamishra et al.'s ``Tomita3Language`` (q0..q4, accepting
    q0, q1, q2; q3 = odd run of 0s after an odd run of 1s, q4 dead). Tests:
    run-length parities; not C-RASP expressible (Huang et al. 2025).

    Next-bit labels (``member_prefixes``) differ from Huang et al.'s on purpose.
    Their ``get_legal_characters`` (``formal_lang_suite/generators/tomita_generator.py``)
    counts a next bit as illegal when it leads to one of ``dead_states = {q3, q4}``;
    but q3 is not dead: one more 0 leads back to the accepting q2, and their own
    generator's members contain such strings (``100`` is a member: q0 -1-> q1 -0-> q3
    -0-> q2). So after the prefix ``1`` their label forbids ``0`` although ``100`` is a
    member; ours allows both bits. Ours labels a bit legal exactly when some
    continuation reaches acceptance (the live states), which their own members agree
    with; we keep it.
    """

    name = "tomita_3"
    description = "Tomita 3: no odd run of 1s directly followed by an odd run of 0s."
    tests = "Parity of run lengths: outside C-RASP."
    source = f"{TOMITA_1982}; automaton: {BHATTAMISHRA_2020}; C-RASP label: {HUANG_2025}"
    theory = huang(False, False, reported_nope="21.1/0/0", reported_ape="60.45/7.7/0")
    transitions = ((0, 1), (3, 0), (3, 1), (2, 4), (4, 4))
    accepting = frozenset({0, 1, 2})


@register
class Tomita4(_TomitaLanguage):
    """Tomita 4 over {0, 1}: strings without three consecutive 0s.

    Tests: a local pattern; expressible in C-RASP with local position relations
    (Huang et al. 2025). Negatives are members with one bit flipped to create ``000``.
    """

    name = "tomita_4"
    description = "Tomita 4: the string never contains 000."
    tests = "A local forbidden pattern: C-RASP expressible, length generalization predicted."
    source = f"{TOMITA_1982}; C-RASP label: {HUANG_2025}"
    theory = huang(False, True, reported_nope="100/16.45/0", reported_ape="100/85.4/84.4")
    # state = number of trailing 0s (0, 1, 2); 3 dead
    transitions = ((1, 0), (2, 0), (3, 0), (3, 3))
    accepting = frozenset({0, 1, 2})


@register
class Tomita5(_TomitaLanguage):
    """Tomita 5 over {0, 1}: an even number of 0s and an even number of 1s.

    Tests: two parities at once; not C-RASP expressible with or without
    positions (Huang et al. 2025). At odd lengths there are no members.
    """

    labels_next_symbols = False  # any bit may follow any prefix here: Huang et al. label membership
    name = "tomita_5"
    description = "Tomita 5: are both the number of 0s and the number of 1s even?"
    tests = "Two parities (of the 0s and of the 1s): outside C-RASP."
    theory = huang(False, False, reported_nope="7.1/0/0", reported_ape="54.4/0/0")
    # state = 2 * (zeros mod 2) + (ones mod 2)
    transitions = ((2, 1), (3, 0), (0, 3), (1, 2))
    accepting = frozenset({0})


@register
class Tomita6(_TomitaLanguage):
    """Tomita 6 over {0, 1}: the number of 0s minus the number of 1s is a multiple of 3.

    Tests: a count modulo 3; not C-RASP expressible with or without positions
    (Huang et al. 2025).
    """

    labels_next_symbols = False  # any bit may follow any prefix here: Huang et al. label membership
    name = "tomita_6"
    description = "Tomita 6: is (number of 0s - number of 1s) divisible by 3?"
    tests = "A difference of counts modulo 3: outside C-RASP."
    theory = huang(False, False, reported_nope="2.4/0/0", reported_ape="59.6/0/0")
    # state = (zeros - ones) mod 3
    transitions = ((1, 2), (2, 0), (0, 1))
    accepting = frozenset({0})


@register
class Tomita7(_TomitaLanguage):
    """Tomita 7 over {0, 1}: ``0*1*0*1*``.

    Tests: at most three changes of symbol, in the order 0 -> 1 -> 0 -> 1;
    C-RASP expressible with and without positions (Huang et al. 2025).
    """

    name = "tomita_7"
    description = "Tomita 7: does the string have the form 0*1*0*1*?"
    tests = "Counting symbol changes (at most three, in order): C-RASP expressible."
    theory = huang(True, True, reported_nope="100/87.5/76.2", reported_ape="100/94.2/93.2")
    # state = which block we are in: 0 first 0s, 1 first 1s, 2 second 0s, 3 second 1s; 4 dead
    transitions = ((0, 1), (2, 1), (2, 3), (4, 3), (4, 4))
    accepting = frozenset({0, 1, 2, 3})


OPEN_ID, CLOSE_ID = VOCAB.id("("), VOCAB.id(")")


def is_dyck1(symbols: Sequence[int]) -> bool:
    """Balanced brackets: the depth never goes below 0 and ends at 0."""
    depth = 0
    for symbol in symbols:
        depth += 1 if symbol == OPEN_ID else -1
        if depth < 0:
            return False
    return depth == 0


def random_dyck_word(rng: random.Random, length: int) -> list[int]:
    """A uniform Dyck-1 word of even ``length`` (cycle lemma).

    Shuffle ``m+1`` opens and ``m`` closes (``m = length/2``); the rotation that
    starts after the last minimum of the prefix sums stays strictly positive;
    dropping its leading ``(`` leaves a Dyck word, each with the same number
    of preimages.
    """
    half = length // 2
    steps = [1] * (half + 1) + [-1] * half
    rng.shuffle(steps)
    height, lowest, cut = 0, 0, 0
    for index, step in enumerate(steps):  # prefix sum before position index+1
        height += step
        if height <= lowest and index < len(steps) - 1:
            lowest, cut = height, index + 1
    rotated = steps[cut:] + steps[:cut]
    return [OPEN_ID if step > 0 else CLOSE_ID for step in rotated[1:]]


@functools.lru_cache(maxsize=64)
def nonnegative_path_counts(length: int) -> tuple[tuple[int, ...], ...]:
    """``[r][d]``: bracket strings of ``r`` symbols whose depth, starting at ``d``, never goes below 0
    (every such string is a prefix of a Dyck word), for r in 0..length; exact where ``r + d <= length + 1``,
    all that a string of ``length`` symbols started at depth 0 asks for (depth d after length - r symbols)."""
    rows = [tuple(1 for _ in range(length + 2))]
    for _ in range(length):
        previous = rows[-1]
        rows.append(tuple(previous[d + 1] + (previous[d - 1] if d > 0 else 0) if d + 1 < len(previous) else 0 for d in range(length + 2)))
    return tuple(rows)


@register
class Dyck1(_RecognitionTask):
    """Dyck-1: is the bracket string balanced?

    Positives are uniform Dyck words. Negatives are near misses of one: a
    single bracket flipped (counts off by two), or an outermost ``(`` swapped
    with the first ``)`` after it (counts equal, a prefix goes negative), each
    half of the time; at odd lengths a Dyck word of length ``n - 1`` with one
    bracket inserted. Tests: a running counter that must never go negative;
    expressible in C-RASP (Huang et al. 2025; Yang & Chiang 2024).
    """

    name = "dyck_1"
    description = "Are the brackets balanced (every ')' closes an earlier '(')?"
    tests = "Keeping a running depth that must stay non-negative and end at zero: C-RASP expressible."
    source = HUANG_2025
    theory = huang(True, True, reported_nope="100/100/100", reported_ape="100/100/100")

    def prefix_memberships(self, symbols: Sequence[int]) -> list[bool]:
        """A prefix is balanced when its depth is 0 and no earlier depth went below 0."""
        depth, lowest, memberships = 0, 0, []
        for symbol in symbols:
            depth += 1 if symbol == OPEN_ID else -1
            lowest = min(lowest, depth)
            memberships.append(depth == 0 and lowest >= 0)
        return memberships

    def member_prefix_symbols(self, rng: random.Random, length: int) -> list[int]:
        """Uniform over the bracket strings of ``length`` whose depth never goes below 0 (each extends to a Dyck word)."""
        counts = nonnegative_path_counts(length)
        depth, symbols = 0, []
        for position in range(length):
            after = counts[length - position - 1]
            weights = (after[depth + 1], after[depth - 1] if depth > 0 else 0)  # ( then )
            opens = rng.choices((True, False), weights=weights)[0]
            symbols.append(OPEN_ID if opens else CLOSE_ID)
            depth += 1 if opens else -1
        return symbols

    def generate(self, rng: random.Random, length: int) -> Example:
        if length % 2 == 1:
            word = random_dyck_word(rng, length - 1)
            word.insert(rng.randint(0, length - 1), rng.choice((OPEN_ID, CLOSE_ID)))
            return self._example(word, False, length, "near_miss")
        word = random_dyck_word(rng, length)
        if rng.random() < 0.5:
            return self._example(word, True, length, "positive")
        if rng.random() < 0.5:
            position = rng.randrange(length)
            word[position] = CLOSE_ID if word[position] == OPEN_ID else OPEN_ID
            return self._example(word, False, length, "near_miss_flip")
        depth, outermost = 0, []
        for index, symbol in enumerate(word):
            if depth == 0:
                outermost.append(index)  # an opening bracket at depth 0
            depth += 1 if symbol == OPEN_ID else -1
        opening = rng.choice(outermost)
        closing = word.index(CLOSE_ID, opening)
        word[opening], word[closing] = CLOSE_ID, OPEN_ID
        return self._example(word, False, length, "near_miss_swap")
