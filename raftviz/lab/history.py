"""History: record a session, rewind it to any earlier point, save it as a script.

Every record the lab publishes (an executed event, or a command that changed
the world) gets a position in the history, starting at 1. Because a run is a
pure function of (seed, commands), going back needs no snapshots: rewinding
to position P builds a fresh session and replays the commands that led to P,
with the one command that was cut in the middle (an ``advance`` or ``until``
that ran several events) replaced by ``step N`` for the events it had run by
then. Whatever is done after a rewind forks the history there, as in a
version-control system; the abandoned future is forgotten.

A saved session is just the command list: replaying it reproduces the
session exactly (DESIGN.md §4). Breakpoints (``break``, ``unbreak``) are
commands like any other, so a replay stops where the session stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from raftviz.lab.lab import StepRecord
from raftviz.lab.script import Command, parse_line
from raftviz.lab.session import Outcome, Session

#: Record kinds that are events run by the clock (the rest are commands).
EVENT_KINDS = ("deliver", "lost", "timer", "timeout", "client-retry")


@dataclass(slots=True)
class Entry:
    """One command of the session and the history positions it produced."""

    text: str
    records: list[tuple[int, StepRecord]] = field(default_factory=list)
    #: A breakpoint stopped it before it ran its course (replaying it stops there again).
    stopped: bool = False


class History:
    """A session that remembers how it got where it is."""

    def __init__(self, make_session: Callable[[], Session]) -> None:
        self.make_session = make_session
        self.session = make_session()
        self.entries: list[Entry] = []
        self.position = 0
        #: Called with (position, record) for every record, as it happens.
        self.listeners: list[Callable[[int, StepRecord], None]] = []
        self.session.listeners.append(self._on_record)

    # ------------------------------------------------------------------ running

    def run(self, command: Command) -> Outcome:
        """Carry out one command and remember it."""
        self.entries.append(Entry(command.text))
        outcome = self.session.execute(command)
        self.entries[-1].stopped = outcome.stopped is not None
        if outcome.failure and not self.entries[-1].records and command.name != "cluster":
            # A command that did nothing (a typo'd node, no such message) is not history.
            self.entries.pop()
        else:
            self._coalesce()
        return outcome

    def _coalesce(self) -> None:
        """Merge ``step a`` + ``step b`` into ``step a+b`` (and likewise ``advance``):
        the same events, and a saved session stays short however long one plays."""
        if len(self.entries) < 2:
            return
        prev, last = self.entries[-2], self.entries[-1]
        if prev.stopped:
            # "advance 500" stopped by a breakpoint, then "advance 100": merged, a replay
            # would stop at the breakpoint again and never run the second.
            return
        a, b = prev.text.split(), last.text.split()
        if a[0] == b[0] and a[0] in ("step", "advance") and len(a) <= 2 and len(b) <= 2:
            if a[0] == "advance" and not (a[1].isdigit() and b[1].isdigit()):
                return
            count = int(a[1] if len(a) == 2 else 1) + int(b[1] if len(b) == 2 else 1)
            prev.text = f"{a[0]} {count}"
            prev.records.extend(last.records)
            prev.stopped = last.stopped
            self.entries.pop()

    def run_text(self, text: str) -> Outcome:
        command = parse_line(text)
        if command is None:
            return Outcome()
        return self.run(command)

    def _on_record(self, record: StepRecord) -> None:
        self.position += 1
        if self.entries:
            self.entries[-1].records.append((self.position, record))
        for listener in self.listeners:
            listener(self.position, record)

    # ------------------------------------------------------------------ going back

    def script(self, upto: int | None = None) -> list[str]:
        """The commands that reproduce the session up to position ``upto`` (default: now).

        A command that published no record (``partition``, ``loss``, ``status``...)
        is kept when it came before the cut, which is where it happened.
        """
        if upto is None:
            return [e.text for e in self.entries]
        lines: list[str] = []
        for entry in self.entries:
            if not entry.records:
                lines.append(entry.text)
                continue
            first, last = entry.records[0][0], entry.records[-1][0]
            if last <= upto:
                lines.append(entry.text)
                continue
            if first <= upto:
                events = sum(1 for pos, r in entry.records if pos <= upto and r.kind in EVENT_KINDS)
                if events:
                    lines.append(f"step {events}")
            break
        return lines

    def rewind(self, position: int) -> None:
        """Go back to just after history position ``position`` (0: the start)."""
        if not 0 <= position <= self.position:
            raise ValueError(f"no position {position} in a history of {self.position}")
        lines = self.script(upto=position)
        self.session.close()
        self.session = self.make_session()
        self.session.listeners.append(self._on_record)
        self.entries = []
        self.position = 0
        saved, self.listeners = self.listeners, []
        try:
            for line in lines:
                self.run_text(line)
        finally:
            self.listeners = saved

    def step_back(self) -> None:
        """Undo the last event or command."""
        if self.position:
            self.rewind(self.position - 1)

    def close(self) -> None:
        self.session.close()
