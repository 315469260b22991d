"""The events of a run, derived from its history: what views, search and exports read.

Each history position (``lab/history.py``) was reached by one step: an event
the clock ran, or a command. What it did is already recorded: the step
(``timeline.Step``: the command's text, for a partition or a heal that
publishes no record) and its ``StepRecord`` values (the message delivered,
lost or dropped, the messages sent, the nodes' changes, client answers).
``events_of`` turns those into a flat list of ``Event`` values: one per thing
a reader may look for (a message sent, delivered, lost, dropped or
duplicated; a timer or a timeout; a crash, a restart; a role, term, commit
or configuration change; a partition or a heal; a client request and its
answer; an invariant violation).

Nothing here is stored per position: events are derived when asked for (a
search, an export) from what the history keeps anyway, so memory stays
bounded (DESIGN.md §10). The same words are produced on both backends, since
they come from the records, which are identical.

``Event.reason`` is the core's reason for a decision (DESIGN.md §11,
raftviz.core.reasons), in the words of ``Reason.describe``: a delivery or a
timer carries every reason its node gave for what it did; a role, term,
commit, configuration or snapshot change the reasons of that kind; a reply
sent the reason for its verdict (a vote, an AppendEntries accepted or not).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from raftviz.core.messages import (
    AppendEntriesReply,
    ClientReply,
    Message,
    PreVoteReply,
    RequestVoteReply,
)
from raftviz.core.reasons import (
    APPEND_REJECTED_MISMATCH,
    APPEND_REJECTED_MISSING,
    APPEND_REJECTED_STALE,
    COMMIT_ADVANCED,
    COMMIT_LEARNED,
    CONFIG_CHANGED,
    ELECTED,
    LEADER_SEEN,
    LOG_TRUNCATED,
    PREVOTE_DENIED_LEADER,
    PREVOTE_DENIED_LOG,
    PREVOTE_DENIED_STALE,
    PREVOTE_GRANTED,
    PREVOTE_WON,
    QUORUM_LOST,
    SNAPSHOT_INSTALLED,
    STEP_DOWN,
    TIMEOUT_NOW,
    VOTE_DENIED_LOG,
    VOTE_DENIED_STALE,
    VOTE_DENIED_VOTED,
    VOTE_GRANTED,
)
from raftviz.lab.describe import describe_message
from raftviz.lab.lab import Change, StepRecord
from raftviz.lab.network import Flight
from raftviz.lab.timeline import Step

Address = int | str

#: Every kind of event, and what it stands for.
KINDS: dict[str, str] = {
    "send": "a node or a client sent a message",
    "deliver": "a message arrived",
    "lost": "a message was lost (a cut link, a crashed node, or the loss model at send)",
    "drop": "a message was dropped by a command",
    "duplicate": "a message in flight was duplicated",
    "timeout": "an election timer fired (or was forced): the node starts an election",
    "heartbeat": "a leader's heartbeat timer fired",
    "timer": "a node's timer fired and started nothing (a learner's, a lone leader's)",
    "crash": "a node crashed",
    "restart": "a node restarted from its disk",
    "start": "a node started, empty (add)",
    "role": "a node's role changed",
    "term": "a node's term changed (same role)",
    "commit": "a node's commit index moved",
    "config": "a node's configuration changed",
    "snapshot": "a node took or installed a snapshot",
    "request": "a client sent a request",
    "answer": "a client got its answer",
    "retry": "a client timed out and retried",
    "network": "the network changed (partition, cut, heal, loss, latency)",
    "command": "another command",
    "violation": "an invariant was violated",
    "refused": "a node refused a datagram",
}

#: Commands that change the world without a record of their own: they are events by their text.
NETWORK_COMMANDS = ("partition", "heal", "cut", "loss", "latency")


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened at a history position.

    ``node`` is the lane it happened on: the sender of a send, the receiver of
    a delivery or a loss, the node that changed, the client that got an answer
    (None for a network change, which concerns every node).
    """

    position: int
    time: int
    kind: str
    text: str
    node: Address | None = None
    #: The message, for message events (send, deliver, lost, drop, duplicate).
    msg_id: int = 0
    msg_type: str = ""
    src: Address | None = None
    dst: Address | None = None
    #: The message's term, or the node's new term for a role or term change.
    term: int | None = None
    #: The message in the lab's words (``AppendEntries term=2 prevIndex=3 ...``).
    summary: str = ""
    #: When the message was sent (for drawing its arrow from there).
    sent_at: int = 0
    #: Why a message was lost or dropped (``link cut``, ``node 3 is down``, ``loss``, ``dropped``).
    cause: str = ""
    #: A refusal: a reply that rejects or denies, or a delivery its receiver rejected.
    rejected: bool = False
    #: For a role change: the role before and after; for a commit: the new commit index.
    before: str = ""
    after: str = ""
    value: int = 0
    #: The core's reason for the decision (raftviz.core.reasons), ``Reason.describe``'s
    #: words, several joined by ``; ``; empty when the event was no decision of note.
    reason: str = ""
    #: The kinds of those reasons (``vote-denied-log``, ``commit-held``...), in the same order.
    reason_kinds: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line: ``t=163 deliver #7 2->1 RequestVoteReply term=1 granted``."""
        return f"t={self.time} {self.text}"


