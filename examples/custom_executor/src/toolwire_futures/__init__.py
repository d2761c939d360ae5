"""An example toolwire backend, `futures`: every call on a `concurrent.futures` thread pool."""

from toolwire_futures.executor import FuturesExecutor

__all__ = ["FuturesExecutor"]
