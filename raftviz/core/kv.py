"""The key-value state machine, with client sessions for at-most-once semantics.

Every node applies the same committed commands in the same order, so every
node's ``KVStore`` passes through the same states (State Machine Safety). A
client request carries ``(client, seq)``; the store remembers each client's
results for the sequence numbers the client may still retry, and a retried
request returns the remembered result instead of being applied again
(dissertation §6.3). ``low`` on a request says the client has seen every
answer below it, so results below ``low`` are forgotten.

The session table answers three questions before a command runs
(:meth:`KVStore.lookup`), the same way on the leader (before appending) and on
every replica (when applying, so all replicas agree):

- a ``seq`` already answered: the remembered result, if the command is the
  same one (a digest of each remembered command tells a retry from a ``seq``
  reused for a different command, which is refused);
- a ``seq`` below the session's ``low``: refused, since its answer was given
  and forgotten (answering "ok, nothing" would look like an absent key);
- a client with no session while sessions expire: refused with
  ``SESSION_EXPIRED``; the client registers again.

``register`` (RegisterClient, dissertation §6.3) opens a session whose id is
the requester's name, ``@`` and the index of the register entry: unique,
because every index is committed once. Sessions expire deterministically
(``expiry`` ms, 0: never): every entry carries the leader's time stamp
(:class:`~raftviz.core.messages.Entry`), the store's clock is the largest
stamp applied, and a session no command touched for ``expiry`` ms of that
clock is dropped. Every replica sees the same stamps in the same order, so
every replica drops the same sessions at the same entry.

The store saves itself into a snapshot (``snapshot_state``) and is rebuilt
from one (``restore_snapshot``); the snapshot's envelope is
:mod:`raftviz.core.snapshot`, which does not know what it stores.
"""

from __future__ import annotations

import heapq
import zlib
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any

from raftviz.core.messages import MAX_VALUE, SESSION_EXPIRED, Command
from raftviz.core.snapshot import (
    Snapshot,
    SnapshotError,
    checked_int,
    checked_str,
    decode_snapshot,
    json_text,
)

#: The result of applying a command: (value read or None, error or "").
Result = tuple[str | None, str]
NO_RESULT: Result = (None, "")
#: What the session table says of a request: (applied, result). ``applied`` false
#: is a refusal: the command did not run and ``result``'s error says why.
Answer = tuple[bool, Result]

#: Characters of the requester's name kept in a registered id (so ``name@index`` fits 64).
_NAME_IN_ID = 40
#: The digest of a command whose retries are not compared (membership changes: the
#: log holds the ``config`` entry the leader made, not the ``add`` the client sent).
ANY_DIGEST = 0


def digest(command: Command) -> int:
    """A digest of what a command does, to tell a retry from a reused ``seq``."""
    if command.op in ("add", "remove", "config"):
        return ANY_DIGEST
    text = f"{command.op}\0{command.key}\0{command.value}".encode()
    return zlib.crc32(text) or 1  # never ANY_DIGEST


def registered_id(name: str, index: int) -> str:
    """The client id a ``register`` entry at ``index`` opens for ``name``."""
    return f"{name[:_NAME_IN_ID]}@{index}"


@dataclass(slots=True)
class Session:
    """What the state machine remembers about one client."""

    low: int = 0  # every seq below this has been answered and may be forgotten
    results: dict[int, Result] = field(default_factory=dict)
    #: The keys of ``results`` as a min-heap, so forgetting is O(log n) per result.
    order: list[int] = field(default_factory=list)
    #: Per remembered seq, the digest of its command (ANY_DIGEST: not compared).
    digests: dict[int, int] = field(default_factory=dict)
    #: The store's clock when a command of this session last ran (expiry counts from it).
    active: int = 0

    def copy(self) -> Session:
        return Session(self.low, dict(self.results), list(self.order), dict(self.digests), self.active)


