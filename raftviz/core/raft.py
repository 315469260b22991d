"""One Raft server as a pure, deterministic state machine (Figure 2 of the paper).

``RaftNode`` takes inputs (a message, a timer firing, a client request) with the
current virtual time, changes its state, and accumulates outputs that the
driver collects with ``ready()``: state to persist, messages to send, indexes
applied. It never reads a clock, never touches a socket or a file, and draws
its randomness only from the ``random.Random`` it is given, so the same inputs
always give the same outputs.

This module is the dispatcher: ``step`` applies the rule common to all roles
first (a higher term makes any server a follower of that term, Figure 2 "All
Servers"), then hands the message to its concern's handler, which checks the
role. The rules live one concern to a module, as the dissertation orders them:

- :mod:`~raftviz.core.election`: roles, terms, RequestVote (§3.4);
- :mod:`~raftviz.core.replication`: AppendEntries, the commit rule of
  Figure 8, applying and answering clients (§3.5);
- :mod:`~raftviz.core.membership_changes`: single-server changes (chapter 4);
- :mod:`~raftviz.core.compaction`: snapshots and InstallSnapshot (chapter 5);
- :mod:`~raftviz.core.reads`: ReadIndex and lease reads (§6.4);
- :mod:`~raftviz.core.leadership`: CheckQuorum (§6.2) and leadership transfer (§3.10);
  Pre-Vote (§9.6) is election's;
- :mod:`~raftviz.core.state`: the state they share and its queries.
"""

from __future__ import annotations

from raftviz.core import guards
from raftviz.core.compaction import Compaction
from raftviz.core.election import Election
from raftviz.core.leadership import Leadership
from raftviz.core.membership_changes import MembershipChanges
from raftviz.core.messages import (
    LEADER_MESSAGES,
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    ClientRequest,
    InstallSnapshot,
    InstallSnapshotReply,
    Message,
    PreVote,
    PreVoteReply,
    RequestVote,
    RequestVoteReply,
    StatusReply,
    StatusRequest,
    TimeoutNow,
    TransferRequest,
)
from raftviz.core.reads import Reads
from raftviz.core.ready import HardState, Ready
from raftviz.core.reasons import STEP_DOWN, VOTE_IGNORED, Reason
from raftviz.core.replication import Replication
from raftviz.core.state import CANDIDATE, FOLLOWER, LEADER

__all__ = ["CANDIDATE", "FOLLOWER", "LEADER", "RaftNode"]


#: Messages for clients and tools, which a node does not step on.
_NOT_PEER = (ClientReply, StatusRequest, StatusReply)
#: Answers that show a peer heard this leader (CheckQuorum counts them).
_ACKS = (AppendEntriesReply, InstallSnapshotReply)
#: Each peer message class and the name of the rule that handles it.
_HANDLERS: dict[type, str] = {
    RequestVote: "handle_request_vote",
    RequestVoteReply: "handle_request_vote_reply",
    AppendEntries: "handle_append_entries",
    AppendEntriesReply: "handle_append_entries_reply",
    InstallSnapshot: "handle_install_snapshot",
    InstallSnapshotReply: "handle_install_snapshot_reply",
    PreVote: "handle_pre_vote",
    PreVoteReply: "handle_pre_vote_reply",
    TimeoutNow: "handle_timeout_now",
}


def _handler_of(msg: Message) -> str:
    """The handler of a message whose class is not a key of ``_HANDLERS`` (a subclass), "" if none."""
    return next((name for cls, name in _HANDLERS.items() if isinstance(msg, cls)), "")


def _hypothetical(msg: Message) -> bool:
    """A pre-vote asks about a term nobody is in yet, and a granted answer
    echoes it: neither makes anyone move to it (dissertation §9.6)."""
    return isinstance(msg, PreVote) or (isinstance(msg, PreVoteReply) and msg.vote_granted)


