"""The key-value state machine, with client sessions for at-most-once semantics.

Every node applies the same committed commands in the same order, so every
node's ``KVStore`` passes through the same states (State Machine Safety). A
client request carries ``(client, seq)``; the store remembers each client's
results for the sequence numbers the client may still retry, and a retried
request returns the remembered result instead of being applied again
(dissertation §6.3). ``low`` on a request says the client has seen every
answer below it, so results below ``low`` are forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raftviz.core.messages import Command


@dataclass(slots=True)
class Session:
    """What the state machine remembers about one client."""

    low: int = 0  # every seq below this has been answered and may be forgotten
    results: dict[int, str | None] = field(default_factory=dict)


class KVStore:
    """A dict of strings plus the client session table."""

    __slots__ = ("data", "sessions")

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.sessions: dict[str, Session] = {}

    def cached(self, command: Command) -> tuple[bool, str | None]:
        """(True, result) if this request was already applied, else (False, None)."""
        session = self.sessions.get(command.client)
        if session is None:
            return False, None
        if command.seq in session.results:
            return True, session.results[command.seq]
        if command.seq < session.low:
            # Answered and forgotten: the client cannot be waiting for it any more.
            return True, None
        return False, None

    def apply(self, command: Command) -> str | None:
        """Apply one committed command and return its result."""
        if command.op == "noop":
            return None
        if command.client:
            done, result = self.cached(command)
            if done:
                return result
        result = self._execute(command)
        if command.client:
            session = self.sessions.setdefault(command.client, Session())
            if command.low > session.low:
                session.low = command.low
                for seq in [s for s in session.results if s < command.low]:
                    del session.results[seq]
            session.results[command.seq] = result
        return result

    def _execute(self, command: Command) -> str | None:
        op, key = command.op, command.key
        if op == "put":
            self.data[key] = command.value
            return command.value
        if op == "get":
            return self.data.get(key)
        if op == "delete":
            return self.data.pop(key, None)
        if op == "append":
            value = self.data.get(key, "") + command.value
            self.data[key] = value
            return value
        raise ValueError(f"unknown operation {op!r}")
