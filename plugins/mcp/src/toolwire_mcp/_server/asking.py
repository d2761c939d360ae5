"""Approval asked of the client's user: a call that the registry's approval policy holds is put to the user
through MCP elicitation, when the client can show one and the registry has no `approve` callback of its own.

On protocol 2026-07-28 and later the question goes back as an `InputRequiredResult` and the answer comes with
the client's retry of the call; its `request_state` pins the answer to the tool and the arguments asked about,
so an approval cannot be replayed for other arguments. Earlier protocols send `elicitation/create` mid-call.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from typing import Any

import mcp_types as types
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from toolwire import Tool

__all__ = ["APPROVAL_SCHEMA", "Asking"]

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

_KEY = "toolwire_approval"
_ARGUMENTS_SHOWN = 2000
"""How much of the arguments' JSON the question shows."""


class Asking:
    """Asks a client's user to approve calls; one per server (its key signs the questions it asked)."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    @staticmethod
    def can_ask(ctx: Any) -> bool:
        """Whether the client behind `ctx` takes form elicitation on a channel that can carry it."""
        capabilities = ctx.session.client_capabilities
        elicitation = capabilities.elicitation if capabilities is not None else None
        if elicitation is None or (elicitation.form is None and elicitation.url is not None):
            return False
        return _input_required(ctx) or bool(getattr(ctx.session, "can_send_request", True))

    async def ask(self, ctx: Any, params: types.CallToolRequestParams, tool: Tool
                  ) -> bool | str | types.InputRequiredResult | None:
        """The user's answer for this call: True (approved), a reason (denied; empty when none was given), the
        question to return to the client first, or None when asking failed (the call stays pending)."""
        arguments = dict(params.arguments or {})
        shown = json.dumps(arguments, indent=2, default=str)[:_ARGUMENTS_SHOWN]
        question = types.ElicitRequestFormParams(
            message=f"The model wants to run '{tool.name}', which needs your approval, with:\n{shown}",
            requested_schema=APPROVAL_SCHEMA)
        if _input_required(ctx):
            state = self._state(tool.name, arguments)
            answer = (params.input_responses or {}).get(_KEY)
            if answer is None or not hmac.compare_digest(params.request_state or "", state):
                return types.InputRequiredResult(input_requests={_KEY: types.ElicitRequest(params=question)},
                                                 request_state=state)
        else:
            try:
                answer = await ctx.session.elicit_form(question.message, question.requested_schema,
                                                       related_request_id=ctx.request_id)
            except Exception as exc:
                log.warning("asking the client to approve '%s' failed: %s", tool.name, exc)
                return None
        return _verdict(answer)

    def _state(self, name: str, arguments: dict[str, Any]) -> str:
        """The question's signature: the tool and its arguments, under this server's key."""
        asked = json.dumps([name, arguments], sort_keys=True, default=str, separators=(",", ":"))
        return hmac.new(self._key, asked.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def _input_required(ctx: Any) -> bool:
    """Whether the call came on a protocol that forbids server-to-client requests (2026-07-28 and later)."""
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
