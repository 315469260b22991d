"""The space-time (Lamport) diagram: one lane per node, history running down, one row per event.

Each lane is drawn by the node's role (``┃`` leader, ``┆`` candidate, ``│``
follower, ``┊`` down: shape and colour both say it). A message is sent on one
row (its glyph on the sender's lane: the ring's glyphs, ``●`` vote, ``■``
append, ``▪`` heartbeat, ``◆`` client; hollow for a reply) and arrives on a
later row: a run from the sender's lane (``└──▶`` or ``◀──┘``: it comes down
the sender's lane from its send) to its glyph on the receiver's; a refused
message or a negative reply has a hollow head (``▷``). A lost or dropped
message's run ends in ``✕`` short of its receiver. Crashes (``✖``),
restarts (``↻``), timeouts (``◷``), role changes (``L``, ``C``, ``F``), term
changes (``T``), commits (``✓``) are marked on their lane, partitions and heals
across every lane (``═``). Each row says what happened in words on the right;
a position the last search matched has a ``◆`` beside its number; a legend
fills the lines under the rows until a message is chosen.

Only the rows on screen are drawn (``render_line``), from the app's compact
rows (``tui/diagram.py``), so a history of any length scrolls at once. The
cursor is the history position: moving it posts ``CursorMoved`` and the app
goes there; the app moving elsewhere moves the cursor (``show_position``).
"""

from __future__ import annotations

import bisect
from functools import lru_cache

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from raftviz.tui.diagram import (
    AT_SEND,
    CLIENTS,
    KINDS,
    MSG_TYPES,
    REJECTED,
    ROLES,
    DiagramRows,
)
from raftviz.tui.widgets.cluster.palette import CUT_STYLE, NO_STYLE, OK_STYLE, SNAPSHOT_STYLE

