"""The `limits` policy: `max_concurrency` and `rate` of the `[[policy.tools]]` tables (and of
`register(..., max_concurrency=..., rate=...)`), each shared by every tool the table matches, over every
batch and thread of the registry. A call waits for its slot or token up to its deadline, then is `timeout`.
A table's `timeout` gives the calls of the tools it matches that allowance in place of the batch's.
"""

from __future__ import annotations

from typing import Any

from toolwire.batches import Dispatch
from toolwire.hookspecs import hookimpl
from toolwire.policies._book import groups

__all__ = ["toolwire_dispatch"]


@hookimpl(wrapper=True)
def toolwire_dispatch(dispatch: Dispatch) -> Any:
    policy = dispatch.registry.policy
    if policy.tools:
        for settings, indices in groups(dispatch):
            if settings.timeout is not None:
                dispatch.set_timeout(indices, settings.timeout)
            if settings.gates:
                dispatch.gate(indices, *settings.gates)
    return (yield)
