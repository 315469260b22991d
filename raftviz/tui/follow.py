"""Follow mode: the app runs the teacher's command stream on its own history, or a fork of it.

A ``FollowController`` is a ``LabController`` whose cluster-changing actions
are refused while it follows (the learner still picks a node, panels and
views): the teacher's commands, received on the stream's thread, are queued
to the lab thread in batches and run on the follower's own ``History`` (own
node processes), so it shows the same cluster at the same position. ``fork``
stops applying the stream (it is still received and kept): from then on the
learner's keys act on the cluster, which starts from the teacher's state.
A lesson the teacher runs comes as its text and step after the commands of
each lesson action: the follower shows that step's narration and checks its
task on its own cluster (which is the teacher's); only the teacher moves the
lesson, except that in a fork ``]`` enters the next step as the learner's own.
``follow`` returns to the teacher: if the fork changed nothing, the stream
kept meanwhile is applied; otherwise the history is rebuilt by replaying the
whole stream (position numbers of the fork's branch would clash with the
teacher's).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

from raftviz.lab.history import History
from raftviz.lab.script import ScriptError, parse_line
from raftviz.lab.session import Session
from raftviz.lessons import Lesson, LessonError, LessonRunner, parse_lesson
from raftviz.share.client import Stream
from raftviz.tui.controller import CLOCK_COMMANDS, LabController, LessonView, Update

#: The notice for a key that would change the cluster while following.
REFUSED = "following the teacher: press f to fork (your own branch from here)"
#: The notice for a lesson key while following, and in a fork (where only ] works).
LESSON_REFUSED = "following the teacher: the teacher moves the lesson on (f forks: then ] is yours)"
LESSON_FORKED = "in a fork the lesson only goes on (]): f follows the teacher again"
#: Commands run per lab-thread action while catching up (the screen updates between batches).
BATCH = 400
#: Commands that move in history: after one, the feed is re-derived rather than appended to.
JUMPS = ("goto", "back", "forward")


class FollowController(LabController):
    """A lab controller fed by a teacher's command stream."""

    def __init__(
        self, make_session: Callable[[], Session], report: Callable[[Update], None], stream: Stream | None
    ) -> None:
        super().__init__(make_session, report)
        self.stream = stream
        #: Whether the teacher's commands are applied (False after a fork).
        self.following = True
        #: The teacher's messages since its last new history, in order, and how many are applied.
        self.received: list[dict[str, Any]] = []
        self.applied = 0
        #: The teacher's position after the last command received, and whether we are in step.
        self.teacher_position = 0
        self.out_of_step = ""
        #: Why the stream ended ("" while it runs).
        self.ended = ""
        self._lock = threading.Lock()
        self._busy_lock = threading.Lock()
        self._scheduled = False
        self._restart = False
        self._forked: tuple[int, int, int] | None = None  # (position, last position, journal length)

    # ------------------------------------------------------------------ the stream's thread

    def listen(self) -> None:
        """Start applying the stream (after ``start``: the history exists)."""
        if self.stream is not None:
            self.stream.start(self._on_message, self._on_end)

    def _on_message(self, message: dict[str, Any]) -> None:
        with self._lock:
            if message.get("type") == "new":
                self.received = []
                self.applied = 0
                self._restart = True
            elif message.get("type") == "command" and isinstance(message.get("text"), str):
                self.received.append(message)
                if isinstance(message.get("position"), int):
                    self.teacher_position = message["position"]
            elif (
                message.get("type") == "lesson"
                and isinstance(message.get("name"), str)
                and isinstance(message.get("text"), str)
                and type(message.get("step")) is int
            ):
                self.received.append(message)
            else:
                return
            if not self.following or self._scheduled:
                return
            self._scheduled = True
        self._submit(self._catch_up)

    def _on_end(self, why: str) -> None:
        if self.stream is not None and self.stream.closed:
            return  # we left

        def action() -> Update:
            self.ended = why or "the teacher ended the session"
            self.following = False
            return self._update(failure=f"{self.ended}: the cluster is yours from here")

        self._submit(action)

    # ------------------------------------------------------------------ on the lab thread

    def _new_history(self) -> None:
        if self.history is not None:
            self.history.close()
        self.history = History(self._make_session)
        self.history.listeners.append(self._on_record)
        self.runner = None  # a lesson belongs to the history it ran on

    def _watch_lesson(self, message: dict[str, Any]) -> str:
        """Show the teacher's lesson step (its task checked on this cluster); a problem, or ""."""
        history = self.history
        assert history is not None
        name, text, step = message["name"], message["text"], message["step"]
        lesson = self.runner.lesson if self.runner is not None and self.runner.lesson.text == text else None
        if lesson is None:
            try:
                lesson = parse_lesson(text, name, f"the teacher's {name}")
            except LessonError as exc:
                self.runner = None
                return f"cannot show the teacher's lesson: {exc}"
        if not 0 <= step < len(lesson.steps):
            return f"the teacher's lesson {name} has no step {step + 1}"
        if self.runner is None or self.runner.lesson is not lesson or self.runner.history is not history:
            self.runner = LessonRunner(lesson, history)
        # The teacher entered this step: its commands came before this message and ran here.
        self.runner.index = step
        self.runner.entered_at[step] = history.position
        self.runner.off_path = False
        return ""

    def _lesson_view(self) -> LessonView | None:
        view = super()._lesson_view()
        # The teacher resets and rebuilds steps; the follower has nothing of its own to reset.
        if view is None:
            return None
        return replace(view, reset="", problems=(), led="teacher" if self.following else "fork")

    def _catch_up(self) -> Update:
        """Run the next batch of the teacher's commands (and queue the rest)."""
        with self._lock:
            restart, self._restart = self._restart, False
            batch = self.received[self.applied : self.applied + BATCH] if self.following else []
            self.applied += len(batch)
            more = self.following and self.applied < len(self.received)
            if not more:
                self._scheduled = False
        if restart:
            self._new_history()
        history = self.history
        assert history is not None
        lines: list[str] = []
        jumped = restart
        for message in batch:
            if message.get("type") == "lesson":
                problem = self._watch_lesson(message)
                if problem:
                    lines.append(problem)
                continue
            text = message["text"]
            try:
                command = parse_line(text, line=0, source="teacher")
            except ScriptError as exc:
                lines.append(f"teacher sent {text!r}: {exc}")
                continue
            if command is None:
                continue
            outcome = history.run(command)
            jumped = jumped or command.name in JUMPS
            if command.name not in CLOCK_COMMANDS and command.name not in JUMPS:
                lines.append(f"> {command.text}")
                lines += outcome.lines
            if outcome.failure:
                lines.append(outcome.failure)
            wanted = message.get("position")
            if isinstance(wanted, int) and wanted != history.position and not self.out_of_step:
                self.out_of_step = (
                    f"out of step with the teacher after {text!r}: at position {history.position}, "
                    f"the teacher at {wanted}"
                )
                lines.append(self.out_of_step)
        if more:
            self._submit(self._catch_up)
        if jumped:
            return self._update(lines=lines, rewound_to=history.position)
        return self._update(lines=lines)

    def _submit(self, action: Callable[[], Update]) -> Future[Update]:
        # The stream's thread submits too: keep ``busy`` exact across threads.
        with self._busy_lock:
            self.busy += 1

        def run() -> Update:
            try:
                update = action()
            except Exception as exc:  # noqa: BLE001 - shown to the user, never a crash of the app
                update = self._update(failure=f"internal error: {type(exc).__name__}: {exc}")
            with self._busy_lock:
                self.busy -= 1
                self.reported += 1
            self._report(update)
            return update

        with self._busy_lock:
            self.last = self._executor.submit(run)
            return self.last

    # ------------------------------------------------------------------ fork and follow

    def toggle_fork(self) -> Future[Update]:
        """Fork (the cluster is the learner's from here), or follow the teacher again."""

        def action() -> Update:
            assert self.history is not None
            history = self.history
            if self.following:
                self.following = False
                self._forked = (history.position, history.timeline.last, len(history.journal))
                return self._update(
                    lines=[
                        f"forked at position {history.position}: the cluster is yours "
                        "(the teacher goes on without you; f follows again)"
                    ]
                )
            if self.ended:
                return self._update(failure=f"{self.ended}: there is nothing to follow")
            unchanged = self._forked == (history.position, history.timeline.last, len(history.journal))
            with self._lock:
                self.following = True
                if not unchanged:
                    # The fork made positions of its own: replay the teacher's stream from the start.
                    self._restart = True
                    self.applied = 0
                self._scheduled = True
            self._forked = None
            self._submit(self._catch_up)
            how = "catching up" if unchanged else "replaying the teacher's session"
            return self._update(lines=[f"following the teacher again ({how})"])

        return self._submit(action)

    # ------------------------------------------------------------------ refused while following

    def _refuse(self) -> Future[Update]:
        return self._submit(lambda: self._update(failure=REFUSED))

    def start(self, script_lines: list[str]) -> Future[Update]:
        """The history starts empty: the teacher's stream makes its cluster."""

        def action() -> Update:
            self._new_history()
            return self._update()

        future = self._submit(action)
        self.listen()
        return future

    def start_lesson(self, lesson: Lesson) -> Future[Update]:
        return self._refuse() if self.following else super().start_lesson(lesson)

    def _refuse_lesson(self) -> Future[Update]:
        return self._submit(lambda: self._update(failure=LESSON_REFUSED if self.following else LESSON_FORKED))

    def lesson_next(self) -> Future[Update]:
        if self.following or self.runner is None:
            return self._refuse_lesson()
        return super().lesson_next()

    def lesson_back(self) -> Future[Update]:
        return self._refuse_lesson()

    def lesson_jump(self, index: int) -> Future[Update]:
        return self._refuse_lesson()

    def lesson_reset(self) -> Future[Update]:
        return self._refuse_lesson()

    def command(self, text: str) -> Future[Update]:
        return self._refuse() if self.following else super().command(text)

    def step(self) -> Future[Update]:
        return self._refuse() if self.following else super().step()

    def step_back(self, count: int = 1) -> Future[Update]:
        return self._refuse() if self.following else super().step_back(count)

    def rewind(self, position: int | str) -> Future[Update]:
        return self._refuse() if self.following else super().rewind(position)

    def play(self, virtual_ms: int) -> Future[Update]:
        return self._refuse() if self.following else super().play(virtual_ms)

    def play_max(self, budget_s: float) -> Future[Update]:
        return self._refuse() if self.following else super().play_max(budget_s)

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
        super().close()
