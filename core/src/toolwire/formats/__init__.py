"""Provider dialects: tool schemas out, tool calls in, results back.

A `Dialect` is offered by a plugin through the `toolwire_formats` hook; the built-in ones
(`openai-chat`, `openai-responses`, `anthropic`, `gemini`) are too.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from toolwire._json_ready import close_coroutines, json_value, lazy_within, valid_texts
from toolwire._schemas import DATA_KEYWORDS, SCHEMA_MAPS, Refs, flat_root, mapped_references
from toolwire.tools import Audio, ContentBlock, Image, Resource, Text, Tool, ToolCall, ToolResult

__all__ = [
    "DATA_KEYWORDS",
    "GENERATED_ID_PREFIX",
    "SCHEMA_MAPS",
    "Dialect",
    "SchemaConversionError",
    "Strictness",
    "block_text",
    "close_coroutines",
    "content_blocks",
    "data_url",
    "dialect_of",
    "flat_root",
    "has_media",
    "json_value",
    "lazy_within",
    "mapped_references",
    "omit_strict_nulls",
    "parse_arguments",
    "parse_calls",
    "rebased_references",
    "referenced",
    "result_data",
    "result_text",
    "schema_problem",
]

GENERATED_ID_PREFIX = "twgen_"
"""Prefix of the ids toolwire gives Gemini calls that arrive without one. A dialect whose provider may
omit ids returns `ToolCall(GENERATED_ID_PREFIX + name, ...)`; `parse_calls` appends each call's rank."""


Strictness = bool | Literal["auto"]
"""What `schemas(strict=...)` takes: True (every tool strict, or an error naming those that cannot be), False,
or "auto" (each tool strict where it can be)."""


class SchemaConversionError(ValueError):
    """Some tools' parameter schemas cannot be expressed in a provider's dialect (or its strict mode).

    `problems` maps each such tool's name to what cannot be converted, each naming a JSON pointer.
    """

    def __init__(self, format: str, problems: Mapping[str, Sequence[str]]) -> None:
        self.format = format
        self.problems = {tool: list(found) for tool, found in problems.items()}
        lines = [f"  {tool}: {problem}" for tool, found in self.problems.items() for problem in found]
        header = f"cannot convert {len(self.problems)} tool schema(s) for '{format}':"
        super().__init__("\n".join([header, *lines]))


class Dialect:
    """One provider's shapes. Subclasses set `name` and implement the three conversions.

    `parse_calls(item)` must be cheap for items that are not its own: test a dict's keys or one
    attribute (`getattr(item, "type", None)`) and return None early.
    """

    name: str = ""

    def tool_schema(self, tool: Tool, *, strict: bool = False) -> dict[str, Any]:
        """The request-side declaration of one tool; raises `SchemaConversionError` if it has none."""
        raise NotImplementedError

    def schemas(self, tools: Sequence[Tool], *, strict: Strictness = False) -> list[dict[str, Any]]:
        """The `tools` list of a request (tools arrive sorted by name, so provider caches hit).

        `strict="auto"`: each tool strict if it can be, as it is without `strict` otherwise. Every tool
        that cannot be converted is named in one `SchemaConversionError`.
        """
        if strict not in (True, False, "auto"):
            raise ValueError(f"strict must be True, False or 'auto', not {strict!r}")
        schemas: list[dict[str, Any]] = []
        problems: dict[str, list[str]] = {}
        target = f"{self.name} (strict)" if strict is True else self.name
        for tool in tools:
            try:
                schemas.append(self._declaration(tool, strict))
            except SchemaConversionError as exc:
                problems.update(exc.problems)
        if problems:
            raise SchemaConversionError(target, problems)
        return schemas

    def _declaration(self, tool: Tool, strict: Strictness) -> dict[str, Any]:
        if strict == "auto":
            try:
                return self.tool_schema(tool, strict=True)
            except SchemaConversionError:
                strict = False
        return self.tool_schema(tool, strict=strict)

    def parse_calls(self, item: Any) -> list[ToolCall] | None:
        """The calls in `item` (one call, a message or a whole response), or None if not this dialect's.

        A recognised item that holds no calls (a text block, a reasoning item) gives `[]`.
        """
        return None


    def parse_batch(self, items: list[Any]) -> list[ToolCall] | None:
        """Every call of a non-empty list whose items are all single calls of this dialect's, in one pass;
        None as soon as one is not (the items are then parsed one by one). Optional: a fast path."""
        return None

    def parse_each(self, items: Any) -> list[ToolCall] | None:
        """The calls in every item of a message; None as soon as one item is not this dialect's."""
        calls: list[ToolCall] = []
        for item in items or ():
            found = self.parse_calls(item)
            if found is None:
                return None
            calls.extend(found)
        return calls

    def tool_messages(
        self, calls: Sequence[ToolCall], results: Sequence[ToolResult], **options: Any
    ) -> list[Any]:
        """What goes back to the model for these results, as items to append to the conversation."""
        raise NotImplementedError


