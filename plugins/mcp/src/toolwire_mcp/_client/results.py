"""An MCP `CallToolResult` as the value an invoker returns, or the error it raises."""

from __future__ import annotations

import base64
import functools
from typing import TYPE_CHECKING, Any

from toolwire import Audio, ContentBlock, ErrorKind, Image, Resource, Text, ToolCallError, ToolOutput

if TYPE_CHECKING:
    from mcp.types import (
        AudioContent,
        BlobResourceContents,
        CallToolResult,
        EmbeddedResource,
        ImageContent,
        InputRequiredResult,
        ResourceLink,
        TextContent,
        TextResourceContents,
    )

__all__ = ["input_required", "value_from_result"]


def value_from_result(result: CallToolResult) -> Any:
    """The call's value: the structured content (or the text) plus content blocks; errors raise."""
    blocks = tuple(block for item in result.content if (block := _block(item)) is not None)
    if result.is_error:
        text = "\n".join(b.text for b in blocks if isinstance(b, Text) and b.text.strip())
        raise ToolCallError(text or "the tool reported an error without saying why", kind="tool_error")
    if result.structured_content is not None:
        return ToolOutput(value=result.structured_content, content=blocks)
    if len(blocks) == 1 and isinstance(blocks[0], Text):
        return blocks[0].text
    return ToolOutput(value=None, content=blocks)


@functools.cache
def _content_types() -> tuple[type[TextContent], type[ImageContent], type[AudioContent], type[EmbeddedResource],
                              type[BlobResourceContents], type[TextResourceContents], type[ResourceLink]]:
    """The `mcp.types` content classes, imported on first use rather than with this module."""
    from mcp.types import (
        AudioContent,
        BlobResourceContents,
        EmbeddedResource,
        ImageContent,
        ResourceLink,
        TextContent,
        TextResourceContents,
    )

    return (TextContent, ImageContent, AudioContent, EmbeddedResource, BlobResourceContents, TextResourceContents,
            ResourceLink)


def _block(item: Any) -> ContentBlock | None:
    (TextContent, ImageContent, AudioContent, EmbeddedResource, BlobResourceContents, TextResourceContents,
     ResourceLink) = _content_types()
    if isinstance(item, TextContent):
        return Text(item.text)
    if isinstance(item, ImageContent):
        return Image(_decoded(item.data, "image"), item.mime_type)
    if isinstance(item, AudioContent):
        return Audio(_decoded(item.data, "audio"), item.mime_type)
    if isinstance(item, EmbeddedResource):
        contents = item.resource
        if isinstance(contents, TextResourceContents):
            return Resource(str(contents.uri), contents.mime_type, text=contents.text)
        if isinstance(contents, BlobResourceContents):
            return Resource(str(contents.uri), contents.mime_type, data=_decoded(contents.blob, "resource"))
    if isinstance(item, ResourceLink):
        return Resource(str(item.uri), item.mime_type)
    return None


def _decoded(data: str, block: str) -> bytes:
    try:  # strict (a character outside base64 is an error, not skipped), but lines may be wrapped
        return base64.b64decode("".join(data.split()), validate=True)
    except ValueError as exc:  # binascii.Error
        raise ToolCallError(f"the MCP server sent a content block ({block}) whose data is not base64 ({exc})") from None


def input_required(tool: str, result: InputRequiredResult) -> ToolCallError:
    """The `input_required` error of a call whose server asks for input first: the request for whoever called (a
    toolwire server puts it to its own client), and, for the model, what is asked and that the call goes on once
    it is answered."""
    asked = []
    for request in (result.input_requests or {}).values():
        if request.method == "elicitation/create":
            asked.append(f"a question for the user: {getattr(request.params, 'message', '')!r}")
        elif request.method == "sampling/createMessage":
            asked.append("a reply from the host's model")
        else:
            asked.append("the client's roots")
    return ToolCallError(f"'{tool}' needs input before it can finish ({'; '.join(asked)}) and has not finished yet; "
                         "it goes on once that is answered", ErrorKind.INPUT_REQUIRED,
                         input_required=result.model_dump(by_alias=True, mode="json", exclude_none=True,
                                                          include={"input_requests", "request_state"}))
