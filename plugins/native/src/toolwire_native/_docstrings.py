"""Descriptions from Google, NumPy, Sphinx (reST) and Epydoc docstrings, via docstring-parser."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

import docstring_parser


@dataclass(frozen=True, slots=True)
class Docs:
    """What a docstring says: the description (summary and body), each parameter's text, the return's."""

    description: str = ""
    params: dict[str, str] = field(default_factory=dict)
    returns: str | None = None


def read_docs(obj: Any) -> Docs:
    """The parsed docstring of `obj` (dedented by `inspect.getdoc`); empty when it has none."""
    text = inspect.getdoc(obj)
    if not text:
        return Docs()
    try:
        parsed = docstring_parser.parse(text)
    except docstring_parser.ParseError:
        return Docs(description=text.strip())
    parts = [part.strip() for part in (parsed.short_description, parsed.long_description) if part]
    params = {
        param.arg_name.lstrip("*"): param.description.strip()
        for param in parsed.params
        if param.description and param.description.strip()
    }
    returns = parsed.returns.description.strip() if parsed.returns and parsed.returns.description else None
    return Docs("\n\n".join(parts), params, returns or None)
