"""Normalisation layers: the one RMSNorm, shared by the transformer blocks and the HSA branch."""

from __future__ import annotations

import torch
from torch import nn


class RMSNorm(nn.Module):
    """``x / rms(x) * weight`` over the last dimension (Zhang & Sennrich 2019); no bias, no mean subtraction."""

    def __init__(self, width: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [..., width] -> [..., width]."""
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def make_norm(kind: str, width: int) -> nn.Module:
    """The norm ``model.norm`` names: ``"rmsnorm"`` or ``"layernorm"``."""
    return RMSNorm(width) if kind == "rmsnorm" else nn.LayerNorm(width)
