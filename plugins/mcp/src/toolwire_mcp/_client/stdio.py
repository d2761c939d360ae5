"""An MCP client transport over a server's stdin and stdout that holds no line over the size limit.

mcp's `stdio_client` joins the server's output into lines of any length, so one huge answer is held whole
in memory. This one is the same transport (it starts and stops the server with mcp's own helpers) with
the server's output split by `Framer`: a line over the limit is dropped as it arrives, and the request
it answers gets an error naming the limit; so does the request a line answers in a shape JSON-RPC does not have.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, TextIO

import anyio
import mcp_types as types
from mcp.client import stdio as sdk
from mcp.shared.message import SessionMessage

from toolwire_mcp._client.connection import Connection
from toolwire_mcp._client.errors import unreadable
from toolwire_mcp._client.limits import Framer, Oversized, too_large

__all__ = ["stdio_transport"]

log = logging.getLogger("toolwire.mcp")


@contextlib.asynccontextmanager
async def stdio_transport(connection: Connection, errlog: TextIO) -> AsyncIterator[Any]:
    """The read and write streams of a session with the server `connection` starts, its stderr to `errlog`."""
    assert connection.command is not None
    limit, source = connection.max_message_bytes, connection.detail
    command = await sdk._get_executable_command(connection.command)
    process = await sdk._create_platform_compatible_process(
        command=command, args=list(connection.args), env=sdk.get_default_environment() | dict(connection.env or ()),
        errlog=errlog, cwd=connection.cwd,
    )
    stdout, stdin = process.stdout, process.stdin
    assert stdout is not None and stdin is not None, "the SDK opens the server's stdin and stdout as pipes"
    to_session, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, from_session = anyio.create_memory_object_stream[SessionMessage](0)
    writer_done = anyio.Event()

    async def read() -> None:
        framer = Framer(limit, rb"\n")
        try:
            async with to_session:
                async for chunk in stdout:
                    for line in framer.feed(chunk):
                        message = _message(line, limit, source)
                        if message is not None:
                            await to_session.send(message)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, ConnectionError):
            pass  # the session or the pipe is gone; the session sees the stream close
        finally:
            await sdk._drain_stdout(process)

    async def write() -> None:
        try:
            async with from_session:
                async for session_message in from_session:
                    body = session_message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    await stdin.send((body + "\n").encode())
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            await to_session.aclose()  # the server stopped reading: end the session, not hang a request
        finally:
            writer_done.set()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(read)
        tasks.start_soon(write)
        try:
            yield read_stream, write_stream
        finally:
            with anyio.CancelScope(shield=True):  # every wait is bounded; the server must not outlive us
                read_stream.close()
                write_stream.close()
                with anyio.move_on_after(sdk._WRITER_FLUSH_TIMEOUT):
                    await writer_done.wait()
                await sdk._stop_server_process(process)
                for stream in (read_stream, write_stream, to_session, from_session):
                    await stream.aclose()
            tasks.cancel_scope.cancel()


def _message(line: bytes | Oversized, limit: int, source: str) -> SessionMessage | Exception | None:
    """What the session reads for one line of the server's output (`None`: nothing)."""
    if isinstance(line, Oversized):
        error = too_large(limit, line.request_id(), source)
        if error is None:
            return None
        return SessionMessage(types.jsonrpc_message_adapter.validate_python(error, by_name=False))
    if not line.strip():
        return None
    try:
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(line, by_name=False))
    except ValueError as exc:
        return unreadable(line, exc, source)
