"""Turn a list of :class:`~lengen_core.tasks.base.Example` into padded tensors.

Training batches are right-padded (causal attention never lets a real token
see a pad that follows it, so no mask is needed). Decoding batches are
left-padded so every example's next token is at the same column; their pads
are masked out of attention with ``key_padding_mask``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from lengen_core.tasks.base import Example
from lengen_core.vocab import PAD_ID

IGNORE_INDEX = -100


@dataclass
class Batch:
    """A padded batch. Every tensor is ``[B, T]`` unless stated.

    tokens: token ids of ``prompt + answer`` (``PAD_ID`` in padding).
    token_index: index of each token inside its own example (0 = ``<bos>``), -1 in padding.
    segment_ids / coupled_ids / digit_significance: the examples' annotations, 0 in padding
        (``None`` when the examples carry none).
    prompt_lengths / sequence_lengths: ``[B]``.
    part_ids: which packed example each token is from (0 = the example whose answer is
        scored, 1.. = distractor examples before it; see :func:`lengen_core.data.with_distractors`),
        0 in padding; ``None`` when no example of the batch is packed.
    prefix_targets: the label each token's output is trained to besides the answer
        (``task.supervision = every_prefix``), 0 where none and in padding; ``None``
        when no example of the batch has them.
    source_index: the index each token has for the index position rule: its index in the
        longer instance a restricted example was cut from (``Example.source_index``), else
        its own ``token_index``; -1 in padding; ``None`` when no example of the batch is a
        restriction (then the rule uses ``token_index``).
    """

    tokens: torch.Tensor
    token_index: torch.Tensor
    segment_ids: torch.Tensor
    coupled_ids: torch.Tensor | None
    digit_significance: torch.Tensor | None
    prompt_lengths: torch.Tensor
    sequence_lengths: torch.Tensor
    pad_side: Literal["left", "right"]
    examples: Sequence[Example]
    part_ids: torch.Tensor | None = None
    prefix_targets: torch.Tensor | None = None
    source_index: torch.Tensor | None = None

    @property
    def padding_mask(self) -> torch.Tensor:
        """``[B, T]`` bool, True for real tokens."""
        return self.token_index >= 0

    def answer_positions(self) -> torch.Tensor:
        """``[B, T-1]`` bool: position p predicts an answer token (``prompt_length <= index of p+1 < sequence_length``)."""
        next_index = self.token_index[:, 1:]  # [B, T-1]
        return (next_index >= self.prompt_lengths[:, None]) & (next_index < self.sequence_lengths[:, None])

    def loss_targets(self) -> torch.Tensor:
        """``[B, T-1]`` targets, ``IGNORE_INDEX`` where nothing is scored.

        Position p predicts token p+1 where that is an answer token
        (:meth:`answer_positions`); with ``prefix_targets``, a prompt position p
        is also scored, against its prefix's label.
        """
        targets = self.tokens[:, 1:].clone()  # [B, T-1]
        targets[~self.answer_positions()] = IGNORE_INDEX
        if self.prefix_targets is not None:
            labels = self.prefix_targets[:, :-1]  # [B, T-1] the label of the prefix ending at position p
            labelled = labels > 0
            targets[labelled] = labels[labelled]
        return targets

    def to(self, device: torch.device | str) -> Batch:
        def move(tensor: torch.Tensor) -> torch.Tensor:
            return tensor.to(device, non_blocking=True)

        def move_optional(tensor: torch.Tensor | None) -> torch.Tensor | None:
            return None if tensor is None else move(tensor)

        return Batch(
            tokens=move(self.tokens),
            token_index=move(self.token_index),
            segment_ids=move(self.segment_ids),
            coupled_ids=move_optional(self.coupled_ids),
            digit_significance=move_optional(self.digit_significance),
            prompt_lengths=move(self.prompt_lengths),
            sequence_lengths=move(self.sequence_lengths),
            pad_side=self.pad_side,
            examples=self.examples,
            part_ids=move_optional(self.part_ids),
            prefix_targets=move_optional(self.prefix_targets),
            source_index=move_optional(self.source_index),
        )


def _pad_rows(rows: Sequence[Sequence[int]], width: int, fill: int, starts: Sequence[int]) -> torch.Tensor:
    """``[len(rows), width]`` long tensor: row i from column ``starts[i]`` on, ``fill`` elsewhere.

    Padded as Python lists and converted by one ``torch.tensor`` call: one
    small tensor per row cost more than the rest of batch making together.
    """
    padded = [[fill] * start + list(row) + [fill] * (width - start - len(row)) for row, start in zip(rows, starts)]
    return torch.tensor(padded, dtype=torch.long).reshape(len(rows), width)


def _every_row(rows: Sequence[tuple[int, ...] | None]) -> list[tuple[int, ...]] | None:
    """The rows when every example has the annotation, else None."""
    present = [row for row in rows if row is not None]
    return present if len(present) == len(rows) else None


def collate(examples: Sequence[Example], pad_side: Literal["left", "right"] = "right", prompt_only: bool = False) -> Batch:
    """Pad examples into a :class:`Batch`.

    With ``prompt_only`` the answers are left out of ``tokens`` (decoding starts
    from the prompts) but the annotations still cover ``prompt + answer`` so that
    position rules can be evaluated for the answer tokens the model generates;
    in that case ``tokens`` is padded to the annotation width with ``PAD_ID``.
    """
    if not examples:
        raise ValueError("collate needs at least one example")
    full_lengths = [len(example.tokens) for example in examples]
    width = max(full_lengths)
    token_rows = [example.prompt if prompt_only else example.tokens for example in examples]
    if pad_side == "left" and prompt_only:
        # Align prompts on the right edge of the prompt region, answers follow.
        prompt_width = max(len(example.prompt) for example in examples)
        answer_width = max(len(example.answer) for example in examples)
        width = prompt_width + answer_width
        left_pads = [prompt_width - len(example.prompt) for example in examples]

        def pad_rows(rows: Sequence[Sequence[int]], fill: int) -> torch.Tensor:
            return _pad_rows(rows, width, fill, left_pads)
    else:

        def pad_rows(rows: Sequence[Sequence[int]], fill: int) -> torch.Tensor:
            starts = [0] * len(rows) if pad_side == "right" else [width - len(row) for row in rows]
            return _pad_rows(rows, width, fill, starts)

    token_index = pad_rows([list(range(n)) for n in full_lengths], -1)
    tokens = pad_rows(token_rows, PAD_ID)
    segment_ids = pad_rows([example.segment_ids for example in examples], 0)
    coupled_rows = _every_row([example.coupled_ids for example in examples])
    coupled_ids = None if coupled_rows is None else pad_rows(coupled_rows, 0)
    significance_rows = _every_row([example.digit_significance for example in examples])
    digit_significance = None if significance_rows is None else pad_rows(significance_rows, 0)
    part_ids = None
    if any(example.part_ids is not None for example in examples):
        part_ids = pad_rows([example.part_ids or (0,) * len(example.tokens) for example in examples], 0)
    prefix_targets = None
    if any(example.prefix_targets is not None for example in examples):
        prefix_targets = pad_rows([example.prefix_targets or (0,) * len(example.tokens) for example in examples], 0)
    source_index = None
    if any(example.source_index is not None for example in examples):
        source_index = pad_rows([example.source_index or range(n) for example, n in zip(examples, full_lengths)], -1)
    return Batch(
        tokens=tokens,
        token_index=token_index,
        segment_ids=segment_ids,
        coupled_ids=coupled_ids,
        digit_significance=digit_significance,
        prompt_lengths=torch.tensor([len(example.prompt) for example in examples], dtype=torch.long),
        sequence_lengths=torch.tensor(full_lengths, dtype=torch.long),
        pad_side=pad_side,
        examples=list(examples),
        part_ids=part_ids,
        prefix_targets=prefix_targets,
        source_index=source_index,
    )
