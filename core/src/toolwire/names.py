"""Tool names every provider accepts: `^[a-zA-Z0-9_-]{1,64}$`."""

from __future__ import annotations

import hashlib
import re

from toolwire.tools import NAME_PATTERN

__all__ = ["hashed_name", "safe_name"]

_INVALID = re.compile(r"[^a-zA-Z0-9_-]+")
_MAX = 64


def safe_name(raw: str) -> str:
    """`raw` made valid for every provider, stably: invalid runs become `_`; long names are cut and
    suffixed with a short hash of the original so that distinct names stay distinct."""
    if NAME_PATTERN.match(raw):
        return raw
    name = _INVALID.sub("_", raw).strip("_") or "tool"
    return hashed_name(raw) if len(name) > _MAX else name


def hashed_name(raw: str) -> str:
    """`safe_name`'s form of `raw` cut to leave room for, and suffixed with, a short hash of `raw`: distinct names
    stay distinct however much of them had to go."""
    name = _INVALID.sub("_", raw).strip("_") or "tool"
    digest = hashlib.sha1(raw.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{name[: _MAX - 9]}_{digest}"
