"""Process memory: a malloc setting that keeps peak memory predictable, and peak-RSS readings.

glibc's malloc serves allocations above a *dynamic* threshold with ``mmap`` and
returns them to the system when freed, but it raises that threshold to the size
of every mmapped block that is freed (up to 32 MiB), after which blocks of that
size come from the heap and fragment it. Greedy decoding without a KV cache
(HSA models rerun a growing prefix each step) then grew the resident set to 8x
its live tensors (3.4 GiB against 0.44 GiB measured for an HSA model decoding
64 examples of 259 tokens). :func:`configure_allocator` fixes the threshold at
4 MiB (setting it turns the dynamic adjustment off), so large tensors always go
back to the system when freed and the memory estimate of
:mod:`lengen_core.costs` holds. Importing :mod:`lengen_core` calls it once.
Training speed was unchanged within noise (bench/bench_trainer.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
from pathlib import Path

MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024
_M_MMAP_THRESHOLD = -3  # mallopt parameter number in glibc's malloc.h
_configured: bool | None = None


def configure_allocator() -> bool:
    """Fix glibc's mmap threshold (see module docstring); returns whether it was set (False off glibc)."""
    global _configured
    if _configured is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _configured = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
        except (OSError, AttributeError):
            _configured = False
    return _configured


def _status_kib(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def resident_bytes() -> int | None:
    """This process's resident set now (Linux), or None."""
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def peak_resident_bytes() -> int | None:
    """This process's peak resident set since start or the last :func:`reset_peak_resident` (Linux), or None."""
    kib = _status_kib("VmHWM")
    return None if kib is None else kib * 1024


def reset_peak_resident() -> bool:
    """Reset the peak-RSS mark to the current RSS (Linux ``clear_refs``); returns whether it worked."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True
