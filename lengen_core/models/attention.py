"""Sequence mixers: the attention-backend interface and dense causal attention.

A mixer maps ``x: [B, T, d_model]`` to ``[B, T, d_model]`` given a
:class:`MixerContext` (position ids, positional terms, padding, shared by all
layers) and its own layer's :class:`LayerCache` (incremental decoding) or None.
The model builds one mixer per layer from ``model.attention``; the HSA mixer
(:mod:`lengen_core.models.hsa`) takes the same arguments.

Dense attention has three backends that compute the same function:

- ``sdpa``: torch's ``scaled_dot_product_attention`` (fast; no probabilities);
- ``explicit``: the float32 reference from :mod:`kernels.coupled_attention`,
  which also returns the attention probabilities the app draws;
- ``kernel``: the fused Triton coupled-position kernel (CUDA), which computes
  RoPE / ALiBi from the ids inside the kernel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kernels.coupled_attention.naive import coupled_attention_probs, rope_rotate
from lengen_core.positions.encodings import PositionalTerms

BACKENDS: tuple[str, ...] = ("auto", "sdpa", "explicit", "kernel")


@dataclass
class MixerContext:
    """What every layer's mixer needs besides its input.

    position_ids: [B, T]; attention_bias: [B, H, T, T] or None (ALiBi/FIRE,
    computed once per forward and shared by all layers); key_padding_mask:
    [B, T] bool (True = real token) or None; return_attention: also return what
    the app draws (probabilities, HSA selections); length_factor: [B or 1, 1, T, 1]
    per-query logit factor for ``model.length_scaling="log"`` (see
    :func:`log_length_factor`; computed once per forward like the bias) or None;
    segment_ids: [B, T] long or None: a packed training row's examples (a token
    attends only to earlier tokens of its own segment; see
    :func:`lengen_core.training.pack_batch`), None = one sequence per row.
    The per-layer KV caches are not here: each layer gets its own (see :class:`LayerCache`).
    """

    position_ids: torch.Tensor
    terms: PositionalTerms
    attention_bias: torch.Tensor | None
    key_padding_mask: torch.Tensor | None
    return_attention: bool = False
    backend: str = "auto"
    length_factor: torch.Tensor | None = None
    segment_ids: torch.Tensor | None = None


@dataclass
class LayerCache:
    """Keys/values of the tokens already processed by one layer (incremental decoding).

    k, v: [B, H, T_past, D], keys already rotated (RoPE). ``None`` before the first step.
    """

    k: torch.Tensor | None = None
    v: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return 0 if self.k is None else self.k.shape[-2]


def causal_allowed_mask(
    query_length: int, key_length: int, key_padding_mask: torch.Tensor | None, device: torch.device, segment_ids: torch.Tensor | None = None
) -> torch.Tensor:
    """``[B or 1, 1, Tq, Tk]`` bool: key j visible to query i iff j <= i and j is real
    (and, for packed rows, ``segment_ids [B, T]`` of j and i agree; square only).

    Queries are the last ``query_length`` of ``key_length`` tokens (incremental
    decoding has Tq < Tk). A query's own position stays visible even when it is
    padding, so no row is fully masked (fully masked rows give NaN in SDPA, and
    NaN * 0 poisons later layers).
    """
    offset = key_length - query_length
    query_index = torch.arange(query_length, device=device)[:, None] + offset  # [Tq, 1]
    key_index = torch.arange(key_length, device=device)[None, :]  # [1, Tk]
    allowed = (key_index <= query_index)[None, None]  # [1, 1, Tq, Tk]
    if segment_ids is not None:
        if query_length != key_length:
            raise ValueError("packed rows (segment_ids) are for training: no KV cache")
        allowed = allowed & (segment_ids[:, None, :, None] == segment_ids[:, None, None, :])  # [B, 1, T, T]
    if key_padding_mask is None:
        return allowed
    own = key_index == query_index
    return allowed & (key_padding_mask[:, None, None, :] | own[None, None])


def log_length_factor(
    query_length: int, key_length: int, key_padding_mask: torch.Tensor | None, device: torch.device, segment_ids: torch.Tensor | None = None
) -> torch.Tensor:
    """``[B or 1, 1, Tq, 1]`` float: log of the number of keys each query sees (``model.length_scaling="log"``).

    The count is that of :func:`causal_allowed_mask` (the query itself and the
    real tokens before it, of its own segment in a packed row), so left padding
    in batched decoding, a KV cache and packing give each query the factor it
    would have alone. A query that sees only itself gets log 1 = 0: its single
    key takes all the weight either way.
    """
    allowed = causal_allowed_mask(query_length, key_length, key_padding_mask, device, segment_ids)
    visible = allowed.sum(-1, keepdim=True)  # [B or 1, 1, Tq, 1]
    return visible.float().log()


class DenseAttention(nn.Module):
    """Multi-head causal self-attention whose positional term comes from position ids."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, context: MixerContext, cache: LayerCache | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        """x: [B, T, d] -> [B, T, d] and the attention probabilities (``explicit`` backend) or None.

        With a ``cache``, ``x`` holds only the new tokens; their keys/values are
        appended to it and they attend to every key so far (SDPA path).
        """
        batch, length, width = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.n_heads, self.head_dim)  # [B, T, 3, H, D]
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, H, T, D]
        bias = context.attention_bias
        if context.length_factor is not None:
            factor = context.length_factor.to(q.dtype)  # [B or 1, 1, T, 1]
            q = q * factor  # scales q.k; RoPE rotation is linear, so rotating later gives the same
            bias = bias * factor if bias is not None else None
        backend = self._pick_backend(context, q)
        info = None
        if cache is not None:
            out = self._sdpa(q, k, v, context, bias, cache=cache)
        elif backend == "explicit":
            probs = coupled_attention_probs(q, k, context.position_ids, rope_base=context.terms.rope_base, bias=bias, key_padding_mask=context.key_padding_mask)
            out = (probs @ v.float()).to(q.dtype)  # [B, H, T, D], as coupled_attention_reference computes it
            info = {"attention": probs}  # [B, H, T, T]
        elif backend == "kernel":
            from kernels.coupled_attention import coupled_attention

            out = coupled_attention(
                q,
                k,
                v,
                context.position_ids,
                rope_base=context.terms.rope_base,
                alibi_slopes=context.terms.slopes if context.terms.encoding == "alibi" else None,
                fire_params=context.terms.fire.params() if context.terms.fire is not None else None,
                key_padding_mask=context.key_padding_mask,
                backend="triton",
            )
        else:
            out = self._sdpa(q, k, v, context, bias)
        out = out.transpose(1, 2).reshape(batch, length, width)  # [B, T, d_model]
        return self.out(out), info

    def _pick_backend(self, context: MixerContext, q: torch.Tensor) -> str:
        if context.segment_ids is not None:
            if context.return_attention or context.backend not in ("auto", "sdpa"):
                raise ValueError("packed rows (segment_ids) train through the sdpa backend, which returns no probabilities")
            return "sdpa"
        if context.return_attention:
            return "explicit"
        if context.backend != "auto":
            return context.backend
        uses_ids_in_attention = context.terms.encoding in ("rope", "alibi")
        bias_computed_in_kernel = context.terms.encoding in ("alibi", "fire")
        if context.length_factor is not None and bias_computed_in_kernel:
            return "sdpa"  # the kernel adds its ALiBi/FIRE bias unscaled
        if q.is_cuda and uses_ids_in_attention and _kernel_available():
            return "kernel"
        return "sdpa"

    def _sdpa(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, context: MixerContext, bias: torch.Tensor | None, cache: LayerCache | None = None
    ) -> torch.Tensor:
        """q, k, v: [B, H, Tq, D] for the new tokens; bias: [B, H, Tq, Tk] or None; with a cache, keys/values are appended to it."""
        if context.terms.rope_base is not None:
            q = rope_rotate(q, context.position_ids, context.terms.rope_base)
            k = rope_rotate(k, context.position_ids, context.terms.rope_base)
        if cache is not None:
            if cache.k is not None:
                assert cache.v is not None, "a cache holds keys and values together"
                k = torch.cat([cache.k, k], dim=-2)  # [B, H, Tk, D]
                v = torch.cat([cache.v, v], dim=-2)
            cache.k, cache.v = k, v
        dropout = self.dropout if self.training else 0.0
        square = q.shape[-2] == k.shape[-2]
        if bias is None and context.key_padding_mask is None and context.segment_ids is None and square:
            return F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout)
        allowed = causal_allowed_mask(q.shape[-2], k.shape[-2], context.key_padding_mask, q.device, context.segment_ids)
        mask = torch.zeros(allowed.shape, dtype=q.dtype, device=q.device).masked_fill(~allowed, float("-inf"))
        if bias is not None:
            mask = mask + bias.to(q.dtype)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, scale=1.0 / math.sqrt(q.shape[-1]))


_KERNEL_AVAILABLE: bool | None = None


def _kernel_available() -> bool:
    """Whether the fused coupled-position Triton kernel can be imported."""
    global _KERNEL_AVAILABLE
    if _KERNEL_AVAILABLE is None:
        try:
            from kernels.coupled_attention import coupled_attention  # noqa: F401

            _KERNEL_AVAILABLE = True
        except ImportError:
            _KERNEL_AVAILABLE = False
    return _KERNEL_AVAILABLE
