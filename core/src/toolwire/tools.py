"""The data model: tools, the calls a model makes, and the results it gets back."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from toolwire._json_ready import json_value, valid_text

__all__ = [
    "Annotations",
    "Audio",
    "ContentBlock",
    "ErrorKind",
    "Image",
    "Resource",
    "Text",
    "Tool",
    "ToolCall",
    "ToolCallError",
    "ToolError",
    "ToolOutput",
    "ToolResult",
    "ToolSource",
    "is_async_callable",
    "load_json",
]

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
"""A tool name every provider accepts (OpenAI, Anthropic and Gemini agree on this subset)."""


class ErrorKind(StrEnum):
    """Why a call failed; a stable vocabulary for programs and models alike."""

    UNKNOWN_TOOL = "unknown_tool"
    DISABLED = "disabled"
    INVALID_ARGUMENTS = "invalid_arguments"
    TOOL_ERROR = "tool_error"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    CANCELLED = "cancelled"
    TRANSPORT = "transport"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    """The call passed a resource limit of its worker (memory, CPU time); the message names the limit."""
    APPROVAL_PENDING = "approval_pending"
    """The call needs approval and none was given yet; nothing ran. Resume with `approvals=`."""
    DENIED = "denied"
    """The call needs approval and was denied; nothing ran. The message carries the reason."""
    INPUT_REQUIRED = "input_required"
    """The tool asked for input before it can finish (a question for the user, a completion from the host's model);
    `ToolError.input_required` says what. Resume with `inputs=`."""


@dataclass(frozen=True, slots=True)
class ToolError:
    """What went wrong with one call: a `kind` from `ErrorKind` and a message for the model; `retry_after`, when
    the tool's service said how many seconds to wait before trying again (an HTTP `Retry-After`); for an
    `input_required` error, `input_required`: what the tool asks, as an MCP `InputRequiredResult` in its JSON form
    (`inputRequests` by key, `requestState`)."""

    kind: ErrorKind
    message: str
    retry_after: float | None = None
    input_required: Mapping[str, Any] | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.message}"


class ToolCallError(Exception):
    """Raised by an invoker to report a failure of a given kind (HTTP 404 -> `tool_error`, ...).

    Any other exception a tool raises becomes a `tool_error` carrying its type and message. A blank message is
    replaced by one that says the tool gave no reason, so the model always reads something.
    """

    def __init__(self, message: str, kind: ErrorKind | str = ErrorKind.TOOL_ERROR, *,
                 retry_after: float | None = None, input_required: Mapping[str, Any] | None = None) -> None:
        text = str(message)
        self.message = text if text.strip() else "the tool failed without saying why"
        super().__init__(self.message)
        self.kind = ErrorKind(kind)
        self.retry_after = retry_after
        """Seconds the tool's service asked to wait before another attempt (the `retries` policy waits that long)."""
        self.input_required = input_required
        """For `input_required`: what the tool asks (`ToolError.input_required`), JSON data."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuilt, (type(self), self.message, self.kind.value, self.retry_after, self.input_required))


def _rebuilt(kind: type[ToolCallError], message: str, error_kind: str, retry_after: float | None,
             input_required: Mapping[str, Any] | None = None) -> ToolCallError:
    return kind(message, error_kind, retry_after=retry_after, input_required=input_required)


@dataclass(frozen=True, slots=True)
class Annotations:
    """Hints about a tool's behaviour, mirroring MCP's tool annotations; `None` means unknown."""

    read_only: bool | None = None
    destructive: bool | None = None
    idempotent: bool | None = None
    open_world: bool | None = None


@dataclass(frozen=True, slots=True)
class ToolSource:
    """Where a tool came from: the loader's name and a detail (a function path, a URL, a command)."""

    loader: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Text:
    """A text content block."""

    text: str


@dataclass(frozen=True, slots=True)
class Image:
    """An image content block: raw bytes and their MIME type."""

    data: bytes
    mime_type: str


@dataclass(frozen=True, slots=True)
class Audio:
    """An audio content block: raw bytes and their MIME type."""

    data: bytes
    mime_type: str


@dataclass(frozen=True, slots=True)
class Resource:
    """A resource content block (an MCP embedded resource, a binary HTTP response...)."""

    uri: str
    mime_type: str | None = None
    text: str | None = None
    data: bytes | None = None


ContentBlock = Text | Image | Audio | Resource
"""One block of a result's content for the model."""


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """What an invoker returns when its result has content blocks as well as (or instead of) a value.

    `content` is a tuple of blocks (a list or a single block is taken too); anything else raises `TypeError`
    here, in the tool, so that the call's error says what was wrong.
    """

    value: Any = None
    content: tuple[ContentBlock, ...] = ()

    def __post_init__(self) -> None:
        content: Any = self.content  # what the tool gave, checked here
        if type(content) is not tuple:
            content = (content,) if type(content) in _BLOCK_FIELDS else content
            if not isinstance(content, tuple | list):
                raise TypeError(f"ToolOutput content is a tuple of content blocks (Text, Image, Audio, Resource), "
                                f"got {_shown(content)}")
            object.__setattr__(self, "content", content := tuple(content))
        for index, block in enumerate(content):
            fields = _BLOCK_FIELDS.get(type(block))
            if fields is None:
                fix = f"; wrap text as Text({_shown(block)})" if isinstance(block, str) else ""
                raise TypeError(f"ToolOutput content[{index}] is {_shown(block)}, not a content block (Text, Image, "
                                f"Audio, Resource){fix}")
            for name, kinds in fields:
                field = getattr(block, name)
                if not isinstance(field, kinds):
                    raise TypeError(f"ToolOutput content[{index}]: {type(block).__name__}.{name} must be "
                                    f"{' or '.join(kind.__name__ for kind in kinds)}, got {_shown(field)}")


_NONE = type(None)
_BLOCK_FIELDS: dict[type, tuple[tuple[str, tuple[type, ...]], ...]] = {
    Text: (("text", (str,)),), Image: (("data", (bytes,)), ("mime_type", (str,))),
    Audio: (("data", (bytes,)), ("mime_type", (str,))),
    Resource: (("uri", (str,)), ("mime_type", (str, _NONE)), ("text", (str, _NONE)), ("data", (bytes, _NONE))),
}
"""Each content block's fields and the types they may hold."""


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:40] + '...'}"


