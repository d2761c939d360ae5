"""The `ordering` policy: in what order a batch's calls may run (`[policy] ordering`, `ordering=`).

- `"annotated"` (the default): read-only calls run in parallel; a call that is not read-only (annotated
  `read_only = false` or `destructive = true`) runs after the one before it that was not, and after the
  read-only calls emitted before it. Calls whose tool says nothing either way run in parallel, as before.
- `"parallel"`: every call at once. `"sequential"`: one after another, in the model's order.

Results stay one per call, in the calls' order, whatever runs when.
"""

from __future__ import annotations

import weakref
from typing import Any

from toolwire.batches import Dispatch
from toolwire.hookspecs import hookimpl

__all__ = ["toolwire_dispatch"]


@hookimpl(wrapper=True)
def toolwire_dispatch(dispatch: Dispatch) -> Any:
    ordering = dispatch.registry.policy.ordering
    if ordering == "sequential":
        for index in range(1, len(dispatch.jobs)):
            dispatch.after(index, index - 1)
    elif ordering == "annotated" and _has_side_effects(dispatch.registry):
        _annotated(dispatch)
    return (yield)


_checked: weakref.WeakKeyDictionary[Any, tuple[int, bool]] = weakref.WeakKeyDictionary()


def _side_effects(tool: Any) -> bool:
    annotations = tool.annotations
    return annotations.read_only is False or (annotations.destructive is True and annotations.read_only is not True)


def _has_side_effects(registry: Any) -> bool:
    """Whether any of the registry's tools is annotated as not read-only (worked out once per change)."""
    version = registry.version
    checked = _checked.get(registry)
    if checked is None or checked[0] != version:
        checked = _checked[registry] = (version, any(map(_side_effects, registry.list())))
    return checked[1]


def _annotated(dispatch: Dispatch) -> None:
    last_write: int | None = None
    reads: list[int] = []
    for index, job in enumerate(dispatch.jobs):
        annotations = job.tool.annotations
        if _side_effects(job.tool):
            if last_write is not None:
                dispatch.after(index, last_write)
            for read in reads:
                dispatch.after(index, read)
            last_write, reads = index, []
        elif annotations.read_only is True:
            reads.append(index)
