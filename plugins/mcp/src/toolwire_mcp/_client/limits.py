"""The size limit on what an MCP server sends: a message over it is dropped while it streams, never held
whole, and the request it answers gets an error naming the limit; the session and other calls go on."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_MESSAGE_BYTES", "MESSAGE_TOO_LARGE", "Framer", "Oversized", "too_large"]

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
"""The default size limit of one message from a server (a stdio line, an SSE event, a JSON body)."""
MESSAGE_TOO_LARGE = -32091
"""The JSON-RPC error code of a request whose answer was over the limit."""

log = logging.getLogger("toolwire.mcp")

_KEEP = 256  # bytes kept from each end of a dropped message, to find the request id it answers
_ID = rb'"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.)*")'
_HEAD_ID = re.compile(rb'^(?:[^{]*\n)?(?:data:)?\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?' + _ID)
_TAIL_ID = re.compile(_ID + rb"\s*\}\s*$")


@dataclass(frozen=True)
class Oversized:
    """A message that was over the limit: its first and last bytes, all that was kept of it."""

    head: bytes
    tail: bytes

    @property
    def from_server(self) -> bool:
        """Whether the message is the server's own request or notification (it answers nothing)."""
        return b'"method"' in self.head

    def request_id(self) -> int | str | None:
        """The id of the request this message answers, or `None` (not found, or a server's own request)."""
        if self.from_server:
            return None
        found = _HEAD_ID.match(self.head) or _TAIL_ID.search(self.tail.rstrip())
        return json.loads(found.group(1)) if found else None


class Framer:
    """Splits a byte stream into messages at `boundary` (a regex), dropping each one over `limit` bytes
    as it arrives: only its head and tail are kept, and it comes out as `Oversized`."""

    def __init__(self, limit: int, boundary: bytes) -> None:
        self.limit = limit
        self._boundary = re.compile(boundary)
        self._buffer = bytearray()
        self._dropping: bytes | None = None  # the head of the message being dropped
        self._tail = b""

    def feed(self, data: bytes) -> Iterator[bytes | Oversized]:
        """The messages `data` completes, in order (each with its boundary)."""
        if self._dropping is not None:
            window = self._tail + data
            found = self._boundary.search(window)
            if found is None:
                self._tail = window[-_KEEP:]
                return
            yield Oversized(self._dropping, window[: found.start()][-_KEEP:])
            self._dropping, self._tail = None, b""
            data = window[found.end():]
        start = max(0, len(self._buffer) - _KEEP)
        self._buffer += data
        while (found := self._boundary.search(self._buffer, start)) is not None:
            if found.start() > self.limit:
                yield Oversized(bytes(self._buffer[:_KEEP]), bytes(self._buffer[: found.start()][-_KEEP:]))
            else:
                yield bytes(self._buffer[: found.end()])
            del self._buffer[: found.end()]
            start = 0
        if len(self._buffer) > self.limit:
            self._dropping, self._tail = bytes(self._buffer[:_KEEP]), bytes(self._buffer[-_KEEP:])
            self._buffer.clear()

    @property
    def dropping(self) -> bool:
        """Whether the message arriving now is over the limit (and being dropped)."""
        return self._dropping is not None

    def rest(self) -> bytes | Oversized:
        """What the stream ended with after its last boundary."""
        if self._dropping is not None:
            return Oversized(self._dropping, self._tail)
        return bytes(self._buffer)


def too_large(limit: int, request_id: int | str | None, source: str) -> dict[str, Any] | None:
    """The JSON-RPC error answering `request_id` for an answer over `limit`, or `None` (logged) without an id."""
    if request_id is None:
        log.warning("dropped a message of more than %d bytes from MCP server %s (not an answer to a request)",
                    limit, source)
        return None
    message = (f"the MCP server's answer exceeds the {limit}-byte limit and was dropped; ask the tool for less, "
               "or raise the loader's max_message_bytes")
    error = {"code": MESSAGE_TOO_LARGE, "message": message}
    return {"jsonrpc": "2.0", "id": request_id, "error": error}