def is_async_callable(obj: Any) -> bool:
    """Whether calling `obj` returns a coroutine (async functions and objects with an async `__call__`)."""
    while hasattr(obj, "func") and hasattr(obj, "args") and hasattr(obj, "keywords"):  # functools.partial
        obj = obj.func
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(type(obj), "__call__", None)  # noqa: B004 - the class's __call__, not the instance's
    return call is not None and not inspect.isfunction(obj) and inspect.iscoroutinefunction(call)


@dataclass(slots=True, eq=False)
class Tool:
    """A tool as the model sees it, and the invoker that runs it.

    `invoker` is a picklable callable (sync or async) holding configuration only; it is called with the
    validated arguments as keywords. `validator`, when set, turns the model's arguments into those
    keywords (coercing and checking them) and raises `ValueError` with a message for the model.
    `affinity`, when set, names a remote resource the tool's calls share, such as one MCP server over
    HTTP: a multi-process backend keeps a batch's async calls of one affinity in one worker, on one
    connection, instead of spreading them over several.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    invoker: Callable[..., Any]
    annotations: Annotations = Annotations()
    tags: frozenset[str] = frozenset()
    enabled: bool = True
    source: ToolSource = ToolSource("unknown")
    output_schema: dict[str, Any] | None = None
    namespace: str | None = None
    affinity: str | None = None
    validator: Callable[[Mapping[str, Any]], dict[str, Any]] | None = field(default=None, repr=False)
    is_async: bool = field(init=False)

    def __post_init__(self) -> None:
        self.is_async = is_async_callable(self.invoker)


_UNPARSED: Any = object()


class ToolCall:
    """One call the model asked for: its `id`, the tool's `name`, and the `arguments` object.

    Arguments may be given as an object or as the model's JSON text. Text is kept as it came (`text`) and
    parsed on first use of `arguments`; when it is not a JSON object, `arguments` is the raw text (the
    registry then reports why, for that call). `arguments` follows the text and cannot be set.
    """

    __slots__ = ("_arguments", "id", "name", "text")
    __match_args__ = ("id", "name", "arguments")

    id: str
    name: str
    text: str | None
    """The arguments' JSON text when the call was made from text, else None."""

    def __init__(self, id: str, name: str, arguments: dict[str, Any] | str | None = None) -> None:
        self.id = id
        self.name = name
        if type(arguments) is str or isinstance(arguments, str):
            self.text = arguments
            self._arguments = _UNPARSED
        else:
            self.text = None
            self._arguments = {} if arguments is None else arguments

    @property
    def arguments(self) -> dict[str, Any] | str:
        """The arguments object; the raw text when it was not a JSON object."""
        value = self._arguments
        if value is _UNPARSED:
            value = self._arguments = _parse_arguments(self.text)  # type: ignore[arg-type]
        return value

    def __eq__(self, other: object) -> bool:
        if type(other) is not ToolCall:
            return NotImplemented
        return (self.id, self.name, self.arguments) == (other.id, other.name, other.arguments)

    def __hash__(self) -> int:
        return hash((self.id, self.name))

    def __repr__(self) -> str:
        return f"ToolCall(id={self.id!r}, name={self.name!r}, arguments={self.arguments!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        arguments = self.text if self._arguments is _UNPARSED else self._arguments
        return (ToolCall, (self.id, self.name, arguments))


