"""Local mixers for the HSA hybrid: they cover the current (incomplete) chunk.

HSA only reads *complete past* chunks, so every layer that uses it also needs a
mixer for the tokens of the current chunk (Hu et al. 2025 pair HSA with Mamba
in RAMba, or with sliding-window attention). Both here run on the CPU with
memory linear in the sequence length, so a 16K-token passkey fits easily.

- :class:`SlidingWindowAttention`: causal attention over the last ``window``
  tokens (including itself), RoPE from the position ids when the scheme is
  RoPE. Computed block by block: queries in block b see keys of blocks b-1 and b.
- :class:`GatedRecurrence`: a small selective (input-dependent decay) diagonal
  linear recurrence in the spirit of Mamba/GRU (our simplification, not Mamba's
  exact parameterisation):
  ``a_t = sigmoid(W_a x_t)``, ``h_t = a_t * h_{t-1} + (1 - a_t) * (W_u x_t)``,
  ``y_t = W_o (h_t * silu(W_g x_t))``, evaluated exactly with a chunked scan.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from kernels.coupled_attention.naive import rope_rotate


class SlidingWindowAttention(nn.Module):
    """Causal multi-head attention restricted to the last ``window`` tokens."""

    def __init__(self, d_model: int, n_heads: int, window: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.window = window
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def _qkv(self, x: torch.Tensor, position_ids: torch.Tensor, rope_base: float | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: [B, T, d] -> q, k, v: [B, H, T, D], RoPE applied from the position ids when the scheme has it."""
        batch, length, _ = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.n_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # [B, H, T, D]
        if rope_base is not None:
            q = rope_rotate(q, position_ids, rope_base)
            k = rope_rotate(k, position_ids, rope_base)
        return q, k, v

    def attention_map(self, x: torch.Tensor, position_ids: torch.Tensor, rope_base: float | None, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The window's attention probabilities as a dense map, for drawing: ``[B, H, T, T]`` (zero outside the window).

        Dense O(T^2), the same scores and masks as :meth:`forward`'s blocks (a key is seen when it is one of the
        last ``window`` tokens and real, or the query itself); the Attention page draws it beside HSA's chunks.
        """
        q, k, _ = self._qkv(x, position_ids, rope_base)
        length = x.shape[1]
        query = torch.arange(length, device=x.device)[:, None]
        key = torch.arange(length, device=x.device)[None, :]
        allowed = ((key <= query) & (key > query - self.window))[None, None]  # [1, 1, T, T]
        if key_padding_mask is not None:
            allowed = allowed & key_padding_mask[:, None, None, :]
        allowed = allowed | (key == query)[None, None]
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim)  # [B, H, T, T]
        return torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)

    def forward(self, x: torch.Tensor, position_ids: torch.Tensor, rope_base: float | None, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: [B, T, d]; position_ids: [B, T]; key_padding_mask: [B, T] (True = real) -> [B, T, d]."""
        batch, length, width = x.shape
        window = self.window
        q, k, v = self._qkv(x, position_ids, rope_base)
        blocks = math.ceil(length / window)
        padded = blocks * window
        pad = padded - length
        real = torch.ones(batch, length, dtype=torch.bool, device=x.device) if key_padding_mask is None else key_padding_mask
        if pad:
            q, k, v = (F.pad(t, (0, 0, 0, pad)) for t in (q, k, v))
            real = F.pad(real, (0, pad), value=False)
        # keys of block b = blocks b-1 and b: prepend one empty block
        k_ext = F.pad(k, (0, 0, window, 0))  # [B, H, padded + W, D]
        v_ext = F.pad(v, (0, 0, window, 0))
        real_ext = F.pad(real, (window, 0), value=False)  # [B, padded + W]
        q_blocks = q.view(batch, self.n_heads, blocks, window, self.head_dim)  # [B, H, nb, W, D]
        k_blocks = k_ext.unfold(2, 2 * window, window).transpose(-1, -2)  # [B, H, nb, 2W, D]
        v_blocks = v_ext.unfold(2, 2 * window, window).transpose(-1, -2)
        real_blocks = real_ext.unfold(1, 2 * window, window)  # [B, nb, 2W]
        query_offset = torch.arange(window, device=x.device)[:, None] + window  # [W, 1] index in the 2W key frame
        key_offset = torch.arange(2 * window, device=x.device)[None, :]  # [1, 2W]
        in_window = (key_offset <= query_offset) & (key_offset > query_offset - window)  # [W, 2W]
        allowed = in_window[None, None, None] & real_blocks[:, None, :, None, :]  # [B, 1, nb, W, 2W]
        own = key_offset == query_offset
        allowed = allowed | own[None, None, None]
        scores = (q_blocks @ k_blocks.transpose(-1, -2)) / math.sqrt(self.head_dim)  # [B, H, nb, W, 2W]
        scores = scores.masked_fill(~allowed, float("-inf"))
        out = torch.softmax(scores, dim=-1) @ v_blocks  # [B, H, nb, W, D]
        out = out.reshape(batch, self.n_heads, padded, self.head_dim)[:, :, :length]
        return self.out(out.transpose(1, 2).reshape(batch, length, width))


