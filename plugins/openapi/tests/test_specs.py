"""Every spec in ../shared/specs: loads, has one valid tool per operation, and builds its requests right.

Requests go to a local echo server (it answers with the method, raw path, query, headers and body it
received), and each argument is checked against the place the spec's own parameter object names.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote

import jsonschema
import pytest
from google.genai import types as gemini_types
from toolwire import ToolCall, ToolRegistry
from toolwire_openapi import OpenAPILoader, SpecError
from toolwire_openapi._client.document import parse

support = sys.modules["toolwire_openapi_test_support"]  # loaded by conftest.py
SPECS, LoopExecutor = support.SPECS, support.LoopExecutor

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
SPEC_FILES = sorted(p.name for p in SPECS.iterdir()) if SPECS.is_dir() else []
PROPERTY_KEY = re.compile(r"^[a-zA-Z0-9_.-]{1,64}$")
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def raw_spec(specs: Path, name: str) -> dict[str, Any]:
    return parse((specs / name).read_text(), name)


def _walk(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[unquote(part).replace("~1", "/").replace("~0", "~")]
    return node


def follow(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        node = _walk(document, node["$ref"])
    return node


def operations(document: dict[str, Any]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """'METHOD /path' -> (path item, operation), counted straight from the document."""
    found = {}
    for path, item in (document.get("paths") or {}).items():
        item = follow(document, item)
        for method, operation in item.items():
            if method in METHODS:
                found[f"{method.upper()} {path}"] = (item, operation)
    return found


@pytest.mark.parametrize("name", SPEC_FILES)
def test_loads_one_valid_tool_per_operation(specs: Path, name: str) -> None:
    document = raw_spec(specs, name)
    registry = ToolRegistry(executor=LoopExecutor())
    with registry:
        try:
            tools = registry.load("openapi", str(specs / name))
        except SpecError as exc:  # a relative server URL in a file: refused until base_url says where
            assert "is relative" in str(exc) and "pass base_url=" in str(exc)
            tools = registry.load("openapi", str(specs / name), base_url="http://127.0.0.1:9")
        assert sorted(t.source.detail for t in tools) == sorted(operations(document))
        assert len({t.name for t in tools}) == len(tools)
        for tool in tools:
            assert TOOL_NAME.match(tool.name), tool.name
            jsonschema.Draft202012Validator.check_schema(tool.parameters)
            assert all(PROPERTY_KEY.match(key) for key in tool.parameters["properties"]), tool.parameters
        for format in registry.plugins.formats():
            registry.schemas(format=format)  # a dialect raises SchemaConversionError on what it cannot take
        for tool in registry.schemas(format="gemini"):
            gemini_types.Tool.model_validate(tool)


FORMATS = {"date-time": "2024-05-06T07:08:09Z", "date": "2024-05-06", "email": "someone@example.com",
           "uuid": "8c2e5a7e-0b5f-4b59-9a43-3f1f0cc1f2a1", "uri": "https://example.com/v1", "ipv4": "192.0.2.7"}
"""Values for strings whose schema names a format (the core checks formats)."""


def sample(schema: dict[str, Any], key: str, depth: int = 0) -> Any:
    """A value the schema accepts at its top level, distinctive enough to be found on the wire."""
    if "enum" in schema:
        return next(v for v in schema["enum"] if v is not None)
    for choice in ("anyOf", "oneOf"):
        if choice in schema:
            return sample(next(s for s in schema[choice] if s.get("type") != "null"), key, depth)
    kind = schema.get("type", "object" if "properties" in schema else "string")
    kind = next(k for k in kind if k != "null") if isinstance(kind, list) else kind
    if kind in ("integer", "number"):
        value = 7 if kind == "integer" else 1.5
        return min(max(value, schema.get("minimum", value)), schema.get("maximum", value))
    if kind == "boolean":
        return True
    if kind == "array":
        item = sample(schema.get("items") or {}, key, depth + 1)
        return [item, item] if not isinstance(item, dict) else [item]
    if kind == "object":
        properties = schema.get("properties") or {"k": {"type": "string"}}
        required = set(schema.get("required") or ())
        chosen = [k for k in properties if k in required] + [k for k in properties if k not in required][:3]
        return {k: sample(properties[k], k, depth + 1) for k in chosen if depth < 2 or k in required}
    text = FORMATS.get(schema.get("format"), f"{key} v/1")
    return text[:schema["maxLength"]] if "maxLength" in schema else text


def test_requests_put_every_argument_where_the_spec_says(specs: Path, echo) -> None:
    checked = 0
    for name in SPEC_FILES:
        document = raw_spec(specs, name)
        spec_operations = operations(document)
        swagger = "swagger" in document
        with ToolRegistry(executor=LoopExecutor()) as registry:
            tools = registry.load("openapi", str(specs / name), base_url=echo.url + "/base",
                                  env_prefix="TOOLWIRE_TEST_UNSET_")
            calls = []
            for tool in tools:
                properties = tool.parameters["properties"]
                calls.append(ToolCall(tool.name, tool.name, {k: sample(v, k) for k, v in properties.items()}))
            results = registry.execute_tool_calls(calls)
        for tool, call, result in zip(tools, calls, results, strict=True):
            assert not result.is_error, (name, tool.name, result.content)
            item, raw = spec_operations[tool.source.detail]
            method, path = tool.source.detail.split(" ", 1)
            received = result.value
            if method == "HEAD":
                assert received["status"] == 200
                continue
            assert received["method"] == method
            check_request(document, swagger, item, raw, path, tool, call.arguments, received)
            checked += 1
    assert checked > 150


def check_request(document: dict[str, Any], swagger: bool, item: dict[str, Any], raw: dict[str, Any], path: str,
                  tool: Any, arguments: dict[str, Any], received: dict[str, Any]) -> None:
    keys = {(p.location, p.name): p.key for p in tool.invoker.operation.params}
    query = parse_qs(received["query"], keep_blank_values=True)
    expected_path = path
    params = {}
    for param in [*(item.get("parameters") or []), *(raw.get("parameters") or [])]:
        param = follow(document, param)
        params[(param["in"], param["name"])] = param
    body_fields: dict[str, Any] = {}
    for (place, name), param in params.items():
        if place == "header" and name.lower() in ("accept", "content-type", "authorization"):
            continue
        if place in ("body", "formData"):
            continue
        value = arguments[keys[(place, name)]]
        if place == "path":
            expected_path = expected_path.replace("{" + name + "}", quote(str(value), safe=""))
        elif place == "query":
            if isinstance(value, list):
                multi = param.get("collectionFormat") == "multi" if swagger else param.get("explode", True)
                assert query[name] == ([str(v) for v in value] if multi else [",".join(map(str, value))])
            else:
                assert query[name] == [_wire(value)], (name, query)
        elif place == "header":
            text = ",".join(map(str, value)) if isinstance(value, list) else _wire(value)
            assert received["headers"][name.lower()] == text
        elif place == "cookie":
            assert f"{name}={_wire(value)}" in received["headers"]["cookie"]
    assert received["raw_path"] == "/base" + expected_path
    operation = tool.invoker.operation
    if operation.body is None:
        return
    media = operation.body.media_type
    if operation.body.key is not None:
        body_fields = {None: arguments[operation.body.key]}
    else:
        body_fields = {wire: arguments[key] for key, wire in operation.body.fields}
    content_type = received["headers"].get("content-type", "")
    if "json" in media:
        sent = json.loads(received["body"])
        assert sent == body_fields.get(None, body_fields)
        assert content_type == media
    elif media == "application/x-www-form-urlencoded":
        sent = parse_qs(received["body"])
        assert set(sent) == set(body_fields)
        assert content_type == media
    elif media.startswith("multipart/"):
        assert content_type.startswith("multipart/form-data")
        for field in body_fields:
            assert f'name="{field}"' in received["body"]
    else:
        assert content_type == media
        assert received["body"] == body_fields[None]


def _wire(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def test_options_are_not_in_schemas_or_reprs(specs: Path) -> None:
    loader = OpenAPILoader(auth={"api_key": "very-secret-key"}, headers={"X-Secret": "another-secret"})
    tools = loader.load(str(specs / "swagger2-petstore.yaml"))
    text = json.dumps([t.parameters for t in tools]) + repr(tools) + repr(loader)
    assert "very-secret-key" not in text and "another-secret" not in text
