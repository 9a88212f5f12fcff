"""Reference causal attention with a positional term computed from per-token IDs.

Plain PyTorch, float32, obviously correct: the oracle for the Triton kernel and
the path the model uses on the CPU. Position IDs are arbitrary integers per
token (``position_ids: [B, T]``): plain indices, coupled ids (Cho et al. 2024),
randomized sorted ids (Ruoss et al. 2023) or offset ids all work the same way.

Positional terms, for query token i and key token j with ids p_i, p_j:

- RoPE (Su et al. 2021): q_i and k_j are rotated pairwise by angles
  ``p * theta_m`` with ``theta_m = base^(-2m/D)`` (m = 0..D/2-1, "rotate-half"
  pairing (x_m, x_{m+D/2})), so the score depends on ``p_i - p_j`` only.
- ALiBi (Press et al. 2022): ``bias_h(i, j) = -slope_h * |p_i - p_j|``, slopes the
  geometric sequence ``2^(-8 h / H)``, h = 1..H. (With plain indices and a causal
  mask |p_i - p_j| = i - j, the paper's bias; the absolute value is our choice so
  that coupled ids, which can make p_j > p_i, still get a distance penalty.)
- FIRE (Li et al. 2024, "Functional Interpolation for Relative Positions"):
  ``bias_h(i, j) = f_h( psi(p_i - p_j) / psi(max(L, p_i)) )`` with
  ``psi(x) = log(c x + 1)``, ``f`` a 1 -> hidden -> H MLP (ReLU), c and L
  learned scalars. Our choice for ids where p_j > p_i (possible with coupling):
  ``psi`` is applied to ``|p_i - p_j|`` and the sign is restored afterwards.

The causal mask is on token order (j <= i), never on ids.
"""

from __future__ import annotations

import math
from typing import TypedDict, Unpack

import torch
import torch.nn.functional as F


def rope_angles(position_ids: torch.Tensor, head_dim: int, base: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables for RoPE.

    position_ids: [B, T] (any integers). Returns (cos, sin), each [B, 1, T, head_dim/2], float32.
    """
    half = head_dim // 2
    inverse_frequency = base ** (-torch.arange(half, device=position_ids.device, dtype=torch.float32) / half)  # [D/2]
    angles = position_ids.to(torch.float32)[:, None, :, None] * inverse_frequency  # [B, 1, T, D/2]
    return angles.cos(), angles.sin()


def rope_rotate(x: torch.Tensor, position_ids: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotate ``x: [B, H, T, D]`` by the RoPE angles of ``position_ids: [B, T]`` (rotate-half pairing)."""
    cos, sin = rope_angles(position_ids, x.shape[-1], base)
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half].float(), x[..., half:].float()  # [B, H, T, D/2] each
    rotated = torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
    return rotated.to(x.dtype)


def alibi_slope_values(n_heads: int) -> list[float]:
    """The ALiBi slopes of Press et al. 2022 for ``n_heads`` heads, by the official ``get_slopes`` rule
    (ofirpress/attention_with_linear_biases, ``fairseq/models/transformer.py``).

    For H a power of two: ``2^(-8 h / H)``, h = 1..H. Otherwise, with P the largest power
    of two below H: the P slopes of P heads, then every second slope of 2P heads
    (``get_slopes(2P)[0::2]``), as many as the H - P heads left need.
    """
    if n_heads < 1:
        raise ValueError(f"n_heads must be >= 1, got {n_heads}")
    if n_heads & (n_heads - 1) == 0:
        return [2.0 ** (-8.0 * head / n_heads) for head in range(1, n_heads + 1)]
    closest = 1 << (n_heads.bit_length() - 1)  # largest power of two below n_heads
    return alibi_slope_values(closest) + alibi_slope_values(2 * closest)[0::2][: n_heads - closest]


