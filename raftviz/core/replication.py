"""Log replication and commitment (Raft paper §5.3-5.4, dissertation §3.5-3.6).

A client's command enters the leader's log (``handle_client_request``, with
the redirect of §8 on other servers); the leader sends it in AppendEntries
batches (one batch in flight per peer, a lost one resent after
:data:`RESEND_HEARTBEATS` heartbeats, heartbeats in between); a follower runs
the consistency check of Figure 2 and deletes a conflicting suffix (§5.3), and
answers with a hint for the fast back-up. The leader commits the highest index
a quorum holds, but only an entry of its own term directly (Figure 8,
``advance_commit_index``); committed entries are applied in order and their
clients answered (``_apply_committed``).
"""

from __future__ import annotations

from raftviz.core.kv import ANY_DIGEST, digest
from raftviz.core.messages import (
    CLIENT_OPS,
    MAX_KEY,
    MAX_VALUE,
    SESSION_EXPIRED,
    VALUELESS_OPS,
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    ClientRequest,
    Entry,
    NodeId,
)
from raftviz.core.reasons import (
    APPEND_REJECTED_MISMATCH,
    APPEND_REJECTED_MISSING,
    APPEND_REJECTED_STALE,
    COMMIT_ADVANCED,
    COMMIT_HELD,
    COMMIT_LEARNED,
    LOG_TRUNCATED,
    RECOVERED,
    Reason,
)
from raftviz.core.state import LEADER, ServerState

#: A batch unanswered for this many heartbeat intervals is presumed lost and
#: resent. Two, so that round trips longer than one heartbeat (slow links in
#: the lab) do not cause needless resends, while a lost batch is still
#: repaired well within an election timeout.
RESEND_HEARTBEATS = 2


