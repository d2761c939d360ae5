"""The parent's side of shipping invokers to other processes: serialised once, under a content key.

`Shipper` serialises each tool's invoker once and keeps the bytes; the worker's side
(`toolwire_shipping.unpacking.ToolCache`) loads each content key once and keeps the invoker for the
worker's life. An invoker that
pickles by reference to importable modules travels as a plain pickle (the worker needs no dill); one
that pickle cannot carry, or that refers to `__main__` (functions of a script, lambdas, closures),
travels by value with dill. Modules the worker cannot import by name (loaded from a file path, as
pytest's importlib mode does) are named with their file so the worker can load them the same way.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import inspect
import pickle
import pickletools
import sys
import types
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolwire.tools import Tool

__all__ = ["ShippedTool", "Shipper", "UnshippableToolError", "ship"]


class UnshippableToolError(TypeError):
    """A tool whose invoker cannot be serialised for another process."""


@dataclass(frozen=True, slots=True)
class ShippedTool:
    """A tool as it travels: its content `key`, its pickled invoker, and modules to load by file path.

    `dilled` says the payload needs `dill.loads`; otherwise `pickle.loads` does. A worker needs neither
    toolwire nor the tool's own imports to receive it.
    """

    key: str
    name: str
    payload: bytes
    is_async: bool = False
    modules: tuple[tuple[str, str], ...] = ()
    dilled: bool = True

    def fields(self) -> tuple[Any, ...]:
        """The plain values a worker's `ToolCache.load` takes (nothing to import to read them)."""
        return (self.key, self.name, self.payload, self.is_async, self.modules, self.dilled)


def ship(tool: Tool) -> ShippedTool:
    """Serialise `tool`'s invoker; raises `UnshippableToolError` naming the object that would not pickle."""
    payload = _pickled(tool.invoker)
    globals_ = None if payload is None else _global_names(payload)
    dilled = globals_ is None or "__main__" in globals_
    if dilled:
        import dill

        try:
            with warnings.catch_warnings():  # dill warns, then pickles by reference what a worker cannot find
                warnings.simplefilter("error", dill.PicklingWarning)
                payload = dill.dumps(tool.invoker, protocol=pickle.HIGHEST_PROTOCOL, recurse=True)
        except Exception as exc:
            with warnings.catch_warnings():
                warnings.simplefilter("error", dill.PicklingWarning)
                culprit = _culprit(tool.invoker, "the invoker", 0)
            raise UnshippableToolError(
                f"the tool '{tool.name}' cannot be sent to a worker process: {culprit} does not pickle "
                f"({type(exc).__name__}: {exc}); run it on the thread backend (executor=\"thread\")"
            ) from exc
        globals_ = _global_names(payload)
    assert payload is not None and globals_ is not None
    digest = hashlib.blake2b(tool.name.encode() + b"\0" + payload, digest_size=16).hexdigest()
    return ShippedTool(digest, tool.name, payload, tool.is_async, _modules_by_path(globals_), dilled)


def _pickled(invoker: Any) -> bytes | None:
    """`invoker` as a plain pickle, or `None` when pickle cannot carry it (dill then will)."""
    try:
        return pickle.dumps(invoker, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return None


class Shipper:
    """Parent side: each invoker is serialised once; again only when it is replaced.

    Entries are keyed by the invoker object (held, so its id cannot be reused) and the tool's name; a
    function whose code or defaults were reassigned is shipped again.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self._entries: OrderedDict[tuple[int, str], tuple[Any, tuple[int, ...], ShippedTool]] = OrderedDict()
        self._max_entries = max_entries

    def ship(self, tool: Tool) -> ShippedTool:
        """The shipped form of `tool` (cached); raises `UnshippableToolError`."""
        invoker = tool.invoker
        slot = (id(invoker), tool.name)
        fingerprint = _fingerprint(invoker)
        entry = self._entries.get(slot)
        if entry is not None and entry[0] is invoker and entry[1] == fingerprint:
            return entry[2]
        shipped = ship(tool)
        self._entries[slot] = (invoker, fingerprint, shipped)
        self._entries.move_to_end(slot)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return shipped


def _fingerprint(invoker: Any) -> tuple[int, ...]:
    function = inspect.unwrap(getattr(invoker, "__func__", invoker))
    code = getattr(function, "__code__", None)
    if code is None:
        return ()
    return (id(code), id(function.__defaults__), id(function.__kwdefaults__))


# -- modules the worker must load from a file ----------------------------------------------------------


def _global_names(payload: bytes) -> set[str]:
    """Every string in the pickle (module names among them): a superset of the modules it imports."""
    names: set[str] = set()
    for opcode, arg, _ in pickletools.genops(payload):
        if isinstance(arg, str):
            names.add(arg.partition(" ")[0] if opcode.name == "GLOBAL" else arg)
    return names


def _modules_by_path(names: set[str]) -> tuple[tuple[str, str], ...]:
    found = []
    for name in sorted(names):
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if module is None or not path or name == "__main__" or _importable(name, path):
            continue
        found.append((name, path))
    return tuple(found)


@functools.lru_cache(maxsize=1024)
def _importable(name: str, path: str) -> bool:
    top = name.partition(".")[0]
    if top in sys.builtin_module_names or importlib.machinery.FrozenImporter.find_spec(top) is not None:
        return True
    for finder in sys.meta_path:
        if type(finder).__module__.startswith("_pytest") or not hasattr(finder, "find_spec"):
            continue
        try:
            spec = finder.find_spec(top, None)
        except Exception:
            continue
        if spec is not None:
            return "." in name or spec.origin == path
    return False


# -- naming the object that does not pickle ------------------------------------------------------------


def _culprit(obj: Any, path: str, depth: int) -> str:
    import dill

    if depth < 6:
        for label, child in _children(obj):
            try:
                dill.dumps(child, recurse=True)
            except Exception:
                return _culprit(child, f"{path}{label}", depth + 1)
    return f"{path} ({type(obj).__module__}.{type(obj).__qualname__})"


def _children(obj: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(obj, functools.partial):
        yield ".func", obj.func
        yield from ((f".args[{i}]", arg) for i, arg in enumerate(obj.args))
        yield from ((f".keywords[{k!r}]", v) for k, v in obj.keywords.items())
    elif isinstance(obj, types.MethodType):
        yield ".__self__", obj.__self__
        yield ".__func__", obj.__func__
    elif isinstance(obj, types.FunctionType):
        cells = obj.__closure__ or ()
        for name, cell in zip(obj.__code__.co_freevars, cells, strict=False):
            try:
                yield f" (closure variable {name!r})", cell.cell_contents
            except ValueError:
                continue
        import dill.detect

        for name, value in dill.detect.globalvars(obj, recurse=False).items():
            yield f" (global {name!r})", value
        yield from ((f".__defaults__[{i}]", v) for i, v in enumerate(obj.__defaults__ or ()))
    elif isinstance(obj, dict):
        yield from ((f"[{k!r}]", v) for k, v in obj.items())
    elif isinstance(obj, list | tuple | set | frozenset):
        yield from ((f"[{i}]", v) for i, v in enumerate(obj))
    elif hasattr(obj, "__dict__") and not isinstance(obj, type | types.ModuleType):
        yield from ((f".{k}", v) for k, v in vars(obj).items())