#: The lane line per role: glyph, style.
LANE: dict[str, tuple[str, str]] = {
    "follower": ("│", "grey50"),
    "candidate": ("┆", "bold bright_cyan"),
    "pre-candidate": ("╎", "cyan"),
    "leader": ("┃", "bold bright_yellow"),
    "down": ("┊", "red3"),
    "learner": ("│", "orchid1"),
    "outside": ("┊", "grey30"),
    "absent": (" ", ""),
}
#: A message's glyph and colour by type (the ring's: shape says the RPC, fill request or reply).
MSG_GLYPH: dict[str, tuple[str, str]] = {
    "RequestVote": ("●", "bold bright_cyan"),
    "RequestVoteReply": ("○", ""),
    "AppendEntries": ("▪", "grey62"),
    "AppendEntries+": ("■", "bold bright_white"),
    "AppendEntriesReply": ("□", ""),
    "InstallSnapshot": ("▣", SNAPSHOT_STYLE),
    "InstallSnapshotReply": ("▢", ""),
    "ClientRequest": ("◆", "bold magenta"),
    "ClientReply": ("◇", ""),
    "PreVote": ("◐", "cyan"),
    "PreVoteReply": ("◌", ""),
    "TimeoutNow": ("◎", "bold bright_magenta"),
    "": ("•", "white"),
}
#: The colour of an arrow's run by message type.
RUN_STYLE: dict[str, str] = {
    "RequestVote": "bright_cyan",
    "RequestVoteReply": "cyan",
    "AppendEntries": "grey50",
    "AppendEntries+": "bright_white",
    "AppendEntriesReply": "grey70",
    "InstallSnapshot": "orange1",
    "InstallSnapshotReply": "orange3",
    "ClientRequest": "magenta",
    "ClientReply": "magenta",
    "PreVote": "cyan",
    "PreVoteReply": "dark_cyan",
    "TimeoutNow": "bright_magenta",
    "": "white",
}
#: What a message type is called on its row.
MSG_WORD: dict[str, str] = {"AppendEntries": "heartbeat", "AppendEntries+": "AppendEntries"}
#: Marks on a lane, by row kind: glyph, style.
MARK: dict[str, tuple[str, str]] = {
    "timeout": ("◷", "bold bright_cyan"),
    "heartbeat": ("♥", "grey62"),
    "timer": ("◦", "grey62"),
    "crash": ("✖", "bold bright_red"),
    "restart": ("↻", "bold bright_green"),
    "start": ("✚", "bold bright_green"),
    "term": ("T", "bold black on grey70"),
    "commit": ("✓", "bold bright_green"),
    "config": ("≡", "bold orchid1"),
    "snapshot": ("▣", SNAPSHOT_STYLE),
    "request": ("◆", "bold magenta"),
    "retry": ("↺", "bold magenta"),
    "refused": ("⊘", "bold bright_red"),
    "command": ("•", "white"),
}
ROLE_MARK: dict[str, tuple[str, str]] = {
    "leader": ("L", "bold black on bright_yellow"),
    "candidate": ("C", "bold black on bright_cyan"),
    "pre-candidate": ("P", "bold black on cyan"),
    "follower": ("F", "bold black on grey85"),
    "down": ("✖", "bold bright_red"),
    "learner": ("l", "bold black on orchid1"),
    "outside": ("o", "bold black on grey50"),
}
#: The legend under the diagram (when no message is chosen): every mark, with its colour.
LEGEND: tuple[tuple[str, str, str], ...] = (
    ("┃", "bold bright_yellow", "leader"),
    ("┆", "bold bright_cyan", "candidate"),
    ("│", "grey50", "follower"),
    ("┊", "red3", "down"),
    ("●", "bold bright_cyan", "vote"),
    ("■", "bold bright_white", "append"),
    ("▪", "grey62", "heartbeat"),
    ("◆", "bold magenta", "client"),
    ("○□", OK_STYLE, "reply"),
    ("▷", NO_STYLE, "refused"),
    ("✕", CUT_STYLE, "lost"),
    ("◷", "bold bright_cyan", "timeout"),
    ("✖", "bold bright_red", "crash"),
    ("↻", "bold bright_green", "restart"),
    ("LCF", "bold black on bright_yellow", "role"),
    ("T", "bold black on grey70", "term"),
    ("✓", "bold bright_green", "commit"),
    ("╪═╪", CUT_STYLE, "network"),
    ("◆", "bold bright_magenta", "search match"),
)
#: Rows about one message.
MARK_KINDS_MESSAGE = frozenset(("send", "deliver", "lost", "drop", "duplicate"))
LOST_MARK = "✕"
CURSOR_MARK = "▶"
#: A position the last search matched (beside its number).
MATCH_MARK, MATCH_STYLE = "◆", "bold bright_magenta"
CURSOR_BG = "grey23"
LABEL_STYLE = "white"
DIM = "grey50"
GUTTER_STYLE = "grey62"


@lru_cache(maxsize=512)
def _style(spec: str) -> Style:
    return Style.parse(spec) if spec else Style()


def lane_name(lane: int) -> str:
    return "c" if lane == CLIENTS else str(lane)


def _address(lane: int) -> str:
    return "client" if lane == CLIENTS else str(lane)


def _outcome(mtype: str, rejected: bool) -> str:
    votes = ("RequestVoteReply", "PreVoteReply")
    if not rejected:
        return "granted" if mtype in votes else "ok"
    return "denied" if mtype in votes else "rejected"


