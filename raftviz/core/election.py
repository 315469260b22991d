"""Leader election (Raft paper §5.2, dissertation §3.4): roles, terms, RequestVote.

The three roles and the transitions between them (``become_follower``,
``become_candidate``, ``become_leader``), the RequestVote RPC on both sides
with the election restriction of §5.4.1 (a vote only for an up-to-date log),
and the two ways a server learns that a legitimate leader exists: a current
term AppendEntries/InstallSnapshot, or (§4.2.3) enough recent contact to
ignore a removed server's vote requests. The election timer itself is drawn in
:meth:`ServerState._reset_election_timer` and fired by ``RaftNode.tick``.
"""

from __future__ import annotations

from raftviz.core.guards import LAST_TERM
from raftviz.core.messages import (
    NOOP,
    Entry,
    NodeId,
    PreVote,
    PreVoteReply,
    RequestVote,
    RequestVoteReply,
    TimeoutNow,
)
from raftviz.core.reasons import (
    CAMPAIGN_HELD,
    ELECTED,
    LEADER_SEEN,
    PREVOTE_DENIED_LEADER,
    PREVOTE_DENIED_LOG,
    PREVOTE_DENIED_STALE,
    PREVOTE_GRANTED,
    PREVOTE_WON,
    RECOVERED,
    TIMEOUT_NOW,
    VOTE_DENIED_LOG,
    VOTE_DENIED_RECOVERING,
    VOTE_DENIED_STALE,
    VOTE_DENIED_VOTED,
    VOTE_GRANTED,
    Reason,
)
from raftviz.core.state import CANDIDATE, FOLLOWER, LEADER, PRECANDIDATE, ServerState


