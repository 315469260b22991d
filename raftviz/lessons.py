"""Lessons: load, validate and run guided lessons over the scenario language.

A lesson is a plain-text file in ``lessons/`` (the format is documented in
``lessons/README.md``): a title, a setup line, and numbered steps. A step has
narration, commands the lesson runs itself when the learner reaches it,
``expect`` conditions that must hold once those have run (so the narration
stays true to what the cluster really does), and optionally a task for the
learner: text, a check (a scenario condition) that must hold before the
lesson moves on, a hint, and the documented solution commands that
``raftviz lesson --check`` performs.

This module needs no terminal: the TUI shows lessons, and ``--check`` runs
them headless, both through ``LessonRunner``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from raftviz.lab.conditions import Condition, ConditionError, evaluate, parse_condition
from raftviz.lab.history import History
from raftviz.lab.lab import Lab
from raftviz.lab.script import ScriptError, parse_line
from raftviz.lab.session import Session
from raftviz.lab.views import NodeView

#: Where the lessons live: ``lessons/`` at the repository root (or next to the package).
LESSONS_DIR = Path(__file__).resolve().parent.parent / "lessons"
SUFFIX = ".lesson"
DIRECTIVES = ("run", "expect", "task", "check", "hint", "solution", "pace")
#: The play paces a step may ask for (``pace: 1×``): the TUI's speeds, by their labels.
PACES = ("1/1000×", "1/100×", "1/30×", "1/10×", "1/4×", "1/2×", "1×", "max")


class LessonError(Exception):
    """An invalid lesson: names the file, the line and the reason."""

    def __init__(self, source: str, line: int, reason: str) -> None:
        super().__init__(f"{source}:{line}: {reason}")
        self.source, self.line, self.reason = source, line, reason


@dataclass(slots=True)
class Step:
    """One step of a lesson."""

    title: str
    line: int
    narration: list[str] = field(default_factory=list)
    run: list[str] = field(default_factory=list)
    expect: list[tuple[int, Condition]] = field(default_factory=list)
    task: str = ""
    #: Every check must hold for the task to be done (several ``check:`` lines: all of them).
    checks: list[Condition] = field(default_factory=list)
    hint: str = ""
    solution: list[str] = field(default_factory=list)
    #: The pace play runs at in this step ("": the lesson's own), for a step that waits long
    #: in virtual time (ten seconds of retries would be five minutes at a readable pace).
    pace: str = ""

    @property
    def text(self) -> str:
        """The narration as Markdown."""
        return "\n".join(self.narration).strip()


@dataclass(slots=True)
class Lesson:
    name: str
    title: str
    setup: str
    steps: list[Step]
    source: str = ""
    #: The lesson file's text, as parsed (a shared lesson travels to followers as this).
    text: str = ""


# ---------------------------------------------------------------------- parsing


def parse_lesson(text: str, name: str, source: str = "") -> Lesson:
    """Parse and validate a lesson; raises ``LessonError`` naming file and line."""
    source = source or name
    title = ""
    setup = ""
    steps: list[Step] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if line.startswith("## "):
            steps.append(Step(line[3:].strip(), number))
            continue
        if line.startswith("# ") and not steps:
            if title:
                raise LessonError(source, number, "a second title (only one '# ' line per lesson)")
            title = line[2:].strip()
            continue
        m = re.match(r"^(setup|run|expect|task|check|hint|solution|pace):\s*(.*)$", line)
        if m:
            key, value = m.group(1), m.group(2).strip()
            if key == "setup":
                if steps:
                    raise LessonError(source, number, "setup: belongs before the first step")
                setup = _command(value, source, number, "setup")
                if not setup.startswith("cluster"):
                    raise LessonError(source, number, "setup: must be a 'cluster ...' command")
                continue
            if not steps:
                raise LessonError(source, number, f"{key}: outside a step (start a step with '## Title')")
            _directive(steps[-1], key, value, source, number)
            continue
        if steps:
            steps[-1].narration.append(line)
        elif line.strip() and not line.startswith("#"):
            raise LessonError(source, number, "text before the first step ('## Title') that is not the title")
    if not title:
        raise LessonError(source, 1, "no title (the first line should be '# Title')")
    if not setup:
        raise LessonError(source, 1, "no setup line ('setup: cluster 5 seed=1')")
    if not steps:
        raise LessonError(source, 1, "no steps ('## Step title' starts one)")
    for step in steps:
        if step.task and not step.checks:
            raise LessonError(source, step.line, f"step '{step.title}' has a task but no check:")
        if step.checks and not step.task:
            raise LessonError(source, step.line, f"step '{step.title}' has a check: but no task:")
        if step.task and not step.solution:
            raise LessonError(source, step.line, f"step '{step.title}' has a task but no solution: commands")
        if not step.text and not step.task:
            raise LessonError(source, step.line, f"step '{step.title}' has neither narration nor a task")
    return Lesson(name, title, setup, steps, source, text)


def _command(text: str, source: str, line: int, key: str) -> str:
    try:
        command = parse_line(text, line, source)
    except ScriptError as exc:
        raise LessonError(source, line, f"{key}: {exc.message}") from None
    if command is None:
        raise LessonError(source, line, f"{key}: needs a command")
    return command.text


def _condition(text: str, source: str, line: int, key: str) -> Condition:
    try:
        return parse_condition(text)
    except ConditionError as exc:
        raise LessonError(source, line, f"{key}: {exc}") from None


def _directive(step: Step, key: str, value: str, source: str, line: int) -> None:
    if key == "run":
        step.run.append(_command(value, source, line, key))
    elif key == "expect":
        step.expect.append((line, _condition(value, source, line, key)))
    elif key == "task":
        if step.task:
            raise LessonError(source, line, "one task per step")
        step.task = value
    elif key == "check":
        step.checks.append(_condition(value, source, line, key))
    elif key == "hint":
        if step.hint:
            raise LessonError(source, line, "one hint per step (a narration line may not start with 'hint:')")
        step.hint = value
    elif key == "solution":
        step.solution.append(_command(value, source, line, key))
    elif key == "pace":
        if value.endswith("x") and value != "max":
            value = value[:-1] + "×"  # 1x reads as 1×: the one key most people can type
        if value not in PACES:
            raise LessonError(source, line, f"pace: one of {', '.join(PACES)}")
        if step.pace:
            raise LessonError(source, line, "one pace per step")
        step.pace = value


def lesson_names(directory: Path = LESSONS_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob(f"*{SUFFIX}"))


def _number(name: str) -> int | None:
    """The number prefix of a lesson's file name (``12-compaction`` -> 12), if any."""
    prefix = name.split("-", 1)[0]
    return int(prefix) if prefix.isdigit() else None


