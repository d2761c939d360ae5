"""The server side: a registry served as an HTTP API (`toolwire serve http`).

`shapes` makes the OpenAPI document and the problem+json errors; `server` serves them with starlette and
uvicorn. Nothing here imports `_client`.
"""
