"""LangChain both ways.

`langchain_tools(registry)`: the registry's tools as LangChain tools for `create_agent` or LangGraph's
`ToolNode`; calls made together on one event loop (the async path, as the agents run them) go out as one
toolwire batch on the registry's backend. `registry.load("langchain", tools_or_toolkit)`: any `BaseTool`
(or a toolkit's tools) as toolwire tools, so that they run on the process backend or on Dask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolwire_langchain._tools import RegistryTool, langchain_tools

__all__ = ["RegistryTool", "langchain_tools"]


def __getattr__(name: str) -> Any:  # imported lazily: plugin discovery imports this package, not LangChain
    if name in __all__:
        from toolwire_langchain import _tools

        return getattr(_tools, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
