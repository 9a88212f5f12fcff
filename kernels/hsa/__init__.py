"""Hierarchical sparse attention (HSA; Hu et al. 2025, the attention of RAMba).

Public entry points:

- :func:`hsa`: chunk selection + chunk weights + sparse attention, the whole layer core;
- :func:`hsa_attention`: the sparse attention alone, given indices and weights;
- :func:`select_chunks` / :func:`chunk_weights` / :func:`selected_scores`: the selection steps.

Each dispatches between the Triton kernels (:mod:`kernels.hsa.triton`) and the float32
PyTorch reference (:mod:`kernels.hsa.naive`, whose docstring gives the equations).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from kernels.dispatch import BACKENDS, use_triton
from kernels.hsa.naive import WEIGHTINGS, chunk_visibility, chunk_weights, hsa_reference, order_by_recency, selected_scores, slot_is_filled
from kernels.hsa.naive import select_chunks as select_chunks_reference

__all__ = [
    "BACKENDS",
    "WEIGHTINGS",
    "HSASelection",
    "chunk_visibility",
    "chunk_weights",
    "hsa",
    "hsa_attention",
    "hsa_reference",
    "order_by_recency",
    "select_chunks",
    "select_chunks_reference",
    "selected_scores",
    "slot_is_filled",
]


class HSASelection(NamedTuple):
    """What :func:`hsa` selected, per token and KV head (the query heads of a KV head share it).

    indices: [B, T, H_kv, K] int64 chunk ids, most recent first, -1 for an empty slot;
    weights: [B, T, H_kv, K] float32 chunk weights (0 at empty slots);
    scores:  [B, T, H_kv, K] float32 retrieval scores (-inf at empty slots).
    """

    indices: torch.Tensor
    weights: torch.Tensor
    scores: torch.Tensor


def _check_chunking(chunk_size: int, top_k: int) -> None:
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")


def select_chunks(landmark_q: torch.Tensor, landmarks: torch.Tensor, chunk_size: int, top_k: int, *, backend: str = "auto") -> torch.Tensor:
    """Top-K visible chunks per token and KV head (chunk i visible to t iff (i+1)*S <= t).

    landmark_q: [B, T, H_kv, D_r]; landmarks: [B, C, H_kv, D_r].
    returns indices [B, T, H_kv, K] int64, most recent first, -1 for empty slots (no gradient).
    The Triton path never materialises the [T, C] score matrix (memory O(T K)); the reference does.
    """
    _check_chunking(chunk_size, top_k)
    if landmark_q.dim() != 4 or landmarks.dim() != 4:
        raise ValueError(f"landmark_q must be [B, T, H_kv, D_r] and landmarks [B, C, H_kv, D_r], got {list(landmark_q.shape)} and {list(landmarks.shape)}")
    if use_triton(backend, landmark_q):
        from kernels.hsa.triton import select_chunks_triton

        with torch.no_grad():
            return select_chunks_triton(landmark_q.detach(), landmarks.detach(), chunk_size, top_k)
    with torch.no_grad():
        return select_chunks_reference(landmark_q, landmarks, chunk_size, top_k)[0]


def hsa_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    indices: torch.Tensor,
    weights: torch.Tensor,
    chunk_size: int,
    *,
    scale: float | None = None,
    backend: str = "auto",
    config: dict[str, int] | None = None,
) -> torch.Tensor:
    """Sparse attention over given chunks: per slot a softmax over the chunk's S keys, mixed by the weights.

    q: [B, T, H, D]; k, v: [B, T, H_kv, D] (H a multiple of H_kv; query head h reads KV head h // (H/H_kv));
    indices: [B, T, H_kv, K] int (-1 empty; slots whose chunk is not visible to the token are ignored);
    weights: [B, T, H_kv, K]; returns [B, T, H, D] in q's dtype. Gradients for q, k, v, weights.
    ``config`` (Triton only) overrides tile settings, see :func:`kernels.hsa.triton.hsa_attention_triton`.
    """
    if q.dim() != 4 or k.shape != v.shape or k.dim() != 4 or k.shape[:2] != q.shape[:2] or k.shape[3] != q.shape[3]:
        raise ValueError(f"q must be [B, T, H, D] and k, v [B, T, H_kv, D], got {list(q.shape)}, {list(k.shape)}, {list(v.shape)}")
    if q.shape[2] % k.shape[2]:
        raise ValueError(f"query heads ({q.shape[2]}) must be a multiple of KV heads ({k.shape[2]})")
    expected = (*k.shape[:3], indices.shape[-1])
    if indices.dim() != 4 or tuple(indices.shape) != expected or tuple(weights.shape) != expected:
        raise ValueError(f"indices and weights must be [B, T, H_kv, K] = {list(expected)}, got {list(indices.shape)} and {list(weights.shape)}")
    if use_triton(backend, q):
        from kernels.hsa.triton import hsa_attention_triton

        return hsa_attention_triton(q, k, v, indices, weights, chunk_size, scale=scale, config=config)
    return hsa_reference(q, k, v, indices, weights, chunk_size, scale=scale)


def hsa(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    landmark_q: torch.Tensor,
    landmarks: torch.Tensor,
    chunk_size: int,
    top_k: int,
    weighting: str = "stick_breaking",
    *,
    scale: float | None = None,
    return_selection: bool = False,
    backend: str = "auto",
) -> torch.Tensor | tuple[torch.Tensor, HSASelection]:
    """Hierarchical sparse attention: select the top-K past chunks per token, attend inside each, mix.

    q: [B, T, H, D] queries; k, v: [B, T, H_kv, D] chunk keys/values (chunk i = tokens [i*S, (i+1)*S));
    landmark_q: [B, T, H_kv, D_r] retrieval queries; landmarks: [B, C, H_kv, D_r], chunk i's landmark
    built from its own tokens only (C = T // S complete chunks; more are allowed, never visible).
    weighting: "stick_breaking" (default) or "softmax", as in the official code.
    returns out [B, T, H, D] (zero for tokens of the first chunk), and with return_selection also an
    :class:`HSASelection` (indices, weights, scores: [B, T, H_kv, K]).

    Gradients reach q, k, v, and through the chunk weights landmark_q and landmarks (the selection
    itself is discrete). The current chunk is not attended: that is the local mixer's job.
    """
    _check_chunking(chunk_size, top_k)
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    if landmark_q.shape[:3] != k.shape[:3]:
        raise ValueError(f"landmark_q must be [B, T, H_kv, D_r] with [B, T, H_kv] = {list(k.shape[:3])}, got {list(landmark_q.shape)}")
    indices = select_chunks(landmark_q, landmarks, chunk_size, top_k, backend=backend)
    scores = selected_scores(landmark_q, landmarks, indices)  # [B, T, H_kv, K], differentiable
    weights = chunk_weights(scores, indices, weighting)
    out = hsa_attention(q, k, v, indices, weights, chunk_size, scale=scale, backend=backend)
    if return_selection:
        return out, HSASelection(indices, weights, scores)
    return out