def find_lesson(name: str, directory: Path = LESSONS_DIR) -> Path:
    """A lesson by its number (``3``, ``03``), its file name, or a unique part of its name.

    An exact number wins over a part (``1`` is lesson 1, not 10, 11 and 12),
    then an exact name; only then is a part of a name tried, and it must name
    one lesson.
    """
    names = lesson_names(directory)
    wanted = name.strip()
    if wanted.isdigit():
        numbered = [n for n in names if _number(n) == int(wanted)]
        if len(numbered) == 1:
            return directory / f"{numbered[0]}{SUFFIX}"
    if wanted in names:
        return directory / f"{wanted}{SUFFIX}"
    choices = ", ".join(names) or "(none)"
    candidates = [n for n in names if wanted and wanted in n]
    if len(candidates) == 1:
        return directory / f"{candidates[0]}{SUFFIX}"
    if len(candidates) > 1:
        raise FileNotFoundError(
            f"{wanted!r} matches {len(candidates)} lessons ({', '.join(candidates)}): "
            "give its number or more of its name"
        )
    raise FileNotFoundError(f"no single lesson matches {wanted!r} (none does); lessons: {choices}")


def next_lesson_name(lesson: Lesson, directory: Path = LESSONS_DIR) -> str | None:
    """The name of the lesson after this one in ``directory`` (None: the last, or not from there)."""
    names = lesson_names(directory)
    if lesson.name not in names or Path(lesson.source).resolve().parent != directory.resolve():
        return None
    index = names.index(lesson.name) + 1
    return names[index] if index < len(names) else None


