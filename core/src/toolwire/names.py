"""Tool names every provider accepts: `^[a-zA-Z0-9_-]{1,64}$`."""

from __future__ import annotations

import hashlib
import re

from toolwire.tools import NAME_PATTERN

__all__ = ["safe_name"]

_INVALID = re.compile(r"[^a-zA-Z0-9_-]+")
_MAX = 64


def safe_name(raw: str) -> str:
    """`raw` made valid for every provider, stably: invalid runs become `_`; long names are cut and
    suffixed with a short hash of the original so that distinct names stay distinct."""
    if NAME_PATTERN.match(raw):
        return raw
    name = _INVALID.sub("_", raw).strip("_") or "tool"
    if len(name) > _MAX:
        digest = hashlib.sha1(raw.encode()).hexdigest()[:8]
        return f"{name[: _MAX - 9]}_{digest}"
    return name
