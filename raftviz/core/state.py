"""A Raft server's state, the queries over it, and the few helpers every rule uses.

Figure 2's persistent state (currentTerm, votedFor, log) and volatile state
(commitIndex, lastApplied; nextIndex and matchIndex on a leader), plus what the
dissertation adds: the configurations in the log (chapter 4) and the snapshot
and transfers in progress (chapter 5). The rules that change this state live
one concern to a module, each a class over :class:`ServerState`:
:mod:`~raftviz.core.election`, :mod:`~raftviz.core.replication`,
:mod:`~raftviz.core.membership_changes` and :mod:`~raftviz.core.compaction`;
:mod:`~raftviz.core.raft` puts them together and dispatches the inputs.

The rules call each other through ``self`` (a granted vote resets the timer, a
commit may snapshot, a committed removal steps a leader down), so a rule may
name a method of another concern: ``RaftNode`` has them all.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from raftviz.core import bugs
from raftviz.core.config import RaftConfig
from raftviz.core.kv import KVStore, digest, restore_snapshot
from raftviz.core.log import RaftLog
from raftviz.core.membership import Configuration, configuration_of
from raftviz.core.messages import Entry, Message, NodeId
from raftviz.core.ready import HardState, Ready
from raftviz.core.reasons import CONFIG_CHANGED, Reason
from raftviz.core.snapshot import Snapshot

FOLLOWER = "follower"
CANDIDATE = "candidate"
LEADER = "leader"
#: A follower whose election timer fired with Pre-Vote on (dissertation §9.6): it asks
#: whether it could win before it changes its term.
PRECANDIDATE = "pre-candidate"


@dataclass(slots=True)
class PendingRead:
    """A read a leader holds until it may answer it (raftviz.core.reads, dissertation §6.4)."""

    client: str
    seq: int
    key: str
    mode: str
    #: The read index: the commit index when the read arrived, or once this leader has
    #: committed an entry of its term (0 until then).
    index: int
    #: The heartbeat round a majority must acknowledge first.
    round: int

    def describe(self) -> str:
        return f"{self.client}#{self.seq} get {self.key}"


class ServerState:
    """A Raft server's whole state; the rules are in the subclasses ``RaftNode`` combines."""

    def __init__(
        self,
        node_id: NodeId,
        members: Iterable[NodeId],
        config: RaftConfig,
        rng: random.Random,
        now: int,
        hard_state: HardState | None = None,
        log: RaftLog | None = None,
        snapshot: Snapshot | None = None,
    ) -> None:
        """``members`` is the cluster's initial configuration (all voters, this
        server included); a server joining a running cluster starts with none
        and learns its configuration from the leader. ``log`` and ``snapshot``
        are what storage recovered (the log starts after the snapshot)."""
        self.id = node_id
        self.config = config
        #: The planted bugs this server runs with (raftviz.core.bugs); empty for Raft itself.
        self.bugs = bugs.active(config.bugs, node_id)
        self.rng = rng
        self._now = now
        # Persistent state (Figure 2), recovered from storage on restart.
        hard = hard_state if hard_state is not None else HardState()
        self.current_term = hard.current_term
        self.voted_for = hard.voted_for
        #: Why this server is recovering from damaged storage ("" when it is not): it
        #: neither votes nor campaigns until a leader has caught it up (HardState.recovering).
        self.recovering = hard.recovering
        # Not "log or ...": an empty in-memory log may still start after index 0.
        self.log = log if log is not None else RaftLog()
        self.kv = KVStore(config.session_expiry)
        #: The latest snapshot (what InstallSnapshot sends), or None.
        self.snapshot: Snapshot | None = None
        #: The configuration in force at ``log.start_index`` ...
        self.base_configuration = Configuration.of(members)
        if snapshot is not None:
            # Storage checked the bytes; the snapshot is the state at its index.
            checked, self.kv = restore_snapshot(snapshot.data, config.session_expiry)
            self.snapshot = checked
            self.base_configuration = checked.configuration
            if self.log.start_index != checked.index:
                self.log.compact(checked.index, checked.term)
        # Outputs are collected from here on (what recovery below finds is not news).
        self._ready = Ready()
        # Volatile state on all servers: nothing survives a restart.
        self.commit_index = self.log.start_index
        self.last_applied = self.log.start_index
        self.role = FOLLOWER
        #: ... and every configuration entry after it, as (index, configuration).
        self.config_entries: list[tuple[int, Configuration]] = []
        for index in range(self.log.start_index + 1, self.log.last_index + 1):
            self._note_entry(index, self.log.entry(index))
        self.leader_id: NodeId = 0
        #: When this server last heard from a leader of its current term (-1: never).
        self.leader_contact = -1
        self.votes_granted: set[NodeId] = set()
        # Volatile state on leaders, reinitialised after each election.
        self.next_index: dict[NodeId, int] = {}
        self.match_index: dict[NodeId, int] = {}
        #: Per peer, the AppendEntries with entries still unanswered, as (index
        #: of its last entry, time sent). One batch is in flight per peer at a
        #: time; entries that arrive meanwhile wait for its reply and go in the
        #: next batch, and a batch unanswered for a heartbeat is sent again.
        self.inflight: dict[NodeId, tuple[int, int]] = {}
        #: Client requests (client, seq) this leader appended in its term and has
        #: not applied yet: a retry of one waits for it instead of being appended
        #: again, so clients retrying against a slow cluster cannot grow the log
        #: without bound.
        self.proposed: dict[tuple[str, int], int] = {}
        #: CheckQuorum (a leader's): when each peer last answered in this term, and
        #: when the leader next checks that a majority did within ``election_min``.
        self.heard_from: dict[NodeId, int] = {}
        self.quorum_deadline = 0
        #: Leadership transfer (a leader's): the target (0: none), when it is given
        #: up, and whether TimeoutNow went out already.
        self.transfer_target: NodeId = 0
        self.transfer_deadline = 0
        self.transfer_sent = False
        #: Added to this leader's clock for entry stamps (see ``_stamp``).
        self.stamp_skew = 0
        #: Per peer being sent a snapshot: (offset of the chunk in flight, time sent).
        self.snapshot_sent: dict[NodeId, tuple[int, int]] = {}
        #: A follower's partly received snapshot: (index, term, bytes so far).
        self.receiving: tuple[int, int, bytearray] | None = None
        # Timers, as absolute virtual times.
        self.election_deadline = 0
        self.heartbeat_deadline = 0
        self.election_timeout = 0
        self._reset_election_timer(now)
        #: Peer messages dropped by the guard, by violation kind (raftviz.core.violations).
        self.violation_counts: dict[str, int] = {}
        #: ack-before-persist only: the lowest log index changed but not yet handed to storage.
        self.unsynced_from = 0
        #: The index a leader last explained it could not commit (Figure 8), so that
        #: every reply does not say it again; 0 when there is nothing held back.
        self.commit_held_at = 0
        # Reads without log writes (dissertation §6.4; raftviz.core.reads), on a leader:
        #: reads waiting for a heartbeat round or for the read index to be applied, by (client, seq).
        self.pending_reads: dict[tuple[str, int], PendingRead] = {}
        #: Whether this leader numbers its heartbeat broadcasts (from its first such read on).
        self.numbering_rounds = False
        #: The latest round sent; per round not yet acked by a majority, when it was sent.
        self.read_round = 0
        self.round_sent: dict[int, int] = {}
        #: Per peer, the highest round it acknowledged; the highest a majority acknowledged.
        self.round_acks: dict[NodeId, int] = {}
        self.acked_round = 0
        #: When (on this leader's clock) round ``acked_round`` was sent: the lease runs from there (-1: none).
        self.lease_start = -1
        self._ready = Ready()
        #: Leader only: followers whose latest reply said they are recovering (their
        #: earlier acknowledgements no longer count: raftviz.core.replication).
        self.recovering_peers: set[NodeId] = set()
        self._persisted = HardState(self.current_term, self.voted_for, self.recovering)

    @property
    def configuration(self) -> Configuration:
        """The configuration in use: the latest in the log, committed or not (§4.1)."""
        return self.config_entries[-1][1] if self.config_entries else self.base_configuration

    def configuration_at(self, index: int) -> Configuration:
        """The configuration in force once the log up to ``index`` is applied."""
        found = self.base_configuration
        for at, configuration in self.config_entries:
            if at > index:
                break
            found = configuration
        return found

    @property
    def peers(self) -> tuple[NodeId, ...]:
        """The servers this one replicates to as leader, in id order.

        The members of the configuration in use, and while it is uncommitted
        also those of the one before, so that a server being removed still
        learns of its removal (and stops campaigning) instead of being cut off.
        """
        members = set(self.configuration.members)
        if self.config_entries and self.config_entries[-1][0] > self.commit_index:
            members |= set(self.configuration_at(self.config_entries[-1][0] - 1).members)
        members.discard(self.id)
        return tuple(sorted(members))

    @property
    def quorum(self) -> int:
        return self.configuration.quorum

    @property
    def is_voter(self) -> bool:
        return self.id in self.configuration.voters

    def next_deadline(self) -> int:
        """The virtual time at which ``tick`` next has work to do."""
        if self.role != LEADER:
            return self.election_deadline
        deadline = self.heartbeat_deadline
        if self.config.check_quorum:
            deadline = min(deadline, self.quorum_deadline)
        if self.transfer_target:
            deadline = min(deadline, self.transfer_deadline)
        return deadline

    def hard_state(self) -> HardState:
        return HardState(self.current_term, self.voted_for, self.recovering)

    def _send(self, msg: Message) -> None:
        self._ready.messages.append(msg)

    def _explain(self, reason: Reason) -> None:
        """Record why a rule decided as it did (for the report: raftviz.core.reasons)."""
        self._ready.reasons.append(reason)

    def _reset_election_timer(self, now: int) -> None:
        # randrange(a, b + 1) is what randint(a, b) calls: the same draw, one call fewer
        # (this runs at every AppendEntries a follower takes).
        config = self.config
        self.election_timeout = self.rng.randrange(config.election_min, config.election_max + 1)
        self.election_deadline = now + self.election_timeout

    def _mark_log_changed(self, index: int) -> None:
        if not self._ready.log_from or index < self._ready.log_from:
            self._ready.log_from = index

    def _append_local(self, entry: Entry) -> None:
        if self.role == LEADER:
            entry = Entry(entry.term, entry.command, self._stamp())
        index = self.log.append(entry)
        self._mark_log_changed(index)
        self._note_entry(index, entry)
        if self.role == LEADER and entry.command.client:
            self.proposed[entry.command.client, entry.command.seq] = digest(entry.command)

    def _append_all(self, entries: Sequence[Entry]) -> None:
        """``_append_local`` each of ``entries`` in order, in one go on a follower (a batch
        from the leader): the log change is marked once, at its first index."""
        if self.role == LEADER:
            for entry in entries:
                self._append_local(entry)
            return
        first = self.log.last_index + 1
        self.log.extend(entries)
        self._mark_log_changed(first)
        for index, entry in enumerate(entries, first):
            self._note_entry(index, entry)

    def _stamp(self) -> int:
        """The leader's time for a new entry: never below the stamp before it.

        ``stamp_skew`` carries on from the stamps a new leader inherits when its
        clock is behind them (free mode: every process counts from its own start).
        """
        last = self.log.entry(self.log.last_index).stamp if self.log.last_index > self.log.start_index else 0
        return max(self._now + self.stamp_skew, last, self.kv.clock)

    def _note_entry(self, index: int, entry: Entry) -> None:
        """A configuration entry takes effect as soon as it is in the log (§4.1)."""
        if entry.command.op == "config":
            before = self.configuration
            self.config_entries.append((index, configuration_of(entry.command)))
            self._explain_config(before, index, "appended")
            if self.role == LEADER:
                self._track_peers()

    def _truncate_from(self, index: int) -> None:
        """Delete entries from ``index`` on; a configuration they held is undone with them."""
        self.log.truncate_from(index)
        self._mark_log_changed(index)
        before = self.configuration
        undone = 0
        while self.config_entries and self.config_entries[-1][0] >= index:
            undone = self.config_entries.pop()[0]
        if undone:
            self._explain_config(before, undone, "undone (truncated from the log)")

    def _explain_config(self, before: Configuration, index: int, how: str) -> None:
        after = self.configuration
        if after != before:
            self._explain(
                Reason(
                    CONFIG_CHANGED, index=index, message=how, before=before.describe(), after=after.describe()
                )
            )
