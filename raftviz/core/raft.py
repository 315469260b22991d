"""One Raft server as a pure, deterministic state machine (Figure 2 of the paper).

``RaftNode`` takes inputs (a message, a timer firing, a client request) with the
current virtual time, changes its state, and accumulates outputs that the
driver collects with ``ready()``: state to persist, messages to send, indexes
applied. It never reads a clock, never touches a socket or a file, and draws
its randomness only from the ``random.Random`` it is given, so the same inputs
always give the same outputs. The structure follows the paper's rules:
``become_follower``/``become_candidate``/``become_leader`` for the roles,
one handler per RPC, and ``advance_commit_index`` for §5.3-5.4's commit rule.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from raftviz.core.config import RaftConfig
from raftviz.core.kv import KVStore
from raftviz.core.log import RaftLog
from raftviz.core.messages import (
    MAX_KEY,
    MAX_VALUE,
    NOOP,
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    ClientRequest,
    Entry,
    HardState,
    Message,
    NodeId,
    Ready,
    RequestVote,
    RequestVoteReply,
    StatusReply,
    StatusRequest,
)

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
        peers: Iterable[NodeId],
        config: RaftConfig,
        rng: random.Random,
        now: int,
        hard_state: HardState | None = None,
        log: RaftLog | None = None,
    ) -> None:
        self.id = node_id
        self.peers: tuple[NodeId, ...] = tuple(sorted(p for p in peers if p != node_id))
        self.config = config
        self.rng = rng
        # Persistent state (Figure 2), recovered from storage on restart.
        hard = hard_state if hard_state is not None else HardState()
        self.current_term = hard.current_term
        self.voted_for = hard.voted_for
        # Not "log or ...": an empty in-memory log may still start after index 0.
        self.log = log if log is not None else RaftLog()
        # Volatile state on all servers: nothing survives a restart.
        self.commit_index = self.log.start_index
        self.last_applied = self.log.start_index
        self.kv = KVStore()
        self.role = FOLLOWER
        self.leader_id: NodeId = 0
        self.votes_granted: set[NodeId] = set()
        # Volatile state on leaders, reinitialised after each election.
        self.next_index: dict[NodeId, int] = {}
        self.match_index: dict[NodeId, int] = {}
        #: Per peer, the AppendEntries with entries still unanswered, as (index
        #: of its last entry, time sent). One batch is in flight per peer at a
        #: time; entries that arrive meanwhile wait for its reply and go in the
        #: next batch, and a batch unanswered for a heartbeat is sent again.
        self.inflight: dict[NodeId, tuple[int, int]] = {}
        # Timers, as absolute virtual times.
        self.election_deadline = 0
        self.heartbeat_deadline = 0
        self.election_timeout = 0
        self._reset_election_timer(now)
        self._ready = Ready()
        self._persisted = HardState(self.current_term, self.voted_for)

    # ------------------------------------------------------------------ queries

    @property
    def quorum(self) -> int:
        return (len(self.peers) + 1) // 2 + 1

    def next_deadline(self) -> int:
        """The virtual time at which ``tick`` next has work to do."""
        return self.heartbeat_deadline if self.role == LEADER else self.election_deadline

    def hard_state(self) -> HardState:
        return HardState(self.current_term, self.voted_for)

    # ------------------------------------------------------------------ inputs

    def tick(self, now: int) -> None:
        """Fire whichever timer is due at ``now``."""
        if self.role == LEADER:
            if now >= self.heartbeat_deadline:
                self._broadcast_append(now, heartbeat=True)
        elif now >= self.election_deadline:
            self.become_candidate(now)

    def timeout_now(self, now: int) -> None:
        """Fire the election timer at once, whatever the role (a lab control)."""
        self.become_candidate(now)

    def set_election_deadline(self, deadline: int) -> None:
        """Move the election timer (the lab's spread/align presets use it)."""
        if self.role != LEADER:
            self.election_deadline = deadline

    def step(self, msg: Message, now: int) -> None:
        """Handle one incoming message."""
        if isinstance(msg, ClientRequest):
            self.handle_client_request(msg, now)
            return
        if isinstance(msg, ClientReply | StatusRequest | StatusReply) or msg.dst != self.id:
            return
        if msg.src != self.id and msg.src not in self.peers:
            return  # not a member of this cluster
        # All servers (Figure 2): a higher term means we are out of date.
        if msg.term > self.current_term:
            leader = msg.src if isinstance(msg, AppendEntries) else 0
            self.become_follower(msg.term, leader, now)
        if isinstance(msg, RequestVote):
            self.handle_request_vote(msg, now)
        elif isinstance(msg, RequestVoteReply):
            self.handle_request_vote_reply(msg, now)
        elif isinstance(msg, AppendEntries):
            self.handle_append_entries(msg, now)
        elif isinstance(msg, AppendEntriesReply):
            self.handle_append_entries_reply(msg, now)

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

    # ------------------------------------------------------------------ roles

    def become_follower(self, term: int, leader: NodeId, now: int) -> None:
        if term > self.current_term:
            self.current_term = term
            self.voted_for = 0
        was_leader = self.role == LEADER
        self.role = FOLLOWER
        self.leader_id = leader
        self.votes_granted = set()
        if was_leader:
            self.next_index, self.match_index, self.inflight = {}, {}, {}
            self._reset_election_timer(now)

    def become_candidate(self, now: int) -> None:
        """§5.2: increment the term, vote for self, ask every peer for a vote."""
        self.role = CANDIDATE
        self.current_term += 1
        self.voted_for = self.id
        self.leader_id = 0
        self.votes_granted = {self.id}
        self.next_index, self.match_index, self.inflight = {}, {}, {}
        self._reset_election_timer(now)
        if len(self.votes_granted) >= self.quorum:
            self.become_leader(now)
            return
        for peer in self.peers:
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
        self.next_index = {p: self.log.last_index + 1 for p in self.peers}
        self.match_index = {p: 0 for p in self.peers}
        self.inflight = {}
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
        if len(self.votes_granted) >= self.quorum:
            self.become_leader(now)

    # ------------------------------------------------------------------ AppendEntries

    def handle_append_entries(self, msg: AppendEntries, now: int) -> None:
        """The receiver implementation of Figure 2, with conflict hints for fast back-up."""
        if msg.term < self.current_term:
            self._send(AppendEntriesReply(src=self.id, dst=msg.src, term=self.current_term, success=False))
            return
        # A current-term AppendEntries comes from the one legitimate leader.
        if self.role != FOLLOWER or self.leader_id != msg.src:
            self.become_follower(msg.term, msg.src, now)
        self._reset_election_timer(now)
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
                log.truncate_from(index)
                self._mark_log_changed(index)
                self._append_local(entry)
        match = prev + len(entries)
        if msg.leader_commit > self.commit_index:
            self._set_commit_index(min(msg.leader_commit, match))
        self._send(
            AppendEntriesReply(
                src=self.id, dst=msg.src, term=self.current_term, success=True, match_index=match
            )
        )

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
        if self.role != LEADER or msg.term != self.current_term:
            return
        peer = msg.src
        if msg.success:
            if msg.match_index > self.match_index[peer]:
                self.match_index[peer] = msg.match_index
            self.next_index[peer] = max(self.next_index[peer], self.match_index[peer] + 1)
            if peer in self.inflight and self.match_index[peer] >= self.inflight[peer][0]:
                del self.inflight[peer]  # the batch in flight arrived
            self.advance_commit_index()
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
        if peer not in self.inflight and self.next_index[peer] <= self.log.last_index:
            self._send_append(peer, now)

    def advance_commit_index(self) -> None:
        """§5.3/§5.4.2: commit the highest index a quorum holds, if it is of the current term.

        The highest index held by a quorum is the quorum-th largest of the
        matchIndexes (the leader's own log counting as one), which costs
        O(peers) however long the uncommitted tail is.
        """
        matches = sorted((*self.match_index.values(), self.log.last_index), reverse=True)
        n = matches[self.quorum - 1]
        # Entries of earlier terms are only committed indirectly (Figure 8).
        if n > self.commit_index and self.log.term_at(n) == self.current_term:
            self._set_commit_index(n)

    # ------------------------------------------------------------------ clients

    def handle_client_request(self, msg: ClientRequest, now: int) -> None:
        """A leader appends the command; others redirect the client (§8)."""
        cmd = msg.command
        if cmd.client != msg.src:
            self._send(
                ClientReply(self.id, msg.src, cmd.seq, ok=False, error="command.client is not the sender")
            )
            return
        if len(cmd.key.encode()) > MAX_KEY or len(cmd.value.encode()) > MAX_VALUE:
            error = f"key or value too large (limits {MAX_KEY} and {MAX_VALUE} bytes)"
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
        self._append_local(Entry(self.current_term, cmd))
        if not self.peers:
            self.advance_commit_index()
        for peer in self.peers:
            if peer not in self.inflight:
                self._send_append(peer, now)

    # ------------------------------------------------------------------ helpers

    def _broadcast_append(self, now: int, heartbeat: bool) -> None:
        for peer in self.peers:
            # A peer with a batch in flight gets a bare heartbeat, unless the
            # batch has gone unanswered for RESEND_HEARTBEATS heartbeats: then
            # it is presumed lost and sent again.
            sent = self.inflight.get(peer)
            resend = sent is None or now - sent[1] >= RESEND_HEARTBEATS * self.config.heartbeat
            self._send_append(peer, now, with_entries=resend)
        if not self.peers:
            self.advance_commit_index()
        if heartbeat:
            self.heartbeat_deadline = now + self.config.heartbeat

    def _send_append(self, peer: NodeId, now: int, with_entries: bool = True) -> None:
        next_index = self.next_index[peer]
        prev = next_index - 1
        entries = self._batch(next_index) if with_entries else ()
        prev_term = self.log.term_at(prev)
        assert prev_term is not None, "snapshot transfer is not implemented yet"
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

    def _mark_log_changed(self, index: int) -> None:
        if not self._ready.log_from or index < self._ready.log_from:
            self._ready.log_from = index

    def _set_commit_index(self, index: int) -> None:
        if index <= self.commit_index:
            return
        self.commit_index = index
        self._apply_committed()

    def _apply_committed(self) -> None:
        """Apply committed entries in log order; a leader answers their clients."""
        while self.last_applied < self.commit_index:
            self.last_applied += 1
            entry = self.log.entry(self.last_applied)
            value, error = self.kv.apply(entry.command)
            self._ready.applied.append(self.last_applied)
            cmd = entry.command
            if self.role == LEADER and cmd.client:
                self._send(ClientReply(self.id, cmd.client, cmd.seq, ok=True, value=value, error=error))

    def _reset_election_timer(self, now: int) -> None:
        self.election_timeout = self.rng.randint(self.config.election_min, self.config.election_max)
        self.election_deadline = now + self.election_timeout

    def _send(self, msg: Message) -> None:
        self._ready.messages.append(msg)
