"""What the screen shows: an immutable picture of the lab after a completed step.

The lab runs on a background thread; the UI thread never touches it. After
each action the lab thread takes a ``Snapshot`` — plain frozen data — and
hands it to the UI, which draws only from snapshots. So the picture is always
the lab's state after a completed step, never a half-updated one.
"""

from __future__ import annotations

from dataclasses import dataclass

from raftviz.core.messages import (
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    Entry,
    RequestVoteReply,
)
from raftviz.lab.describe import describe_message
from raftviz.lab.history import History
from raftviz.lab.network import Flight


@dataclass(frozen=True, slots=True)
class NodeSnap:
    """One node, as the lab knows it."""

    id: int
    alive: bool
    role: str  # follower, candidate, leader, down
    term: int
    vote: int
    leader: int
    commit: int
    applied: int
    deadline: int
    election_timeout: int
    votes: tuple[int, ...]
    next_index: tuple[tuple[int, int], ...]
    match_index: tuple[tuple[int, int], ...]
    #: The durable log, index i at position i-1 (entries are immutable, so
    #: the snapshot shares them with the lab; ``entry.command.describe()``
    #: gives the text).
    log: tuple[Entry, ...]
    kv: tuple[tuple[str, str], ...]
    dropped: int
    pid: int
    incarnation: int

    @property
    def last_index(self) -> int:
        return len(self.log)

    def timer_fraction(self, now: int) -> float:
        """How far the election timer has run (0..1); 0 for a leader or a down node."""
        if not self.alive or self.role == "leader" or self.election_timeout <= 0:
            return 0.0
        started = self.deadline - self.election_timeout
        return min(max((now - started) / self.election_timeout, 0.0), 1.0)


@dataclass(frozen=True, slots=True)
class FlightSnap:
    """One message in flight."""

    id: int
    src: int | str
    dst: int | str
    kind: str  # the message class name
    text: str  # describe_message()
    term: int
    sent_at: int
    deliver_at: int
    is_reply: bool
    #: For replies: granted/ok (True) or denied/rejected (False); None for requests.
    ok: bool | None
    #: An AppendEntries with entries (False: a heartbeat).
    carries_entries: bool = False

    def progress(self, now: int) -> float:
        span = self.deliver_at - self.sent_at
        if span <= 0:
            return 1.0
        return min(max((now - self.sent_at) / span, 0.0), 1.0)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole picture."""

    now: int
    position: int
    steps: int
    seed: int
    backend: str
    nodes: tuple[NodeSnap, ...]
    flights: tuple[FlightSnap, ...]
    network: str
    violations: tuple[str, ...]
    pending_requests: int
    loss: float
    latency: tuple[int, int]
    #: The partition's groups (empty: none); nodes in no group form one more.
    groups: tuple[tuple[int, ...], ...] = ()

    def group_of(self, node_id: int) -> int:
        """Which partition group a node is in (0-based; len(groups) for the rest), or -1 if none."""
        if not self.groups:
            return -1
        for i, group in enumerate(self.groups):
            if node_id in group:
                return i
        return len(self.groups)

    def node(self, node_id: int) -> NodeSnap | None:
        for node in self.nodes:
            if node.id == node_id:
                return node
        return None

    @property
    def leader(self) -> int:
        leaders = [n for n in self.nodes if n.alive and n.role == "leader"]
        if not leaders:
            return 0
        top = max(n.term for n in leaders)
        at_top = [n for n in leaders if n.term == top]
        return at_top[0].id if len(at_top) == 1 else 0


def flight_snap(flight: Flight) -> FlightSnap:
    msg = flight.msg
    ok: bool | None = None
    term = getattr(msg, "term", 0)
    if isinstance(msg, RequestVoteReply):
        ok = msg.vote_granted
    elif isinstance(msg, AppendEntriesReply):
        ok = msg.success
    elif isinstance(msg, ClientReply):
        ok = msg.ok and not msg.error
    return FlightSnap(
        id=flight.id,
        src=flight.src,
        dst=flight.dst,
        kind=type(msg).__name__,
        text=describe_message(msg),
        term=term,
        sent_at=flight.sent_at,
        deliver_at=flight.deliver_at,
        is_reply=isinstance(msg, RequestVoteReply | AppendEntriesReply | ClientReply),
        ok=ok,
        carries_entries=isinstance(msg, AppendEntries) and bool(msg.entries),
    )


def take_snapshot(history: History) -> Snapshot | None:
    """The picture of the history's current lab (call on the lab's thread)."""
    lab = history.session.lab
    if lab is None:
        return None
    pid = getattr(lab.backend, "pid", None)
    nodes = tuple(
        NodeSnap(
            id=v.id,
            alive=v.alive,
            role=v.role,
            term=v.term,
            vote=v.vote,
            leader=v.leader,
            commit=v.commit,
            applied=v.applied,
            deadline=v.deadline,
            election_timeout=v.election_timeout,
            votes=v.votes,
            next_index=v.next_index,
            match_index=v.match_index,
            log=tuple(v.log),
            kv=tuple(sorted(v.kv.data.items())) if v.alive else (),
            dropped=v.dropped,
            pid=(pid(v.id) if pid and v.alive else 0),
            incarnation=v.incarnation,
        )
        for v in lab.views.values()
    )
    flights = tuple(flight_snap(f) for f in sorted(lab.flights.values(), key=lambda f: (f.deliver_at, f.id)))
    return Snapshot(
        now=lab.now,
        position=history.position,
        steps=lab.steps,
        seed=lab.options.seed,
        backend=lab.options.backend,
        nodes=nodes,
        flights=flights,
        network=lab.network.describe(),
        violations=tuple(v.describe() for v in lab.violations),
        pending_requests=len(lab.pending_requests()),
        loss=lab.network.loss,
        latency=lab.network.latency,
        groups=tuple(tuple(sorted(g)) for g in lab.network.groups),
    )
