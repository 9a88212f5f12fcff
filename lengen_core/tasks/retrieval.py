"""Retrieval family: passkey retrieval, associative recall, flip-flop language modelling.

These probe long-range lookup rather than computation: the answer is a few
tokens written somewhere far back in the context.
"""

from __future__ import annotations

import random
from typing import ClassVar

from lengen_core.tasks.base import ANSWER_SEGMENT, Example, Task, TaskOption, register
from lengen_core.tasks.common import (
    BOS_ID,
    COLON_ID,
    DIGIT_IDS,
    EOS_ID,
    EQUALS_ID,
    LETTER_IDS,
    MAX_ALPHABET,
    ONE_ID,
    PIPE_ID,
    QUESTION_ID,
    SEMICOLON_ID,
    SYMBOL_IDS,
    ZERO_ID,
    SequenceBuilder,
    alphabet_option,
    check_unique_alphabet,
)
from lengen_core.tasks.theory import GOLOWICH_2025
from lengen_core.vocab import VOCAB

# byte value -> filler letter id (floor(b * 26 / 256): each letter gets 9 or 10 of the 256 byte values)
_BYTE_TO_LETTER = bytes(LETTER_IDS[(value * len(LETTER_IDS)) >> 8] for value in range(256))
# "the grass is green the sky is blue the sun is yellow here we go there and back again " without spaces
_REPEATED_FILLER = tuple(VOCAB.ids("thegrassisgreentheskyisbluethesunisyellowherewegothereandbackagain"))
if max(LETTER_IDS) > 255:  # pragma: no cover - guards the bytes trick if the vocabulary ever grows
    raise RuntimeError("filler letters must have ids below 256")


class _RetrievalTask(Task):
    family: ClassVar[str] = "retrieval"


@register
class PasskeyRetrieval(_RetrievalTask):
    """Passkey retrieval (Mohtashami & Jaggi 2023, "Landmark Attention").

    A passkey of ``passkey_digits`` digits is hidden at a uniformly random depth
    in a long filler of letters; the question comes at the end::

        <bos> f f .. f : 7 3 0 1 9 ; f .. f ?   ->   7 3 0 1 9 <eos>

    The length knob is the context length: the number of prompt tokens,
    ``<bos>`` and ``?`` included. Filler: ``random`` letters (drawn from
    ``rng.randbytes`` in one call, so a 1M-token context takes milliseconds; the
    26 letters get 9 or 10 of the 256 byte values each) or ``repeated``, a fixed
    sentence ("the grass is green ...") repeated, as in the original. Segments:
    filler 1, passkey digits 2, the markers and ``?`` 0.
    """

    name = "passkey_retrieval"
    description = "Find the passkey (a few digits) hidden somewhere in a long filler text."
    tests = "Long-context retrieval: attending to a few tokens at an arbitrary depth."
    source = "Mohtashami & Jaggi (2023). Landmark Attention: Random-Access Infinite Context Length for Transformers. arXiv 2305.16300 (passkey retrieval)"
    min_length = 16
    max_length = 1_048_576
    option_specs = {
        "passkey_digits": TaskOption(default=5, minimum=1, maximum=10, help="digits in the passkey, 1..10"),
        "filler": TaskOption(default="random", choices=("random", "repeated"), help="random letters or a repeated sentence"),
    }

    def generate(self, rng: random.Random, length: int) -> Example:
        digits = self.options["passkey_digits"]
        filler_length = length - digits - 4  # <bos>, ':', ';', '?'
        if self.options["filler"] == "random":
            filler = tuple(rng.randbytes(filler_length).translate(_BYTE_TO_LETTER))
        else:
            repeats = filler_length // len(_REPEATED_FILLER) + 1
            start = rng.randrange(len(_REPEATED_FILLER))
            filler = (_REPEATED_FILLER * (repeats + 1))[start : start + filler_length]
        depth = rng.randint(0, filler_length)
        passkey = tuple(rng.choices(DIGIT_IDS, k=digits))
        needle = (COLON_ID,) + passkey + (SEMICOLON_ID,)
        prompt = (BOS_ID,) + filler[:depth] + needle + filler[depth:] + (QUESTION_ID,)
        answer = passkey + (EOS_ID,)
        segment_ids = ((0,) + (1,) * depth + (0,) + (2,) * digits + (0,) + (1,) * (filler_length - depth) + (0,)) + (ANSWER_SEGMENT,) * (digits + 1)
        return Example(
            prompt=prompt, answer=answer, length=length, segment_ids=segment_ids, meta={"depth": depth / max(filler_length, 1), "needle_index": depth + 1}
        )

    def max_sequence_length(self, length: int) -> int:
        return length + self.options["passkey_digits"] + 1


