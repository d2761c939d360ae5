"""The `langchain` loader: LangChain tools and toolkits as toolwire tools."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, BaseToolkit, InjectedToolArg, InjectedToolCallId
from langchain_core.utils.function_calling import convert_to_openai_tool
from toolwire import Text, Tool, ToolCallError, ToolOutput, ToolSource, current_call_id

from toolwire_langchain._blocks import from_langchain

__all__ = ["LangChainLoader"]


class LangChainInvoker:
    """Runs one LangChain tool with the validated arguments (picklable as the tool is: ships with dill).

    A tool that takes the call's id (`InjectedToolCallId`) or answers content and an artifact is run as
    LangChain's agents run it, with a `ToolCall` carrying `toolwire.current_call_id()`; its artifact becomes
    the result's value, its content what the model reads. Other injected arguments (`InjectedToolArg`) come
    from a LangChain agent's own state, which toolwire does not have: such a tool's calls fail saying so.
    """

    __slots__ = ("call_ids", "tool", "unsupplied")

    def __init__(self, tool: BaseTool, call_ids: tuple[str, ...] = (), unsupplied: tuple[str, ...] = ()) -> None:
        self.tool = tool
        self.call_ids = call_ids
        self.unsupplied = unsupplied

    def __call__(self, **arguments: Any) -> Any:
        return _output(self.tool.invoke(self._input(arguments)))

    def _input(self, arguments: dict[str, Any]) -> dict[str, Any]:
        if self.unsupplied:
            raise ToolCallError(
                f"'{self.tool.name}' takes {', '.join(repr(key) for key in self.unsupplied)}, which LangChain's agents "
                "inject (InjectedToolArg) and toolwire cannot: load a tool that has these values already (one "
                "whose function closes over them)")
        if not self.call_ids and self.tool.response_format != "content_and_artifact":
            return arguments
        call_id = current_call_id() or "toolwire"
        return {"type": "tool_call", "id": call_id, "name": self.tool.name,
                "args": {**arguments, **dict.fromkeys(self.call_ids, call_id)}}

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (_portable(self.tool), self.call_ids, self.unsupplied))


class AsyncLangChainInvoker(LangChainInvoker):
    """Runs a LangChain tool that has a coroutine on the event loop of whoever runs it."""

    __slots__ = ()

    async def __call__(self, **arguments: Any) -> Any:
        return _output(await self.tool.ainvoke(self._input(arguments)))


def _output(returned: Any) -> Any:
    """What a tool run with a `ToolCall` answers (a `ToolMessage`) or any other run returns, as toolwire takes it."""
    if not isinstance(returned, ToolMessage):
        return from_langchain(returned)
    if returned.status == "error":  # the tool's own handle_tool_error answered
        raise ToolCallError(returned.text)
    value = from_langchain(returned.content)
    if returned.artifact is None:
        return value
    blocks = value.content if isinstance(value, ToolOutput) else (Text(returned.text),)
    return ToolOutput(returned.artifact, blocks)


def _injected(tool: BaseTool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The arguments LangChain injects into `tool` instead of the model giving them: the call's id, and others."""
    schema = tool.args_schema
    fields = getattr(schema, "model_fields", None) if isinstance(schema, type) else None
    call_ids: list[str] = []
    others: list[str] = []
    for key, field in (fields or {}).items():
        for marker in getattr(field, "metadata", ()):
            kind = marker if isinstance(marker, type) else type(marker)
            if issubclass(kind, InjectedToolArg):
                (call_ids if issubclass(kind, InjectedToolCallId) else others).append(key)
                break
    return tuple(call_ids), tuple(others)


def _portable(tool: BaseTool) -> BaseTool:
    """`tool`, or a copy whose argument model is its JSON Schema where the model cannot be pickled (the
    models `@tool` builds from a signature live nowhere importable); toolwire validated the arguments."""
    schema = tool.args_schema
    importable = isinstance(schema, type) and getattr(sys.modules.get(schema.__module__), schema.__qualname__, None)
    if isinstance(schema, type) and importable is not schema:
        json_schema = schema.model_json_schema() if hasattr(schema, "model_json_schema") else schema.schema()  # v1
        return tool.model_copy(update={"args_schema": json_schema})
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
    kind = AsyncLangChainInvoker if coroutine is not None and getattr(tool, "func", None) is None else LangChainInvoker
    invoker = kind(tool, *_injected(tool))
    return Tool(name=tool.name, description=function.get("description") or tool.description or "",
                parameters=parameters, invoker=invoker,
                source=ToolSource("langchain", f"{type(tool).__module__}.{type(tool).__qualname__}"))
