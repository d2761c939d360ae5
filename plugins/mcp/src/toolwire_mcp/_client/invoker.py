"""The invoker of an MCP tool: the server's connection parameters and the tool's name, nothing live."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import pydantic_core
from toolwire import ErrorKind, ToolCallError, current_call_id
from toolwire.executing import call_inputs, progress_listened, report_progress

from toolwire_mcp._client import runtime
from toolwire_mcp._client.connection import Connection
from toolwire_mcp._client.results import input_required, value_from_result

if TYPE_CHECKING:
    from mcp_types import CallToolResult, InputRequiredResult

__all__ = ["MCPInvoker", "Progress"]


@dataclass(frozen=True, slots=True)
class Progress:
    """A progress notification the server sent during one call: `call_id` is the model's id for it."""

    call_id: str | None
    tool: str
    arguments: dict[str, Any]
    progress: float
    total: float | None
    message: str | None


@dataclass(frozen=True)
class MCPInvoker:
    """Calls `tool` on the server `connection` describes, over this process's session for it.

    The session is opened on first use in whichever process runs the invoker, and shared by every
    call there. A transport failure is retried once only when `retry` is set (the tool is read-only or
    idempotent). Progress the server reports goes to `toolwire.report_progress` for the call when someone
    listens for it (a toolwire server serving the call), and to `on_progress`, when set, as a `Progress`
    (sync or async; it runs on the session's event-loop thread, and must pickle for the process backend).
    """

    connection: Connection
    tool: str
    retry: bool = False
    on_progress: Callable[[Progress], Any] | None = field(default=None, compare=False)

    async def __call__(self, **arguments: Any) -> Any:
        return await runtime.run(self._call(arguments, call_inputs()))

    async def prepare(self) -> None:
        """Open this process's session to the server now rather than at the first call (`Executor.prepare`)."""
        await runtime.run(self._open())

    async def _open(self) -> None:
        await runtime.session(self.connection).client()

    async def _call(self, arguments: dict[str, Any], inputs: Mapping[str, Any] | None) -> Any:
        callback, call_id = self.on_progress, current_call_id()
        listener = None
        if callback is not None or progress_listened(call_id):  # ask the server for progress only then

            async def listener(progress: float, total: float | None, message: str | None) -> None:
                report_progress(progress, total, message, call_id=call_id)  # a toolwire server serving it hears
                if callback is not None:
                    outcome = callback(Progress(call_id, self.tool, arguments, progress, total, message))
                    if inspect.isawaitable(outcome):
                        await outcome

        try:
            pydantic_core.to_json(arguments)  # what cannot be written would end the session, every call on it
        except ValueError as exc:
            raise ToolCallError(f"the arguments for '{self.tool}' cannot be sent to MCP server "
                                f"{self.connection.detail} ({exc}); send valid Unicode text",
                                ErrorKind.INVALID_ARGUMENTS) from None
        session = runtime.session(self.connection)
        answers = {} if inputs is None else _answers(self.tool, inputs)
        result = await session.call_tool(self.tool, arguments, retry=self.retry, progress=listener, answers=answers)
        if getattr(result, "input_requests", None):  # an `InputRequiredResult`: the server asks first (2026 protocol)
            raise input_required(self.tool, cast("InputRequiredResult", result))
        return value_from_result(cast("CallToolResult", result))


def _answers(tool: str, inputs: Any) -> dict[str, Any]:
    """The `inputs` a caller gave for `tool`'s questions as the mcp SDK's `call_tool` keywords (`input_responses`,
    `request_state`), or the error saying what is wrong with them (the call is not sent)."""
    from mcp_types import CallToolRequestParams

    try:
        if not isinstance(inputs, Mapping):
            raise ValueError(f"an object of 'inputResponses' and 'requestState', not {type(inputs).__name__}")
        params = CallToolRequestParams.model_validate(
            {"name": tool, "inputResponses": inputs.get("inputResponses"), "requestState": inputs.get("requestState")})
    except ValueError as exc:
        raise ToolCallError(f"the answers given to what '{tool}' asked (inputs=) are not MCP input responses: {exc}",
                            ErrorKind.INVALID_ARGUMENTS) from None
    return {"input_responses": params.input_responses, "request_state": params.request_state}
