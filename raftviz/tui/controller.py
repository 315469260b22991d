"""The bridge between the app and the lab: one background thread owns the lab.

Node I/O (real processes, real sockets) is blocking, so the app never calls
the lab itself. Every action — a command, a step, a rewind, a stretch of play
— is queued to a single lab thread, which carries it out, takes a
``Snapshot``, and hands the app the snapshot with the new feed items and the
command's output. Actions run one at a time in the order given, so the UI
stays responsive and the lab stays deterministic.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from raftviz.lab import exports
from raftviz.lab.events import Event, events_of
from raftviz.lab.history import BranchInfo, History
from raftviz.lab.lab import StepRecord
from raftviz.lab.script import ScriptError, parse_line
from raftviz.lab.search import Query
from raftviz.lab.session import Outcome, Session
from raftviz.lab.timeline import ROOT, Step
from raftviz.lessons import Lesson, LessonRunner, StepResult
from raftviz.tui.diagram import DiagramDelta, DiagramSource
from raftviz.tui.feed import FeedBuilder, FeedItem
from raftviz.tui.model import Snapshot, take_snapshot

__all__ = ["FeedItem", "LabController", "LessonView", "Update", "feed_item"]

#: Commands whose output repeats the events the feed already shows.
CLOCK_COMMANDS = ("step", "advance", "until", "deliver", "timeout", "restart", "transfer")
#: Rows of history the feed shows after a jump (older ones are re-derived by jumping there).
JUMP_FEED_ROWS = 200
#: Wall-clock interval between progress reports of a long lesson action.
PROGRESS_S = 0.2
#: Commands whose records in the feed say all they did: once they published a record, their
#: echo and output would only say it again (a client write twice, a drop three times).
SAID_BY_RECORDS = (
    "step",
    "deliver",
    "timeout",
    "transfer",
    "drop",
    "duplicate",
    "crash",
    "restart",
    "put",
    "get",
    "append",
    "delete",
    "add",
    "remove",
    "timers",
)

#: Commands whose first output line says what they did in full (the network's state, every
#: option of the cluster): the echo before it would say the same thing twice.
RESTATED_BY_OUTPUT = ("cluster", "partition", "cut", "heal", "loss", "latency")


def lesson_lines(lines: list[str]) -> list[str]:
    """A lesson step's command echoes and outputs, as the feed shows a typed command's:
    the events its commands ran are feed rows already (``t=173 node 3: follower term=1``
    would put a second time on a row), and a command its output restates is said once."""
    out: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith(("t=", "  ")):
            continue
        if line.startswith("> "):
            name = line[2:].split(" ", 1)[0]
            following = lines[i + 1] if i + 1 < len(lines) else "> "
            if name in RESTATED_BY_OUTPUT and not following.startswith(("> ", "t=", "  ")):
                continue
        out.append(line)
    return out


@dataclass(frozen=True, slots=True)
class LessonView:
    """Where a lesson stands, for the lesson panel."""

    title: str
    index: int
    total: int
    step_title: str
    text: str
    task: str
    done: bool
    seen: str
    hint: str
    problems: tuple[str, ...] = ()
    #: What ``0`` would do: "" (nothing: the step is as it began), "step" (rewind to
    #: where this step began) or "rebuild" (the step was entered off the lesson's path).
    reset: str = ""
    #: The pace this step asks play to run at ("": the lesson's own).
    pace: str = ""
    #: Who moves the lesson on: "" (the learner), "teacher" (a follower following its
    #: teacher's lesson) or "fork" (a follower's fork: ] goes on, nothing goes back).
    led: str = ""


@dataclass(slots=True)
class Update:
    """What one action produced, for the app to show."""

    snapshot: Snapshot | None
    feed: list[FeedItem] = field(default_factory=list)
    #: The command echo and its output lines (empty for plain steps).
    lines: list[str] = field(default_factory=list)
    failure: str = ""
    #: Set when history was rewound: feed items after this position are gone.
    rewound_to: int | None = None
    lesson: LessonView | None = None
    #: The breakpoint that stopped this action (``break 1: leader at t=523 ...``), if one did.
    breakpoint: str = ""
    #: Every breakpoint set, in number order (the header shows them).
    breakpoints: tuple[str, ...] = ()
    #: After a jump in history (back, goto, a lesson's rewind): the feed's new rows, the
    #: last ones on the way to where the session is now (replacing what it showed).
    feed_reset: list[FeedItem] | None = None
    #: Whether the way there is longer than ``feed_reset`` (a marker says so).
    feed_earlier: bool = False
    #: A search's answer: every matching position from the root to the followed branch's tip.
    found: list[int] | None = None
    #: The space-time diagram's new rows (None: unchanged).
    diagram: DiagramDelta | None = None


def feed_item(position: int, record: StepRecord) -> FeedItem:
    """One record as a feed item, on its own (heartbeat replies are told apart only in a sequence)."""
    return FeedBuilder().item(position, record)


class LabController:
    """Runs a ``History`` on its own thread and reports every change."""

    def __init__(self, make_session: Callable[[], Session], report: Callable[[Update], None]) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raftviz-lab")
        self._report = report
        self._make_session = make_session
        self.history: History | None = None
        self.runner: LessonRunner | None = None
        self._lesson_problems: tuple[str, ...] = ()
        self._pending: list[FeedItem] = []
        self._feed = FeedBuilder()
        self._diagram = DiagramSource()
        self.busy = 0
        #: The most recently queued action; actions run in order, so once it is
        #: done every earlier one is too (tests wait on it).
        self.last: Future[Update] | None = None
        #: How many updates have been handed to the app (the app counts what it applied).
        self.reported = 0
        #: Told, from the lab thread, how a long lesson action is getting on ("1,200 events").
        self.progress: Callable[[str], None] | None = None
        #: Told of every history this controller makes (``--share`` publishes what it runs).
        self.on_history: Callable[[History], None] | None = None
        #: Told, on the lab thread, the lesson and step after every lesson action
        #: (``--share`` publishes it, after the commands that action ran).
        self.on_lesson: Callable[[Lesson, int], None] | None = None

    # ------------------------------------------------------------------ actions

    def start(self, script_lines: list[str]) -> Future[Update]:
        """Create the history and run the opening commands (``cluster ...``)."""

        def action() -> Update:
            self.history = History(self._make_session)
            self.history.listeners += [self._on_record, self._diagram.on_record]
            if self.on_history is not None:
                self.on_history(self.history)
            lines: list[str] = []
            failure = ""
            for text in script_lines:
                update = self._run_text(text)
                lines += update.lines
                if update.failure:
                    failure = update.failure
                    break
            return self._update(lines=lines, failure=failure)

        return self._submit(action)

    def start_lesson(self, lesson: Lesson) -> Future[Update]:
        """Create the history, set the lesson's cluster up and enter its first step
        (a lesson already open is closed first: its node processes stop)."""

        def action() -> Update:
            replacing = self.history is not None
            if self.history is not None:
                self.history.close()
            self.history = History(self._make_session)
            self.history.listeners += [self._on_record, self._diagram.on_record]
            if self.on_history is not None:
                self.on_history(self.history)
            self.runner = LessonRunner(lesson, self.history)
            with self._progress_of(f"setting up {lesson.title}"):
                result = self.runner.start()
            update = self._lesson_update(result)
            if replacing:
                update.rewound_to = 0  # the old lesson's feed is gone with it
            return update

        return self._submit(action)

    def lesson_next(self) -> Future[Update]:
        def action() -> Update:
            assert self.runner is not None
            runner = self.runner
            if runner.index + 1 >= len(runner.lesson.steps):
                return self._update(failure="lesson: this is the last step")
            with self._progress_of(f"entering step {runner.index + 2}"):
                result = runner.next()
            if result is None:
                return self._update(failure="lesson: the task is not done yet (h for a hint)")
            return self._lesson_update(result)

        return self._submit(action)

    def lesson_back(self) -> Future[Update]:
        def action() -> Update:
            assert self.runner is not None
            if self.runner.index <= 0:
                return self._update(failure="lesson: this is the first step")
            with self._progress_of(f"back to step {self.runner.index}"):
                result = self.runner.back()
            assert result is not None
            return self._lesson_update(result)

        return self._submit(action)

    def lesson_jump(self, index: int) -> Future[Update]:
        def action() -> Update:
            assert self.runner is not None
            with self._progress_of(f"going to step {index + 1}"):
                result = self.runner.jump(index)
            update = self._lesson_update(result)
            if result.failures and self.runner.index != index:
                update.failure = f"lesson: stopped at step {self.runner.index + 1}: {result.failures[-1]}"
            return update

        return self._submit(action)

    def lesson_reset(self) -> Future[Update]:
        def action() -> Update:
            assert self.runner is not None
            runner = self.runner
            if runner.at_step_start and not runner.off_path:
                # Nothing to undo: answer at once instead of replaying the whole history.
                return self._update(lines=["lesson: already at the start of this step"])
            label = "rebuilding this step" if runner.off_path else "back to the start of this step"
            with self._progress_of(label):
                result = runner.reset_step()
            return self._lesson_update(result)

        return self._submit(action)

    @contextmanager
    def _progress_of(self, label: str) -> Iterator[None]:
        """While a lesson action runs, tell the app every ~0.2 s of wall time how many
        events it has run: entering a step may replay thousands of them."""
        assert self.history is not None
        history = self.history
        count = 0
        last = time.monotonic()

        def on_record(_position: int, _record: StepRecord) -> None:
            nonlocal count, last
            count += 1
            now = time.monotonic()
            if self.progress is not None and now - last >= PROGRESS_S:
                last = now
                self.progress(f"{label}: {count:,} events…")

        if self.progress is not None:
            self.progress(f"{label}…")
        history.listeners.append(on_record)
        try:
            yield
        finally:
            history.listeners.remove(on_record)

    def _lesson_update(self, result: StepResult) -> Update:
        """The update after a lesson action; if it rewound history, the feed drops what was undone."""
        self._lesson_problems = tuple(result.failures)
        position = None
        if self.runner is not None:
            position = self.runner.rewound_to
            self.runner.forget_rewind()
            if self.on_lesson is not None:
                self.on_lesson(self.runner.lesson, self.runner.index)
        return self._update(lines=lesson_lines(result.lines), rewound_to=position)

    def command(self, text: str) -> Future[Update]:
        """Carry out one scenario-language command (a key press is sugar for one)."""
        return self._submit(lambda: self._run_text(text))

    def step_back(self, count: int = 1) -> Future[Update]:
        """``back``: undo the last step (restores a checkpoint and replays a few events)."""
        return self._submit(lambda: self._run_text(f"back {count}", echo=False))

    def rewind(self, position: int | str) -> Future[Update]:
        """``goto``: any position or mark, on any branch, forward or back."""
        return self._submit(lambda: self._run_text(f"goto {position}", echo=False))

    def step(self) -> Future[Update]:
        """One step forward: along the recorded future when the session went back (the
        same events again, or the drop or crash that was done there), else a new event."""

        def action() -> Update:
            assert self.history is not None
            return self._run_text("forward" if self.history.ahead() else "step", echo=False)

        return self._submit(action)

    def play(self, virtual_ms: int) -> Future[Update]:
        """Advance virtual time (one stretch of play at a speed).

        While a lesson's task is open, the stretch runs one event at a time and
        stops at the event that completes it: a transient moment (a node
        stepping down, a chunk arriving) stays on screen instead of being
        played past before the app can pause.
        """

        def action() -> Update:
            assert self.history is not None
            if self.history.ahead():
                return self._replay_record(virtual_ms)
            lab = self.history.session.lab
            if lab is None or not self._task_open():
                return self._run_text(f"advance {virtual_ms}", echo=False)
            end = lab.now + virtual_ms
            step = parse_line("step")
            assert step is not None
            while self._task_open():
                due = lab.next_event_time()
                if due is None or due > end:
                    break
                outcome = self.history.run(step)
                if outcome.failure or outcome.stopped:
                    return self._update(failure=outcome.failure, stopped=outcome)
            if self._task_open() and lab.now < end:
                return self._run_text(f"advance {end - lab.now}", echo=False)
            return self._update()

        return self._submit(action)

    def _replay_record(self, virtual_ms: int) -> Update:
        """Play after going back: follow the recorded future for this stretch, so what was
        done there (a drop, a crash) happens again rather than new events."""
        assert self.history is not None
        lab = self.history.session.lab
        assert lab is not None
        end = lab.now + virtual_ms
        outcome = Outcome()
        while self.history.ahead() and self.history.session.lab is not None:
            if self.history.session.lab.now >= end:
                break
            outcome = self.history.forward()
            if outcome.failure:
                break
        return self._update(failure=outcome.failure)

    def _task_open(self) -> bool:
        """A lesson step with a task that is not done yet."""
        runner = self.runner
        return runner is not None and runner.index >= 0 and not runner.task_done()[0]

    def play_max(self, budget_s: float) -> Future[Update]:
        """Run events as fast as possible for about ``budget_s`` of wall time ("max" speed)."""

        def action() -> Update:
            assert self.history is not None
            step = parse_line("step")
            assert step is not None
            deadline = time.monotonic() + budget_s
            outcome = Outcome()
            task_open = self._task_open()
            while time.monotonic() < deadline and self.history.ahead():
                outcome = self.history.forward(16)  # the recorded future first, as at any speed
                if outcome.failure:
                    return self._update(failure=outcome.failure)
            while time.monotonic() < deadline:
                lab = self.history.session.lab
                if lab is None or lab.next_event_time() is None:
                    break
                if task_open and not self._task_open():
                    break  # the task is done: stop at that event
                # Consecutive steps merge into one "step N" in the history.
                outcome = self.history.run(step)
                if outcome.failure or outcome.stopped:
                    break
            return self._update(failure=outcome.failure, stopped=outcome)

        return self._submit(action)

    def branches(self) -> Future[list[BranchInfo]]:
        def action() -> list[BranchInfo]:
            assert self.history is not None
            return self.history.branches()

        future: Future[list[BranchInfo]] = self._executor.submit(action)
        return future

    def search(self, query: Query) -> Future[Update]:
        """List every position whose events match ``query`` (``/`` in the app)."""

        def action() -> Update:
            assert self.history is not None
            if self.progress is not None:
                # A long history is partly replayed to be searched: say so in the header.
                self.progress(f"searching the history for {query.text}…")
            found: list[int] = []

            def visit(position: int, step: Step, records: list[StepRecord]) -> None:
                # A command with no record of its own (a partition) matches by its text.
                if any(query.matches(e) for e in events_of(position, step, records)):
                    found.append(position)

            self.history.walk(visit)
            update = self._update()
            update.found = found
            return update

        return self._submit(action)

    def export(self, stem: str) -> Future[Update]:
        """Write the session, to the followed branch's tip, as ``STEM.svg``, ``.html`` and ``.json``."""

        def action() -> Update:
            assert self.history is not None
            history = self.history
            events = history.events()  # to the followed branch's tip, like find
            lab = history.session.lab
            nodes = lab.ids if lab is not None else []
            lines: list[str] = []
            try:
                for suffix, kind in ((".svg", "diagram"), (".html", "diagram"), (".json", "trace")):
                    lines.append(exports.write(stem + suffix, kind, events, nodes, "raftviz session"))
            except exports.ExportError as exc:
                return self._update(lines=lines, failure=f"export: {exc}")
            return self._update(lines=lines)

        return self._submit(action)

    def events_at(self, position: int) -> Future[list[Event]]:
        """Every event of one history position (the diagram's details of a message)."""

        def action() -> list[Event]:
            assert self.history is not None
            history = self.history
            found: list[Event] = []
            if not history.timeline.exists(position) or position == ROOT:
                return found
            parent = history.timeline.parent(position)

            def visit(at: int, step: Step, records: list[StepRecord]) -> None:
                found.extend(events_of(at, step, records))

            history.walk(visit, end=position, start=ROOT if parent is None else parent)
            return found

        future: Future[list[Event]] = self._executor.submit(action)
        return future

    def script(self) -> Future[list[str]]:
        def action() -> list[str]:
            assert self.history is not None
            return self.history.script()

        future: Future[list[str]] = self._executor.submit(action)
        return future

    def close(self) -> None:
        def action() -> None:
            if self.history is not None:
                self.history.close()

        self._executor.submit(action).result(timeout=30)
        self._executor.shutdown(wait=True)

    # ------------------------------------------------------------------ on the lab thread

    def _submit(self, action: Callable[[], Update]) -> Future[Update]:
        self.busy += 1

        def run() -> Update:
            try:
                update = action()
            except Exception as exc:  # noqa: BLE001 - shown to the user, never a crash of the app
                update = self._update(failure=f"internal error: {type(exc).__name__}: {exc}")
            self.busy -= 1
            self.reported += 1
            self._report(update)
            return update

        self.last = self._executor.submit(run)
        return self.last

    def _run_text(self, text: str, echo: bool = True) -> Update:
        assert self.history is not None
        try:
            command = parse_line(text, line=0, source="command line")
        except ScriptError as exc:
            return self._update(lines=[f"> {text}"], failure=str(exc))
        if command is None:
            return self._update()
        history = self.history
        published = len(self._pending)
        branches = len(history.timeline.branches)
        was = history.position
        jump = command.name in ("goto", "back")
        if jump:
            with self._progress_of(
                f"going to {'position ' if command.name == 'goto' else ''}{text.split()[-1]}"
            ):
                outcome: Outcome = history.run(command)
        else:
            outcome = history.run(command)
        output = outcome.lines
        if command.name in CLOCK_COMMANDS:
            # Their events are already in the feed, one row each: keep only the verdicts.
            output = [line for line in output if not line.startswith(("t=", "  "))]
        said = command.name in SAID_BY_RECORDS and len(self._pending) > published
        # A command whose first output line restates it (``network: partition 4 | 2,3,5``,
        # ``cluster: 5 nodes seed=3 …``) is said by that line alone.
        restated = command.name in RESTATED_BY_OUTPUT and output and not outcome.failure
        lines = ([] if restated else [f"> {command.text}"]) + output if echo and not said else []
        if jump and not outcome.failure and not echo:
            lines = output
        if len(history.timeline.branches) > branches:
            fork = history.timeline.branches[history.timeline.branch].fork
            lines.append(
                f"a new branch {history.timeline.branch} starts at position {fork}; the future you left "
                "stays (B: branches, g: go anywhere)"
            )
        moved = jump and not outcome.failure and history.position != was
        if moved and history.timeline.is_ancestor(history.position, was):
            # Back along the way that led here: the feed keeps its rows up to there (positions
            # increase along any way through the tree, so "after P" is exactly what was undone).
            return self._update(lines=lines, failure=outcome.failure, truncate_to=history.position)
        rewound = history.position if moved else None
        return self._update(lines=lines, failure=outcome.failure, rewound_to=rewound, stopped=outcome)

    def _on_record(self, position: int, record: StepRecord) -> None:
        self._pending.append(self._feed.item(position, record))

    def _update(
        self,
        lines: list[str] | None = None,
        failure: str = "",
        rewound_to: int | None = None,
        stopped: Outcome | None = None,
        truncate_to: int | None = None,
    ) -> Update:
        feed_reset: list[FeedItem] | None = None
        earlier = False
        if rewound_to is not None:
            self._feed.reset()
            self._pending = []
            assert self.history is not None
            records = self.history.records(JUMP_FEED_ROWS)
            feed_reset = [self._feed.item(position, record) for position, record in records]
            earlier = len({p for p, _ in records}) >= JUMP_FEED_ROWS
        feed, self._pending = self._pending, []
        if truncate_to is not None:
            self._feed.reset()
            rewound_to = truncate_to
        snapshot = take_snapshot(self.history) if self.history is not None else None
        hit = stopped.stopped if stopped is not None else None
        breakpoints = self.history.session.breakpoints.summary() if self.history is not None else ()
        return Update(
            snapshot,
            feed,
            lines or [],
            failure,
            rewound_to,
            self._lesson_view(),
            breakpoint=hit.describe() if hit is not None else "",
            breakpoints=breakpoints,
            feed_reset=feed_reset,
            feed_earlier=earlier,
            diagram=self._diagram.delta(self.history) if self.history is not None else None,
        )

    def _lesson_view(self) -> LessonView | None:
        """The lesson's state now: the task is checked after every action, so the panel
        reacts to whatever the learner did, not to which keys were pressed."""
        runner = self.runner
        if runner is None or runner.index < 0:
            return None
        step = runner.step
        done, seen = runner.task_done()
        return LessonView(
            title=runner.lesson.title,
            index=runner.index,
            total=len(runner.lesson.steps),
            step_title=step.title,
            text=step.text,
            task=step.task,
            done=done,
            seen=seen,
            hint=step.hint,
            problems=self._lesson_problems,
            reset="rebuild" if runner.off_path else "" if runner.at_step_start else "step",
            pace=step.pace,
        )
