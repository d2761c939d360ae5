"""toolwire's `openapi` loader plugin: light to import; httpx and yaml load with the loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toolwire import LoaderSpec, hookimpl

_SPEC_SUFFIXES = (".json", ".yaml", ".yml")
_SPEC_WORDS = ("openapi", "swagger", "api-docs")


def _loader(**options: Any) -> Any:
    from toolwire_openapi._loader import OpenAPILoader

    return OpenAPILoader(**options)


@hookimpl
def toolwire_loaders() -> list[LoaderSpec]:
    return [LoaderSpec("openapi", _loader, "every operation of an OpenAPI 3.x or Swagger 2.0 service")]


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
