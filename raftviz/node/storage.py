"""Durable storage of a node's persistent state: a checksummed log file and a snapshot file.

The data directory holds ``raft.dat``, a sequence of records::

    +----------------+-------------------+---------------------+-------------------------+
    | length: u32 BE | body crc32: u32 BE | head crc32: u32 BE | payload (msgpack array) |
    +----------------+-------------------+---------------------+-------------------------+

``head crc32`` covers the eight bytes before it, so a damaged length is seen
as damage rather than read as a record running past the end of the file.

A payload is one of:

* ``[1, term, voted_for]``: the hard state;
* ``[2, log_from, [[term, command, stamp], ...]]``: truncate the log from the
  absolute index ``log_from`` on, then append these entries; valid only if
  ``start_index < log_from <= last_index + 1``;
* ``[3, index, term]``: the log now starts after ``(index, term)``, by the
  rule of ``RaftLog.compact``: if the log holds an entry at ``index`` with
  ``term``, it and everything before it are dropped, otherwise the whole log
  is; ``index`` may not be below the current start.

Recovery replays every record. What a crash in the middle of a write leaves
behind (a torn tail) is an incomplete header, or an intact header whose body
is short or fails its checksum and ends the file: it is truncated with a
warning, since its write never completed and nothing that depended on it was
sent. Anything else — a damaged header, a damaged record followed by more
data — cannot come from a torn write, so the node refuses to start rather
than guess (docs/architecture.md, "Durability").

The latest snapshot lives in ``snapshot.dat``: a single record in the same
frame whose body is the snapshot's bytes (``Snapshot.data``, which carries its
index, term and configuration). It is written to ``snapshot.tmp``, fsync'd and
renamed into place, so a crash leaves either the old or the new file whole:
any damage to it is refused, and a leftover ``snapshot.tmp`` is an
interrupted write, deleted with a warning. Its size is not capped by
``MAX_RECORD`` (a snapshot holds the whole state machine); the frame must
fill the file exactly instead.

``save`` follows ``Ready``'s order: the snapshot (``snapshot.dat`` first,
then ``[3, index, term]``, so the log is never discarded before the snapshot
that replaces it is durable), the hard state, the log change. After a
snapshot ``raft.dat`` is rewritten at once, since the state it describes just
shrank; this keeps it bounded however many compactions it goes through.

``load`` proceeds in this order:

1. delete a leftover ``snapshot.tmp`` (with a warning);
2. read and check ``snapshot.dat``, if there is one;
3. replay ``raft.dat``, truncating a torn tail;
4. reconcile the two: a log that starts before the snapshot is what a crash
   between ``snapshot.dat`` and its ``[3]`` record leaves, so the compaction
   is finished then, with a warning, and made durable (records saved later
   number the log from the snapshot); a log that starts after the snapshot,
   or after 0 with no snapshot at all, is corruption.

The log it returns starts at the snapshot.

``replace`` makes the files hold a given state outright (the lab restoring a
checkpoint, docs/protocol.md §7.3 LoadState): ``snapshot.dat`` first if it
changes, then ``raft.dat`` rewritten to just that state, each by the
temporary-file-and-rename above, then a ``snapshot.dat`` the state no longer
has is removed. It writes nothing when the files already hold that state.

Every ``save`` ends with ``fsync``: the driver calls it before any message
leaves the node, so a vote or an acknowledgement is never sent for state that
a crash could lose. When the file has grown to several times the size of the
state it describes, it is rewritten (to a temporary file, fsync'd, renamed).
Log records hold at most 256 entries each, so a rewrite of a long log does
not produce a record larger than ``MAX_RECORD``.

Every write and fsync goes through the store's :class:`~raftviz.node.disk.Disk`,
which the lab (``disk N fail|full|slow MS``) and free mode (``--disk``) can
make fail: ``save`` raises the ``OSError`` before it changes anything in
memory, so the caller can stop (EIO) or refuse the input (ENOSPC).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack

from raftviz.core.kv import restore_snapshot
from raftviz.core.log import RaftLog
from raftviz.core.messages import Entry
from raftviz.core.ready import HardState, Ready
from raftviz.core.snapshot import Snapshot, SnapshotError
from raftviz.node.disk import Disk
from raftviz.node.state import DurableState
from raftviz.wire import datagram
from raftviz.wire.validate import WireError

FILENAME = "raft.dat"
SNAPSHOT_FILENAME = "snapshot.dat"
SNAPSHOT_TMP = "snapshot.tmp"
_HEADER = struct.Struct(">III")
_HARD = 1
_LOG = 2
_COMPACT = 3
#: Records larger than this are damage, not data.
MAX_RECORD = 64 * 1024 * 1024
#: Entries per log record. The wire codec caps an entry's key and value at
#: 64 KiB each, so 256 entries stay well under MAX_RECORD: one record for a
#: whole large log (as a rewrite would write) could exceed it and make the
#: file unloadable.
_ENTRIES_PER_RECORD = 256
#: Do not consider rewriting the file before it is this large.
_FIRST_CHECK = 1_000_000


class StorageError(Exception):
    """The data directory cannot be used (corruption that is not a torn tail)."""


def _frame(body: bytes) -> bytes:
    head = struct.pack(">II", len(body), zlib.crc32(body))
    return head + struct.pack(">I", zlib.crc32(head)) + body


def _record(payload: list) -> bytes:
    return _frame(msgpack.packb(payload, use_bin_type=True))


def _entries_out(entries: list[Entry]) -> list:
    return [datagram.entry_to_wire(e) for e in entries]


def _log_records(log_from: int, entries: list[Entry]) -> bytes:
    """``[2, ...]`` records that truncate from ``log_from`` and append ``entries``."""
    if not entries:
        return _record([_LOG, log_from, []])
    return b"".join(
        _record([_LOG, log_from + i, _entries_out(entries[i : i + _ENTRIES_PER_RECORD])])
        for i in range(0, len(entries), _ENTRIES_PER_RECORD)
    )


def _nat(value: Any) -> bool:
    return type(value) is int and value >= 0


def _compacted(start: int, start_term: int, entries: list[Entry], index: int, term: int) -> list[Entry]:
    """The entries left after compacting to (index, term): ``RaftLog.compact``'s rule."""
    if index < start:
        raise ValueError(f"cannot compact to {index}: the log already starts after {start}")
    if index == start:
        held = start_term
    elif index <= start + len(entries):
        held = entries[index - start - 1].term
    else:
        return []
    return entries[index - start :] if held == term else []


