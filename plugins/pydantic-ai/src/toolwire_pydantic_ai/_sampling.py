"""A tool's request for a reply from the host's model (MCP's `sampling/createMessage`, in its JSON form) answered
by a pydantic-ai model, as pydantic-ai's own MCP client answers a server's sampling requests."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from pydantic_ai import models
from pydantic_ai.direct import model_request
from pydantic_ai.messages import (
    BinaryContent,
    ModelMessage,
    ModelRequest,
    ModelRequestPart,
    ModelResponse,
    SystemPromptPart,
    TextPart,
    UserContent,
    UserPromptPart,
)
from pydantic_ai.settings import ModelSettings
from toolwire.executing import input_answers

__all__ = ["sampled_inputs"]


async def sampled_inputs(question: Mapping[str, Any], model: models.Model | str) -> dict[str, Any] | None:
    """The `inputs` answering `question` (a `ToolError.input_required`) with `model`'s replies, or None when it asks
    for anything else (a question for the user, roots, a reply using tools) or in a shape this cannot send to a
    model."""
    requests = question.get("inputRequests")
    if not isinstance(requests, Mapping) or not requests:
        return None
    prepared = {}
    for key, request in requests.items():
        if not isinstance(request, Mapping) or request.get("method") != "sampling/createMessage" \
                or not isinstance(params := request.get("params"), Mapping) \
                or params.get("tools") is not None or params.get("toolChoice") is not None:  # a model with tools
            return None
        messages = _messages(params)
        if messages is None:
            return None
        prepared[key] = (messages, _settings(params))
    model = models.infer_model(model)
    responses = {}
    for key, (messages, settings) in prepared.items():
        response = await model_request(model, messages, model_settings=settings)
        text = "".join(part.content for part in response.parts if isinstance(part, TextPart))
        responses[key] = {"role": "assistant", "content": {"type": "text", "text": text}, "model": model.model_name,
                          "stopReason": "endTurn"}
    return input_answers(responses, question.get("requestState"))


def _messages(params: Mapping[str, Any]) -> list[ModelMessage] | None:
    """The request's messages as pydantic-ai's; None for content other than text, images and audio."""
    messages: list[ModelMessage] = []
    asking: list[ModelRequestPart] = []
    system = params.get("systemPrompt")
    if isinstance(system, str) and system:
        asking.append(SystemPromptPart(system))
    given = params.get("messages")
    for message in given if isinstance(given, list) else [None]:
        if not isinstance(message, Mapping):
            return None
        content = message.get("content")
        pieces = [_piece(block) for block in (content if isinstance(content, list) else [content])]
        if not pieces or any(piece is None for piece in pieces):
            return None
        if message.get("role") == "user":
            asking.append(UserPromptPart(pieces))  # type: ignore[arg-type]
        elif message.get("role") == "assistant" and all(isinstance(piece, str) for piece in pieces):
            if asking:
                messages.append(ModelRequest(asking))
                asking = []
            messages.append(ModelResponse([TextPart(piece) for piece in pieces]))  # type: ignore[arg-type]
        else:
            return None
    if not asking or not isinstance(asking[-1], UserPromptPart):
        return None  # the model is asked to reply to the user's last message
    messages.append(ModelRequest(asking))
    return messages


def _piece(block: Any) -> UserContent | None:
    if not isinstance(block, Mapping):
        return None
    kind = block.get("type")
    if kind == "text" and isinstance(block.get("text"), str):
        return str(block["text"])
    if kind in ("image", "audio") and isinstance(block.get("data"), str) and isinstance(block.get("mimeType"), str):
        try:
            return BinaryContent(base64.b64decode(block["data"], validate=True), media_type=block["mimeType"])
        except (binascii.Error, ValueError):
            return None
    return None


def _settings(params: Mapping[str, Any]) -> ModelSettings:
    settings = ModelSettings()
    if type(params.get("maxTokens")) is int:
        settings["max_tokens"] = params["maxTokens"]
    if type(params.get("temperature")) in (int, float):
        settings["temperature"] = params["temperature"]
    stop = params.get("stopSequences")
    if isinstance(stop, list) and all(isinstance(item, str) for item in stop):
        settings["stop_sequences"] = stop
    return settings
