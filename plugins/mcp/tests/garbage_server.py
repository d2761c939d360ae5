"""A stdio MCP server written by hand that answers `garble` with a line that is not JSON-RPC (and nothing
else), `echo` properly (each `<lone>` in the text sent as the escape of a lone surrogate, as JavaScript writes
text cut inside an emoji), `measure` with the structured result its call gives (its output schema wants a
number), and `answer` with whatever its call asks for (`{"result": ...}` or `{"error": ...}`
sent as they are): what a broken or noisy server does to its client's stream. With `--looping-cursor`, its
listing never ends: each page names the same next one."""

from __future__ import annotations

import json
import sys

TOOLS = [
    {"name": "echo", "description": "Echo text.",
     "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}},
    {"name": "garble", "description": "Answer with garbage.", "inputSchema": {"type": "object", "properties": {}}},
    {"name": "answer", "description": "Answer with the result or error given.", "inputSchema": {"type": "object"}},
    {"name": "measure", "description": "Answer `value` as the structured result its output schema declares a number.",
     "inputSchema": {"type": "object"},
     "outputSchema": {"type": "object", "properties": {"result": {"type": "number"}}, "required": ["result"]}},
]


def send(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def answer(message: dict) -> None:
    method, ident, params = message.get("method"), message.get("id"), message.get("params") or {}
    if ident is None:
        return  # a notification
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": ident, "result": {
            "protocolVersion": params.get("protocolVersion"), "capabilities": {"tools": {}},
            "serverInfo": {"name": "garbage", "version": "1"}}})
    elif method == "tools/list":  # with --also-unreadable, a tool the mcp SDK cannot read as well
        unreadable = [{"name": "bad", "inputSchema": {"type": "array"}}] if "--also-unreadable" in sys.argv else []
        page = {"tools": [*TOOLS, *unreadable]}
        if "--looping-cursor" in sys.argv:  # every page points to the same next one, as a server that echoes it
            page["nextCursor"] = "again"
        send({"jsonrpc": "2.0", "id": ident, "result": page})
    elif method == "tools/call" and params.get("name") == "garble":
        sys.stdout.write("this is not JSON-RPC {\n")
        sys.stdout.write('{"jsonrpc": "2.0", "id": "no such request", "result": {}}\n')
        sys.stdout.flush()
    elif method == "tools/call" and params.get("name") == "answer":
        arguments = params.get("arguments") or {}
        field = "error" if "error" in arguments else "result"
        send({"jsonrpc": "2.0", "id": ident, field: arguments.get(field)})
    elif method == "tools/call" and params.get("name") == "measure":
        value = (params.get("arguments") or {}).get("value")
        send({"jsonrpc": "2.0", "id": ident, "result": {"content": [{"type": "text", "text": json.dumps(value)}],
                                                         "structuredContent": {"result": value}}})
    elif method == "tools/call":
        text = (params.get("arguments") or {}).get("text", "").replace("<lone>", "\ud83d")
        send({"jsonrpc": "2.0", "id": ident, "result": {"content": [{"type": "text", "text": text}], "isError": False}})
    else:
        send({"jsonrpc": "2.0", "id": ident, "error": {"code": -32601, "message": f"no method {method}"}})


for line in sys.stdin:
    answer(json.loads(line))
