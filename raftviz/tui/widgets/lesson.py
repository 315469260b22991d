"""The lesson panel: where the lesson stands, its narration, the task and its check."""

from __future__ import annotations

from rich.console import Group
from rich.markdown import Markdown
from rich.text import Text

from raftviz.tui.controller import LessonView
from raftviz.tui.widgets.panels import Painted


def render_lesson(view: LessonView | None, show_hint: bool) -> Group | Text:
    if view is None:
        return Text("loading the lesson…", style="dim")
    head = Text()
    head.append(f" {view.title} ", style="bold white on blue")
    head.append(f"  step {view.index + 1} of {view.total}", style="bold")
    parts: list[object] = [head, Text(view.step_title, style="bold underline"), Markdown(view.text or " ")]
    if view.task:
        task = Text()
        task.append("Your task: ", style="bold magenta")
        task.append(view.task)
        parts.append(task)
        if view.done:
            parts.append(Text("✔ done — press ] for the next step", style="bold black on green"))
        else:
            # What the check reads now next to what it wants ("3.role now: follower · want: candidate").
            parts.append(Text(f"… {view.seen}" if view.seen else "… waiting", style="yellow"))
        if show_hint and view.hint:
            parts.append(Text(f"Hint: {view.hint}", style="italic cyan"))
    elif view.index + 1 < view.total:
        parts.append(Text("press ] for the next step", style="bold green"))
    else:
        parts.append(Text("the end of this lesson — raftviz lesson lists the others", style="bold green"))
    if view.problems:
        # An expectation of this step does not hold: the learner played on past
        # what the narration describes (or the lesson is wrong: --check says which).
        parts.append(
            Text(
                "⚠ The cluster has moved on from what this step describes: 0 puts it back "
                "to the start of this step, [ to the previous one.",
                style="bold yellow",
            )
        )
    keys = Text("[ back   ] next   j jump   h hint   0 reset step   (play freely any time)", style="dim")
    parts.append(keys)
    return Group(*parts)  # type: ignore[arg-type]


class LessonPanel(Painted):
    """The narration pane, always in the same place, Back and Next always on [ and ]."""

    def show(self, view: LessonView | None, show_hint: bool) -> None:
        self.update(render_lesson(view, show_hint))
