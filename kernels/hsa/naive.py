"""Hierarchical sparse attention (HSA), plain PyTorch float32 reference.

Hu et al. 2025, "Hardware-aligned Hierarchical Sparse Attention for Efficient
Long-term Memory Access" (arXiv 2504.16795), following the official code
(RamstorageAI/long-context-modeling: ``model/hsa_layers.py`` for selection and
chunk weights, ``ops/hsa_triton.py`` for the sparse attention).

Shapes: B batch, T tokens, H query heads, H_kv key/value (and retrieval) heads,
G = H / H_kv query heads per KV head (query head h reads KV head h // G), D head
size, D_r retrieval (landmark) size, S chunk size, C number of chunks given
landmarks for, K slots (top-k).

Chunk i holds tokens [i*S, (i+1)*S). It is *visible* to token t iff it is complete
and entirely in the past: (i+1)*S <= t (``RetrievalLayer``: ``mask = c < (i+1)*S``).
A trailing incomplete chunk is visible to nobody; the current chunk is left to a
local mixer.

1. Retrieval scores (``RetrievalLayer.forward``), one per token, KV head, chunk:

       r[b,t,g,i] = <landmark_q[b,t,g], landmarks[b,i,g]> / sqrt(D_r),  -inf if i is not visible to t

2. Selection: the top-K chunks by r (``torch.topk``); a slot k is filled iff
   k < n_visible(t) = min(floor(t/S), C); the selected chunk ids are then sorted in
   descending order, i.e. by recency, most recent chunk first, empty slots (-1) last
   (``_indices_preprocess``). ``s[b,t,g,k] = r[b,t,g,idx_k]`` (``scores.gather``),
   -inf for an empty slot. Indices carry no gradient; s does (to landmark_q and landmarks).

3. Chunk weights w[b,t,g,k], shared by the G query heads of KV head g:

   - stick-breaking (default; ``not enable_softmax``):
         w_k = exp(s_k - sum_{j<=k} softplus(s_j)) = sigmoid(s_k) * prod_{j<k} (1 - sigmoid(s_j)),
     softplus with torch's threshold=15, empty slots (s = -inf) give 0; sum_k w_k <= 1.
   - softmax (``enable_softmax``): w = softmax_k(s) with -inf replaced by -1e7, and 0 for a
     token with no filled slot.

4. Sparse attention (``_attn_fwd``): each filled slot gets its own softmax attention over
   the S keys of its chunk, and the slot outputs are mixed by the chunk weights:

       p[b,t,h,k,j] = softmax_j( scale * <q[b,t,h], k[b, idx_k*S + j, h//G]> ),  j in [0, S)
       o[b,t,h]     = sum_k w[b,t,h//G,k] * sum_j p[b,t,h,k,j] * v[b, idx_k*S + j, h//G]

   scale defaults to 1/sqrt(D). A slot with index -1, or with a chunk not visible to t,
   contributes nothing (so causality holds for any indices), hence tokens of the first
   chunk get a zero output. A chunk may appear in several slots; each counts with its weight.

Gradients (what the Triton backward computes): with O_k the slot output and dO the
output gradient, dw[b,t,g,k] = sum_{h in group g} <dO[b,t,h], O_k[b,t,h]>,
dS_kj = w_k p_kj (<dO, v_j> - <dO, O_k>), dq = scale sum_kj dS_kj k_j, dk_j = scale sum dS_kj q,
dv_j = sum w_k p_kj dO.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

WEIGHTINGS: tuple[str, ...] = ("stick_breaking", "softmax")
SOFTPLUS_THRESHOLD = 15.0  # the official code's F.softplus(scores, threshold=15.0)
SOFTMAX_MASK_VALUE = -1e7  # the official code's stand-in for -inf before the chunk softmax


def chunk_visibility(length: int, num_chunks: int, chunk_size: int, device: torch.device | None = None) -> torch.Tensor:
    """[T, C] bool: chunk i is visible to token t iff (i + 1) * S <= t."""
    token = torch.arange(length, device=device)[:, None]  # [T, 1]
    chunk_end = (torch.arange(num_chunks, device=device)[None, :] + 1) * chunk_size  # [1, C]
    return chunk_end <= token


def slot_is_filled(indices: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """[B, T, H_kv, K] bool: the slot holds a chunk visible to its token (index >= 0 and (index+1)*S <= t)."""
    token = torch.arange(indices.shape[1], device=indices.device).view(1, -1, 1, 1)  # [1, T, 1, 1]
    return (indices >= 0) & ((indices + 1) * chunk_size <= token)


def order_by_recency(indices: torch.Tensor) -> torch.Tensor:
    """Sort each token's slots by chunk index, most recent (largest) first; -1 (empty) slots last."""
    return indices.sort(dim=-1, descending=True).values