def parse_arguments(raw: Any) -> dict[str, Any] | str:
    """Arguments as a dict; the raw string when it is not a JSON object (reported per call later)."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str):
        return ToolCall("", "", raw).arguments
    if isinstance(raw, Mapping):
        return dict(raw)
    return str(raw)


def parse_calls(calls: Any, dialects: Iterable[Dialect]) -> list[ToolCall]:
    """Turn whatever the provider returned (a list of calls, a message, a response) into `ToolCall`s.

    Anything no dialect recognises becomes a call with no name, reported as `invalid_arguments`.
    Gemini calls without an id get a stable one, `twgen_<name>_<n>`.
    """
    dialects = tuple(dialects)
    if type(calls) is list and calls:  # a batch of one provider's calls: recognise its shape once
        for dialect in dialects:
            whole = dialect.parse_batch(calls)
            if whole is not None:
                return _rank_generated(whole) if _any_generated(whole) else whole
    whole = _parse_one(calls, dialects)
    if whole is None:
        if isinstance(calls, (str, bytes, Mapping)) or not isinstance(calls, Iterable):
            whole = [_unrecognised(calls)]
        else:
            whole = []
            for item in calls:
                found = _parse_one(item, dialects)
                whole.extend(found if found is not None else [_unrecognised(item)])
    return _rank_generated(whole) if _any_generated(whole) else whole


def _any_generated(calls: list[ToolCall]) -> bool:
    """Whether any call may have an id to rank (one search through the ids joined: a tenth of the cost of a
    `startswith` per call; an id with the prefix inside is ranked only if it starts with it)."""
    return GENERATED_ID_PREFIX in "".join([call.id for call in calls])


_owner_of_type: dict[type, str] = {}
"""Which dialect recognised an SDK object's type last: later objects of that type go there first."""


def _parse_one(item: Any, dialects: tuple[Dialect, ...]) -> list[ToolCall] | None:
    if isinstance(item, ToolCall):
        return [item]
    kind = type(item)
    owner = None if kind is dict else _owner_of_type.get(kind)
    if owner is not None:
        for dialect in dialects:
            if dialect.name == owner:
                found = dialect.parse_calls(item)
                if found is not None:
                    return found
    for dialect in dialects:
        found = dialect.parse_calls(item)
        if found is not None:
            if kind is not dict and kind is not list:
                _owner_of_type[kind] = dialect.name
            return found
    return None


def dialect_of(calls: Any, dialects: Iterable[Dialect]) -> str | None:
    """The one dialect whose shape `calls` are in (a response, a message, or a list of calls); None when
    they are `ToolCall`s, of no known shape, or of several."""
    dialects = tuple(dialects)
    whole = _owner(calls, dialects)
    if whole is not None:
        return whole
    if isinstance(calls, (str, bytes, Mapping)) or not isinstance(calls, Iterable):
        return None
    owners = {_owner(item, dialects) for item in calls}
    owners.discard(None)
    return owners.pop() if len(owners) == 1 else None


def _owner(item: Any, dialects: tuple[Dialect, ...]) -> str | None:
    if isinstance(item, ToolCall) or type(item) is list:
        return None
    return next((dialect.name for dialect in dialects if dialect.parse_calls(item) is not None), None)


def _unrecognised(item: Any) -> ToolCall:
    call_id = item.get("id") if isinstance(item, Mapping) else getattr(item, "id", None)
    return ToolCall(id=str(call_id or ""), name="", arguments=repr(item)[:200])


def _rank_generated(calls: list[ToolCall]) -> list[ToolCall]:
    """Complete the provisional ids a dialect gave id-less calls (`twgen_<name>`) with the call's rank
    among them, so that the same response always gets the same, distinct ids. Ids completed before (calls
    parsed once and passed again) are kept, and no rank makes an id another call has."""
    provisional = [call.id == GENERATED_ID_PREFIX + (call.name or "call") for call in calls]
    taken = {call.id for call, waits in zip(calls, provisional, strict=True) if not waits}
    seen: dict[str, int] = {}
    ranked: list[ToolCall] = []
    for call, waits in zip(calls, provisional, strict=True):
        if waits:
            rank = seen.get(call.id, 0) + 1
            while f"{call.id}_{rank}" in taken:
                rank += 1
            seen[call.id] = rank
            call = ToolCall(f"{call.id}_{rank}", call.name, call.text if call.text is not None else call.arguments)
        ranked.append(call)
    return ranked


