"""The server side: a registry served over MCP (`toolwire serve mcp`).

`shapes` turns toolwire tools and results into MCP's; `unreadable` answers what a client sent that could not
be read; `server` runs the transports. Nothing here imports `_client`.
"""
