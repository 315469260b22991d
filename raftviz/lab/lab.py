"""The lab: the virtual clock, the event queue, and the world around the nodes.

The lab keeps one queue of pending events (docs/architecture.md): message deliveries
and node timers (and client retry timers). ``step`` executes the earliest;
ties are broken by (time, kind, target, sequence number), never by arrival
order. Executing an event is synchronous: the backend hands the input to the
node and returns only once the node has persisted its state and reported what
it sent. A run is therefore a pure function of the seed and the commands.
"""

from __future__ import annotations

import functools
import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

from raftviz.core.messages import (
    SESSION_EXPIRED,
    Address,
    ClientReply,
    ClientRequest,
    InstallSnapshot,
    Message,
)
from raftviz.core.reasons import Reason
from raftviz.lab.backend import Backend, DecodedMessages, make_backend
from raftviz.lab.clients import Client, Request
from raftviz.lab.invariants import Before, InvariantChecker, Violation, check_term_rule
from raftviz.lab.linearizability import ANOMALY
from raftviz.lab.live_linearizability import LiveLinearizability
from raftviz.lab.network import Flight, Network
from raftviz.lab.options import MAX_NODE_ID, LabError, LabOptions, NodeStopped, StartRefused, TransferRefused
from raftviz.lab.views import NodeView
from raftviz.node.disk import DiskFault, parse_fault
from raftviz.node.driver import Report
from raftviz.wire import datagram
from raftviz.wire.validate import WireError

# Event kinds, in tie-breaking order.
DELIVER = 0
TIMER = 1
CLIENT_TIMER = 2

#: Client ids sort after node ids in the tie-breaking key.
CLIENT_KEY_BASE = 1_000_000
#: Node ids the lab (and the TUI's ring) can show.
MAX_NODES = MAX_NODE_ID
#: The client that asks for membership changes.
ADMIN = "admin"


@dataclass(slots=True)
class Change:
    """How one node's visible state changed during a step."""

    node: int
    before: Summary
    after: Summary


@dataclass(slots=True)
class StepRecord:
    """What one executed event did."""

    step: int
    time: int
    kind: str  # "deliver", "lost", "timer", "timeout", "client-retry", "command"
    text: str
    flight: Flight | None = None
    changes: list[Change] = field(default_factory=list)
    sent: list[Flight] = field(default_factory=list)
    lost: list[Flight] = field(default_factory=list)  # lost at send time (loss model)
    answers: list[Request] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    refused: str = ""
    #: Why a node stopped during this step (its disk failed), or could not start.
    stopped: str = ""
    #: The kinds of protocol violation for which the node dropped the delivered message.
    protocol: list[str] = field(default_factory=list)
    #: Why the nodes' rules decided as they did, as (node, reason), in the order they decided.
    reasons: list[tuple[int, Reason]] = field(default_factory=list)
    #: What happened to client sessions (a RegisterClient answer, an expiry), as sentences.
    sessions: list[str] = field(default_factory=list)

    def __init__(  # noqa: PLR0913 (every field, as the generated __init__ took them)
        self,
        step: int,
        time: int,
        kind: str,
        text: str,
        flight: Flight | None = None,
        changes: list[Change] | None = None,
        sent: list[Flight] | None = None,
        lost: list[Flight] | None = None,
        answers: list[Request] | None = None,
        violations: list[Violation] | None = None,
        refused: str = "",
        stopped: str = "",
        protocol: list[str] | None = None,
        reasons: list[tuple[int, Reason]] | None = None,
        sessions: list[str] | None = None,
    ) -> None:
        # Written out rather than generated: one record is made per event, and the
        # generated __init__ calls a factory for each of the eight lists; a list left
        # out (None) is a new empty one, as the factory gave.
        self.step, self.time, self.kind, self.text, self.flight = step, time, kind, text, flight
        self.changes = [] if changes is None else changes
        self.sent = [] if sent is None else sent
        self.lost = [] if lost is None else lost
        self.answers = [] if answers is None else answers
        self.violations = [] if violations is None else violations
        self.refused, self.stopped = refused, stopped
        self.protocol = [] if protocol is None else protocol
        self.reasons = [] if reasons is None else reasons
        self.sessions = [] if sessions is None else sessions


#: role, term, vote, commit, last index, configuration (text), snapshot index
Summary = tuple[str, int, int, int, int, str, int]


