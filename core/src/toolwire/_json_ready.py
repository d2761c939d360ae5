"""What a model or a client receives: valid Unicode text, and values that always encode as JSON.

A tool may return text with lone surrogates (an undecodable file name read with `os.fsdecode`), bytes that are
not UTF-8, reference cycles or nesting deeper than pydantic-core writes. None of these may break a batch or a
served response: text is mended here, and the pipeline turns a value that cannot be written into its call's
error (decision 0046).
"""

from __future__ import annotations

import dataclasses
import re
import reprlib
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from types import CoroutineType
from typing import Any

import pydantic_core

__all__ = ["UNWRITABLE", "close_coroutines", "json_text", "json_value", "lazy_within", "valid_text", "valid_texts"]

UNWRITABLE = (ValueError, RecursionError)
"""What `json_text` raises for a value that cannot be written (pydantic-core's errors are `ValueError`s)."""

_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD, so that it encodes as UTF-8 (itself when it does)."""
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub("\ufffd", text)


def valid_texts(value: Any) -> Any:
    """JSON data `value` with `valid_text` applied to every string in it, keys included (lists for tuples).
    Raises `ValueError` for a reference cycle or nesting past `_MAX_DEPTH`, which no JSON writer takes either,
    at once rather than at the interpreter's recursion limit (where a finalizer that runs meanwhile fails too)."""
    return _valid_texts(value, set(), 0)


_MAX_DEPTH = 300
"""How deep `valid_texts` goes: past what pydantic-core writes (255 levels), well short of the recursion limit."""


def _valid_texts(value: Any, path: set[int], depth: int) -> Any:
    if isinstance(value, str):
        return valid_text(value)
    if not isinstance(value, dict | list | tuple):
        return value
    if depth >= _MAX_DEPTH or id(value) in path:
        raise ValueError("a reference cycle, or nesting deeper than JSON is written")
    path.add(id(value))
    try:
        if isinstance(value, dict):
            return {valid_text(key) if isinstance(key, str) else key: _valid_texts(inner, path, depth + 1)
                    for key, inner in value.items()}
        return [_valid_texts(inner, path, depth + 1) for inner in value]
    finally:
        path.discard(id(value))


def lazy_within(value: Any) -> tuple[str, Any] | None:
    """The first lazy value in `value` (`value` itself, or in its dicts, lists, tuples, sets, deques, dataclasses and
    pydantic models, where a field typed `Iterable[...]` holds a lazy iterator), and where it is (`rows[2]`; ""
    for `value` itself), or None. Lazy is an iterator, or an awaitable (a coroutine nobody awaited).

    Writing a value as JSON reads every iterator in it, outside any deadline: one that never ends holds the
    process for good, and one read there is spent for whoever reads the value next; an awaitable would be written
    as its `repr`, its work never done. orjson looks, in C (it writes neither, and asks `default` about each); a
    value it cannot write for another reason (an integer past 64 bits, a lone surrogate, a reference cycle) is
    walked here."""
    import orjson  # on the first structured result, not at start-up (~5 ms)

    try:
        orjson.dumps(value, default=_unknown, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return next(_lazies(value), None)
    return None


def close_coroutines(value: Any) -> None:
    """Close every coroutine in `value` (itself, or where `lazy_within` looks): a value refused for holding one is
    dropped, and each coroutine in it would otherwise warn "never awaited" when collected."""
    for _, lazy in _lazies(value):
        if isinstance(lazy, CoroutineType):
            lazy.close()


def _unknown(obj: Any) -> Any:
    """What orjson writes for an object it does not know (it stops at a lazy value)."""
    if _is_lazy(obj):
        raise TypeError
    if isinstance(obj, _CONTAINERS):  # sets, deques, and subclasses it does not write as their base
        return dict(obj) if isinstance(obj, dict) else list(obj)
    return dict(obj) if _is_model(obj) else None


def _is_model(obj: Any) -> bool:
    """Whether `obj` is a pydantic model (iterating one gives its fields' names and values, extras included)."""
    pydantic = sys.modules.get("pydantic")  # no model exists before pydantic is imported
    return pydantic is not None and isinstance(obj, pydantic.BaseModel)


def _is_lazy(obj: Any) -> bool:
    kind = type(obj)
    return hasattr(kind, "__next__") or hasattr(kind, "__anext__") or hasattr(kind, "__await__")


def _lazies(value: Any) -> Iterator[tuple[str, Any]]:
    """Every lazy value in `value` and where it is, in Python: depth first, in order, each container once."""
    seen: set[int] = set()
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        where, node = stack.pop()
        pairs: Iterable[tuple[Any, Any]]
        if isinstance(node, dict):
            pairs, step = node.items(), ".{}"
        elif isinstance(node, _CONTAINERS):
            pairs, step = enumerate(node), "[{}]"
        elif _is_lazy(node):
            yield where.lstrip("."), node
            continue
        elif _is_dataclass(node):
            pairs, step = ((field.name, getattr(node, field.name)) for field in dataclasses.fields(node)), ".{}"
        elif _is_model(node):
            pairs, step = iter(node), ".{}"
        else:
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        inner = [(key, child) for key, child in pairs if not isinstance(child, _PLAIN)]
        stack += [(where + step.format(key), child) for key, child in reversed(inner)]


_CONTAINERS = (dict, list, tuple, set, frozenset, deque)
_PLAIN = (str, int, float, bytes, type(None))


def _is_dataclass(obj: Any) -> bool:
    return dataclasses.is_dataclass(obj) and not isinstance(obj, type)


def json_text(value: Any) -> str:
    """`value` written as JSON text (objects JSON does not know as their `repr`, text in it mended with
    `valid_text`); raises one of `UNWRITABLE`."""
    try:
        return pydantic_core.to_json(value, fallback=repr).decode()
    except UNWRITABLE as exc:
        return _mended(value, exc).decode()


def _mended(value: Any, exc: BaseException) -> bytes:
    """`value` written as JSON once the text in its dicts, lists and tuples is mended (a listing of undecodable
    file names, an API's `\\ud800` escape); raises what writing it still meets (undecodable bytes), or `exc` when
    it cannot be mended (a reference cycle)."""
    try:
        mended = valid_texts(value)
    except Exception:  # a cycle, nesting too deep, or a container that will not be read
        raise exc from None
    return pydantic_core.to_json(mended, fallback=repr)


def json_value(value: Any) -> Any:
    """`value` as plain JSON data that always encodes: text mended with `valid_text`, models, dataclasses and
    dates converted, unknown objects as their `repr`; a value that cannot be written at all (a reference cycle,
    undecodable bytes) becomes a short `repr` of it."""
    kind = type(value)
    if kind is str:
        return valid_text(value)
    if kind is int or kind is float or kind is bool or value is None:
        return value
    try:
        try:
            written = pydantic_core.to_json(value, fallback=repr)
        except UNWRITABLE as exc:
            written = _mended(value, exc)
        return pydantic_core.from_json(written)
    except UNWRITABLE:
        return valid_text(reprlib.repr(value))  # bounded in depth and length; a failing __repr__ is named
