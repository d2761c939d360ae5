"""The built-in dialects, offered through the same hook as third-party ones."""

from __future__ import annotations

from toolwire.hookspecs import FormatSpec, hookimpl


@hookimpl
def toolwire_formats() -> list[FormatSpec]:
    from toolwire.formats.anthropic import Anthropic
    from toolwire.formats.gemini import Gemini
    from toolwire.formats.openai_chat import OpenAIChat
    from toolwire.formats.openai_responses import OpenAIResponses

    return [
        FormatSpec("openai-chat", OpenAIChat, "OpenAI Chat Completions function tools"),
        FormatSpec("openai-responses", OpenAIResponses, "OpenAI Responses API function tools"),
        FormatSpec("anthropic", Anthropic, "Anthropic Messages tool use"),
        FormatSpec("gemini", Gemini, "Google Gemini function declarations (google-genai)"),
    ]
