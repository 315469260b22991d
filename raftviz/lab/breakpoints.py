"""Breakpoints: stop ``step``, ``advance``, ``until`` and play right after an event.

A breakpoint is either a scenario condition (``leader``, ``3.term >= 4``,
``kv x=1``...) or an event kind. Grammar (``break SPEC``)::

    COND                        any condition: fires when it *becomes* true
    role[=ROLE] [node=N]        a node's role changes (to ROLE)
    term [node=N]               a node's current term changes
    commit [node=N]             a node's commit index moves
    msg=TYPE [node=N]           a message of TYPE is delivered (to node N)
    lost[=TYPE] [node=N]        a message (of TYPE, to node N) is lost on its way: a cut
                                link, a crashed addressee, or the loss model
    invariant                   an invariant is violated

A condition breakpoint is edge-triggered: it fires on the event after which
the condition holds while it did not hold before that event, so ``break
leader`` stops once per election rather than on every step a leader exists.
What "before" means is fixed by the command stream alone (the state when the
stepping command began, then after each event), so a run stays a pure
function of (seed, commands).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from raftviz.core.messages import Message
from raftviz.lab.conditions import Condition, ConditionError, evaluate, parse_condition
from raftviz.lab.lab import Lab, StepRecord

#: Event kinds a breakpoint may name, and whether each takes ``=VALUE`` (None: never,
#: False: optional, True: required).
EVENTS: dict[str, bool | None] = {
    "role": False,
    "term": None,
    "commit": None,
    "msg": True,
    "lost": False,
    "invariant": None,
}
ROLES = ("follower", "candidate", "leader")
_EVENT = re.compile(r"^(\w+)(?:=(\S+))?$")


class BreakpointError(ValueError):
    """A breakpoint that does not parse."""


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """What to stop at; ``text`` is how it was written."""

    text: str
    kind: str  # "cond" or one of EVENTS
    cond: Condition | None = None
    #: The role or message type an event must have ("" = any).
    value: str = ""
    #: The node the event must concern (0 = any).
    node: int = 0


def parse_breakpoint(text: str, message_types: tuple[str, ...]) -> Breakpoint:
    """A breakpoint from its written form (``break`` stripped)."""
    text = " ".join(text.split())
    words = text.split(" ")
    m = _EVENT.match(words[0])
    if m is None or m.group(1) not in EVENTS:
        try:
            return Breakpoint(text, "cond", cond=parse_condition(text))
        except ConditionError as exc:
            raise BreakpointError(
                f"{exc}; or an event: role[=ROLE], term, commit, msg=TYPE, lost[=TYPE], "
                "invariant (each may add node=N)"
            ) from None
    kind, value = m.group(1), m.group(2) or ""
    takes = EVENTS[kind]
    if takes is None and value:
        raise BreakpointError(f"{kind} takes no value (write 'break {kind}')")
    if takes is True and not value:
        raise BreakpointError(f"{kind} needs a message type: {kind}=TYPE ({', '.join(message_types)})")
    if kind == "role" and value and value not in ROLES:
        raise BreakpointError(f"role must be one of {', '.join(ROLES)}, not {value!r}")
    if kind in ("msg", "lost") and value and value not in message_types:
        raise BreakpointError(f"unknown message type {value!r} (types: {', '.join(message_types)})")
    node = 0
    for word in words[1:]:
        if not word.startswith("node=") or kind == "invariant" or node:
            raise BreakpointError(f"unexpected {word!r} (an event breakpoint may add one node=N)")
        if not word[5:].isdigit() or int(word[5:]) < 1:
            raise BreakpointError(f"node must be a node id, not {word[5:]!r}")
        node = int(word[5:])
    return Breakpoint(text, kind, value=value, node=node)


@dataclass(frozen=True, slots=True)
class BreakHit:
    """A breakpoint that fired: which one, when, and what it saw."""

    number: int
    breakpoint: Breakpoint
    time: int
    what: str = ""

    def describe(self) -> str:
        """One transcript line: ``break 1: leader at t=523 (node 3 is leader)``."""
        what = f" ({self.what})" if self.what else ""
        return f"break {self.number}: {self.breakpoint.text} at t={self.time}{what}"


def _type_name(msg: Message) -> str:
    return type(msg).__name__


def _event_match(bp: Breakpoint, record: StepRecord) -> str:
    """What in ``record`` fires an event breakpoint ("" if nothing)."""
    if bp.kind == "invariant":
        return record.violations[0].describe() if record.violations else ""
    if bp.kind in ("role", "term", "commit"):
        field_index = {"role": 0, "term": 1, "commit": 3}[bp.kind]
        for change in record.changes:
            before, after = change.before[field_index], change.after[field_index]
            if before == after or (bp.node and change.node != bp.node):
                continue
            if "down" in (change.before[0], change.after[0]):
                continue  # a crash or restart is a command the user gave, not an event of Raft
            if bp.kind == "role" and (not bp.value or after == bp.value):
                return f"node {change.node} {before} -> {after}"
            if bp.kind == "term":
                return f"node {change.node} term {before} -> {after}"
            if bp.kind == "commit":
                return f"node {change.node} commit {before} -> {after}"
        return ""
    flights = []
    if bp.kind == "msg" and record.kind == "deliver" and record.flight is not None:
        flights = [record.flight]
    if bp.kind == "lost":
        flights = list(record.lost)
        if record.flight is not None and record.kind == "lost":
            flights.insert(0, record.flight)
    for flight in flights:
        if bp.value and _type_name(flight.msg) != bp.value:
            continue
        if bp.node and flight.dst != bp.node:
            continue
        verb = "delivered" if bp.kind == "msg" else "lost"
        return f"#{flight.id} {flight.src}->{flight.dst} {_type_name(flight.msg)} {verb}"
    return ""


@dataclass(slots=True)
class Breakpoints:
    """The session's breakpoints, numbered from 1 in the order they were set."""

    items: dict[int, Breakpoint] = field(default_factory=dict)
    next_number: int = 1
    #: Whether each condition breakpoint held at the last look (for the edge).
    _held: dict[int, bool] = field(default_factory=dict)

    def add(self, bp: Breakpoint) -> int:
        number = self.next_number
        self.next_number += 1
        self.items[number] = bp
        return number

    def remove(self, number: int) -> Breakpoint:
        self._held.pop(number, None)
        return self.items.pop(number)

    def clear(self) -> None:
        self.items.clear()
        self._held.clear()

    def arm(self, lab: Lab) -> None:
        """Take the state now as "before" for condition breakpoints (a stepping command begins)."""
        self._held = {n: evaluate(bp.cond, lab)[0] for n, bp in self.items.items() if bp.cond is not None}

    def check(self, lab: Lab, record: StepRecord | None) -> BreakHit | None:
        """After an event (``record``; None when only time moved): the first breakpoint that fires."""
        hit: BreakHit | None = None
        for number in sorted(self.items):
            bp = self.items[number]
            fired, what = False, ""
            if bp.cond is not None:
                holds, what = evaluate(bp.cond, lab)
                fired = holds and not self._held.get(number, False)
                self._held[number] = holds
            elif record is not None:
                what = _event_match(bp, record)
                fired = bool(what)
            if fired and hit is None:
                hit = BreakHit(number, bp, lab.now, what)
        return hit

    def listing(self) -> list[str]:
        if not self.items:
            return ["(no breakpoints)"]
        return [f"breakpoint {n}: {bp.text}" for n, bp in sorted(self.items.items())]

    def summary(self) -> tuple[str, ...]:
        """The breakpoints' texts in number order (for the TUI's header)."""
        return tuple(bp.text for _, bp in sorted(self.items.items()))
