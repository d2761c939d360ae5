"""Questions for the client's user: approval of a call that the registry's approval policy holds, when the client
can show one and the registry has no `approve` callback of its own, and the questions a tool asks (an upstream MCP
server's, passed on by a gateway).

On protocol 2026-07-28 and later a question goes back as an `InputRequiredResult` and the answer comes with
the client's retry of the call; for approval, its `request_state` pins the answer to the tool and the arguments
asked about, so an approval cannot be replayed for other arguments, and a tool's question on an approved call
carries the approval, signed, before the tool's own state. Earlier protocols send `elicitation/create` mid-call.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Mapping
from typing import Any

import mcp_types as types
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from toolwire import Tool
from toolwire.executing import input_answers

__all__ = ["APPROVAL_KEY", "APPROVAL_SCHEMA", "Asking", "asks_by_result", "returned_question"]

log = logging.getLogger("toolwire")

APPROVAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "approve": {"type": "boolean", "title": "Run this call", "default": False},
        "reason": {"type": "string", "title": "If not, why (the model reads it)"},
    },
    "required": ["approve"],
}
"""The form the user answers: run the call or not, and why not."""

APPROVAL_KEY = "toolwire_approval"
"""The key of the approval question among a call's input requests."""
_APPROVED = "toolwire-approved:"
"""How the `request_state` of a tool's question on an approved call starts: the approval's signature follows."""
_APPROVAL_ASKED = {"inputRequests": {APPROVAL_KEY: {"method": "elicitation/create"}}}
"""What approval asks, as `can_take` reads a tool's question."""
_ARGUMENTS_SHOWN = 2000
"""How much of the arguments' JSON the question shows."""


