"""What the screen shows: an immutable picture of the lab after a completed step.

The lab runs on a background thread; the UI thread never touches it. After
each action the lab thread takes a ``Snapshot`` — plain frozen data — and
hands it to the UI, which draws only from snapshots. So the picture is always
the lab's state after a completed step, never a half-updated one.

A node's log may start after index 0 (log compaction): ``NodeSnap.log`` holds
only the entries after ``log_start``, and indexes everywhere are absolute
(``entry(i)``, ``term_at(i)``, ``last_index``). Membership is each node's
own belief (``voters``/``learners``); ``Snapshot.configuration`` is the one
the picture measures membership against (the leader's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from raftviz.core.membership import Configuration
from raftviz.core.messages import (
    REPLY_TYPES,
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    Entry,
    InstallSnapshot,
    InstallSnapshotReply,
    Message,
    PreVoteReply,
    RequestVoteReply,
)
from raftviz.lab.describe import describe_message, snapshot_progress
from raftviz.lab.history import History
from raftviz.lab.lab import rate_text
from raftviz.lab.network import Flight


@dataclass(frozen=True, slots=True)
class NodeSnap:
    """One node, as the lab knows it."""

    id: int
    alive: bool
    role: str  # follower, pre-candidate, candidate, leader, down
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
    #: The entries the node holds: index ``log_start + 1 + k`` at position k
    #: (entries are immutable, so the snapshot shares them with the lab;
    #: ``entry.command.describe()`` gives the text). Use ``entry(i)``.
    log: tuple[Entry, ...]
    kv: tuple[tuple[str, str], ...]
    dropped: int
    pid: int
    incarnation: int
    #: The last index (and its term) covered by the node's snapshot: the log
    #: starts after it (0: never compacted).
    log_start: int = 0
    log_start_term: int = 0
    #: The configuration this node believes in (empty: it has none yet).
    voters: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()
    #: Added to the running cluster (it started empty, with no configuration).
    joined: bool = False
    #: Its disk: ok, fail, full or slow:MS (the lab's ``disk N ...``).
    disk: str = "ok"
    #: What it lost to damaged storage while it is recovering ("" when it is not).
    recovering: str = ""
    #: Peer messages it dropped as protocol violations, as (kind, count).
    violations: tuple[tuple[str, int], ...] = ()
    #: Why it last decided something: the reasons of its latest input that gave any
    #: (``Reason.describe``, raftviz.core.reasons).
    reasons: tuple[str, ...] = ()
    #: Reads it holds as leader without the log (raftviz.core.reads): how many, the first few.
    reads_waiting: int = 0
    reads: tuple[str, ...] = ()
    #: When its lease as leader ends, virtual time (0: none).
    lease: int = 0
    #: Its clock's rate when not 1 (``clock N rate=R``), as written: ``4``, ``0.25``; else "".
    clock_rate: str = ""
    #: A leader handing over leadership: the target (0: none; dissertation §3.10).
    transfer: int = 0
    #: CheckQuorum as a leader: when its next check is due (0: none) and whom it has heard.
    quorum_check: int = 0
    quorum_heard: tuple[int, ...] = ()

    @property
    def last_index(self) -> int:
        return self.log_start + len(self.log)

    @property
    def last_term(self) -> int:
        return self.log[-1].term if self.log else self.log_start_term

    def entry(self, index: int) -> Entry | None:
        """The entry at absolute ``index``, or None if the node does not hold it (compacted or beyond)."""
        if self.log_start < index <= self.last_index:
            return self.log[index - self.log_start - 1]
        return None

    def term_at(self, index: int) -> int | None:
        """The term at ``index`` (the snapshot's term at ``log_start``), or None if unknown."""
        if index == self.log_start:
            return self.log_start_term
        entry = self.entry(index)
        return entry.term if entry is not None else None

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
    #: An AppendEntries with entries (False: a heartbeat); see also ``is_snapshot``.
    carries_entries: bool = False
    #: For a snapshot transfer, where it stands (``bytes=0..1024``, ``next=1024``, ``installed``).
    transfer: str = ""
    #: The decoded message itself (an immutable value): rows and the inspector read its fields.
    msg: Message | None = None

    @property
    def is_snapshot(self) -> bool:
        """Part of a snapshot transfer: an InstallSnapshot chunk or its reply."""
        return self.kind in ("InstallSnapshot", "InstallSnapshotReply")

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
    #: Node pairs (src, dst), in id order, that cannot reach each other right now
    #: (a partition or a cut link): a message between them is lost when it is due.
    blocked: tuple[tuple[int, int], ...] = ()
    #: The cluster's planted bugs (raftviz.core.bugs), as ``bug=`` writes them; "" for Raft itself.
    bugs: str = ""
    #: Pre-Vote and CheckQuorum (``cluster ... prevote=on checkquorum=on``): the header says them.
    prevote: bool = False
    checkquorum: bool = False
    #: History: the branch being followed, how many branches there are, and how many
    #: recorded positions lie ahead on it (0 at its tip: a step runs a new event).
    #: Where the session stands in its history, not part of the world's picture.
    branch: int = field(default=1, compare=False)
    branches: int = field(default=1, compare=False)
    ahead: int = field(default=0, compare=False)
    #: The highest position number given out (any branch): ``goto`` reaches 0..this.
    last_position: int = field(default=0, compare=False)

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
    def ids(self) -> tuple[int, ...]:
        return tuple(sorted(n.id for n in self.nodes))

    @property
    def configuration(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The configuration membership is shown against: (voters, learners).

        The leader's, as it decides who votes and who is sent the log; with no
        leader, that of the live node with the most up-to-date log (its
        configuration is the latest any live node has); ``((), ())`` if none has one.
        """
        leader = self.node(self.leader) if self.leader else None
        if leader is not None and leader.voters:
            return leader.voters, leader.learners
        holders = [n for n in self.nodes if n.voters]
        if not holders:
            return (), ()
        best = max(holders, key=lambda n: (n.alive, n.last_term, n.last_index, -n.id))
        return best.voters, best.learners

    def membership(self, node_id: int) -> str:
        """``voter``, ``learner`` or ``none`` (in no configuration), in ``configuration``."""
        voters, learners = self.configuration
        if node_id in voters:
            return "voter"
        if node_id in learners:
            return "learner"
        return "none" if voters else "voter"

    @property
    def membership_changed(self) -> bool:
        """Whether membership is worth drawing: a node was added, or some node's configuration
        is not simply "every node votes" (a change under way, a learner, a removed node)."""
        everyone = self.ids
        return any(n.joined or n.learners or (n.voters and n.voters != everyone) for n in self.nodes)

    @property
    def leader(self) -> int:
        leaders = [n for n in self.nodes if n.alive and n.role == "leader"]
        if not leaders:
            return 0
        top = max(n.term for n in leaders)
        at_top = [n for n in leaders if n.term == top]
        return at_top[0].id if len(at_top) == 1 else 0


def config_text(voters: tuple[int, ...], learners: tuple[int, ...]) -> str:
    """``1,2,3/4`` as in a ``config`` entry; ``-`` for no configuration."""
    return Configuration.of(voters, learners).to_value() if voters else "-"


def flight_snap(flight: Flight) -> FlightSnap:
    msg = flight.msg
    ok: bool | None = None
    term = getattr(msg, "term", 0)
    if isinstance(msg, RequestVoteReply | PreVoteReply):
        ok = msg.vote_granted
    elif isinstance(msg, AppendEntriesReply):
        ok = msg.success
    elif isinstance(msg, InstallSnapshotReply):
        # Installed, or the next chunk asked for; offset 0 and not done: start again (or stale).
        ok = msg.done or msg.offset > 0
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
        is_reply=isinstance(msg, REPLY_TYPES),
        ok=ok,
        carries_entries=isinstance(msg, AppendEntries) and bool(msg.entries),
        transfer=snapshot_progress(msg) if isinstance(msg, InstallSnapshot | InstallSnapshotReply) else "",
        msg=msg,
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
            log=tuple(v.log.slice(v.log.start_index + 1)),
            kv=tuple(sorted(v.kv.data.items())) if v.alive else (),
            dropped=v.dropped,
            pid=(pid(v.id) if pid and v.alive else 0),
            incarnation=v.incarnation,
            log_start=v.log.start_index,
            log_start_term=v.log.start_term,
            voters=tuple(v.voters),
            learners=tuple(v.learners),
            joined=v.joined,
            disk=v.disk,
            recovering=v.recovering,
            violations=v.violations,
            reasons=tuple(r.describe() for r in v.reasons),
            reads_waiting=v.reads_waiting,
            reads=v.reads,
            lease=v.lease,
            clock_rate=_clock_rate(lab.clock_rates.get(v.id)),
            transfer=v.transfer,
            quorum_check=v.quorum_check,
            quorum_heard=v.quorum_heard,
        )
        for v in sorted(lab.views.values(), key=lambda v: v.id)
    )
    flights = tuple(flight_snap(f) for f in sorted(lab.flights.values(), key=lambda f: (f.deliver_at, f.id)))
    return Snapshot(
        now=lab.now,
        position=history.position,
        branch=history.timeline.branch,
        branches=len(history.timeline.branches),
        ahead=history.ahead(),
        last_position=history.timeline.last,
        steps=lab.steps,
        seed=lab.options.seed,
        backend=lab.options.backend,
        bugs="?" if lab.options.bugs_hidden else ",".join(lab.options.bugs),
        prevote=lab.options.prevote,
        checkquorum=lab.options.checkquorum,
        nodes=nodes,
        flights=flights,
        network=lab.network.describe(),
        violations=tuple(v.describe() for v in lab.violations),
        pending_requests=len(lab.pending_requests()),
        loss=lab.network.loss,
        latency=lab.network.latency,
        groups=tuple(tuple(sorted(g)) for g in lab.network.groups),
        # Asked of the network itself, so the picture cannot disagree with what it delivers.
        blocked=tuple(
            (a, b)
            for a in sorted(lab.views)
            for b in sorted(lab.views)
            if a != b and not lab.network.connected(a, b)
        ),
    )


def _clock_rate(entry: tuple[Fraction, int, int] | None) -> str:
    """A node's clock rate for the screen: "" at rate 1 (the usual case shows nothing)."""
    return "" if entry is None or entry[0] == 1 else rate_text(entry[0])
