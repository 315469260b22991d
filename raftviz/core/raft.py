"""One Raft server as a pure, deterministic state machine (Figure 2 of the paper).

``RaftNode`` takes inputs (a message, a timer firing, a client request) with the
current virtual time, changes its state, and accumulates outputs that the
driver collects with ``ready()``: state to persist, messages to send, indexes
applied. It never reads a clock, never touches a socket or a file, and draws
its randomness only from the ``random.Random`` it is given, so the same inputs
always give the same outputs. The structure follows the paper's rules:
``become_follower``/``become_candidate``/``become_leader`` for the roles,
one handler per RPC, and ``advance_commit_index`` for §5.3-5.4's commit rule.

Beyond Figure 2 it implements the dissertation's single-server membership
changes (chapter 4: a configuration entry takes effect when appended; one
change at a time; a new server catches up as a learner before it votes; a
leader that removes itself steps down once that commits) and log compaction
(chapter 5 and Figure 13: snapshots of the state machine, and InstallSnapshot
sent in chunks to a follower whose next entry was discarded).
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterable

from raftviz.core.config import RaftConfig
from raftviz.core.kv import KVStore
from raftviz.core.log import RaftLog
from raftviz.core.membership import Configuration, configuration_of
from raftviz.core.messages import (
    CLIENT_OPS,
    MAX_KEY,
    MAX_VALUE,
    NOOP,
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    ClientRequest,
    Command,
    Entry,
    HardState,
    InstallSnapshot,
    InstallSnapshotReply,
    Message,
    NodeId,
    Ready,
    RequestVote,
    RequestVoteReply,
    StatusReply,
    StatusRequest,
)
from raftviz.core.snapshot import Snapshot, SnapshotError, decode_snapshot, encode_snapshot

#: A batch unanswered for this many heartbeat intervals is presumed lost and
#: resent. Two, so that round trips longer than one heartbeat (slow links in
#: the lab) do not cause needless resends, while a lost batch is still
#: repaired well within an election timeout.
RESEND_HEARTBEATS = 2

FOLLOWER = "follower"
CANDIDATE = "candidate"
LEADER = "leader"


class RaftNode:
    """A Raft server's whole state and the rules that change it."""

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
        self.rng = rng
        self._now = now
        # Persistent state (Figure 2), recovered from storage on restart.
        hard = hard_state if hard_state is not None else HardState()
        self.current_term = hard.current_term
        self.voted_for = hard.voted_for
        # Not "log or ...": an empty in-memory log may still start after index 0.
        self.log = log if log is not None else RaftLog()
        self.kv = KVStore()
        #: The latest snapshot (what InstallSnapshot sends), or None.
        self.snapshot: Snapshot | None = None
        #: The configuration in force at ``log.start_index`` ...
        self.base_configuration = Configuration.of(members)
        if snapshot is not None:
            # Storage checked the bytes; the snapshot is the state at its index.
            checked, self.kv = decode_snapshot(snapshot.data)
            self.snapshot = checked
            self.base_configuration = checked.configuration
            if self.log.start_index != checked.index:
                self.log.compact(checked.index, checked.term)
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
        self.proposed: set[tuple[str, int]] = set()
        #: Per peer being sent a snapshot: (offset of the chunk in flight, time sent).
        self.snapshot_sent: dict[NodeId, tuple[int, int]] = {}
        #: A follower's partly received snapshot: (index, term, bytes so far).
        self.receiving: tuple[int, int, bytearray] | None = None
        # Timers, as absolute virtual times.
        self.election_deadline = 0
        self.heartbeat_deadline = 0
        self.election_timeout = 0
        self._reset_election_timer(now)
        self._ready = Ready()
        self._persisted = HardState(self.current_term, self.voted_for)

    # ------------------------------------------------------------------ queries

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

    def change_pending(self) -> bool:
        """A configuration change is under way: one is uncommitted or a learner awaits promotion."""
        if self.config_entries and self.config_entries[-1][0] > self.commit_index:
            return True
        return bool(self.configuration.learners)

    def next_deadline(self) -> int:
        """The virtual time at which ``tick`` next has work to do."""
        return self.heartbeat_deadline if self.role == LEADER else self.election_deadline

    def hard_state(self) -> HardState:
        return HardState(self.current_term, self.voted_for)

    # ------------------------------------------------------------------ inputs

    def tick(self, now: int) -> None:
        """Fire whichever timer is due at ``now``."""
        self._now = now
        if self.role == LEADER:
            if now >= self.heartbeat_deadline:
                self._broadcast_append(now, heartbeat=True)
        elif now >= self.election_deadline:
            self.become_candidate(now)

    def timeout_now(self, now: int) -> None:
        """Fire the election timer at once, whatever the role (a lab control)."""
        self._now = now
        self.become_candidate(now)

    def set_election_deadline(self, deadline: int) -> None:
        """Move the election timer (the lab's spread/align presets use it)."""
        if self.role != LEADER:
            self.election_deadline = deadline

    def step(self, msg: Message, now: int) -> None:
        """Handle one incoming message."""
        self._now = now
        if isinstance(msg, ClientRequest):
            self.handle_client_request(msg, now)
            return
        if isinstance(msg, ClientReply | StatusRequest | StatusReply) or msg.dst != self.id:
            return
        if isinstance(msg, RequestVote) and self._disruptive(msg, now):
            return
        # All servers (Figure 2): a higher term means we are out of date.
        if msg.term > self.current_term:
            leader = msg.src if isinstance(msg, AppendEntries | InstallSnapshot) else 0
            self.become_follower(msg.term, leader, now)
        if isinstance(msg, RequestVote):
            self.handle_request_vote(msg, now)
        elif isinstance(msg, RequestVoteReply):
            self.handle_request_vote_reply(msg, now)
        elif isinstance(msg, AppendEntries):
            self.handle_append_entries(msg, now)
        elif isinstance(msg, AppendEntriesReply):
            self.handle_append_entries_reply(msg, now)
        elif isinstance(msg, InstallSnapshot):
            self.handle_install_snapshot(msg, now)
        elif isinstance(msg, InstallSnapshotReply):
            self.handle_install_snapshot_reply(msg, now)

    def _disruptive(self, msg: RequestVote, now: int) -> bool:
        """Dissertation §4.2.3: a server outside the configuration (one being
        removed, which may never hear of it) must not depose a working leader.
        Its vote requests are ignored, term and all, while a leader has been
        heard from within the minimum election timeout."""
        if msg.src in self.configuration.voters:
            return False
        if self.role == LEADER:
            return True
        return self.leader_contact >= 0 and now - self.leader_contact < self.config.election_min

    def ready(self) -> Ready:
        """Collect the outputs accumulated since the last call."""
        out = self._ready
        hard = self.hard_state()
        if hard.current_term != self._persisted.current_term or hard.voted_for != self._persisted.voted_for:
            out.hard_state = hard
            self._persisted = hard.copy()
        if out.log_from:
            out.entries = self.log.slice(out.log_from)
        self._ready = Ready()
        return out

    def take_snapshot(self) -> bool:
        """Snapshot the state machine at the last applied entry and compact the log to it.

        Returns False if there is nothing new to compact.
        """
        index = self.last_applied
        if index <= self.log.start_index:
            return False
        term = self.log.term_at(index)
        assert term is not None
        snapshot = encode_snapshot(index, term, self.configuration_at(index), self.kv)
        self._compact_to(snapshot)
        self._ready.installed = False
        return True

    # ------------------------------------------------------------------ roles

    def become_follower(self, term: int, leader: NodeId, now: int) -> None:
        if term > self.current_term:
            self.current_term = term
            self.voted_for = 0
            self.leader_contact = -1
        was_leader = self.role == LEADER
        self.role = FOLLOWER
        self.leader_id = leader
        self.votes_granted = set()
        if was_leader:
            self.next_index, self.match_index, self.inflight, self.snapshot_sent = {}, {}, {}, {}
            self.proposed = set()
            self._reset_election_timer(now)

    def become_candidate(self, now: int) -> None:
        """§5.2: increment the term, vote for self, ask every voter for a vote.

        Only a voter of its own configuration may stand: a learner, or a server
        that was removed or has not joined yet, just waits to hear from a leader.
        """
        self._reset_election_timer(now)
        if not self.is_voter:
            return
        self.role = CANDIDATE
        self.current_term += 1
        self.voted_for = self.id
        self.leader_id = 0
        self.leader_contact = -1
        self.votes_granted = {self.id}
        self.next_index, self.match_index, self.inflight, self.snapshot_sent = {}, {}, {}, {}
        if self._has_quorum(self.votes_granted):
            self.become_leader(now)
            return
        for peer in self.configuration.voters:
            if peer == self.id:
                continue
            self._send(
                RequestVote(
                    src=self.id,
                    dst=peer,
                    term=self.current_term,
                    last_log_index=self.log.last_index,
                    last_log_term=self.log.last_term,
                )
            )

    def become_leader(self, now: int) -> None:
        """§5.2-5.3: initialise nextIndex/matchIndex and assert leadership at once."""
        self.role = LEADER
        self.leader_id = self.id
        self.leader_contact = now
        self.next_index, self.match_index, self.inflight, self.snapshot_sent = {}, {}, {}, {}
        self._track_peers()
        # Only this term's entries: a request left by an earlier leader is
        # appended again, because with the no-op off a current-term entry is
        # what lets the earlier ones commit (Figure 8); applying dedups it.
        self.proposed = set()
        if self.config.noop:
            self._append_local(Entry(self.current_term, NOOP))
        self._broadcast_append(now, heartbeat=True)

    # ------------------------------------------------------------------ RequestVote

    def handle_request_vote(self, msg: RequestVote, now: int) -> None:
        """Grant at most one vote per term, only to an up-to-date candidate (§5.4.1)."""
        granted = (
            msg.term == self.current_term
            and self.voted_for in (0, msg.src)
            and self.log.is_up_to_date(msg.last_log_index, msg.last_log_term)
        )
        if granted:
            self.voted_for = msg.src
            # Granting a vote resets the election timer (Figure 2, Followers).
            self._reset_election_timer(now)
        self._send(RequestVoteReply(src=self.id, dst=msg.src, term=self.current_term, vote_granted=granted))

    def handle_request_vote_reply(self, msg: RequestVoteReply, now: int) -> None:
        if self.role != CANDIDATE or msg.term != self.current_term or not msg.vote_granted:
            return
        self.votes_granted.add(msg.src)
        if self._has_quorum(self.votes_granted):
            self.become_leader(now)

    def _has_quorum(self, granted: set[NodeId]) -> bool:
        """Votes from a majority of the voters of the configuration in use."""
        voters = self.configuration.voters
        return bool(voters) and len(granted.intersection(voters)) >= self.configuration.quorum

    # ------------------------------------------------------------------ AppendEntries

    def handle_append_entries(self, msg: AppendEntries, now: int) -> None:
        """The receiver implementation of Figure 2, with conflict hints for fast back-up."""
        if msg.term < self.current_term:
            self._send(AppendEntriesReply(src=self.id, dst=msg.src, term=self.current_term, success=False))
            return
        self._heard_from_leader(msg.src, msg.term, now)
        log = self.log
        prev = msg.prev_log_index
        if prev > log.last_index:
            self._reject(msg, conflict_index=log.last_index + 1, conflict_term=0)
            return
        if prev < log.start_index:
            # Already compacted here, hence committed: skip what we hold.
            skip = log.start_index - prev
            entries = msg.entries[skip:]
            prev = log.start_index
        else:
            entries = msg.entries
            prev_term = log.term_at(prev)
            if prev_term != msg.prev_log_term:
                assert prev_term is not None
                self._reject(msg, conflict_index=log.first_index_of_term(prev), conflict_term=prev_term)
                return
        index = prev
        for entry in entries:
            index += 1
            existing = log.term_at(index)
            if existing is None:
                self._append_local(entry)
            elif existing != entry.term:
                # §5.3: a conflicting entry and all that follow it are deleted.
                if index <= self.commit_index:
                    raise AssertionError("leader tried to overwrite a committed entry")
                self._truncate_from(index)
                self._append_local(entry)
        match = prev + len(entries)
        if msg.leader_commit > self.commit_index:
            self._set_commit_index(min(msg.leader_commit, match))
        self._send(
            AppendEntriesReply(
                src=self.id, dst=msg.src, term=self.current_term, success=True, match_index=match
            )
        )

    def _heard_from_leader(self, leader: NodeId, term: int, now: int) -> None:
        """A current-term AppendEntries or InstallSnapshot comes from the one legitimate leader."""
        if self.role != FOLLOWER or self.leader_id != leader:
            self.become_follower(term, leader, now)
        self.leader_contact = now
        self._reset_election_timer(now)

    def _reject(self, msg: AppendEntries, conflict_index: int, conflict_term: int) -> None:
        self._send(
            AppendEntriesReply(
                src=self.id,
                dst=msg.src,
                term=self.current_term,
                success=False,
                conflict_index=conflict_index,
                conflict_term=conflict_term,
            )
        )

    def handle_append_entries_reply(self, msg: AppendEntriesReply, now: int) -> None:
        if self.role != LEADER or msg.term != self.current_term or msg.src not in self.next_index:
            return
        peer = msg.src
        if msg.success:
            if msg.match_index > self.match_index[peer]:
                self.match_index[peer] = msg.match_index
            self.next_index[peer] = max(self.next_index[peer], self.match_index[peer] + 1)
            if peer in self.inflight and self.match_index[peer] >= self.inflight[peer][0]:
                del self.inflight[peer]  # the batch in flight arrived
            self.advance_commit_index()
            if self.role != LEADER:
                return  # it removed itself, and that change just committed
            self._maybe_promote()
        else:
            # Fast back-up (§5.3): jump over a whole conflicting term at once.
            hint = msg.conflict_index
            if msg.conflict_term:
                last = self.log.last_index_of_term(msg.conflict_term)
                if last:
                    hint = last + 1
            current = self.next_index[peer]
            if hint >= current and peer in self.inflight:
                # A fresh rejection's hint is at most the prevLogIndex it answers,
                # which is below nextIndex; this one answers an older message,
                # and the batch in flight will get its own answer.
                return
            self.inflight.pop(peer, None)
            self.next_index[peer] = max(min(hint, current - 1), self.match_index[peer] + 1, 1)
        idle = peer not in self.inflight and peer not in self.snapshot_sent
        if idle and self.next_index[peer] <= self.log.last_index:
            self._send_append(peer, now)

    def advance_commit_index(self) -> None:
        """§5.3/§5.4.2: commit the highest index a quorum of voters holds, if it is of the current term.

        The highest index held by a quorum is the quorum-th largest of the
        voters' matchIndexes (the leader's own log counting as one if it is a
        voter: a leader removing itself leads without counting itself, §4.2.2),
        which costs O(voters) however long the uncommitted tail is.
        """
        configuration = self.configuration
        own = self.log.last_index
        matches = sorted(
            (own if v == self.id else self.match_index.get(v, 0) for v in configuration.voters), reverse=True
        )
        if not matches:
            return
        n = matches[configuration.quorum - 1]
        # Entries of earlier terms are only committed indirectly (Figure 8).
        if n > self.commit_index and self.log.term_at(n) == self.current_term:
            self._set_commit_index(n)

    # ------------------------------------------------------------------ InstallSnapshot

    def handle_install_snapshot(self, msg: InstallSnapshot, now: int) -> None:
        """Figure 13's receiver: assemble the chunks, then replace state and log with the snapshot."""
        if msg.term < self.current_term:
            self._snapshot_reply(msg, 0, done=False)
            return
        self._heard_from_leader(msg.src, msg.term, now)
        index, term = msg.last_included_index, msg.last_included_term
        if index <= self.commit_index:
            # Everything it covers is committed here already (a late or repeated transfer).
            self.receiving = None
            self._snapshot_reply(msg, 0, done=True)
            return
        if msg.offset == 0:
            self.receiving = (index, term, bytearray())
        buffer = self.receiving
        if buffer is None or buffer[:2] != (index, term) or msg.offset != len(buffer[2]):
            expect = len(buffer[2]) if buffer is not None and buffer[:2] == (index, term) else 0
            self._snapshot_reply(msg, expect, done=False)
            return
        buffer[2].extend(msg.data)
        if not msg.done:
            self._snapshot_reply(msg, len(buffer[2]), done=False)
            return
        self.receiving = None
        data = bytes(buffer[2])
        try:
            snapshot, kv = decode_snapshot(data)
            if zlib.crc32(data) != msg.checksum or (snapshot.index, snapshot.term) != (index, term):
                raise SnapshotError("checksum or metadata mismatch")
        except SnapshotError:
            # Damaged on the way (or a confused leader): ask for it again from the start.
            self._snapshot_reply(msg, 0, done=False)
            return
        self._install(snapshot, kv)
        self._snapshot_reply(msg, len(data), done=True)

    def _snapshot_reply(self, msg: InstallSnapshot, offset: int, done: bool) -> None:
        reply = InstallSnapshotReply(
            self.id, msg.src, self.current_term, msg.last_included_index, offset, done
        )
        self._send(reply)

    def _install(self, snapshot: Snapshot, kv: KVStore) -> None:
        """Replace the state machine by the snapshot's and compact the log to it."""
        self.kv = kv
        self._compact_to(snapshot)
        self._ready.installed = True
        self.commit_index = max(self.commit_index, snapshot.index)
        self.last_applied = snapshot.index

    def handle_install_snapshot_reply(self, msg: InstallSnapshotReply, now: int) -> None:
        if self.role != LEADER or msg.term != self.current_term or msg.src not in self.next_index:
            return
        peer = msg.src
        if msg.done:
            self.snapshot_sent.pop(peer, None)
            if msg.last_included_index > self.match_index[peer]:
                self.match_index[peer] = msg.last_included_index
            self.next_index[peer] = max(self.next_index[peer], self.match_index[peer] + 1)
            self.advance_commit_index()
            if self.role != LEADER:
                return
            self._maybe_promote()
            if self.next_index[peer] <= self.log.last_index or self.next_index[peer] <= self.log.start_index:
                self._send_append(peer, now)
            return
        if peer not in self.snapshot_sent:
            return  # a late answer to a transfer that has ended
        snapshot = self.snapshot
        assert snapshot is not None
        offset = msg.offset if msg.last_included_index == snapshot.index else 0
        if offset <= self.snapshot_sent[peer][0] and msg.last_included_index == snapshot.index and offset:
            return  # a duplicate answer to an earlier chunk
        self._send_snapshot_chunk(peer, offset, now)

    def _send_snapshot_chunk(self, peer: NodeId, offset: int, now: int) -> None:
        snapshot = self.snapshot
        assert snapshot is not None, "the log starts after 0 only once there is a snapshot"
        if offset >= len(snapshot.data):
            offset = 0
        chunk = snapshot.data[offset : offset + self.config.snapshot_chunk]
        self.snapshot_sent[peer] = (offset, now)
        self._send(
            InstallSnapshot(
                src=self.id,
                dst=peer,
                term=self.current_term,
                last_included_index=snapshot.index,
                last_included_term=snapshot.term,
                offset=offset,
                data=chunk,
                done=offset + len(chunk) >= len(snapshot.data),
                checksum=snapshot.checksum,
            )
        )

    # ------------------------------------------------------------------ clients

    def handle_client_request(self, msg: ClientRequest, now: int) -> None:
        """A leader appends the command; others redirect the client (§8)."""
        cmd = msg.command
        error = ""
        if cmd.client != msg.src:
            error = "command.client is not the sender"
        elif cmd.op not in CLIENT_OPS:
            error = f"{cmd.op!r} is not an operation a client may request"
        elif len(cmd.key.encode()) > MAX_KEY or len(cmd.value.encode()) > MAX_VALUE:
            error = f"key or value too large (limits {MAX_KEY} and {MAX_VALUE} bytes)"
        if error:
            self._send(ClientReply(self.id, msg.src, cmd.seq, ok=False, error=error))
            return
        if self.role != LEADER:
            self._send(ClientReply(self.id, msg.src, cmd.seq, ok=False, leader_hint=self.leader_id))
            return
        cached = self.kv.cached(cmd)
        if cached is not None:
            # Already applied here: answer from the session table, append nothing.
            self._send(ClientReply(self.id, msg.src, cmd.seq, ok=True, value=cached[0], error=cached[1]))
            return
        if (cmd.client, cmd.seq) in self.proposed:
            return  # a retry of a request in the log already: it is answered when applied
        if cmd.op in ("add", "remove"):
            entry = self._membership_entry(cmd)
            if isinstance(entry, str):
                self._send(ClientReply(self.id, msg.src, cmd.seq, ok=False, error=entry))
                return
        else:
            entry = Entry(self.current_term, cmd)
        self._append_local(entry)
        self._replicate(now)

    def _membership_entry(self, cmd: Command) -> Entry | str:
        """The configuration entry for an ``add``/``remove`` request, or why there is none.

        One change at a time (dissertation §4.1): with a change still under
        way, two single-server changes could together move the majority and
        let two leaders be elected in one term. A new leader must also have
        committed an entry of its own term first, so that a change appended by
        an earlier leader cannot be overwritten after a new one was based on it.
        """
        if not cmd.key.isdigit() or not 1 <= int(cmd.key) <= 2**31 or cmd.key != str(int(cmd.key)):
            return f"{cmd.op} needs a node id, not {cmd.key!r}"
        node = int(cmd.key)
        configuration = self.configuration
        if self.log.term_at(self.commit_index) != self.current_term:
            return "the leader has not committed an entry of its term yet; try again"
        if self.change_pending() and not (cmd.op == "remove" and node in configuration.learners):
            return f"a configuration change is in progress ({configuration.describe()}); one at a time"
        if cmd.op == "add":
            if node in configuration.members:
                return f"node {node} is already a member ({configuration.describe()})"
            new = configuration.with_learner(node)
        else:
            if node not in configuration.members:
                return f"node {node} is not a member ({configuration.describe()})"
            new = configuration.without(node)
            if not new.voters:
                return "cannot remove the last voter"
        command = Command("config", value=new.to_value(), client=cmd.client, seq=cmd.seq, low=cmd.low)
        return Entry(self.current_term, command)

    def _maybe_promote(self) -> None:
        """Promote a learner that has caught up: it may vote from now on (§4.2.1).

        "Caught up" means it holds everything committed. Until then it does not
        count towards a quorum, so adding a slow server cannot stall commits.
        """
        configuration = self.configuration
        if not configuration.learners or self.role != LEADER:
            return
        if self.config_entries and self.config_entries[-1][0] > self.commit_index:
            return  # the learner's own entry (or another change) is not committed yet
        if self.log.term_at(self.commit_index) != self.current_term:
            return
        for learner in configuration.learners:
            if self.match_index.get(learner, 0) >= self.commit_index:
                self._append_local(Entry(self.current_term, configuration.promote(learner).to_command()))
                self._replicate(self._now)
                return

    # ------------------------------------------------------------------ helpers

    def _replicate(self, now: int) -> None:
        """Send new entries to every peer that has no batch in flight."""
        if not self.configuration.voters or self.configuration.voters == (self.id,):
            self.advance_commit_index()
        for peer in self.peers:
            if peer not in self.inflight and peer not in self.snapshot_sent:
                self._send_append(peer, now)

    def _track_peers(self) -> None:
        """A leader keeps progress for exactly the servers it replicates to."""
        peers = self.peers
        for peer in peers:
            if peer not in self.next_index:
                self.next_index[peer] = self.log.last_index + 1
                self.match_index[peer] = 0
        for gone in set(self.next_index) - set(peers):
            for table in (self.next_index, self.match_index, self.inflight, self.snapshot_sent):
                table.pop(gone, None)

    def _broadcast_append(self, now: int, heartbeat: bool) -> None:
        for peer in self.peers:
            if peer in self.snapshot_sent:
                # A chunk is in flight: send it again only if it seems lost.
                offset, sent_at = self.snapshot_sent[peer]
                if now - sent_at >= RESEND_HEARTBEATS * self.config.heartbeat:
                    self._send_snapshot_chunk(peer, offset, now)
                continue
            # A peer with a batch in flight gets a bare heartbeat, unless the
            # batch has gone unanswered for RESEND_HEARTBEATS heartbeats: then
            # it is presumed lost and sent again.
            sent = self.inflight.get(peer)
            resend = sent is None or now - sent[1] >= RESEND_HEARTBEATS * self.config.heartbeat
            self._send_append(peer, now, with_entries=resend)
        if self.configuration.voters == (self.id,):
            self.advance_commit_index()
        if heartbeat:
            self.heartbeat_deadline = now + self.config.heartbeat

    def _send_append(self, peer: NodeId, now: int, with_entries: bool = True) -> None:
        next_index = self.next_index[peer]
        prev = next_index - 1
        prev_term = self.log.term_at(prev)
        if prev_term is None:
            # The entries this peer needs next were compacted away: send the snapshot (§7).
            self.inflight.pop(peer, None)
            self._send_snapshot_chunk(peer, 0, now)
            return
        entries = self._batch(next_index) if with_entries else ()
        if entries:
            self.inflight[peer] = (prev + len(entries), now)
        self._send(
            AppendEntries(
                src=self.id,
                dst=peer,
                term=self.current_term,
                prev_log_index=prev,
                prev_log_term=prev_term,
                entries=entries,
                leader_commit=self.commit_index,
            )
        )

    def _batch(self, first: int) -> tuple[Entry, ...]:
        """Entries from ``first`` on, as many as ``max_batch`` and the byte budget allow."""
        entries = self.log.slice(first, self.config.max_batch)
        budget = self.config.max_batch_bytes
        size = 0
        for count, entry in enumerate(entries):
            cmd = entry.command
            # An upper bound of the entry's msgpack size: strings plus fixed overhead.
            size += len(cmd.key) * 4 + len(cmd.value) * 4 + len(cmd.client) + 48
            if size > budget and count:
                return tuple(entries[:count])
        return tuple(entries)

    def _append_local(self, entry: Entry) -> None:
        index = self.log.append(entry)
        self._mark_log_changed(index)
        self._note_entry(index, entry)
        if self.role == LEADER and entry.command.client:
            self.proposed.add((entry.command.client, entry.command.seq))

    def _note_entry(self, index: int, entry: Entry) -> None:
        """A configuration entry takes effect as soon as it is in the log (§4.1)."""
        if entry.command.op == "config":
            self.config_entries.append((index, configuration_of(entry.command)))
            if self.role == LEADER:
                self._track_peers()

    def _truncate_from(self, index: int) -> None:
        """Delete entries from ``index`` on; a configuration they held is undone with them."""
        self.log.truncate_from(index)
        self._mark_log_changed(index)
        while self.config_entries and self.config_entries[-1][0] >= index:
            self.config_entries.pop()

    def _compact_to(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` and start the log after it (Ready's persistence order)."""
        index = snapshot.index
        keeps_suffix = index <= self.log.last_index and self.log.term_at(index) == snapshot.term
        self.log.compact(index, snapshot.term)
        self.config_entries = [(i, c) for i, c in self.config_entries if i > index] if keeps_suffix else []
        self.base_configuration = snapshot.configuration
        self.snapshot = snapshot
        self._ready.snapshot = snapshot
        # A pending log change below the new start is void; above it, it stands.
        if self._ready.log_from and self._ready.log_from <= snapshot.index:
            self._ready.log_from = snapshot.index + 1 if self.log.last_index > snapshot.index else 0
        if self.role == LEADER:
            self._track_peers()

    def _maybe_snapshot(self) -> None:
        """Compact once the applied part of the log passes a threshold (§7)."""
        config = self.config
        held = self.last_applied - self.log.start_index
        if held <= 0:
            return
        if (config.snapshot_entries and held >= config.snapshot_entries) or (
            config.snapshot_bytes and self.log.bytes >= config.snapshot_bytes
        ):
            self.take_snapshot()

    def _mark_log_changed(self, index: int) -> None:
        if not self._ready.log_from or index < self._ready.log_from:
            self._ready.log_from = index

    def _set_commit_index(self, index: int) -> None:
        if index <= self.commit_index:
            return
        self.commit_index = index
        self._apply_committed()
        if (
            self.role == LEADER
            and not self.is_voter
            and self.config_entries
            and self.config_entries[-1][0] <= self.commit_index
        ):
            # §4.2.2: a leader that removed itself steps down once that change commits.
            self.become_follower(self.current_term, 0, self._now)
        elif self.role == LEADER and self.config_entries and self.config_entries[-1][0] <= self.commit_index:
            self._track_peers()  # servers removed by a committed change no longer need the log
        self._maybe_snapshot()

    def _apply_committed(self) -> None:
        """Apply committed entries in log order; a leader answers their clients."""
        while self.last_applied < self.commit_index:
            self.last_applied += 1
            entry = self.log.entry(self.last_applied)
            value, error = self.kv.apply(entry.command)
            self._ready.applied.append(self.last_applied)
            cmd = entry.command
            if self.role == LEADER and cmd.client:
                self.proposed.discard((cmd.client, cmd.seq))
                self._send(ClientReply(self.id, cmd.client, cmd.seq, ok=True, value=value, error=error))

    def _reset_election_timer(self, now: int) -> None:
        self.election_timeout = self.rng.randint(self.config.election_min, self.config.election_max)
        self.election_deadline = now + self.election_timeout

    def _send(self, msg: Message) -> None:
        self._ready.messages.append(msg)
