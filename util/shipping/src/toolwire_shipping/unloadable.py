"""Loading calls whose arguments name a class the worker cannot import, so that only those calls fail.

The parent pickles validated arguments, which may hold instances of its own classes (an `Enum`, a
pydantic model). A class defined in the parent's main script, or in a module the worker cannot import,
does not exist here. Only then (after the fast `loads` failed) the chunk is loaded again with a stand-in
for each missing class, and the calls whose arguments hold a stand-in become that call's error: the rest
of the chunk runs. The Dask backend's workers use it too.
"""

from __future__ import annotations

from _pickle import Unpickler
from io import BytesIO

__all__ = ["tolerant_loads"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAIN_HINT = ("classes defined in the main script do not reach worker processes: define it in a module they can "
             "import, or use the thread backend")


class _StandIn:
    """An instance of a class that could not be imported here: it accepts whatever the pickle gives it."""

    reason = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> _StandIn:
        return object.__new__(cls)

    def __setstate__(self, state: Any) -> None:
        pass


class _TolerantUnpickler(Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError) as exc:
            reason = f"{module}.{name}, which the worker process cannot import ({type(exc).__name__}: {exc})"
            if module == "__main__":
                reason += f"; {MAIN_HINT}"
            return type(name, (_StandIn,), {"reason": reason})


def tolerant_loads(data: bytes, error: Exception, arguments_at: int) -> list[Any]:
    """The fields of the tuple in `data`, which `loads` refused with `error`, loaded with a stand-in for each
    class missing here; in the list of per-call arguments at `arguments_at`, each call's that holds a
    stand-in is replaced by its error message (a `str`).

    Raises `error` when even that fails.
    """
    try:
        fields = list(_TolerantUnpickler(BytesIO(data)).load())
    except Exception:
        raise error from None
    fields[arguments_at] = _mark_unloadable(fields[arguments_at], error)
    return fields


def _mark_unloadable(arguments: list[Any], error: Exception) -> list[Any]:
    """`arguments` (one dict per call) with each call's that holds a stand-in replaced by its error message.

    When no stand-in is found (it sits where the search does not reach), every call gets `error`'s message.
    """
    marked = list(arguments)
    found = False
    for position, call_arguments in enumerate(arguments):
        for name, value in call_arguments.items():
            stand_in = _find_stand_in(value, set())
            if stand_in is not None:
                marked[position] = f"the argument '{name}' holds a {stand_in.reason}"
                found = True
                break
    if not found:
        reason = f"the arguments could not be loaded in the worker process: {type(error).__name__}: {error}"
        return [reason] * len(arguments)
    return marked


def _find_stand_in(value: Any, seen: set[int]) -> _StandIn | None:
    if isinstance(value, _StandIn):
        return value
    if id(value) in seen:
        return None
    seen.add(id(value))
    if isinstance(value, dict):
        items: Any = value.values()
    elif isinstance(value, list | tuple | set | frozenset):
        items = value
    else:
        items = getattr(value, "__dict__", {}).values()  # an object's fields (a pydantic model's among them)
    for item in items:
        found = _find_stand_in(item, seen)
        if found is not None:
            return found
    return None
