"""The parent's handle on one worker process: start it, send it chunks, read its log, stop it."""

from __future__ import annotations

import contextlib
import marshal
import mmap
import os
import pickle
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psutil

from toolwire_process import _log
from toolwire_process._limits import Limits
from toolwire_process._wire import Pipe


def descendants(pid: int) -> list[psutil.Process]:
    """The processes `pid` started and those they started, while it runs (none once it has ended)."""
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def stop_all(processes: list[psutil.Process]) -> None:
    """Kill each of `processes` still running (psutil checks a pid was not reused)."""
    for process in processes:
        with contextlib.suppress(psutil.Error):  # gone already
            process.kill()


_BOOTSTRAP = "import sys; sys.path[:] = {path!r}; from toolwire_process._worker import main; main({args})"
"""The worker's `-c` program: the parent's `sys.path` and the arguments as literals (no json to import)."""


@dataclass(slots=True)
class Chunk:
    """Calls sent to one worker in one message: their indices in the run, in the order the worker runs them."""

    id: int
    indices: list[int]
    deadline: float | None
    """The earliest deadline of the chunk's calls (plus a grace for async ones), `None` without one."""


class WorkerProcess:
    """A worker: a fresh interpreter that never imports the parent's `__main__`."""

    def __init__(self, preload: Sequence[str] = (), limits: Limits | None = None) -> None:
        ours, theirs = socket.socketpair()
        log_fd = _log_file()
        limits = limits or Limits()
        try:
            os.ftruncate(log_fd, _log.SIZE)
            memory = mmap.mmap(log_fd, _log.SIZE)
            arguments = (f"{theirs.fileno()}, {log_fd}, {os.getpid()}, {list(preload)!r}, {limits.memory_bytes!r}, "
                         f"{limits.cpu_seconds!r}")
            self.process = subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP.format(path=sys.path, args=arguments)],
                pass_fds=(theirs.fileno(), log_fd), stdin=subprocess.DEVNULL, start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
            os.close(log_fd)
        self.conn = Pipe(ours.detach())
        self.log = _log.ParentLog(memory)
        self.known: set[str] = set()
        self.calls = 0
        self.resident = 0
        self.chunk: Chunk | None = None
        self.ready = False
        self.owner: object | None = None
        """The run this worker works for now (None: idle, free for any run)."""

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the worker has started (and preloaded its modules); False if it died or is slow."""
        while not self.ready:
            try:
                if not select.select([self.conn], [], [], timeout)[0]:
                    return False
                self.ready = marshal.loads(self.conn.recv()) == ("ready",)
            except (EOFError, OSError, ValueError):
                return False
        return True

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, chunk: Chunk, tools: list[tuple[Any, ...]], keys: Sequence[str] = (), arguments: Sequence[Any] = (),
             deadlines: Sequence[float | None] = (), call_ids: Sequence[str] = (), scopes: Sequence[Any] | None = None,
             listened: list[str] | None = None) -> None:
        """Hand `chunk` to the worker, as `Worker.serve` reads it: the tools it lacks, then per call its tool's key,
        arguments, deadline, call id and scopes; the calls whose progress is listened to; the log's mark. Raises
        `OSError` if the worker is gone."""
        message = pickle.dumps((chunk.id, tools, keys, arguments, deadlines, call_ids, scopes, listened,
                                self.log.mark()), pickle.HIGHEST_PROTOCOL)
        self.chunk = chunk
        self.log.reset()
        self.conn.send(message)

    def kill(self) -> None:
        """Stop the worker now (it may be running a tool that never returns), and the processes its tools
        started: a command a hung call ran would otherwise outlive it. Its process group goes at once; those in
        a session of their own are found among its descendants first (once it is gone, they are init's)."""
        strays = descendants(self.process.pid) if self.process.poll() is None else []  # ended: none to find
        with contextlib.suppress(ProcessLookupError, PermissionError):  # its own group: started in a session of its own
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        stop_all(strays)

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
    import tempfile

    handle, path = tempfile.mkstemp(prefix="toolwire-worker-log-")
    os.unlink(path)
    return handle
