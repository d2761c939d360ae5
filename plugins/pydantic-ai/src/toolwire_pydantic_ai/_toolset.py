"""`RegistryToolset`: pydantic-ai's `AbstractToolset` over a toolwire registry."""

from __future__ import annotations

import itertools
from typing import Any

from pydantic_ai import RunContext
from pydantic_ai.exceptions import ApprovalRequired, ModelRetry, ToolFailed
from pydantic_ai.messages import BinaryContent
from pydantic_ai.models import Model
from pydantic_ai.tools import ToolDefinition
from pydantic_ai.toolsets.abstract import AbstractToolset, ToolsetTool
from pydantic_core import SchemaValidator, core_schema
from toolwire import (
    Audio,
    CallBatcher,
    ContentBlock,
    ErrorKind,
    Image,
    Resource,
    ToolCall,
    ToolRegistry,
    ToolResult,
)
from toolwire.formats import block_text, content_blocks, flat_root, has_media, result_data
from toolwire.policies.questions import ROUNDS

from toolwire_pydantic_ai._sampling import sampled_inputs

__all__ = ["RegistryToolset", "registry_toolset"]

_AS_GIVEN = SchemaValidator(core_schema.dict_schema())
"""pydantic-ai's check of the arguments: only that they are an object; toolwire validates them."""


class RegistryToolset(AbstractToolset[Any]):
    """The tools of `registry` for a pydantic-ai agent. `executor` and `timeout` override the registry's
    backend and per-call deadline for these calls; `max_retries` is each tool's retry budget for invalid
    arguments (default: the agent's); `id` names the toolset (needed for durable execution).

    `defer_approvals=True` hands calls that need approval (toolwire's policies) to pydantic-ai's
    human-in-the-loop flow: the run ends with `DeferredToolRequests` (which the agent's output types must
    include), and a later run given `DeferredToolResults(approvals=...)` runs the approved calls and tells the
    model why the others did not run. Without it, such a call's result tells the model approval is pending,
    unless the registry has an `approve=` callback, which answers first either way.

    `sampling_model` (a pydantic-ai model or its name) answers a tool's requests for a reply from the host's model
    (an MCP server's sampling, `input_required`), as pydantic-ai's `MCPToolset(sampling_model=...)` does; the call
    then runs again with the reply, up to `ROUNDS` times. Without it, the model reads the request as the call's
    error."""

    def __init__(self, registry: ToolRegistry, *, executor: str | None = None, timeout: float | None = None,
                 max_retries: int | None = None, id: str | None = None, defer_approvals: bool = False,
                 sampling_model: Model | str | None = None) -> None:
        self.registry = registry
        self.max_retries = max_retries
        self.defer_approvals = defer_approvals
        self.sampling_model = sampling_model
        self._id = id
        self._batcher = CallBatcher(registry, executor=executor, timeout=timeout)
        self._ids = itertools.count(1)

    @property
    def id(self) -> str | None:
        return self._id

    async def get_tools(self, ctx: RunContext[Any]) -> dict[str, ToolsetTool[Any]]:
        retries = self.max_retries if self.max_retries is not None else ctx.max_retries
        return {
            tool.name: ToolsetTool(
                toolset=self,
                tool_def=ToolDefinition(name=tool.name, description=tool.description or None,
                                        parameters_json_schema=flat_root(tool.parameters)),
                max_retries=retries,
                args_validator=_AS_GIVEN,
            )
            for tool in self.registry.list(enabled=True)
        }

    async def call_tool(self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any],
                        tool: ToolsetTool[Any]) -> Any:
        """Run the call with the turn's other calls as one batch; its value as JSON data (its content, media
        included, when it has images, audio or files), or the error as pydantic-ai hands errors to the model."""
        call_id = ctx.tool_call_id or f"pydantic-ai-{next(self._ids)}"
        approved = self.defer_approvals and ctx.tool_call_approved  # approved in pydantic-ai's own flow
        call = ToolCall(call_id, name, tool_args)
        result = await self._batcher.call(call, approved=approved)
        for _ in range(ROUNDS):  # the tool asks the host's model: it has run, so it was approved
            error = result.error
            if self.sampling_model is None or error is None or error.input_required is None:
                break
            inputs = await sampled_inputs(error.input_required, self.sampling_model)
            if inputs is None:
                break
            result = await self._batcher.call(call, approved=True, inputs=inputs)
        error = result.error
        if error is None:
            return _returned(result, self.registry.policy.max_result_chars)
        if error.kind is ErrorKind.INVALID_ARGUMENTS:
            raise ModelRetry(error.message)
        if error.kind is ErrorKind.APPROVAL_PENDING and self.defer_approvals:
            raise ApprovalRequired()
        raise ToolFailed(str(error))


def _returned(result: ToolResult, max_chars: int | None) -> Any:
    if has_media(result):  # pydantic-ai sends media natively where the model takes it
        return [_part(block) for block in content_blocks(result)]
    return result_data(result, max_chars)


def _part(block: ContentBlock) -> str | BinaryContent:
    """A block as pydantic-ai user content: its bytes where pydantic-ai knows their media type, else text."""
    if isinstance(block, Image | Audio | Resource) and block.data is not None and block.mime_type:
        binary = BinaryContent(data=block.data, media_type=block.mime_type)
        try:
            binary.format  # noqa: B018  # raises for a media type pydantic-ai cannot send, which would fail the run
        except ValueError:
            return block_text(block)
        return binary
    return block_text(block)


def registry_toolset(registry: ToolRegistry, **options: Any) -> RegistryToolset:
    """`RegistryToolset(registry, **options)`: `Agent(model, toolsets=[registry_toolset(registry)])`."""
    return RegistryToolset(registry, **options)
