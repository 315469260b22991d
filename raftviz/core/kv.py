"""The key-value state machine, with client sessions for at-most-once semantics.

Every node applies the same committed commands in the same order, so every
node's ``KVStore`` passes through the same states (State Machine Safety). A
client request carries ``(client, seq)``; the store remembers each client's
results for the sequence numbers the client may still retry, and a retried
request returns the remembered result instead of being applied again
(dissertation §6.3). ``low`` on a request says the client has seen every
answer below it, so results below ``low`` are forgotten.

The store saves itself into a snapshot (``snapshot_state``) and is rebuilt
from one (``restore_snapshot``); the snapshot's envelope is
:mod:`raftviz.core.snapshot`, which does not know what it stores.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from raftviz.core.messages import MAX_VALUE, Command
from raftviz.core.snapshot import Snapshot, SnapshotError, checked_int, checked_str, decode_snapshot

#: The result of applying a command: (value read or None, error or "").
Result = tuple[str | None, str]
NO_RESULT: Result = (None, "")


@dataclass(slots=True)
class Session:
    """What the state machine remembers about one client."""

    low: int = 0  # every seq below this has been answered and may be forgotten
    results: dict[int, Result] = field(default_factory=dict)
    #: The keys of ``results`` as a min-heap, so forgetting is O(log n) per result.
    order: list[int] = field(default_factory=list)


class KVStore:
    """A dict of strings plus the client session table."""

    __slots__ = ("data", "sessions")

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.sessions: dict[str, Session] = {}

    def __deepcopy__(self, memo: dict[int, object]) -> KVStore:
        """A copy for a checkpoint (keys, values and results are immutable: only the tables are new)."""
        copy = KVStore()
        copy.data = dict(self.data)
        copy.sessions = {
            client: Session(s.low, dict(s.results), list(s.order)) for client, s in self.sessions.items()
        }
        return copy

    def cached(self, command: Command) -> Result | None:
        """The result of this request if it was already applied, else None."""
        session = self.sessions.get(command.client)
        if session is None:
            return None
        if command.seq in session.results:
            return session.results[command.seq]
        if command.seq < session.low:
            # Answered and forgotten: the client cannot be waiting for it any more.
            return NO_RESULT
        return None

    def apply(self, command: Command) -> Result:
        """Apply one committed command and return its result."""
        if command.op == "noop":
            return NO_RESULT  # a config entry has no effect here but is remembered for its client
        if command.client:
            cached = self.cached(command)
            if cached is not None:
                return cached
        result = self._execute(command)
        if command.client:
            session = self.sessions.setdefault(command.client, Session())
            if command.low > session.low:
                session.low = command.low
                while session.order and session.order[0] < command.low:
                    session.results.pop(heapq.heappop(session.order), None)
            if command.seq >= session.low:
                session.results[command.seq] = result
                heapq.heappush(session.order, command.seq)
        return result

    def _execute(self, command: Command) -> Result:
        op, key = command.op, command.key
        if op == "put":
            self.data[key] = command.value
            return NO_RESULT
        if op == "get":
            return self.data.get(key), ""
        if op == "delete":
            self.data.pop(key, None)
            return NO_RESULT
        if op == "config":
            return NO_RESULT  # the node acts on configurations; the data is untouched
        if op == "append":
            value = self.data.get(key, "") + command.value
            if len(value.encode()) > MAX_VALUE:
                # Deterministic on every node: the append is refused everywhere.
                return None, f"value of {key} would exceed {MAX_VALUE} bytes"
            self.data[key] = value
            return NO_RESULT
        raise ValueError(f"unknown operation {op!r}")

    def snapshot_state(self) -> dict[str, Any]:
        """The store's part of a snapshot: its data and sessions, in a canonical order."""
        sessions = [
            [client, s.low, [[seq, *s.results[seq]] for seq in sorted(s.results)]]
            for client, s in sorted(self.sessions.items())
        ]
        return {"data": sorted(self.data.items()), "sessions": sessions}

    @classmethod
    def from_snapshot_state(cls, body: dict[str, Any]) -> KVStore:
        """A store holding the state ``snapshot_state`` wrote; SnapshotError if it is malformed."""
        kv = cls()
        try:
            for pair in body["data"]:
                key, value = pair
                kv.data[checked_str(key)] = checked_str(value)
            for client, low, results in body["sessions"]:
                session = Session(low=checked_int(low))
                for seq, value, error in results:
                    result = (None if value is None else checked_str(value), checked_str(error))
                    session.results[checked_int(seq)] = result
                    heapq.heappush(session.order, seq)
                kv.sessions[checked_str(client)] = session
        except SnapshotError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise SnapshotError(f"malformed snapshot: {exc}") from None
        return kv


def restore_snapshot(data: bytes) -> tuple[Snapshot, KVStore]:
    """The snapshot in ``data`` and a fresh store holding its state; SnapshotError if invalid."""
    snapshot, body = decode_snapshot(data)
    return snapshot, KVStore.from_snapshot_state(body)
