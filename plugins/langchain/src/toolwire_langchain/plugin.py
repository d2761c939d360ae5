"""toolwire-langchain's entry point: the `langchain` loader, light to import (LangChain loads with it)."""

from __future__ import annotations

import sys
from typing import Any

from toolwire import LoaderSpec, hookimpl


def _loader(**options: Any) -> Any:
    from toolwire_langchain._loader import LangChainLoader

    return LangChainLoader(**options)


@hookimpl
def toolwire_loaders() -> list[LoaderSpec]:
    return [LoaderSpec("langchain", _loader, "LangChain tools and toolkits (any BaseTool)")]


@hookimpl
def toolwire_detect_loader(source: Any) -> str | None:
    """`langchain` for a LangChain tool or toolkit (LangChain is imported already if one exists)."""
    tools = sys.modules.get("langchain_core.tools")
    if tools is None:
        return None
    kinds = (tools.BaseTool, tools.BaseToolkit)
    if isinstance(source, kinds) or (isinstance(source, list) and source and all(isinstance(s, kinds) for s in source)):
        return "langchain"
    return None
