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
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from raftviz.lab.history import History
from raftviz.lab.lab import StepRecord
from raftviz.lab.script import ScriptError, parse_line
from raftviz.lab.session import Outcome, Session
from raftviz.lessons import Lesson, LessonRunner, StepResult
from raftviz.tui.feed import FeedBuilder, FeedItem
from raftviz.tui.model import Snapshot, take_snapshot

__all__ = ["FeedItem", "LabController", "LessonView", "Update", "feed_item"]

#: Commands whose output repeats the events the feed already shows.
CLOCK_COMMANDS = ("step", "advance", "until", "deliver", "timeout", "restart")
#: Commands whose records in the feed say all they did: once they published a record, their
#: echo and output would only say it again (a client write twice, a drop three times).
SAID_BY_RECORDS = (
    "step",
    "deliver",
    "timeout",
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
        self.busy = 0
        #: The most recently queued action; actions run in order, so once it is
        #: done every earlier one is too (tests wait on it).
        self.last: Future[Update] | None = None
        #: How many updates have been handed to the app (the app counts what it applied).
        self.reported = 0

    # ------------------------------------------------------------------ actions

    def start(self, script_lines: list[str]) -> Future[Update]:
        """Create the history and run the opening commands (``cluster ...``)."""

        def action() -> Update:
            self.history = History(self._make_session)
            self.history.listeners.append(self._on_record)
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
        """Create the history, set the lesson's cluster up and enter its first step."""

        def action() -> Update:
            self.history = History(self._make_session)
            self.history.listeners.append(self._on_record)
            self.runner = LessonRunner(lesson, self.history)
            return self._lesson_update(self.runner.start(), rewound=False)

        return self._submit(action)

    def lesson_next(self) -> Future[Update]:
        def action() -> Update:
            assert self.runner is not None
            result = self.runner.next()
            if result is None:
                last = self.runner.index + 1 >= len(self.runner.lesson.steps)
                reason = "this is the last step" if last else "the task is not done yet (h for a hint)"
                return self._update(failure=f"lesson: {reason}")
            return self._lesson_update(result, rewound=False)

        return self._submit(action)

    def lesson_back(self) -> Future[Update]:
        def action() -> Update:
            assert self.runner is not None
            result = self.runner.back()
            if result is None:
                return self._update(failure="lesson: this is the first step")
            return self._lesson_update(result, rewound=True)

        return self._submit(action)

    def lesson_jump(self, index: int) -> Future[Update]:
        def action() -> Update:
            assert self.runner is not None
            rewound = index <= self.runner.index
            return self._lesson_update(self.runner.jump(index), rewound=rewound)

        return self._submit(action)

    def lesson_reset(self) -> Future[Update]:
        def action() -> Update:
            assert self.runner is not None
            return self._lesson_update(self.runner.reset_step(), rewound=True)

        return self._submit(action)

    def _lesson_update(self, result: StepResult, rewound: bool) -> Update:
        self._lesson_problems = tuple(result.failures)
        position = None
        if rewound and self.runner is not None:
            position = self.runner.before[self.runner.index]
        return self._update(lines=result.lines, rewound_to=position)

    def command(self, text: str) -> Future[Update]:
        """Carry out one scenario-language command (a key press is sugar for one)."""
        return self._submit(lambda: self._run_text(text))

    def step_back(self) -> Future[Update]:
        def action() -> Update:
            assert self.history is not None
            target = max(self.history.position - 1, 0)
            self.history.rewind(target)
            return self._update(lines=[f"back to position {target}"], rewound_to=target)

        return self._submit(action)

    def rewind(self, position: int) -> Future[Update]:
        def action() -> Update:
            assert self.history is not None
            self.history.rewind(position)
            return self._update(lines=[f"back to position {position}"], rewound_to=position)

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
                failure = self.history.run(step).failure
                if failure:
                    return self._update(failure=failure)
            if self._task_open() and lab.now < end:
                return self._run_text(f"advance {end - lab.now}", echo=False)
            return self._update()

        return self._submit(action)

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
            failure = ""
            task_open = self._task_open()
            while time.monotonic() < deadline:
                lab = self.history.session.lab
                if lab is None or lab.next_event_time() is None:
                    break
                if task_open and not self._task_open():
                    break  # the task is done: stop at that event
                # Consecutive steps merge into one "step N" in the history.
                failure = self.history.run(step).failure
                if failure:
                    break
            return self._update(failure=failure)

        return self._submit(action)

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
        published = len(self._pending)
        outcome: Outcome = self.history.run(command)
        output = outcome.lines
        if command.name in CLOCK_COMMANDS:
            # Their events are already in the feed, one row each: keep only the verdicts.
            output = [line for line in output if not line.startswith(("t=", "  "))]
        said = command.name in SAID_BY_RECORDS and len(self._pending) > published
        lines = [f"> {command.text}", *output] if echo and not said else []
        return self._update(lines=lines, failure=outcome.failure)

    def _on_record(self, position: int, record: StepRecord) -> None:
        self._pending.append(self._feed.item(position, record))

    def _update(
        self, lines: list[str] | None = None, failure: str = "", rewound_to: int | None = None
    ) -> Update:
        if rewound_to is not None:
            self._feed.reset()
        feed, self._pending = self._pending, []
        snapshot = take_snapshot(self.history) if self.history is not None else None
        return Update(snapshot, feed, lines or [], failure, rewound_to, self._lesson_view())

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
        )