class KVStore:
    """A dict of strings plus the client session table.

    ``data`` changes only through ``execute`` (and a restore): ``execute`` notes
    each key it writes, so a snapshot encodes only what changed since the one
    before (``snapshot_json``). Code that edits ``data`` by hand must call
    ``forget_encoding`` before the next snapshot.
    """

    __slots__ = ("data", "sessions", "expiry", "clock", "_next_expiry", "_keys", "_encoded", "_touched")

    def __init__(self, expiry: int = 0) -> None:
        self.data: dict[str, str] = {}
        self.sessions: dict[str, Session] = {}
        #: Sessions idle this many ms of the clock expire (0: never). A cluster
        #: option: every replica must use the same value.
        self.expiry = expiry
        #: The largest entry stamp applied (the leaders' virtual time).
        self.clock = 0
        #: No session can expire before the clock reaches this (a cheap lower bound).
        self._next_expiry = 0
        #: The data as the last snapshot encoded it: its keys in order (None: encode
        #: everything next time), each pair's JSON text, and the keys written since.
        self._keys: list[str] | None = None
        self._encoded: dict[str, str] = {}
        self._touched: set[str] = set()

    def __deepcopy__(self, memo: dict[int, object]) -> KVStore:
        """A copy for a checkpoint (keys, values and results are immutable: only the tables are new).

        The copy encodes its first snapshot from scratch: a checkpoint holds no second copy of the data.
        """
        copy = KVStore(self.expiry)
        copy.data = dict(self.data)
        copy.sessions = {client: s.copy() for client, s in self.sessions.items()}
        copy.clock, copy._next_expiry = self.clock, self._next_expiry
        return copy

    def __getstate__(self) -> tuple[Any, ...]:
        """What a pickle holds: the state, not the snapshot encoding (equal stores pickle alike)."""
        return self.data, self.sessions, self.expiry, self.clock, self._next_expiry

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.data, self.sessions, self.expiry, self.clock, self._next_expiry = state
        self.forget_encoding()

    def forget_encoding(self) -> None:
        """Encode the whole data at the next snapshot (after ``data`` was changed by hand)."""
        self._keys, self._encoded, self._touched = None, {}, set()

    def lookup(self, command: Command) -> Answer | None:
        """What the session table says of a client request; None if it is new and may run."""
        if command.op == "register" or not command.client:
            return None
        session = self.sessions.get(command.client)
        if session is None:
            return (False, (None, SESSION_EXPIRED)) if self.expiry else None
        seq = command.seq
        if seq in session.results:
            known = session.digests.get(seq, ANY_DIGEST)
            if known != ANY_DIGEST and digest(command) not in (known, ANY_DIGEST):
                return False, (None, f"seq {seq} was already used for a different command")
            return True, session.results[seq]
        if seq < session.low:
            return False, (
                None,
                f"seq {seq} is below the session's low {session.low}: answered and forgotten",
            )
        return None

    def cached(self, command: Command) -> Result | None:
        """The remembered result of this request if it was already applied, else None."""
        answer = self.lookup(command)
        return answer[1] if answer is not None and answer[0] else None

    def apply(self, command: Command, index: int = 0, stamp: int = 0) -> Result:
        """Apply one committed command and return its result (a refusal's error included)."""
        return self.execute(command, index, stamp)[1]

    def execute(self, command: Command, index: int = 0, stamp: int = 0) -> Answer:
        """Apply the command of the entry at ``index`` stamped ``stamp``: (applied, result)."""
        self._tick(stamp)
        if command.op == "noop":
            return True, NO_RESULT
        if command.op == "register":
            client = registered_id(command.client, index)
            self.sessions[client] = Session(active=self.clock)
            self._note_active(self.clock)
            return True, (client, "")
        client = command.client
        if not client:
            return True, self._execute(command)
        seq, low = command.seq, command.low
        session = self.sessions.get(client)
        # A new seq of a known session is the common case, and lookup says None for it
        # (without digesting anything): ask lookup only when it may say something else.
        if session is None or seq in session.results or seq < session.low:
            answer = self.lookup(command)
            if answer is not None:
                return answer
        if low > seq:
            # The leader refuses these; a log written by any leader is checked the same way.
            return False, (None, f"low {low} is above seq {seq}")
        result = self._execute(command)
        if session is None:
            session = self.sessions[client] = Session()
        session.active = self.clock
        self._note_active(self.clock)
        if low > session.low:
            session.low = low
            order = session.order
            while order and order[0] < low:
                old = heapq.heappop(order)
                session.results.pop(old, None)
                session.digests.pop(old, None)
        if seq >= session.low:
            session.results[seq] = result
            session.digests[seq] = digest(command)
            heapq.heappush(session.order, seq)
        return True, result

    def _tick(self, stamp: int) -> None:
        """Move the clock to ``stamp`` and drop the sessions idle for ``expiry`` ms."""
        if stamp > self.clock:
            self.clock = stamp
        if self.expiry and self.sessions and self.clock >= self._next_expiry:
            limit = self.clock - self.expiry
            for client in [c for c, s in self.sessions.items() if s.active < limit]:
                del self.sessions[client]
            oldest = min((s.active for s in self.sessions.values()), default=self.clock)
            self._next_expiry = oldest + self.expiry + 1

    def _note_active(self, at: int) -> None:
        if self.expiry and (len(self.sessions) == 1 or at + self.expiry + 1 < self._next_expiry):
            self._next_expiry = at + self.expiry + 1

    def _execute(self, command: Command) -> Result:
        op, key = command.op, command.key
        if op == "put":
            self.data[key] = command.value
            self._touched.add(key)
            return NO_RESULT
        if op == "get":
            return self.data.get(key), ""
        if op == "delete":
            self.data.pop(key, None)
            touched = self._touched
            touched.add(key)
            if len(touched) > 2 * len(self.data) + 64:
                # Keys written and deleted again between snapshots (or with none taken):
                # encoding everything at the next snapshot is cheaper than remembering them.
                self.forget_encoding()
            return NO_RESULT
        if op == "config":
            return NO_RESULT  # the node acts on configurations; the data is untouched
        if op == "append":
            value = self.data.get(key, "") + command.value
            if len(value.encode()) > MAX_VALUE:
                # Deterministic on every node: the append is refused everywhere.
                return None, f"value of {key} would exceed {MAX_VALUE} bytes"
            self.data[key] = value
            self._touched.add(key)
            return NO_RESULT
        raise ValueError(f"unknown operation {op!r}")

    def snapshot_json(self) -> dict[str, str]:
        """``snapshot_state`` with each member as canonical JSON text (``json_text`` of it).

        The data is most of a snapshot, and it grows with every new key while
        a snapshot is taken every so many entries: encoding all of it each time
        (sorting the keys, then JSON) was a tenth of a long run. So the store
        keeps each pair's text and the keys in order from the last snapshot, and
        encodes again only the keys written since; the text is the same as
        ``json_text(snapshot_state()[...])`` (tests/core/test_kv_snapshot.py).
        """
        state = self.snapshot_state(with_data=False)
        return {name: json_text(value) for name, value in state.items()} | {"data": self._data_json()}

    def _data_json(self) -> str:
        data, encoded, keys = self.data, self._encoded, self._keys
        if keys is None:
            keys = sorted(data)
            encoded.clear()
            encoded.update(zip(keys, map(_pair_json, keys, map(data.__getitem__, keys)), strict=True))
        else:
            added, removed = [], False
            for key in self._touched:
                value = data.get(key)
                if value is None:
                    removed = encoded.pop(key, None) is not None or removed
                    continue
                if key not in encoded:
                    added.append(key)
                encoded[key] = _pair_json(key, value)
            if removed:
                keys = [key for key in keys if key in encoded]
            if added:
                # Two sorted runs: the sort merges them in one pass.
                added.sort()
                keys = keys + added
                keys.sort()
        self._touched.clear()
        if len(keys) != len(data):
            # ``data`` was changed by hand (see the class): encode all of it after all.
            self.forget_encoding()
            return self._data_json()
        self._keys = keys
        return "[" + ",".join(map(encoded.__getitem__, keys)) + "]"

    def snapshot_state(self, with_data: bool = True) -> dict[str, Any]:
        """The store's part of a snapshot: its data, clock and sessions, in a canonical order."""
        sessions = [
            [
                client,
                s.low,
                s.active,
                [[seq, *s.results[seq], s.digests.get(seq, ANY_DIGEST)] for seq in sorted(s.results)],
            ]
            for client, s in sorted(self.sessions.items())
        ]
        state: dict[str, Any] = {"sessions": sessions, "clock": self.clock}
        if with_data:
            state["data"] = sorted(self.data.items())
        return state

    @classmethod
    def from_snapshot_state(cls, body: dict[str, Any], expiry: int = 0) -> KVStore:
        """A store holding the state ``snapshot_state`` wrote; SnapshotError if it is malformed."""
        kv = cls(expiry)
        try:
            kv.data = _checked_pairs(body["data"])
            kv.clock = checked_int(body["clock"])
            for client, low, active, results in body["sessions"]:
                session = Session(low=checked_int(low), active=checked_int(active))
                for seq, value, error, digest_ in results:
                    result = (None if value is None else checked_str(value), checked_str(error))
                    session.results[checked_int(seq)] = result
                    session.digests[seq] = checked_int(digest_)
                    heapq.heappush(session.order, seq)
                kv.sessions[checked_str(client)] = session
        except SnapshotError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise SnapshotError(f"malformed snapshot: {exc}") from None
        oldest = min((s.active for s in kv.sessions.values()), default=kv.clock)
        kv._next_expiry = oldest + expiry + 1
        return kv


def _checked_pairs(value: Any) -> dict[str, str]:
    """A snapshot's ``[[key, value], ...]`` as a dict of strings; SnapshotError if it is not that.

    Checked in passes that run in C (``map``, ``set``): a snapshot holds the whole state,
    and checking it pair by pair in Python was most of the cost of installing one.
    """
    if type(value) is not list or set(map(type, value)) - {list} or set(map(len, value)) - {2}:
        raise SnapshotError("malformed snapshot: the data must be a list of [key, value] pairs")
    data = dict(value)
    if set(map(type, data)) - {str} or set(map(type, data.values())) - {str}:
        for key, item in data.items():  # only to say which is wrong
            checked_str(key)
            checked_str(item)
    return data


def _pair_json(key: str, value: str) -> str:
    """``json_text([key, value])``: one item of a snapshot's data."""
    return f"[{encode_basestring(key)},{encode_basestring(value)}]"


def restore_snapshot(data: bytes, expiry: int = 0) -> tuple[Snapshot, KVStore]:
    """The snapshot in ``data`` and a fresh store holding its state; SnapshotError if invalid."""
    snapshot, body = decode_snapshot(data)
    return snapshot, KVStore.from_snapshot_state(body, expiry)
