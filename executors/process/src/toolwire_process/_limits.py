"""The resource limits of the workers: `memory_limit` (per worker) and `cpu_time_limit` (per sync call).

Defaults: the workers together may use 80% of the machine's memory (each gets its share, at least 1 GiB);
CPU time is not limited (deadlines bound wall time). The worker applies them itself (`_worker.main`):
on Linux the memory limit is `RLIMIT_DATA`, which counts the heap and private mappings but not address
space reserved and never written, so a tool allocating past it gets `MemoryError` at once.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_MEMORY_SHARE", "Limits", "parse_bytes"]

DEFAULT_MEMORY_SHARE = 0.8
"""The share of the machine's memory all the workers may use together when `memory_limit` is not set."""
_MIN_DEFAULT = 1 << 30
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 1 << 10, "m": 10**6, "mb": 10**6, "mib": 1 << 20,
          "g": 10**9, "gb": 10**9, "gib": 1 << 30, "t": 10**12, "tb": 10**12, "tib": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


@dataclass(frozen=True, slots=True)
class Limits:
    """A worker's memory limit in bytes and a sync call's CPU-time limit in seconds (None: no limit)."""

    memory_bytes: int | None = None
    cpu_seconds: float | None = None

    @classmethod
    def from_options(cls, memory: Any, cpu: Any, workers: int) -> Limits:
        """The limits the `memory_limit` and `cpu_time_limit` options ask for, with the defaults."""
        if memory is None:
            memory_bytes = default_memory(workers)
        elif isinstance(memory, str) and memory.strip().lower() in ("none", "off", "unlimited"):
            memory_bytes = None
        else:
            memory_bytes = parse_bytes(memory, "memory_limit")
        if cpu is not None and (isinstance(cpu, bool) or not isinstance(cpu, int | float) or cpu <= 0):
            raise ValueError(f"the process executor's 'cpu_time_limit' must be a positive number of seconds, "
                             f"got {cpu!r}")
        return cls(memory_bytes, None if cpu is None else float(cpu))


def default_memory(workers: int) -> int | None:
    """Each worker's share of `DEFAULT_MEMORY_SHARE` of the machine's memory (None where unknown)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
    return max(_MIN_DEFAULT, int(total * DEFAULT_MEMORY_SHARE / workers))


def parse_bytes(value: Any, option: str) -> int:
    """`"1GiB"`, `"512MiB"`, `"2GB"` or a number of bytes, as bytes; a `ValueError` says what is accepted."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    found = _SIZE.match(value) if isinstance(value, str) else None
    unit = found.group(2).lower() if found else ""
    if found is None or unit not in _UNITS or float(found.group(1)) <= 0:
        raise ValueError(f"the process executor's '{option}' must be a size such as \"1GiB\", \"512MiB\" or a "
                         f"number of bytes (or \"none\"), got {value!r}")
    return int(float(found.group(1)) * _UNITS[unit])
