"""Content blocks both ways: toolwire's (`Text`, `Image`, `Resource`...) and LangChain's standard ones (`text`,
`image`, `file`), which a tool message carries; audio, which it does not, goes as text."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from langchain_core.messages import content as lc
from toolwire import ContentBlock, Image, Resource, Text, ToolOutput
from toolwire.formats import block_text

__all__ = ["from_langchain", "to_langchain"]


def to_langchain(block: ContentBlock) -> lc.ContentBlock:
    """A toolwire block as a LangChain content block: images and files with their bytes, anything else as text."""
    if isinstance(block, Image | Resource) and block.data:
        data, mime_type = base64.b64encode(block.data).decode("ascii"), block.mime_type or "application/octet-stream"
        if isinstance(block, Image):
            return lc.create_image_block(base64=data, mime_type=mime_type)
        return lc.create_file_block(base64=data, mime_type=mime_type, filename=block.uri.rsplit("/", 1)[-1])
    return lc.create_text_block(text=block_text(block))


def from_langchain(value: Any) -> Any:
    """What a LangChain tool returned, as toolwire takes it: a list of content blocks holding an image or a file
    with its bytes becomes a `ToolOutput` of toolwire blocks (the model then gets the image, not its base64 as
    text); any other value is returned as it is."""
    if not isinstance(value, list) or not any(isinstance(item, dict) and item.get("type") in ("image", "file")
                                              for item in value):
        return value
    blocks = [block for item in value if (block := _block(item)) is not None]
    return ToolOutput(None, tuple(blocks)) if len(blocks) == len(value) else value


def _block(item: Any) -> ContentBlock | None:
    """`item` as a toolwire block; `None` when it is not a block toolwire can carry (an image by URL, say)."""
    if isinstance(item, str):
        return Text(item)
    if not isinstance(item, dict):
        return None
    kind = item.get("type")
    if kind == "text" and isinstance(item.get("text"), str):
        return Text(item["text"])
    data, mime_type = item.get("base64"), item.get("mime_type")
    if kind not in ("image", "file") or not isinstance(data, str) or not isinstance(mime_type, str):
        return None
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    if kind == "image":
        return Image(decoded, mime_type)
    filename = (item.get("extras") or {}).get("filename") or "file"
    return Resource(f"file:///{filename}", mime_type, data=decoded)
