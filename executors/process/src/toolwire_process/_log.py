"""The result log a worker shares with its parent: a header and one record per finished call.

The worker writes a call's record before it starts the next call, so when a worker dies or is killed
the parent still has every finished call's result, and the header tells it which calls had started.

The parent cancels calls through it too: it writes `chunk id + 1` into the slot of each call it cancels (one
int64 per position of the chunk, `CANCEL_SLOTS` of them) and adds one to the header's `cancels`; the worker
skips a flagged call it has not started, and cancels a flagged async call that is running, so that cancelling
one call does not stop a worker that runs others. It takes calls for another worker the same way, writing
`-(chunk id + 1)`: the worker skips those it has not started and runs on those it has.

Layout: `chunk id`, `calls started`, `end of records`, `cancels` (four int64), the cancel slots, then the
records, each the tuple
`(position, duration, value, error)` marshalled at version 2, where `error` is `None` or `(kind, message)`
(the worker does not need toolwire imported to report a result), or `PICKLED` when `value` holds the
pickled value marshal could not write. Version 2 writes no back-references, so records written one by one
read back as one list in a single `marshal.loads` (`parse`) once the worker says how many it wrote.
"""

from __future__ import annotations

import io
import marshal
import mmap
import struct
from _pickle import dumps, loads  # C pickle: no `pickle.py` (re, functools) in workers

from toolwire_shipping.records import Error, unreadable, unsendable

TYPE_CHECKING = False  # the worker imports this module: it starts faster without typing
if TYPE_CHECKING:
    from typing import Any

SIZE = 64 * 1024 * 1024
"""Bytes mapped per worker (sparse: only written pages use memory); larger results go over the pipe."""
PICKLED = 0
"""A record's `error` when its `value` is the pickled value."""

CANCELLED = ("cancelled", "the call was cancelled")
"""A record's `error` for a call the parent cancelled (flagged): skipped before it began, or an async one stopped."""
TAKEN = ("taken", "")
"""A record's `error` for a call the parent took for another worker before this one began it (skipped here)."""
CANCEL_SLOTS = 65536
"""Positions of a chunk the parent can flag (cancel, or take for another worker) without stopping its worker."""
_HEADER = struct.Struct("<qqq")
CANCELS = _HEADER.size
"""The offset of `cancels` (little-endian: its low byte first, which a worker reads before each call)."""
_SLOTS = CANCELS + 8
_START = _SLOTS + 8 * CANCEL_SLOTS
_INT = struct.Struct("<q")
_LIST = struct.Struct("<ci")  # marshal's list: its type code and length

Record = tuple[int, float, "Any", "Error | int | None"]
"""position, duration, value, error: the error is `PICKLED` while the value is still pickled."""


def encode(position: int, duration: float, value: Any, error: Error | None) -> bytes:
    """One record; a value that cannot be sent back becomes that call's `tool_error`."""
    try:
        return marshal.dumps((position, duration, value, error), 2)
    except ValueError:
        pass
    try:
        return marshal.dumps((position, duration, dumps(value, -1), PICKLED), 2)
    except BaseException as exc:  # a __reduce__ may raise anything, SystemExit too: this call's error alone
        return marshal.dumps((position, duration, None, unsendable(value, exc, "the worker process")), 2)


def decode(record: bytes) -> Record:
    """The record encoded in `record`."""
    return _unpickled(marshal.loads(record))


def parse(data: bytes, count: int) -> list[Record]:
    """The `count` records in bytes read from a log, in one step."""
    records = marshal.loads(_LIST.pack(b"[", count) + data)
    if any(record[3] == PICKLED for record in records):  # pickled values: rare, so a pass of their own
        records = [_unpickled(record) for record in records]
    return records


def _unpickled(record: Record) -> Record:
    position, duration, value, error = record
    if error != PICKLED:
        return record
    try:
        return (position, duration, loads(value), None)
    except (Exception, SystemExit) as exc:  # rebuilding a value runs its own code: this call's error alone
        return (position, duration, None, unreadable(exc))