def next_lesson(lesson: Lesson, directory: Path = LESSONS_DIR) -> Lesson | None:
    """The lesson after this one (loaded), or None if it is the last."""
    name = next_lesson_name(lesson, directory)
    return load_lesson(directory / f"{name}{SUFFIX}") if name is not None else None


def load_lesson(path: Path) -> Lesson:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LessonError(str(path), 0, f"cannot read: {exc}") from None
    return parse_lesson(text, path.stem, str(path))


# ---------------------------------------------------------------------- what a check waits for

#: How a comparison reads after "want:" (``3.commit >= 5`` wants "≥ 5").
_WANT_OP = {"=": "", "!=": "not ", "<": "< ", "<=": "≤ ", ">": "> ", ">=": "≥ "}


def describe_wait(cond: Condition, lab: Lab) -> str:
    """What a check reads now next to what it wants: ``3.role now: follower · want: candidate``.

    The learner sees the value that keeps the lesson waiting, not only the
    condition's text, so "what is left to do" is plain from the panel.
    """
    now, want = _now_and_want(cond, lab)
    subject = f"{cond.node}.{cond.field} " if cond.kind == "field" else ""
    if cond.kind == "not" and cond.inner is not None and cond.inner.kind == "field":
        subject = f"{cond.inner.node}.{cond.inner.field} "
    return f"{subject}now: {now} · want: {want}"


def _now_and_want(cond: Condition, lab: Lab) -> tuple[str, str]:
    kind = cond.kind
    if kind == "not":
        assert cond.inner is not None
        now, want = _now_and_want(cond.inner, lab)
        if want.endswith(" on every live node"):
            # not all.F = V: one live node that differs is enough.
            want = want.removesuffix(" on every live node")
            return now, f"{want[4:]} on some live node" if want.startswith(
                "not "
            ) else f"not {want} on some live node"
        return now, want[4:] if want.startswith("not ") else f"not {want}"
    if kind in ("leader", "leader=", "no-leader", "leaders"):
        leaders = lab.leaders()
        now = ", ".join(f"{v.id} leads term {v.term}" for v in leaders) or "no leader"
        if kind == "leader":
            return now, "a leader"
        if kind == "leader=":
            return now, f"node {cond.node} leads"
        if kind == "no-leader":
            return now, "no leader"
        return f"{len(leaders)} leader(s)", f"{_WANT_OP[cond.op]}{cond.value} leader(s)"
    if kind == "idle":
        return f"{len(lab.pending_requests())} client request(s) waiting", "none waiting"
    if kind == "violated":
        return evaluate(cond, lab)[1], f"{cond.value or 'an invariant'} violated"
    if kind == "messages":
        return f"{len(lab.flights)} in flight", f"{_WANT_OP[cond.op]}{cond.value} in flight"
    if kind == "time":
        return f"t={lab.now}", f"t {_WANT_OP[cond.op] or '= '}{cond.value}"
    if kind == "kv":
        live = sorted((v for v in lab.views.values() if v.alive), key=lambda v: v.id)
        have = " ".join(f"{v.id}:{v.kv.data.get(cond.field, '-')}" for v in live) or "no live node"
        return f"{cond.field} on {have}", f"{cond.field}={cond.value} on every live node"
    # A field comparison: the value each node it names has, and the value wanted.
    expected = cond.value
    if cond.ref is not None:
        ref_views, missing = _named(lab, cond.ref[0])
        read = ref_views[0].status_fields()[cond.ref[1]] if ref_views else missing
        expected = f"{cond.value} ({read})"
    want = f"{_WANT_OP[cond.op]}{expected}"
    views, missing = _named(lab, cond.node)
    if not views:
        return missing, want
    if cond.node == "all":
        return " ".join(
            f"{v.id}:{v.status_fields()[cond.field]}" for v in views
        ), f"{want} on every live node"
    return views[0].status_fields()[cond.field], want


