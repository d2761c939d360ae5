"""Content blocks made fit for JSON: every text a block carries (its text, URI, MIME type) as valid Unicode."""

from __future__ import annotations

import dataclasses
import operator
from typing import Any

from toolwire._json_ready import valid_text
from toolwire.tools import Audio, ContentBlock, Image, Resource, Text

__all__ = ["valid_blocks"]

_TEXT_FIELDS = {Text: ("text",), Image: ("mime_type",), Audio: ("mime_type",), Resource: ("uri", "mime_type", "text")}


def valid_blocks(content: tuple[ContentBlock, ...]) -> tuple[ContentBlock, ...]:
    """`content` with the texts of each block mended with `valid_text` (itself when none needs it)."""
    mended = tuple(_valid_block(block) for block in content)
    return content if all(map(operator.is_, mended, content)) else mended


def _valid_block(block: ContentBlock) -> ContentBlock:
    fields = _TEXT_FIELDS[type(block)]
    texts = [getattr(block, name) for name in fields]
    if all(text is None or text.isascii() for text in texts):
        return block
    mended: dict[str, Any] = {name: None if text is None else valid_text(text)
                              for name, text in zip(fields, texts, strict=True)}
    return dataclasses.replace(block, **mended)