class WorkerLog:
    """The worker's side: begin a chunk, mark calls started, append records."""

    def __init__(self, memory: mmap.mmap) -> None:
        self.memory = memory
        self.end = _START
        self.count = 0
        """Records appended to this chunk's log."""

    def begin(self, chunk: int) -> None:
        self.end = _START
        self.count = 0
        _HEADER.pack_into(self.memory, 0, chunk, 0, _START)

    def started(self, count: int) -> None:
        _INT.pack_into(self.memory, 8, count)

    def cancels(self) -> int:
        """How many times the parent has cancelled calls on this worker (a change says: look at the slots)."""
        return _INT.unpack_from(self.memory, CANCELS)[0]

    def cancelled(self, chunk: int, position: int) -> bool:
        """Whether the parent cancelled the call at `position` of `chunk`."""
        return self.skipped(chunk, position) is CANCELLED

    def skipped(self, chunk: int, position: int) -> Error | None:
        """Why the call at `position` of `chunk` is not to be started (`CANCELLED`, `TAKEN`), or None."""
        if position >= CANCEL_SLOTS:
            return None
        flag = _INT.unpack_from(self.memory, _SLOTS + 8 * position)[0]
        return CANCELLED if flag == chunk + 1 else TAKEN if flag == -chunk - 1 else None

    def append(self, record: bytes) -> bool:
        """Write `record`; False when it does not fit (the caller sends it over the pipe instead)."""
        end = self.end
        stop = end + len(record)
        if stop > SIZE:
            return False
        memory = self.memory
        memory[end:stop] = record
        _INT.pack_into(memory, 16, stop)
        self.end = stop
        self.count += 1
        return True


class ParentLog:
    """The parent's side: read the header and the records written since the last read."""

    def __init__(self, memory: mmap.mmap) -> None:
        self.memory = memory
        self.read_to = _START
        self.taken = 0
        """Records of the current chunk read so far."""

    def reset(self) -> None:
        self.read_to = _START
        self.taken = 0

    def header(self) -> tuple[int, int, int]:
        """`(chunk id, calls started, end of records)`."""
        return _HEADER.unpack_from(self.memory, 0)

    def running(self, chunk: int) -> int:
        """The position of `chunk` its worker said it started last (the call it runs, unless that one has
        finished), or -1. Read after `cancel`: a call the worker has not said it started is one it will see
        as cancelled, for it says a call started before it looks at its flag."""
        current, started, _ = self.header()
        return started - 1 if current == chunk else -1

    def cancel(self, chunk: int, position: int) -> bool:
        """Flag the call at `position` of `chunk` as cancelled for the worker; False past `CANCEL_SLOTS`."""
        return self._flag(chunk + 1, position, position + 1)

    def take(self, chunk: int, start: int, stop: int) -> bool:
        """Flag the calls of `chunk` from `start` to `stop` as taken for another worker; False past
        `CANCEL_SLOTS`."""
        return self._flag(-chunk - 1, start, stop)

    def _flag(self, flag: int, start: int, stop: int) -> bool:
        if stop > CANCEL_SLOTS:
            return False
        memory = self.memory
        memory[_SLOTS + 8 * start:_SLOTS + 8 * stop] = _INT.pack(flag) * (stop - start)
        _INT.pack_into(memory, CANCELS, _INT.unpack_from(memory, CANCELS)[0] + 1)
        return True

    def mark(self) -> int:
        """The low byte of the count of cancels, which the worker compares with its own reading before each call:
        sent with a chunk, so that calls cancelled before the worker begins it are seen as cancelled too."""
        return self.memory[CANCELS]

    def records(self, chunk: int) -> list[Record]:
        """The records of `chunk` not read yet, while its worker may still be writing (or is dead)."""
        data = self.read(chunk)
        stream = io.BytesIO(data)
        records = []
        while stream.tell() < len(data):  # one at a time: the worker has not said how many there are
            records.append(_unpickled(marshal.load(stream)))
        self.taken += len(records)
        return records

    def rest(self, chunk: int, written: int) -> tuple[bytes, int]:
        """The bytes of `chunk`'s records not read yet and how many records they hold, once its worker is
        done with it (`written` records in all); `parse` reads them."""
        data = self.read(chunk)
        count = written - self.taken if data else 0
        self.taken += count
        return data, count

    def read(self, chunk: int) -> bytes:
        """The bytes of `chunk`'s records not read yet (a copy: the worker may reuse the log after this)."""
        current, _, end = self.header()
        if current != chunk or end <= self.read_to:
            return b""
        data = self.memory[self.read_to:end]
        self.read_to = end
        return data

