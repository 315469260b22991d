"""The footer: the keys a user needs most, whole items only, chosen by priority to fit the width.

Textual's own footer lays every binding out in order and cuts the line at the
right edge, mid-item, so at 100 columns the keys a class demo needs most
(partition, heal, the command line) fell off the end. This one decides
which items fit before drawing: items are tried in priority order and an
item is shown whole or not at all; what is shown keeps that order, so the
most needed keys are always at the left, where the eye starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual.events import Click
from textual.widget import Widget

#: Cells between two items.
GAP = 2


@dataclass(frozen=True, slots=True)
class FooterItem:
    """One key in the footer: what to press, a word for what it does, and the app action."""

    key: str
    label: str
    action: str

    @property
    def width(self) -> int:
        return cell_len(self.key) + 1 + cell_len(self.label)


def choose(items: list[FooterItem], width: int) -> list[FooterItem]:
    """The items that fit in ``width`` cells, taken whole in priority order (``items``' order).

    The first item that does not fit ends the line: a short, less needed key never
    takes the place of a more needed one that was a few cells too long.
    """
    chosen: list[FooterItem] = []
    used = 1  # a leading space
    for item in items:
        need = item.width + (GAP if chosen else 0)
        if used + need > width:
            break
        chosen.append(item)
        used += need
    return chosen


class KeysFooter(Widget):
    """One line of keys at the bottom of the screen; a click on an item runs its action."""

    DEFAULT_CSS = """
    KeysFooter {
        dock: bottom;
        height: 1;
        background: $panel;
    }
    """

    def __init__(self, items: list[FooterItem], *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.items = items
        #: (first cell, last cell + 1, action) of each item drawn, for clicks.
        self._spans: list[tuple[int, int, str]] = []

    def shown(self, width: int | None = None) -> list[FooterItem]:
        """The items drawn at ``width`` (the widget's own width by default)."""
        return choose(self.items, self.size.width if width is None else width)

    def render(self) -> Text:
        text = Text(" ", no_wrap=True, overflow="crop", end="")
        self._spans = []
        for item in self.shown():
            if len(text) > 1:
                text.append(" " * GAP)
            start = text.cell_len
            text.append(item.key, style="bold reverse")
            text.append(" " + item.label)
            self._spans.append((start, text.cell_len, item.action))
        return text

    def on_click(self, event: Click) -> None:
        for start, end, action in self._spans:
            if start <= event.x < end:
                self.run_action(f"app.{action}")
                return
