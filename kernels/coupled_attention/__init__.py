"""Causal attention with a positional term computed from per-token position IDs."""

from kernels.coupled_attention.naive import (
    alibi_bias,
    alibi_slopes,
    coupled_attention_reference,
    fire_bias,
    rope_angles,
    rope_rotate,
)

__all__ = [
    "alibi_bias",
    "alibi_slopes",
    "coupled_attention_reference",
    "fire_bias",
    "rope_angles",
    "rope_rotate",
]