#: The kinds of reason that explain an event of each kind (headlines take all their node's).
_EXPLAINS: dict[str, tuple[str, ...]] = {
    "role": (STEP_DOWN, LEADER_SEEN, ELECTED, PREVOTE_WON, QUORUM_LOST, TIMEOUT_NOW),
    "term": (STEP_DOWN,),
    "commit": (COMMIT_ADVANCED, COMMIT_LEARNED),
    "config": (CONFIG_CHANGED,),
    "snapshot": (SNAPSHOT_INSTALLED,),
    "RequestVoteReply": (VOTE_GRANTED, VOTE_DENIED_VOTED, VOTE_DENIED_LOG, VOTE_DENIED_STALE),
    "PreVoteReply": (PREVOTE_GRANTED, PREVOTE_DENIED_LOG, PREVOTE_DENIED_LEADER, PREVOTE_DENIED_STALE),
    "AppendEntriesReply": (
        APPEND_REJECTED_STALE,
        APPEND_REJECTED_MISSING,
        APPEND_REJECTED_MISMATCH,
        LOG_TRUNCATED,
    ),
}


def _explained(event: Event, record: StepRecord, headline: bool) -> Event:
    """``event`` with the reasons of its node in ``record`` that explain it, if any."""
    if not record.reasons or event.node is None:
        return event
    wanted = None if headline else _EXPLAINS.get(event.msg_type if event.kind == "send" else event.kind)
    if wanted is None and not headline:
        return event
    reasons = [r for n, r in record.reasons if n == event.node and (wanted is None or r.kind in wanted)]
    if not reasons:
        return event
    text = "; ".join(r.describe() for r in reasons)
    return replace(event, reason=text, reason_kinds=tuple(r.kind for r in reasons))


def _msg_term(msg: Message) -> int | None:
    term = getattr(msg, "term", None)
    return term if isinstance(term, int) else None


def _is_refusal(msg: Message) -> bool:
    if isinstance(msg, AppendEntriesReply):
        return not msg.success
    if isinstance(msg, RequestVoteReply | PreVoteReply):
        return not msg.vote_granted
    if isinstance(msg, ClientReply):
        return not msg.ok
    return False


def _message_event(
    position: int, time: int, kind: str, flight: Flight, node: Address, text: str, **extra: object
) -> Event:
    msg = flight.msg
    summary = describe_message(msg)
    rejected = bool(extra.pop("rejected", False)) or _is_refusal(msg)
    return Event(
        position,
        time,
        kind,
        text,
        node=node,
        msg_id=flight.id,
        msg_type=type(msg).__name__,
        src=flight.src,
        dst=flight.dst,
        term=_msg_term(msg),
        summary=summary,
        sent_at=flight.sent_at,
        rejected=rejected,
        **extra,  # type: ignore[arg-type]
    )


def _link(flight: Flight) -> str:
    return f"#{flight.id} {flight.src}->{flight.dst}"


def _change_events(position: int, time: int, change: Change) -> list[Event]:
    role0, term0, _vote0, commit0, _last0, config0, snap0 = change.before
    role1, term1, _vote1, commit1, _last1, config1, snap1 = change.after
    node = change.node
    events: list[Event] = []
    if role1 != role0:
        events.append(
            Event(
                position,
                time,
                "role",
                f"node {node}: {role1} term={term1} (was {role0})",
                node=node,
                term=term1,
                before=role0,
                after=role1,
            )
        )
    elif term1 != term0:
        events.append(
            Event(
                position,
                time,
                "term",
                f"node {node}: term={term1} (was {term0})",
                node=node,
                term=term1,
                before=role0,
                after=role1,
            )
        )
    if config1 != config0:
        voters, _, learners = config1.partition("/")
        text = f"node {node}: voters={voters}" + (f" learners={learners}" if learners else "")
        events.append(Event(position, time, "config", text, node=node, after=config1))
    if snap1 != snap0 and role1 != "down":
        events.append(
            Event(position, time, "snapshot", f"node {node}: snapshot={snap1}", node=node, value=snap1)
        )
    if commit1 != commit0 and role1 != "down" and commit1 > commit0:
        events.append(
            Event(position, time, "commit", f"node {node}: commit={commit1}", node=node, value=commit1)
        )
    return events