def _parse_arguments(text: str) -> dict[str, Any] | str:
    """JSON text as an object; the text itself when it is not one (empty text is no arguments)."""
    if not text:
        return {}
    try:
        parsed = load_json(text)
    except (ValueError, RecursionError):
        return text
    return parsed if isinstance(parsed, dict) else text


def load_json(text: str) -> Any:
    """JSON text as Python values: pydantic-core's parser (several times faster than `json.loads` on small
    objects), and the standard library's for what it refuses that JSON allows (escaped lone surrogates,
    `"\\ud800"`, which models emit for broken emoji halves). Raises pydantic-core's `ValueError` (it says
    where) when neither can read it, `RecursionError` when it nests past the interpreter's limit."""
    import pydantic_core

    try:
        return pydantic_core.from_json(text)
    except (ValueError, TypeError) as exc:  # TypeError: a lone surrogate character that cannot be encoded
        import json

        try:
            return json.loads(text)
        except ValueError:
            raise (exc if isinstance(exc, ValueError) else ValueError(str(exc))) from None


@dataclass(slots=True)
class ToolResult:
    """The result of one call: the Python `value`, the `content` for the model, and any error.

    `attempts` counts the times the call ran (more than one when a retry policy ran it again).
    """

    call_id: str
    name: str
    value: Any = None
    content: str | tuple[ContentBlock, ...] = ""
    is_error: bool = False
    error: ToolError | None = None
    duration_s: float = 0.0
    attempts: int = 1

    @property
    def text(self) -> str:
        """The content as one string (text blocks joined; other blocks named)."""
        if isinstance(self.content, str):
            return self.content
        parts: list[str] = []
        for block in self.content:
            text = block.text if isinstance(block, Text | Resource) else None
            if text is None:
                text = f"[{type(block).__name__.lower()}: {getattr(block, 'mime_type', '')}]"
            parts.append(text)
        return "\n".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """The result as a JSON-ready dict (its text valid Unicode): call_id, name, is_error, value
        (`toolwire.formats.json_value`), content (as text), error (`{"kind", "message"}`, with `retry_after` and
        `input_required` when set, or None), duration_s, attempts."""
        error = self.error
        failure: dict[str, Any] | None = None
        if error is not None:
            failure = {"kind": error.kind.value, "message": error.message}
            if error.retry_after is not None:
                failure["retry_after"] = error.retry_after
            if error.input_required is not None:
                failure["input_required"] = json_value(error.input_required)
        return {
            "call_id": valid_text(self.call_id),
            "name": valid_text(self.name),
            "is_error": self.is_error,
            "value": json_value(self.value),
            "content": valid_text(self.text),
            "error": failure,
            "duration_s": round(self.duration_s, 6),
            "attempts": self.attempts,
        }


_content_slot: Any = ToolResult.__dict__["content"]
"""Where `ToolResult.content` is kept (the slot the dataclass made), under the property that reads it."""
_FLOAT_TEXT: Any = object()
"""Stands for a `ToolResult.content` that is its float value's text (`repr`, JSON's own), made on first read: a
program that reads only `value`, as most do for a large batch, never pays for writing 10,000 floats out
(decision 0078)."""


def _content(result: ToolResult) -> str | tuple[ContentBlock, ...]:
    """What the model reads: text, or content blocks."""
    content = _content_slot.__get__(result)
    if content is _FLOAT_TEXT:
        content = repr(result.value)
        _content_slot.__set__(result, content)
    return content


setattr(ToolResult, "content", property(_content, _content_slot.__set__))  # noqa: B010  (mypy: a slot's name)
