"""The lesson panel: where the lesson stands, its narration, the task and its check."""

from __future__ import annotations

from rich.console import Group
from rich.markdown import Markdown
from rich.text import Text

from raftviz.tui.controller import LessonView
from raftviz.tui.widgets.panels import Painted

#: What ``0`` does, as the keys line offers it (nothing is offered when it would do nothing).
RESET_KEYS = {"step": "0 back to this step's start   ", "rebuild": "0 rebuild this step   "}


def render_lesson(
    view: LessonView | None, show_hint: bool, busy: str = "", has_next: bool = False
) -> Group | Text:
    if view is None:
        return Text(f"⏳ {busy}" if busy else "loading the lesson…", style="dim")
    head = Text()
    head.append(f" {view.title} ", style="bold white on blue")
    head.append(f"  step {view.index + 1} of {view.total}", style="bold")
    if busy:
        # Entering a step can replay thousands of events: say so instead of freezing.
        head.append(f"   ⏳ {busy}", style="bold black on yellow")
    parts: list[object] = [head, Text(view.step_title, style="bold underline"), Markdown(view.text or " ")]
    last = view.index + 1 >= view.total
    # A follower's teacher moves the lesson on: it cannot, until it forks.
    go_on = "the teacher moves the lesson on" if view.led == "teacher" else "press ] for the next step"
    if view.task:
        task = Text()
        task.append("Your task: ", style="bold magenta")
        task.append(view.task)
        parts.append(task)
        if view.done:
            follow = go_on if not last else _lesson_done(has_next)
            parts.append(Text(f"✔ done — {follow}", style="bold black on green"))
        else:
            # What the check reads now next to what it wants ("3.role now: follower · want: candidate").
            parts.append(Text(f"… {view.seen}" if view.seen else "… waiting", style="yellow"))
        if show_hint and view.hint:
            parts.append(Text(f"Hint: {view.hint}", style="italic cyan"))
    elif not last:
        parts.append(Text(go_on, style="bold green"))
    else:
        parts.append(Text(_lesson_done(has_next), style="bold green"))
    if view.problems:
        # An expectation of this step does not hold: the learner played on before
        # pressing Next (or the lesson is wrong: --check says which).
        offer = (
            "press 0 to rebuild it as the lesson tells it"
            if view.reset == "rebuild"
            else "press 0 to put it back to the start of this step"
        )
        parts.append(
            Text(
                f"⚠ The cluster is not what this step describes (you played on before it): {offer}.",
                style="bold yellow",
            )  # fmt: skip
        )
    reset = RESET_KEYS.get(view.reset, "")
    nxt = "N next lesson   " if last and has_next else ""
    keys = Text(f"[ back   ] next   j jump   h hint   {reset}{nxt}(play freely any time)", style="dim")
    if view.led == "teacher":
        keys = Text("h hint   f fork: the cluster and ] become yours", style="dim")
    elif view.led == "fork":
        keys = Text("] next   h hint   f follow the teacher again   (play freely any time)", style="dim")
    parts.append(keys)
    return Group(*parts)  # type: ignore[arg-type]


def _lesson_done(has_next: bool) -> str:
    if has_next:
        return "lesson done — N for the next lesson"
    return "lesson done — the last lesson; raftviz lesson lists them all"


class LessonPanel(Painted):
    """The narration pane, always in the same place, Back and Next always on [ and ]."""

    def show(self, view: LessonView | None, show_hint: bool, busy: str = "", has_next: bool = False) -> None:
        self.update(render_lesson(view, show_hint, busy, has_next))
