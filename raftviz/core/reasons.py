"""Why the core did what it did: a small, typed vocabulary of reasons, each naming its place in the paper.

Every decision a rule makes that a reader may ask "why?" about (a vote
granted or denied, an AppendEntries rejected or a suffix truncated, a step
down, the commit index moving or refusing to move, a snapshot installed, a
configuration changed) is recorded as a :class:`Reason`: its kind, and the
numbers that show it. The core collects the reasons of one input in its
``Ready`` (``Ready.reasons``); the node driver carries them in its report, so
they cross the wire to the lab like any other output and read the same on
every backend.

A reason is data, not text: :meth:`Reason.describe` is the one place that
turns any kind into words, and :data:`PLACES` the one table of where in the
paper each rule is. The fields are few and shared by all kinds; each kind's
comment says which it uses. "Ours" is the node that decided, "theirs" the
peer whose message it decided on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from raftviz.core.messages import NodeId
from raftviz.core.values import shared_value

#: A vote granted: ``peer`` the candidate, ``term``; its log (``their_term``, ``their_index``)
#: is at least as up to date as ours (``our_term``, ``our_index``).
VOTE_GRANTED: Final = "vote-granted"
#: A vote denied because this node already voted in ``term``, for ``other``.
VOTE_DENIED_VOTED: Final = "vote-denied-voted"
#: A vote denied because the candidate's log (``their_term``/``their_index``: its last
#: entry's term and index) is behind ours (``our_term``/``our_index``).
VOTE_DENIED_LOG: Final = "vote-denied-log"
#: A vote denied because the candidate's term (``their_term``) is older than ours (``term``).
VOTE_DENIED_STALE: Final = "vote-denied-stale"
#: A vote denied to ``peer`` in ``term`` because this node is recovering from damaged
#: storage (``message`` says what it lost): it may already have voted in this term, or
#: hold less than it acknowledged, so it votes again only once a leader has caught it up.
VOTE_DENIED_RECOVERING: Final = "vote-denied-recovering"
#: A RequestVote from ``peer``, not a voter here, ignored while a leader is known:
#: this node's role ``before`` is leader, or it heard its leader ``count`` ms ago.
VOTE_IGNORED: Final = "vote-ignored"
#: Elected leader of ``term``: votes from the nodes in ``after`` out of ``count`` voters.
ELECTED: Final = "elected"
#: The election timer fired in ``term`` but this node is recovering from damaged storage
#: (``message`` says what it lost): it waits for a leader instead of standing, since its
#: log may lack entries it acknowledged.
CAMPAIGN_HELD: Final = "campaign-held"
#: No longer recovering: leader ``peer`` of ``term`` has committed up to ``index``, an
#: entry of its own term, and this node's log now matches it up to there (so it holds
#: every committed entry again); ``message`` is what it had lost. ``peer`` 0: this node
#: is the only voter, with no one to catch up from (what it lost is lost).
RECOVERED: Final = "recovered"
#: Stepped down to follower (or a follower moved term): ``term`` seen in a ``message``
#: from ``peer``, our term was ``our_term`` and our role ``before``.
STEP_DOWN: Final = "step-down"
#: A candidate became a follower: ``peer`` leads its ``term`` (its ``message`` arrived).
LEADER_SEEN: Final = "leader-seen"
#: An AppendEntries from ``peer`` rejected: its term (``their_term``) is older than ours (``term``).
APPEND_REJECTED_STALE: Final = "append-rejected-stale"
#: An AppendEntries rejected: no entry at prevLogIndex ``index``; our log ends at ``our_index``.
APPEND_REJECTED_MISSING: Final = "append-rejected-missing"
#: An AppendEntries rejected: the entry at prevLogIndex ``index`` has term ``our_term``
#: here, ``their_term`` (prevLogTerm) in the leader's log.
APPEND_REJECTED_MISMATCH: Final = "append-rejected-mismatch"
#: An AppendEntries accepted after deleting ``count`` conflicting entries, ``index`` to
#: ``our_index``: entry ``index`` had term ``our_term`` here, ``their_term`` in the message.
LOG_TRUNCATED: Final = "log-truncated"
#: A leader's commit index moved from ``our_index`` to ``index``: the nodes in ``after``
#: (a majority of ``count`` voters) hold entry ``index``, which is of the current ``term``.
COMMIT_ADVANCED: Final = "commit-advanced"
#: A follower's commit index moved from ``our_index`` to ``index``: the leader ``peer``'s
#: commit index is ``their_index``, and ``index`` is as far as this node's log matches.
COMMIT_LEARNED: Final = "commit-learned"
#: A leader's commit index stays at ``our_index`` although the nodes in ``after`` (a majority
#: of ``count`` voters) hold entry ``index``: it is of term ``their_term``, not the current ``term``.
COMMIT_HELD: Final = "commit-held"
#: A snapshot from ``peer`` installed: state machine and log replaced up to ``index``
#: (of term ``their_term``); the commit index was ``our_index``.
SNAPSHOT_INSTALLED: Final = "snapshot-installed"
#: The configuration in use changed from ``before`` to ``after`` because a configuration
#: entry at ``index`` was ``message`` (``appended`` to the log, or ``undone``: truncated away).
CONFIG_CHANGED: Final = "config-changed"
#: A read without a log write (dissertation §6.4) answered by the leader: ``message`` is
#: the mode (readindex or lease), ``before`` the request; ``index`` the read index,
#: ``our_index`` the applied index, ``term`` the leader's; ``after`` how it was confirmed:
#: ``round`` (heartbeat round ``count`` acknowledged by a majority) or ``lease`` (the lease
#: holds until ``their_index``, on the leader's clock).
READ_SERVED: Final = "read-served"
#: A read held by the leader (``message`` the mode, ``before`` the request): ``after`` says
#: what for: ``round`` (heartbeat round ``count`` to reach a majority), ``noop`` (an entry of
#: its ``term`` to commit first), ``no lease yet`` / ``lease expired`` (at ``their_index``) /
#: ``no stickiness`` (``prevote`` off: no lease is safe): confirmed by round ``count`` instead.
#: ``index`` is the read index (0: not known yet).
READ_HELD: Final = "read-held"
#: A read refused (``message`` the mode, ``before`` the request): this node does not lead
#: (any more); ``peer`` is the leader it knows of (0: none), for the client to try.
READ_REFUSED: Final = "read-refused"

#: A pre-vote granted to ``peer`` for ``term`` (the term it would stand in): its log
#: (``their_term``, ``their_index``) is at least as up to date as ours, and no leader was
#: heard within the minimum election timeout. Neither our term nor our vote changed.
PREVOTE_GRANTED: Final = "prevote-granted"
#: A pre-vote for ``term`` denied to ``peer``: its log (``their_term``/``their_index``) is
#: behind ours (``our_term``/``our_index``).
PREVOTE_DENIED_LOG: Final = "prevote-denied-log"
#: A pre-vote for ``term`` denied to ``peer`` because a leader is alive (leader stickiness):
#: this node's role ``before`` is leader, or it heard leader ``other`` ``count`` ms ago,
#: less than the minimum election timeout ``index`` ms.
PREVOTE_DENIED_LEADER: Final = "prevote-denied-leader"
#: A pre-vote denied to ``peer``: the term it asks for (``their_term``) is not above ours (``term``).
PREVOTE_DENIED_STALE: Final = "prevote-denied-stale"
#: A pre-candidate won the pre-vote for ``term``: nodes ``after`` of ``count`` voters said
#: yes, so it starts the real election.
PREVOTE_WON: Final = "prevote-won"
#: A leader of ``term`` steps down (CheckQuorum): in the last ``index`` ms it heard only from
#: nodes ``after`` (itself included), fewer than a majority of ``count`` voters.
QUORUM_LOST: Final = "quorum-lost"
#: A leader of ``term`` starts handing leadership to ``peer``: it takes no new client requests;
#: ``peer``'s log matches up to ``their_index``, the leader's ends at ``our_index``.
TRANSFER_STARTED: Final = "transfer-started"
#: ``peer``'s log matches the leader's up to its last entry ``index``: TimeoutNow sent.
TRANSFER_TIMEOUT_NOW: Final = "transfer-timeout-now"
#: A transfer to ``peer`` given up (``message`` says why: no new leader within ``count`` ms,
#: or this node stopped leading); the leader (if still one) takes client requests again.
TRANSFER_ABORTED: Final = "transfer-aborted"
#: A transfer to ``peer`` refused: ``message`` says why.
TRANSFER_REFUSED: Final = "transfer-refused"
#: A TimeoutNow from leader ``peer`` of ``term``: this node starts an election at once,
#: skipping Pre-Vote.
TIMEOUT_NOW: Final = "timeout-now"

ReasonKind = Literal[
    "vote-granted",
    "vote-denied-voted",
    "vote-denied-log",
    "vote-denied-stale",
    "vote-denied-recovering",
    "vote-ignored",
    "elected",
    "campaign-held",
    "recovered",
    "step-down",
    "leader-seen",
    "append-rejected-stale",
    "append-rejected-missing",
    "append-rejected-mismatch",
    "log-truncated",
    "commit-advanced",
    "commit-learned",
    "commit-held",
    "snapshot-installed",
    "config-changed",
    "read-served",
    "read-held",
    "read-refused",
    "prevote-granted",
    "prevote-denied-log",
    "prevote-denied-leader",
    "prevote-denied-stale",
    "prevote-won",
    "quorum-lost",
    "transfer-started",
    "transfer-timeout-now",
    "transfer-aborted",
    "transfer-refused",
    "timeout-now",
]

#: Where in the Raft paper (Ongaro and Ousterhout, 2014) each kind's rule is.
PLACES: Final[dict[str, str]] = {
    VOTE_GRANTED: "Figure 2, RequestVote receiver 2",
    VOTE_DENIED_VOTED: "Figure 2, RequestVote receiver 2",
    VOTE_DENIED_LOG: "§5.4.1",
    VOTE_DENIED_STALE: "Figure 2, RequestVote receiver 1",
    VOTE_DENIED_RECOVERING: "protocol-aware recovery",
    VOTE_IGNORED: "§6 (membership)",
    ELECTED: "Figure 2, Candidates / §5.2",
    CAMPAIGN_HELD: "protocol-aware recovery",
    RECOVERED: "protocol-aware recovery",
    STEP_DOWN: "Figure 2, All Servers",
    LEADER_SEEN: "Figure 2, Candidates / §5.2",
    APPEND_REJECTED_STALE: "Figure 2, AppendEntries receiver 1",
    APPEND_REJECTED_MISSING: "Figure 2, AppendEntries receiver 2",
    APPEND_REJECTED_MISMATCH: "Figure 2, AppendEntries receiver 2",
    LOG_TRUNCATED: "Figure 2, AppendEntries receiver 3 / §5.3",
    COMMIT_ADVANCED: "Figure 2, Leaders / §5.3",
    COMMIT_LEARNED: "Figure 2, AppendEntries receiver 5",
    COMMIT_HELD: "Figure 8 / §5.4.2",
    SNAPSHOT_INSTALLED: "§7 (snapshots)",
    CONFIG_CHANGED: "§6 (membership)",
    READ_SERVED: "dissertation §6.4",
    READ_HELD: "dissertation §6.4",
    READ_REFUSED: "dissertation §6.4, §8",
    PREVOTE_GRANTED: "dissertation §9.6, Pre-Vote",
    PREVOTE_DENIED_LOG: "dissertation §9.6, Pre-Vote / §5.4.1",
    PREVOTE_DENIED_LEADER: "dissertation §9.6 / §4.2.3, leader stickiness",
    PREVOTE_DENIED_STALE: "dissertation §9.6, Pre-Vote",
    PREVOTE_WON: "dissertation §9.6, Pre-Vote",
    QUORUM_LOST: "dissertation §6.2, CheckQuorum",
    TRANSFER_STARTED: "dissertation §3.10, leadership transfer",
    TRANSFER_TIMEOUT_NOW: "dissertation §3.10, leadership transfer",
    TRANSFER_ABORTED: "dissertation §3.10, leadership transfer",
    TRANSFER_REFUSED: "dissertation §3.10, leadership transfer",
    TIMEOUT_NOW: "dissertation §3.10, leadership transfer",
}

#: Every kind, in the order they are documented (docs/scenario-language.md).
KINDS: Final = tuple(PLACES)


@shared_value
@dataclass(frozen=True, slots=True)
class Reason:
    """One decision and the numbers behind it; which fields a kind uses is said at the kind."""

    kind: str
    peer: NodeId = 0
    other: NodeId = 0
    term: int = 0
    index: int = 0
    our_term: int = 0
    our_index: int = 0
    their_term: int = 0
    their_index: int = 0
    count: int = 0
    message: str = ""
    before: str = ""
    after: str = ""

    @property
    def place(self) -> str:
        """Where the rule is in the paper: ``Figure 2, RequestVote receiver 2``, ``§5.4.1``..."""
        return PLACES.get(self.kind, "")

    def describe(self) -> str:
        """One line, the rule's place in the paper last: ``vote denied to node 3 in term 4: ... (§5.4.1)``."""
        return f"{self._sentence()} ({self.place})"

    def _sentence(self) -> str:  # noqa: PLR0911 - one branch per kind is the point
        k = self.kind
        if k == VOTE_GRANTED:
            theirs, ours = _last(self.their_term, self.their_index), _last(self.our_term, self.our_index)
            if (self.their_term, self.their_index) < (self.our_term, self.our_index):
                # Only a planted bug grants this (vote-any-log): said as it is, not as the rule says.
                return (
                    f"vote granted to node {self.peer} in term {self.term}: no other vote in this term, "
                    f"although its log ({theirs}) is behind ours ({ours}): the up-to-date check was skipped"
                )
            return (
                f"vote granted to node {self.peer} in term {self.term}: no other vote in this term, "
                f"and its log ({theirs}) is at least as up to date as ours ({ours})"
            )
        if k == VOTE_DENIED_VOTED:
            return f"vote denied to node {self.peer}: already voted for node {self.other} in term {self.term}"
        if k == VOTE_DENIED_LOG:
            return (
                f"vote denied to node {self.peer} in term {self.term}: its log "
                f"({_last(self.their_term, self.their_index)}) is not as up to date as ours "
                f"({_last(self.our_term, self.our_index)})"
            )
        if k == VOTE_DENIED_STALE:
            older = f"its term {self.their_term} is older than ours ({self.term})"
            return f"vote denied to node {self.peer}: {older}"
        if k == VOTE_DENIED_RECOVERING:
            return (
                f"vote denied to node {self.peer} in term {self.term}: this node is recovering "
                f"({self.message}) and votes only once a leader has caught it up"
            )
        if k == CAMPAIGN_HELD:
            return (
                f"election timeout in term {self.term} but no campaign: this node is recovering "
                f"({self.message}) and waits for a leader to catch it up"
            )
        if k == RECOVERED and not self.peer:
            return (
                f"recovered ({self.message}) in term {self.term}: the only voter of its configuration, "
                "it has no one to catch up from, so what it lost is lost"
            )
        if k == RECOVERED:
            return (
                f"recovered ({self.message}): leader {self.peer} of term {self.term} has committed up to "
                f"{self.index}, an entry of its term, and our log matches it up to there"
            )
        if k == VOTE_IGNORED:
            why = "this node leads" if self.before == "leader" else f"a leader was heard {self.count} ms ago"
            return f"RequestVote from node {self.peer} ignored: it is not a voter here and {why}"
        if k == ELECTED:
            return (
                f"elected leader of term {self.term}: votes from nodes {self.after}, "
                f"a majority of {self.count} voters"
            )
        if k == STEP_DOWN:
            seen = f"{self.message} from node {self.peer} has a newer term"
            if self.before == "follower":
                return f"term {self.our_term} -> {self.term}: {seen}"
            return f"{self.before} steps down to follower, term {self.our_term} -> {self.term}: {seen}"
        if k == LEADER_SEEN:
            leads = f"node {self.peer} leads term {self.term} ({self.message})"
            return f"{self.before or 'candidate'} steps down to follower: {leads}"
        if k == APPEND_REJECTED_STALE:
            return (
                f"AppendEntries from node {self.peer} rejected: its term {self.their_term} "
                f"is older than ours ({self.term})"
            )
        if k == APPEND_REJECTED_MISSING:
            return (
                f"AppendEntries from node {self.peer} rejected: no entry at prevIndex {self.index} "
                f"(our log ends at {self.our_index})"
            )
        if k == APPEND_REJECTED_MISMATCH:
            return (
                f"AppendEntries from node {self.peer} rejected: entry {self.index} has term {self.our_term} "
                f"here, the leader's prevTerm is {self.their_term}"
            )
        if k == LOG_TRUNCATED:
            span = f"entry {self.index}" if self.count == 1 else f"entries {self.index}..{self.our_index}"
            return (
                f"{span} deleted: entry {self.index} has term {self.our_term} here but term "
                f"{self.their_term} in the AppendEntries from node {self.peer}"
            )
        if k == COMMIT_ADVANCED:
            held = f"commit index {self.our_index} -> {self.index}: nodes {self.after} (a majority of "
            held += f"{self.count} voters) hold entry {self.index}"
            if self.their_term and self.their_term != self.term:
                # Only a planted bug commits this (commit-old-term): said as it is.
                return f"{held}, although it is of term {self.their_term}, not the current term {self.term}"
            return f"{held}, and it is of the current term {self.term}"
        if k == COMMIT_LEARNED:
            learned = f"commit index {self.our_index} -> {self.index}: leader {self.peer} has committed"
            if self.index == self.their_index:
                return f"{learned} up to {self.their_index}"
            return f"{learned} up to {self.their_index}, and our log matches its log up to {self.index}"
        if k == COMMIT_HELD:
            return (
                f"commit index stays {self.our_index}: nodes {self.after} (a majority of {self.count} "
                f"voters) hold entry {self.index}, but it is of term {self.their_term}, not the current "
                f"term {self.term}"
            )
        if k == SNAPSHOT_INSTALLED:
            return (
                f"snapshot from node {self.peer} installed: state machine and log replaced up to index "
                f"{self.index} (term {self.their_term}), beyond our commit index {self.our_index}"
            )
        if k == CONFIG_CHANGED:
            return (
                f"configuration {self.before} -> {self.after}: configuration entry {self.index} was "
                f"{self.message}, and a server uses the latest one in its log, committed or not"
            )
        if k in (READ_SERVED, READ_HELD, READ_REFUSED):
            return self._read_sentence()
        return self._extension_sentence()

    def _extension_sentence(self) -> str:  # noqa: PLR0911 - one branch per kind is the point
        """Pre-Vote, CheckQuorum and leadership transfer (the dissertation's additions to Figure 2)."""
        k = self.kind
        theirs, ours = _last(self.their_term, self.their_index), _last(self.our_term, self.our_index)
        if k == PREVOTE_GRANTED:
            return (
                f"pre-vote granted to node {self.peer} for term {self.term}: its log ({theirs}) is at least "
                f"as up to date as ours ({ours}), no leader was heard within the election timeout, "
                "and our term and vote stay as they were"
            )
        if k == PREVOTE_DENIED_LOG:
            denied = f"pre-vote for term {self.term} denied to node {self.peer}"
            return f"{denied}: its log ({theirs}) is behind ours ({ours})"
        if k == PREVOTE_DENIED_LEADER:
            if self.before == "leader":
                alive = "this node leads"
            else:
                alive = f"leader {self.other} was heard {self.count} ms ago (< {self.index} ms)"
            return f"pre-vote for term {self.term} denied to node {self.peer}: {alive}"
        if k == PREVOTE_DENIED_STALE:
            return (
                f"pre-vote denied to node {self.peer}: the term it asks for ({self.their_term}) "
                f"is not above ours ({self.term})"
            )
        if k == PREVOTE_WON:
            return (
                f"pre-vote won: nodes {self.after}, a majority of {self.count} voters, would vote "
                f"in term {self.term}, so the real election starts"
            )
        if k == QUORUM_LOST:
            return (
                f"leader of term {self.term} steps down: in the last {self.index} ms it heard only from "
                f"nodes {self.after}, not a majority of {self.count} voters"
            )
        if k == TRANSFER_STARTED:
            return (
                f"leadership transfer to node {self.peer} started: no new client requests, and its log "
                f"matches ours up to {self.their_index}, ours ends at {self.our_index}"
            )
        if k == TRANSFER_TIMEOUT_NOW:
            return f"node {self.peer}'s log matches ours up to its last entry {self.index}: TimeoutNow sent"
        if k == TRANSFER_ABORTED:
            return f"leadership transfer to node {self.peer} aborted: {self.message}"
        if k == TRANSFER_REFUSED:
            return f"leadership transfer to node {self.peer} refused: {self.message}"
        if k == TIMEOUT_NOW:
            return (
                f"TimeoutNow from leader {self.peer} of term {self.term}: election starts at once "
                "(no pre-vote)"
            )
        return k

    def _read_sentence(self) -> str:
        """The words of the three read kinds (dissertation §6.4)."""
        k, what = self.kind, f"{self.before} ({self.message})"
        if k == READ_SERVED:
            if self.after == "lease":
                return (
                    f"{what} served from the lease at applied index {self.our_index}: no other leader "
                    f"can exist before t={self.their_index} on this leader's clock"
                )
            return (
                f"{what} served at read index {self.index} (applied {self.our_index}): heartbeat "
                f"round {self.count} was acknowledged by a majority, so this node still leads "
                f"term {self.term}"
            )
        if k == READ_HELD:
            if self.after == "noop":
                return (
                    f"{what} held: this leader has not committed an entry of its term {self.term} yet, "
                    f"so its read index is not known; heartbeat round {self.count} sent"
                )
            if self.after == "no stickiness":
                return (
                    f"{what} held: no lease without leader stickiness (prevote=on: a server that "
                    f"heard from its leader grants no pre-vote), so it is confirmed like a ReadIndex "
                    f"read, by heartbeat round {self.count}"
                )
            if self.after in ("lease expired", "no lease yet"):
                when = f" at t={self.their_index}" if self.after == "lease expired" else ""
                return (
                    f"{what} held: {self.after}{when}, so it is confirmed like a ReadIndex read, "
                    f"by heartbeat round {self.count}"
                )
            return (
                f"{what} held at read index {self.index}: waiting for a majority to acknowledge "
                f"heartbeat round {self.count}"
            )
        hint = f"node {self.peer} leads, as far as this node knows" if self.peer else "no leader known"
        return f"{what} refused: this node does not lead ({hint})"


def _last(term: int, index: int) -> str:
    return f"lastTerm={term} lastIndex={index}"
