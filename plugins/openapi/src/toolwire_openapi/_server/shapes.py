"""The HTTP server's shapes: a registry's tools as an OpenAPI 3.1 document, a failed call as a problem
(RFC 9457) with the status its kind maps to. Pure data; `server` serves them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from toolwire import ErrorKind, Tool
from toolwire.formats import rebased_references

__all__ = ["STATUS", "openapi_document", "problem"]

STATUS: Mapping[ErrorKind, int] = {
    ErrorKind.UNKNOWN_TOOL: 404,
    ErrorKind.DISABLED: 404,
    ErrorKind.INVALID_ARGUMENTS: 422,
    ErrorKind.APPROVAL_PENDING: 403,
    ErrorKind.DENIED: 403,
    ErrorKind.INPUT_REQUIRED: 403,
    ErrorKind.TOOL_ERROR: 500,
    ErrorKind.CRASHED: 500,
    ErrorKind.RESOURCE_EXHAUSTED: 500,
    ErrorKind.TRANSPORT: 502,
    ErrorKind.CANCELLED: 503,
    ErrorKind.TIMEOUT: 504,
}
"""The HTTP status of a failed call, by its error kind (docs/decisions/0035)."""

_PROBLEM = "application/problem+json"
_PROBLEM_SCHEMA = {
    "type": "object",
    "description": "What went wrong (RFC 9457); `detail` is the message a model would read.",
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"},
        "kind": {"type": "string", "enum": [kind.value for kind in ErrorKind] + ["bad_request"]},
        "tool": {"type": "string"}, "call_id": {"type": "string"},
    },
    "required": ["title", "status", "detail", "kind"],
}
_RESULT_SCHEMA = {
    "type": "object",
    "description": "One call's result, in the order of the calls.",
    "properties": {
        "call_id": {"type": "string"}, "name": {"type": "string"}, "is_error": {"type": "boolean"},
        "value": {"description": "The tool's value (JSON)"}, "content": {"type": "string"},
        "error": {"anyOf": [{"type": "null"}, {"type": "object", "properties": {
            "kind": {"type": "string"}, "message": {"type": "string"}, "retry_after": {"type": "number"},
            "input_required": {"type": "object", "description": "What the tool asks before it can finish "
                               "(an MCP InputRequiredResult's inputRequests and requestState)"}},
            "required": ["kind", "message"]}]},
        "duration_s": {"type": "number"}, "attempts": {"type": "integer"},
        "blocks": {"type": "array", "items": {"type": "object"},
                   "description": "The content as MCP content blocks, when it holds an image, a sound or a file"},
    },
    "required": ["call_id", "name", "is_error", "value", "content", "error"],
}


_ANSWER = "The tool's value (JSON); without one, its text, or the image, sound or file it returned as itself"


def problem(status: int, kind: str, detail: str, **extra: Any) -> dict[str, Any]:
    """An RFC 9457 problem: `kind` (an `ErrorKind` value, or `bad_request` for a request that is not
    one) and the `detail` a model or a person can act on, plus members such as `tool` and `call_id`."""
    return {"type": "about:blank", "title": kind.replace("_", " "), "status": status, "detail": detail,
            "kind": kind, **extra}


def openapi_document(tools: Iterable[Tool], *, title: str, version: str, secured: bool) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the server: `POST /tools/{name}` per tool (its input schema as the JSON
    body, its output schema as the 200 response), `POST /calls` and `GET /healthz`."""
    schemas: dict[str, Any] = {"Problem": _PROBLEM_SCHEMA, "Result": _RESULT_SCHEMA}
    paths: dict[str, Any] = {}
    for tool in tools:
        operation_at = f"/paths/{_escaped(f'/tools/{tool.name}')}/post"
        parameters = _relocated(dict(tool.parameters), tool.name, schemas,
                                f"{operation_at}/requestBody/content/application~1json/schema")
        parameters.setdefault("type", "object")
        output = _relocated(dict(tool.output_schema), f"{tool.name}.result", schemas,
                            f"{operation_at}/responses/200/content/application~1json/schema"
                            ) if tool.output_schema else {}
        operation: dict[str, Any] = {
            "operationId": tool.name,
            "summary": (tool.description or tool.name).strip().split("\n", 1)[0][:120],
            "requestBody": {"required": bool(parameters.get("required")),
                            "content": {"application/json": {"schema": parameters}}},
            "responses": {"200": {"description": _ANSWER, "content": {"application/json": {"schema": output}}},
                          "default": {"$ref": "#/components/responses/Problem"}},
        }
        if tool.description:
            operation["description"] = tool.description
        if tool.tags:
            operation["tags"] = sorted(tool.tags)
        paths[f"/tools/{tool.name}"] = {"post": operation}
    paths["/calls"] = {"post": {
        "operationId": "toolwire_calls", "x-toolwire-tool": False,
        "summary": "Execute a batch of tool calls in any provider's shape",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "description": "The model's tool calls: a list of calls, an assistant message or a response, in the "
                           "shape of OpenAI Chat or Responses, Anthropic or Gemini; or, to resume calls that need "
                           "approval, {\"calls\": those, \"approvals\": {call id: true, false, a reason the model "
                           "reads, or edited arguments}}"}}}},
        "responses": {"200": {"description": "One result per call, in order", "content": {"application/json": {
            "schema": {"type": "object", "properties": {"results": {
                "type": "array", "items": {"$ref": "#/components/schemas/Result"}}}, "required": ["results"]}}}},
            "default": {"$ref": "#/components/responses/Problem"}},
    }}
    paths["/healthz"] = {"get": {
        "operationId": "toolwire_health", "x-toolwire-tool": False,
        "summary": "Whether the server serves, and how many tools",
        "responses": {"200": {"description": "Serving", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"status": {"type": "string"}, "tools": {"type": "integer"}}}}}}},
    }}
    components: dict[str, Any] = {
        "schemas": schemas,
        "responses": {"Problem": {"description": "The call failed, or the request was refused",
                                  "content": {_PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}}},
    }
    document: dict[str, Any] = {"openapi": "3.1.0", "info": {"title": title, "version": version},
                                "paths": paths, "components": components}
    if secured:
        components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        document["security"] = [{"bearer": []}]
    return document


