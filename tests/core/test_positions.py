"""Position-ID rules and encodings: worked examples and invariances."""

from __future__ import annotations

import torch

from lengen_core.batching import collate
from lengen_core.config import PositionConfig
from lengen_core.data import with_distractors
from lengen_core.positions import build_scheme, sinusoidal_table
from lengen_core.tasks.base import ANSWER_SEGMENT, Example
from lengen_core.vocab import BOS_ID, DIGIT_IDS, EOS_ID, VOCAB


def addition_example() -> Example:
    """``<bos> 1 2 3 + 4 5 = 7 6 1 <eos>``-like example with hand-written annotations.

    coupled ids: digits of significance s share id s (our test fixture, not a task rule);
    significance: 1 = units digit.
    """
    plus, equals = VOCAB.id("+"), VOCAB.id("=")
    d = DIGIT_IDS
    prompt = (BOS_ID, d[1], d[2], d[3], plus, d[4], d[5], equals)
    answer = (d[8], d[6], d[1], EOS_ID)
    coupled = (0, 3, 2, 1, 0, 2, 1, 0, 1, 2, 3, 0)
    significance = (0, 3, 2, 1, 0, 2, 1, 0, 1, 2, 3, 0)
    segments = (0, 1, 1, 1, 0, 2, 2, 0) + (ANSWER_SEGMENT,) * 4
    return Example(prompt, answer, 3, segments, coupled, significance)


def copy_example(length: int) -> Example:
    symbols = tuple(VOCAB.id(f"s{i}") for i in range(length))
    prompt = (BOS_ID, *symbols, VOCAB.id("="))
    answer = (*symbols, EOS_ID)
    coupled = (0, *range(1, length + 1), length + 1, *range(1, length + 1), length + 1)
    return Example(prompt, answer, length, (0,) * (2 * length + 3), coupled, None)


def test_index_ids_are_token_index_and_zero_in_padding() -> None:
    batch = collate([copy_example(2), copy_example(4)], pad_side="right")
    ids = build_scheme(PositionConfig(scheme="rope")).position_ids(batch, training=True)
    assert ids[0].tolist() == [0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0]
    assert ids[1].tolist() == list(range(11))


def test_learned_ape_offset_only_in_training_and_within_table() -> None:
    batch = collate([copy_example(3)] * 64, pad_side="right")
    scheme = build_scheme(PositionConfig(scheme="learned", max_position=32, train_offset_max=20))
    generator = torch.Generator().manual_seed(0)
    ids = scheme.position_ids(batch, training=True, generator=generator)
    offsets = ids[:, 0]
    assert int(offsets.min()) >= 0 and int(offsets.max()) <= 20
    assert len(set(offsets.tolist())) > 5  # offsets really vary
    assert torch.equal(ids - offsets[:, None], torch.arange(9).expand(64, 9))
    assert int(ids.max()) < 32
    eval_ids = scheme.position_ids(batch, training=False)
    assert torch.equal(eval_ids, torch.arange(9).expand(64, 9))


def test_plain_learned_has_no_offset_by_default() -> None:
    batch = collate([copy_example(3)] * 8)
    ids = build_scheme(PositionConfig(scheme="learned")).position_ids(batch, training=True, generator=torch.Generator().manual_seed(1))
    assert torch.equal(ids, torch.arange(9).expand(8, 9))


def test_randomized_ids_are_sorted_distinct_subsets_of_the_range() -> None:
    examples = [copy_example(n) for n in (1, 3, 7)] * 20
    batch = collate(examples, pad_side="right")
    scheme = build_scheme(PositionConfig(scheme="randomized", max_position=64))
    for training in (True, False):  # Ruoss et al.: also at evaluation
        ids = scheme.position_ids(batch, training=training, generator=torch.Generator().manual_seed(3))
        rows = set()
        for row, n in zip(ids, batch.sequence_lengths.tolist()):
            real = row[:n].tolist()
            assert real == sorted(real) and len(set(real)) == n
            assert 0 <= real[0] and real[-1] < 64
            assert row[n:].eq(0).all()
            rows.add(tuple(real))
        assert len(rows) > 50  # fresh sample per example
    # every id of the range is reachable, including the top ones (long test lengths use them)
    seen = torch.zeros(64, dtype=torch.bool)
    ids = scheme.position_ids(collate([copy_example(7)] * 400), training=True, generator=torch.Generator().manual_seed(4))
    seen[ids.flatten()] = True
    assert seen.all()


