"""The logs view: every node's log side by side, one column per log index.

``render_logs`` is a pure function from a ``Snapshot`` and a size to a
``rich.text.Text`` of exactly ``height`` lines, each at most ``width`` cells;
``LogsView`` is the small Textual widget around it.

The picture (5 nodes, 64 x 9; node 3 leads, node 4 is down)::

         1  2  3  4  5  6  7  8  9 10 11 12 13 14 commit next match
    N1   1  1  2  2  2▕ 3  ·  ·                        5    7     6
    N2   1  1  2  2  2▕ 3  ·  ·                        5    7     6
    N3   1  1  2  2  2▕ 3  3  3                        5    -     -
    N4   1  1  2  2▕ ·  ·  ·  ·                     DOWN    5     4
    N5   1  1  2  2  2▕ 3  3  ·                        5    7     6
    N3 (leader)  key: T=committed entry  T=not committed  ▕=commit index  (T: the entry's term)
    3: put k3 3 (c1#3)   5: put k5 5 (c1#5)   7: put k7 7 (c1#7)
    4: put k4 4 (c1#4)   6: put k6 6 (c1#6)   8: put k8 8 (c1#8)

* a header row of log indexes, always absolute (``◂``/``▸`` when there is
  more to the left or right);
* one row per node: the term of each entry, coloured by term (``term_style``,
  shared with the cluster view). Entries up to the node's commit index are
  solid blocks (black on the term colour), later ones are plain coloured
  underlined text, and a ``▕`` sits just after the commit index. A dim ``·``
  marks an index this node lacks but another node has. Down nodes are dim.
  A configuration entry shows ``⚙`` before its term. Indexes a node has
  compacted into its snapshot are one shaded block ending in
  ``snapshot ≤912 (T3)`` (as much of it as fits) instead of entries:

    N2 ▒▒▒▒▒▒ snapshot ≤912 (T3)  3  3  3▕ 3  3

* on the right, each node's commit index and, when there is a leader, the
  leader's ``nextIndex`` and ``matchIndex`` for each follower (``▒40`` in
  orange: nextIndex is at or below the leader's snapshot, so only
  InstallSnapshot can catch that follower up; ``-`` for a node the leader
  does not replicate to);
* below, the commands at the last visible indexes of the leader's log (or
  the longest log when there is no leader), coloured by term; configuration
  entries in the membership colour.

Only the visible window of indexes is drawn, so a log of any length costs
the same per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.geometry import Size
from textual.reactive import reactive
from textual.widget import Widget

from raftviz.core.messages import Entry
from raftviz.tui.model import NodeSnap, Snapshot
from raftviz.tui.widgets.cluster import CONFIG_STYLE, term_color, term_style
from raftviz.tui.widgets.drawn import drawn

__all__ = ["LogWindow", "LogsView", "log_window", "render_logs"]

_DIM = "grey50"
_MISSING = "grey35"
_COMMIT_MARK = "▕"
_COMMIT_MARK_STYLE = "bold bright_white"
_CONFIG_MARK = "⚙"
_SNAPSHOT_FILL = "▒"
_SNAPSHOT_FILL_STYLE = "grey42 on grey19"
_SNAPSHOT_LABEL_STYLE = "bold grey85 on grey19"
_ROLE_STYLE: dict[str, str] = {
    "leader": "bold black on bright_yellow",
    "candidate": "bold bright_cyan",
    "pre-candidate": "bold cyan",
    "follower": "bold white",
    "down": "dim red strike",
}


def _role(node: NodeSnap) -> str:
    if not node.alive or node.role == "down":
        return "down"
    return node.role if node.role in _ROLE_STYLE else "follower"


def _leader(snap: Snapshot) -> NodeSnap | None:
    return snap.node(snap.leader) if snap.leader else None


@dataclass(frozen=True, slots=True)
class LogWindow:
    """How a render of the logs is laid out horizontally."""

    gutter: int  # cells for the node labels ("N3 ")
    cell: int  # cells per log index (a marker column + the term digits)
    columns: int  # log indexes shown
    first: int  # the first index shown
    tail_first: int  # the first index when following the tail
    max_last: int  # the longest log's last index
    suffix: tuple[str, ...]  # titles of the right-hand columns
    suffix_widths: tuple[int, ...]

    @property
    def last(self) -> int:
        return self.first + self.columns - 1

    @property
    def suffix_width(self) -> int:
        return sum(w + 1 for w in self.suffix_widths)


def log_window(snap: Snapshot, width: int, offset: int | None = None) -> LogWindow:
    """The layout of a ``width``-cell render of the logs; ``offset`` is the first index (None: the tail)."""
    nodes = snap.nodes
    gutter = max((len(f"N{n.id}") for n in nodes), default=2) + 1
    cell = max(3, len(str(max((n.term for n in nodes), default=0))) + 1)
    max_last = max((n.last_index for n in nodes), default=0)
    leader = _leader(snap)
    big = len(str(max(max_last + 1, 1)))
    options: list[tuple[tuple[str, ...], tuple[int, ...]]] = []
    if leader is not None:
        options.append((("commit", "next", "match"), (max(6, big), max(4, big + 1), max(5, big))))
    options.append((("commit",), (max(6, big),)))
    options.append(((), ()))
    suffix, widths = options[-1]
    for titles, ws in options:
        room = width - gutter - sum(w + 1 for w in ws)
        if room >= 8 * cell or not titles:
            suffix, widths = titles, ws
            break
    room = width - gutter - sum(w + 1 for w in widths)
    columns = max(room // cell, 1)
    tail_first = max(1, max_last + 2 - columns)
    first = tail_first if offset is None else min(max(offset, 1), tail_first)
    return LogWindow(gutter, cell, columns, first, tail_first, max_last, suffix, widths)


class _Line:
    """One row being built, cell by cell, clipped to a width."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.used = 0
        self.text = Text(no_wrap=True, overflow="crop", end="")

    def add(self, text: str, style: str = "") -> None:
        room = self.width - self.used
        if room <= 0 or not text:
            return
        text = text[:room]
        self.text.append(text, style or None)
        self.used += len(text)

    def pad_to(self, column: int) -> None:
        if column > self.used:
            self.add(" " * (column - self.used))


