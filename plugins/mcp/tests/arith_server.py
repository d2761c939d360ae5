"""The MCP server the tests and `bench_quick.py` talk to, written with the `mcp` package: run it with
`python arith_server.py [events-file] [--transport sse|streamable-http --port N]` (stdio by default),
or build it in-process with `build_server()`.

Cancelled calls are recorded as `cancelled <tool>` lines: in `events` (in-process) or in the file.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
from pathlib import Path
from typing import Annotated

import anyio
from mcp.server.mcpserver import Context, Elicit, ListRoots, MCPServer, Resolve, Sample
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import (
    BlobResourceContents,
    CreateMessageResult,
    EmbeddedResource,
    ImageContent,
    ListRootsResult,
    SamplingMessage,
    TextContent,
    ToolAnnotations,
)
from mcp_types import InputRequiredResult
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel

PIXEL = b"\x89PNG\r\n\x1a\n-not-really-a-png"
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
WRITES = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=False)


class Sum(BaseModel):
    total: int


class Name(BaseModel):
    name: str


def build_server(events: list[str] | None = None, events_file: str | None = None) -> MCPServer:
    server = MCPServer("arith")

    def record(event: str) -> None:
        if events is not None:
            events.append(event)
        if events_file is not None:
            with Path(events_file).open("a") as handle:
                handle.write(event + "\n")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True, idempotent_hint=True))
    def add(a: int, b: int) -> Sum:
        """Add two integers."""
        return Sum(total=a + b)

    @server.tool(structured_output=False)
    def shout(text: str) -> str:
        """Upper-case a text."""
        return text.upper()

    @server.tool()
    def fail(message: str) -> str:
        """Fail with the given message."""
        raise ToolError(message)

    @server.tool(structured_output=False)
    def media() -> list[TextContent | ImageContent | EmbeddedResource]:
        """Return a text, an image and an embedded binary resource."""
        encoded = base64.b64encode(PIXEL).decode()
        blob = BlobResourceContents(uri="file:///pixel.png", mime_type="image/png", blob=encoded)
        return [
            TextContent(type="text", text="a pixel"),
            ImageContent(type="image", data=encoded, mime_type="image/png"),
            EmbeddedResource(type="resource", resource=blob),
        ]

    @server.tool(annotations=READ_ONLY)
    async def slow(seconds: float, ctx: Context) -> str:
        """Report progress three times, then sleep."""
        for step in range(3):
            await ctx.report_progress(step + 1, 3, f"step {step + 1}")
        try:
            await anyio.sleep(seconds)
        except anyio.get_cancelled_exc_class():
            record("cancelled slow")
            raise
        return f"slept {seconds}"

    @server.tool(annotations=WRITES)
    async def slow_write(seconds: float) -> str:
        """Sleep, then pretend to write something."""
        await anyio.sleep(seconds)
        return "written"

    @server.tool(annotations=READ_ONLY)
    def pid() -> int:
        """The server's process id."""
        return os.getpid()

    @server.tool()
    def scribble(text: str) -> str:
        """Write `text` to stderr, as servers write their logs."""
        print(text, file=sys.stderr, flush=True)
        return "logged"

    @server.tool(structured_output=False)
    def big(size: int) -> str:
        """A text of `size` characters."""
        return "x" * size

    @server.tool()
    def garbage() -> str:
        """Write a line that is not JSON-RPC to stdout (over stdio, into the client's stream), then answer."""
        os.write(1, b"this is not JSON-RPC {\n")  # past sys.stdout, which the SDK points at stderr in tools
        return "wrote garbage"

    @server.tool()
    async def die(delay: float) -> str:
        """Exit the server process abruptly after `delay` seconds."""
        await anyio.sleep(delay)
        sys.stdout.flush()
        os._exit(3)

    @server.tool()
    async def ask(ctx: Context) -> str:
        """Ask the user for a name (elicitation)."""
        answer = await ctx.elicit("Your name?", Name)
        return answer.data.name if answer.action == "accept" else answer.action

    @server.tool()
    async def greet(name: Annotated[Name, Resolve(_ask_for_name)]) -> str:
        """Greet the user, asking their name first (on the 2026 protocol, a question returned to the caller)."""
        return f"hello {name.name}"

    @server.tool()
    async def word(reply: Annotated[CreateMessageResult, Resolve(_ask_the_model)]) -> str:
        """A word the host's model picks (sampling; on the 2026 protocol, a question returned to the caller)."""
        return reply.content.text if isinstance(reply.content, TextContent) else type(reply.content).__name__

    @server.tool()
    async def roots(listed: Annotated[ListRootsResult, Resolve(_ask_for_roots)]) -> list[str]:
        """The client's roots (on the 2026 protocol, a question returned to the caller)."""
        return [str(root.uri) for root in listed.roots]

    @server.tool()
    async def two_rounds(ctx: Context) -> str | InputRequiredResult:
        """Answer in a second round (2026 protocol): the first returns state to send back."""
        if ctx.request_state == "round 2":
            return "done in round 2"
        return InputRequiredResult(request_state="round 2")

    @server.tool()
    async def protocol(ctx: Context) -> str:
        """The protocol version of the calling session."""
        return ctx.session.protocol_version

    @server.tool()
    async def grow(name: str, ctx: Context) -> str:
        """Add a tool named `name` and announce the change."""

        def added(x: int) -> int:
            return x

        server.add_tool(added, name=name, description=f"the tool {name}")
        await announce_tools_changed(ctx)
        return "grown"

    @server.tool()
    async def shrink(name: str, ctx: Context) -> str:
        """Remove the tool named `name` and announce the change."""
        server.remove_tool(name)
        await announce_tools_changed(ctx)
        return "shrunk"

    return server


def _ask_for_name() -> Elicit[Name]:
    return Elicit("Your name?", Name)


def _ask_the_model() -> Sample:
    return Sample([SamplingMessage(role="user", content=TextContent(type="text", text="One word for hello?"))],
                  max_tokens=5)


def _ask_for_roots() -> ListRoots:
    return ListRoots()


async def announce_tools_changed(ctx: Context) -> None:
    """Tell clients of both protocols: 2026 subscribers through the bus, handshake-era sessions directly."""
    await ctx.notify_tools_changed()
    if ctx.session.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        await ctx.session.send_tool_list_changed()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("events_file", nargs="?")
    parser.add_argument("--transport", choices=["stdio", "sse", "streamable-http"], default="stdio")
    parser.add_argument("--port", type=int, default=8000)
    options = parser.parse_args()
    server = build_server(events_file=options.events_file)
    if options.transport == "stdio":
        server.run()
    else:
        server.settings.log_level = "WARNING"
        server.run(options.transport, host="127.0.0.1", port=options.port)


if __name__ == "__main__":
    main()
