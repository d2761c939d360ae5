"""Credentials kept out of messages and logs.

Error messages are scrubbed of the secrets their call used (`redact`). httpx logs every request's URL at
INFO (`HTTP Request: GET https://...?api_key=...`) and httpcore logs more at DEBUG; those loggers get a
filter, installed with the first credential a process sends, that replaces every credential toolwire has
sent from this process with `***` in each record before any handler sees it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from urllib.parse import quote

__all__ = ["MASK", "redact", "remember"]

MASK = "***"
_MIN_LENGTH = 4
"""Shorter values are not masked: replacing every "ab" in a message would garble it and hide nothing."""

_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy", "httpcore.socks")
_secrets: frozenset[str] = frozenset()
_lock = threading.Lock()


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret of `secrets` (long enough to matter) replaced by `***`."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= _MIN_LENGTH and secret in text:
            text = text.replace(secret, MASK)
    return text


def remember(secrets: Iterable[str]) -> None:
    """Mask these values in the HTTP clients' log records from now on (also percent-encoded)."""
    global _secrets
    new = {form for secret in secrets if len(secret) >= _MIN_LENGTH for form in (secret, quote(secret, safe=""))}
    if new <= _secrets:
        return
    with _lock:
        if not _secrets:
            for name in _LOGGERS:
                logging.getLogger(name).addFilter(_REDACTING)
        _secrets = _secrets | new


class _Redacting(logging.Filter):
    """Rewrites a record whose message shows a remembered secret; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message, _secrets)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_REDACTING = _Redacting()
