"""Padding of examples into batches, checked cell by cell on two small examples."""

from __future__ import annotations

import random

import torch

from lengen_core.batching import IGNORE_INDEX, collate
from lengen_core.config import TaskConfig
from lengen_core.data import ExampleSource, with_distractors
from lengen_core.tasks.base import Example
from lengen_core.vocab import EOS_ID, PAD_ID

# Token ids below are arbitrary non-special ids; only their places matter.
SHORT = Example(prompt=(10, 11), answer=(12, EOS_ID), length=1, segment_ids=(0, 1, 2, 2), coupled_ids=(0, 1, 1, 2))
LONG = Example(prompt=(20, 21, 22), answer=(23, 24, EOS_ID), length=2, segment_ids=(0, 1, 1, 2, 2, 2), coupled_ids=(0, 1, 2, 2, 1, 3))
P = PAD_ID


def test_right_padding_puts_every_row_at_column_zero() -> None:
    batch = collate([SHORT, LONG], pad_side="right")
    assert batch.tokens.tolist() == [[10, 11, 12, EOS_ID, P, P], [20, 21, 22, 23, 24, EOS_ID]]
    assert batch.token_index.tolist() == [[0, 1, 2, 3, -1, -1], [0, 1, 2, 3, 4, 5]]
    assert batch.segment_ids.tolist() == [[0, 1, 2, 2, 0, 0], [0, 1, 1, 2, 2, 2]]
    assert batch.coupled_ids.tolist() == [[0, 1, 1, 2, 0, 0], [0, 1, 2, 2, 1, 3]]
    assert batch.digit_significance is None
    assert batch.prompt_lengths.tolist() == [2, 3] and batch.sequence_lengths.tolist() == [4, 6]
    # position p predicts token p+1, scored only inside the answer
    assert batch.loss_targets().tolist() == [[IGNORE_INDEX, 12, EOS_ID, IGNORE_INDEX, IGNORE_INDEX], [IGNORE_INDEX, IGNORE_INDEX, 23, 24, EOS_ID]]


def test_left_padding_ends_every_row_at_the_last_column() -> None:
    batch = collate([SHORT, LONG], pad_side="left")
    assert batch.tokens.tolist() == [[P, P, 10, 11, 12, EOS_ID], [20, 21, 22, 23, 24, EOS_ID]]
    assert batch.token_index.tolist() == [[-1, -1, 0, 1, 2, 3], [0, 1, 2, 3, 4, 5]]
    assert batch.padding_mask.tolist() == [[False, False, True, True, True, True], [True] * 6]


def test_prompt_only_left_padding_aligns_prompts_and_keeps_the_answer_annotations() -> None:
    batch = collate([SHORT, LONG], pad_side="left", prompt_only=True)
    # prompts end at the same column (3); the answer region (3 wide) follows, empty in tokens
    assert batch.tokens.tolist() == [[P, 10, 11, P, P, P], [20, 21, 22, P, P, P]]
    assert batch.token_index.tolist() == [[-1, 0, 1, 2, 3, -1], [0, 1, 2, 3, 4, 5]]
    assert batch.coupled_ids.tolist() == [[0, 0, 1, 1, 2, 0], [0, 1, 2, 2, 1, 3]]


def test_tensors_are_long_and_shaped_batch_by_width() -> None:
    batch = collate([SHORT], pad_side="right")
    for tensor in (batch.tokens, batch.token_index, batch.segment_ids, batch.coupled_ids):
        assert tensor.dtype == torch.long and tensor.shape == (1, 4)


def test_a_row_with_distractors_scores_only_the_last_examples_answer() -> None:
    source = ExampleSource(TaskConfig(name="reverse", train_length_min=1, train_length_max=6))
    rng = random.Random(0)
    first, second, last = (source.sample(rng, length) for length in (3, 5, 4))
    packed = with_distractors(last, [first, second])
    assert packed.tokens == first.tokens + second.tokens + last.tokens
    assert packed.answer == last.answer and packed.length == 4
    assert packed.coupled_ids == first.coupled_ids + second.coupled_ids + last.coupled_ids
    assert packed.part_ids == (2,) * len(first.tokens) + (1,) * len(second.tokens) + (0,) * len(last.tokens)
    batch = collate([packed, last])
    targets = batch.loss_targets()  # [B, T-1]
    scored = [[token for token in row if token != IGNORE_INDEX] for row in targets.tolist()]
    assert scored == [list(last.answer), list(last.answer)]
    assert batch.part_ids is not None and batch.part_ids[1].eq(0).all()  # an unpacked row is all part 0
    assert with_distractors(last, []) is last


def test_sampling_without_distractors_draws_the_same_stream_as_before() -> None:
    """``max_distractors = 0`` keeps runs reproducible across this change: one length, one example, per row."""
    source = ExampleSource(TaskConfig(name="reverse", train_length_min=1, train_length_max=6))
    drawn = source.sample_training(random.Random(3), 20)
    rng = random.Random(3)
    assert drawn == [source.sample(rng, rng.randint(1, 6)) for _ in range(20)]
    packed = source.sample_training(random.Random(3), 200, max_distractors=2)
    counts = {example.meta.get("distractors", 0) for example in packed}
    assert counts == {0, 1, 2}


def test_every_prefix_scores_each_symbols_prefix_label_and_the_answer_in_a_row_with_distractors_and_a_marker() -> None:
    """task.supervision = every_prefix: position p is scored against the label of the prefix ending at p,
    besides the answer; a distractor's prefixes are not scored (nor its answer), a task marker has no label."""
    config = TaskConfig(name="dyck_1", train_length_min=2, train_length_max=8, supervision="every_prefix")
    source = ExampleSource(config)
    rng = random.Random(1)
    first, last = source.sample(rng, 6), source.sample(rng, 5)
    labels = [token for token in last.prefix_targets if token]
    assert len(labels) == 5 and labels[-1] == last.answer[0]  # one label per symbol, the whole string's is the answer
    row = with_distractors(last, [first])
    batch = collate([row, last])
    targets = batch.loss_targets()  # [B, T-1]
    for scored, offset in ((targets[0], len(first.tokens)), (targets[1], 0)):
        assert (scored[:offset] == IGNORE_INDEX).all()  # the distractor: nothing
        assert scored[offset + 1 : offset + 6].tolist() == labels  # output at w_1 .. w_5: the prefixes' labels
        assert scored[offset] == IGNORE_INDEX  # <bos> predicts nothing
        assert scored[offset + 6 : offset + 8].tolist() == list(last.answer)  # '=' predicts the label, the label predicts <eos>
        assert (scored[offset + 8 :] == IGNORE_INDEX).all()
    plain = collate([ExampleSource(TaskConfig(name="dyck_1", train_length_min=2, train_length_max=8)).sample(random.Random(1), 6)])
    assert plain.prefix_targets is None and (plain.loss_targets() != IGNORE_INDEX).sum() == 2  # the answer alone
    marked = ExampleSource(config, marker=True).sample(random.Random(1), 6)
    assert marked.prefix_targets[:2] == (0, 0) and marked.prefix_targets[2:] == first.prefix_targets[1:]
