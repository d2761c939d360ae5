"""No toolwire.toml can break toolwire with anything but a `ConfigError`: hypothesis writes files whose keys all
have values they accept but one, which gets a value of any type and range (or is a key the table may not
accept), so that each file gets as far as its one fault; a `ToolRegistry` is made from each one that loads.

Property: `load_config` and `ToolRegistry(config=...)` either work or raise `ConfigError`, whose message names
the file; never another exception (an `OverflowError` for a huge worker count, a `TypeError` for a list that is
a number: both found this way).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st
from toolwire import ToolRegistry, load_config
from toolwire.config import ConfigError

KEYS = ["executor", "backend", "workers", "timeout", "tools", "loader", "source", "namespace", "policy", "serve",
        "separator", "ordering", "max_concurrency", "rate", "retries", "max_result_chars", "match", "host", "port",
        "token_env", "transport", "server", "options", "memory_limit", "cpu_time_limit", "tags", "destructive",
        "enabled", "names", "optional", "x"]
scalars = st.one_of(
    st.sampled_from([0, -1, 1, 2.5, -0.5, True, False, "", "x", "thread", "process", "dask", "20/s", "0/s", "1/0s",
                     "annotated", "parallel", "*", "native", "mcp", "openapi", "1GiB", "-1GiB", "none", 10**18, 10**20,
                     -(10**18), "127.0.0.1", "0.0.0.0", "::", "os", "json:dumps"]),
    st.integers(), st.floats(allow_nan=False), st.text(max_size=6),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)), max_leaves=6)

text = st.text(max_size=6)


def table(**keys: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Some of `keys`, each with a value it accepts."""
    return st.fixed_dictionaries({}, optional=keys)


executor = table(
    backend=st.sampled_from(["thread", "process"]), workers=st.integers(1, 8) | st.integers(1),
    timeout=st.floats(0.1, 100), memory_limit=st.sampled_from(["1GiB", "512MiB"]), cpu_time_limit=st.floats(1, 100),
    max_calls_per_worker=st.integers(1, 100), preload=st.sampled_from(["json", ["os"]]),
)
rule = table(
    match=st.sampled_from(["*", "fs_*"]), tag=text, namespace=text, source=text, read_only=st.booleans(),
    destructive=st.booleans(), idempotent=st.booleans(), open_world=st.booleans(), names=st.lists(text, max_size=2),
    requires_approval=st.booleans(), max_concurrency=st.integers(1, 10), rate=st.sampled_from(["20/s", "5/m"]),
    retries=st.integers(0, 3), timeout=st.floats(0.1, 100) | st.just(float("inf")),
)
policy = table(ordering=st.sampled_from(["annotated", "parallel", "sequential"]), max_result_chars=st.integers(1),
               tools=st.lists(rule, max_size=3))
serve = table(server=st.sampled_from(["mcp", "http"]), transport=st.sampled_from(["stdio", "streamable-http", "sse"]),
              host=st.sampled_from(["127.0.0.1", "::1", "0.0.0.0"]), port=st.integers(0, 65535), token_env=text,
              max_request_bytes=st.integers(1, 10**6))
tool = table(loader=st.just("native"), source=st.sampled_from(["json", "math"]), namespace=st.sampled_from(["m", "n"]),
             tags=st.lists(text, max_size=2), enabled=st.booleans(), optional=st.booleans())
valid_files = table(executor=executor, policy=policy, serve=serve, tools=st.lists(tool, max_size=2),
                    separator=st.sampled_from(["_", "-"]))


@st.composite
def files(draw: st.DrawFn) -> dict[str, Any]:
    """A file whose keys all have values they accept, but one, which has anything (or a key nobody accepts)."""
    file = copy.deepcopy(draw(valid_files))  # changed below: the strategies' own constants must stay as they are
    places = list(_places(file))
    container, key = draw(st.sampled_from(places))
    if isinstance(container, dict) and draw(st.integers(0, 9)) == 0:
        key = draw(st.sampled_from(KEYS))  # a key that is there, or one that is not (accepted there or not)
    container[key] = draw(values)
    return file


def _places(value: Any, top: bool = True) -> Any:
    """(container, key) for every value in `value`, and the top table itself (for keys it lacks)."""
    if top:
        yield value, "x"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        yield value, key
        yield from _places(inner, top=False)


@settings(max_examples=1000)
@given(table=files())
def test_any_file_loads_or_says_what_is_wrong_with_it(tmp_path: Path, table: dict[str, Any]) -> None:
    path = tmp_path / "toolwire.toml"
    path.write_text(tomli_w.dumps(table))
    try:
        with ToolRegistry(config=load_config(path, environ={})) as registry:
            registry.execute_tool_calls([])
    except ConfigError as exc:
        assert str(exc).startswith(f"{path}: "), exc