class Asking:
    """Asks a client's user to approve calls, and a tool's questions; one per server (its key signs the questions
    it asked)."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    @classmethod
    def can_ask(cls, ctx: Any) -> bool:
        """Whether the client behind `ctx` takes form elicitation (approval's question) on a channel that can carry
        it."""
        return cls.can_take(ctx, _APPROVAL_ASKED)

    async def ask(self, ctx: Any, params: types.CallToolRequestParams, tool: Tool
                  ) -> bool | str | types.InputRequiredResult | None:
        """The user's answer for this call: True (approved), a reason (denied; empty when none was given), the
        question to return to the client first, or None when asking failed (the call stays pending)."""
        arguments = dict(params.arguments or {})
        shown = json.dumps(arguments, indent=2, default=str)[:_ARGUMENTS_SHOWN]
        question = types.ElicitRequestFormParams(
            message=f"The model wants to run '{tool.name}', which needs your approval, with:\n{shown}",
            requested_schema=APPROVAL_SCHEMA)
        if asks_by_result(ctx):
            if self._approved(params, tool.name):  # the retry of a call approved before, answering its tool
                return True
            state = self._state(tool.name, arguments)
            answer = (params.input_responses or {}).get(APPROVAL_KEY)
            if answer is None or not hmac.compare_digest(params.request_state or "", state):
                return types.InputRequiredResult(input_requests={APPROVAL_KEY: types.ElicitRequest(params=question)},
                                                 request_state=state)
        else:
            try:
                answer = await ctx.session.elicit_form(question.message, question.requested_schema,
                                                       related_request_id=ctx.request_id)
            except Exception as exc:
                log.warning("asking the client to approve '%s' failed: %s", tool.name, exc)
                return None
        return _verdict(answer)

    def approved_state(self, params: types.CallToolRequestParams, name: str, state: str | None) -> str:
        """The `request_state` of the question a tool asks on an approved call (2026 protocol): the approval,
        signed, then the tool's own `state`, so that the client's retry runs without being asked again."""
        return f"{_APPROVED}{self._state(name, dict(params.arguments or {}), 'approved')}:{state or ''}"

    def tool_state(self, params: types.CallToolRequestParams, approval_asked: bool) -> str | None:
        """The tool's own part of the `request_state` a client sent back: all of it, unless this server asked for
        approval (its state is then this server's, with the tool's after a signed approval)."""
        if not approval_asked:
            return params.request_state
        approved = _approval(params.request_state)
        return approved[1] or None if approved is not None else None

    @staticmethod
    def can_take(ctx: Any, asked: Mapping[str, Any]) -> bool:
        """Whether the client behind `ctx` can be put a tool's question (`ToolError.input_required`): it declared what
        each of its requests needs (elicitation in that mode, sampling, with tools if asked, roots), on a channel
        that can carry them."""
        capabilities = ctx.session.client_capabilities
        requests = asked.get("inputRequests")
        if capabilities is None or not isinstance(requests, Mapping) or not all(
                _declared(capabilities, request) for request in requests.values()):
            return False
        return asks_by_result(ctx) or bool(getattr(ctx.session, "can_send_request", True))

    async def answers(self, ctx: Any, asked: Mapping[str, Any]) -> dict[str, Any] | None:
        """A tool's questions (`ToolError.input_required`) put to the client mid-call, on a protocol before
        2026-07-28: the answers as `inputs` for the call's next round, or None when one cannot be asked."""
        from mcp.shared.message import ServerMessageMetadata

        responses = {}
        for key, request in (asked.get("inputRequests") or {}).items():
            try:
                kind, result = _ASKED[request["method"]]
                if result is types.CreateMessageResult and _wants_tools(request):
                    result = types.CreateMessageResultWithTools
                metadata = ServerMessageMetadata(related_request_id=ctx.request_id)
                answer = await ctx.session.send_request(kind.model_validate(request), result, metadata=metadata)
            except Exception as exc:
                log.warning("putting a tool's question (%s) to the client failed: %s", key, exc)
                return None
            responses[key] = answer.model_dump(by_alias=True, mode="json", exclude_none=True)
        return input_answers(responses, asked.get("requestState"))

    def _approved(self, params: types.CallToolRequestParams, name: str) -> bool:
        approved = _approval(params.request_state)
        return approved is not None and hmac.compare_digest(
            approved[0], self._state(name, dict(params.arguments or {}), "approved"))

    def _state(self, name: str, arguments: dict[str, Any], *what: str) -> str:
        """The signature of a question (or, with `what`, of its answer): the tool and its arguments, under this
        server's key."""
        asked = json.dumps([name, arguments, *what], sort_keys=True, default=str, separators=(",", ":"))
        return hmac.new(self._key, asked.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def returned_question(requests: Any, state: str | None) -> types.InputRequiredResult | None:
    """A tool's question as the result of its call (2026 protocol), or None when MCP cannot carry it (nothing asked
    and no state, or requests that are not MCP's)."""
    try:
        return types.InputRequiredResult.model_validate({"inputRequests": requests, "requestState": state})
    except ValueError:
        return None


_ASKED: dict[str, tuple[type[Any], type[Any]]] = {
    "elicitation/create": (types.ElicitRequest, types.ElicitResult),
    "sampling/createMessage": (types.CreateMessageRequest, types.CreateMessageResult),
    "roots/list": (types.ListRootsRequest, types.ListRootsResult),
}
"""What a tool may ask the client, by method: the request and the result that answers it."""


def _declared(capabilities: types.ClientCapabilities, request: Any) -> bool:
    """Whether a client with `capabilities` takes `request` (one of a question's `inputRequests`)."""
    method = request.get("method") if isinstance(request, Mapping) else None
    if method == "elicitation/create":
        elicitation = capabilities.elicitation
        params = request.get("params")
        if elicitation is None:
            return False
        if isinstance(params, Mapping) and params.get("mode") == "url":
            return elicitation.url is not None
        return elicitation.form is not None or elicitation.url is None  # a bare `elicitation: {}` is forms
    if method == "sampling/createMessage":
        sampling = capabilities.sampling
        return sampling is not None and (sampling.tools is not None or not _wants_tools(request))
    return method == "roots/list" and capabilities.roots is not None


def _wants_tools(request: Mapping[str, Any]) -> bool:
    """Whether a sampling request offers the model tools (its answer may use them)."""
    params = request.get("params")
    return isinstance(params, Mapping) and (params.get("tools") is not None or params.get("toolChoice") is not None)


def _approval(state: str | None) -> tuple[str, str] | None:
    """The approval signature and the tool's own state in a `request_state` of `approved_state`, or None."""
    if state is None or not state.startswith(_APPROVED):
        return None
    signature, _, rest = state[len(_APPROVED):].partition(":")
    return signature, rest


def asks_by_result(ctx: Any) -> bool:
    """Whether the call came on a protocol that forbids server-to-client requests (2026-07-28 and later): a
    question goes back as the call's result (`InputRequiredResult`), answered in the client's retry."""
    return getattr(ctx, "protocol_version", None) in MODERN_PROTOCOL_VERSIONS


def _verdict(answer: Any) -> bool | str | None:
    """An `ElicitResult` (or its dict) as the registry's approval answer."""
    if isinstance(answer, dict):
        try:
            answer = types.ElicitResult.model_validate(answer)
        except ValueError:
            return None
    action = getattr(answer, "action", None)
    content = getattr(answer, "content", None) or {}
    if action == "accept" and content.get("approve") is True:
        return True
    if action == "accept":
        reason = content.get("reason")
        return reason.strip() if isinstance(reason, str) else ""
    if action in ("decline", "cancel"):
        return ""
    return None
