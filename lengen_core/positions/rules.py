"""Position-ID rules: turn a batch into ``position_ids: [B, T]``.

Every scheme shares one code path in the model; they differ only in the IDs
they assign (this module) and in how the IDs enter the model
(:mod:`lengen_core.positions.encodings`).

Rules (``n`` = an example's number of tokens, ``token_index`` = 0..n-1):

- ``index``: ``token_index + offset``. ``offset`` is 0 at evaluation; in
  training it is drawn per example uniformly from ``0..train_offset_max``
  (learned APE with random start offset; default 0, i.e. plain APE).
- ``randomized`` (Ruoss et al. 2023): per example, a uniformly random sorted
  subset of ``n`` distinct IDs from ``0..max_position-1``, in training *and* at
  evaluation, so test lengths up to ``max_position`` only use IDs seen in training.
  (The official code draws one subset per batch; we draw one per example, our
  choice: more variety per step, the same distribution per sequence.)
- ``coupled`` (Cho et al. 2024): the task's coupling rule (``coupled_ids``,
  starting at 1 for coupled tokens, 0 for the rest) plus a per-example random
  offset in training, drawn uniformly so that the largest id stays below
  ``max_position``; offset 0 at evaluation, i.e. the fixed start 1 of the
  official code (HanseulJo/position-coupling, ``src/data/addition.py``: training
  start ``randint(1, max_pos - max_len)`` per example, evaluation start 1;
  BOS/EOS/padding get 0). Uncoupled tokens keep ID 0.
- ``abacus`` (McLeish et al. 2024): the digit's significance (1 = units digit,
  0 for non-digits) plus a per-example random offset ``k`` in training, drawn
  from ``0..train_offset_max`` (default 100 as in the paper, capped by the
  table), 0 at evaluation. Non-digit tokens keep ID 0. (The official code,
  mcleish7/arithmetic ``abacus.py``, draws one k per batch; we draw one per
  example, our choice.)

Padding positions get ID 0 (they are never attended to and never scored).
"""

from __future__ import annotations

import torch

from lengen_core.batching import Batch

ABACUS_DEFAULT_MAX_OFFSET = 100


def _uniform_offsets(upper: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """``[B]`` integers drawn uniformly from ``0..upper[b]`` (inclusive; upper >= 0)."""
    draws = torch.rand(upper.shape, generator=generator)
    return torch.minimum((draws * (upper + 1).to(torch.float32)).long(), upper)


def index_ids(batch: Batch, *, offset_max: int, max_position: int, training: bool, generator: torch.Generator | None) -> torch.Tensor:
    """``token_index + offset`` (offset only in training); ``[B, T]``. A restricted example's tokens
    (``batch.source_index``) take their index in the longer instance they were cut from instead."""
    token_index = batch.token_index.cpu()
    index = token_index if batch.source_index is None else batch.source_index.cpu()
    ids = index.clamp_min(0)
    if training and offset_max != 0:
        lengths = ids.max(dim=1).values + 1  # [B] the span of each row's ids (its length, unless restricted)
        room = (max_position - lengths).clamp_min(0)  # largest offset keeping ids < max_position
        upper = room if offset_max < 0 else room.clamp_max(offset_max)
        ids = ids + _uniform_offsets(upper, generator)[:, None]
    return ids.masked_fill(token_index < 0, 0)


def randomized_ids(batch: Batch, *, max_position: int, generator: torch.Generator | None) -> torch.Tensor:
    """Sorted random subset of ``n`` distinct ids from ``0..max_position-1`` per example; ``[B, T]``."""
    token_index = batch.token_index.cpu()
    lengths = batch.sequence_lengths.cpu()  # [B]
    batch_size = token_index.shape[0]
    keys = torch.rand(batch_size, max_position, generator=generator)  # [B, P]
    ranks = keys.argsort(dim=1).argsort(dim=1)  # [B, P] random permutation ranks
    chosen = ranks < lengths[:, None]  # [B, P], exactly n True per row
    candidates = torch.arange(max_position).expand(batch_size, max_position)
    sorted_ids = torch.where(chosen, candidates, max_position).sort(dim=1).values  # [B, P], first n are the subset
    ids = sorted_ids.gather(1, token_index.clamp_min(0))  # [B, T]
    return ids.masked_fill(token_index < 0, 0)


def offset_structural_ids(
    structural_ids: torch.Tensor, batch: Batch, *, offset_max: int, max_position: int, training: bool, generator: torch.Generator | None
) -> torch.Tensor:
    """Coupled / Abacus ids: ``structural_ids`` (0 = none) plus a training offset on the non-zero ones.

    structural_ids: [B, T]; the offset is drawn per example from ``0..min(offset_max,
    max_position - 1 - max id of that example)`` (offset_max < 0: no cap but the table).
    A row packed with distractor examples (``batch.part_ids``) gets one offset per
    example in it, each drawn the same way, so each keeps its own random start.
    """
    structural_ids = structural_ids.cpu()
    token_index = batch.token_index.cpu()
    ids = structural_ids.clone()
    if training and offset_max != 0:
        part_ids = batch.part_ids.cpu() if batch.part_ids is not None else torch.zeros_like(structural_ids)
        for part in range(int(part_ids.max()) + 1):
            in_part = (part_ids == part) & (token_index >= 0)  # [B, T]
            largest = torch.where(in_part, structural_ids, 0).max(dim=1).values  # [B]
            room = (max_position - 1 - largest).clamp_min(0)
            upper = room if offset_max < 0 else room.clamp_max(offset_max)
            offsets = _uniform_offsets(upper, generator)  # [B]
            ids = torch.where(in_part & (structural_ids > 0), structural_ids + offsets[:, None], ids)
    return ids.masked_fill(token_index < 0, 0)
