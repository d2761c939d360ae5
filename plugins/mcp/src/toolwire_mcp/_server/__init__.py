"""The server side: a registry served over MCP (`toolwire serve mcp`).

`shapes` turns toolwire tools and results into MCP's; `server` runs the transports. Nothing here imports
`_client`.
"""
