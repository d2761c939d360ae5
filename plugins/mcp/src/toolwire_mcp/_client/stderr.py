"""A stdio server's stderr, line by line, to the `toolwire.mcp` logger instead of the user's terminal."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import TextIO

__all__ = ["logged_stderr"]

log = logging.getLogger("toolwire.mcp")


@contextlib.contextmanager
def logged_stderr(detail: str) -> Iterator[TextIO]:
    """A file for a server's stderr: a pipe that a thread reads and logs (INFO, prefixed with `detail`,
    the server's command line) until the server closes it."""
    read_end, write_end = os.pipe()
    threading.Thread(target=_forward, args=(read_end, detail), name="toolwire-mcp-stderr", daemon=True).start()
    with os.fdopen(write_end, "w") as errlog:  # the server holds its own copy; ours closes on the way out
        yield errlog


def _forward(read_end: int, detail: str) -> None:
    with os.fdopen(read_end, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            log.info("%s: %s", detail, line.rstrip("\n"))
