"""History: a session that remembers every position it reached, as a tree, and can go to any.

Every step of a session (an event the clock ran, or a command that changed
the world) makes a *position*; the positions form a tree (``timeline``), so
going back and acting differently starts a branch and keeps the old one.
Going to a position restores the nearest checkpoint on the way to it and
replays the few steps from there (``checkpoint``): a step back costs a
bounded replay, not the whole history, and the old future stays reachable
(``forward``, ``goto``).

The session's own words are kept too: ``script()`` is the list of commands
the user gave, history commands (``back``, ``goto``, ``mark``) included, so a
saved session replays the whole exploration, branches and marks alike
(docs/architecture.md). Consecutive ``step``/``advance`` commands merge, so a
session saved after an hour of play stays short; breakpoints (``break``,
``unbreak``) are commands like any other, and a command a breakpoint stopped
is never merged with the next, so a replay stops where the session stopped.

What is kept per position is small (``timeline``), records for the feed are
kept for the latest positions only and re-derived on demand, and checkpoints
are thinned with age, so memory stays bounded however long a session runs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from raftviz.lab.checkpoint import Checkpoint, CheckpointPolicy, NotCapturable, capture, restore
from raftviz.lab.events import Event, events_of
from raftviz.lab.lab import LabError, StepRecord
from raftviz.lab.script import Command, parse_line
from raftviz.lab.search import Query
from raftviz.lab.session import Outcome, Session
from raftviz.lab.timeline import EVENT, ROOT, Step, Timeline

#: Record kinds that are events run by the clock (the rest are commands).
EVENT_KINDS = ("deliver", "lost", "timer", "timeout", "client-retry")
#: Commands that run the clock: each event they run is a position of its own.
STEPPING = ("step", "advance", "until")
#: Commands that only read the world (or the session's own settings): no position.
READING = ("expect", "status", "log", "kv", "messages", "say", "break", "unbreak")
#: Commands about history itself, carried out here rather than by the session.
HISTORY = ("mark", "goto", "back", "forward", "branches", "find")
#: How many positions' records are kept for the feed (older ones are re-derived when asked for).
RECORDS_KEPT = 4096


@dataclass(frozen=True, slots=True)
class BranchInfo:
    """One branch, for ``branches`` and the TUI's branch view."""

    id: int
    parent: int  # the branch it forked from (0 for the first)
    fork: int
    tip: int
    length: int
    marks: tuple[tuple[str, int], ...]
    current: bool


