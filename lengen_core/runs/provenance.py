"""Where a run came from: the code version and the environment recorded with it."""

from __future__ import annotations

import functools
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any

import torch

from lengen_core import __version__
from lengen_core.cpus import usable_cpus


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``<package version>+g<git short hash>[.dirty]`` when run from a git checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=5).stdout.strip()
        return f"{__version__}+g{commit}{'.dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return __version__


def environment(device: torch.device) -> dict[str, Any]:
    """Versions and hardware a run was produced with."""
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:  # pragma: no cover - triton is a requirement
        triton_version = None
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "triton": triton_version,
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": usable_cpus(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