class Replication(ServerState):
    """How entries reach the followers, and when they count as committed."""

    def handle_client_request(self, msg: ClientRequest, now: int) -> None:
        """A leader appends the command; others redirect the client (§8).

        Every node refuses a malformed request (docs/protocol.md, ClientRequest);
        the leader also answers from the session table what it already knows
        (a retry, a ``seq`` reused or forgotten) without appending anything.
        """
        cmd = msg.command
        error = _malformed(msg)
        if error:
            self._send(ClientReply(self.id, msg.src, cmd.seq, ok=False, error=error))
            return
        if msg.read:
            self.handle_read_request(msg, now)  # raftviz.core.reads: no log write
            return
        if self.role != LEADER:
            self._send(ClientReply(self.id, msg.src, cmd.seq, ok=False, leader_hint=self.leader_id))
            return
        if self.transfer_target:
            # §3.10: a leader handing over takes no new requests; no leader to name yet.
            self._send(ClientReply(self.id, msg.src, cmd.seq, ok=False, leader_hint=0))
            return
        answer = self.kv.lookup(cmd)
        # A missing session is left to the log: this leader may not have applied
        # the register entry that opened it yet, and applying decides the same everywhere.
        if answer is not None and answer[1][1] != SESSION_EXPIRED:
            applied, (value, error) = answer
            # Already applied here (or refused): answer from the session table, append nothing.
            self._send(ClientReply(self.id, msg.src, cmd.seq, ok=applied, value=value, error=error))
            return
        pending = self.proposed.get((cmd.client, cmd.seq))
        if pending is not None:
            if ANY_DIGEST not in (pending, digest(cmd)) and pending != digest(cmd):
                error = f"seq {cmd.seq} is already in the log for a different command"
                self._send(ClientReply(self.id, msg.src, cmd.seq, ok=False, error=error))
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

    def handle_append_entries(self, msg: AppendEntries, now: int) -> None:
        """The receiver implementation of Figure 2, with conflict hints for fast back-up."""
        if msg.term < self.current_term:
            reason = Reason(APPEND_REJECTED_STALE, peer=msg.src, term=self.current_term, their_term=msg.term)
            self._explain(reason)
            reply = AppendEntriesReply(
                src=self.id, dst=msg.src, term=self.current_term, success=False, round=msg.round
            )
            self._send(reply)
            return
        self._heard_from_leader(msg.src, msg.term, now, "AppendEntries")
        log = self.log
        prev = msg.prev_log_index
        if prev > log.last_index:
            self._explain(Reason(APPEND_REJECTED_MISSING, peer=msg.src, index=prev, our_index=log.last_index))
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
            # (The planted bug skip-prev-check appends whatever term is at prevLogIndex.)
            if prev_term != msg.prev_log_term and "skip-prev-check" not in self.bugs:
                assert prev_term is not None
                self._explain(
                    Reason(
                        APPEND_REJECTED_MISMATCH,
                        peer=msg.src,
                        index=prev,
                        our_term=prev_term,
                        their_term=msg.prev_log_term,
                    )
                )
                self._reject(msg, conflict_index=log.first_index_of_term(prev), conflict_term=prev_term)
                return
        if "truncate-always" in self.bugs and entries and prev < log.last_index:
            # Planted bug: everything after prevLogIndex goes, matching or not.
            self._truncate_from(prev + 1)
        index = prev
        for position, entry in enumerate(entries):
            index += 1
            existing = log.term_at(index)
            if existing is None:
                # Past the end of our log: this entry and all after it are new.
                self._append_all(entries[position:])
                break
            if existing != entry.term:
                # §5.3: a conflicting entry and all that follow it are deleted.
                # Never a committed one: the guard drops such a message first.
                assert index > self.commit_index, "the guard lets no committed entry be overwritten"
                last = log.last_index
                self._explain(
                    Reason(
                        LOG_TRUNCATED,
                        peer=msg.src,
                        index=index,
                        our_index=last,
                        count=last - index + 1,
                        our_term=existing,
                        their_term=entry.term,
                    )
                )
                self._truncate_from(index)
                self._append_all(entries[position:])  # our log now ends before ``index``
                break
        match = prev + len(entries)
        learned = min(msg.leader_commit, match)
        if learned > self.commit_index:
            self._explain(
                Reason(
                    COMMIT_LEARNED,
                    peer=msg.src,
                    index=learned,
                    our_index=self.commit_index,
                    their_index=msg.leader_commit,
                )
            )
            self._set_commit_index(learned)
        if self.recovering and msg.leader_commit <= match and log.term_at(msg.leader_commit) == msg.term:
            # Caught up: the leader has committed an entry of its own term, so everything
            # committed before it is below it (Leader Completeness), and our log matches the
            # leader's up to there. Whatever was lost is held again.
            self._explain(
                Reason(
                    RECOVERED, peer=msg.src, term=msg.term, index=msg.leader_commit, message=self.recovering
                )
            )
            self.recovering = ""
            if self.voted_for == 0:
                # Our vote in this term may be lost; the only vote that cannot clash with
                # what happened is one for the leader the term already has.
                self.voted_for = msg.src
        self._send(
            AppendEntriesReply(
                src=self.id,
                dst=msg.src,
                term=self.current_term,
                success=True,
                match_index=match,
                round=msg.round,
                recovering=bool(self.recovering),
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
                round=msg.round,
                recovering=bool(self.recovering),
            )
        )

    def handle_append_entries_reply(self, msg: AppendEntriesReply, now: int) -> None:
        if self.role != LEADER or msg.term != self.current_term or msg.src not in self.next_index:
            return
        peer = msg.src
        if msg.round:
            # Any current-term answer acknowledges this leader for that round (raftviz.core.reads).
            self.note_round_ack(peer, msg.round, now)
        if msg.recovering and peer not in self.recovering_peers:
            # The follower lost storage: what it acknowledged before may be gone, so its
            # matchIndex falls back to what this first reply shows it holds (0 on a
            # rejection). Lowering matchIndex only delays commits; what it stores from
            # now on is durable again and counts, by the usual rule.
            self.recovering_peers.add(peer)
            self.inflight.pop(peer, None)
            self.match_index[peer] = msg.match_index if msg.success else 0
        elif msg.recovering and not msg.success:
            # It does not hold what the rejected message assumed: nor anything from the hint on.
            self.match_index[peer] = min(self.match_index[peer], max(msg.conflict_index - 1, 0))
        elif not msg.recovering:
            self.recovering_peers.discard(peer)
        if msg.success:
            if msg.match_index > self.match_index[peer]:
                self.match_index[peer] = msg.match_index
            matched = self.match_index[peer]
            if matched >= self.next_index[peer]:
                self.next_index[peer] = matched + 1  # nextIndex never below matchIndex + 1
            sent = self.inflight.get(peer)
            if sent is not None and matched >= sent[0]:
                del self.inflight[peer]  # the batch in flight arrived
            self.advance_commit_index()
            if self.role != LEADER:
                return  # it removed itself, and that change just committed
            self._maybe_promote()
            if self.transfer_target == peer:
                self.transfer_progress(peer)
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
        if not configuration.voters:
            return
        own, me, match = self.log.last_index, self.id, self.match_index.get
        # Locals and an in-place sort: this runs at every successful AppendEntries reply.
        matches = [own if v == me else match(v, 0) for v in configuration.voters]
        matches.sort(reverse=True)
        n = matches[configuration.quorum - 1]
        if n <= self.commit_index:
            return
        # Entries of earlier terms are only committed indirectly (Figure 8).
        term = self.log.term_at(n)
        old_term_too = "commit-old-term" in self.bugs  # planted bug: Figure 8's rule is skipped
        if term == self.current_term or old_term_too:
            self._explain_commit(COMMIT_ADVANCED, n, term)
            self.commit_held_at = 0
            self._set_commit_index(n)
        elif n != self.commit_held_at:
            # Said once per index held back, not at every reply that leaves it so.
            self.commit_held_at = n
            self._explain_commit(COMMIT_HELD, n, term or 0)

    def _explain_commit(self, kind: str, n: int, term: int) -> None:
        """Which voters hold entry ``n`` (their matchIndex, or the leader's own log), and its term."""
        voters = self.configuration.voters
        own, me, match = self.log.last_index, self.id, self.match_index.get
        holders = [v for v in voters if (own if v == me else match(v, 0)) >= n]
        self._explain(
            Reason(
                kind,
                term=self.current_term,
                index=n,
                our_index=self.commit_index,
                their_term=term,
                count=len(voters),
                after=",".join(map(str, holders)),
            )
        )

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
        log = self.log
        if self.last_applied < self.commit_index and not (
            log.start_index <= self.last_applied and self.commit_index <= log.last_index
        ):
            raise IndexError(self.last_applied + 1)  # as log.entry: a committed entry is held until applied
        # One slice and locals for what applying does not change (the log, the store, the
        # role, the outputs): this loop runs once per entry on every node.
        execute, done, answers = self.kv.execute, self._ready.applied, self.role == LEADER
        for entry in log.slice(self.last_applied + 1, self.commit_index - self.last_applied):
            self.last_applied += 1
            cmd = entry.command
            applied, (value, error) = execute(cmd, self.last_applied, entry.stamp)
            done.append(self.last_applied)
            if answers and cmd.client:
                self.proposed.pop((cmd.client, cmd.seq), None)
                self._send(ClientReply(self.id, cmd.client, cmd.seq, ok=applied, value=value, error=error))
        if self.pending_reads and self.role == LEADER:
            self._serve_reads(self._now)  # a read may have waited for its read index

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
        # A leader serving reads without the log numbers its rounds (raftviz.core.reads).
        round_ = self.next_round(now)
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
            self._send_append(peer, now, with_entries=resend, round_=round_)
        if self.configuration.voters == (self.id,):
            self.advance_commit_index()
        if heartbeat:
            self.heartbeat_deadline = now + self.config.heartbeat

    def _send_append(self, peer: NodeId, now: int, with_entries: bool = True, round_: int = 0) -> None:
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
                round=round_,
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


def _malformed(msg: ClientRequest) -> str:
    """Why a client request breaks a rule of docs/protocol.md (ClientRequest); "" if none does."""
    cmd = msg.command
    if cmd.client != msg.src:
        return "command.client is not the sender"
    if cmd.op not in CLIENT_OPS:
        return f"{cmd.op!r} is not an operation a client may request"
    if len(cmd.key.encode()) > MAX_KEY or len(cmd.value.encode()) > MAX_VALUE:
        return f"key or value too large (limits {MAX_KEY} and {MAX_VALUE} bytes)"
    if cmd.op in VALUELESS_OPS and cmd.value:
        return f"{cmd.op} takes no value"
    if cmd.op != "register" and cmd.seq < 1:
        return "seq starts at 1"
    if cmd.low > cmd.seq:
        return f"low {cmd.low} is above seq {cmd.seq}"
    if msg.read and cmd.op != "get":
        return f"read={msg.read} is for a get, not a {cmd.op}"
    return ""
