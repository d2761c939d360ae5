"""toolwire's `thread` backend: sync tools on a bounded thread pool, async tools on one shared event loop."""

from toolwire_thread._executor import ThreadExecutor

__all__ = ["ThreadExecutor"]
