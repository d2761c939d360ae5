"""toolregistry-server 0.7.0 serving the benchmark's four functions, in its own isolated environment.

Run by `_serving` as `uv run --isolated --no-project --with "toolregistry-server[mcp,openapi]==0.7.0"
python _toolregistry_server_side.py mcp|http PORT`: MCP over streamable HTTP (`serve_mcp`) or its OpenAPI
HTTP service (`serve_openapi`), on 127.0.0.1. It imports toolregistry and this package's `arith` only.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolwire_bench import arith


def main(protocol: str, port: int) -> None:
    from toolregistry import ToolRegistry
    from toolregistry_server import serve_mcp, serve_openapi

    registry = ToolRegistry()
    for op in arith.OPS:
        registry.register(getattr(arith, op))
    if protocol == "mcp":
        serve_mcp(registry=registry, transport="streamable-http", host="127.0.0.1", port=port)
    else:
        serve_openapi(registry=registry, host="127.0.0.1", port=port)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