def _header(win: LogWindow, width: int) -> Text:
    """Index labels, each right-aligned over its column; with long indexes, only round ones."""
    chars = [" "] * width
    if win.first > 1 and width:
        chars[0] = "◂"
    digits = win.cell - 1
    step = 1
    if len(str(win.last)) > digits:
        need = len(str(win.last)) + 1
        rounds = (5, 10, 20, 50, 100, 1000, 10_000, 100_000)
        step = next((s for s in rounds if s * win.cell >= need), 1_000_000)
    end_area = min(win.gutter + win.columns * win.cell, width)

    def place(k: int) -> bool:
        label = str(win.first + k)
        end = win.gutter + (k + 1) * win.cell
        begin = end - len(label)
        if begin < 2 or end > end_area or any(c != " " for c in chars[begin - 1 : end]):
            return False
        chars[begin:end] = list(label)
        return True

    if step > 1 and win.first % step:
        # The first column gets a label too, unless it would crowd the first round one.
        k_round = step - win.first % step
        if k_round * win.cell >= len(str(win.first + k_round)) + 1:
            place(0)
    for k in range(win.columns):
        if step == 1 or (win.first + k) % step == 0:
            place(k)
    line = _Line(width)
    line.add(chars[0] if chars else "", "bold bright_white")
    line.add("".join(chars[1:end_area]), _DIM)
    line.pad_to(end_area)
    if win.last < win.max_last:
        line.add("▸", "bold bright_white")
    _suffix(line, win, end_area, [(t, _DIM) for t in win.suffix])
    return line.text


def _suffix(line: _Line, win: LogWindow, end: int, values: list[tuple[str, str]]) -> None:
    col = end + 1
    for (value, style), w in zip(values, win.suffix_widths, strict=False):
        line.pad_to(col)
        line.add(value.rjust(w), style)
        col += w + 1


def _snapshot_block(node: NodeSnap, width: int) -> tuple[str, str]:
    """The text of a ``width``-cell snapshot block: shading, then as much of the label as fits."""
    term = node.log_start_term
    for label in (
        f" snapshot ≤{node.log_start} (T{term}) ",
        f" snap ≤{node.log_start} T{term} ",
        f" ≤{node.log_start} ",
        f"≤{node.log_start}",
    ):
        if len(label) + 1 <= width:
            return _SNAPSHOT_FILL * (width - len(label)), label
    return _SNAPSHOT_FILL * width, ""


def _is_config(entry: Entry) -> bool:
    return entry.command.op == "config"