def selected_scores(landmark_q: torch.Tensor, landmarks: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Retrieval scores of the selected chunks, differentiable in landmark_q and landmarks.

    landmark_q: [B, T, H_kv, D_r]; landmarks: [B, C, H_kv, D_r]; indices: [B, T, H_kv, K] (-1 empty)
    returns s: [B, T, H_kv, K] float32, s = <landmark_q[t], landmarks[idx]> / sqrt(D_r), -inf at empty slots.
    Memory is linear in T (a [B, T, H_kv, K, D_r] gather), never [T, C].
    """
    batch, length, kv_heads, top_k = indices.shape
    retrieval_dim = landmark_q.shape[-1]
    if landmarks.shape[1] == 0:  # no complete chunk yet (T < S): every slot is empty
        return torch.full(indices.shape, float("-inf"), device=landmark_q.device)  # [B, T, H_kv, K]
    safe = indices.clamp_min(0)  # [B, T, H_kv, K]
    lm = landmarks.permute(0, 2, 1, 3)  # [B, H_kv, C, D_r]
    gather_index = safe.permute(0, 2, 1, 3).reshape(batch, kv_heads, length * top_k, 1)  # [B, H_kv, T*K, 1]
    picked = lm.gather(2, gather_index.expand(-1, -1, -1, retrieval_dim))  # [B, H_kv, T*K, D_r]
    picked = picked.view(batch, kv_heads, length, top_k, retrieval_dim).permute(0, 2, 1, 4, 3)  # [B, T, H_kv, D_r, K]
    scores = torch.matmul(landmark_q.unsqueeze(-2), picked).squeeze(-2).float()  # [B, T, H_kv, K]
    scores = scores / math.sqrt(retrieval_dim)
    return scores.masked_fill(indices < 0, float("-inf"))


def select_chunks(landmark_q: torch.Tensor, landmarks: torch.Tensor, chunk_size: int, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense top-K chunk selection (steps 1-2 of the module docstring); materialises [B, T, H_kv, C].

    landmark_q: [B, T, H_kv, D_r] retrieval queries; landmarks: [B, C, H_kv, D_r] (chunk i's landmark
    built from tokens [i*S, (i+1)*S) only).
    returns (indices [B, T, H_kv, K] int64, most recent first, -1 for empty slots;
             scores [B, T, H_kv, K] float32, differentiable, -inf at empty slots).
    """
    length, num_chunks = landmark_q.shape[1], landmarks.shape[1]
    if num_chunks == 0:  # no complete chunk yet (T < S): no token has anything to select
        batch, _, kv_heads, _ = landmark_q.shape
        indices = torch.full((batch, length, kv_heads, top_k), -1, dtype=torch.int64, device=landmark_q.device)
        return indices, selected_scores(landmark_q, landmarks, indices)
    retrieval = torch.einsum("bthd,bchd->bthc", landmark_q.float(), landmarks.float()) / math.sqrt(landmark_q.shape[-1])
    visible = chunk_visibility(length, num_chunks, chunk_size, landmark_q.device)  # [T, C]
    retrieval = retrieval.masked_fill(~visible[None, :, None, :], float("-inf"))  # [B, T, H_kv, C]
    kept = min(top_k, num_chunks)
    indices = retrieval.detach().topk(kept, dim=-1).indices  # [B, T, H_kv, kept]
    n_visible = (torch.arange(length, device=landmark_q.device) // chunk_size).clamp(max=num_chunks)  # [T]
    filled = torch.arange(kept, device=landmark_q.device)[None, :] < n_visible[:, None]  # [T, kept]
    indices = indices.masked_fill(~filled[None, :, None, :], -1)
    if kept < top_k:
        indices = F.pad(indices, (0, top_k - kept), value=-1)
    indices = order_by_recency(indices)
    scores = retrieval.gather(-1, indices.clamp_min(0)).masked_fill(indices < 0, float("-inf"))
    return indices, scores


def chunk_weights(scores: torch.Tensor, indices: torch.Tensor, mode: str = "stick_breaking") -> torch.Tensor:
    """Chunk weights from the selected scores (step 3 of the module docstring).

    scores, indices: [B, T, H_kv, K] (slots in recency order, -1 empty); returns w [B, T, H_kv, K] float32.
    """
    scores = scores.float().masked_fill(indices < 0, float("-inf"))
    if mode == "stick_breaking":
        cumulative = torch.cumsum(F.softplus(scores, threshold=SOFTPLUS_THRESHOLD), dim=-1)
        return (scores - cumulative).exp()
    if mode == "softmax":
        all_empty = torch.isneginf(scores).all(dim=-1, keepdim=True)
        scores = torch.where(torch.isneginf(scores), SOFTMAX_MASK_VALUE, scores)
        return torch.softmax(scores, dim=-1).masked_fill(all_empty, 0.0)
    raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {mode!r}")


def hsa_reference(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, indices: torch.Tensor, weights: torch.Tensor, chunk_size: int, scale: float | None = None
) -> torch.Tensor:
    """Sparse attention over the selected chunks (step 4 of the module docstring), in float32.

    q: [B, T, H, D]; k, v: [B, T, H_kv, D]; indices: [B, T, H_kv, K] int (-1 empty);
    weights: [B, T, H_kv, K] (differentiable); returns out [B, T, H, D] in q's dtype.
    Memory O(B T H K S D).
    """
    batch, length, heads, head_dim = q.shape
    kv_heads = k.shape[2]
    group = heads // kv_heads
    scale = 1.0 / math.sqrt(head_dim) if scale is None else scale
    num_chunks = -(-length // chunk_size)
    pad = num_chunks * chunk_size - length
    k_chunks = F.pad(k.float(), (0, 0, 0, 0, 0, pad)).view(batch, num_chunks, chunk_size, kv_heads, head_dim)
    v_chunks = F.pad(v.float(), (0, 0, 0, 0, 0, pad)).view(batch, num_chunks, chunk_size, kv_heads, head_dim)
    filled = slot_is_filled(indices, chunk_size)  # [B, T, H_kv, K]
    safe = torch.where(filled, indices, 0).long()
    batch_index = torch.arange(batch, device=q.device).view(batch, 1, 1, 1)
    head_index = torch.arange(kv_heads, device=q.device).view(1, 1, kv_heads, 1)
    k_sel = k_chunks[batch_index, safe, :, head_index]  # [B, T, H_kv, K, S, D]
    v_sel = v_chunks[batch_index, safe, :, head_index]  # [B, T, H_kv, K, S, D]
    q_grouped = q.float().view(batch, length, kv_heads, group, head_dim)  # [B, T, H_kv, G, D]
    logits = torch.einsum("btgid,btgksd->btgiks", q_grouped, k_sel) * scale  # [B, T, H_kv, G, K, S]
    probs = torch.softmax(logits, dim=-1)
    slot_out = torch.einsum("btgiks,btgksd->btgikd", probs, v_sel)  # [B, T, H_kv, G, K, D]
    mix = torch.where(filled, weights.float(), 0.0)  # [B, T, H_kv, K]
    out = torch.einsum("btgikd,btgk->btgid", slot_out, mix).reshape(batch, length, heads, head_dim)
    return out.to(q.dtype)
