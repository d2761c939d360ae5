"""A session's read stream that leaves out of a `tools/list` answer each tool the mcp SDK cannot read.

The SDK reads a listing whole: one tool that does not follow MCP (an `inputSchema` whose `type` is not
`"object"`, an annotation that is not a boolean) fails the listing, and with it every tool of the server.
Here each such tool is left out with a warning naming it and what is wrong, and the server's other tools load.
A listing with no readable tool at all is passed on as it is, for the SDK to refuse.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from toolwire_mcp._client.errors import problems

__all__ = ["readable_listings"]

log = logging.getLogger("toolwire.mcp")


@contextlib.asynccontextmanager
async def readable_listings(transport: Any, source: str) -> AsyncIterator[Any]:
    """The streams `transport` (an async context manager of a read and a write stream) opens, the read one
    with the unreadable tools of each listing left out."""
    async with transport as (read_stream, write_stream):
        yield _ListingsRead(read_stream, source), write_stream


class _ListingsRead:
    """A read stream passing on what another receives, unreadable tools left out of listings."""

    def __init__(self, inner: Any, source: str) -> None:
        self._inner, self._source = inner, source

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def __aenter__(self) -> _ListingsRead:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        return await self._inner.__aexit__(*exc_info)

    def __aiter__(self) -> _ListingsRead:
        return self

    async def __anext__(self) -> Any:
        return self._mended(await self._inner.__anext__())

    async def receive(self) -> Any:
        return self._mended(await self._inner.receive())

    def _mended(self, item: Any) -> Any:
        result = getattr(getattr(item, "message", None), "result", None)
        if type(result) is dict and type(result.get("tools")) is list:
            _leave_out_unreadable(result, self._source)
        return item


def _leave_out_unreadable(listing: dict[str, Any], source: str) -> None:
    """Leave out of `listing` (a `tools/list` result, as sent) each tool the mcp SDK cannot read under a protocol
    version whose listing the rest of `listing` fits; nothing when it reads them all, or none of them."""
    from mcp_types.methods import SERVER_RESULTS, validate_server_result
    from pydantic import ValidationError

    def problem(tools: list[Any], version: str) -> str | None:
        try:
            validate_server_result("tools/list", version, {**listing, "tools": tools})
        except ValidationError as exc:
            return problems(exc)
        return None

    versions = [version for method, version in SERVER_RESULTS if method == "tools/list"]
    versions = [version for version in versions if problem([], version) is None]
    tools = listing["tools"]
    if all(problem(tools, version) is None for version in versions):
        return
    kept = []
    for position, tool in enumerate(tools):
        found = next((found for version in versions if (found := problem([tool], version)) is not None), None)
        if found is None:
            kept.append(tool)
            continue
        name = tool.get("name") if isinstance(tool, dict) else None
        named = f"the tool '{name}'" if isinstance(name, str) else f"a tool (number {position + 1})"
        where, _, what = found.partition(": ")
        found = f"{where.removeprefix('tools.0').removeprefix('.') or 'the value'}: {what}"
        log.warning("the MCP server %s lists %s in a form that does not follow MCP (%s); it is left out",
                    source, named, found)
    if kept:
        listing["tools"] = kept
