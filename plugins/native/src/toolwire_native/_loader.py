"""The `native` loader: functions, async functions, classes, instances and modules as tools."""

from __future__ import annotations

import functools
import importlib
import inspect
import types
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeGuard

from toolwire import Annotations, Tool

from toolwire_native._function import build_tool

__all__ = ["NativeLoader", "is_single_callable"]


def is_single_callable(source: Any) -> TypeGuard[Callable[..., Any]]:
    """Whether `source` becomes one tool (a function, method, builtin or `functools.partial`)."""
    return inspect.isroutine(source) or isinstance(source, functools.partial)


class NativeLoader:
    """Turns Python objects into tools.

    - a function, async function, bound method, builtin or `functools.partial`: one tool, named after it
      (or `name`), described by its docstring (or `description`);
    - a module: its public functions (those listed in `__all__`, else those defined in the module);
    - a class: its public static and class methods, and its public instance methods when the class can
      be instantiated without arguments (one instance is made at load time); else those are skipped;
    - any other object: the public methods of its class, bound to it.

    A string source is imported first: `"package.module"` or `"package.module:attribute"`.
    `annotations` (an `Annotations` or a mapping of its fields) is given to every tool.

    Public means the name has no leading underscore. Members that cannot become tools (no signature, a
    parameter type without a JSON Schema) are skipped with a warning; a single function raises
    `TypeError` instead. A source that offers no tool at all raises `ValueError`.
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        annotations: Annotations | Mapping[str, bool] | None = None,
    ) -> None:
        self.name = name
        self.description = description
        self.annotations = Annotations(**annotations) if isinstance(annotations, Mapping) else annotations

    def load(self, source: Any) -> list[Tool]:
        """The tools `source` offers; a string names a module or a `module:attribute` to import."""
        if isinstance(source, str):
            source = _import(source)
        if is_single_callable(source):
            return [build_tool(source, name=self.name, description=self.description,
                               annotations=self.annotations)]
        if self.name is not None or self.description is not None:
            raise TypeError("name= and description= apply to a single function, not to "
                            f"{type(source).__name__} {source!r}")
        tools, skipped = [], False
        for member_name, member in _members(source):
            try:
                tools.append(build_tool(member, name=member_name, annotations=self.annotations))
            except TypeError as exc:
                skipped = True
                warnings.warn(f"toolwire-native skipped a member: {exc}", stacklevel=2)
        if not tools:
            why = "each of its public callables was skipped (see the warnings)" if skipped else (
                "give a function, a module, a class or an object with public methods (names without a leading "
                "underscore)")
            raise ValueError(f"found no tools in {_label(source)}: {why}")
        return tools


def _label(source: Any) -> str:
    if isinstance(source, types.ModuleType):
        return f"module {source.__name__}"
    text = repr(source)
    return f"{type(source).__name__} {text if len(text) <= 60 else text[:60] + '...'}"


def _import(path: str) -> Any:
    """The module `path`, or the attribute after its colon (`package.module:Class`)."""
    module_name, _, attribute = path.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in filter(None, attribute.split(".")):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import {path!r}: {exc}") from None
    return found


def _members(source: Any) -> Iterator[tuple[str, Callable[..., Any]]]:
    if isinstance(source, types.ModuleType):
        return _module_functions(source)
    if inspect.isclass(source):
        return _class_methods(source)
    return _bound_methods(source, type(source))


def _module_functions(module: types.ModuleType) -> Iterator[tuple[str, Callable[..., Any]]]:
    exported = getattr(module, "__all__", None)
    if exported is not None:
        for name in exported:
            value = getattr(module, name, None)
            if is_single_callable(value) and not name.startswith("_"):
                yield name, value
        return
    for name, value in vars(module).items():
        if (not name.startswith("_") and is_single_callable(value)
                and getattr(value, "__module__", None) == module.__name__):
            yield name, value


def _class_methods(cls: type) -> Iterator[tuple[str, Callable[..., Any]]]:
    if _instantiable(cls):
        yield from _bound_methods(cls(), cls)
        return
    for name, raw in _public_attributes(cls).items():
        if isinstance(raw, (staticmethod, classmethod)):
            yield name, getattr(cls, name)


def _bound_methods(target: Any, cls: type) -> Iterator[tuple[str, Callable[..., Any]]]:
    for name, raw in _public_attributes(cls).items():
        if isinstance(raw, (staticmethod, classmethod)) or inspect.isfunction(raw):
            yield name, getattr(target, name)


def _public_attributes(cls: type) -> dict[str, Any]:
    """The class's own and inherited public attributes, as stored (base classes first; builtins left out)."""
    found: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__ != "builtins":
            found.update(vars(klass))
    return {name: value for name, value in found.items() if not name.startswith("_")}


def _instantiable(cls: type) -> bool:
    """Whether `cls()` can be called: not abstract, and every constructor parameter has a default."""
    if inspect.isabstract(cls):
        return False
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return False
    return all(
        p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in signature.parameters.values()
    )
