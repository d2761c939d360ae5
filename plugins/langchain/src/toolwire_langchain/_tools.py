"""`langchain_tools`: LangChain `BaseTool`s that run a registry's tools."""

from __future__ import annotations

import functools
import itertools
from typing import Any

from langchain_core.tools import BaseTool, ToolException
from pydantic import ConfigDict
from toolwire import CallBatcher, ToolCall, ToolRegistry, ToolResult
from toolwire.formats import (
    DATA_KEYWORDS,
    SCHEMA_MAPS,
    content_blocks,
    flat_root,
    has_media,
    mapped_references,
    referenced,
    result_data,
)

from toolwire_langchain._blocks import to_langchain

__all__ = ["RegistryTool", "langchain_tools"]

_ids = itertools.count(1)


class RegistryTool(BaseTool):
    """One of a registry's tools as a LangChain tool. The async path (`ainvoke`, what `create_agent` and
    `ToolNode` use from async code) shares one `CallBatcher` per registry, so a turn's calls form one
    batch; the sync path runs each call as a batch of one. A failed call raises `ToolException` with the
    message the model should read; `handle_tool_error` is on, so the model gets it as an error
    `ToolMessage`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    registry: ToolRegistry
    batcher: CallBatcher
    executor: str | None = None
    timeout: float | None = None
    handle_tool_error: bool = True

    def _run(self, /, **arguments: Any) -> Any:  # no `run_manager`: LangChain would put its own over the model's
        [result] = self.registry.execute_tool_calls([ToolCall(_call_id(), self.name, arguments)],
                                                    executor=self.executor, timeout=self.timeout)
        return _answer(result, self.registry.policy.max_result_chars)

    async def _arun(self, /, **arguments: Any) -> Any:
        result = await self.batcher.call(ToolCall(_call_id(), self.name, arguments))
        return _answer(result, self.registry.policy.max_result_chars)


def langchain_tools(registry: ToolRegistry, *, executor: str | None = None,
                    timeout: float | None = None) -> list[RegistryTool]:
    """The registry's enabled tools as LangChain tools (`create_agent(model, tools=langchain_tools(registry))`).
    `executor` and `timeout` override the registry's backend and per-call deadline."""
    batcher = CallBatcher(registry, executor=executor, timeout=timeout)
    return [RegistryTool(name=tool.name, description=tool.description or tool.name,
                         args_schema=_followable(flat_root(tool.parameters)), registry=registry, batcher=batcher,
                         executor=executor, timeout=timeout)
            for tool in registry.list(enabled=True)]


def _followable(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with each reference that LangChain's converter cannot follow (it splits the pointer on `/` and
    raises for one that needs JSON pointer escapes or percent-encoding, leads nowhere or out of the document)
    inlined where it leads, or dropped (any value) where it leads nowhere, and without what it would take for a
    reference though it is none (`_unmistakable`): one such tool would fail `bind_tools`, and every tool with
    it. The tool's own schema still validates the calls."""
    schema = _unmistakable(schema)

    def follow(ref: Any, rest: dict[str, Any], inlining: frozenset[str] = frozenset()) -> Any:
        target = referenced(schema, ref)
        if target is None or ref in inlining:
            return rest  # nowhere to go, or a cycle through an escaped name: any value, as LangChain breaks cycles
        if "~" not in ref and "%" not in ref:
            return {"$ref": ref, **rest}  # LangChain reads it as it is
        return {**mapped_references(target, functools.partial(follow, inlining=inlining | {ref})), **rest}

    return mapped_references(schema, follow)


def _unmistakable(node: Any, names: bool = False) -> Any:
    """`node` (a schema; `names` for a map of names to schemas) without what LangChain's converter takes for a
    reference, which is any object with a `$ref` key: a property or definition named `$ref` (and its place in
    `required`), and data (`default`, `enum`...) holding such an object. It raised for most, and changed an
    `enum` value it could follow into part of the schema."""
    if isinstance(node, list):
        return [_unmistakable(item) for item in node]
    if not isinstance(node, dict):
        return node
    if names:
        return {name: _unmistakable(sub) for name, sub in node.items() if name != "$ref"}
    kept = {}
    for key, value in node.items():
        if key in DATA_KEYWORDS:
            if not _holds_ref_key(value):
                kept[key] = value
        elif key == "required" and isinstance(value, list):
            kept[key] = [name for name in value if name != "$ref"]
        else:
            kept[key] = _unmistakable(value, names=key in SCHEMA_MAPS)
    return kept


def _holds_ref_key(data: Any) -> bool:
    if isinstance(data, list):
        return any(_holds_ref_key(item) for item in data)
    return isinstance(data, dict) and ("$ref" in data or any(_holds_ref_key(item) for item in data.values()))


def _call_id() -> str:
    return f"langchain-{next(_ids)}"


def _answer(result: ToolResult, max_chars: int | None) -> Any:
    """A result as a LangChain tool's output: its data (`toolwire.formats.result_data`), or its content as
    LangChain's standard content blocks (text, image, file) when it holds more than text; an error raises
    `ToolException`."""
    if result.error is not None:
        raise ToolException(str(result.error))
    if has_media(result):
        return [to_langchain(block) for block in content_blocks(result)]
    return result_data(result, max_chars)