class Election(ServerState):
    """Who leads: the roles, votes and the election restriction."""

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
            self.drop_reads(leader)
            self.next_index, self.match_index, self.inflight, self.snapshot_sent = {}, {}, {}, {}
            self.proposed = {}
            self.heard_from = {}
            # A transfer ends with the leadership (usually the target's higher term is why).
            self.transfer_target, self.transfer_sent = 0, False
            self._reset_election_timer(now)

    def election_timer_fired(self, now: int) -> None:
        """A follower's or candidate's election timer fired: with Pre-Vote on, ask first (§9.6)."""
        if self.config.prevote:
            self.become_pre_candidate(now)
        else:
            self.become_candidate(now)

    def become_pre_candidate(self, now: int) -> None:
        """Dissertation §9.6: ask the voters whether they would vote for us in term+1.

        Neither the term nor the vote changes, so a server that cannot win (cut
        off, or with a stale log) never raises the cluster's term: when it comes
        back it cannot depose a working leader.
        """
        self._reset_election_timer(now)
        if not self.is_voter or self.current_term >= LAST_TERM - 1 or self._campaign_held():
            return
        self.role = PRECANDIDATE
        self.leader_id = 0
        self.votes_granted = {self.id}
        if self._has_quorum(self.votes_granted):
            self._explain_prevote_won()
            self.become_candidate(now)
            return
        for peer in self.configuration.voters:
            if peer != self.id:
                self._send(
                    PreVote(
                        src=self.id,
                        dst=peer,
                        term=self.current_term + 1,
                        last_log_index=self.log.last_index,
                        last_log_term=self.log.last_term,
                    )
                )

    def handle_pre_vote(self, msg: PreVote, now: int) -> None:
        """Grant if the log is up to date and no live leader is known; change nothing (§9.6)."""
        up_to_date = self.log.is_up_to_date(msg.last_log_index, msg.last_log_term)
        logs = {
            "their_term": msg.last_log_term,
            "their_index": msg.last_log_index,
            "our_term": self.log.last_term,
            "our_index": self.log.last_index,
        }
        heard = now - self.leader_contact
        # Leader stickiness: a leader heard within the minimum election timeout is alive.
        leader_alive = self.role == LEADER or (
            self.leader_contact >= 0 and self.leader_id != 0 and heard < self.config.election_min
        )
        if msg.term <= self.current_term:
            reason = Reason(PREVOTE_DENIED_STALE, peer=msg.src, term=self.current_term, their_term=msg.term)
        elif leader_alive:
            reason = Reason(
                PREVOTE_DENIED_LEADER,
                peer=msg.src,
                term=msg.term,
                other=self.leader_id,
                count=0 if self.role == LEADER else heard,
                index=self.config.election_min,
                before=self.role,
            )
        elif not up_to_date:
            reason = Reason(PREVOTE_DENIED_LOG, peer=msg.src, term=msg.term, **logs)
        else:
            reason = Reason(PREVOTE_GRANTED, peer=msg.src, term=msg.term, **logs)
        self._explain(reason)
        granted = reason.kind == PREVOTE_GRANTED
        term = msg.term if granted else self.current_term
        self._send(PreVoteReply(src=self.id, dst=msg.src, term=term, vote_granted=granted))

    def handle_pre_vote_reply(self, msg: PreVoteReply, now: int) -> None:
        if self.role != PRECANDIDATE or msg.term != self.current_term + 1 or not msg.vote_granted:
            return
        self.votes_granted.add(msg.src)
        if self._has_quorum(self.votes_granted):
            self._explain_prevote_won()
            self.become_candidate(now)

    def _explain_prevote_won(self) -> None:
        voters = self.configuration.voters
        votes = ",".join(str(v) for v in sorted(self.votes_granted.intersection(voters)))
        self._explain(Reason(PREVOTE_WON, term=self.current_term + 1, count=len(voters), after=votes))

    def handle_timeout_now(self, msg: TimeoutNow, now: int) -> None:
        """§3.10: the leader hands over: start an election at once, skipping Pre-Vote."""
        if msg.term != self.current_term or self.role == LEADER or not self.is_voter:
            return
        self._explain(Reason(TIMEOUT_NOW, peer=msg.src, term=msg.term))
        self.become_candidate(now)

    def _campaign_held(self) -> bool:
        """Whether a recovering node must wait for a leader instead of standing (or pre-voting)."""
        if self.recovering and self.configuration.voters == (self.id,):
            # The only voter: there is no one to catch up from, and no other vote to clash
            # with. What it lost is lost; waiting would only stop the cluster for good.
            self._explain(Reason(RECOVERED, term=self.current_term, message=self.recovering))
            self.recovering = ""
        if self.recovering:
            # Its log may lack entries it acknowledged: as leader it could lose committed
            # entries (and its own vote in this term is unknown). It waits for a leader.
            self._explain(Reason(CAMPAIGN_HELD, term=self.current_term, message=self.recovering))
            return True
        return False

    def become_candidate(self, now: int) -> None:
        """§5.2: increment the term, vote for self, ask every voter for a vote.

        Only a voter of its own configuration may stand: a learner, or a server
        that was removed or has not joined yet, just waits to hear from a leader.
        """
        self._reset_election_timer(now)
        if not self.is_voter or self.current_term >= LAST_TERM:
            return  # (a term that cannot be incremented and encoded: waits for a leader, never crashes)
        if self._campaign_held():
            return
        if self.role == LEADER:
            self.drop_reads(0)  # (only the lab's ``timeout`` makes a leader stand again)
        self.role = CANDIDATE
        self.current_term += 1
        self.voted_for = self.id
        self.leader_id = 0
        self.leader_contact = -1
        self.votes_granted = {self.id}
        self.next_index, self.match_index, self.inflight, self.snapshot_sent = {}, {}, {}, {}
        if self._has_quorum(self.votes_granted):
            self._explain_elected()
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
        self.commit_held_at = 0
        self.reset_reads()
        self.next_index, self.match_index, self.inflight, self.snapshot_sent = {}, {}, {}, {}
        self.recovering_peers = set()
        self._track_peers()
        # Only this term's entries: a request left by an earlier leader is
        # appended again, because with the no-op off a current-term entry is
        # what lets the earlier ones commit (Figure 8); applying dedups it.
        self.proposed = {}
        self.transfer_target, self.transfer_sent = 0, False
        self.start_quorum_check(now)
        # Stamps carry on from the log's last one even if this leader's clock is behind it.
        last = self.log.entry(self.log.last_index).stamp if self.log.last_index > self.log.start_index else 0
        self.stamp_skew = max(0, max(last, self.kv.clock) - now)
        if self.config.noop:
            self._append_local(Entry(self.current_term, NOOP))
        self._broadcast_append(now, heartbeat=True)

    def handle_request_vote(self, msg: RequestVote, now: int) -> None:
        """Grant at most one vote per term, only to an up-to-date candidate (§5.4.1)."""
        up_to_date = self.log.is_up_to_date(msg.last_log_index, msg.last_log_term)
        # (The planted bug vote-any-log skips the election restriction.)
        restriction = up_to_date or "vote-any-log" in self.bugs
        granted = (
            msg.term == self.current_term
            and not self.recovering
            and self.voted_for in (0, msg.src)
            and restriction
        )
        self._explain_vote(msg, granted, up_to_date)
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
            self._explain_elected()
            self.become_leader(now)

    def _explain_vote(self, msg: RequestVote, granted: bool, up_to_date: bool) -> None:
        """Which clause of RequestVote's receiver decided (checked in the rule's own order)."""
        logs = {
            "their_term": msg.last_log_term,
            "their_index": msg.last_log_index,
            "our_term": self.log.last_term,
            "our_index": self.log.last_index,
        }
        if granted:
            reason = Reason(VOTE_GRANTED, peer=msg.src, term=msg.term, **logs)
        elif msg.term < self.current_term:
            reason = Reason(VOTE_DENIED_STALE, peer=msg.src, term=self.current_term, their_term=msg.term)
        elif self.recovering:
            # It may have voted in this term already (a lost vote), or lost entries a
            # majority needed: its vote could elect a second leader, or one lacking them.
            reason = Reason(
                VOTE_DENIED_RECOVERING, peer=msg.src, term=self.current_term, message=self.recovering
            )
        elif self.voted_for not in (0, msg.src):
            reason = Reason(VOTE_DENIED_VOTED, peer=msg.src, other=self.voted_for, term=self.current_term)
        else:
            assert not up_to_date
            reason = Reason(VOTE_DENIED_LOG, peer=msg.src, term=self.current_term, **logs)
        self._explain(reason)

    def _explain_elected(self) -> None:
        voters = self.configuration.voters
        votes = ",".join(str(v) for v in sorted(self.votes_granted.intersection(voters)))
        self._explain(Reason(ELECTED, term=self.current_term, count=len(voters), after=votes))

    def _has_quorum(self, granted: set[NodeId]) -> bool:
        """Votes from a majority of the voters of the configuration in use."""
        voters = self.configuration.voters
        return bool(voters) and len(granted.intersection(voters)) >= self.configuration.quorum

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

    def _heard_from_leader(self, leader: NodeId, term: int, now: int, message: str) -> None:
        """A current-term AppendEntries or InstallSnapshot comes from the one legitimate leader."""
        if self.role != FOLLOWER or self.leader_id != leader:
            if self.role in (CANDIDATE, PRECANDIDATE):
                # ``before`` only for a pre-candidate: a candidate's reason stays as it always was.
                before = PRECANDIDATE if self.role == PRECANDIDATE else ""
                self._explain(Reason(LEADER_SEEN, peer=leader, term=term, message=message, before=before))
            self.become_follower(term, leader, now)
        self.leader_contact = now
        self._reset_election_timer(now)