@register
class AssociativeRecall(_RetrievalTask):
    """Associative recall: ``<bos> k_1 v_1 .. k_n v_n | q = v <eos>`` with distinct keys.

    Keys are distinct generic symbols (``alphabet_size`` of them, so
    ``n <= alphabet_size``), values letters (``value_alphabet_size`` of them,
    repeats allowed); the query is one of the keys, the answer its value. The
    length knob is ``n``, the number of key-value pairs. Segments: keys 1,
    values 2, query 3, separators 0.

    Coupling rule (for predictive position coupling, Golowich et al. 2025):
    the ``i``-th pair, key and value, gets id ``i``; ``|``, the query and
    ``=`` are uncoupled (0); the answer gets the id of the pair it is read
    from. That id is the lookup itself, so inference cannot know it: plain
    ``coupled`` is refused and only ``predictive_coupled`` runs. Our rule.
    Example, ``s4 c s1 a | s1 =``::

        tokens      <bos> s4 c s1 a  |  s1  =  a <eos>
        coupled_ids   0    1 1  2 2  0   0  0  2   0
    """

    name = "associative_recall"
    description = "Read a list of key-value pairs, then give the value of the queried key."
    tests = "Content-based lookup: match the query to its key and read the token after it."
    source = (
        "Ba, Hinton, Mnih, Leibo, Ionescu (2016). Using Fast Weights to Attend to the Recent Past (associative "
        "retrieval); Arora et al. (2023). Zoology: Measuring and Improving Recall in Efficient Language Models, "
        "arXiv 2312.04927; coupling rule (predictive coupling only): ours, after " + GOLOWICH_2025
    )
    min_length = 1
    max_length = MAX_ALPHABET
    has_coupling = True
    coupling_needs_answer = True
    option_specs = {
        "alphabet_size": alphabet_option(MAX_ALPHABET),
        "value_alphabet_size": TaskOption(default=26, minimum=2, maximum=26, help="number of distinct values (letters), 2..26"),
    }

    def check_length(self, length: int, field_name: str = "length") -> None:
        super().check_length(length, field_name)
        check_unique_alphabet(self.name, length, self.options["alphabet_size"], field_name)

    def generate(self, rng: random.Random, length: int) -> Example:
        check_unique_alphabet(self.name, length, self.options["alphabet_size"])
        keys = rng.sample(SYMBOL_IDS[: self.options["alphabet_size"]], length)
        values = rng.choices(LETTER_IDS[: self.options["value_alphabet_size"]], k=length)
        index = rng.randrange(length)
        builder = SequenceBuilder(coupled=True)
        for pair, (key, value) in enumerate(zip(keys, values), start=1):
            builder.add(key, 1, coupled=pair)
            builder.add(value, 2, coupled=pair)
        builder.add(PIPE_ID, 0)
        builder.add(keys[index], 3)
        builder.add(EQUALS_ID, 0)
        builder.end_prompt()
        builder.add(values[index], ANSWER_SEGMENT, coupled=index + 1)
        return builder.build(length, {"query_index": index})

    def max_sequence_length(self, length: int) -> int:
        return 2 * length + 6


WRITE_ID, READ_ID, IGNORE_ID = VOCAB.id("w"), VOCAB.id("r"), VOCAB.id("i")


@register
class FlipFlop(_RetrievalTask):
    """Flip-flop language modelling (Liu, Ash, Goel, Krishnamurthy, Zhang 2023).

    A tape of instructions, each an instruction letter and a bit: ``w b``
    writes ``b``, ``r b`` reads (``b`` must equal the last written bit),
    ``i b`` is ignored (``b`` random). The tape starts with a write and ends
    with a read whose bit is the answer::

        <bos> w 1 i 0 r 1 w 0 i 1 r   ->   0 <eos>

    Instructions after the first are ``i`` with probability
    ``ignore_percent``/100 and ``w`` or ``r`` with equal probability otherwise
    (FFL(p_i) in the paper; default 80 = FFL(0.8)). The length knob is the
    number of instructions, the first write and the final read included. The
    final ``r`` ends the prompt (segment 0); instruction letters are segment 1,
    bits segment 2.
    """

    name = "flip_flop"
    description = "Follow write/read/ignore instructions on one bit; answer what the final read returns."
    tests = "Robustly retrieving the most recent write among many distractors (attention glitches)."
    source = "Liu, Ash, Goel, Krishnamurthy, Zhang (2023). Exposing Attention Glitches with Flip-Flop Language Modeling. NeurIPS 2023, arXiv 2306.00946"
    min_length = 2
    max_length = 8192
    option_specs = {"ignore_percent": TaskOption(default=80, minimum=0, maximum=98, help="chance (%) that an instruction is 'ignore', 0..98")}

    def generate(self, rng: random.Random, length: int) -> Example:
        ignore = self.options["ignore_percent"] / 100.0
        write_or_read = (1.0 - ignore) / 2.0
        bit_ids = (ZERO_ID, ONE_ID)
        memory = rng.randrange(2)
        tokens = [BOS_ID, WRITE_ID, bit_ids[memory]]
        for _ in range(length - 2):
            draw = rng.random()
            if draw < ignore:
                tokens += (IGNORE_ID, bit_ids[rng.randrange(2)])
            elif draw < ignore + write_or_read:
                memory = rng.randrange(2)
                tokens += (WRITE_ID, bit_ids[memory])
            else:
                tokens += (READ_ID, bit_ids[memory])
        tokens.append(READ_ID)
        segments = (0,) + (1, 2) * (length - 1) + (0,)
        return Example(prompt=tuple(tokens), answer=(bit_ids[memory], EOS_ID), length=length, segment_ids=segments + (ANSWER_SEGMENT, ANSWER_SEGMENT))

    def max_sequence_length(self, length: int) -> int:
        return 2 * length + 2
