"""`langchain_tools`: LangChain `BaseTool`s that run a registry's tools."""

from __future__ import annotations

import functools
import itertools
import json
from contextvars import ContextVar
from typing import Any

from langchain_core.tools import BaseTool, ToolException
from pydantic import ConfigDict
from toolwire import CallBatcher, ErrorKind, ToolCall, ToolRegistry, ToolResult
from toolwire.batches import Approval
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
    `ToolMessage`. A call keeps the model's call id (toolwire's results, policies and traces see it).

    With `defer_approvals`, a call that toolwire's approval policy holds pauses the LangGraph run with an
    `interrupt` whose value is LangChain's per-call `ToolApprovalRequest` (`type` "tool_approval",
    `tool_call_id`, `name`, `args`, `description`); the run resumes with `Command(resume=...)` and one of
    LangChain's human-in-the-loop decisions (`{"type": "approve"}`, `{"type": "edit", "edited_action": {"name":
    ..., "args": {...}}}`, `{"type": "reject", "message": ...}`, `{"type": "respond", "message": ...}`) or
    toolwire's own answer (`True`, `False`, a reason, edited arguments)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    registry: ToolRegistry
    batcher: CallBatcher
    executor: str | None = None
    timeout: float | None = None
    defer_approvals: bool = False
    handle_tool_error: bool = True

    def run(self, tool_input: Any, *args: Any, tool_call_id: str | None = None, **kwargs: Any) -> Any:
        token = _model_call_id.set(tool_call_id)  # for `_run`, which LangChain calls in a copy of this context
        try:
            return super().run(tool_input, *args, tool_call_id=tool_call_id, **kwargs)
        finally:
            _model_call_id.reset(token)

    async def arun(self, tool_input: Any, *args: Any, tool_call_id: str | None = None, **kwargs: Any) -> Any:
        token = _model_call_id.set(tool_call_id)
        try:
            return await super().arun(tool_input, *args, tool_call_id=tool_call_id, **kwargs)
        finally:
            _model_call_id.reset(token)

    def _run(self, /, **arguments: Any) -> Any:  # no `run_manager`: LangChain would put its own over the model's
        call = ToolCall(_model_call_id.get() or _call_id(), self.name, arguments)
        [result] = self.registry.execute_tool_calls([call], executor=self.executor, timeout=self.timeout)
        if self.defer_approvals and _held(result):
            approval = _decided(self._asked(call), call.name)
            if isinstance(approval, _Responded):
                return approval.message
            [result] = self.registry.execute_tool_calls([call], executor=self.executor, timeout=self.timeout,
                                                        approvals={call.id: approval})
        return _answer(result, self.registry.policy.max_result_chars)

    async def _arun(self, /, **arguments: Any) -> Any:
        call = ToolCall(_model_call_id.get() or _call_id(), self.name, arguments)
        result = await self.batcher.call(call)
        if self.defer_approvals and _held(result):
            approval = _decided(self._asked(call), call.name)
            if isinstance(approval, _Responded):
                return approval.message
            [result] = await self.registry.aexecute_tool_calls([call], executor=self.executor, timeout=self.timeout,
                                                               approvals={call.id: approval})
        return _answer(result, self.registry.policy.max_result_chars)

    def _asked(self, call: ToolCall) -> Any:
        """Pause the run for a decision on `call` (LangGraph's `interrupt`, which raises to pause and returns the
        decision once the run resumes)."""
        try:
            from langgraph.types import interrupt
        except ImportError:
            raise ImportError("defer_approvals=True pauses the agent with LangGraph's interrupt: install langgraph "
                              "(langchain's create_agent brings it), or leave defer_approvals off") from None
        arguments = json.dumps(call.arguments, ensure_ascii=False, default=str)
        return interrupt({"type": "tool_approval", "tool_call_id": call.id, "name": call.name,
                          "args": call.arguments,
                          "description": f"Tool execution requires approval\n\nTool: {call.name}\nArgs: {arguments}"})


def langchain_tools(registry: ToolRegistry, *, executor: str | None = None, timeout: float | None = None,
                    defer_approvals: bool = False) -> list[RegistryTool]:
    """The registry's enabled tools as LangChain tools (`create_agent(model, tools=langchain_tools(registry))`).
    `executor` and `timeout` override the registry's backend and per-call deadline. `defer_approvals=True`
    puts calls that need approval (toolwire's policies) to a person through a LangGraph `interrupt` (see
    `RegistryTool`; the agent needs a checkpointer); without it, such a call's result tells the model approval is
    pending, unless the registry has an `approve=` callback, which answers first either way."""
    batcher = CallBatcher(registry, executor=executor, timeout=timeout)
    return [RegistryTool(name=tool.name, description=tool.description or tool.name,
                         args_schema=_followable(flat_root(tool.parameters)), registry=registry, batcher=batcher,
                         executor=executor, timeout=timeout, defer_approvals=defer_approvals)
            for tool in registry.list(enabled=True)]


_model_call_id: ContextVar[str | None] = ContextVar("toolwire_langchain_call_id", default=None)
"""The model's id of the call a `RegistryTool` is running (LangChain passes it to `run`, not to `_run`)."""


class _Responded:
    """A person's answer given in place of the tool's (LangChain's `respond` decision): nothing runs."""

    def __init__(self, message: str) -> None:
        self.message = message


def _held(result: ToolResult) -> bool:
    return result.error is not None and result.error.kind is ErrorKind.APPROVAL_PENDING


def _decided(decision: Any, name: str) -> Approval | _Responded:
    """A resume value as toolwire's answer to an approval of a call of `name` (`execute_tool_calls(approvals=...)`):
    an edit may change the arguments, not the tool."""
    if isinstance(decision, dict) and "decisions" in decision:  # a batched HITLResponse, with this call's one decision
        decisions = decision["decisions"]
        if not isinstance(decisions, list) or len(decisions) != 1:
            got = f"{len(decisions)} decisions" if isinstance(decisions, list) else repr(decisions)
            raise ValueError(f"resume a held call of '{name}' with 'decisions' a list of one decision, got {got}")
        decision = decisions[0]
    if isinstance(decision, bool | str):
        return decision
    if isinstance(decision, dict) and "type" not in decision:
        return decision  # toolwire's own answer: the call's arguments, edited
    kind = decision.get("type") if isinstance(decision, dict) else None
    if kind == "approve":
        return True
    if kind == "reject":
        message = decision.get("message")
        return message if isinstance(message, str) else False
    if kind == "respond" and isinstance(decision.get("message"), str):
        return _Responded(decision["message"])
    if kind == "edit" and isinstance(action := decision.get("edited_action"), dict) \
            and isinstance(action.get("args"), dict) and action.get("name", name) == name:
        return action["args"]
    raise ValueError(f"resume a held call of '{name}' with a decision: {{'type': 'approve'}}, {{'type': 'edit', "
                     f"'edited_action': {{'name': '{name}', 'args': {{...}}}}}} (the arguments may change, not the "
                     f"tool), {{'type': 'reject', 'message': ...}}, {{'type': 'respond', 'message': ...}}, or True, "
                     f"False, a reason or the edited arguments; got {decision!r}")


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
