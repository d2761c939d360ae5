"""A stdio server's stderr, line by line, to the `toolwire.mcp` logger instead of the user's terminal."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["stderr_logged"]

log = logging.getLogger("toolwire.mcp")


@contextlib.asynccontextmanager
async def stderr_logged(parameters: Any, detail: str) -> AsyncIterator[Any]:
    """mcp's stdio transport for `parameters`, the server's stderr going to a pipe that a thread reads
    and logs (INFO, prefixed with the server's command line) until the server closes it."""
    from mcp.client.stdio import stdio_client

    read_end, write_end = os.pipe()
    threading.Thread(target=_forward, args=(read_end, detail), name="toolwire-mcp-stderr", daemon=True).start()
    with os.fdopen(write_end, "w") as errlog:  # the server holds its own copy; ours closes on the way out
        async with stdio_client(parameters, errlog=errlog) as streams:
            yield streams


def _forward(read_end: int, detail: str) -> None:
    with os.fdopen(read_end, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            log.info("%s: %s", detail, line.rstrip("\n"))
