"""The parent's handle on one worker process: start it, send it chunks, read its log, stop it."""

from __future__ import annotations

import json
import mmap
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection

from toolwire_process import _log

_BOOTSTRAP = (
    "import sys, json; sys.path[:] = json.loads(sys.argv[1]); "
    "from toolwire_process._worker import main; "
    "main(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), json.loads(sys.argv[5]))"
)


READY = pickle.dumps(("ready",))
"""The worker's first message."""


@dataclass(slots=True)
class Chunk:
    """Calls sent to one worker in one message: their batch indices, in the order the worker runs them."""

    id: int
    indices: list[int]
    deadline: float | None
    """The earliest deadline of the chunk's calls (plus a grace for async ones), `None` without one."""


class WorkerProcess:
    """A worker: a fresh interpreter that never imports the parent's `__main__`."""

    def __init__(self, preload: Sequence[str] = ()) -> None:
        ours, theirs = socket.socketpair()
        log_fd = _log_file()
        try:
            os.ftruncate(log_fd, _log.SIZE)
            memory = mmap.mmap(log_fd, _log.SIZE)
            self.process = subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP, json.dumps(sys.path), str(theirs.fileno()), str(log_fd),
                 str(os.getpid()), json.dumps(list(preload))],
                pass_fds=(theirs.fileno(), log_fd), stdin=subprocess.DEVNULL, start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
            os.close(log_fd)
        self.conn = Connection(ours.detach())
        self.log = _log.ParentLog(memory)
        self.known: set[str] = set()
        self.calls = 0
        self.resident = 0
        self.chunk: Chunk | None = None
        self.ready = False

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the worker has started (and preloaded its modules); False if it died or is slow."""
        while not self.ready:
            try:
                if not self.conn.poll(timeout):
                    return False
                self.ready = self.conn.recv_bytes() == READY
            except (EOFError, OSError):
                return False
        return True

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, chunk: Chunk, message: bytes) -> None:
        """Hand `chunk` to the worker; raises `OSError` if the worker is gone."""
        self.chunk = chunk
        self.log.reset()
        self.conn.send_bytes(message)

    def kill(self) -> None:
        """Stop the worker now (it may be running a tool that never returns)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def exit_status(self) -> str:
        """How the worker ended: its exit code or the signal that killed it."""
        try:
            code = self.process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.process.returncode
        if code < 0:
            try:
                return f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exited with code {code}"

    def close(self, wait: float = 1.0) -> None:
        """Ask the worker to leave (it reads end-of-file), kill it after `wait` seconds, free everything."""
        if not self.conn.closed:
            self.conn.close()
        try:
            self.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.kill()
        self.log.memory.close()


def _log_file() -> int:
    if hasattr(os, "memfd_create"):
        return os.memfd_create("toolwire-worker-log")
    handle, path = tempfile.mkstemp(prefix="toolwire-worker-log-")
    os.unlink(path)
    return handle