def sliding_window_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int) -> torch.Tensor:
    """Dense O(T^2) oracle for tests: q, k, v [B, H, T, D] -> [B, H, T, D]."""
    length = q.shape[-2]
    i = torch.arange(length)[:, None]
    j = torch.arange(length)[None, :]
    allowed = (j <= i) & (j > i - window)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    return torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1) @ v


class GatedRecurrence(nn.Module):
    """Selective diagonal linear recurrence (see module docstring); state size = d_model."""

    def __init__(self, d_model: int, scan_chunk: int = 64) -> None:
        super().__init__()
        self.decay = nn.Linear(d_model, d_model)
        self.input = nn.Linear(d_model, d_model)
        self.gate = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, d_model)
        self.scan_chunk = scan_chunk
        nn.init.constant_(self.decay.bias, 2.0)  # start with long memory (a ~ 0.88)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, T, d] -> [B, T, d]."""
        log_a = F.logsigmoid(self.decay(x))  # [B, T, d], log of a_t in (0, 1)
        u = (1 - log_a.exp()) * self.input(x)  # [B, T, d]
        h = chunked_linear_scan(log_a, u, self.scan_chunk)
        return self.out(h * F.silu(self.gate(x)))


def chunked_linear_scan(log_a: torch.Tensor, u: torch.Tensor, chunk: int) -> torch.Tensor:
    """h_t = a_t * h_{t-1} + u_t with h_{-1} = 0, for log_a, u: [B, T, d] -> h [B, T, d].

    Inside a chunk of C tokens, with A the within-chunk cumulative log decay:
    ``h_t = exp(A_t) h_in + sum_{s<=t} exp(A_t - A_s) u_s``; every exponent is <= 0,
    so it is stable for any decay. The state is carried across chunks in a loop
    of T/C steps; memory is O(B C^2 d) per chunk.
    """
    batch, length, width = u.shape
    state = u.new_zeros(batch, width)
    outputs = []
    for start in range(0, length, chunk):
        log_a_chunk = log_a[:, start : start + chunk]  # [B, C, d]
        size = log_a_chunk.shape[1]
        cumulative = torch.cumsum(log_a_chunk, dim=1)  # [B, C, d] A_t
        lower = torch.ones(size, size, dtype=torch.bool, device=u.device).tril()  # s <= t
        difference = cumulative[:, :, None, :] - cumulative[:, None, :, :]  # [B, C(t), C(s), d]
        weights = torch.exp(difference.masked_fill(~lower[None, :, :, None], float("-inf")))
        h = torch.einsum("btsd,bsd->btd", weights, u[:, start : start + chunk]) + torch.exp(cumulative) * state[:, None, :]
        outputs.append(h)
        state = h[:, -1]
    return torch.cat(outputs, dim=1)


def linear_scan_reference(log_a: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Step-by-step oracle of :func:`chunked_linear_scan`."""
    state = torch.zeros_like(u[:, 0])
    outputs = []
    for t in range(u.shape[1]):
        state = log_a[:, t].exp() * state + u[:, t]
        outputs.append(state)
    return torch.stack(outputs, dim=1)
