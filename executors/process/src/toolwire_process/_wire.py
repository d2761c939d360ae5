"""Length-prefixed messages over a socket file descriptor, for both ends of a worker's pipe.

Only `os` and `struct`: the worker imports this before anything else, so it must start fast
(`multiprocessing.connection` alone costs a worker ~10 ms of imports).
"""

from __future__ import annotations

import os
import struct

_LENGTH = struct.Struct("<Q")


class Pipe:
    """One end of a socket pair: `send` and `recv` whole messages; `recv` raises `EOFError` at the end."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    @property
    def closed(self) -> bool:
        return self.fd < 0

    def send(self, data: bytes) -> None:
        """Write one message; raises `OSError` if the other end is gone."""
        view = memoryview(_LENGTH.pack(len(data)) + data) if len(data) < 65536 else None
        if view is None:
            self._write(memoryview(_LENGTH.pack(len(data))))
            view = memoryview(data)
        self._write(view)

    def recv(self) -> bytes:
        """Read one message."""
        (size,) = _LENGTH.unpack(self._read(_LENGTH.size))
        return self._read(size)

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def _write(self, view: memoryview) -> None:
        while view:
            view = view[os.write(self.fd, view):]

    def _read(self, size: int) -> bytes:
        data = os.read(self.fd, size)
        if len(data) == size:
            return data
        buffer = bytearray(data)
        while len(buffer) < size:
            more = os.read(self.fd, size - len(buffer))
            if not more:
                raise EOFError("the other end of the pipe closed")
            buffer += more
        return bytes(buffer)