def _relocated(schema: dict[str, Any], owner: str, schemas: dict[str, Any], at: str) -> dict[str, Any]:
    """`schema`, to be placed at the JSON pointer `at` of the document, with its local definitions (`$defs`,
    `definitions`) moved under components/schemas as `{owner}.{name}` and each of its references rewritten to
    resolve inside the document: to a moved definition, or (any other pointer into the schema, such as
    `#/properties/a` or `#`) under `at`."""
    moved: dict[str, str] = {}
    definitions: list[tuple[str, Any]] = []
    for key in ("$defs", "definitions"):
        found = schema.get(key)
        if not isinstance(found, Mapping):
            continue
        del schema[key]
        for name, definition in found.items():
            component = _component(f"{owner}.{name}", schemas)
            schemas[component] = None  # taken: filled below, once every reference is known
            moved[f"#/{key}/{_escaped(name)}"] = f"#/components/schemas/{component}"
            definitions.append((component, definition))
    rewritten = rebased_references(schema, at, moved)
    for component, definition in definitions:
        schemas[component] = rebased_references(definition, at, moved)
    return rewritten


def _component(wanted: str, schemas: Mapping[str, Any]) -> str:
    """`wanted` as a component name OpenAPI allows (letters, digits, `.`, `-`, `_`), not yet taken."""
    name = _NOT_IN_A_NAME.sub("_", wanted)
    taken, count = name, 1
    while taken in schemas:
        count += 1
        taken = f"{name}_{count}"
    return taken


def _escaped(key: str) -> str:
    """`key` as one JSON pointer token."""
    return key.replace("~", "~0").replace("/", "~1")


_NOT_IN_A_NAME = re.compile(r"[^A-Za-z0-9._-]")