class History:
    """A session that remembers how it got where it is, and every other way it went."""

    def __init__(self, make_session: Callable[[], Session], policy: CheckpointPolicy | None = None) -> None:
        self.make_session = make_session
        self.session = make_session()
        self.session.listeners.append(self._on_record)
        self.timeline = Timeline()
        self.policy = policy or CheckpointPolicy()
        self.checkpoints: dict[int, Checkpoint] = {}
        #: The commands given, in order (steps merged): the saved session.
        self.journal: list[str] = []
        #: Called with (position, record) for every record, as it happens.
        self.listeners: list[Callable[[int, StepRecord], None]] = []
        #: Called with (command text, position after it) for every command run, history
        #: moves included: a session is (seed, commands), so this is all a follower needs.
        self.commands: list[Callable[[str, int], None]] = []
        #: Whether a backend can capture its state (udp may not): otherwise goto replays from the root.
        self.capturable = True
        self._setup = ""  # the command that made the root's cluster
        self._records: OrderedDict[int, list[StepRecord]] = OrderedDict()
        self._command: Command | None = None  # the command being carried out
        self._pending: list[StepRecord] = []  # records of a command whose position is not made yet
        self._replaying = False
        self._thinned_at = 0
        self._weight = 0  # what the checkpoints hold, by their own estimate
        self._clock = 0  # virtual time at the current position
        self._last_stopped = False  # whether a breakpoint stopped the last command journaled
        self._replay_position = ROOT

    # ------------------------------------------------------------------ reading

    @property
    def position(self) -> int:
        return self.timeline.current

    def ahead(self) -> int:
        """How many recorded positions lie ahead on the branch being followed (0 at its tip)."""
        tip = self.timeline.branches[self.timeline.branch].tip
        return self.timeline.distance(self.position, tip)

    def script(self) -> list[str]:
        """The commands that reproduce the whole session, exploration included."""
        return list(self.journal)

    def records(self, limit: int) -> list[tuple[int, StepRecord]]:
        """The records of the last ``limit`` positions on the way to the current one, oldest first."""
        wanted: list[int] = []
        position = self.position
        while position != ROOT and len(wanted) < limit:
            wanted.append(position)
            parent = self.timeline.parent(position)
            assert parent is not None
            position = parent
        wanted.reverse()
        missing = [p for p in wanted if p not in self._records]
        if missing:
            self._rederive(missing[0])
        return [(p, r) for p in wanted for r in self._records.get(p, [])]

    def walk(
        self, visit: Callable[[int, Step, list[StepRecord]], None], end: int | None = None, start: int = ROOT
    ) -> None:
        """Visit every position after ``start`` (default: the root) up to ``end`` (default: the tip
        of the branch being followed, so a recorded future counts too), in order, with its step
        and records. ``start`` must be on the way to ``end``.

        The records kept are used as they are; the rest are re-derived by replaying,
        a stretch at a time, so memory stays bounded. The session is left where it was.
        """
        timeline = self.timeline
        here = timeline.current
        if end is None:
            end = timeline.branches[timeline.branch].tip
        path = timeline.path(start, end)
        first = next((i for i, p in enumerate(path) if p not in self._records), len(path))
        for position in path[:first]:
            visit(position, timeline.step(position), self._records[position])
        if first == len(path):
            return
        try:
            self._goto(self._parent(path[first]))
            for position in path[first:]:
                self._replay([position])
                visit(position, timeline.step(position), self._records.get(position, []))
        finally:
            self._goto(here)

    def events(self, end: int | None = None) -> list[Event]:
        """Every event from the root to ``end`` (default: the followed branch's tip): for exports."""
        found: list[Event] = []
        clock = _Clock()

        def visit(position: int, step: Step, records: list[StepRecord]) -> None:
            found.extend(events_of(position, step, records, clock.at(step, records)))

        self.walk(visit, end)
        return found

    def find(self, query: Query, limit: int) -> tuple[list[Event], int]:
        """The first ``limit`` positions whose events match (each by its first matching event),
        and how many positions match in all, from the root to the followed branch's tip."""
        shown: list[Event] = []
        total = 0
        clock = _Clock()

        def visit(position: int, step: Step, records: list[StepRecord]) -> None:
            nonlocal total
            match = query.first_match(events_of(position, step, records, clock.at(step, records)))
            if match is not None:
                total += 1
                if len(shown) < limit:
                    shown.append(match)

        self.walk(visit)
        return shown, total

    def branches(self) -> list[BranchInfo]:
        timeline = self.timeline
        marks_by_branch: dict[int, list[tuple[str, int]]] = {}
        for name, at in sorted(timeline.marks.items(), key=lambda m: (m[1], m[0])):
            marks_by_branch.setdefault(timeline.owner(at), []).append((name, at))
        return [
            BranchInfo(
                b.id,
                timeline.owner(b.fork) if b.id != 1 else 0,
                b.fork,
                b.tip,
                b.length,
                tuple(marks_by_branch.get(b.id, [])),
                b.id == timeline.branch,
            )
            for b in sorted(timeline.branches.values(), key=lambda b: b.id)
        ]

    # ------------------------------------------------------------------ running

    def run_text(self, text: str) -> Outcome:
        command = parse_line(text)
        if command is None:
            return Outcome()
        return self.run(command)

    def run(self, command: Command) -> Outcome:
        """Carry out one command and remember it (and tell ``commands`` it ran)."""
        outcome = self._run(command)
        for listener in self.commands:
            listener(command.text, self.position)
        return outcome

    def _run(self, command: Command) -> Outcome:
        if command.name in HISTORY:
            where = (self.position, self.timeline.branch)
            outcome = self._run_history(command)
            moved = where != (self.position, self.timeline.branch)
            if not outcome.failure and (command.name == "mark" or moved):
                self._journal(command.text, stopped=False)
            return outcome
        if command.name not in READING and self.position != self.timeline.branches[self.timeline.branch].tip:
            # Behind the tip, this command may start a branch here: keep the state where
            # two futures may part, before the command changes it.
            self._take_checkpoint(self.position)
        self._command = command
        self._pending = []
        had_lab = self.session.lab is not None
        try:
            outcome = self.session.execute(command)
        finally:
            self._command = None
        changed = bool(self._pending) or (command.name not in READING and not outcome.failure)
        if command.name in STEPPING:
            self._after_stepping()
        elif command.name == "cluster" and not had_lab and self.timeline.last == ROOT and not outcome.failure:
            # The session's first cluster is the root's state: positions count from it.
            self._setup = command.text
            self._take_checkpoint(ROOT)
        elif changed and command.name not in READING:
            self._advance_to(Step(command.text))
            self._flush()
        if changed or command.name == "cluster" or (command.name in READING and not outcome.failure):
            self._journal(command.text, stopped=outcome.stopped is not None)
        return outcome

    def _journal(self, text: str, stopped: bool) -> None:
        """Remember a command; ``step a`` + ``step b`` become ``step a+b`` (and likewise ``advance``).

        "advance 500" stopped by a breakpoint, then "advance 100" must stay two
        commands: merged, a replay would stop at the breakpoint and never run the second.
        """
        last_stopped, self._last_stopped = self._last_stopped, stopped
        if self.journal and not last_stopped:
            a, b = self.journal[-1].split(), text.split()
            same = (
                a[0] == b[0]
                and a[0] in ("step", "advance", "forward", "back")
                and len(a) <= 2
                and len(b) <= 2
            )
            if same and (a[0] != "advance" or (a[1].isdigit() and b[1].isdigit())):
                count = int(a[1] if len(a) == 2 else 1) + int(b[1] if len(b) == 2 else 1)
                self.journal[-1] = f"{a[0]} {count}"
                return
        self.journal.append(text)

    def _on_record(self, record: StepRecord) -> None:
        if self._replaying:
            self._keep_record(self._replay_position, record)
            return
        command = self._command
        if command is not None and command.name in STEPPING and record.kind in EVENT_KINDS:
            self._advance_to(EVENT)
            self._deliver(self.position, record)
        else:
            # One command makes one position, however many records it publishes;
            # the position is made when the command is done.
            self._pending.append(record)

    def _flush(self) -> None:
        for record in self._pending:
            self._deliver(self.position, record)
        self._pending = []

    def _deliver(self, position: int, record: StepRecord) -> None:
        self._keep_record(position, record)
        for listener in self.listeners:
            listener(position, record)

    def _keep_record(self, position: int, record: StepRecord) -> None:
        self._records.setdefault(position, []).append(record)
        self._records.move_to_end(position)
        while len(self._records) > RECORDS_KEPT:
            self._records.popitem(last=False)

    def _open_records(self, position: int) -> None:
        """A position is being (re)made: its records start empty. A position that published
        none (a partition, a clock move) is then known to have none, not forgotten."""
        self._records[position] = []
        self._records.move_to_end(position)
        while len(self._records) > RECORDS_KEPT:
            self._records.popitem(last=False)

    def _after_stepping(self) -> None:
        """A stepping command may leave the clock past its last event: that move is a step too."""
        lab = self.session.lab
        if lab is None:
            return
        self._flush()
        if lab.now != self._clock:
            self._advance_to(Step(f"advance {lab.now - self._clock}"))

    def _advance_to(self, step: Step) -> None:
        """Move to the position this step leads to: the recorded one when the
        branch being followed already went this way, else a new one."""
        timeline = self.timeline
        ahead = timeline.forward()
        if ahead is not None and timeline.step(ahead) == step:
            timeline.current = ahead
        else:
            timeline.extend(step)
        self._open_records(self.position)
        lab = self.session.lab
        self._clock = lab.now if lab is not None else 0
        if self.policy.wanted(self.position) and self.position not in self.checkpoints:
            self._take_checkpoint(self.position)

    # ------------------------------------------------------------------ checkpoints

    def _take_checkpoint(self, position: int) -> None:
        lab = self.session.lab
        if not self.capturable or lab is None or position in self.checkpoints:
            return
        try:
            checkpoint = capture(lab, position)
        except NotCapturable:
            self.capturable = False
            return
        self.checkpoints[position] = checkpoint
        self._weight += checkpoint.weight
        if len(self.checkpoints) >= self._thinned_at + self.policy.dense or self._weight > self.policy.budget:
            self._thin()

    def _thin(self) -> None:
        protected = {ROOT, *self.timeline.forks(), *self.timeline.marks.values()}
        for position in self.policy.thin(list(self.checkpoints), self.position, protected):
            self._weight -= self.checkpoints.pop(position).weight
        for position in self.policy.over_budget(self.checkpoints, self.position, protected):
            self._weight -= self.checkpoints.pop(position).weight
        self._thinned_at = len(self.checkpoints)

    # ------------------------------------------------------------------ going places

    def _goto(self, position: int, announce: bool = False) -> None:
        """Make ``position`` (on any branch) the current state. ``announce``: tell the
        listeners every record on the way (a step forward along the record, not a jump)."""
        timeline = self.timeline
        if not timeline.exists(position):
            raise ValueError(f"no position {position} (positions are 0..{timeline.last})")
        if position == self.position:
            timeline.go(position)
            return
        base = self._base_for(position)
        if base != self.position:
            self._restore(base)
        timeline.go(base)
        self._replay(timeline.path(base, position), announce=announce and base == self.position)
        timeline.go(position)

    # The app and the lessons go places through commands, so the journal (the saved
    # session) has every move.
    def goto(self, target: int | str) -> Outcome:
        """Go to a position or a mark, on any branch."""
        return self.run_text(f"goto {target}")

    def rewind(self, position: int) -> Outcome:
        return self.goto(position)

    def step_back(self, count: int = 1) -> Outcome:
        return self.run_text(f"back {count}")

    def forward(self, count: int = 1) -> Outcome:
        return self.run_text(f"forward {count}")

    def _step_back(self, count: int = 1) -> int:
        """Undo ``count`` steps (a clock move alone is not one); returns where it landed."""
        target = self.position
        for _ in range(count):
            while target != ROOT and self._is_clock_move(target):
                target = self._parent(target)
            if target == ROOT:
                break
            target = self._parent(target)
        self._goto(target)
        return target

    def _forward(self, count: int = 1) -> int:
        """Follow the recorded future of the branch being followed by ``count`` steps
        (a clock move that ends a stretch of play comes along with its last event)."""
        timeline = self.timeline
        target = self.position
        for _ in range(count):
            ahead = timeline.next(target)
            if ahead is None:
                break
            target = ahead
            while (ahead := timeline.next(target)) is not None and self._is_clock_move(ahead):
                target = ahead
        self._goto(target, announce=True)
        return target

    def _is_clock_move(self, position: int) -> bool:
        return self.timeline.step(position).command.startswith("advance ")

    def _parent(self, position: int) -> int:
        parent = self.timeline.parent(position)
        return ROOT if parent is None else parent

    def _base_for(self, target: int) -> int:
        """Where to replay from: the nearest checkpoint on the way to ``target``, or the
        current position when that is on the way and nearer."""
        timeline = self.timeline
        here_on_way = timeline.is_ancestor(self.position, target)
        position = target
        while True:
            if position in self.checkpoints:
                return position
            if here_on_way and position == self.position:
                return position
            if position == ROOT:
                return ROOT
            position = self._parent(position)

    def _restore(self, base: int) -> None:
        if base in self.checkpoints:
            lab = self.session.lab
            assert lab is not None
            self.session.lab = restore(lab, self.checkpoints[base])
            self._clock = self.session.lab.now
            return
        # No checkpoint (a backend that cannot capture): rebuild from the start.
        assert base == ROOT
        self.session.close()
        self.session = self.make_session()
        self.session.listeners.append(self._on_record)
        self._replaying = True
        self._replay_position = ROOT
        try:
            command = parse_line(self._setup)
            if command is not None:
                self.session.execute(command)
        finally:
            self._replaying = False
        lab = self.session.lab
        self._clock = lab.now if lab is not None else 0

    def _replay(self, path: list[int], announce: bool = False) -> None:
        """Run the recorded steps of ``path`` again (quietly unless ``announce``: after a
        jump the feed is re-derived, not re-sent)."""
        self._replaying = True
        try:
            for position in path:
                self._replay_position = position
                self._open_records(position)
                self._replay_step(self.timeline.step(position))
                self.timeline.current = position
                if announce:
                    for record in self._records.get(position, []):
                        for listener in self.listeners:
                            listener(position, record)
                lab = self.session.lab
                self._clock = lab.now if lab is not None else 0
                if self.policy.wanted(position) and position not in self.checkpoints:
                    self._take_checkpoint(position)
        finally:
            self._replaying = False

    def _replay_step(self, step: Step) -> None:
        lab = self.session.lab
        if step == EVENT:
            assert lab is not None
            if lab.step() is None:
                raise LabError("history replay found no event where one was recorded")
            return
        command = parse_line(step.command)
        assert command is not None
        outcome = self.session.execute(command)
        if outcome.failure and not step.command.startswith(("advance ", "until ")):
            raise LabError(f"history replay of {step.command!r} failed: {outcome.failure}")

    def _rederive(self, first: int) -> None:
        """Re-create the records from ``first`` up to the current position by replaying them."""
        here = self.position
        start = self._parent(first)
        self._goto(start)
        self._replay(self.timeline.path(start, here))
        self.timeline.go(here)

    # ------------------------------------------------------------------ history commands

    def _run_history(self, command: Command) -> Outcome:
        outcome = Outcome()
        p = command.params
        try:
            if command.name == "mark":
                self.timeline.mark(p["name"])
                self._take_checkpoint(self.position)
                outcome.lines.append(f"mark {p['name']} at position {self.position}")
            elif command.name == "goto":
                target = self.timeline.resolve(p["target"])
                self._goto(target)
                outcome.lines.append(self._where(f"at position {target}"))
            elif command.name == "back":
                landed = self._step_back(p["count"])
                outcome.lines.append(self._where(f"back to position {landed}"))
            elif command.name == "forward":
                if self.timeline.forward() is None:
                    raise LabError("nothing recorded ahead on this branch (step runs new events)")
                landed = self._forward(p["count"])
                outcome.lines.append(self._where(f"forward to position {landed}"))
            elif command.name == "find":
                outcome.lines.extend(self._find_lines(p["query"], p["max"]))
            else:
                for info in self.branches():
                    marks = " ".join(f"{name}@{at}" for name, at in info.marks)
                    outcome.lines.append(
                        f"{'*' if info.current else ' '} branch {info.id}: from {info.fork} "
                        f"tip {info.tip} ({info.length} positions)" + (f" marks {marks}" if marks else "")
                    )
        except (ValueError, LabError) as exc:
            outcome.failure = f"{command.name}: {exc}"
        return outcome

    def _find_lines(self, query: Query, limit: int) -> list[str]:
        shown, total = self.find(query, limit)
        lines: list[str] = []
        for event in shown:
            lines.append(f"{event.position}: {event.describe()}")
            # One line per reason, as under a step (Event.reason joins them with "; ").
            lines.extend(f"  because: {reason}" for reason in event.reason.split("; ") if reason)
        if not total:
            return ["find: no position matches"]
        more = f" (the first {limit} shown; max=N shows more)" if total > len(shown) else ""
        return [
            *lines,
            f"find: {total} position{'s' if total != 1 else ''} match{'es' if total == 1 else ''}{more}",
        ]

    def _where(self, text: str) -> str:
        lab = self.session.lab
        when = f" t={lab.now}" if lab is not None else ""
        return f"{text} (branch {self.timeline.branch}{when})"

    def close(self) -> None:
        self.session.close()


class _Clock:
    """The clock along a walk: positions with no record of their own (a partition, a heal)
    happened when the last record did, plus any clock move (``advance N``) since."""

    def __init__(self) -> None:
        self.now = 0

    def at(self, step: Step, records: list[StepRecord]) -> int:
        if records:
            self.now = records[-1].time
        elif step.command.startswith("advance "):
            amount = step.command.split()[1]
            if amount.endswith("ms"):
                self.now += int(amount[:-2])
            elif amount.endswith("s"):
                self.now += int(amount[:-1]) * 1000
            elif amount.isdigit():
                self.now += int(amount)
        return self.now