def state_records(state: DurableState) -> bytes:
    """Records holding just ``state``: hard state, log start, entries after it (a rewrite's raft.dat)."""
    blob = _record([_HARD, state.hard.current_term, state.hard.voted_for])
    if (state.start_index, state.start_term) != (0, 0):
        blob += _record([_COMPACT, state.start_index, state.start_term])
    if state.entries:
        blob += _log_records(state.start_index + 1, state.entries)
    return blob


#: The files ``corrupt N`` can damage.
DAMAGEABLE = (FILENAME, SNAPSHOT_FILENAME)


def _flip(data: bytes) -> bytes:
    """Flip every bit of the first byte: a damaged record header, which no torn write explains."""
    return bytes([data[0] ^ 0xFF]) + data[1:]


def holds_file(state: DurableState, name: str) -> bool:
    """Whether a data directory holding ``state`` has a non-empty ``name``.

    raft.dat is empty until the first save, and every save writes at least
    one record; snapshot.dat exists once there is a snapshot.
    """
    if name == SNAPSHOT_FILENAME:
        return state.snapshot is not None
    initial = state.hard.current_term == 0 and state.hard.voted_for == 0
    return not (initial and state.start_index == 0 and not state.entries and state.snapshot is None)


def damage_file(directory: str | os.PathLike[str], name: str) -> None:
    """Flip a byte at rest in ``name`` of a stopped node's data directory (the lab's ``corrupt N``)."""
    path = Path(directory) / name
    data = path.read_bytes() if path.exists() else b""
    if not data:
        raise StorageError(f"{name} is empty or missing: nothing to corrupt")
    with open(path, "r+b") as f:
        f.write(_flip(data)[:1])
        f.flush()
        os.fsync(f.fileno())


