"""Shipping invokers to other processes: serialised once with dill, cached on both sides by a content key.

The parent side (`Shipper`) dills each tool's invoker once and keeps the bytes; the worker side
(`ToolCache`) loads each content key once and keeps the invoker for the worker's life. Functions defined
in `__main__`, lambdas and closures travel by value; functions of importable modules by reference.
Modules the worker cannot import by name (loaded from a file path, as pytest's importlib mode does) are
named with their file so the worker can load them the same way.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import importlib.util
import inspect
import pickle
import pickletools
import sys
import types
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dill

if TYPE_CHECKING:
    from toolwire.tools import Tool

__all__ = ["ShippedTool", "Shipper", "ToolCache", "ToolLoadError", "UnshippableToolError", "ship"]


class UnshippableToolError(TypeError):
    """A tool whose invoker cannot be serialised for another process."""


class ToolLoadError(LookupError):
    """A worker could not load a shipped tool (its message says which and why)."""


@dataclass(frozen=True, slots=True)
class ShippedTool:
    """A tool as it travels: its content `key`, its dilled invoker, and modules to load by file path.

    A worker needs neither toolwire nor the tool's own imports to receive it: only dill.
    """

    key: str
    name: str
    payload: bytes
    is_async: bool = False
    modules: tuple[tuple[str, str], ...] = ()


def ship(tool: Tool) -> ShippedTool:
    """Serialise `tool`'s invoker; raises `UnshippableToolError` naming the object that would not pickle."""
    try:
        payload = dill.dumps(tool.invoker, protocol=pickle.HIGHEST_PROTOCOL, recurse=True)
    except Exception as exc:
        culprit = _culprit(tool.invoker, "the invoker", 0)
        raise UnshippableToolError(
            f"the tool '{tool.name}' cannot be sent to a worker process: {culprit} does not pickle "
            f"({type(exc).__name__}: {exc}); run it on the thread backend (executor=\"thread\")"
        ) from exc
    digest = hashlib.blake2b(tool.name.encode() + b"\0" + payload, digest_size=16).hexdigest()
    return ShippedTool(digest, tool.name, payload, tool.is_async, _modules_by_path(payload))


class Shipper:
    """Parent side: each invoker is dilled once; it is dilled again only when it is replaced.

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


class ToolCache:
    """Worker side: invokers by content key, each loaded once; a load failure is kept as that key's error."""

    def __init__(self) -> None:
        self._tools: dict[str, tuple[Any, bool]] = {}
        self._errors: dict[str, str] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._tools or key in self._errors

    def add(self, shipped: ShippedTool) -> None:
        """Load a shipped invoker and keep it under its key."""
        try:
            _load_modules(shipped.modules)
            invoker = dill.loads(shipped.payload)
        except Exception as exc:
            self._errors[shipped.key] = (
                f"the tool '{shipped.name}' could not be loaded in the worker process: "
                f"{type(exc).__name__}: {exc}"
            )
            return
        self._tools[shipped.key] = (invoker, shipped.is_async)

    def get(self, key: str) -> tuple[Any, bool]:
        """`(invoker, is_async)` for `key`; raises `ToolLoadError` if it failed to load."""
        try:
            return self._tools[key]
        except KeyError:
            raise ToolLoadError(self._errors.get(key, f"no tool with key {key} was sent here")) from None


def _fingerprint(invoker: Any) -> tuple[int, ...]:
    function = inspect.unwrap(getattr(invoker, "__func__", invoker))
    code = getattr(function, "__code__", None)
    if code is None:
        return ()
    return (id(code), id(function.__defaults__), id(function.__kwdefaults__))


# -- modules the worker must load from a file ----------------------------------------------------------


def _modules_by_path(payload: bytes) -> tuple[tuple[str, str], ...]:
    names: set[str] = set()
    for opcode, arg, _ in pickletools.genops(payload):
        if isinstance(arg, str):
            names.add(arg.partition(" ")[0] if opcode.name == "GLOBAL" else arg)
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


def _load_modules(modules: tuple[tuple[str, str], ...]) -> None:
    for name, path in modules:
        if name in sys.modules:
            continue
        parent = name.rpartition(".")[0]
        while parent and parent not in sys.modules:
            package = types.ModuleType(parent)
            package.__path__ = []
            sys.modules[parent] = package
            parent = parent.rpartition(".")[0]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load module {name!r} from {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise


# -- naming the object that does not pickle ------------------------------------------------------------


def _culprit(obj: Any, path: str, depth: int) -> str:
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
        for name, value in dill.detect.globalvars(obj, recurse=False).items():
            yield f" (global {name!r})", value
        yield from ((f".__defaults__[{i}]", v) for i, v in enumerate(obj.__defaults__ or ()))
    elif isinstance(obj, dict):
        yield from ((f"[{k!r}]", v) for k, v in obj.items())
    elif isinstance(obj, list | tuple | set | frozenset):
        yield from ((f"[{i}]", v) for i, v in enumerate(obj))
    elif hasattr(obj, "__dict__") and not isinstance(obj, type | types.ModuleType):
        yield from ((f".{k}", v) for k, v in vars(obj).items())