def _node_row(node: NodeSnap, win: LogWindow, width: int, leader: NodeSnap | None) -> Text:
    role = _role(node)
    down = role == "down"
    line = _Line(width)
    line.add(f"N{node.id}", _ROLE_STYLE[role])
    line.pad_to(win.gutter)
    last, commit, start = node.last_index, node.commit, node.log_start
    digits = win.cell - 1
    held_from = 0  # the first column of entries (after the snapshot block, if any)
    if start >= win.first:
        # The compacted indexes in view: one block (its label next to the first entry held).
        covered = min(start - win.first + 1, win.columns)
        fill, label = _snapshot_block(node, covered * win.cell)
        line.add(fill, _SNAPSHOT_FILL_STYLE if not down else _DIM)
        line.add(label, _SNAPSHOT_LABEL_STYLE if not down else _DIM)
        held_from = covered
    for k in range(held_from, win.columns):
        index = win.first + k
        lead, lead_style = " ", ""
        if commit >= 1 and index == commit + 1:
            lead, lead_style = _COMMIT_MARK, (_COMMIT_MARK_STYLE if not down else _DIM)
        entry = node.entry(index) if index <= last else None
        if entry is not None:
            colour = term_color(entry.term)
            if down:
                style = f"{colour} on grey23" if index <= commit else f"dim {colour}"
            elif index <= commit:
                style = f"bold black on {colour}"
            else:
                style = f"{colour} underline"
            line.add(lead, lead_style)
            term = str(entry.term)
            if _is_config(entry):
                term = _CONFIG_MARK + term if len(term) + 1 <= digits else _CONFIG_MARK
            line.add(term.rjust(digits), style)
        elif index <= win.max_last:
            line.add(lead, lead_style)
            line.add("·".rjust(digits), _MISSING)
        else:
            line.add(lead, lead_style)
            line.add(" " * digits)
    end = win.gutter + win.columns * win.cell
    line.pad_to(end)
    if win.suffix:
        values: list[tuple[str, str]] = [("DOWN", "bold red") if down else (str(commit), "bold white")]
        if len(win.suffix) > 1 and leader is not None:
            if node.id == leader.id:
                values += [("-", _DIM), ("-", _DIM)]
            else:
                nxt = dict(leader.next_index).get(node.id)
                match = dict(leader.match_index).get(node.id)
                # nextIndex at or below the leader's snapshot: the entries are gone, it sends the snapshot.
                sending = nxt is not None and nxt <= leader.log_start
                if nxt is None:  # not one of the leader's peers (in no configuration)
                    values += [("-", _DIM), ("-", _DIM)]
                else:
                    values += [
                        (("▒" if sending else "") + str(nxt), "bold orange1" if sending else "white"),
                        ("?" if match is None else str(match), "white"),
                    ]
        _suffix(line, win, end, values)
    return line.text


def _reference(snap: Snapshot) -> NodeSnap | None:
    """The log whose commands are listed: the leader's, else the longest live one, else the longest."""
    leader = _leader(snap)
    if leader is not None:
        return leader
    if not snap.nodes:
        return None
    return max(snap.nodes, key=lambda n: (n.alive, n.last_index, -n.id))