def row_words(rows: DiagramRows, i: int) -> str:
    """Row ``i`` in words: ``#7 3→2 RequestVoteReply t1 granted``."""
    kind = KINDS[rows.kind[i]]
    lane, other, msg, term = rows.lane[i], rows.other[i], rows.msg[i], rows.term[i]
    mtype = MSG_TYPES[rows.mtype[i]]
    rejected = bool(rows.flags[i] & REJECTED)
    word = MSG_WORD.get(mtype, mtype)
    said_term = "" if mtype.startswith("Client") else f" t{term}"  # a client's message has no term
    node = _address(lane)
    if kind == "send":
        count = rows.count[i]
        ids = f"#{msg}" if count == 1 else f"#{msg}..{msg + count - 1}"
        to = ",".join(_address(d) for d in range(1, CLIENTS + 1) if other >> d & 1)
        sent = f"{ids} {node}→{to} {word}{said_term}"
        if mtype.endswith("Reply"):
            return f"{sent} {_outcome(mtype, rejected)}"
        return sent
    if kind in ("deliver", "lost", "drop", "duplicate"):
        base = f"#{msg} {_address(other)}→{node} {word}{said_term}"
        if kind == "deliver":
            if mtype.endswith("Reply"):
                return f"{base} {_outcome(mtype, rejected)}"
            return f"{base} refused" if rejected else base
        if kind == "lost":
            cause = rows.texts.get(i, "")
            return f"{base} LOST" + (f": {cause}" if cause else "")
        return f"{base} {'DROPPED' if kind == 'drop' else 'duplicated'}"
    if kind == "role":
        role = ROLES[rows.count[i]]
        return f"{node} {'LEADER' if role == 'leader' else role} t{term}"
    words = {
        "timeout": f"{node} election timeout",
        "heartbeat": f"{node} heartbeat timer",
        "timer": f"{node} timer",
        "crash": f"{node} crashed",
        "restart": f"{node} restarted",
        "start": f"{node} started",
        "term": f"{node} term {term}",
        "commit": f"{node} commit={term}",
        "snapshot": f"{node} snapshot={term}",
    }
    return words.get(kind) or rows.texts.get(i, kind)


