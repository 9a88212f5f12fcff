"""Causal attention with a positional term computed from per-token position IDs.

Public entry point: :func:`coupled_attention`, which dispatches between the fused
Triton kernel (:mod:`kernels.coupled_attention.triton`) and the float32 PyTorch
reference (:mod:`kernels.coupled_attention.naive`).
"""

from __future__ import annotations

import torch

from kernels.coupled_attention.naive import alibi_bias, alibi_slopes, coupled_attention_probs, coupled_attention_reference, fire_bias, rope_angles, rope_rotate
from kernels.dispatch import BACKENDS, use_triton


def coupled_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    position_ids: torch.Tensor,
    *,
    rope_base: float | None = None,
    alibi_slopes: torch.Tensor | None = None,
    fire_params: dict[str, torch.Tensor] | None = None,
    key_padding_mask: torch.Tensor | None = None,
    scale: float | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """Causal attention (on token order) whose positional term comes from ``position_ids``.

    Shapes:
        q, k, v: [B, H, T, D] (float32, bfloat16 or float16; D even for RoPE and the Triton path)
        position_ids: [B, T] integers, arbitrary (coupled, repeated, decreasing, offset, randomized)
        alibi_slopes: [H] ALiBi slopes (fixed; e.g. :func:`alibi_slopes`), bias -slope_h |p_i - p_j|
        fire_params: FIRE's learned function, keys w1 [hidden], b1 [hidden], w2 [H, hidden], b2 [H],
            log_c [], threshold_l [] (see :func:`fire_bias`); these receive gradients
        key_padding_mask: [B, T] bool, True = real token (False keys are never attended)
        returns: [B, H, T, D] in q's dtype

    ``rope_base`` rotates q and k by the ids (rotate-half pairing). The terms combine
    additively if several are given. ``scale`` defaults to 1/sqrt(D). A query with
    no visible key (a left pad) gets a zero output.

    backend: "auto" (Triton for CUDA tensors, the reference elsewhere), "triton" (forces
    the fused kernel; on the CPU it needs TRITON_INTERPRET=1) or "reference".
    """
    if use_triton(backend, q):
        from kernels.coupled_attention.triton import coupled_attention_triton

        return coupled_attention_triton(
            q, k, v, position_ids, rope_base=rope_base, alibi_slopes=alibi_slopes, fire_params=fire_params, key_padding_mask=key_padding_mask, scale=scale
        )
    bias = None
    if alibi_slopes is not None:
        bias = alibi_bias(position_ids, alibi_slopes)  # [B, H, T, T]
    if fire_params is not None:
        fire = fire_bias(position_ids, **fire_params)  # [B, H, T, T]
        bias = fire if bias is None else bias + fire
    return coupled_attention_reference(q, k, v, position_ids, rope_base=rope_base, bias=bias, key_padding_mask=key_padding_mask, scale=scale)


__all__ = [
    "BACKENDS",
    "alibi_bias",
    "alibi_slopes",
    "coupled_attention",
    "coupled_attention_probs",
    "coupled_attention_reference",
    "fire_bias",
    "rope_angles",
    "rope_rotate",
]
