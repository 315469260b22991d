"""The clients of a torture run and the history they record.

Each client is a thread with its own :class:`KVClient` session (its own
client id, so the cluster's session table applies a retried request once)
and its own seeded generator of operations: puts, appends and gets on a few
keys. Every value written is unique (``c3-17;``: client 3's 17th write), so
a read shows exactly which writes it includes and in which order, which
makes the history highly checkable.

Keys come in two kinds: ``a`` keys only ever see appends and gets, so the
final read must hold every acknowledged append exactly once (the lost-write
check); ``r`` keys see puts, appends and gets mixed. A key that has taken
:data:`WRITES_PER_KEY` writes is retired for a fresh one, so values stay far
below the cluster's value limit and each key's history stays small enough to
check quickly.

A call is recorded before its request leaves and its completion when the
answer arrives: ``ok``; ``failed`` (the cluster refused it: it had no
effect); or ``indeterminate`` (no answer within the client's timeout: it may
have taken effect at any time after the call, or never).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

from raftviz.node.client import KVClient, NoLeaderError, RequestError

#: Writes a key takes before it is retired for a fresh one.
WRITES_PER_KEY = 120
#: Key slots: half append-only, half mixed.
KEY_SLOTS = 4
OK, FAILED, INDETERMINATE = "ok", "failed", "indeterminate"


@dataclass(slots=True)
class Record:
    """One operation: its call, and (once known) how it ended."""

    id: int
    client: str
    kind: str
    key: str
    value: str
    call: float
    ret: float | None = None  # None while open, and for indeterminate operations
    output: str | None = None
    status: str = ""  # "" while open
    error: str = ""
    #: When the client stopped waiting for an indeterminate operation (for the report).
    gave_up: float | None = None


class History:
    """Every call and completion, in the order they happened (thread-safe)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.records: list[Record] = []
        self._lock = threading.Lock()

    def invoke(self, client: str, kind: str, key: str, value: str) -> Record:
        with self._lock:
            record = Record(len(self.records) + 1, client, kind, key, value, self.clock.now())
            self.records.append(record)
            return record

    def complete(self, record: Record, status: str, output: str | None = None, error: str = "") -> None:
        with self._lock:
            if status == INDETERMINATE:
                record.gave_up = self.clock.now()
            else:
                record.ret = self.clock.now()
            record.status, record.output, record.error = status, output, error

    def counts(self) -> dict[str, int]:
        with self._lock:
            counts = {OK: 0, FAILED: 0, INDETERMINATE: 0}
            for record in self.records:
                if record.status:
                    counts[record.status] += 1
            return counts


class Clock:
    """Seconds since the run began, on the monotonic clock."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.start


class Keys:
    """The keys in use now, retiring each after :data:`WRITES_PER_KEY` writes (thread-safe)."""

    def __init__(self, slots: int = KEY_SLOTS) -> None:
        self.generation = [0] * slots
        self.writes = [0] * slots
        self.used: list[str] = []
        self._lock = threading.Lock()
        for slot in range(slots):
            self.used.append(self._name(slot))

    def _name(self, slot: int) -> str:
        kind = "a" if slot % 2 == 0 else "r"
        generation = self.generation[slot]
        return f"{kind}{slot // 2}" + (f".{generation}" if generation else "")

    def pick(self, rng: random.Random, write: bool) -> str:
        with self._lock:
            slot = rng.randrange(len(self.generation))
            if write:
                self.writes[slot] += 1
                if self.writes[slot] > WRITES_PER_KEY:
                    self.generation[slot] += 1
                    self.writes[slot] = 1
                    self.used.append(self._name(slot))
            return self._name(slot)

    def all_used(self) -> list[str]:
        with self._lock:
            return list(self.used)


def append_only(key: str) -> bool:
    return key.startswith("a")


class Client(threading.Thread):
    """One client: a loop of random operations until told to stop."""

    def __init__(
        self,
        number: int,
        addresses: list[tuple[str, int]],
        history: History,
        keys: Keys,
        seed: int,
        stop: threading.Event,
        timeout: float,
    ) -> None:
        super().__init__(name=f"torture-client-{number}", daemon=True)
        self.client_id = f"c{number}"
        self.addresses = addresses
        self.history = history
        self.keys = keys
        self.rng = random.Random(f"{seed}-client-{number}")
        self.stop = stop
        self.timeout = timeout
        self.writes = 0

    def next_operation(self) -> tuple[str, str, str]:
        roll = self.rng.random()
        kind = "get" if roll < 0.4 else "append" if roll < 0.85 else "put"
        key = self.keys.pick(self.rng, write=kind != "get")
        if kind == "put" and append_only(key):
            kind = "append"
        value = ""
        if kind != "get":
            self.writes += 1
            value = f"{self.client_id}-{self.writes};"
        return kind, key, value

    def run(self) -> None:
        client = self._fresh_client()
        try:
            while not self.stop.is_set():
                kind, key, value = self.next_operation()
                record = self.history.invoke(self.client_id, kind, key, value)
                try:
                    output = client.request(kind, key, value)
                except NoLeaderError as exc:
                    self.history.complete(record, INDETERMINATE, error=str(exc))
                except RequestError as exc:
                    self.history.complete(record, FAILED, error=str(exc))
                except OSError as exc:
                    # A socket error: the request may have left. A new session goes on.
                    self.history.complete(record, INDETERMINATE, error=str(exc))
                    client.close()
                    client = self._fresh_client()
                else:
                    self.history.complete(record, OK, output=output)
        finally:
            client.close()

    def _fresh_client(self) -> KVClient:
        client = KVClient(self.addresses, timeout=self.timeout)
        # Start each client at a different node, as independent clients would.
        client.target = self.rng.randrange(len(self.addresses))
        return client
