"""The one backend rule every kernel package follows: Triton on CUDA tensors, the PyTorch reference elsewhere.

``backend="triton"`` forces the Triton kernel; on CPU tensors it then needs
``TRITON_INTERPRET=1`` set before triton is first imported (how the tests run the
kernels without a GPU). ``backend="reference"`` forces the plain PyTorch oracle.
"""

from __future__ import annotations

import os

import torch

BACKENDS: tuple[str, ...] = ("auto", "triton", "reference")


def use_triton(backend: str, tensor: torch.Tensor) -> bool:
    """Whether ``backend`` means the Triton path for ``tensor``; ValueError / RuntimeError for impossible asks."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    triton = backend == "triton" or (backend == "auto" and tensor.is_cuda)
    if triton and not tensor.is_cuda and os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError("backend='triton' on CPU tensors needs TRITON_INTERPRET=1 (set before importing triton)")
    return triton
