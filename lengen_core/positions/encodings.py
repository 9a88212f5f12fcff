"""How position IDs enter the model.

One module, :class:`PositionalTerms`, gives the model every positional term it
may need from the same ``position_ids: [B, T]``:

- ``embed(position_ids)``: an additive input embedding ``[B, T, d_model]`` for
  ``learned`` (a trainable table with ``max_position`` rows) and ``sinusoidal``
  (Vaswani et al. 2017, evaluated at the ids, so any integer id works);
- ``rope_base``: set for ``rope``; attention rotates q and k by the ids;
- ``attention_bias(position_ids)``: ``[B, H, T, T]`` for ``alibi`` and ``fire``.

The RoPE/ALiBi/FIRE math lives in :mod:`kernels.coupled_attention.naive`, the
single copy shared with the attention kernel and its tests.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from kernels.coupled_attention.naive import alibi_bias, alibi_slopes, fire_bias

ENCODINGS: tuple[str, ...] = ("none", "learned", "sinusoidal", "rope", "alibi", "fire")


def sinusoidal_table(position_ids: torch.Tensor, d_model: int) -> torch.Tensor:
    """``[B, T, d_model]`` sinusoids at the given (integer) ids (Vaswani et al. 2017)."""
    half = d_model // 2
    frequency = torch.exp(-math.log(10000.0) * torch.arange(half, device=position_ids.device, dtype=torch.float32) / half)
    angles = position_ids.to(torch.float32)[..., None] * frequency  # [B, T, d/2]
    table = torch.cat([angles.sin(), angles.cos()], dim=-1)
    if d_model % 2:
        table = torch.nn.functional.pad(table, (0, 1))
    return table


class FireFunction(nn.Module):
    """FIRE's learned bias function (Li et al. 2024): a 1 -> hidden -> H MLP of the normalised distance.

    Initialisation as in the reference implementation we read (mcleish7/arithmetic,
    ``cramming/architectures/embeddings.py``, class FIRE): c = 0.1 (learned, kept
    positive through ``log_c``), L = 512 (learned), one shared MLP with biases.
    """

    def __init__(self, n_heads: int, hidden: int) -> None:
        super().__init__()
        first = nn.Linear(1, hidden)
        second = nn.Linear(hidden, n_heads)
        self.w1 = nn.Parameter(first.weight.detach().squeeze(1).clone())  # [hidden]
        self.b1 = nn.Parameter(first.bias.detach().clone())  # [hidden]
        self.w2 = nn.Parameter(second.weight.detach().clone())  # [H, hidden]
        self.b2 = nn.Parameter(second.bias.detach().clone())  # [H]
        self.log_c = nn.Parameter(torch.tensor(math.log(0.1)))
        self.threshold_l = nn.Parameter(torch.tensor(512.0))

    def params(self) -> dict[str, torch.Tensor]:
        return {"w1": self.w1, "b1": self.b1, "w2": self.w2, "b2": self.b2, "log_c": self.log_c, "threshold_l": self.threshold_l}

    def forward(self, position_ids: torch.Tensor) -> torch.Tensor:
        """position_ids: [B, T] -> bias [B, H, T, T]."""
        return fire_bias(position_ids, **self.params())


class PositionalTerms(nn.Module):
    """Every positional term of one encoding, computed from ``position_ids``."""

    slopes: torch.Tensor  # [H] ALiBi slopes (a buffer; empty for the other encodings)

    def __init__(self, encoding: str, *, d_model: int, n_heads: int, max_position: int, rope_base: float, fire_hidden: int) -> None:
        super().__init__()
        if encoding not in ENCODINGS:
            raise ValueError(f"unknown encoding {encoding!r}")
        self.encoding = encoding
        self.d_model = d_model
        self.max_position = max_position
        self.rope_base: float | None = rope_base if encoding == "rope" else None
        self.table = nn.Embedding(max_position, d_model) if encoding == "learned" else None
        if self.table is not None:
            nn.init.normal_(self.table.weight, std=0.02)
        self.fire = FireFunction(n_heads, fire_hidden) if encoding == "fire" else None
        self.register_buffer("slopes", alibi_slopes(n_heads) if encoding == "alibi" else torch.zeros(0), persistent=False)

    def embed(self, position_ids: torch.Tensor) -> torch.Tensor | None:
        """``[B, T, d_model]`` additive embedding, or None when ids enter through attention."""
        if self.table is not None:
            if position_ids.numel() and int(position_ids.max()) >= self.max_position:
                raise ValueError(f"position id {int(position_ids.max())} is beyond the learned table (positions.max_position={self.max_position})")
            return self.table(position_ids)
        if self.encoding == "sinusoidal":
            return sinusoidal_table(position_ids, self.d_model)
        return None

    def attention_bias(self, position_ids: torch.Tensor) -> torch.Tensor | None:
        """``[B, H, T, T]`` additive attention bias (ALiBi / FIRE), or None."""
        if self.encoding == "alibi":
            return alibi_bias(position_ids, self.slopes)
        if self.fire is not None:
            return self.fire(position_ids)
        return None
