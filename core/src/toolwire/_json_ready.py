"""What a model or a client receives: valid Unicode text, and values that always encode as JSON.

A tool may return text with lone surrogates (an undecodable file name read with `os.fsdecode`), bytes that are
not UTF-8, reference cycles or nesting deeper than pydantic-core writes. None of these may break a batch or a
served response: text is mended here, and the pipeline turns a value that cannot be written into its call's
error (decision 0046).
"""

from __future__ import annotations

import re
import reprlib
from typing import Any

import pydantic_core

__all__ = ["UNWRITABLE", "json_text", "json_value", "valid_text", "valid_texts"]

UNWRITABLE = (ValueError, RecursionError)
"""What `json_text` raises for a value that cannot be written (pydantic-core's errors are `ValueError`s)."""

_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_text(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD, so that it encodes as UTF-8 (itself when it does)."""
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return _SURROGATE.sub("\ufffd", text)


def valid_texts(value: Any) -> Any:
    """JSON data `value` with `valid_text` applied to every string in it, keys included (lists for tuples)."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, dict):
        return {valid_text(key) if isinstance(key, str) else key: valid_texts(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [valid_texts(inner) for inner in value]
    return value


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
    except Exception:  # RecursionError (a cycle), or a container that will not be read
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