class Layout:
    """Where each lane and the words go at one width."""

    def __init__(self, width: int, lanes: list[int], last_position: int, last_time: int = 0) -> None:
        self.width = width
        self.lanes = lanes
        self.gutter = max(len(str(last_position)), 3) + 2
        n = max(len(lanes), 1)
        # The words need about 50 columns; the lanes get the rest, 4 to 8 apart.
        room = width - self.gutter - 50
        self.spacing = max(4, min(8, room // n))
        self.x = {lane: self.gutter + self.spacing // 2 + k * self.spacing for k, lane in enumerate(lanes)}
        self.label = self.gutter + n * self.spacing + 1
        #: Virtual time before the words, when there is room for it.
        self.timed = width - self.label >= 48
        self.time_width = len(str(last_time)) + 2


class DiagramView(Widget, can_focus=True):
    """The space-time diagram of the history followed; the cursor is the history position."""

    BINDINGS = [
        Binding("up", "move(-1)", "up", show=False),
        Binding("down", "move(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "move_to(0)", "first", show=False),
        Binding("end", "move_to(-1)", "last", show=False),
        Binding("enter", "choose", "the message on this row", show=False),
        Binding("escape", "close", "back to the ring", show=False),
    ]

    class CursorMoved(Message):
        """The cursor went to another row (the app goes to its position)."""

        def __init__(self, position: int) -> None:
            super().__init__()
            self.position = position

    class MessageChosen(Message):
        """Enter (or a click) on a message's row: the app fetches what it said and why."""

        def __init__(self, row: int, position: int, msg: int) -> None:
            super().__init__()
            self.row = row
            self.position = position
            self.msg = msg

    class Closed(Message):
        """Esc: back to the ring."""

    def __init__(self, rows: DiagramRows, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.rows = rows
        self.cursor = 0
        self.top = 0
        #: Nodes of the cluster now (a lane each, even before they did anything).
        self.nodes: tuple[int, ...] = ()
        #: The message chosen (its rows are highlighted) and the words about it.
        self.chosen: int | None = None
        self.detail: tuple[str, ...] = ()
        #: Positions the last search (``/``) matched, in order: their rows are marked ``◆``.
        self.matches: list[int] = []
        self._layout: Layout | None = None

    # ------------------------------------------------------------------ geometry

    @property
    def body_height(self) -> int:
        """Rows of history on screen: the height less the lane names and the details."""
        return max(self.size.height - 1 - self.detail_height, 1)

    @property
    def detail_height(self) -> int:
        return 3 if self.size.height >= 18 else 2

    def layout_for(self, width: int) -> Layout:
        rows = self.rows
        lanes = sorted(set(rows.lanes) | set(self.nodes))
        last, now = (rows.position[-1], rows.time[-1]) if len(rows) else (0, 0)
        layout = self._layout
        stale = layout is None or (layout.width, layout.lanes) != (width, lanes)
        if stale or len(str(last)) + 2 > layout.gutter or len(str(now)) + 2 > layout.time_width:
            layout = self._layout = Layout(width, lanes, last, now)
        return layout

    # ------------------------------------------------------------------ the app's side

    def show_position(self, position: int) -> None:
        """The app is at ``position``: put the cursor there (unless it already is on one of its rows)."""
        rows = self.rows
        if not len(rows):
            self.cursor = self.top = 0
            self.refresh()
            return
        if not (0 <= self.cursor < len(rows) and rows.position[self.cursor] == position):
            self.cursor = rows.row_of(position)
        self._keep_visible()
        self.refresh()

    def cursor_position(self) -> int | None:
        return self.rows.position[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def _keep_visible(self) -> None:
        height = self.body_height
        self.cursor = min(max(self.cursor, 0), max(len(self.rows) - 1, 0))
        if self.cursor < self.top:
            self.top = max(self.cursor - height // 3, 0)
        elif self.cursor >= self.top + height:
            self.top = self.cursor - height + 1 + height // 3
        self.top = max(min(self.top, len(self.rows) - height), 0)

    def on_mount(self) -> None:
        self.border_title = "space-time diagram · one lane per node, history running down · v/Esc: the ring"

    def on_resize(self, _event: events.Resize) -> None:
        self._keep_visible()
        self.refresh()

    # ------------------------------------------------------------------ keys and mouse

    def _go(self, row: int) -> None:
        if not len(self.rows):
            return
        before = self.cursor_position()
        self.cursor = min(max(row, 0), len(self.rows) - 1)
        self._keep_visible()
        self.refresh()
        if self.chosen is None:
            self.detail = ()  # words about another row
        position = self.cursor_position()
        if position is not None and position != before:
            self.post_message(self.CursorMoved(position))

    def action_move(self, delta: int) -> None:
        self._go(self.cursor + delta)

    def action_page(self, delta: int) -> None:
        self._go(self.cursor + delta * max(self.body_height - 1, 1))

    def action_move_to(self, row: int) -> None:
        self._go(row if row >= 0 else len(self.rows) - 1)

    def action_choose(self) -> None:
        i = self.cursor
        if self.rows.is_message(i):
            self.post_message(self.MessageChosen(i, self.rows.position[i], self.rows.msg[i]))
        else:
            self.chosen = None
            self.detail = (f"{row_words(self.rows, i)}: not a message (Enter on an arrow's row shows it)",)
            self.refresh()

    def action_close(self) -> None:
        self.post_message(self.Closed())

    def on_click(self, event: events.Click) -> None:
        y = event.y - 1
        if 0 <= y < self.body_height and self.top + y < len(self.rows):
            self.focus()
            self._go(self.top + y)
            self.action_choose()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._scroll(3)
        event.stop()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._scroll(-3)
        event.stop()

    def _scroll(self, delta: int) -> None:
        self.top = max(min(self.top + delta, len(self.rows) - self.body_height), 0)
        self.refresh()

    # ------------------------------------------------------------------ drawing

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if width <= 0:
            return Strip.blank(0)
        layout = self.layout_for(width)
        body = self.body_height
        if y == 0:
            return self._header(layout)
        if y <= body:
            i = self.top + y - 1
            if i < len(self.rows):
                return self._row(layout, i)
            return Strip.blank(width)
        k = y - 1 - body
        if not self.detail:
            if k == 0:
                return self._text_strip(self._hint(), width, "grey70")
            return self._legend(width, k - 1)
        text = self.detail[k] if k < len(self.detail) else ""
        return self._text_strip(text, width, "bold white" if k == 0 else "grey70")

    def _legend(self, width: int, line: int) -> Strip:
        """Line ``line`` of the legend, its items laid out whole at ``width``."""
        lines: list[list[tuple[str, str]]] = [[]]
        used = 0
        for glyph, style, word in LEGEND:
            size = len(glyph) + len(word) + 3
            if used + size > width and lines[-1]:
                lines.append([])
                used = 0
            lines[-1] += [(glyph, style), (f" {word}  ", DIM)]
            used += size
        if line >= len(lines):
            return Strip.blank(width)
        segments = [Segment(text, _style(style)) for text, style in lines[line]]
        return Strip(segments).adjust_cell_length(width)

    def _hint(self) -> str:
        if not len(self.rows):
            return "no history yet: n steps, Space plays"
        return "↑↓ PgUp PgDn Home End: move in history (the app follows) · Enter: the message · Esc: ring"

    @staticmethod
    def _text_strip(text: str, width: int, style: str) -> Strip:
        if len(text) > width:
            text = text[: max(width - 1, 0)] + "…"
        return Strip([Segment(text.ljust(width), _style(style))], width)

    def _header(self, layout: Layout) -> Strip:
        width = layout.width
        cells = [" "] * width
        styles = [""] * width
        self._put(cells, styles, 0, "pos".rjust(layout.gutter - 2), DIM)
        for lane, x in layout.x.items():
            role = ROLES[self.rows.role_at(lane, self.cursor)] if len(self.rows) else "follower"
            style = LANE.get(role, LANE["follower"])[1] or DIM
            self._put(cells, styles, x, lane_name(lane), f"bold underline {style}")
        total = len(self.rows)
        shown = f"rows {self.top + 1}-{min(self.top + self.body_height, total)} of {total:,}" if total else ""
        words = "event" + (" (t=virtual ms)" if layout.timed else "")
        self._put(cells, styles, layout.label, words, DIM)
        self._put(cells, styles, max(width - len(shown), layout.label + len(words) + 1), shown, DIM)
        return self._strip(cells, styles)

    @staticmethod
    def _put(cells: list[str], styles: list[str], x: int, text: str, style: str) -> None:
        for k, ch in enumerate(text):
            if 0 <= x + k < len(cells):
                cells[x + k] = ch
                styles[x + k] = style

    @staticmethod
    def _strip(cells: list[str], styles: list[str], base: str = "") -> Strip:
        segments: list[Segment] = []
        start = 0
        for k in range(1, len(cells) + 1):
            if k == len(cells) or styles[k] != styles[start]:
                spec = styles[start]
                if base:
                    spec = f"{base} {spec}" if spec else base
                segments.append(Segment("".join(cells[start:k]), _style(spec)))
                start = k
        return Strip(segments, len(cells))

    def _row(self, layout: Layout, i: int) -> Strip:
        rows = self.rows
        width = layout.width
        cells = [" "] * width
        styles = [""] * width
        position = rows.position[i]
        first = i == 0 or rows.position[i - 1] != position
        if first:
            self._put(cells, styles, 1, str(position).rjust(layout.gutter - 2), GUTTER_STYLE)
            if self._matched(position):
                cells[layout.gutter - 1], styles[layout.gutter - 1] = MATCH_MARK, MATCH_STYLE
        for lane, x in layout.x.items():
            glyph, style = LANE.get(ROLES[rows.role_at(lane, i)], LANE["follower"])
            if x < width:
                cells[x], styles[x] = glyph, style
        self._marks(layout, i, cells, styles)
        words = row_words(rows, i)
        if layout.timed:
            words = f"{'t=' + str(rows.time[i]):<{layout.time_width}} {words}"
        label_style = LABEL_STYLE if KINDS[rows.kind[i]] not in ("heartbeat", "timer") else DIM
        if rows.flags[i] & REJECTED or KINDS[rows.kind[i]] in ("lost", "drop", "crash", "violation"):
            label_style = "bold white"
        self._put(cells, styles, layout.label, words[: max(width - layout.label, 0)], label_style)
        if i == self.cursor:
            cells[0], styles[0] = CURSOR_MARK, "bold reverse"
            for k in range(1, layout.gutter):
                styles[k] = "bold reverse"
            for k in range(layout.label, width):
                styles[k] = "bold reverse"
            return self._strip(cells, styles, base=f"on {CURSOR_BG}")
        return self._strip(cells, styles)

    def _matched(self, position: int) -> bool:
        matches = self.matches
        k = bisect.bisect_left(matches, position)
        return k < len(matches) and matches[k] == position

    def _chosen_here(self, i: int) -> bool:
        chosen = self.chosen
        rows = self.rows
        if chosen is None or not rows.is_message(i):
            return False
        return rows.msg[i] <= chosen < rows.msg[i] + rows.count[i]

    def _marks(self, layout: Layout, i: int, cells: list[str], styles: list[str]) -> None:
        rows = self.rows
        kind = KINDS[rows.kind[i]]
        lane = rows.lane[i]
        xs = layout.x
        highlight = " reverse" if self._chosen_here(i) else ""
        if kind == "network" or kind == "violation":
            present = sorted(xs.values())
            if not present:
                return
            style = CUT_STYLE if kind == "network" else "bold white on red3"
            for x in range(present[0], present[-1] + 1):
                cells[x], styles[x] = ("╪" if x in present else "═"), style
            return
        if kind in MARK_KINDS_MESSAGE:
            mtype = MSG_TYPES[rows.mtype[i]]
            glyph, gstyle = MSG_GLYPH.get(mtype, MSG_GLYPH[""])
            if not gstyle:  # a reply: its colour says the outcome
                gstyle = NO_STYLE if rows.flags[i] & REJECTED else OK_STYLE
            run = RUN_STYLE.get(mtype, "white")
            if kind == "send":
                if lane in xs:
                    cells[xs[lane]], styles[xs[lane]] = glyph, gstyle + highlight
                return
            src, dst = rows.other[i], lane
            if src not in xs or dst not in xs:
                return
            a, b = xs[src], xs[dst]
            if kind == "duplicate":
                cells[a], styles[a] = "⧉", gstyle + highlight
                return
            step = 1 if b > a else -1
            reach = b  # where the run ends
            if kind == "drop":
                reach = a + (b - a) // 2
            elif kind == "lost" and rows.flags[i] & AT_SEND:
                reach = a + step * min(2, abs(b - a))
            elif kind == "lost":
                reach = b - step
            cells[a], styles[a] = ("└" if step > 0 else "┘"), run + highlight
            for x in range(a + step, reach, step):
                cells[x], styles[x] = "─", run + highlight
            if kind == "deliver":
                # A refused message or a negative reply: a hollow head (shape, not only colour).
                refused = bool(rows.flags[i] & REJECTED)
                head = ("▷" if step > 0 else "◁") if refused else ("▶" if step > 0 else "◀")
                head_style = NO_STYLE if refused else run + " bold"
                cells[b - step], styles[b - step] = head, head_style + highlight
                cells[b], styles[b] = glyph, gstyle + highlight
            else:
                cells[reach], styles[reach] = LOST_MARK, CUT_STYLE + highlight
            return
        if lane not in xs:
            return
        x = xs[lane]
        if kind == "role":
            cells[x], styles[x] = ROLE_MARK.get(ROLES[rows.count[i]], ("?", "bold"))
        elif kind == "answer":
            ok = not rows.flags[i] & REJECTED
            cells[x], styles[x] = ("✓", OK_STYLE) if ok else ("✗", NO_STYLE)
        else:
            cells[x], styles[x] = MARK.get(kind, MARK["command"])
