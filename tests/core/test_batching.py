"""Padding of examples into batches, checked cell by cell on two small examples."""

from __future__ import annotations

import torch

from lengen_core.batching import IGNORE_INDEX, collate
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
    assert batch.loss_targets().tolist() == [
        [IGNORE_INDEX, 12, EOS_ID, IGNORE_INDEX, IGNORE_INDEX],
        [IGNORE_INDEX, IGNORE_INDEX, 23, 24, EOS_ID],
    ]


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
