"""The `langchain` loader: LangChain tools and toolkits as toolwire tools."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from langchain_core.tools import BaseTool, BaseToolkit
from langchain_core.utils.function_calling import convert_to_openai_tool
from toolwire import Tool, ToolSource

from toolwire_langchain._blocks import from_langchain

__all__ = ["LangChainLoader"]


class LangChainInvoker:
    """Runs one LangChain tool with the validated arguments (picklable as the tool is: ships with dill)."""

    __slots__ = ("tool",)

    def __init__(self, tool: BaseTool) -> None:
        self.tool = tool

    def __call__(self, **arguments: Any) -> Any:
        return from_langchain(self.tool.invoke(arguments))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (_portable(self.tool),))


class AsyncLangChainInvoker(LangChainInvoker):
    """Runs a LangChain tool that has a coroutine on the event loop of whoever runs it."""

    __slots__ = ()

    async def __call__(self, **arguments: Any) -> Any:  # type: ignore[override]
        return from_langchain(await self.tool.ainvoke(arguments))



def _portable(tool: BaseTool) -> BaseTool:
    """`tool`, or a copy whose argument model is its JSON Schema where the model cannot be pickled (the
    models `@tool` builds from a signature live nowhere importable); toolwire validated the arguments."""
    schema = tool.args_schema
    importable = isinstance(schema, type) and getattr(sys.modules.get(schema.__module__), schema.__qualname__, None)
    if isinstance(schema, type) and importable is not schema:
        return tool.model_copy(update={"args_schema": schema.model_json_schema()})
    return tool


class LangChainLoader:
    """`registry.load("langchain", source)`: `source` is a `BaseTool`, a `BaseToolkit`, or a list of them.
    Each tool keeps its name, description and argument schema (as LangChain sends it to a model)."""

    def load(self, source: Any) -> list[Tool]:
        return [_tool(tool) for tool in _tools_in(source)]


def _tools_in(source: Any) -> Iterable[BaseTool]:
    items = source if isinstance(source, list | tuple) else [source]
    for item in items:
        if isinstance(item, BaseToolkit):
            yield from item.get_tools()
        elif isinstance(item, BaseTool):
            yield item
        else:
            raise TypeError(f"the langchain loader takes BaseTool or BaseToolkit objects (or a list of them), "
                            f"got {type(item).__name__}; wrap a function with langchain_core.tools.tool first")


def _tool(tool: BaseTool) -> Tool:
    function = convert_to_openai_tool(tool)["function"]
    parameters = dict(function.get("parameters") or {"type": "object", "properties": {}})
    coroutine = getattr(tool, "coroutine", None)
    invoker = AsyncLangChainInvoker(tool) if coroutine is not None and getattr(tool, "func", None) is None \
        else LangChainInvoker(tool)
    return Tool(name=tool.name, description=function.get("description") or tool.description or "",
                parameters=parameters, invoker=invoker,
                source=ToolSource("langchain", f"{type(tool).__module__}.{type(tool).__qualname__}"))