def _named(lab: Lab, node: str) -> tuple[list[NodeView], str]:
    """The nodes a condition names (an id, ``leader``, or every live node), or why none."""
    if node == "all":
        views = sorted((v for v in lab.views.values() if v.alive), key=lambda v: v.id)
        return views, "" if views else "no live node"
    if node == "leader":
        leader = lab.leader()
        return ([lab.views[leader]], "") if leader else ([], "no leader")
    view = lab.views.get(int(node))
    return ([view], "") if view is not None else ([], f"no node {node}")


# ---------------------------------------------------------------------- running


@dataclass(slots=True)
class StepResult:
    """What entering a step did: output lines, and any failure."""

    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


class LessonRunner:
    """Walks a lesson over a ``History``: enter a step, check its task, go back.

    Going back rewinds history to where the step began, so the cluster is
    exactly as the narration of that step describes it. The learner may do
    anything in between (pause, step, crash...): checks look at what actually
    happened, and a check that already holds passes at once.
    """

    def __init__(self, lesson: Lesson, history: History) -> None:
        self.lesson = lesson
        self.history = history
        self.index = -1
        #: History position just before each entered step ran its run: commands.
        self.before: dict[int, int] = {}
        #: History position once each entered step had run them (its "start" as shown).
        self.entered_at: dict[int, int] = {}
        #: The current step's expectations failed on entering it: the learner played
        #: on before pressing Next, so the cluster is not what the narration describes.
        self.off_path = False
        #: The earliest position history was rewound to since ``forget_rewind`` (None: not rewound).
        self.rewound_to: int | None = None

    def forget_rewind(self) -> None:
        self.rewound_to = None

    def _rewind(self, position: int) -> None:
        self.history.rewind(position)
        self.rewound_to = position if self.rewound_to is None else min(self.rewound_to, position)

    @property
    def step(self) -> Step:
        return self.lesson.steps[self.index]

    @property
    def at_step_start(self) -> bool:
        """Nothing has happened since the current step was entered (``0`` would change nothing)."""
        return self.history.position == self.entered_at.get(self.index, -1)

    def start(self) -> StepResult:
        """Set up the cluster and enter step 1."""
        outcome = self.history.run_text(self.lesson.setup)
        result = self.enter(0)
        if outcome.failure:
            result.failures.insert(0, outcome.failure)
        return result

    def enter(self, index: int) -> StepResult:
        """Run step ``index``'s own commands and check its expectations."""
        self.index = index
        self.before[index] = self.history.position
        step = self.lesson.steps[index]
        result = StepResult()
        for text in step.run:
            outcome = self.history.run_text(text)
            result.lines += [f"> {text}", *outcome.lines]
            if outcome.failure:
                result.failures.append(f"{self.lesson.source}:{step.line}: run: {text}: {outcome.failure}")
        result.failures += self.failed_expectations()
        self.entered_at[index] = self.history.position
        self.off_path = bool(result.failures)
        return result

    def failed_expectations(self) -> list[str]:
        lab = self.history.session.lab
        failures = []
        for line, cond in self.step.expect:
            ok, seen = evaluate(cond, lab) if lab is not None else (False, "no cluster")
            if not ok:
                failures.append(f"{self.lesson.source}:{line}: expect {cond.text}: false ({seen})")
        return failures

    def task_done(self) -> tuple[bool, str]:
        """Whether the current step's task is done (True if it has none), and what is
        seen: for each check that does not hold yet, its value now and the value wanted."""
        step = self.step
        if not step.checks:
            return True, ""
        lab = self.history.session.lab
        if lab is None:
            return False, "no cluster"
        waiting = [describe_wait(cond, lab) for cond in step.checks if not evaluate(cond, lab)[0]]
        return not waiting, "; ".join(waiting)

    def next(self) -> StepResult | None:
        """Move on if the task is done; None if it is not (or this is the last step)."""
        if self.index + 1 >= len(self.lesson.steps) or not self.task_done()[0]:
            return None
        return self.enter(self.index + 1)

    def back(self) -> StepResult | None:
        """Return to the start of the previous step (history rewinds there)."""
        if self.index <= 0:
            return None
        return self.jump(self.index - 1)

    def jump(self, index: int) -> StepResult:
        """Go to any step. Backwards, history rewinds to where that step began; forwards,
        every step in between is entered with its documented solution performed.

        Forwards from where the learner played freely, a solution may no longer
        apply (the message it delivers is gone); then the lesson is rebuilt
        along its own path, so a jump always arrives.
        """
        if index <= self.index:
            self._rewind(self.before[index])
            return self.enter(index)
        result = self._forward(index)
        if result is None:
            return self.rebuild(index)
        return result

    def _forward(self, index: int) -> StepResult | None:
        """Enter every step up to ``index`` by its solution; None where one does not do its task."""
        result = StepResult()
        while self.index < index:
            if not self.task_done()[0]:
                for text in self.step.solution:
                    self.history.run_text(text)
            entered = self.next()
            if entered is None:
                return None
            result = entered
        return result

    def rebuild(self, index: int) -> StepResult:
        """Step ``index`` as the lesson's own path reaches it: back to the start of step 1,
        then every task done by its documented solution (as ``--check`` does)."""
        self._rewind(self.before[0])
        self.before = {}
        self.entered_at = {}
        result = self.enter(0)
        if index == 0:
            return result
        forward = self._forward(index)
        if forward is None:
            result.failures.append(f"step {self.index + 1}'s task is not done even by its solution")
            return result
        return forward

    def reset_step(self) -> StepResult:
        """Back to where the current step began (after free play); if the step was
        entered off the lesson's path, rebuilt as the lesson describes it."""
        if self.off_path:
            return self.rebuild(self.index)
        self._rewind(self.before[self.index])
        return self.enter(self.index)


