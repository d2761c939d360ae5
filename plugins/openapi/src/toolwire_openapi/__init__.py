"""toolwire-openapi: every operation of an OpenAPI 3.0/3.1 or Swagger 2.0 service as a toolwire tool.

```python
from toolwire import ToolRegistry

registry = ToolRegistry()
registry.load("openapi", "http://127.0.0.1:8000/openapi.json", namespace="svc")
```

Importing this package is light: `OpenAPILoader` (and httpx, yaml) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolwire_openapi._async_invoker import AsyncOpenAPIInvoker, aclose_clients
    from toolwire_openapi._document import SpecError
    from toolwire_openapi._invoker import OpenAPIInvoker, close_clients
    from toolwire_openapi._loader import OpenAPILoader

__all__ = ["AsyncOpenAPIInvoker", "OpenAPIInvoker", "OpenAPILoader", "SpecError", "aclose_clients", "close_clients"]

_HOMES = {
    "OpenAPILoader": "toolwire_openapi._loader",
    "OpenAPIInvoker": "toolwire_openapi._invoker",
    "close_clients": "toolwire_openapi._invoker",
    "AsyncOpenAPIInvoker": "toolwire_openapi._async_invoker",
    "aclose_clients": "toolwire_openapi._async_invoker",
    "SpecError": "toolwire_openapi._document",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'toolwire_openapi' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_HOMES[name]), name)
