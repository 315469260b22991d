"""A light, selectable list of one-line rows.

Textual's DataTable re-lays-out the whole screen whenever its number of rows
changes, which the messages list and the event feed do on nearly every step
(about 100 ms a time on the main screen). This list only repaints: it draws
the visible window of rows itself, keeps a cursor, and reports a selection.

A row is a ready ``Text``, a ``RowParts`` (laid out at the list's width, so
its essentials always show; see ``rows.py``), or anything with a ``parts()``
method giving one (a row whose content changes, such as a growing fold).
Only the rows on screen are laid out. The cursor row is marked so that it
reads from the back of a room and without colour: a ``▶`` in the first
column and reversed video (``▷`` and underlined when the list lacks focus).
"""

from __future__ import annotations

from typing import Protocol

from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.message import Message
from textual.widget import Widget

from raftviz.tui.widgets.drawn import drawn
from raftviz.tui.widgets.rows import RowParts, choose_level

CURSOR_STYLE = "bold reverse"
CURSOR_STYLE_UNFOCUSED = "underline"
CURSOR_MARK, CURSOR_MARK_UNFOCUSED = "▶", "▷"


class HasParts(Protocol):
    def parts(self) -> RowParts: ...


Row = Text | RowParts | HasParts


class RowList(Widget, can_focus=True):
    """Rows of (key, text) under a header line; ↑/↓ move the cursor, Enter selects."""

    BINDINGS = [
        Binding("up", "cursor(-1)", "up", show=False),
        Binding("down", "cursor(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "cursor_to(0)", "first", show=False),
        Binding("end", "cursor_to(-1)", "last", show=False),
        Binding("enter", "select", "select", show=False),
    ]

    class Selected(Message):
        """Enter (or a click on the cursor row) on a row."""

        def __init__(self, row_list: RowList, key: str) -> None:
            super().__init__()
            self.row_list = row_list
            self.key = key

    def __init__(self, header: str, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.header = header
        self.keys: list[str] = []
        self.rows: list[Row] = []
        self.cursor = 0
        self._top = 0

    # ------------------------------------------------------------------ content

    @property
    def row_count(self) -> int:
        return len(self.keys)

    def set_rows(self, rows: list[tuple[str, Row]]) -> None:
        """Replace every row, keeping the cursor on the same key if it is still there."""
        current = self.cursor_key()
        self.keys = [key for key, _ in rows]
        self.rows = [row for _, row in rows]
        self.cursor = (
            self.keys.index(current) if current in self.keys else min(self.cursor, max(len(rows) - 1, 0))
        )
        self.refresh()

    def append_rows(self, rows: list[tuple[str, Row]], follow: bool = True) -> None:
        at_end = self.cursor >= len(self.keys) - 1
        for key, row in rows:
            self.keys.append(key)
            self.rows.append(row)
        if follow and at_end and self.keys:
            self.cursor = len(self.keys) - 1
        self.refresh()

    def remove_where(self, drop: list[bool]) -> None:
        current = self.cursor_key()
        self.keys = [k for k, d in zip(self.keys, drop, strict=True) if not d]
        self.rows = [t for t, d in zip(self.rows, drop, strict=True) if not d]
        self.cursor = self.keys.index(current) if current in self.keys else max(len(self.keys) - 1, 0)
        self.refresh()

    def cursor_key(self) -> str | None:
        return self.keys[self.cursor] if 0 <= self.cursor < len(self.keys) else None

    def move_cursor(self, row: int) -> None:
        if self.keys:
            self.cursor = min(max(row, 0), len(self.keys) - 1)
            self.refresh()

    def row_index(self, key: str) -> int:
        return self.keys.index(key)

    # ------------------------------------------------------------------ drawing

    def _visible(self) -> int:
        footer = 1 if self.footer_text(max(self.content_size.width, 1)) else 0
        return max(self.content_size.height - 1 - footer, 1)

    def header_text(self, width: int, level: int) -> str:
        """The header line (column names); ``level`` is the form level the rows on screen use."""
        return self.header

    def footer_text(self, width: int) -> str:
        """A last line under the rows (keys, a legend), or "" for none."""
        return ""

    def layout(self, rows: list[Row], width: int) -> tuple[list[Text], int]:
        """The rows laid out in ``width`` cells, and the form level they share."""
        parts = [r if isinstance(r, RowParts) else r.parts() for r in rows if not isinstance(r, Text)]
        level = choose_level(parts, width) if parts else 0
        out: list[Text] = []
        for row in rows:
            if isinstance(row, Text):
                line = row.copy()
                line.truncate(width, overflow="ellipsis", pad=True)
            else:
                line = (row if isinstance(row, RowParts) else row.parts()).layout(width, level)
            out.append(line)
        return out, level

    def plain_lines(self, width: int = 240) -> list[str]:
        """Every row as plain text at ``width`` (for tests and screen readers)."""
        texts, _ = self.layout(self.rows, width)
        return [t.plain.rstrip() for t in texts]

    def render(self) -> Text:
        height = self._visible()
        # Keep the cursor in view, moving the window as little as possible.
        if self.cursor < self._top:
            self._top = self.cursor
        elif self.cursor >= self._top + height:
            self._top = self.cursor - height + 1
        self._top = max(min(self._top, max(len(self.keys) - height, 0)), 0)
        width = max(self.content_size.width, 1)
        shown = range(self._top, min(self._top + height, len(self.keys)))
        # One column for the cursor mark; rows lay themselves out in the rest.
        texts, level = self.layout([self.rows[i] for i in shown], max(width - 1, 1))
        out = Text(no_wrap=True, overflow="ellipsis")
        header = self.header_text(width, level)
        out.append(header[:width].ljust(width), style="bold reverse")
        for i, line in zip(shown, texts, strict=True):
            out.append("\n")
            if i == self.cursor:
                mark = CURSOR_MARK if self.has_focus else CURSOR_MARK_UNFOCUSED
                line.stylize(CURSOR_STYLE if self.has_focus else CURSOR_STYLE_UNFOCUSED)
                out.append(mark, style="bold")
            else:
                out.append(" ")
            out.append_text(line)
        footer = self.footer_text(width)
        if footer:
            for _ in range(height - len(texts)):
                out.append("\n")
            out.append("\n")
            out.append(footer[:width].ljust(width), style="italic")
        return drawn(out)

    # ------------------------------------------------------------------ keys and mouse

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor + direction * self._visible())

    def action_cursor_to(self, row: int) -> None:
        self.move_cursor(row if row >= 0 else len(self.keys) - 1)

    def action_select(self) -> None:
        key = self.cursor_key()
        if key is not None:
            self.post_message(self.Selected(self, key))

    def on_click(self, event: Click) -> None:
        row = self._top + event.y - 1
        if event.y >= 1 and 0 <= row < len(self.keys):
            if row == self.cursor:
                self.action_select()
            self.move_cursor(row)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()


class ClockKeysList(RowList):
    """A row list whose left/right keys stay the clock's (step back / step), as everywhere."""

    BINDINGS = [
        Binding("left", "clock_back", "back", show=False),
        Binding("right", "clock_step", "step", show=False),
    ]

    def action_clock_back(self) -> None:
        self.app.action_step_back()  # type: ignore[attr-defined]

    def action_clock_step(self) -> None:
        self.app.action_step()  # type: ignore[attr-defined]
