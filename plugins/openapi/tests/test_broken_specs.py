"""Real specs broken at random (a node deleted, or replaced by a value of another shape, a dangling or
looping `$ref`): each either loads into tools whose parameters are valid JSON Schema that every provider
format takes (or refuses with its own `SchemaConversionError`), or is refused with a `SpecError` naming
where; never another exception."""

from __future__ import annotations

import contextlib
import copy
import sys
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from toolwire import ToolRegistry
from toolwire.formats import SchemaConversionError
from toolwire_openapi import SpecError
from toolwire_openapi._client.document import parse

support = sys.modules["toolwire_openapi_test_support"]  # loaded by conftest.py
FILES = sorted(support.SPECS.iterdir()) if support.SPECS.is_dir() else []
DOCUMENTS = {path.name: parse(path.read_text(), path.name) for path in FILES}


def nodes(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every node below the root."""
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield (*path, key)
        yield from nodes(child, (*path, key))


NODES = {name: list(nodes(document)) for name, document in DOCUMENTS.items()}
VALUES = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6)
          | st.sampled_from(["{id}", "object", "array", "#/nowhere", [], {}, [1], {"type": 7}])
          | st.fixed_dictionaries({"$ref": st.sampled_from(["#/", "#/paths", "#/components", "#/definitions",
                                                             "#/info/title", "nowhere.yaml#/X", "#/paths/0"])
                                           | st.integers()}))


def broken(document: dict[str, Any], path: tuple[Any, ...], delete: bool, value: Any) -> None:
    parent: Any = document
    try:
        for key in path[:-1]:
            parent = parent[key]
        if delete:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(value)
    except (KeyError, IndexError, TypeError):  # an earlier change took this path away
        pass


@pytest.mark.skipif(not DOCUMENTS, reason="the shared specs are not beside the repository")
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_broken_spec_loads_into_valid_tools_or_is_refused_naming_where(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(DOCUMENTS)), label="spec")
    document = copy.deepcopy(DOCUMENTS[name])
    for _ in range(data.draw(st.integers(1, 3), label="changes")):
        broken(document, data.draw(st.sampled_from(NODES[name]), label="at"), data.draw(st.booleans(), label="delete"),
               data.draw(VALUES, label="value"))
    with ToolRegistry(executor="thread") as registry:
        try:
            tools = registry.load("openapi", document, base_url="http://127.0.0.1:9")
        except SpecError as refused:
            assert "#" in str(refused), refused  # the JSON pointer at fault
            return
        for tool in tools:
            jsonschema.Draft202012Validator.check_schema(tool.parameters)
        for format in registry.plugins.formats():
            with contextlib.suppress(SchemaConversionError):  # a dialect's own refusal, naming the tool
                registry.schemas(format=format)
