"""Origins (scheme, host, port), and which of them may receive the credentials and headers a loader was given.

A loader's `auth` and `headers` are given for the service it is pointed at: the origin of the spec's URL,
of `base_url`, and of the `trusted_origins` the user names. A spec read from a file or a dict is the
user's own, so every server it names is trusted. An `http` origin also trusts its `https` upgrade (the
same host on the default ports), as httpx does when it keeps `Authorization` across a redirect.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Origin", "Origins", "origin", "parse_origin", "same_origin"]

Origin = tuple[str, str, int]
"""(scheme, host, port), lower-cased, with the scheme's default port filled in."""

_DEFAULT_PORTS = {"http": 80, "https": 443}


@lru_cache(maxsize=256)
def _origin(url: str) -> Origin | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def origin(url: Any) -> Origin | None:
    """The origin of an absolute http(s) URL (a string or an `httpx.URL`); None for anything else."""
    return _origin(str(url))


def same_origin(url: Any, home: Origin | None) -> bool:
    """Whether `url` is on `home`, or on its https upgrade."""
    there = origin(url)
    return there is not None and home is not None and (there == home or _upgrade(there) == home)


def _upgrade(there: Origin) -> Origin | None:
    """The http origin whose https upgrade `there` is."""
    scheme, host, port = there
    return ("http", host, 80) if scheme == "https" and port == 443 else None


@dataclass(frozen=True, slots=True)
class Origins:
    """The origins that may receive a loader's `auth` and `headers` (`allowed` None: every one)."""

    allowed: frozenset[Origin] | None = None

    @classmethod
    def of(cls, urls: Iterable[str | None]) -> Origins:
        """The origins of `urls` (those that are absolute http(s) URLs)."""
        return cls(frozenset(o for o in map(origin, (u for u in urls if u)) if o is not None))

    def allows(self, url: Any) -> bool:
        """Whether `url` may receive the credentials and headers."""
        if self.allowed is None:
            return True
        there = origin(url)
        return there is not None and (there in self.allowed or _upgrade(there) in self.allowed)


def parse_origin(text: str) -> Origin:
    """An origin the user names (`https://api.example.com`, a path is ignored); `ValueError` if it is none."""
    found = origin(text)
    if found is None:
        raise ValueError(f"trusted_origins takes http(s) URLs such as 'https://api.example.com', not {text!r}")
    return found
