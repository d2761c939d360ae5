"""Calling a policy's user callback (`approve`, `answer`), sync or async, from the thread a dispatch runs in."""

from __future__ import annotations

import asyncio
from typing import Any

from toolwire._scheduling import caller_loop
from toolwire.loop import shared_loop

__all__ = ["called"]


def called(callback: Any, items: list[Any]) -> Any:
    """What `callback(items)` returns; a coroutine is awaited on the batch's caller's loop (an async caller's), else
    on toolwire's shared loop, this thread waiting."""
    answer = callback(items)
    if type(answer) is not dict and asyncio.iscoroutine(answer):  # a dict first: no ABC machinery
        loop = caller_loop.get() or shared_loop().loop
        answer = asyncio.run_coroutine_threadsafe(answer, loop).result()
    return answer