def test_coupled_ids_shift_coupled_tokens_together_and_keep_zeros() -> None:
    example = addition_example()
    batch = collate([example] * 128)
    scheme = build_scheme(PositionConfig(scheme="coupled", max_position=20))
    ids = scheme.position_ids(batch, training=True, generator=torch.Generator().manual_seed(0))
    base = torch.tensor(example.coupled_ids)
    offsets = set()
    for row in ids:
        coupled = base > 0
        shift = row[coupled] - base[coupled]
        assert shift.unique().numel() == 1  # one offset per example
        offsets.add(int(shift[0]))
        assert row[~coupled].eq(0).all()
        assert int(row.max()) < 20
    assert min(offsets) == 0 and max(offsets) == 20 - 1 - 3  # the whole table is used
    assert scheme.position_ids(batch, training=False)[0].tolist() == list(example.coupled_ids)


def test_abacus_ids_are_significance_plus_offset_up_to_k() -> None:
    example = addition_example()
    batch = collate([example] * 256)
    scheme = build_scheme(PositionConfig(scheme="abacus", max_position=256))
    assert scheme.offset_max == 100  # McLeish et al.'s k
    ids = scheme.position_ids(batch, training=True, generator=torch.Generator().manual_seed(0))
    significance = torch.tensor(example.digit_significance)
    shifts = (ids - significance)[:, significance > 0]
    assert shifts.eq(shifts[:, :1]).all()
    assert 0 <= int(shifts.min()) and int(shifts.max()) <= 100 and int(shifts.max()) > 80
    assert scheme.position_ids(batch, training=False)[0].tolist() == list(example.digit_significance)


def test_left_padded_decoding_batch_keeps_each_examples_ids() -> None:
    short, long = copy_example(2), copy_example(5)
    scheme = build_scheme(PositionConfig(scheme="coupled"))
    batch = collate([short, long], pad_side="left", prompt_only=True)
    ids = scheme.position_ids(batch, training=False)
    prompt_width = len(long.prompt)
    # the short prompt sits right-aligned; its ids are its own coupled ids
    assert ids[0, prompt_width - len(short.prompt) : prompt_width].tolist() == list(short.coupled_ids[: len(short.prompt)])
    assert ids[0, prompt_width : prompt_width + len(short.answer)].tolist() == list(short.coupled_ids[len(short.prompt) :])
    assert ids[1].tolist() == list(long.coupled_ids)


def test_sinusoidal_table_matches_the_formula() -> None:
    ids = torch.tensor([[0, 3, 7]])
    table = sinusoidal_table(ids, 8)
    for column, position in enumerate([0, 3, 7]):
        for i in range(4):
            frequency = 10000 ** (-i / 4)
            assert abs(float(table[0, column, i]) - torch.sin(torch.tensor(position * frequency)).item()) < 1e-5
            assert abs(float(table[0, column, 4 + i]) - torch.cos(torch.tensor(position * frequency)).item()) < 1e-5


def test_each_example_packed_in_a_row_gets_its_own_coupled_offset() -> None:
    """A row of two distractors + the example (train.distractor_examples): every part shifts alone, within the table."""
    parts = [addition_example(), copy_example(5), addition_example()]
    packed = with_distractors(parts[-1], parts[:-1])
    batch = collate([packed] * 256)
    scheme = build_scheme(PositionConfig(scheme="coupled", max_position=20))
    ids = scheme.position_ids(batch, training=True, generator=torch.Generator().manual_seed(0))
    part_ids = torch.tensor(packed.part_ids)
    base = torch.tensor(packed.coupled_ids)
    shifts_by_part: dict[int, list[int]] = {0: [], 1: [], 2: []}
    for row in ids:
        for part in (0, 1, 2):
            coupled = (part_ids == part) & (base > 0)
            shift = row[coupled] - base[coupled]
            assert shift.unique().numel() == 1  # one offset per packed example
            shifts_by_part[part].append(int(shift[0]))
        assert row[base == 0].eq(0).all()
        assert int(row.max()) < 20
    # each part's offsets span its own room (20 - 1 - its largest id) ...
    assert [max(shifts_by_part[part]) for part in (0, 1, 2)] == [20 - 1 - 3, 20 - 1 - 6, 20 - 1 - 3]
    assert min(min(shifts) for shifts in shifts_by_part.values()) == 0
    # ... independently of each other
    assert sum(a == b for a, b in zip(shifts_by_part[0], shifts_by_part[2])) < 64
    assert scheme.position_ids(batch, training=False)[0].tolist() == list(packed.coupled_ids)