def alibi_slopes(n_heads: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``[H]`` float32 ALiBi slopes (:func:`alibi_slope_values`)."""
    return torch.tensor(alibi_slope_values(n_heads), dtype=torch.float32, device=device)


def alibi_bias(position_ids: torch.Tensor, slopes: torch.Tensor) -> torch.Tensor:
    """``[B, H, T, T]`` bias ``-slope_h * |p_i - p_j|`` from ``position_ids: [B, T]`` and ``slopes: [H]``."""
    distance = (position_ids[:, :, None] - position_ids[:, None, :]).abs().to(torch.float32)  # [B, T, T]
    return -slopes.to(torch.float32)[None, :, None, None] * distance[:, None]


def fire_bias(
    position_ids: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor, log_c: torch.Tensor, threshold_l: torch.Tensor
) -> torch.Tensor:
    """``[B, H, T, T]`` FIRE bias.

    position_ids: [B, T]; w1: [hidden] and b1: [hidden] (the 1 -> hidden layer);
    w2: [H, hidden], b2: [H] (hidden -> H); log_c: scalar, c = exp(log_c) > 0;
    threshold_l: scalar L (the learned lower bound of the normaliser).
    """
    c = log_c.exp()
    relative = (position_ids[:, :, None] - position_ids[:, None, :]).to(torch.float32)  # [B, T, T]
    query_position = position_ids.to(torch.float32)[:, :, None]  # [B, T, 1]
    numerator = torch.log1p(c * relative.abs()) * relative.sign()
    normaliser = torch.log1p(c * torch.maximum(threshold_l.abs(), query_position.abs()))
    normalised = numerator / normaliser.clamp_min(1e-6)  # [B, T, T]
    hidden = F.relu(normalised[..., None] * w1 + b1)  # [B, T, T, hidden]
    bias = hidden @ w2.t() + b2  # [B, T, T, H]
    return bias.permute(0, 3, 1, 2)  # [B, H, T, T]


class ReferenceTerms(TypedDict, total=False):
    """The keywords of :func:`coupled_attention_probs` that :func:`coupled_attention_reference` passes on."""

    rope_base: float | None
    bias: torch.Tensor | None
    key_padding_mask: torch.Tensor | None
    scale: float | None


def coupled_attention_probs(
    q: torch.Tensor,
    k: torch.Tensor,
    position_ids: torch.Tensor,
    *,
    rope_base: float | None = None,
    bias: torch.Tensor | None = None,
    key_padding_mask: torch.Tensor | None = None,
    scale: float | None = None,
) -> torch.Tensor:
    """The attention probabilities of :func:`coupled_attention_reference`, in float32.

    q, k: [B, H, T, D]; position_ids: [B, T]; bias: [B or 1, H, T, T] additive
    (ALiBi/FIRE) or None; key_padding_mask: [B, T] bool, True = real token.
    Returns probs [B, H, T, T] (float32). Rows whose every key is masked (a left pad
    as query) are zeros.
    """
    q, k = q.float(), k.float()
    if rope_base is not None:
        q = rope_rotate(q, position_ids, rope_base)
        k = rope_rotate(k, position_ids, rope_base)
    length = q.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = (q @ k.transpose(-1, -2)) * scale  # [B, H, T, T]
    if bias is not None:
        scores = scores + bias.float()
    allowed = torch.ones(length, length, dtype=torch.bool, device=q.device).tril()[None, None]  # [1, 1, T, T]
    if key_padding_mask is not None:
        allowed = allowed & key_padding_mask[:, None, None, :]
    scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, dim=-1).nan_to_num(0.0)  # fully masked rows -> 0


def coupled_attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, position_ids: torch.Tensor, **terms: Unpack[ReferenceTerms]) -> torch.Tensor:
    """Causal attention with an id-based positional term, in float32.

    q, k, v: [B, H, T, D]; position_ids: [B, T]; ``terms`` are :func:`coupled_attention_probs`'s
    keywords (rope_base, bias, key_padding_mask, scale). Returns out [B, H, T, D] in q's dtype;
    rows whose every key is masked return zeros.
    """
    probs = coupled_attention_probs(q, k, position_ids, **terms)  # [B, H, T, T]
    return (probs @ v.float()).to(q.dtype)