def _configuration_text(view: NodeView) -> str:
    return _configuration_words(view.voters, view.learners)


@functools.lru_cache(maxsize=64)
def _configuration_words(voters: tuple[int, ...], learners: tuple[int, ...]) -> str:
    # Cached: every step summarises its node twice, and configurations rarely change.
    text = ",".join(map(str, voters)) or "-"
    return text + ("/" + ",".join(map(str, learners)) if learners else "")


def _summary(view: NodeView) -> Summary:
    log = view.log
    return (
        view.role,
        view.term,
        view.vote,
        view.commit,
        log.last_index,
        _configuration_words(view.voters, view.learners),
        log.start_index,
    )


class Lab:
    """A cluster of nodes in a controlled world."""

    def __init__(self, options: LabOptions, backend: Backend | None = None) -> None:
        if not 1 <= options.nodes <= 9:
            raise LabError("a cluster has 1 to 9 nodes")
        self.options = options
        self.ids: list[int] = list(range(1, options.nodes + 1))
        self.config = options.raft_config()
        self.now = 0
        self.steps = 0
        self.network = Network(random.Random(f"raftviz-net/{options.seed}"), options.latency, options.loss)
        self.backend: Backend = backend if backend is not None else make_backend(options)
        #: The in-process backend's decoded messages (raftviz.lab.backend): a flight takes
        #: its message from there, and a client's request goes in, so that neither the lab
        #: nor a node decodes what this process has just encoded. None on udp.
        self._decoded: DecodedMessages | None = getattr(self.backend, "decoded", None)
        self.views: dict[int, NodeView] = {
            i: NodeView(i, expiry=self.config.session_expiry) for i in self.ids
        }
        self.flights: dict[int, Flight] = {}
        self.clients: dict[str, Client] = {}
        self.checker = InvariantChecker()
        #: Linearizability, checked after every client answer (docs/scenario-language.md).
        self.linearizability = LiveLinearizability()
        self.violations: list[Violation] = []
        self._queue: list[tuple[int, int, int, int]] = []
        self._timer_version: dict[int, int] = {}
        self._timer_deadline: dict[int, int | None] = {}
        self._client_keys: dict[str, int] = {}
        #: Session id -> the lab client it belongs to (RegisterClient answers).
        self._session_owner: dict[str, str] = {}
        #: Nodes whose clock runs at another rate than virtual time (``clock N rate=R``):
        #: node -> (rate, virtual time it was set, the node's clock then). Absent: rate 1,
        #: the node's clock is virtual time itself, as in every run without the command.
        self.clock_rates: dict[int, tuple[Fraction, int, int]] = {}
        #: Each node's latest reported deadline and lease end, on its own clock (with a rate
        #: set, not the queue's time): a new rate moves them to other virtual times.
        self._deadline_on_clock: dict[int, int] = {}
        self._lease_on_clock: dict[int, int] = {}
        self._next_id = 1
        #: Called with every StepRecord (the TUI's event feed listens here).
        self.listeners: list[Callable[[StepRecord], None]] = []
        try:
            reports = self.backend.start_all(self.ids, self.now)
        except BaseException:
            # A node that failed to start, or a stop signal: nothing else holds the
            # backend yet, so its processes and directory are closed here.
            self.backend.close()
            raise
        for node, report in zip(self.ids, reports, strict=True):
            self._absorb(node, report, StepRecord(0, 0, "start", f"start node {node}"))

    # ------------------------------------------------------------------ queries

    def leaders(self) -> list[NodeView]:
        return [v for v in self.views.values() if v.alive and v.role == "leader"]

    def leader(self) -> int:
        """The one live leader of the highest term among live leaders, or 0."""
        leaders = self.leaders()
        if not leaders:
            return 0
        top = max(v.term for v in leaders)
        at_top = [v for v in leaders if v.term == top]
        return at_top[0].id if len(at_top) == 1 else 0

    def view(self, node: int) -> NodeView:
        if node not in self.views:
            raise LabError(f"no node {node} (nodes are {', '.join(map(str, self.ids))})")
        return self.views[node]

    def live_view(self, node: int) -> NodeView:
        view = self.view(node)
        if not view.alive:
            raise LabError(f"node {node} is down")
        return view

    def next_event_time(self) -> int | None:
        self._clean_queue()
        return self._queue[0][0] if self._queue else None

    def pending_requests(self) -> list[Request]:
        # A request waiting for a session is waiting too (its client's register is outstanding).
        return [r for c in self.clients.values() for r in (*c.outstanding.values(), *c.held)]

    # ------------------------------------------------------------------ time

    def step(self) -> StepRecord | None:
        """Execute the earliest pending event; None if there is none."""
        self._clean_queue()
        if not self._queue:
            return None
        time, kind, key, seq = heapq.heappop(self._queue)
        self.now = max(self.now, time)
        if kind == DELIVER:
            return self._deliver(self.flights.pop(seq))
        if kind == TIMER:
            return self._node_input(key, "timer", f"timer fires on node {key}", self.backend.fire_timer)
        return self._client_timeout(self._client_by_key(key).outstanding[seq])

    def advance(self, ms: int, stop_on_violation: bool = True) -> list[StepRecord]:
        """Run every event due in the next ``ms`` milliseconds."""
        target = self.now + ms
        records = []
        while True:
            at = self.next_event_time()
            if at is None or at > target:
                break
            record = self.step()
            assert record is not None
            records.append(record)
            if stop_on_violation and record.violations:
                return records
        self.now = target
        return records

    def run_until(
        self, holds: Callable[[], bool], max_ms: int, stop_on_violation: bool = True
    ) -> tuple[bool, list[StepRecord]]:
        """Step until ``holds()`` is true; (False, records) if not within ``max_ms``."""
        deadline = self.now + max_ms
        records: list[StepRecord] = []
        while not holds():
            at = self.next_event_time()
            if at is None or at > deadline:
                self.now = deadline
                return False, records
            record = self.step()
            assert record is not None
            records.append(record)
            if stop_on_violation and record.violations:
                return False, records
        return True, records

    # ------------------------------------------------------------------ node controls

    def crash(self, node: int) -> StepRecord:
        view = self.live_view(node)
        before = _summary(view)
        self.backend.crash(node)
        view.crash()
        self._timer_version[node] = self._timer_version.get(node, 0) + 1
        self._timer_deadline[node] = None
        record = self._record("command", f"crash node {node}")
        record.changes.append(Change(node, before, _summary(view)))
        return self._publish(record)

    def restart(self, node: int) -> StepRecord:
        """Start a stopped node on its storage; one whose storage is damaged stays down and says why."""
        view = self.view(node)
        if view.alive:
            raise LabError(f"node {node} is running; crash it first")
        if view.disk == "fail":
            raise LabError(f"node {node}'s disk has failed: give it a working one first (disk {node} ok)")
        view.incarnation += 1
        record = self._record("command", f"restart node {node}")
        try:
            report = self.backend.start(node, view.incarnation, self.local_time(node))
        except StartRefused as exc:
            record.stopped = f"node {node} cannot start: {exc.reason}"
            record.text += " (refused: it stays down)"
            return self._publish(record)
        view.alive = True
        self._absorb(node, report, record)
        return self._publish(record)

    def set_disk(self, node: int, fault: DiskFault) -> StepRecord:
        """Give node ``node``'s disk a fault (``disk N fail|full|slow MS|ok``); it outlives restarts."""
        view = self.view(node)
        record = self._record("command", f"disk of node {node}: {fault.text}")
        report = self.backend.set_disk(node, fault)
        if report is None:
            view.disk = fault.text
        else:
            self._absorb(node, report, record)
        return self._publish(record)

    def corrupt(self, node: int, kind: str = "log", target: int = 0) -> StepRecord:
        """Damage a stopped node's files at rest (``corrupt N KIND``; ``id``: name node ``target``)."""
        view = self.view(node)
        if view.alive:
            raise LabError(f"node {node} is running: crash it first (corrupt damages its files at rest)")
        self.backend.corrupt(node, kind, target)
        what = f"identity.dat names node {target}" if kind == "id" else f"damage ({kind})"
        return self._publish(self._record("command", f"node {node}: {what} on disk"))

    def add(self, node: int, via: int = 0) -> Request:
        """Start node ``node`` with empty storage and ask the leader to add it (§4.1).

        The new server starts with no configuration, so it waits to hear from a
        leader; the request travels like any client request, from the
        ``admin`` client. The leader adds it as a learner, and promotes it to
        voter once it has caught up.
        """
        if not 1 <= node <= MAX_NODES:
            raise LabError(f"node ids are 1..{MAX_NODES}")
        if node in self.views:
            # A node that exists but is in no configuration (its add was refused,
            # or it was removed) keeps its process and data; asking again is a retry.
            leader = self.views.get(self.leader())
            if leader is not None and (node in leader.voters or node in leader.learners):
                raise LabError(f"node {node} is already in the configuration")
            if self.views[node].alive or not self._out_for_good(node):
                return self.submit("add", str(node), via=via, client_id=ADMIN)
            # A node that is down and out of the configuration comes back as a new server:
            # an empty disk (what replacing a damaged one means), caught up by the leader.
            self._timer_version[node] = self._timer_version.get(node, 0) + 1
            self._timer_deadline[node] = None
            # A new server under an old id: its term starts again from 0.
            self.checker.forget(node)
        else:
            self.ids = sorted([*self.ids, node])
        self.views[node] = NodeView(node, joined=True, expiry=self.config.session_expiry)
        report = self.backend.add(node, self.local_time(node))
        record = self._record("command", f"start node {node} (empty, no configuration)")
        self._absorb(node, report, record)
        self._publish(record)
        return self.submit("add", str(node), via=via, client_id=ADMIN)

    def _out_for_good(self, node: int) -> bool:
        """Whether ``node`` is in no configuration that could still take effect.

        That is: there is a leader, the node is in neither its voters nor its
        learners, and the leader's latest configuration entry is committed.
        Only then may the node's disk be replaced by an empty one: a voter
        with an empty disk could vote twice in a term.
        """
        leader = self.views.get(self.leader())
        if leader is None or node in leader.voters or node in leader.learners:
            return False
        log = leader.log
        for index in range(log.last_index, log.start_index, -1):
            if log.entry(index).command.op == "config":
                return index <= leader.commit
        return True

    def remove(self, node: int, via: int = 0) -> Request:
        """Ask the leader to remove node ``node`` from the configuration (its process keeps running)."""
        self.view(node)
        return self.submit("remove", str(node), via=via, client_id=ADMIN)

    def take_snapshot(self, node: int) -> StepRecord:
        """Make node ``node`` snapshot its state machine and compact its log now."""
        self.live_view(node)
        return self._node_input(node, "command", f"node {node} takes a snapshot", self.backend.take_snapshot)

    def timeout(self, node: int) -> StepRecord:
        self.live_view(node)
        return self._node_input(
            node, "timeout", f"election timeout forced on node {node}", self.backend.timeout_now
        )

    def transfer(self, target: int) -> StepRecord:
        """Ask the leader to hand leadership to ``target`` (dissertation §3.10).

        Refused here, with the reason, when no node leads, or the target is the
        leader, down, or not a voter of the leader's configuration (a learner or
        a stranger cannot lead); the leader checks again and may refuse too.
        """
        self.view(target)
        leader = self.leader()
        if not leader:
            raise TransferRefused("no leader: there is no leadership to transfer")
        if target == leader:
            raise TransferRefused(f"node {target} leads already")
        if not self.views[target].alive:
            raise TransferRefused(f"node {target} is down: it cannot take over")
        if target not in self.views[leader].voters:
            raise TransferRefused(f"node {target} is not a voter (only a voter may lead)")
        return self._node_input(
            leader,
            "command",
            f"leadership transfer to node {target} asked of leader {leader}",
            lambda n, now: self.backend.transfer(n, target, now),
        )

    def set_election_deadline(self, node: int, deadline: int) -> StepRecord:
        self.live_view(node)
        return self._node_input(
            node,
            "command",
            f"node {node} election timer set to t={deadline}",
            lambda n, _now: self.backend.set_election_deadline(n, self.local_time(n, deadline)),
        )

    # ------------------------------------------------------------------ clocks

    def local_time(self, node: int, at: int | None = None) -> int:
        """Node ``node``'s clock at virtual time ``at`` (default now): what the node is told it is.

        A node with rate R (``clock N rate=R``) sees its clock advance R ms per virtual
        ms from the moment the rate was set; whole milliseconds, rounded down, so a
        run stays a pure function of (seed, commands).
        """
        at = self.now if at is None else at
        if node not in self.clock_rates:
            return at
        rate, since, local = self.clock_rates[node]
        return local + math.floor((at - since) * rate)

    def virtual_time(self, node: int, deadline: int) -> int:
        """The first virtual time at which node ``node``'s clock reads ``deadline`` or more."""
        if node not in self.clock_rates:
            return deadline
        rate, since, local = self.clock_rates[node]
        return since + max(0, math.ceil((deadline - local) / rate))

    def set_clock_rate(self, node: int, rate: Fraction) -> StepRecord:
        """``clock N rate=R``: node N's timers run R times as fast as virtual time from now on.

        The node itself is not told: the lab hands every node its own clock's time
        with each input and turns the deadline it reports back into virtual time,
        so both backends see the same thing and no control frame is needed.
        """
        view = self.view(node)
        local = self.local_time(node)
        self.clock_rates[node] = (rate, self.now, local)
        if rate == 1 and local == self.now:
            del self.clock_rates[node]  # back in step with virtual time
        record = self._record("command", f"clock of node {node} runs at rate {rate_text(rate)}")
        if view.alive and self._timer_deadline.get(node) is not None and node in self._deadline_on_clock:
            # The deadline the node reported, on its clock, falls at another virtual time now.
            view.deadline = self.virtual_time(node, self._deadline_on_clock[node])
            self._set_timer(node, view.deadline)
            lease = self._lease_on_clock.get(node, 0)
            view.lease = self.virtual_time(node, lease) if lease else 0
        return self._publish(record)

    # ------------------------------------------------------------------ message controls

    def flight(self, flight_id: int) -> Flight:
        if flight_id not in self.flights:
            raise LabError(f"no message #{flight_id} in flight")
        return self.flights[flight_id]

    def deliver_now(self, flight_id: int) -> StepRecord:
        """Deliver a chosen message at once, ahead of its turn."""
        return self._deliver(self.flights.pop(self.flight(flight_id).id))

    def drop(self, flight_id: int) -> StepRecord:
        flight = self.flights.pop(self.flight(flight_id).id)
        record = self._record("command", f"drop #{flight.id}")
        record.flight = flight
        return self._publish(record)

    def duplicate(self, flight_id: int) -> StepRecord:
        original = self.flight(flight_id)
        record = self._record("command", f"duplicate #{original.id}")
        copy = self._send(original.src, original.dst, original.payload, record, allow_loss=False)
        if copy is not None:
            record.text += f" as #{copy.id}"
        return self._publish(record)

    def forge(self, data: bytes) -> StepRecord:
        """Deliver a datagram no node sent, at once, to the node its ``dst`` names.

        What a process that took a stopped node's port could inject (docs/protocol.md,
        section 1): the tests use it to check that a node drops what would break an
        invariant. It is not a scenario command, so the lab's history does not replay it.
        """
        try:
            msg = datagram.decode(data)
        except WireError as exc:
            raise LabError(f"not a datagram: {exc}") from None
        if not isinstance(msg.dst, int) or msg.dst not in self.views:
            raise LabError(f"no node {msg.dst} to deliver to")
        flight = Flight(self._next_id, msg.src, msg.dst, data, self.now, self.now)
        self._next_id += 1
        return self._deliver(flight)

    # ------------------------------------------------------------------ clients

    def client(self, client_id: str) -> Client:
        if client_id not in self.clients:
            self.clients[client_id] = Client(client_id, keep=self.options.client_history)
            # Keys in order of first use: deterministic, and stable as clients are added.
            self._client_keys[client_id] = CLIENT_KEY_BASE + len(self._client_keys)
        return self.clients[client_id]

    def submit(
        self,
        op: str,
        key: str,
        value: str = "",
        via: int = 0,
        client_id: str = "c1",
        quiet: bool = False,
        read: str = "",
    ) -> Request:
        """Issue a client request; it travels as a message like any other.

        ``quiet`` leaves it out of the listeners' feed (``writes`` sends thousands);
        ``read`` is how a get is read ("", readindex, lease: raftviz.core.reads).
        """
        if via:
            self.view(via)
        client = self.client(client_id)
        target = via or client.leader_guess or self.ids[0]
        if self.options.sessions and not client.session:
            # Sessions expire: the request waits until the cluster has given the client one.
            request = client.hold(op, key, value, self.now, read=read)
            request.target = request.rotation = target
            request.quiet = quiet
            self.linearizability.invoked(request)
            record = self._record("command", f"{request.describe()} waits for a session")
            if not client.registering:
                self._register(client, target, record)
            if not quiet:
                self._publish(record)
            return request
        request = client.issue(op, key, value, target, self.now, self.options.client_timeout, read=read)
        self.linearizability.invoked(request)
        record = self._record("command", f"{request.describe()} sent to node {target}")
        self._send_request(request, record)
        self._push_client_timer(request)
        request.quiet = quiet
        if not quiet:
            self._publish(record)
        return request

    def _register(self, client: Client, target: int, record: StepRecord) -> None:
        """Send the client's RegisterClient request (it has no session, or lost it)."""
        request = client.register(target, self.now, self.options.client_timeout)
        record.text += f"; {request.describe()} sent to node {target}"
        self._send_request(request, record)
        self._push_client_timer(request)

    # ------------------------------------------------------------------ internals

    def _record(self, kind: str, text: str) -> StepRecord:
        if kind != "command":
            self.steps += 1
        return StepRecord(self.steps, self.now, kind, text)

    def _publish(self, record: StepRecord) -> StepRecord:
        for listener in self.listeners:
            listener(record)
        return record

    def _deliver(self, flight: Flight) -> StepRecord:
        dst = flight.dst
        if isinstance(dst, str):
            return self._deliver_to_client(flight)
        if not self.network.connected(flight.src, dst):
            record = self._record("lost", f"#{flight.id} {flight.src}->{dst} lost: link cut")
        elif not self.views[dst].alive:
            record = self._record("lost", f"#{flight.id} {flight.src}->{dst} lost: node {dst} is down")
        else:
            record = self._node_input(
                dst,
                "deliver",
                f"deliver #{flight.id}",
                self.backend.deliver,
                flight.payload,
                publish=False,
                flight=flight,
            )
            # No message carries a term above the highest any node has had: only a node
            # behind that needs its message decoded (so a steady cluster decodes nothing here).
            behind = self.views[dst].term < self.checker.top_term
            if behind and not (record.refused or record.protocol or record.stopped):
                broken = check_term_rule(self.views[dst], flight.msg, self.steps, self.now)
                if broken is not None:
                    record.violations.append(broken)
                    self.violations.append(broken)
        record.flight = flight
        return self._publish(record)

    def _node_input(
        self,
        node: int,
        kind: str,
        text: str,
        call: Callable[..., Report],
        *args: object,
        publish: bool = True,
        flight: Flight | None = None,
    ) -> StepRecord:
        """Hand ``node`` one input, ``call(node, *args, now)`` (``now`` on its clock); take in its report.

        ``flight`` is the message delivered, if the input is one (the record holds it).
        """
        record = self._record(kind, text)
        record.flight = flight
        try:
            report = call(node, *args, self.local_time(node))
        except NodeStopped as exc:
            self._stopped(node, exc.reason, record)
        else:
            self._absorb(node, report, record)
        return self._publish(record) if publish else record

    def _stopped(self, node: int, reason: str, record: StepRecord) -> None:
        """The node stopped by itself (its disk failed): down, as after a crash."""
        view = self.views[node]
        before = _summary(view)
        view.crash()
        self._timer_version[node] = self._timer_version.get(node, 0) + 1
        self._timer_deadline[node] = None
        record.stopped = f"node {node} stopped: {reason}"
        record.changes.append(Change(node, before, _summary(view)))

    def _absorb(self, node: int, report: Report, record: StepRecord) -> None:
        view = self.views[node]
        log = view.log
        # The fields of the node's summary (and of Before) as they were, read once: the
        # summaries themselves are built only when one of them changed (most steps change none).
        alive, role, term, vote, commit = view.alive, view.role, view.term, view.vote, view.commit
        last_index, start_index, voters, learners = (
            log.last_index,
            log.start_index,
            view.voters,
            view.learners,
        )
        before = Before(alive, view.incarnation, role, term, commit, last_index)
        was_leader = role == "leader" and alive
        # A slow disk (``disk N slow MS``): what the node sent after an fsync leaves MS later.
        # It synced if it made a log change, a snapshot or a term or vote durable.
        delay = 0
        if report.disk != "ok":
            hard_state_changed = (report.term, report.vote) != (term, vote)
            synced = bool(report.log_from or report.snapshot) or hard_state_changed
            delay = parse_fault(report.disk).ms if synced else 0
        previous_violations = view.violations
        # A snapshot the node installed from a leader, not one it took of its own state.
        flight = record.flight
        view.absorb(
            report, bool(report.snapshot) and flight is not None and isinstance(flight.msg, InstallSnapshot)
        )
        if report.violations != previous_violations or not alive:
            counted = dict(previous_violations) if alive else {}
            record.protocol = [kind for kind, count in report.violations if count > counted.get(kind, 0)]
        elif record.protocol:
            record.protocol = []  # no count grew
        if view.role == "leader" and not (was_leader and term == view.term):
            view.leader_since = self.now
        if (
            not alive
            or view.role != role
            or view.term != term
            or view.vote != vote
            or view.commit != commit
            or log.last_index != last_index
            or log.start_index != start_index
            or view.voters != voters
            or view.learners != learners
        ):
            words = _configuration_words(voters, learners)
            if alive:
                summary = (role, term, vote, commit, last_index, words, start_index)
            else:
                summary = ("down", term, vote, 0, last_index, words, start_index)
            after = _summary(view)
            if after != summary:
                record.changes.append(Change(node, summary, after))
        record.refused = report.refused
        if report.reasons:
            record.reasons.extend((node, reason) for reason in report.reasons)
        if report.sent:
            self._send_all(node, report.sent, record, delay)
        self._deadline_on_clock[node] = report.deadline
        self._lease_on_clock[node] = report.lease
        if node in self.clock_rates:
            # The node's deadline is on its own clock; the queue runs on virtual time.
            view.deadline = self.virtual_time(node, report.deadline)
            view.election_timeout = max(1, math.ceil(report.election_timeout / self.clock_rates[node][0]))
            view.lease = self.virtual_time(node, report.lease) if report.lease else 0
            view.quorum_check = self.virtual_time(node, report.quorum_check) if report.quorum_check else 0
            self._set_timer(node, view.deadline)
        elif self._timer_deadline.get(node) != report.deadline:  # else _set_timer would do nothing
            self._set_timer(node, report.deadline)
        found = self.checker.check(view, before, report.log_from, self.steps, self.now)
        if report.snapshot:
            # Indexes every node has compacted away can never be written again.
            self.checker.prune(min(v.log.start_index for v in self.views.values()))
        if found:
            record.violations.extend(found)
            self.violations.extend(found)

    def _send(
        self,
        src: Address,
        dst: Address,
        data: bytes | Message,
        record: StepRecord,
        allow_loss: bool = True,
        delay: int = 0,
    ) -> Flight | None:
        """Put a datagram (or an in-process node's message: raftviz.lab.backend) on its way."""
        decoded, network, now, flight_id = self._decoded, self.network, self.now, self._next_id
        if type(data) is bytes:
            msg = decoded.get(data) if decoded is not None else None
            flight = Flight(flight_id, src, dst, data, now, 0, msg)
        else:
            flight = Flight(flight_id, src, dst, None, now, 0, data)
        self._next_id = flight_id + 1
        if allow_loss and network.sample_loss():
            record.lost.append(flight)
            return None
        flight.deliver_at = deliver_at = now + delay + network.sample_latency()
        self.flights[flight_id] = flight
        key = dst if isinstance(dst, int) else self._key(dst)
        heapq.heappush(self._queue, (deliver_at, DELIVER, key, flight_id))
        record.sent.append(flight)
        return flight

    def _send_all(
        self, src: int, sent: list[tuple[Address, bytes | Message]], record: StepRecord, delay: int
    ) -> None:
        """``_send`` for each datagram a node's report lists, in order (the same draws, the
        same flights): one loop with the lab's and network's fields read once, since
        every step sends a message or more."""
        decoded, network, now = self._decoded, self.network, self.now
        flights, queue, sent_list = self.flights, self._queue, record.sent
        for dst, data in sent:
            flight_id = self._next_id
            self._next_id = flight_id + 1
            if type(data) is bytes:
                flight = Flight(
                    flight_id, src, dst, data, now, 0, decoded.get(data) if decoded is not None else None
                )
            else:  # an in-process node's message, encoded only if its bytes are asked for
                flight = Flight(flight_id, src, dst, None, now, 0, data)
            if network.sample_loss():
                record.lost.append(flight)
                continue
            flight.deliver_at = deliver_at = now + delay + network.sample_latency()
            flights[flight_id] = flight
            key = dst if isinstance(dst, int) else self._key(dst)
            heapq.heappush(queue, (deliver_at, DELIVER, key, flight_id))
            sent_list.append(flight)

    def _set_timer(self, node: int, deadline: int) -> None:
        if self._timer_deadline.get(node) == deadline:
            return  # the queued entry still stands
        version = self._timer_version.get(node, 0) + 1
        self._timer_version[node] = version
        self._timer_deadline[node] = deadline
        heapq.heappush(self._queue, (deadline, TIMER, node, version))

    def _clean_queue(self) -> None:
        """Drop queue entries that no longer stand for a pending event."""
        queue = self._queue
        while queue:
            time, kind, key, seq = queue[0]
            if kind == DELIVER:
                if seq in self.flights:
                    return
            elif kind == TIMER:
                if self._timer_version.get(key) == seq and self.views[key].alive:
                    return
            else:
                request = self._client_by_key(key).outstanding.get(seq)
                if request is not None and request.deadline == time:
                    return
            heapq.heappop(queue)

    # ------------------------------------------------------------------ client internals

    def _client_key(self, client_id: str) -> int:
        return self._client_keys[client_id]

    def _client_by_key(self, key: int) -> Client:
        return self.clients[list(self._client_keys)[key - CLIENT_KEY_BASE]]

    def _key(self, address: Address) -> int:
        if isinstance(address, int):
            return address
        # A session id routes like its client's name (answers to it come back to the client).
        return self._client_key(self._session_owner.get(address, address))

    def _send_request(self, request: Request, record: StepRecord) -> None:
        sender = request.command.client
        message = ClientRequest(src=sender, dst=request.target, command=request.command, read=request.read)
        data = datagram.encode(message)
        if self._decoded is not None:
            self._decoded.put(data, message)
        self._send(sender, request.target, data, record)

    def _deliver_to_client(self, flight: Flight) -> StepRecord:
        reply = flight.msg
        assert isinstance(reply, ClientReply)
        client = self.clients[self._session_owner.get(reply.dst, reply.dst)]
        record = self._record("deliver", f"deliver #{flight.id}")
        record.flight = flight
        waiting = client.outstanding.get(reply.seq)
        if (
            self.options.sessions
            and reply.error == SESSION_EXPIRED
            and waiting is not None
            and waiting.command.client == reply.dst
        ):
            client.expired()
            names = [f"{client.id}#{r.seq}" for r in client.held if r.seq]
            verb = "waits" if len(names) == 1 else "wait"
            record.sessions.append(
                f"{client.id}'s session {reply.dst} expired (SESSION_EXPIRED): "
                f"{', '.join(names)} {verb} for a new one"
            )
            if not client.registering:
                self._register(client, client.leader_guess or reply.src, record)
            return self._publish(record)
        answered, resend_to = client.on_reply(reply, self.now, self.options.client_timeout)
        if answered is not None and answered.command.op == "register":
            if answered.error or answered.result is None:
                return self._publish(record)  # refused: its held requests wait for the next try
            session = answered.result
            self._session_owner[session] = client.id
            record.sessions.append(f"{answered.describe()} -> {client.id} has session {session}")
            for request in client.release(session, self.now, self.options.client_timeout):
                self._send_request(request, record)
                self._push_client_timer(request)
            return self._publish(record)
        if answered is not None:
            record.answers.append(answered)
            finding = self.linearizability.answered(answered)
            if finding is not None and finding.verdict == ANOMALY:
                violation = Violation("linearizable", self.steps, self.now, (), finding.detail)
                record.violations.append(violation)
                self.violations.append(violation)
        if resend_to:
            request = client.outstanding[reply.seq]
            self._send_request(request, record)
            self._push_client_timer(request)
        return self._publish(record)

    def _client_timeout(self, request: Request) -> StepRecord:
        client = self.clients[request.client]
        target = client.on_timeout(request, self.ids, self.now, self.options.client_timeout)
        record = self._record("client-retry", f"{request.describe()} timed out; retry at node {target}")
        self._send_request(request, record)
        self._push_client_timer(request)
        return self._publish(record)

    def _push_client_timer(self, request: Request) -> None:
        heapq.heappush(
            self._queue, (request.deadline, CLIENT_TIMER, self._client_key(request.client), request.seq)
        )

    def close(self) -> None:
        self.backend.close()


def rate_text(rate: Fraction) -> str:
    """A clock rate as the user wrote it: ``2``, ``1.5``, ``0.25``."""
    if rate.denominator == 1:
        return str(rate.numerator)
    return f"{float(rate):g}"
