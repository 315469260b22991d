"""Search queries over the events of a run: ``type=AppendEntries to=3 term=4 rejected``.

One syntax for the scenario language's ``find`` and the TUI's ``/``. A query
is words, and an event matches when every word holds for it (AND):

- ``type=T``: the message's type (``AppendEntries``, ``RequestVoteReply``...; any case);
- ``from=N``, ``to=N``: the message's sender, receiver (a node id or a client id);
- ``node=N``: the event happened on N, or its message came from or went to N;
- ``term=T``: the message's term, or the node's new term; ``id=N``: message ``#N``;
- ``kind=K``: the event's kind (``events.KINDS``: send, deliver, lost, timeout, role...);
- ``rejected``: a refusal (a reply that rejects or denies, or a delivery its
  receiver refused); ``lost``, ``dropped``, ``delivered``, ``sent``,
  ``duplicated``: the message's fate;
- ``reason=K``: the core gave a reason of kind K for the event
  (raftviz.core.reasons: ``vote-denied-log``, ``commit-held``...); ``because``:
  it gave any reason;
- any other word (``commit=4`` and ``prevIndex=3`` too: the descriptions use
  those words), or a ``"quoted phrase"``: a case-insensitive substring of the
  event's description or of its reason (``find "not as up to date"``).

A history position matches when one of its events does.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from raftviz.core.reasons import KINDS as REASON_KINDS
from raftviz.lab.events import KINDS, Event

#: Message types a query may name (the names of ``core.messages``).
MESSAGE_TYPES = (
    "RequestVote",
    "RequestVoteReply",
    "AppendEntries",
    "AppendEntriesReply",
    "InstallSnapshot",
    "InstallSnapshotReply",
    "ClientRequest",
    "ClientReply",
    "PreVote",
    "PreVoteReply",
    "TimeoutNow",
)

FIELDS = ("type", "from", "to", "node", "term", "id", "kind", "reason")

#: Words that name a fate or a verdict rather than text.
FLAGS: dict[str, Callable[[Event], bool]] = {
    "rejected": lambda e: e.rejected,
    "lost": lambda e: e.kind == "lost",
    "dropped": lambda e: e.kind == "drop",
    "delivered": lambda e: e.kind == "deliver",
    "sent": lambda e: e.kind == "send",
    "duplicated": lambda e: e.kind == "duplicate",
    "because": lambda e: bool(e.reason),
}


class QueryError(ValueError):
    """A malformed query: says which word and why."""


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: every condition must hold (``matches``)."""

    text: str
    conditions: tuple[Callable[[Event], bool], ...] = field(default=(), compare=False)

    def matches(self, event: Event) -> bool:
        return all(condition(event) for condition in self.conditions)

    def first_match(self, events: list[Event]) -> Event | None:
        return next((e for e in events if self.matches(e)), None)


def _address(value: str, what: str) -> str:
    if not re.fullmatch(r"\d+|[A-Za-z][A-Za-z0-9_]*", value):
        raise QueryError(f"{what}= takes a node id or a client id, not {value!r}")
    return value


def _number(value: str, what: str) -> int:
    if not re.fullmatch(r"\d+", value):
        raise QueryError(f"{what}= takes a whole number, not {value!r}")
    return int(value)


def _field(name: str, value: str) -> Callable[[Event], bool]:
    if name == "type":
        types = {t.lower(): t for t in MESSAGE_TYPES}
        if value.lower() not in types:
            raise QueryError(f"unknown message type {value!r} (types: {', '.join(MESSAGE_TYPES)})")
        wanted = types[value.lower()]
        return lambda e: e.msg_type == wanted
    if name in ("from", "to", "node"):
        address = _address(value, name)
        if name == "from":
            return lambda e: str(e.src) == address and e.msg_id > 0
        if name == "to":
            return lambda e: str(e.dst) == address and e.msg_id > 0
        return lambda e: address in (str(e.node), str(e.src), str(e.dst))
    if name == "term":
        term = _number(value, name)
        return lambda e: e.term == term
    if name == "id":
        msg_id = _number(value.removeprefix("#"), name)
        return lambda e: e.msg_id == msg_id
    if name == "kind":
        if value not in KINDS:
            raise QueryError(f"unknown kind {value!r} (kinds: {', '.join(KINDS)})")
        return lambda e: e.kind == value
    if name == "reason":
        if value not in REASON_KINDS:
            raise QueryError(f"unknown reason {value!r} (reasons: {', '.join(REASON_KINDS)})")
        return lambda e: value in e.reason_kinds
    raise QueryError(f"unknown field {name!r} (fields: {', '.join(FIELDS)})")


def parse_query(text: str) -> Query:
    """Parse a query; ``QueryError`` names the word at fault."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise QueryError(f"{exc} in {text!r}") from None
    if not words:
        raise QueryError("an empty query (e.g. type=AppendEntries to=3 rejected, or any words)")
    conditions: list[Callable[[Event], bool]] = []
    for word in words:
        name, eq, value = word.partition("=")
        if eq and name in FIELDS:
            if not value:
                raise QueryError(f"{name}= needs a value")
            conditions.append(_field(name, value))
        elif word.lower() in FLAGS:
            conditions.append(FLAGS[word.lower()])
        else:
            needle = word.lower()
            conditions.append(lambda e, needle=needle: needle in e.text.lower() or needle in e.reason.lower())
    return Query(text, tuple(conditions))