def refuse_damaged(state: DurableState, name: str) -> None:
    """Raise the StorageError that loading files holding ``state``, damaged by ``damage_file``, raises.

    The in-process backend keeps no bytes; it builds the ones FileStorage
    would find and runs the same checks on them, so both backends refuse
    with the same words (files named relative to the data directory).
    """
    probe = FileStorage(".")
    if name == SNAPSHOT_FILENAME:
        assert state.snapshot is not None
        probe._check_snapshot(_flip(_frame(state.snapshot.data)))
    else:
        probe._replay(_flip(state_records(state)))
    raise StorageError(f"{name}: damaged")  # not reached: the first header no longer checks


class FileStorage:
    """A node's ``raft.dat`` and ``snapshot.dat`` in its data directory."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        warn: Callable[[str], None] | None = None,
        disk: Disk | None = None,
    ) -> None:
        self.dir = Path(directory)
        #: Every write and fsync goes through it (faults are injected there).
        self.disk = disk or Disk()
        self.path = self.dir / FILENAME
        self.snapshot_path = self.dir / SNAPSHOT_FILENAME
        self.warn = warn or (lambda text: None)
        self.hard = HardState()
        #: The log: ``entries`` are indexes start_index+1 .. start_index+len(entries).
        self.start_index = 0
        self.start_term = 0
        self.entries: list[Entry] = []
        self.snapshot: Snapshot | None = None
        self._fd = -1
        self._size = 0
        self._next_check = _FIRST_CHECK

    # ------------------------------------------------------------------ recovery

    def load(self) -> tuple[HardState, RaftLog, Snapshot | None]:
        """Recover the state from disk (creating an empty store if there is none)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / SNAPSHOT_TMP
        if tmp.exists():
            # snapshot.dat is only replaced once the temporary file is whole, so this
            # one never took effect: whatever it holds, it is not part of the state.
            tmp.unlink()
            self.warn(f"{tmp}: left by an interrupted snapshot write; deleted")
        self.snapshot = self._read_snapshot()
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
                self.disk.fsync(f.fileno(), FILENAME)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._size = good
        self._reconcile()
        self._fsync_dir()
        return self.hard.copy(), RaftLog(self.entries, self.start_index, self.start_term), self.snapshot

    def _read_snapshot(self) -> Snapshot | None:
        """The snapshot in snapshot.dat, if any; StorageError for any damage at all."""
        if not self.snapshot_path.exists():
            return None
        return self._check_snapshot(self.snapshot_path.read_bytes())

    def _check_snapshot(self, data: bytes) -> Snapshot:
        """The snapshot ``data`` (snapshot.dat's bytes) holds; StorageError for any damage at all."""
        path = self.snapshot_path

        def damaged(problem: str) -> StorageError:
            return StorageError(
                f"{path}: damaged ({problem}); the file is written whole and renamed into place, "
                "so this is not an interrupted write: refusing to start rather than guess "
                "(move the directory aside to start empty)"
            )

        if len(data) < _HEADER.size:
            raise damaged(f"{len(data)} bytes, shorter than a record header")
        length, body_crc, head_crc = _HEADER.unpack_from(data)
        if zlib.crc32(data[:8]) != head_crc:
            raise damaged("damaged record header")
        if length != len(data) - _HEADER.size:
            raise damaged(f"the header gives {length} bytes of snapshot but the file holds {len(data) - 12}")
        body = data[_HEADER.size :]
        if zlib.crc32(body) != body_crc:
            raise damaged("checksum mismatch")
        try:
            snapshot, _ = restore_snapshot(body)
        except SnapshotError as exc:
            raise damaged(f"not a valid snapshot: {exc}") from None
        return snapshot

    def _replay(self, data: bytes) -> int:
        """Apply every intact record; return the length of the intact prefix."""
        self.hard, self.start_index, self.start_term, self.entries = HardState(), 0, 0, []
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
            except (ValueError, TypeError, IndexError, WireError, msgpack.UnpackException) as exc:
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
            last = self.start_index + len(self.entries)
            if not _nat(log_from) or not self.start_index < log_from <= last + 1:
                raise ValueError(
                    f"log change from index {log_from} to a log of {self.start_index + 1}..{last}"
                )
            del self.entries[log_from - self.start_index - 1 :]
            self.entries.extend(datagram.entry_from_wire(e) for e in raw)
        elif kind == _COMPACT:
            _, index, term = payload
            if not _nat(index) or not _nat(term):
                raise ValueError("bad compaction point")
            self.entries = _compacted(self.start_index, self.start_term, self.entries, index, term)
            self.start_index, self.start_term = index, term
        else:
            raise ValueError(f"unknown record type {kind!r}")

    def _reconcile(self) -> None:
        """Make the replayed log start at the snapshot, or refuse if it cannot be made to."""
        snapshot = self.snapshot
        if snapshot is None:
            if self.start_index:
                raise StorageError(
                    f"{self.path}: the log starts after index {self.start_index} but there is no "
                    f"{self.snapshot_path} holding the entries before it; refusing to start "
                    "(move the directory aside to start empty)"
                )
            return
        if self.start_index > snapshot.index:
            raise StorageError(
                f"{self.path}: the log starts after index {self.start_index}, beyond the snapshot in "
                f"{self.snapshot_path} (index {snapshot.index}): entries in between are lost; refusing "
                "to start (move the directory aside to start empty)"
            )
        if (self.start_index, self.start_term) != (snapshot.index, snapshot.term):
            # A crash between replacing snapshot.dat and appending its [3] record. Finish
            # the compaction, durably: the records saved from now on number the log from
            # the snapshot, and would not replay onto the uncompacted log.
            self.warn(
                f"{self.path}: compaction to the snapshot at index {snapshot.index} was interrupted "
                f"(the log started after {self.start_index}); finished it"
            )
            self.entries = _compacted(
                self.start_index, self.start_term, self.entries, snapshot.index, snapshot.term
            )
            self.start_index, self.start_term = snapshot.index, snapshot.term
            self._rewrite()

    # ------------------------------------------------------------------ writing

    def save(self, ready: Ready) -> None:
        """Apply ``ready`` in the contract's order (snapshot, hard state, log) and fsync before returning."""
        # Work out the new state and encode every record before touching the disk, so
        # that a change the log cannot take (a bug upstream) raises with nothing written.
        start, start_term, entries = self.start_index, self.start_term, self.entries
        snapshot = ready.snapshot
        chunks = []
        if snapshot is not None:
            entries = _compacted(start, start_term, entries, snapshot.index, snapshot.term)
            start, start_term = snapshot.index, snapshot.term
            chunks.append(_record([_COMPACT, start, start_term]))
        if ready.hard_state is not None:
            hard = ready.hard_state
            chunks.append(_record([_HARD, hard.current_term, hard.voted_for]))
        if ready.log_from:
            if not start < ready.log_from <= start + len(entries) + 1:
                raise ValueError(
                    f"log change from index {ready.log_from} to a log of {start + 1}..{start + len(entries)}"
                )
            chunks.append(_log_records(ready.log_from, ready.entries))
        if not chunks:
            return
        if snapshot is not None:
            self._write_snapshot(snapshot)  # durable before the record that drops the log it covers
        blob = b"".join(chunks)
        # Log entries take new space; a hard state alone does not (raftviz.node.disk, "full").
        self.disk.write(self._fd, blob, FILENAME, needs_space=bool(ready.entries) or snapshot is not None)
        self.disk.fsync(self._fd, FILENAME)
        self._size += len(blob)
        self.start_index, self.start_term, self.entries = start, start_term, entries
        if ready.hard_state is not None:
            self.hard = ready.hard_state.copy()
        if ready.log_from:
            # In place: the common save appends a few entries to a long log.
            del self.entries[ready.log_from - start - 1 :]
            self.entries.extend(ready.entries)
        if snapshot is not None:
            # The state just shrank: rewriting now keeps the file bounded under compaction.
            self._rewrite()
        elif self._size > self._next_check and self.disk.fault.mode != "full":
            # Checked rarely (the file must double first), since measuring is O(state).
            state = self._state()
            if self._size > 4 * len(state):
                self._rewrite(state)
            self._next_check = max(2 * self._size, _FIRST_CHECK)

    def durable(self) -> DurableState:
        """What the files hold now (the in-memory copy is kept equal to them)."""
        return DurableState(
            self.hard.copy(), self.start_index, self.start_term, list(self.entries), self.snapshot
        )

    def replace(self, state: DurableState) -> None:
        """Make the files hold exactly ``state`` (a checkpoint's restore), fsync'd.

        Each file is written whole to a temporary file, fsync'd, renamed into
        place and the directory fsync'd, as a rewrite is. The snapshot goes
        first, as in ``save``. Nothing is written when the files already hold
        ``state``: going back one step usually changes one node's storage only.
        """
        if state.same_as(self.durable()):
            return
        with self.disk.suspended():  # the lab's housekeeping, not I/O of the run it restores
            self._replace(state)

    def _replace(self, state: DurableState) -> None:
        new = state.snapshot
        if new is not None and (self.snapshot is None or self.snapshot.data != new.data):
            self._write_snapshot(new)
        self.hard = state.hard.copy()
        self.start_index, self.start_term = state.start_index, state.start_term
        self.entries = list(state.entries)
        self._rewrite()
        if state.snapshot is None and self.snapshot_path.exists():
            # Only now that raft.dat starts at 0 again: before, it still relied on it.
            self.snapshot_path.unlink()
            self._fsync_dir()
        self.snapshot = state.snapshot

    def _write_snapshot(self, snapshot: Snapshot) -> None:
        tmp = self.dir / SNAPSHOT_TMP
        self._write_whole(tmp, _frame(snapshot.data))
        os.replace(tmp, self.snapshot_path)
        self._fsync_dir()
        self.snapshot = snapshot

    def _state(self) -> bytes:
        """Records holding just the current state: hard state, log start, entries after it."""
        return state_records(self.durable_view())

    def durable_view(self) -> DurableState:
        """Like ``durable`` but sharing the entry list (read only)."""
        return DurableState(self.hard, self.start_index, self.start_term, self.entries, self.snapshot)

    def _rewrite(self, blob: bytes | None = None) -> None:
        """Replace the file by one holding just the current state (``blob``, if already built)."""
        tmp = self.path.with_suffix(".tmp")
        if blob is None:
            blob = self._state()
        self._write_whole(tmp, blob)
        os.replace(tmp, self.path)
        self._fsync_dir()
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self._size = len(blob)
        self._next_check = max(2 * self._size, _FIRST_CHECK)

    def _write_whole(self, path: Path, data: bytes) -> None:
        """A new file holding ``data``, fsync'd (not yet renamed into place)."""
        self.disk.check_write(path.name, needs_space=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            self.disk.write(fd, data, path.name)
            self.disk.fsync(fd, path.name)
        finally:
            os.close(fd)

    def _fsync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            self.disk.fsync(fd, self.dir.name)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
