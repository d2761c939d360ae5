"""toolwire-openapi, HTTP both ways: every operation of an OpenAPI 3.0/3.1 or Swagger 2.0 service as a toolwire
tool, and a registry served as an HTTP API with its OpenAPI document.

```python
from toolwire import ToolRegistry

registry = ToolRegistry()
registry.load("openapi", "http://127.0.0.1:8000/openapi.json", namespace="svc")
```

Two sides that never import each other: `_client` (the `openapi` loader and its invokers) and `_server`
(`toolwire serve http`). Importing this package is light: `OpenAPILoader` (and httpx, yaml) load on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolwire_openapi._client.async_invoker import AsyncOpenAPIInvoker, aclose_clients
    from toolwire_openapi._client.document import SpecError
    from toolwire_openapi._client.invoker import OpenAPIInvoker, close_clients
    from toolwire_openapi._client.loader import OpenAPILoader

__all__ = ["AsyncOpenAPIInvoker", "OpenAPIInvoker", "OpenAPILoader", "SpecError", "aclose_clients", "close_clients"]

_HOMES = {
    "OpenAPILoader": "toolwire_openapi._client.loader",
    "OpenAPIInvoker": "toolwire_openapi._client.invoker",
    "close_clients": "toolwire_openapi._client.invoker",
    "AsyncOpenAPIInvoker": "toolwire_openapi._client.async_invoker",
    "aclose_clients": "toolwire_openapi._client.async_invoker",
    "SpecError": "toolwire_openapi._client.document",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'toolwire_openapi' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_HOMES[name]), name)
