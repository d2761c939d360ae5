"""Native tools validate argument text straight into keywords (a TypedDict of the signature's fields):
for any arguments without null, that path and the model path accept the same and give the same keywords."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from toolwire import ToolRegistry

HERE = Path(__file__).parent

values = st.recursive(
    st.one_of(st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False),
              st.text(max_size=8), st.sampled_from(["red", "green", "fast", "slow", "2024-02-29", "3", "1.5",
                                                     "true"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["x", "y", "label", "k"]),
                                                                         inner, max_size=3)),
    max_leaves=6,
)
KEYS = ["a", "b", "flag", "value", "count", "items", "mapping", "pair", "color", "mode", "when", "point", "extra",
        "data", "more", "unknown"]


def typed(value: Any) -> Any:
    """`value` with every leaf's type kept, so that 1, 1.0 and True differ."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return (type(value).__name__, [typed(v) for v in value])
    if hasattr(value, "model_dump"):
        return (type(value).__name__, typed(value.model_dump()))
    return (type(value).__name__, repr(value))


@pytest.fixture(scope="module")
def registry() -> Any:
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.syspath_prepend(str(HERE))
    import tools_under_test

    registry = ToolRegistry(executor="thread")
    for tool in tools_under_test.TOOLS:
        registry.register(tool)
    yield registry
    registry.close()
    monkeypatch.undo()


@given(name=st.sampled_from(["numbers", "text", "collections", "choices", "model", "anything"]),
       arguments=st.dictionaries(st.sampled_from(KEYS), values, max_size=4))
def test_text_and_model_paths_agree(registry: ToolRegistry, name: str, arguments: dict[str, Any]) -> None:
    validator = registry.get(name).validator
    text = json.dumps(arguments)
    try:
        expected = validator(json.loads(text))
    except ValueError:
        expected = None
    try:
        got = validator.validate_json(text)
    except ValueError:
        got = None
    assert (got is None) == (expected is None), (got, expected)
    if got is not None:
        assert typed(got) == typed(expected)
