"""The branch view: the history tree with its marks; Enter goes to a branch's tip or a mark.

Going back and acting differently starts a branch and keeps the old future
(raftviz.lab.history); this screen shows every branch indented under the one
it grew from, where it forked, its tip and its marks, with the branch being
followed highlighted. Choosing a row ends in a ``goto`` command, like every
other action, so the move is in the saved session too.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from raftviz.lab.history import BranchInfo
from raftviz.tui.screens.dialogs import Dialog


def tree_rows(branches: list[BranchInfo], position: int) -> list[tuple[str, Text]]:
    """(goto target, row) for every branch tip and mark, depth-first from the first branch."""
    children: dict[int, list[BranchInfo]] = {}
    for info in branches:
        children.setdefault(info.parent, []).append(info)
    rows: list[tuple[str, Text]] = []

    def visit(info: BranchInfo, depth: int) -> None:
        indent = "  " * depth + ("└ " if depth else "")
        row = Text(indent)
        row.append("▶ " if info.current else "  ", style="bold yellow")
        row.append(f"branch {info.id}", style="bold reverse" if info.current else "bold")
        origin = "from the start" if info.id == 1 else f"forked at {info.fork}"
        row.append(f"  {origin} · tip {info.tip} · {info.length} positions")
        if info.tip == position:
            row.append("  ← you are here", style="bold green")
        rows.append((str(info.tip), row))
        for name, at in info.marks:
            mark = Text("  " * (depth + 1) + "  ")
            mark.append(f"⚑ {name}", style="bold magenta")
            mark.append(f" at {at}")
            if at == position:
                mark.append("  ← you are here", style="bold green")
            rows.append((name, mark))
        for child in sorted(children.get(info.id, []), key=lambda b: (b.fork, b.id)):
            visit(child, depth + 1)

    for root in children.get(0, []):
        visit(root, 0)
    return rows


class BranchScreen(Dialog[str | None]):
    """Pick a branch tip or a mark; dismissed with the ``goto`` target, or None."""

    CLOSING_KEYS = frozenset({"escape", "enter", "B"})
    BINDINGS = [Binding("escape,B", "cancel", "close")]

    def __init__(self, branches: list[BranchInfo], position: int) -> None:
        super().__init__()
        self.rows = tree_rows(branches, position)
        self.position = position

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("History: branches and marks", id="dialog-title")
            yield Static(
                "Going back and acting differently starts a branch; the old one stays. "
                "Enter goes to a branch's tip or a mark (:mark NAME sets one); Escape closes.",
                id="dialog-hint",
            )
            options = [Option(row, id=target) for target, row in self.rows]
            yield OptionList(*options, id="branch-list")

    def on_mount(self) -> None:
        listing = self.query_one(OptionList)
        current = next((i for i, (_t, row) in enumerate(self.rows) if "▶" in row.plain), 0)
        listing.highlighted = current
        listing.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.close(event.option.id)

    def action_cancel(self) -> None:
        self.close(None)