def omit_strict_nulls(parameters: Mapping[str, Any], arguments: Mapping[str, Any]) -> dict[str, Any]:
    """`arguments` without the nulls a strict-mode model sends for the optional parameters it leaves out
    (where the tool's own schema does not accept null), so the tool's defaults apply."""
    from toolwire._arguments import omit_strict_nulls as omit

    return omit(parameters, arguments)


def result_text(result: ToolResult) -> str:
    """A result as one string for providers that take text: the error, the text, or the value as JSON."""
    if result.error is not None:
        return str(result.error)
    return result.text


def result_data(result: ToolResult, max_chars: int | None = None) -> Any:
    """A successful result as data, for frameworks that hand their model JSON: the value (`json_value`) where the
    content is just its text; else the content as text, which is what the model must read: a tool's own content
    (`ToolOutput(value, content)`: the value is for the program), or content cut to `max_chars` (pass the
    registry's `policy.max_result_chars`, so that the cap holds there too)."""
    content = result.content
    if result.value is None or type(content) is not str or (max_chars is not None and len(content) > max_chars):
        return result.text
    return json_value(result.value)


def data_url(block: Image | Audio | Resource) -> str:
    """A media block's bytes as a `data:` URL, the form most providers and agent frameworks take them in."""
    data = base64.b64encode(block.data or b"").decode("ascii")
    return f"data:{block.mime_type or 'application/octet-stream'};base64,{data}"


def has_media(result: ToolResult) -> bool:
    """Whether a successful result's content holds more than text: an image, a sound or a resource, which
    a provider or framework carries in its own types rather than as text."""
    content = result.content
    return result.error is None and not isinstance(content, str) and \
        not all(isinstance(block, Text) for block in content)


def content_blocks(result: ToolResult) -> tuple[ContentBlock, ...]:
    """A successful result's content blocks; () for a plain text result and for an error."""
    if result.error is not None or isinstance(result.content, str):
        return ()
    return result.content


def block_text(block: ContentBlock) -> str:
    """A content block as text, for a provider or framework that cannot carry it: a text block's text, a
    resource's text, or a note naming what is not shown."""
    if isinstance(block, Text):
        return block.text
    if isinstance(block, Resource):
        if block.text is not None:
            return block.text
        return f"[resource {block.uri} ({block.mime_type or 'binary'})]"
    return f"[{type(block).__name__.lower()} ({block.mime_type}) not shown]"


def referenced(schema: Mapping[str, Any], ref: Any) -> Mapping[str, Any] | None:
    """The schema a local reference in `schema` points at (`#/$defs/Point`, `#/properties/a~1b`,
    `#/properties/from/anyOf/0`: JSON pointer escapes, percent-encoding and list indices followed), or None when
    it leads nowhere, to something that is not an object schema, or to another document."""
    return Refs(schema).resolve(ref)


def rebased_references(schema: Any, at: str, moved: Mapping[str, str] | None = None) -> Any:
    """`schema` with its local references (`$ref: "#..."`) rewritten for the place it gets in a larger
    document, the JSON pointer `at` (a server putting a tool's schema in its own document): a reference into
    a part that moved elsewhere (`moved` maps its old pointer, such as `#/$defs/Point`, to its new one) follows
    it, deeper pointers too; any other (`#`, `#/properties/start`) points under `at`. Other documents'
    references are left as they are."""
    moved = moved or {}

    def reference(ref: str) -> str:
        if not ref.startswith("#"):
            return ref
        for old, new in moved.items():
            if ref == old or ref.startswith(old + "/"):
                return new + ref[len(old):]
        return "#" + at + ref[1:]

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: reference(value) if key == "$ref" and isinstance(value, str) else rewrite(value)
                    for key, value in node.items()}
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    return rewrite(schema)


def schema_problem(schema: dict[str, Any]) -> str | None:
    """What makes `schema` (a tool's parameters) invalid JSON Schema 2020-12, and where in it; None when it is
    valid. A provider refuses a request holding such a tool, and every other tool with it: loaders check the
    schemas they did not generate themselves."""
    import jsonschema_rs

    try:
        jsonschema_rs.meta.validate(schema)
    except jsonschema_rs.ValidationError as exc:
        where = "/".join(str(part) for part in exc.instance_path)
        return f"at '{where}': {exc.message}" if where else exc.message
    except UnicodeEncodeError:  # a lone surrogate in a key, which the registry makes U+FFFD
        return schema_problem(valid_texts(schema))
    except ValueError as exc:  # a set, bytes or a key that is not text: not JSON data at all
        return f"it is not JSON data ({exc})"
    return None
