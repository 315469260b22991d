"""Durable storage of a node's persistent state: an append-only, checksummed file.

The data directory holds ``raft.dat``, a sequence of records::

    +----------------+-------------------+---------------------+-------------------------+
    | length: u32 BE | body crc32: u32 BE | head crc32: u32 BE | payload (msgpack array) |
    +----------------+-------------------+---------------------+-------------------------+

``head crc32`` covers the eight bytes before it, so a damaged length is seen
as damage rather than read as a record running past the end of the file.

A payload is ``[1, term, voted_for]`` (hard state), or ``[2, log_from,
[[term, command], ...]]`` (truncate the log from ``log_from`` on, then append
these entries). Recovery replays every record. What a crash in the middle of
a write leaves behind (a torn tail) is an incomplete header, or an intact
header whose body is short or fails its checksum and ends the file: it is
truncated with a warning, since its write never completed and nothing that
depended on it was sent. Anything else — a damaged header, a damaged record
followed by more data — cannot come from a torn write, so the node refuses to
start rather than guess (DESIGN.md §5).

Every ``save`` ends with ``fsync``: the driver calls it before any message
leaves the node, so a vote or an acknowledgement is never sent for state that
a crash could lose. When the file has grown to several times the size of the
state it describes, it is rewritten (to a temporary file, fsync'd, renamed).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import msgpack

from raftviz import wire
from raftviz.core.log import RaftLog
from raftviz.core.messages import Entry, HardState, Ready

FILENAME = "raft.dat"
_HEADER = struct.Struct(">III")
_HARD = 1
_LOG = 2
#: Records larger than this are damage, not data.
MAX_RECORD = 64 * 1024 * 1024
#: Do not consider rewriting the file before it is this large.
_FIRST_CHECK = 1_000_000


class StorageError(Exception):
    """The data directory cannot be used (corruption that is not a torn tail)."""


def _record(payload: list) -> bytes:
    body = msgpack.packb(payload, use_bin_type=True)
    head = struct.pack(">II", len(body), zlib.crc32(body))
    return head + struct.pack(">I", zlib.crc32(head)) + body


def _entries_out(entries: list[Entry]) -> list:
    return [wire.entry_to_wire(e) for e in entries]


class FileStorage:
    """A node's ``raft.dat`` in its data directory."""

    def __init__(self, directory: str | os.PathLike[str], warn: Callable[[str], None] | None = None) -> None:
        self.dir = Path(directory)
        self.path = self.dir / FILENAME
        self.warn = warn or (lambda text: None)
        self.hard = HardState()
        self.entries: list[Entry] = []
        self._fd = -1
        self._size = 0
        self._next_check = _FIRST_CHECK

    # ------------------------------------------------------------------ recovery

    def load(self) -> tuple[HardState, RaftLog]:
        """Recover the state from disk (creating an empty store if there is none)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        data = self.path.read_bytes() if self.path.exists() else b""
        good = self._replay(data)
        if good < len(data):
            self.warn(
                f"{self.path}: torn tail of {len(data) - good} bytes after the last complete record; "
                "truncated"
            )
            with open(self.path, "r+b") as f:
                f.truncate(good)
                f.flush()
                os.fsync(f.fileno())
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._size = good
        self._fsync_dir()
        return self.hard.copy(), RaftLog(self.entries)

    def _replay(self, data: bytes) -> int:
        """Apply every intact record; return the length of the intact prefix."""
        pos = 0
        number = 0
        size = len(data)
        while pos < size:
            number += 1
            if size - pos < _HEADER.size:
                return pos  # torn: the header itself was not finished
            length, body_crc, head_crc = _HEADER.unpack_from(data, pos)
            if zlib.crc32(data[pos : pos + 8]) != head_crc or length > MAX_RECORD:
                raise self._corrupt(number, pos, "damaged record header")
            start, end = pos + _HEADER.size, pos + _HEADER.size + length
            if end > size:
                return pos  # torn: the body was not finished
            if zlib.crc32(data[start:end]) != body_crc:
                if end == size:
                    return pos  # torn: the last write did not reach the disk whole
                raise self._corrupt(number, pos, "checksum mismatch")
            try:
                self._apply(msgpack.unpackb(data[start:end], raw=False))
            except (ValueError, TypeError, IndexError, wire.WireError, msgpack.UnpackException) as exc:
                raise StorageError(f"{self.path}: record {number} at byte {pos} is invalid: {exc}") from None
            pos = end
        return pos

    def _corrupt(self, number: int, pos: int, problem: str) -> StorageError:
        return StorageError(
            f"{self.path}: record {number} at byte {pos} is corrupt ({problem}) and it is not a torn "
            "final write; refusing to start rather than guess (move the directory aside to start empty)"
        )

    def _apply(self, payload: list) -> None:
        kind = payload[0]
        if kind == _HARD:
            _, term, vote = payload
            if not isinstance(term, int) or not isinstance(vote, int) or term < 0 or vote < 0:
                raise ValueError("bad hard state")
            self.hard = HardState(term, vote)
        elif kind == _LOG:
            _, log_from, raw = payload
            if not isinstance(log_from, int) or not 1 <= log_from <= len(self.entries) + 1:
                raise ValueError(f"log change from index {log_from} with {len(self.entries)} entries")
            del self.entries[log_from - 1 :]
            self.entries.extend(wire.entry_from_wire(e) for e in raw)
        else:
            raise ValueError(f"unknown record type {kind!r}")

    # ------------------------------------------------------------------ writing

    def save(self, ready: Ready) -> None:
        """Append the change and fsync before returning (the persistence contract)."""
        chunks = []
        if ready.hard_state is not None:
            self.hard = ready.hard_state.copy()
            chunks.append(_record([_HARD, self.hard.current_term, self.hard.voted_for]))
        if ready.log_from:
            del self.entries[ready.log_from - 1 :]
            self.entries.extend(ready.entries)
            chunks.append(_record([_LOG, ready.log_from, _entries_out(ready.entries)]))
        if not chunks:
            return
        blob = b"".join(chunks)
        os.write(self._fd, blob)
        os.fsync(self._fd)
        self._size += len(blob)
        if self._size > self._next_check:
            # Checked rarely (the file must double first), since measuring is O(state).
            if self._size > 4 * self._live_size():
                self._rewrite()
            self._next_check = max(2 * self._size, _FIRST_CHECK)

    def _live_size(self) -> int:
        return len(_record([_HARD, self.hard.current_term, self.hard.voted_for])) + len(
            _record([_LOG, 1, _entries_out(self.entries)])
        )

    def _rewrite(self) -> None:
        """Replace the file by one holding just the current state."""
        tmp = self.path.with_suffix(".tmp")
        blob = _record([_HARD, self.hard.current_term, self.hard.voted_for])
        if self.entries:
            blob += _record([_LOG, 1, _entries_out(self.entries)])
        with open(tmp, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._fsync_dir()
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self._size = len(blob)

    def _fsync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
