"""The client side: a service's operations as toolwire tools, and the requests their calls send.

Layers, bottom up: `selection`, `redaction`, `origins`, `auth`, `document`, `schema` and `request` (reading
a spec; what a request is); `arguments`, `openapi3` and `swagger2` (an operation as the spec describes it);
`exchange`, `invoker` and `async_invoker` (sending a call); `operations` and `loader` (a spec in, tools
out). Nothing here imports `_server`.
"""