def _commands(snap: Snapshot, win: LogWindow, width: int, rows: int) -> list[Text]:
    ref = _reference(snap)
    if ref is None or rows <= 0:
        return []
    lines: list[Text] = []
    title = _Line(width)
    role = _role(ref)
    title.add(f"N{ref.id}", _ROLE_STYLE[role])
    title.add(f" ({'leader' if role == 'leader' else 'longest log'})  ", _DIM)
    # A key, not counts: a sample cell of each kind (the number in a cell is the entry's term).
    legend = [
        ("key: ", _DIM),
        ("T", f"bold black on {term_color(3)}"),
        ("=committed entry  ", _DIM),
        ("T", f"{term_color(3)} underline"),
        ("=not committed  ", _DIM),
        (_COMMIT_MARK, _COMMIT_MARK_STYLE),
        ("=commit index  (T: the entry's term)", _DIM),
    ]
    middle = [*legend[1:5], (_COMMIT_MARK, _COMMIT_MARK_STYLE), ("=commit index", _DIM)]
    short = [
        ("T", f"bold black on {term_color(3)}"),
        ("=committed ", _DIM),
        ("T", f"{term_color(3)} underline"),
        ("=not yet ", _DIM),
        (_COMMIT_MARK, _COMMIT_MARK_STYLE),
        ("=commit", _DIM),
    ]
    extra: list[tuple[str, str]] = []
    if any(n.log_start for n in snap.nodes):
        extra += [("  ", ""), (_SNAPSHOT_FILL * 2, _SNAPSHOT_FILL_STYLE), (" snapshot", _DIM)]
    if any(_is_config(e) for n in snap.nodes for e in n.log[-win.columns :]):
        extra += [("  ", ""), (_CONFIG_MARK, CONFIG_STYLE), (" config", _DIM)]
    for parts in (legend + extra, middle + extra, short + extra, legend, middle, short):
        if title.used + sum(len(t) for t, _ in parts) <= width:
            for text, style in parts:
                title.add(text, style)
            break
    lines.append(title.text)
    rows -= 1
    last = min(win.last, ref.last_index)
    first_held = max(win.first, ref.log_start + 1)
    if rows <= 0:
        return lines
    # (index label, its style, text, its style): the entries at the last visible indexes,
    # after the snapshot (an item of its own when its boundary is in view and there is room).
    capacity = rows * max(width // 16, 1)
    items: list[tuple[str, str, str, str]] = []
    for index in range(max(first_held, last - capacity + 1), last + 1):
        entry = ref.entry(index)
        assert entry is not None, "first_held..last are entries the reference log holds"
        if _is_config(entry):
            style = CONFIG_STYLE if index <= ref.commit else "orchid1"
        else:
            style = "white" if index <= ref.commit else _DIM
        items.append((str(index), term_style(entry.term), entry.command.describe(), style))
    if ref.log_start >= win.first and len(items) < capacity:
        text = "compacted into the snapshot"
        items.insert(0, (f"≤{ref.log_start}", term_style(ref.log_start_term), text, _DIM))
    if not items:
        return lines
    num_w = max(len(label) for label, _, _, _ in items)
    texts = [f"{label:>{num_w}}: {text}" for label, _, text, _ in items]
    # As many columns as fit without cutting the commands (cut them only in one column).
    per_row = 1
    for p in range(max(width // 16, 1), 0, -1):
        shown = texts[-rows * p :]
        if p * (max(len(t) for t in shown) + 2) - 2 <= width:
            per_row = p
            break
    col_w = width // per_row if per_row > 1 else width
    items = items[-rows * per_row :]
    used_rows = (len(items) + per_row - 1) // per_row
    for r in range(used_rows):
        line = _Line(width)
        for c in range(per_row):
            k = c * used_rows + r
            if k >= len(items):
                break
            label, label_style, text, style = items[k]
            line.pad_to(c * col_w)
            line.add(f"{label:>{num_w}}: ", label_style)
            room = col_w - num_w - 2 - (2 if c < per_row - 1 else 0)
            if len(text) > room:
                text = text[: max(room - 1, 0)] + "…"
            line.add(text, style)
        lines.append(line.text)
    return lines


def render_logs(snap: Snapshot, width: int, height: int, offset: int | None = None) -> Text:
    """Draw every node's log side by side: exactly ``height`` lines of at most ``width`` cells.

    ``offset`` is the first log index shown; None follows the tail (the
    longest log's last entry, plus a free column for the next one).
    """
    width, height = max(width, 0), max(height, 0)
    lines: list[Text] = []
    if width > 0 and height > 0:
        nodes = sorted(snap.nodes, key=lambda n: n.id)
        win = log_window(snap, width, offset)
        leader = _leader(snap)
        lines.append(_header(win, width))
        for node in nodes[: height - 1]:
            lines.append(_node_row(node, win, width, leader))
        lines.extend(_commands(snap, win, width, height - len(lines)))
    out = Text(no_wrap=True, overflow="crop", end="")
    for i in range(height):
        if i:
            out.append("\n")
        if i < len(lines):
            out.append_text(lines[i])
    return out


class LogsView(Widget):
    """All logs side by side by index (see ``render_logs``); scrolls with ``scroll_log``."""

    DEFAULT_CSS = """
    LogsView {
        height: auto;
        min-height: 6;
    }
    """

    snapshot: reactive[Snapshot | None] = reactive(None, always_update=True)
    #: The first log index shown; None follows the tail.
    offset: reactive[int | None] = reactive(None)

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        #: The last picture made: (snapshot, size, offset) it was made for, and the text.
        self._made: tuple[Snapshot | None, Size, int | None, Text] | None = None
        #: The picture on screen.
        self._painted: Text | None = None

    def _picture(self) -> Text:
        snap, size, offset = self.snapshot, self.content_size, self.offset
        made = self._made
        if made is None or made[0] is not snap or made[1] != size or made[2] != offset:
            assert snap is not None
            made = self._made = (snap, size, offset, render_logs(snap, size.width, size.height, offset))
        return made[3]

    def show(self, snap: Snapshot) -> None:
        """Show ``snap``; repainted only if the picture changed (a heartbeat step changes no log)."""
        self.set_reactive(LogsView.snapshot, snap)
        if self._painted is None or self._picture() != self._painted:
            self.refresh()

    def render(self) -> Text:
        if self.snapshot is None:
            return Text("no cluster yet", style=_DIM)
        self._painted = self._picture()
        return drawn(self._painted)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        """Header, one row per node, a title and three lines of commands."""
        return 1 + (len(self.snapshot.nodes) if self.snapshot else 0) + 4

    def scroll_log(self, delta: int) -> None:
        """Move the window ``delta`` indexes (negative: back); reaching the tail follows it again."""
        if self.snapshot is None:
            return
        win = log_window(self.snapshot, self.content_size.width, self.offset)
        first = win.first + delta
        self.offset = None if first >= win.tail_first else max(first, 1)

    def follow_tail(self) -> None:
        """Follow the end of the logs again."""
        self.offset = None
