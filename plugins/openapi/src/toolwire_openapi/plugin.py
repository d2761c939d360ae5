"""toolwire-openapi's entry point: the `openapi` loader and the `http` server, light to import (httpx and
yaml load with the loader; starlette and uvicorn with the server)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolwire import LoaderSpec, ServerSpec, hookimpl

if TYPE_CHECKING:
    from toolwire import ToolRegistry

    from toolwire_openapi._server.server import HTTPRegistryServer

_SPEC_SUFFIXES = (".json", ".yaml", ".yml")
_SPEC_WORDS = ("openapi", "swagger", "api-docs")


def _loader(**options: Any) -> Any:
    from toolwire_openapi._client.loader import OpenAPILoader

    return OpenAPILoader(**options)


@hookimpl
def toolwire_loaders() -> list[LoaderSpec]:
    return [LoaderSpec("openapi", _loader, "every operation of an OpenAPI 3.x or Swagger 2.0 service")]


def _serve(registry: ToolRegistry, **options: Any) -> HTTPRegistryServer:
    from toolwire_openapi._server.server import HTTPRegistryServer

    return HTTPRegistryServer(registry, **options)


@hookimpl
def toolwire_servers() -> list[ServerSpec]:
    return [ServerSpec("http", _serve, "the registry's tools as an HTTP API with its OpenAPI document")]


@hookimpl
def toolwire_detect_loader(source: Any) -> str | None:
    """`openapi` for a spec dict, a spec URL named like one, or a spec file that says it is one."""
    if isinstance(source, dict):
        return "openapi" if "openapi" in source or "swagger" in source else None
    if isinstance(source, str) and source.startswith(("http://", "https://")):
        last = source.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1].lower()
        return "openapi" if any(word in last for word in _SPEC_WORDS) else None
    if isinstance(source, str | Path) and str(source).lower().endswith(_SPEC_SUFFIXES):
        return "openapi" if _declares_spec(Path(source)) else None
    return None


def _declares_spec(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as file:
            head = file.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return any(marker in head for marker in ('"openapi"', '"swagger"', "openapi:", "swagger:"))
