"""Durable storage of a node's persistent state: a checksummed log file and a snapshot file.

The data directory holds ``raft.dat``, a sequence of records::

    +----------------+-------------------+---------------------+-------------------------+
    | length: u32 BE | body crc32: u32 BE | head crc32: u32 BE | payload (msgpack array) |
    +----------------+-------------------+---------------------+-------------------------+

``head crc32`` covers the eight bytes before it, so a damaged length is seen
as damage rather than read as a record running past the end of the file.

A payload is one of:

* ``[1, term, voted_for]``: the hard state; ``[1, term, voted_for, note]``
  while the node is *recovering* (``note`` says what it lost, see below);
* ``[2, log_from, [[term, command, stamp], ...]]``: truncate the log from the
  absolute index ``log_from`` on, then append these entries; valid only if
  ``start_index < log_from <= last_index + 1``;
* ``[3, index, term]``: the log now starts after ``(index, term)``, by the
  rule of ``RaftLog.compact``: if the log holds an entry at ``index`` with
  ``term``, it and everything before it are dropped, otherwise the whole log
  is; ``index`` may not be below the current start.

Recovery (protocol-aware: Alagappan et al., FAST 2018) replays every record,
by :func:`recover`, a pure function of the files' bytes that the in-process
backend runs too. What a crash in the middle of a write leaves behind (a
*torn* tail) is an incomplete header, an intact header whose body runs past
the end of the file, or zeros to the end of the file, starting after at most
an incomplete header or inside the last record's body and reaching past its
end (blocks allocated, never written): it is truncated with a warning, since
its write never completed and nothing that depended on it was sent.

Anything else may have lost what the node acknowledged: a complete record
whose checksum fails (the last one too: every byte of it was written), a part
cut out of the middle (intact records follow the damage), raft.dat missing
or empty beside a snapshot. The node keeps the intact records before the
damage and starts *recovering*: the hard state's note says what was lost
(``lost entries 5..7``; ``5..?`` when nothing after the damage names the end;
``and its vote in term 3`` when the vote is unsure), its term is the highest
that anything left names, and raft.dat is rewritten to hold just that, so the
note survives a restart. The core then grants no vote and does not campaign
until a leader has caught it up (:mod:`raftviz.core.replication`). When
nothing at all is left to trust (the first record damaged, or raft.dat
missing or empty although identity.dat says the directory held state, with
no snapshot), the node refuses to start rather than guess.

A file cut short at an arbitrary byte is, in its bytes, a torn final write:
nothing outside the file records its length, so it is truncated like one.

``identity.dat`` (one record ``[cluster, node id]``) says whose directory this
is. It is written once, after the first record reaches raft.dat (so its
presence means raft.dat held state); a directory of another node or cluster is
refused. It is written when missing beside a non-empty raft.dat (a directory
from before it existed).

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
2. check ``identity.dat``, if the store was given an identity;
3. read and check ``snapshot.dat``, if there is one;
4. replay ``raft.dat`` by the rules above (:func:`recover`), truncating a
   torn tail, or rewriting the file around damage;
5. reconcile the two: a log that starts before the snapshot is what a crash
   between ``snapshot.dat`` and its ``[3]`` record leaves, so the compaction
   is finished then, with a warning, and made durable (records saved later
   number the log from the snapshot); a log that starts after the snapshot,
   or after 0 with no snapshot at all, is corruption.

The log it returns starts at the snapshot.

``corrupt N KIND`` (the lab) damages a stopped node's files
(:func:`damage_directory`; :func:`damage` is the pure part, which
``MemoryStorage`` uses on the bytes the files would hold). A whole raft.dat is
first laid out afresh, one entry per record, so that both backends damage
the same bytes however the node happened to write them.

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
from dataclasses import dataclass, field
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
IDENTITY_FILENAME = "identity.dat"
#: The cluster name a node uses unless told another (``raftviz node --cluster``; the lab's nodes).
DEFAULT_CLUSTER = "raftviz"
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


def _log_records(log_from: int, entries: list[Entry], per_record: int = _ENTRIES_PER_RECORD) -> bytes:
    """``[2, ...]`` records that truncate from ``log_from`` and append ``entries``."""
    if not entries:
        return _record([_LOG, log_from, []])
    return b"".join(
        _record([_LOG, log_from + i, _entries_out(entries[i : i + per_record])])
        for i in range(0, len(entries), per_record)
    )


def _hard_record(hard: HardState) -> bytes:
    """``[1, term, vote]``, or ``[1, term, vote, note]`` while the node is recovering."""
    if hard.recovering:
        return _record([_HARD, hard.current_term, hard.voted_for, hard.recovering])
    return _record([_HARD, hard.current_term, hard.voted_for])


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


def state_records(state: DurableState, per_record: int = _ENTRIES_PER_RECORD) -> bytes:
    """Records holding just ``state``: hard state, log start, entries after it (a rewrite's raft.dat).

    ``per_record`` entries to a record; ``corrupt N`` lays the log out one
    entry per record (:func:`damage`), so that damage to a record is damage
    to one entry.
    """
    blob = _hard_record(state.hard)
    if (state.start_index, state.start_term) != (0, 0):
        blob += _record([_COMPACT, state.start_index, state.start_term])
    if state.entries:
        blob += _log_records(state.start_index + 1, state.entries, per_record)
    return blob


# =========================================================================== recovery rules
#
# Pure functions of the files' bytes, shared by FileStorage (which reads them from
# disk) and MemoryStorage (which, after ``corrupt N``, holds the bytes the files
# would hold): both backends reach the same decision from the same bytes.


class _Invalid(Exception):
    """A record whose checksums hold but whose payload is not a valid record (a bug, not the disk)."""


@dataclass(slots=True)
class Replayed:
    """What replaying raft.dat found: the state of its intact prefix, and what follows it."""

    hard: HardState = field(default_factory=HardState)
    start_index: int = 0
    start_term: int = 0
    entries: list[Entry] = field(default_factory=list)
    #: Bytes of intact records at the start of the file, and how many records.
    good: int = 0
    records: int = 0
    #: Why the bytes after ``good`` are a torn final write ("" if they are not, or there are none).
    torn: str = ""
    #: What is wrong at ``good`` when it is *not* a torn write ("": nothing).
    damage: str = ""
    #: The highest log index and term that intact records after the damage name (0: none).
    later_index: int = 0
    later_term: int = 0

    @property
    def last_index(self) -> int:
        return self.start_index + len(self.entries)


def _apply(state: Replayed, payload: Any) -> None:
    """Apply one record's payload to ``state``; ``_Invalid`` if it is not a valid record."""
    try:
        kind = payload[0]
        if kind == _HARD:
            term, vote = payload[1], payload[2]
            note = payload[3] if len(payload) == 4 else ""
            if not (_nat(term) and _nat(vote) and isinstance(note, str)) or len(payload) > 4:
                raise ValueError("bad hard state")
            state.hard = HardState(term, vote, note)
        elif kind == _LOG:
            _, log_from, raw = payload
            last = state.last_index
            if not _nat(log_from) or not state.start_index < log_from <= last + 1:
                raise ValueError(
                    f"log change from index {log_from} to a log of {state.start_index + 1}..{last}"
                )
            del state.entries[log_from - state.start_index - 1 :]
            state.entries.extend(datagram.entry_from_wire(e) for e in raw)
        elif kind == _COMPACT:
            _, index, term = payload
            if not _nat(index) or not _nat(term):
                raise ValueError("bad compaction point")
            state.entries = _compacted(state.start_index, state.start_term, state.entries, index, term)
            state.start_index, state.start_term = index, term
        else:
            raise ValueError(f"unknown record type {kind!r}")
    except (ValueError, TypeError, IndexError, KeyError, WireError) as exc:
        raise _Invalid(str(exc)) from None


def _intact_at(data: bytes, pos: int) -> int:
    """The end of the intact record at ``pos`` (both checksums hold), or 0 if there is none."""
    if len(data) - pos < _HEADER.size:
        return 0
    length, body_crc, head_crc = _HEADER.unpack_from(data, pos)
    end = pos + _HEADER.size + length
    if zlib.crc32(data[pos : pos + 8]) != head_crc or length > MAX_RECORD or end > len(data):
        return 0
    return end if zlib.crc32(data[pos + _HEADER.size : end]) == body_crc else 0


def _torn(data: bytes, pos: int) -> str:
    """Why the bytes from ``pos`` (a record boundary) are a torn final write, or "" if they are not.

    A write that did not complete leaves the start of its record and nothing
    after: an incomplete header, or an intact header whose body runs past the
    end of the file. Some file systems also leave zeros where the unfinished
    write's blocks were allocated: zeros to the end, after at most an
    incomplete header, are torn too. A *complete* record whose checksum fails
    is not: every byte of it reached the disk, so the disk changed it later.
    """
    rest = data[pos:]
    nonzero = len(rest.rstrip(b"\0"))
    if nonzero < _HEADER.size:
        if nonzero == len(rest):
            return f"an incomplete record header ({len(rest)} bytes)"
        return f"{len(rest) - nonzero} zero bytes at the end" + (
            f" after {nonzero} bytes of an incomplete header" if nonzero else ""
        )
    length, _, head_crc = _HEADER.unpack_from(data, pos)
    if zlib.crc32(data[pos : pos + 8]) != head_crc or length > MAX_RECORD:
        return ""
    if pos + _HEADER.size + length > len(data):
        return f"a record of {length} bytes of which {len(rest) - _HEADER.size} were written"
    if pos + _HEADER.size + length < len(data) and pos + nonzero < pos + _HEADER.size + length:
        # Zeros from inside the record's body to past its end: the blocks were allocated
        # but the write never reached them. (A damaged record with nothing after it is not
        # this: every byte of it was written.)
        after = len(data) - pos - _HEADER.size - length
        return f"a record of {length} bytes whose end, and {after} bytes after it, are zeros"
    return ""


def replay(data: bytes, name: str) -> Replayed:
    """Replay raft.dat's bytes (``name`` is the file, for messages): its intact prefix, and what follows.

    Raises StorageError for a record whose checksums hold but whose payload is
    invalid: the disk did not do that, the program that wrote it did.
    """
    state = Replayed()
    pos = 0
    while pos < len(data):
        end = _intact_at(data, pos)
        if not end:
            state.torn = _torn(data, pos)
            if not state.torn:
                state.damage = _damage_at(data, pos)
                _scan_later(state, data, pos + 1)
            break
        try:
            _apply(state, msgpack.unpackb(data[pos + _HEADER.size : end], raw=False))
        except (_Invalid, ValueError, msgpack.UnpackException) as exc:
            raise StorageError(
                f"{name}: record {state.records + 1} at byte {pos} is invalid: {exc}"
            ) from None
        state.records += 1
        pos = state.good = end
    return state


def _damage_at(data: bytes, pos: int) -> str:
    length, _, head_crc = _HEADER.unpack_from(data, pos)
    if zlib.crc32(data[pos : pos + 8]) != head_crc or length > MAX_RECORD:
        return "damaged record header"
    return "checksum mismatch"


def _scan_later(state: Replayed, data: bytes, pos: int) -> None:
    """Find the intact records after damage (a part cut out of the file leaves some): what they name.

    They are not applied (what they changed depended on what is lost); the
    highest index and term they name say how much was lost.
    """
    while pos < len(data) - _HEADER.size:
        end = _intact_at(data, pos)
        if not end:
            pos += 1
            continue
        try:
            payload = msgpack.unpackb(data[pos + _HEADER.size : end], raw=False)
            kind = payload[0]
            if kind == _HARD:
                state.later_term = max(state.later_term, int(payload[1]))
            elif kind == _LOG and payload[2]:
                entries = [datagram.entry_from_wire(e) for e in payload[2]]
                state.later_index = max(state.later_index, int(payload[1]) + len(entries) - 1)
                state.later_term = max(state.later_term, max(e.term for e in entries))
            elif kind == _COMPACT:
                state.later_index = max(state.later_index, int(payload[1]))
                state.later_term = max(state.later_term, int(payload[2]))
        except (ValueError, TypeError, IndexError, KeyError, WireError, msgpack.UnpackException):
            pass  # intact checksums over a payload that is not a record: nothing learnt from it
        pos = end


@dataclass(slots=True)
class Recovered:
    """What a node starts with after recovery, and what recovery did to get there."""

    state: DurableState
    #: What to tell the operator (each also means raft.dat changed).
    warnings: list[str] = field(default_factory=list)
    #: raft.dat: ``-1`` rewrite it whole from ``state``; else keep this many bytes (truncate the rest).
    keep: int = -1


def recover(
    log: bytes | None, snapshot: Snapshot | None, had_state: bool | None, name: str, snapshot_name: str
) -> Recovered:
    """The recovery rules (module docstring, "Recovery"): what a node keeps of raft.dat's bytes ``log``.

    ``log`` is None when raft.dat is missing; ``snapshot`` is snapshot.dat's
    (already checked); ``had_state``: whether identity.dat says the directory
    has held state before (it is written after the first record; None: not
    known, as for a store without an identity). ``name`` and
    ``snapshot_name`` are the files, for messages. Raises StorageError when
    nothing at all can be trusted.
    """
    data = log or b""
    found = replay(data, name)
    warnings: list[str] = []
    keep = len(data)
    lost = ""
    if found.torn:
        warnings.append(
            f"{name}: torn tail of {len(data) - found.good} bytes after the last complete record "
            f"({found.torn}); truncated"
        )
        keep = found.good
    elif found.damage:
        number, pos = found.records + 1, found.good
        if not found.records and snapshot is None:
            raise StorageError(
                f"{name}: record {number} at byte {pos} is corrupt ({found.damage}) and it is not a torn "
                "final write; refusing to start rather than guess (move the directory aside to start empty)"
            )
        lost = f"record {number} at byte {pos} of {name} damaged ({found.damage})"
    elif not data and snapshot is not None and had_state is not False:
        # (Without identity.dat, raft.dat never held a record: the node's first save, an
        # InstallSnapshot, was cut short after snapshot.dat. Nothing was acknowledged yet,
        # and the interrupted compaction is finished below.)
        lost = f"{name} missing or empty beside {snapshot_name}"
    elif not data and had_state:
        raise StorageError(
            f"{name} is missing or empty although {IDENTITY_FILENAME} says this directory held state: "
            "nothing is left to trust; refusing to start (move the directory aside to start empty)"
        )
    state = DurableState(found.hard, found.start_index, found.start_term, found.entries, snapshot)
    reconciled = _reconcile(state, name, snapshot_name)
    if reconciled and not lost:
        warnings.append(reconciled)
        keep = -1
    if lost:
        note = _lost(found, state)
        warnings.append(f"{lost}: kept what it could trust, {note}; recovering (no vote until caught up)")
        state.hard = _unsure_hard(found, state, note)
        keep = -1
    return Recovered(state, warnings, keep)


def _lost(found: Replayed, state: DurableState) -> str:
    """What a damaged or missing raft.dat lost: ``lost entries 5..7 and its vote in term 3``."""
    first = state.start_index + len(state.entries) + 1
    span = f"{first}..{found.later_index}" if found.later_index >= first else f"{first}..?"
    return f"lost entries {span}"


def _unsure_hard(found: Replayed, state: DurableState, note: str) -> HardState:
    """Term and vote when records may be lost: the highest term anything left names; the vote only if sure.

    A vote is never changed within a term, so the vote of the intact prefix
    still holds if no later term is seen; otherwise it is unknown (0), and the
    recovering node votes in no term until caught up.
    """
    terms = [found.hard.current_term, found.later_term, state.start_term]
    terms += [state.snapshot.term] if state.snapshot is not None else []
    terms += [state.entries[-1].term] if state.entries else []
    term = max(terms)
    vote = found.hard.voted_for if term == found.hard.current_term else 0
    if not vote:
        note += f" and its vote in term {term}"
    return HardState(term, vote, note)


def _reconcile(state: DurableState, name: str, snapshot_name: str) -> str:
    """Make the replayed log start at the snapshot (a warning if it had to), or refuse if it cannot."""
    snapshot = state.snapshot
    if snapshot is None:
        if state.start_index:
            raise StorageError(
                f"{name}: the log starts after index {state.start_index} but there is no "
                f"{snapshot_name} holding the entries before it; refusing to start "
                "(move the directory aside to start empty)"
            )
        return ""
    if state.start_index > snapshot.index:
        raise StorageError(
            f"{name}: the log starts after index {state.start_index}, beyond the snapshot in "
            f"{snapshot_name} (index {snapshot.index}): entries in between are lost; refusing "
            "to start (move the directory aside to start empty)"
        )
    if (state.start_index, state.start_term) == (snapshot.index, snapshot.term):
        return ""
    # A crash between replacing snapshot.dat and appending its [3] record. Finish
    # the compaction, durably: the records saved from now on number the log from
    # the snapshot, and would not replay onto the uncompacted log.
    before = state.start_index
    state.entries = _compacted(
        state.start_index, state.start_term, state.entries, snapshot.index, snapshot.term
    )
    state.start_index, state.start_term = snapshot.index, snapshot.term
    return (
        f"{name}: compaction to the snapshot at index {snapshot.index} was interrupted "
        f"(the log started after {before}); finished it"
    )


# =========================================================================== identity


def identity_record(cluster: str, node: int) -> bytes:
    """identity.dat's bytes: one record ``[cluster, node id]``."""
    return _record([cluster, node])


def check_identity(data: bytes | None, cluster: str, node: int, name: str) -> bool:
    """Whether identity.dat (its bytes, None if missing) is there; StorageError unless it names this node.

    A data directory belongs to one node of one cluster: another node started
    on it would take that node's votes and log for its own.
    """
    if data is None:
        return False
    end = _intact_at(data, 0)
    try:
        if end != len(data):
            raise ValueError("damaged")
        owner, owner_node = msgpack.unpackb(data[_HEADER.size :], raw=False)
        if not isinstance(owner, str) or type(owner_node) is not int:
            raise ValueError("not an identity")
    except (ValueError, TypeError, msgpack.UnpackException):
        raise StorageError(
            f"{name}: damaged: cannot tell whose data directory this is; refusing to start "
            "(move the directory aside to start empty)"
        ) from None
    if (owner, owner_node) != (cluster, node):
        raise StorageError(
            f"{name}: this data directory is node {owner_node}'s of cluster {owner!r}, not node {node}'s "
            f"of cluster {cluster!r}: refusing to start (check --data and --id)"
        )
    return True


#: What ``corrupt N KIND`` does to a stopped node's raft.dat (docs/scenario-language.md):
#: ``log`` flips the first byte (nothing before it to trust: refused); ``last`` flips a
#: byte in the last complete record; ``cut`` cuts the middle third out of the file;
#: ``zeros`` appends ZEROS zero bytes (a torn write); ``lose-log`` removes the file.
LOG_DAMAGE = ("log", "last", "cut", "zeros", "lose-log")
#: How many zero bytes ``corrupt N zeros`` appends: a file system block, as after a power loss.
ZEROS = 4096


def _flip(data: bytes, at: int = 0) -> bytes:
    """Flip every bit of the byte at ``at`` (by default a record header, which no torn write explains)."""
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def holds_file(state: DurableState, name: str) -> bool:
    """Whether a data directory holding ``state`` has a non-empty ``name``.

    raft.dat is empty until the first save, and every save writes at least
    one record; snapshot.dat exists once there is a snapshot.
    """
    if name == SNAPSHOT_FILENAME:
        return state.snapshot is not None
    initial = state.hard == HardState()
    return not (initial and state.start_index == 0 and not state.entries and state.snapshot is None)


def is_clean(log: bytes) -> bool:
    """Whether raft.dat's bytes replay whole (no torn tail, no damage)."""
    try:
        found = replay(log, FILENAME)
    except StorageError:
        return False
    return not (found.torn or found.damage)


def damage(kind: str, log: bytes) -> bytes:
    """raft.dat's bytes after ``corrupt N KIND`` (``b""``: the file is gone); StorageError: nothing to damage.

    ``log`` is what the file holds: laid out by ``state_records(state, 1)``
    (one entry per record) when it was whole, so that both backends damage
    the same bytes however the node happened to write them.
    """
    if not log:
        raise StorageError(f"{FILENAME} is empty or missing: nothing to corrupt")
    if kind == "log":
        return _flip(log)
    if kind == "zeros":
        return log + bytes(ZEROS)
    if kind == "lose-log":
        return b""
    if kind == "cut":
        third = len(log) // 3
        return log[:third] + log[2 * third :]
    if kind == "last":
        pos, last = 0, -1
        while end := _intact_at(log, pos):
            last, pos = pos, end
        if last < 0:
            raise StorageError(f"{FILENAME} holds no complete record: nothing to corrupt")
        return _flip(log, pos - 1)  # the last byte of its body: the body checksum fails
    raise ValueError(f"unknown damage {kind!r}")


def damage_directory(directory: str | os.PathLike[str], kind: str, node: int = 0) -> None:
    """Damage a stopped node's files at rest (the lab's ``corrupt N KIND`` on files); fsync'd.

    ``kind`` is one of LOG_DAMAGE, ``snapshot`` (flip snapshot.dat's first
    byte) or ``id`` (identity.dat names node ``node`` instead).
    """
    base = Path(directory)
    if kind == "snapshot":
        path = base / SNAPSHOT_FILENAME
        data = path.read_bytes() if path.exists() else b""
        if not data:
            raise StorageError(f"{SNAPSHOT_FILENAME} is empty or missing: nothing to corrupt")
        _write_synced(path, _flip(data))
        return
    if kind == "id":
        path = base / IDENTITY_FILENAME
        if not path.exists():
            raise StorageError(f"{IDENTITY_FILENAME} is missing: nothing to corrupt")
        cluster, _ = msgpack.unpackb(path.read_bytes()[_HEADER.size :], raw=False)
        _write_synced(path, identity_record(cluster, node))
        return
    path = base / FILENAME
    log = path.read_bytes() if path.exists() else b""
    if log and is_clean(log):
        snap_path = base / SNAPSHOT_FILENAME
        snapshot = None
        if snap_path.exists():
            snapshot = FileStorage(base)._check_snapshot(snap_path.read_bytes())
        state = recover(log, snapshot, True, FILENAME, SNAPSHOT_FILENAME).state
        log = state_records(state, 1)
    damaged = damage(kind, log)
    if damaged:
        _write_synced(path, damaged)
    else:
        path.unlink()


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def refuse_damaged_snapshot(state: DurableState) -> None:
    """Raise the StorageError that loading snapshot.dat holding ``state``'s snapshot, flipped, raises.

    The in-process backend keeps no snapshot bytes; it builds the ones
    FileStorage would find and runs the same checks on them, so both backends
    refuse with the same words (files named relative to the data directory).
    """
    assert state.snapshot is not None
    FileStorage(".")._check_snapshot(_flip(_frame(state.snapshot.data)))
    raise StorageError(f"{SNAPSHOT_FILENAME}: damaged")  # not reached: the first header no longer checks


class FileStorage:
    """A node's ``raft.dat`` and ``snapshot.dat`` in its data directory."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        warn: Callable[[str], None] | None = None,
        disk: Disk | None = None,
        identity: tuple[str, int] | None = None,
    ) -> None:
        """``identity``: (cluster, node id) this directory must belong to (None: not checked)."""
        self.dir = Path(directory)
        self.identity = identity
        #: identity.dat is written (it is, once the node has saved anything).
        self._identified = identity is None
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
        """Recover the state from disk (creating an empty store if there is none).

        The rules are :func:`recover`'s; ``recovering`` then says what was lost,
        if anything (the hard state's note, as the core will see it).
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / SNAPSHOT_TMP
        if tmp.exists():
            # snapshot.dat is only replaced once the temporary file is whole, so this
            # one never took effect: whatever it holds, it is not part of the state.
            tmp.unlink()
            self.warn(f"{tmp}: left by an interrupted snapshot write; deleted")
        had_state = self._check_identity()
        self.snapshot = self._read_snapshot()
        data = self.path.read_bytes() if self.path.exists() else None
        found = recover(data, self.snapshot, had_state, str(self.path), str(self.snapshot_path))
        for warning in found.warnings:
            self.warn(warning)
        state = found.state
        self.hard, self.start_index, self.start_term = state.hard, state.start_index, state.start_term
        self.entries = state.entries
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if found.keep < 0:
            self._rewrite()
        else:
            if found.keep < len(data or b""):
                with open(self.path, "r+b") as f:
                    f.truncate(found.keep)
                    f.flush()
                    self.disk.fsync(f.fileno(), FILENAME)
            self._size = found.keep
        if not self._identified and self._size:
            self._write_identity()  # a directory from before identity.dat, or a crash before it was written
        self._fsync_dir()
        return self.hard.copy(), RaftLog(self.entries, self.start_index, self.start_term), self.snapshot

    def _check_identity(self) -> bool | None:
        """Refuse another node's directory; whether identity.dat is there (None: no identity to check)."""
        if self.identity is None:
            return None
        path = self.dir / IDENTITY_FILENAME
        data = path.read_bytes() if path.exists() else None
        self._identified = check_identity(data, *self.identity, str(path))
        return self._identified

    def _write_identity(self) -> None:
        """identity.dat, written once: after the first record, so that its presence means raft.dat had one."""
        assert self.identity is not None
        tmp = self.dir / (IDENTITY_FILENAME + ".tmp")
        # Written once, tiny, and not part of the run's state: no injected fault applies
        # (a full disk must not turn the save that triggered it into a refusal).
        with self.disk.suspended():
            self._write_whole(tmp, identity_record(*self.identity))
            os.replace(tmp, self.dir / IDENTITY_FILENAME)
            self._fsync_dir()
        self._identified = True

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
            chunks.append(_hard_record(hard))
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
        if not self._identified:
            self._write_identity()
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
