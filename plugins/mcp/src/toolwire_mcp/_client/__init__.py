"""The client side: MCP servers' tools as toolwire tools.

Layers, bottom up: `limits`, `errors` and `connection` (what to reach, nothing live); `stdio`, `sse`,
`http_wrappers` and `transports` (opening a connection); `bridge` and `runtime` (the sessions on the shared
loop); `results`, `invoker`, `tools` and `loader` (tools and their calls). Nothing here imports `_server`.
"""