def check_lesson(lesson: Lesson, backend: str | None = None, log: Callable[[str], None] = print) -> list[str]:
    """Run a lesson headless: every step, every expectation, every task by its solution.

    Returns the failures (empty: the lesson is sound), each naming file and line.
    """
    history = History(lambda: Session(backend=backend))
    runner = LessonRunner(lesson, history)
    failures: list[str] = []
    try:
        result = runner.start()
        failures += result.failures
        while True:
            step = runner.step
            log(f"  step {runner.index + 1}/{len(lesson.steps)}: {step.title}")
            if step.checks:
                for text in step.solution:
                    outcome = history.run_text(text)
                    if outcome.failure:
                        failures.append(f"{lesson.source}:{step.line}: solution: {text}: {outcome.failure}")
                done, seen = runner.task_done()
                if not done:
                    failures.append(
                        f"{lesson.source}:{step.line}: the solution does not satisfy its checks ({seen})"
                    )
                    break
            if runner.index + 1 >= len(lesson.steps):
                break
            entered = runner.next()
            assert entered is not None
            failures += entered.failures
        lab = history.session.lab
        wanted = history.session.expected_violation
        # A find-the-bug lesson arms ``expect violation``: the violation it wants is its point.
        found = lab.violations if lab is not None else []
        unexpected = [v for v in found if wanted is None or wanted not in ("", v.invariant)]
        if unexpected:
            failures.append(f"{lesson.source}: invariant violated: {unexpected[0].describe()}")
    finally:
        history.close()
    return failures
