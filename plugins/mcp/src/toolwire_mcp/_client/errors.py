"""How a failed exchange with an MCP server reads: the error codes of a lost request and of an unreadable answer,
an exception as text, pydantic's findings in a line."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

__all__ = ["LOST_HERE", "MALFORMED_ANSWER", "REQUEST_LOST", "alone", "describe", "malformed_answer", "mend_escapes",
           "problems", "unreadable"]

log = logging.getLogger("toolwire.mcp")

REQUEST_LOST = -32090
"""The JSON-RPC error code of a request whose HTTP exchange broke while its session stayed usable."""
LOST_HERE = {"lost": "toolwire"}
"""The `data` of a `REQUEST_LOST` error this client made (a server may send the same code for its own reasons)."""
MALFORMED_ANSWER = -32092
"""The JSON-RPC error code of a request whose answer the server sent in a shape JSON-RPC does not have."""


def alone(exc: BaseException) -> BaseException:
    """`exc`, or the one exception a group of one (from a task group) holds."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def describe(exc: BaseException) -> str:
    """An exception as `Type: message` (a group of one: its member)."""
    exc = alone(exc)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def problems(exc: Any) -> str:
    """A pydantic `ValidationError` in one line: where and what its first finding is, and how many follow."""
    found = exc.errors(include_url=False)
    first = found[0]
    where = ".".join(str(part) for part in first["loc"]) or "the value"
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def malformed_answer(line: bytes | str) -> dict[str, Any] | None:
    """The JSON-RPC error answering the request that `line` (a message the SDK cannot read) answers, so that
    the call fails now rather than at its deadline; `None` when `line` answers no request we can name."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    if not isinstance(message, dict) or "method" in message:
        return None
    ident = message.get("id")
    if isinstance(ident, bool) or not isinstance(ident, int | str):
        return None
    if message.get("jsonrpc") != "2.0":
        what = "it is not JSON-RPC 2.0"
    elif "error" in message:
        what = f"its error is not an object with an integer code and a message: {_excerpt(message['error'])}"
    elif "result" in message:
        what = f"its result is not an object: {_excerpt(message['result'])}"
    else:
        what = "it has neither a result nor an error"
    error = {"code": MALFORMED_ANSWER, "message": f"the MCP server's answer cannot be read: {what}"}
    return {"jsonrpc": "2.0", "id": ident, "error": error}


_LONE_ESCAPE = re.compile(
    rb"(?<!\\)((?:\\\\)*)(\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2})")
"""A JSON escape of a lone surrogate: a high one not followed by a low one, or a low one after no high one."""


def mend_escapes(data: bytes) -> bytes:
    """JSON text `data` with each escape of a lone surrogate made `\\ufffd`. JavaScript's `JSON.stringify` writes
    one for text cut inside an emoji (`text.slice(0, n)`), and the mcp SDK's parser refuses the whole message for
    it, where Python's `json` reads it."""
    if b"\\u" not in data:
        return data
    return _LONE_ESCAPE.sub(rb"\1\\ufffd", data)


def unreadable(data: bytes | str, exc: ValueError, source: str) -> Any:
    """What a session reads for a message it cannot parse: the message itself when only escapes of lone
    surrogates stood in its way (read as U+FFFD), else the `malformed_answer` for the request it answers, as a
    `SessionMessage`, or else `exc` (the session logs it)."""
    import mcp_types as types
    from mcp.shared.message import SessionMessage

    raw = data.encode() if isinstance(data, str) else data
    mended = mend_escapes(raw)
    if mended != raw:
        try:
            message = types.jsonrpc_message_adapter.validate_json(mended, by_name=False)
        except ValueError:
            pass
        else:
            log.info("MCP server %s escaped lone surrogates (text cut inside a character); read as U+FFFD", source)
            return SessionMessage(message)
    log.warning("MCP server %s wrote a message that is not JSON-RPC: %.200r", source, data)
    answer = malformed_answer(data)
    if answer is None:
        return exc
    return SessionMessage(types.jsonrpc_message_adapter.validate_python(answer, by_name=False))


def _excerpt(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:80] + "..."
