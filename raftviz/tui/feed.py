"""The event feed's items: one per history record, as structured data for the feed's rows.

``FeedBuilder`` turns each ``StepRecord`` the lab publishes into a frozen
``FeedItem`` on the lab's thread: the message the event carried (as a
``FlightSnap``, so the feed lays it out like the Messages list), the node
changes a reader follows, client answers, and whether the item is part of a
*heartbeat round* (the feed folds those into one row). Nothing here parses
the transcript's text.

A heartbeat round is told apart exactly, not guessed: a leader's timer that
changed nothing and sent only empty AppendEntries; the delivery of an empty
AppendEntries that changed nothing a reader follows; the delivery of the
successful reply *sent in answer to* such a delivery (the builder remembers
those reply ids); and the loss of either (at a cut link or a crashed node),
which the fold counts. A leader re-sending the very entries last lost on a
link (to a crashed or cut-off follower, every round) is news only the first
time: later copies, lost again, join the round too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from raftviz.core.messages import AppendEntries, AppendEntriesReply
from raftviz.core.reasons import COMMIT_LEARNED
from raftviz.lab.lab import Change, StepRecord, Summary
from raftviz.tui.model import FlightSnap, flight_snap

#: Reply ids remembered at most (a rewind can strand a few; they are forgotten in bulk).
_MAX_REMEMBERED = 4096


@dataclass(frozen=True, slots=True)
class NodeChange:
    """How one node changed in an event, in the fields the feed shows."""

    node: int
    before: Summary
    after: Summary

    @property
    def role(self) -> str:
        return self.after[0]

    @property
    def term(self) -> int:
        return self.after[1]

    def visible(self) -> bool:
        """What a reader follows: a role or term change, a configuration, a snapshot, a leader's commit."""
        role0, term0, _v0, commit0, _l0, config0, snap0 = self.before
        role1, term1, _v1, commit1, _l1, config1, snap1 = self.after
        return (
            role1 != role0
            or term1 != term0
            or config1 != config0
            or (snap1 != snap0 and role1 != "down")
            or (commit1 != commit0 and role1 == "leader")
        )


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One line of the event feed: a history position and what happened there."""

    position: int
    time: int
    #: The lab's words for the event or command (``crash node 3``, ``c1#1 put x 1 sent to node 2``).
    text: str
    #: ``deliver``, ``lost``, ``timer``, ``timeout``, ``client-retry``, ``command``.
    kind: str = ""
    violation: bool = False
    #: The message the event delivered, lost or dropped.
    flight: FlightSnap | None = None
    changes: tuple[NodeChange, ...] = ()
    #: Client requests answered: (request, outcome, ok).
    answers: tuple[tuple[str, str, bool], ...] = ()
    #: Class names of the messages the event sent, in order.
    sent: tuple[str, ...] = ()
    #: The copy a ``duplicate`` made.
    copy: FlightSnap | None = None
    lost_at_send: int = 0
    refused: str = ""
    violations: tuple[str, ...] = ()
    #: Why a message was lost (``link cut``, ``node 3 is down``).
    reason: str = ""
    #: Part of a heartbeat round (the feed folds a run of these into one row).
    heartbeat: bool = False
    #: The node a timer fired on (0 when the event says nothing about one).
    node: int = 0
    #: Why the nodes decided as they did (``Reason.describe``), shown under the row.
    because: tuple[str, ...] = ()
    #: The record itself, for search and the filter (``tui/search.py``), which derive its events.
    record: StepRecord | None = field(default=None, compare=False, repr=False)

    @property
    def shown_changes(self) -> tuple[NodeChange, ...]:
        return tuple(c for c in self.changes if c.visible())


class FeedBuilder:
    """Builds feed items in history order, remembering which replies answer heartbeats."""

    def __init__(self) -> None:
        self._heartbeat_replies: set[int] = set()
        #: The last AppendEntries with entries lost on each link: (term, prevLogIndex, count).
        self._lost_entries: dict[tuple[object, object], tuple[int, int, int]] = {}

    def reset(self) -> None:
        """History was rewound: messages in flight are no longer the ones remembered."""
        self._heartbeat_replies.clear()
        self._lost_entries.clear()

    def _retry(self, flight: object) -> bool:
        """An AppendEntries that sends again exactly what was last lost on its link (a leader
        retrying a crashed or cut-off follower every round): news only the first time."""
        msg = getattr(flight, "msg", None)
        if not isinstance(msg, AppendEntries) or not msg.entries:
            return False
        key = (flight.src, flight.dst)  # type: ignore[attr-defined]
        return self._lost_entries.get(key) == (msg.term, msg.prev_log_index, len(msg.entries))

    def item(self, position: int, record: StepRecord) -> FeedItem:
        flight = flight_snap(record.flight) if record.flight is not None else None
        changes = tuple(_change(c) for c in record.changes)
        quiet = not (
            any(c.visible() for c in changes)
            or record.answers
            or record.violations
            or record.lost
            or record.refused
            or record.protocol
            # A decision worth its reason (a vote, a rejection, Figure 8's held commit) is news;
            # a follower learning the commit index from a heartbeat is part of the round.
            or any(r.kind != COMMIT_LEARNED for _, r in record.reasons)
        )
        heartbeat = False
        msg = flight.msg if flight is not None else None
        answered_beat = record.flight is not None and record.flight.id in self._heartbeat_replies
        if record.flight is not None and record.kind != "deliver":
            # Lost or dropped: it will not arrive.
            self._heartbeat_replies.discard(record.flight.id)
        if record.kind == "lost" and not any(c.visible() for c in changes):
            # A heartbeat (or its reply) lost at a cut or a crashed node is part of the round:
            # a partitioned minute would otherwise be a row per lost beat. A lost message that
            # carried entries, a vote or a rejection stays a row of its own.
            heartbeat = (
                _is_heartbeat(msg)
                or self._retry(record.flight)
                or (isinstance(msg, AppendEntriesReply) and msg.success and answered_beat)
            )
            if isinstance(msg, AppendEntries) and msg.entries and record.flight is not None:
                link = (record.flight.src, record.flight.dst)
                self._lost_entries[link] = (msg.term, msg.prev_log_index, len(msg.entries))
        elif record.kind == "timer" and quiet and record.sent:
            heartbeat = all(_is_heartbeat(f.msg) or self._retry(f) for f in record.sent)
        elif record.kind == "deliver" and quiet and isinstance(msg, AppendEntries) and not msg.entries:
            heartbeat = True
            self._remember(f.id for f in record.sent if isinstance(f.msg, AppendEntriesReply))
        elif record.kind == "deliver" and isinstance(msg, AppendEntriesReply):
            if record.flight is not None:
                self._heartbeat_replies.discard(record.flight.id)
            heartbeat = answered_beat and quiet and msg.success and not record.sent
        # A duplicate is a command that sends one copy of a message already in flight.
        duplicated = record.kind == "command" and record.text.startswith("duplicate") and record.sent
        copy = flight_snap(record.sent[0]) if duplicated else None
        reason = ""
        if record.kind == "lost":
            # The lab says why in its own words after the colon; the feed shows them as they are.
            reason = record.text.partition(": ")[2]
        return FeedItem(
            position=position,
            time=record.time,
            text=record.text,
            kind=record.kind,
            violation=bool(record.violations),
            flight=flight,
            changes=changes,
            answers=tuple(
                (r.describe(), r.outcome(), not r.error) for r in record.answers if not r.quiet or r.error
            ),
            sent=tuple(type(f.msg).__name__ for f in record.sent),
            copy=copy,
            lost_at_send=len(record.lost),
            # A message dropped as a protocol violation shows like a refused datagram.
            refused=record.refused
            or (f"protocol violation: {', '.join(record.protocol)}" * bool(record.protocol)),
            violations=tuple(v.describe() for v in record.violations),
            reason=reason,
            heartbeat=heartbeat,
            node=_node(record),
            because=tuple(r.describe() for _, r in record.reasons),
            record=record,
        )

    def _remember(self, ids: Iterable[int]) -> None:
        if len(self._heartbeat_replies) > _MAX_REMEMBERED:
            self._heartbeat_replies.clear()
        self._heartbeat_replies.update(ids)


def _node(record: StepRecord) -> int:
    """The node an event happened on: the sender of what it sent, or the node that changed."""
    if record.sent and isinstance(record.sent[0].src, int):
        return record.sent[0].src
    return record.changes[0].node if record.changes else 0


def _is_heartbeat(msg: object) -> bool:
    return isinstance(msg, AppendEntries) and not msg.entries


def _change(change: Change) -> NodeChange:
    return NodeChange(change.node, change.before, change.after)


def _refusal(record: StepRecord) -> str:
    """Why the node refused the delivered message: malformed, or dropped as a protocol violation."""
    if record.protocol:
        return f"protocol violation: {', '.join(record.protocol)}"
    return record.refused
