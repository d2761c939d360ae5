"""Loading a chunk whose arguments name a class the worker cannot import, one call at a time.

The parent pickles validated arguments, which may hold instances of its own classes (an `Enum`, a
pydantic model). A class defined in the parent's main script, or in a module the worker cannot import,
does not exist here. Only then (after the fast `loads` failed) the chunk is loaded again with a stand-in
for each missing class, and the calls whose arguments hold a stand-in become that call's error: the rest
of the chunk runs.
"""

from __future__ import annotations

from _pickle import Unpickler
from io import BytesIO

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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

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


def load_chunk(message: bytes, error: Exception) -> tuple[Any, ...]:
    """The chunk in `message`, which `loads` refused with `error`: each call's arguments that hold a class
    missing here are replaced by the error message (a `str`) for that call.

    Raises `error` when the chunk cannot be loaded even so.
    """
    try:
        chunk, shipped, keys, arguments, deadlines, call_ids = _TolerantUnpickler(BytesIO(message)).load()
    except Exception:
        raise error from None
    marked = False
    for position, call_arguments in enumerate(arguments):
        for name, value in call_arguments.items():
            stand_in = _find_stand_in(value, set())
            if stand_in is not None:
                arguments[position] = f"the argument '{name}' holds a {stand_in.reason}"
                marked = True
                break
    if not marked:  # the stand-in is somewhere the search does not reach: no call can be trusted
        reason = f"the chunk's arguments could not be loaded in the worker process: {type(error).__name__}: {error}"
        arguments = [reason] * len(arguments)
    return chunk, shipped, keys, arguments, deadlines, call_ids


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