class RaftNode(Election, Replication, MembershipChanges, Compaction, Reads, Leadership):
    """A Raft server: the state of :class:`ServerState` and every rule, one input at a time."""

    def tick(self, now: int) -> None:
        """Fire whichever timer is due at ``now``."""
        self._now = now
        if self.role == LEADER:
            if self.transfer_target and now >= self.transfer_deadline:
                self.abort_transfer(now)
            if self.config.check_quorum and now >= self.quorum_deadline:
                self.check_quorum(now)
                if self.role != LEADER:
                    return
            if now >= self.heartbeat_deadline:
                self._broadcast_append(now, heartbeat=True)
        elif now >= self.election_deadline:
            self.election_timer_fired(now)

    def timeout_now(self, now: int) -> None:
        """Start an election at once, whatever the role (a lab control).

        Always a real election, Pre-Vote or not: the lab's ``timeout N`` forces
        one, as etcd's forced campaign does (docs/scenario-language.md).
        """
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
        if isinstance(msg, TransferRequest):
            self.handle_transfer_request(msg, now)
            return
        if isinstance(msg, _NOT_PEER) or msg.dst != self.id:
            return
        # Before any rule, the higher-term one included: a message no correct
        # peer could send is dropped whole and counted, so it moves nothing.
        violation = guards.check(self, msg)
        if violation is not None:
            self.violation_counts[violation.kind] = self.violation_counts.get(violation.kind, 0) + 1
            self._ready.violations.append(violation)
            return
        if isinstance(msg, RequestVote) and self._disruptive(msg, now):
            heard = 0 if self.role == LEADER else now - self.leader_contact
            self._explain(Reason(VOTE_IGNORED, peer=msg.src, count=heard, before=self.role))
            return
        # All servers (Figure 2): a higher term means we are out of date.
        if msg.term > self.current_term and not self._ignores_term(msg) and not _hypothetical(msg):
            message = type(msg).__name__
            self._explain(
                Reason(
                    STEP_DOWN,
                    peer=msg.src,
                    term=msg.term,
                    our_term=self.current_term,
                    message=message,
                    before=self.role,
                )
            )
            # A higher term in a message only a leader sends names its sender leader.
            leader = msg.src if isinstance(msg, LEADER_MESSAGES) else 0
            self.become_follower(msg.term, leader, now)
        if msg.term == self.current_term and isinstance(msg, _ACKS):
            self.heard_from_peer(msg.src, now)
        handler = _HANDLERS.get(type(msg)) or _handler_of(msg)
        if handler:
            getattr(self, handler)(msg, now)

    def handle_transfer_request(self, msg: TransferRequest, now: int) -> None:
        """A tool asks for a leadership transfer: the leader starts it; others redirect (seq 0)."""
        if self.role != LEADER:
            error = "" if self.leader_id else "no leader known: nothing to transfer"
            self._send(ClientReply(self.id, msg.src, 0, ok=False, leader_hint=self.leader_id, error=error))
            return
        refusal = self.transfer_leadership(msg.target, now)
        self._send(ClientReply(self.id, msg.src, 0, ok=not refusal, leader_hint=self.id, error=refusal))

    def _ignores_term(self, msg: Message) -> bool:
        """The planted bug no-step-down: a leader deaf to the higher terms of replies."""
        replies = RequestVoteReply | AppendEntriesReply | InstallSnapshotReply | PreVoteReply
        return "no-step-down" in self.bugs and self.role == LEADER and isinstance(msg, replies)

    def ready(self) -> Ready:
        """Collect the outputs accumulated since the last call."""
        out = self._ready
        # The planted bug forget-vote: the vote lives in memory only.
        voted_for = 0 if "forget-vote" in self.bugs else self.voted_for
        persisted = self._persisted
        # Compared field by field: most inputs change no hard state, and then none is built.
        if (
            self.current_term != persisted.current_term
            or voted_for != persisted.voted_for
            or self.recovering != persisted.recovering
        ):
            out.hard_state = HardState(self.current_term, voted_for, self.recovering)
            self._persisted = out.hard_state.copy()
        if out.log_from:
            out.entries = self.log.slice(out.log_from)
        out.durable_from = out.log_from
        if "ack-before-persist" in self.bugs:
            self._persist_late(out)
        self._ready = Ready()
        return out

    def _persist_late(self, out: Ready) -> None:
        """Planted bug ack-before-persist: a follower's log change is made durable one input late.

        The change is reported (and acknowledged) now, but handed to storage
        only with the next input's Ready, from the lowest index either changed;
        a crash in between loses it. A snapshot is never put off.
        """
        pending, changed = self.unsynced_from, out.log_from
        if changed and not pending and out.snapshot is None and self.role == FOLLOWER:
            self.unsynced_from, out.durable_from = changed, 0
            return
        starts = [i for i in (pending, changed) if i]
        self.unsynced_from = 0
        if starts:
            out.durable_from = max(min(starts), self.log.start_index + 1)
