"""Helpers the built-in dialects share: call construction, argument text, base64."""

from __future__ import annotations

import base64
import json
from typing import Any

from toolwire.formats import parse_arguments
from toolwire.tools import ToolCall

__all__ = ["arguments_text", "b64", "make_call"]


def make_call(call_id: Any, name: Any, arguments: Any) -> ToolCall:
    """A `ToolCall` from loosely typed provider fields (None -> empty; JSON text kept, parsed on use)."""
    if type(arguments) is not str:
        arguments = parse_arguments(arguments)
    return ToolCall(str(call_id or ""), str(name or ""), arguments)


def arguments_text(call: ToolCall) -> str:
    """A call's arguments as the JSON text providers echo back: the text they came as, else the object
    as JSON (`{}` for one nested too deep to write, which never ran)."""
    if call.text is not None:
        return call.text
    try:
        return json.dumps(call.arguments, ensure_ascii=False, default=str)
    except (RecursionError, ValueError):  # nested past the limit: the call never ran and its result says why
        return "{}"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