def _headline(position: int, record: StepRecord) -> list[Event]:
    """The event the record is about (what ran, or what the command did)."""
    t, flight = record.time, record.flight
    if record.kind == "deliver" and flight is not None:
        # A delivery its receiver answered with a refusal is itself "rejected": that is the
        # AppendEntries a follower turned down, the RequestVote it denied.
        refused = any(_is_refusal(f.msg) for f in record.sent if f.dst == flight.src)
        text = f"deliver {_link(flight)} {describe_message(flight.msg)}"
        return [_message_event(position, t, "deliver", flight, flight.dst, text, rejected=refused)]
    if record.kind == "lost" and flight is not None:
        cause = record.text.partition(": ")[2]
        text = f"lost {_link(flight)} {describe_message(flight.msg)} ({cause})"
        return [_message_event(position, t, "lost", flight, flight.dst, text, cause=cause)]
    if record.kind == "command" and record.text.startswith("drop ") and flight is not None:
        text = f"drop {_link(flight)} {describe_message(flight.msg)}"
        return [_message_event(position, t, "drop", flight, flight.src, text, cause="dropped")]
    if record.kind == "command" and record.text.startswith("duplicate ") and record.sent:
        copy = record.sent[0]
        original = record.text.split()[1]
        text = f"duplicate {original} as {_link(copy)} {describe_message(copy.msg)}"
        return [_message_event(position, t, "duplicate", copy, copy.src, text)]
    if record.kind in ("timer", "timeout"):
        node = _event_node(record)
        started = any(
            c.node == node and c.after[0] in ("pre-candidate", "candidate", "leader") for c in record.changes
        )
        sent = {type(f.msg).__name__ for f in record.sent}
        if record.kind == "timeout" or started or sent & {"RequestVote", "PreVote"}:
            forced = " (forced)" if record.kind == "timeout" else ""
            return [Event(position, t, "timeout", f"election timeout on node {node}{forced}", node=node)]
        if sent & {"AppendEntries", "InstallSnapshot"}:
            return [Event(position, t, "heartbeat", f"heartbeat timer on node {node}", node=node)]
        # A timer that started nothing (a learner's, or a lone leader's): said as it is.
        return [Event(position, t, "timer", f"timer fires on node {node}", node=node)]
    if record.kind == "client-retry":
        client = record.sent[0].src if record.sent else None
        return [Event(position, t, "retry", record.text, node=client)]
    words = record.text.split()
    if record.text.startswith("crash node "):
        return [Event(position, t, "crash", record.text, node=int(words[2]))]
    if record.text.startswith("restart node "):
        return [Event(position, t, "restart", record.text, node=int(words[2]))]
    if record.text.startswith("start node "):
        return [Event(position, t, "start", record.text, node=int(words[2]))]
    if record.sent and isinstance(record.sent[0].src, str) and " sent to node " in record.text:
        return [Event(position, t, "request", record.text, node=record.sent[0].src)]
    return [Event(position, t, "command", record.text, node=_event_node(record) or None)]


def _event_node(record: StepRecord) -> int:
    """The node a timer or a command acted on: the sender of what it sent, or the node that changed."""
    words = record.text.split()
    if words and words[-1].isdigit():
        return int(words[-1])  # "timer fires on node 3"
    for flight in record.sent:
        if isinstance(flight.src, int):
            return flight.src
    return record.changes[0].node if record.changes else 0


def events_of(position: int, step: Step, records: list[StepRecord], time: int = 0) -> list[Event]:
    """Every event of one history position, in a fixed order: what ran, the changes it made,
    what it sent, what was lost at send, the answers, the violations.

    ``time`` is the clock at the position, for a command with no record of its own.
    """
    events: list[Event] = []
    if not records:
        name = step.command.split(" ", 1)[0]
        if name in NETWORK_COMMANDS:
            events.append(Event(position, time, "network", step.command))
        return events
    for record in records:
        t = record.time
        events += [_explained(e, record, headline=True) for e in _headline(position, record)]
        for change in record.changes:
            events += [_explained(e, record, headline=False) for e in _change_events(position, t, change)]
        for flight in record.sent:
            if record.kind == "command" and record.text.startswith("duplicate "):
                continue  # the duplicate is the copy's send
            text = f"send {_link(flight)} {describe_message(flight.msg)}"
            send = _message_event(position, t, "send", flight, flight.src, text)
            events.append(_explained(send, record, headline=False))
        for flight in record.lost:
            text = f"lost {_link(flight)} {describe_message(flight.msg)} (loss at send)"
            events.append(_message_event(position, t, "lost", flight, flight.src, text, cause="loss"))
        for request in record.answers:
            text = f"{request.describe()} -> {request.outcome()}"
            events.append(
                Event(position, t, "answer", text, node=request.client, rejected=bool(request.error))
            )
        if record.refused:
            node = record.flight.dst if record.flight is not None else None
            events.append(Event(position, t, "refused", f"refused: {record.refused}", node=node))
        for violation in record.violations:
            events.append(Event(position, t, "violation", f"INVARIANT VIOLATED: {violation.describe()}"))
    return events
