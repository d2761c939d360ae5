"""The `retries` policy: `retries = N` runs a call again, up to N more times, when it fails with
`transport`, `timeout` or `crashed` — only for tools annotated read-only or idempotent, where running twice
is safe. Attempt n + 1 starts after an exponential backoff with jitter (0.1 s, 0.2 s, 0.4 s..., at most
5 s, each between half and one and a half times that) and gets the full per-call timeout again; the
result's `attempts` says how many ran.
"""

from __future__ import annotations

import random
from typing import Any

from toolwire.batches import Dispatch
from toolwire.hookspecs import hookimpl
from toolwire.policies._book import groups
from toolwire.tools import ErrorKind

__all__ = ["RETRIED", "backoff", "toolwire_dispatch"]

RETRIED = frozenset({ErrorKind.TRANSPORT, ErrorKind.TIMEOUT, ErrorKind.CRASHED})
"""The failures worth another attempt: the call may not have reached the tool, or the tool's worker died."""
FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 5.0


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt number `attempt` (1, 2...): exponential, with jitter."""
    return min(MAX_BACKOFF_S, FIRST_BACKOFF_S * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)


@hookimpl(wrapper=True)
def toolwire_dispatch(dispatch: Dispatch) -> Any:
    policy = dispatch.registry.policy
    if policy.tools:
        for settings, indices in groups(dispatch):
            if settings.attempts > 1:
                dispatch.retry(indices, settings.attempts, RETRIED, backoff)
    return (yield)
