"""The built-in dialects, offered through the same hook as third-party ones."""

from __future__ import annotations

from toolwire.hookspecs import FormatSpec, hookimpl


@hookimpl
def toolwire_formats() -> list[FormatSpec]:
    from toolwire.formats.openai_chat import OpenAIChat

    return [FormatSpec("openai-chat", OpenAIChat, "OpenAI Chat Completions function tools")]
