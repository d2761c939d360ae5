"""Each tool's policy settings in force (worked out once per tool and policy), and the gates that
`max_concurrency` and `rate` tables share across a registry's batches."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolwire.config import PolicyConfig, ToolPolicy, rate_per_second
from toolwire.tools import Tool

if TYPE_CHECKING:
    from toolwire.batches import Dispatch, Gate
    from toolwire.executing import Job

__all__ = ["Bucket", "Slots", "ToolSettings", "book_for", "groups"]


@dataclass(frozen=True, slots=True)
class ToolSettings:
    """What the matching tables say of one tool: whether it needs approval, how many times it may run
    (1 without retries), the gates each of its calls must hold, and its calls' time allowance (None: the
    batch's)."""

    requires_approval: bool = False
    attempts: int = 1
    gates: tuple[Gate, ...] = ()
    timeout: float | None = None


_PLAIN = ToolSettings()
_GROUPS = object()
"""The key of a dispatch's `groups` in its stash."""


class Slots:
    """A concurrency gate: at most `size` holders at once, over every batch and thread."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.held = 0
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        with self._lock:
            if self.held >= self.size:
                return False
            self.held += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.held -= 1

    def acquire_many(self, count: int) -> int:
        """Take up to `count` slots at once; how many were taken."""
        with self._lock:
            taken = max(0, min(count, self.size - self.held))
            self.held += taken
            return taken

    def release_many(self, count: int) -> None:
        with self._lock:
            self.held -= count

    def ready_at(self) -> float | None:
        return None


class Bucket:
    """A rate gate: a token bucket of `count` tokens refilled over `per` seconds (bursts up to `count`)."""

    def __init__(self, count: float, per: float) -> None:
        self.capacity = count
        self.tokens = count
        self.refill = count / per
        self.stamp = time.monotonic()
        self._lock = threading.Lock()

    def _fill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.refill)
        self.stamp = now

    def acquire(self) -> bool:
        with self._lock:
            self._fill(time.monotonic())
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True

    def release(self) -> None:
        """A token is spent when taken: nothing to give back."""

    def acquire_many(self, count: int) -> int:
        """Take up to `count` tokens at once; how many were taken."""
        with self._lock:
            self._fill(time.monotonic())
            taken = max(0, min(count, int(self.tokens)))
            self.tokens -= taken
            return taken

    def release_many(self, count: int) -> None:
        """Tokens are spent when taken: nothing to give back."""

    def ready_at(self) -> float | None:
        with self._lock:
            now = time.monotonic()
            self._fill(now)
            return now if self.tokens >= 1 else now + (1 - self.tokens) / self.refill


class Book:
    """One registry's settings per tool (cached until the tool or the policy changes) and its gates."""

    def __init__(self) -> None:
        self._settings: dict[str, tuple[Tool, PolicyConfig, ToolSettings]] = {}
        self._gates: dict[int, tuple[ToolPolicy, list[Gate]]] = {}
        self._interned: dict[ToolSettings, ToolSettings] = {_PLAIN: _PLAIN}
        self._interned_for: PolicyConfig | None = None
        self._last: tuple[PolicyConfig, set[Tool], dict[Tool, ToolSettings], ToolSettings | None] | None = None
        """The policy and tools of the last `groups`, each tool's settings, and the one they share (if so)."""
        self._lock = threading.Lock()

    def groups(self, policy: PolicyConfig, jobs: list[Job]) -> list[tuple[ToolSettings, Sequence[int]]]:
        """The jobs grouped by their tool's settings, the jobs without any left out (settings worked out
        once per tool)."""
        tools = {job.tool for job in jobs}  # by identity
        last = self._last
        if last is not None and last[0] is policy and last[1] == tools:  # the common case: as the batch before
            each, one = last[2], last[3]
        else:
            each = {tool: self.settings(policy, tool) for tool in tools}
            distinct = {id(settings): settings for settings in each.values()}
            one = next(iter(distinct.values())) if len(distinct) == 1 else None
            self._last = (policy, tools, each, one)
        if one is not None:  # one setting for every job
            return [] if one is _PLAIN else [(one, range(len(jobs)))]
        by: dict[int, tuple[ToolSettings, list[int]]] = {}
        for index, job in enumerate(jobs):
            settings = each[job.tool]
            by.setdefault(id(settings), (settings, []))[1].append(index)
        return [group for group in by.values() if group[0] is not _PLAIN]

    def settings(self, policy: PolicyConfig, tool: Tool) -> ToolSettings:
        cached = self._settings.get(tool.name)
        if cached is not None and cached[0] is tool and cached[1] is policy:
            return cached[2]
        settings = self._work_out(policy, tool)
        if self._interned_for is not policy:
            self._interned, self._interned_for = {_PLAIN: _PLAIN}, policy
        settings = self._interned.setdefault(settings, settings)  # tools alike share one: jobs group by it
        self._settings[tool.name] = (tool, policy, settings)
        return settings

    def _work_out(self, policy: PolicyConfig, tool: Tool) -> ToolSettings:
        tables = [table for table in policy.tools if table.matches(tool)]
        if not tables:
            return _PLAIN
        approval = policy.needs_approval(tool)
        retries = max((table.retries or 0 for table in tables), default=0)
        safe = tool.annotations.read_only is True or tool.annotations.idempotent is True
        gates = [gate for table in tables for gate in self._gates_of(table)]
        gates.sort(key=lambda gate: isinstance(gate, Bucket))  # tokens last: a slot refused spends none
        timeout = min((table.timeout for table in tables if table.timeout is not None), default=None)
        return ToolSettings(approval, 1 + retries if safe else 1, tuple(gates), timeout)

    def _gates_of(self, table: ToolPolicy) -> list[Gate]:
        with self._lock:
            held = self._gates.get(id(table))
            if held is None or held[0] is not table:
                gates: list[Gate] = []
                if table.max_concurrency is not None:
                    gates.append(Slots(table.max_concurrency))
                if table.rate is not None:
                    gates.append(Bucket(*rate_per_second(table.rate)))
                held = self._gates[id(table)] = (table, gates)
            return held[1]


_books: weakref.WeakKeyDictionary[Any, Book] = weakref.WeakKeyDictionary()
_books_lock = threading.Lock()


def book_for(registry: Any) -> Book:
    """The policy book of `registry`, made on first use."""
    book = _books.get(registry)
    if book is None:
        with _books_lock:
            book = _books.setdefault(registry, Book())
    return book


def groups(dispatch: Dispatch) -> list[tuple[ToolSettings, Sequence[int]]]:
    """The dispatch's jobs grouped by their tool's settings under the registry's policy, the jobs without
    any left out; worked out once per dispatch (the policies share it)."""
    policy = dispatch.registry.policy
    found = dispatch.stash.get(_GROUPS)
    if found is None or found[0] is not policy:
        found = dispatch.stash[_GROUPS] = (policy, book_for(dispatch.registry).groups(policy, dispatch.jobs))
    return found[1]
