"""The result log a worker shares with its parent: a header and one record per finished call.

The worker writes a call's record before it starts the next call, so when a worker dies or is killed
the parent still has every finished call's result, and the header tells it which calls had started.

Layout: `chunk id`, `calls started`, `end of records` (three int64), then records: a 4-byte length, a tag
byte (`M` marshal, `P` pickle) and the body `(position, duration, value, error)`, where `error` is
`None` or `(kind, message)`: the worker does not need toolwire imported to report a result.
"""

from __future__ import annotations

import marshal
import mmap
import struct
from _pickle import dumps, loads  # C pickle: no `pickle.py` (re, functools) in workers

from toolwire_shipping.records import Error, unsendable

TYPE_CHECKING = False  # the worker imports this module: it starts faster without typing
if TYPE_CHECKING:
    from typing import Any

SIZE = 64 * 1024 * 1024
"""Bytes mapped per worker (sparse: only written pages use memory); larger results go over the pipe."""

_HEADER = struct.Struct("<qqq")
_START = _HEADER.size
_LENGTH = struct.Struct("<I")
_INT = struct.Struct("<q")

Record = tuple[int, float, "Any", "Error | None"]


def encode(position: int, duration: float, value: Any, error: Error | None) -> bytes:
    """One record; a value that cannot be sent back becomes that call's `tool_error`."""
    try:
        return b"M" + marshal.dumps((position, duration, value, error))
    except ValueError:
        pass
    try:
        return b"P" + dumps((position, duration, value, error), -1)
    except Exception as exc:
        return b"M" + marshal.dumps((position, duration, None, unsendable(value, exc, "the worker process")))


def decode(body: bytes | memoryview) -> Record:
    """The record encoded in `body`."""
    return marshal.loads(body[1:]) if body[0] == 77 else loads(body[1:])  # 77: b"M"


class WorkerLog:
    """The worker's side: begin a chunk, mark calls started, append records."""

    def __init__(self, memory: mmap.mmap) -> None:
        self.memory = memory
        self.end = _START

    def begin(self, chunk: int) -> None:
        self.end = _START
        _HEADER.pack_into(self.memory, 0, chunk, 0, _START)

    def started(self, count: int) -> None:
        _INT.pack_into(self.memory, 8, count)

    def append(self, record: bytes) -> bool:
        """Write `record`; False when it does not fit (the caller sends it over the pipe instead)."""
        end = self.end
        stop = end + 4 + len(record)
        if stop > SIZE:
            return False
        memory = self.memory
        _LENGTH.pack_into(memory, end, len(record))
        memory[end + 4:stop] = record
        _INT.pack_into(memory, 16, stop)
        self.end = stop
        return True


class ParentLog:
    """The parent's side: read the header and the records written since the last read."""

    def __init__(self, memory: mmap.mmap) -> None:
        self.memory = memory
        self.read_to = _START

    def reset(self) -> None:
        self.read_to = _START

    def header(self) -> tuple[int, int, int]:
        """`(chunk id, calls started, end of records)`."""
        return _HEADER.unpack_from(self.memory, 0)

    def records(self, chunk: int) -> list[Record]:
        """The records of `chunk` not read yet."""
        return parse(self.read(chunk))

    def read(self, chunk: int) -> bytes:
        """The bytes of `chunk`'s records not read yet (a copy: the worker may reuse the log after this)."""
        current, _, end = self.header()
        if current != chunk or end <= self.read_to:
            return b""
        data = self.memory[self.read_to:end]
        self.read_to = end
        return data


def parse(data: bytes) -> list[Record]:
    """The records in bytes read from a log."""
    records = []
    offset, length = 0, len(data)
    view = memoryview(data)
    while offset < length:
        (size,) = _LENGTH.unpack_from(data, offset)
        records.append(decode(view[offset + 4:offset + 4 + size]))
        offset += 4 + size
    return records
