"""The cluster view: nodes on a ring, messages travelling between them.

``render_cluster`` is a pure function from a ``Snapshot`` and a size to a
``rich.text.Text`` of exactly ``height`` lines, each at most ``width`` cells;
``ClusterView`` is the small Textual widget around it.

The picture, meant to read from the back of a classroom:

* every node is a box on an ellipse (node 1 at the top, then clockwise). The
  border says the role: a bold double yellow border for the leader, a heavy
  cyan one for a candidate, a plain one for a follower, a dim red dashed one
  with ``DOWN`` for a crashed node. Membership (measured against the
  leader's configuration, ``Snapshot.configuration``): a learner says
  ``learner`` in a dashed orchid border; a node in no configuration (removed,
  or added but not yet taken in) is dimmed, ``not a member``, in a dotted grey
  border. Inside: the term (``T3``, coloured by
  term with ``term_style``, the palette the logs view uses too), the vote (a
  candidate shows the votes it has, ``votes 2/5``), the last log index and
  the commit index, and the election timer as a bar (a leader shows
  ``♥ heartbeat`` instead). Once membership has changed (a node added or
  removed, a learner, configurations that differ), every box also shows the
  configuration *it* believes in (``cfg 1,2,3/4``, learners after the
  slash), marked ``≠`` where it differs from the leader's;
* clients sit in the middle;
* every message in flight is a glyph on the straight line between the boxes of
  its sender and its receiver, as far along as its ``progress(now)``: a filled
  glyph is a request, a hollow one a reply; a circle is a vote, a square an
  append (a small dim one: a heartbeat), a diamond a client message, a
  framed square (orange) a chunk of a snapshot (InstallSnapshot). Replies
  are green when granted/accepted and red when denied/rejected. A faint dotted
  line shows each message's path. Glyphs never cover a box;
* a legend line at the bottom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.text import Text
from textual.events import Click
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from raftviz.tui.model import FlightSnap, NodeSnap, Snapshot

__all__ = [
    "ClusterView",
    "Rect",
    "cluster_layout",
    "flight_glyph",
    "node_at",
    "render_cluster",
    "term_color",
    "term_style",
]

# --------------------------------------------------------------------------- colours

#: One colour per term, cycling. Chosen to stay distinct on a projector, both as
#: text on a dark background and as a background under black text; no red
#: (red means "down" or "denied" everywhere in the UI).
TERM_COLORS: tuple[str, ...] = (
    "deep_sky_blue1",
    "gold1",
    "hot_pink",
    "chartreuse1",
    "medium_purple1",
    "dark_orange",
    "turquoise2",
    "khaki1",
)


def term_color(term: int) -> str:
    """The colour of ``term`` (a Rich colour name); term 0 (no term yet) is grey."""
    if term <= 0:
        return "grey50"
    return TERM_COLORS[(term - 1) % len(TERM_COLORS)]


def term_style(term: int) -> str:
    """The Rich style of a term number, shared by the cluster and logs views."""
    return f"bold {term_color(term)}"


#: Border characters per role: top-left, top, top-right, side, bottom-left, bottom, bottom-right.
_BORDERS: dict[str, str] = {
    "leader": "╔═╗║╚═╝",
    "candidate": "┏━┓┃┗━┛",
    "follower": "╭─╮│╰─╯",
    "down": "┌╌┐╎└╌┘",
}
_BORDER_STYLE: dict[str, str] = {
    "leader": "bold bright_yellow",
    "candidate": "bold bright_cyan",
    "follower": "white",
    "down": "dim red",
}
_ROLE_WORD: dict[str, str] = {
    "leader": "LEADER",
    "candidate": "candidate",
    "follower": "follower",
    "down": "DOWN",
    "learner": "learner",
    "outside": "not a member",
}
_TITLE_STYLE: dict[str, str] = {
    "leader": "bold bright_yellow",
    "candidate": "bold bright_cyan",
    "follower": "bold white",
    "down": "bold red",
    "learner": "bold orchid1",
    "outside": "grey58",
}
# Membership looks: a learner (receives the log, does not vote) and a node in no configuration.
_BORDERS["learner"] = "╭┄╮┆╰┄╯"
_BORDERS["outside"] = "┌┈┐┊└┈┘"
_BORDER_STYLE["learner"] = "bold orchid1"
_BORDER_STYLE["outside"] = "grey42"
#: The colour of membership: learners, configuration entries (the logs view too).
CONFIG_STYLE = "bold orchid1"
_SNAPSHOT_STYLE = "bold orange1"
_TEXT_STYLE = "white"
_DIM_TEXT = "grey50"
_PATH_STYLE = "grey30"
_PATH_CHAR = "·"
_OK_STYLE = "bold bright_green"
_NO_STYLE = "bold bright_red"


def _role(node: NodeSnap) -> str:
    if not node.alive or node.role == "down":
        return "down"
    return node.role if node.role in ("leader", "candidate", "follower") else "follower"


def _look(node: NodeSnap, snap: Snapshot | None) -> str:
    """How a box is drawn: its role, or for a live non-leader, its membership (learner, outside)."""
    role = _role(node)
    if snap is None or role in ("down", "leader"):
        return role
    membership = snap.membership(node.id)
    if membership == "none":
        return "outside"
    if membership == "learner" and role == "follower":
        return "learner"
    return role


def flight_glyph(flight: FlightSnap) -> tuple[str, str]:
    """The glyph and style of a message in flight.

    Shape says the RPC (circle: vote, square: append, diamond: client), fill says
    request (filled) or reply (hollow), colour says the outcome of a reply.
    """
    outcome = _OK_STYLE if flight.ok else _NO_STYLE
    kind = flight.kind
    if kind == "RequestVote":
        return "●", "bold bright_cyan"
    if kind == "RequestVoteReply":
        return "○", outcome
    if kind == "AppendEntries":
        return ("■", "bold bright_white") if flight.carries_entries else ("▪", "grey62")
    if kind == "AppendEntriesReply":
        return "□", outcome
    if kind == "InstallSnapshot":
        return "▣", _SNAPSHOT_STYLE
    if kind == "InstallSnapshotReply":
        return "▢", outcome
    if kind == "ClientRequest":
        return "◆", "bold magenta"
    if kind == "ClientReply":
        return "◇", outcome
    return "•", "white"


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True, slots=True)
class Rect:
    """A rectangle of cells: columns ``x .. x+w-1``, rows ``y .. y+h-1``."""

    x: int
    y: int
    w: int
    h: int

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    def contains(self, cx: int, cy: int) -> bool:
        return self.x <= cx < self.x + self.w and self.y <= cy < self.y + self.h

    def overlaps(self, other: Rect, gap: int = 0) -> bool:
        """Whether the two rectangles share a cell, or come within ``gap`` columns."""
        return not (
            self.x + self.w + gap <= other.x
            or other.x + other.w + gap <= self.x
            or self.y + self.h <= other.y
            or other.y + other.h <= self.y
        )


#: Box sizes to try, largest first; the first one whose boxes do not overlap wins.
_BOX_SIZES: tuple[tuple[int, int], ...] = ((17, 5), (15, 5), (13, 4), (12, 4), (11, 4), (11, 3), (9, 3))
#: With a configuration line in each box: taller boxes first (else the line goes on the bottom border).
_TALL_BOX_SIZES: tuple[tuple[int, int], ...] = ((17, 6), (15, 6), *_BOX_SIZES)


#: Ring shapes to try for each box size, roundest first: (superellipse exponent,
#: spread the nodes evenly by arc length measured in boxes rather than by angle).
#: A squarer ring or even spacing lets 7-9 boxes keep a readable size.
_SHAPES: tuple[tuple[float, bool], ...] = ((2.0, False), (2.0, True), (3.0, True), (4.0, False), (4.0, True))


def _ring(
    n: int, width: int, height: int, bw: int, bh: int, power: float = 2.0, even: bool = False
) -> tuple[list[Rect], tuple[float, float]]:
    """``n`` boxes on a superellipse ``|x|^power + |y|^power = 1``, the first at the top, clockwise.

    The ring is stretched so that its boxes reach all four edges (a 5-node ring
    has no node at the bottom, so its centre sits a little below the middle).
    Returns the boxes and the ring's centre.
    """

    def point(angle: float) -> tuple[float, float]:
        c, s = math.cos(angle), math.sin(angle)
        return math.copysign(abs(c) ** (2 / power), c), math.copysign(abs(s) ** (2 / power), s)

    top = -math.pi / 2
    angles = [top + 2 * math.pi * i / n for i in range(n)]
    if even and n > 1:
        # Arc length in units of boxes (Chebyshev: boxes clash when close in both directions).
        rx, ry = max(width - bw, 1) / 2, max(height - bh, 1) / 2
        samples = 720
        pts = [point(top + 2 * math.pi * k / samples) for k in range(samples + 1)]
        cum = [0.0]
        for (x0, y0), (x1, y1) in zip(pts, pts[1:], strict=False):
            cum.append(cum[-1] + max(abs(x1 - x0) * rx / (bw + 1), abs(y1 - y0) * ry / bh))
        k = 0
        for i in range(n):
            target = cum[-1] * i / n
            while cum[k + 1] < target:
                k += 1
            angles[i] = top + 2 * math.pi * k / samples
    units = [point(angle) for angle in angles]
    # Map the points' extent onto the room the boxes' centres have.
    lo_x, hi_x = min(u for u, _ in units), max(u for u, _ in units)
    lo_y, hi_y = min(v for _, v in units), max(v for _, v in units)
    room_x, room_y = max(width - bw, 0), max(height - bh, 0)

    def scale(value: float, lo: float, hi: float, room: int, size: int, whole: int) -> float:
        if hi - lo < 1e-9:
            return whole / 2
        return size / 2 + (value - lo) / (hi - lo) * room

    rects = []
    for ux, uy in units:
        x = scale(ux, lo_x, hi_x, room_x, bw, width) - bw / 2
        y = scale(uy, lo_y, hi_y, room_y, bh, height) - bh / 2
        x = min(max(round(x), 0), max(width - bw, 0))
        y = min(max(round(y), 0), max(height - bh, 0))
        rects.append(Rect(x, y, min(bw, width), min(bh, height)))
    center = (scale(0.0, lo_x, hi_x, room_x, bw, width), scale(0.0, lo_y, hi_y, room_y, bh, height))
    return rects, center


def _clients_rect(center: tuple[float, float], width: int, height: int, label_w: int) -> Rect:
    w = min(label_w, width)
    x = min(max(round(center[0] - w / 2), 0), max(width - w, 0))
    y = min(max(math.floor(center[1]), 0), max(height - 1, 0))
    return Rect(x, y, w, 1 if height > 0 else 0)


def _layout(n: int, width: int, height: int, tall: bool = False) -> tuple[list[Rect], tuple[float, float]]:
    """The boxes and the ring's centre (see ``cluster_layout``)."""
    if n <= 0 or width <= 0 or height <= 0:
        return [], (width / 2, height / 2)
    for bw, bh in _TALL_BOX_SIZES if tall else _BOX_SIZES:
        for power, even in _SHAPES:
            rects, center = _ring(n, width, height, bw, bh, power, even)
            clients = _clients_rect(center, width, height, 11)
            clash = any(a.overlaps(b, gap=1) for i, a in enumerate(rects) for b in rects[i + 1 :])
            if n > 1 and any(r.overlaps(clients) for r in rects):
                clash = True
            if not clash:
                return rects, center
    return _ring(n, width, height, *_BOX_SIZES[-1], 3.0, True)


def cluster_layout(n: int, width: int, height: int, tall: bool = False) -> list[Rect]:
    """The boxes of ``n`` nodes (in id order) on a ring filling ``width`` x ``height`` cells.

    ``height`` is the drawing area (the legend line not included). The largest
    box size whose boxes neither overlap each other nor the clients marker is
    chosen (on an ellipse if possible, else on a squarer ring); with no such
    size, the smallest is used anyway. ``tall`` tries boxes with room for a
    configuration line first.
    """
    return _layout(n, width, height, tall)[0]


def _area_height(height: int) -> int:
    """The rows left for the ring once the legend line is taken (no legend below 6 rows)."""
    return height - 1 if height >= 6 else height


def node_at(snap: Snapshot, width: int, height: int, x: int, y: int) -> int:
    """The id of the node whose box covers cell (x, y) in a ``width`` x ``height`` render, or 0."""
    nodes = sorted(snap.nodes, key=lambda n: n.id)
    rects = cluster_layout(len(nodes), width, _area_height(height), snap.membership_changed)
    for node, rect in zip(nodes, rects, strict=False):
        if rect.contains(x, y):
            return node.id
    return 0


# --------------------------------------------------------------------------- canvas


class _Canvas:
    """A grid of (character, style) cells turned into a ``Text`` at the end."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.chars = [[" "] * width for _ in range(height)]
        self.styles = [[""] * width for _ in range(height)]

    def put(self, x: int, y: int, char: str, style: str = "") -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            self.chars[y][x] = char
            self.styles[y][x] = style

    def write(self, x: int, y: int, text: str, style: str = "") -> int:
        """Write ``text`` from (x, y), clipped; return the column after it."""
        for ch in text:
            self.put(x, y, ch, style)
            x += 1
        return x

    def spans(self, x: int, y: int, parts: list[tuple[str, str]]) -> int:
        for text, style in parts:
            x = self.write(x, y, text, style)
        return x

    def to_text(self) -> Text:
        out = Text(no_wrap=True, overflow="crop", end="")
        for row in range(self.height):
            if row:
                out.append("\n")
            chars, styles = self.chars[row], self.styles[row]
            start = 0
            for col in range(1, self.width + 1):
                if col == self.width or styles[col] != styles[start]:
                    out.append("".join(chars[start:col]), styles[start] or None)
                    start = col
        return out


def _fit(candidates: list[list[tuple[str, str]]], width: int) -> list[tuple[str, str]]:
    """The first candidate (a list of styled parts) that fits in ``width`` cells, else the last, cut."""
    for parts in candidates:
        if sum(len(t) for t, _ in parts) <= width:
            return parts
    cut, room = [], width
    for text, style in candidates[-1]:
        if room <= 0:
            break
        cut.append((text[:room], style))
        room -= len(text[:room])
    return cut


# --------------------------------------------------------------------------- boxes


def _timer_bar(fraction: float, width: int) -> list[tuple[str, str]]:
    if width <= 0:
        return []
    filled = min(max(int(fraction * width + 0.5), 0), width)
    if fraction < 0.5:
        colour = "bright_green"
    elif fraction < 0.8:
        colour = "bright_yellow"
    else:
        colour = "bright_red"
    return [("█" * filled, colour), ("░" * (width - filled), "grey35")]


def _title(node: NodeSnap, role: str, room: int) -> str:
    word = _ROLE_WORD[role]
    short = {"outside": "out", "learner": "lrnr"}.get(role, word[:4])
    mid = ["non-member", "outside"] if role == "outside" else []
    for text in (
        f" {node.id} {word} ",
        f"{node.id} {word}",
        *(f"{node.id} {m}" for m in mid),
        f"{node.id} {short}",
        f"{node.id}",
    ):
        if len(text) <= room:
            return text
    return f"{node.id}"[:room]


def _line_term(node: NodeSnap, role: str, n_nodes: int, iw: int, dim: bool = False) -> list[tuple[str, str]]:
    ts = term_style(node.term) if role != "down" else f"dim {term_color(node.term)}"
    text = _TEXT_STYLE if role != "down" and not dim else _DIM_TEXT
    term = (f"T{node.term}", ts)
    if role == "candidate":
        got = f"{len(node.votes)}/{len(node.voters) or n_nodes}"
        return _fit(
            [
                [term, (f" votes {got}", "bold bright_cyan")],
                [term, (f" ✓{got}", "bold bright_cyan")],
                [term, (f" {got}", "bold bright_cyan")],
            ],
            iw,
        )
    vote = str(node.vote) if node.vote else "-"
    return _fit([[term, (f" vote {vote}", text)], [term, (f" v{vote}", text)], [term]], iw)


def _line_log(node: NodeSnap, role: str, iw: int, dim: bool = False) -> list[tuple[str, str]]:
    text = _TEXT_STYLE if role != "down" and not dim else _DIM_TEXT
    last = node.last_index
    # A crashed node's commit index is gone with its memory (status says "-" too).
    commit: int | str = node.commit if role != "down" else "-"
    return _fit(
        [
            [(f"log {last} commit {commit}", text)],
            [(f"log {last} cmt {commit}", text)],
            [(f"log {last} c{commit}", text)],
            [(f"L{last} C{commit}", text)],
        ],
        iw,
    )


def _line_timer(node: NodeSnap, role: str, now: int, iw: int) -> list[tuple[str, str]]:
    if role == "leader":
        return _fit([[("♥ heartbeat", "bold bright_red")], [("♥ beat", "bold bright_red")]], iw)
    if role == "down":
        return _fit([[("✕ crashed", "bold red")], [("✕", "bold red")]], iw)
    fraction = node.timer_fraction(now)
    if iw >= 13:
        return [("timer ", _DIM_TEXT), *_timer_bar(fraction, iw - 6)]
    return _timer_bar(fraction, iw)


def _ids(ids: tuple[int, ...], ranges: bool) -> str:
    """``1,2,3,5`` or, with ``ranges``, runs of three or more as ``1-3,5``."""
    if not ranges:
        return ",".join(map(str, ids))
    out: list[str] = []
    i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        out.append(f"{ids[i]}-{ids[j]}" if j - i >= 2 else ",".join(map(str, ids[i : j + 1])))
        i = j + 1
    return ",".join(out)


def _line_config(
    node: NodeSnap, reference: tuple[tuple[int, ...], tuple[int, ...]], iw: int
) -> list[tuple[str, str]]:
    """The configuration the node believes in: ``cfg 1,2,3/4``, ``≠`` first if it is not the leader's."""
    same = (node.voters, node.learners) == reference
    dim = node.alive and same
    style = _DIM_TEXT if dim or not node.alive else "bold white"
    mark = [] if same else [("≠", "bold bright_yellow" if node.alive else _DIM_TEXT)]
    if not node.voters:
        return _fit([[*mark, ("cfg none", style)], [*mark, ("none", style)]], iw)
    learner_style = style if not node.alive else CONFIG_STYLE

    def parts(prefix: str, ranges: bool) -> list[tuple[str, str]]:
        out = [*mark, (prefix + _ids(node.voters, ranges), style)]
        if node.learners:
            out.append(("/" + _ids(node.learners, ranges), learner_style))
        return out

    return _fit([parts("cfg ", False), parts("cfg ", True), parts("", True)], iw)


#: Partition groups: a letter and a colour each, shown on the box's bottom border.
_GROUP_STYLES = ("bold black on bright_cyan", "bold black on bright_magenta", "bold black on bright_yellow",
                 "bold black on bright_green", "bold black on white")  # fmt: skip


def _draw_box(
    canvas: _Canvas,
    rect: Rect,
    node: NodeSnap,
    n_nodes: int,
    now: int,
    selected: bool,
    group: int = -1,
    look: str = "",
    config: list[tuple[str, str]] | None = None,
) -> None:
    """One node's box; ``look`` overrides the role's border and title (learner, outside),
    ``config`` is a configuration line to show (its own line if there is room, else the bottom border)."""
    role = _role(node)
    look = look or role
    tl, top, tr, side, bl, bottom, br = _BORDERS[look]
    border = _BORDER_STYLE[look]
    x, y, w, h = rect.x, rect.y, rect.w, rect.h
    iw = max(w - 2, 0)
    # Clear the inside first: nothing drawn earlier shows through a box.
    for row in range(y, y + h):
        canvas.write(x, row, " " * w)
    # Top border with the title.
    canvas.put(x, y, tl, border)
    canvas.write(x + 1, y, top * iw, border)
    canvas.put(x + w - 1, y, tr, border)
    title = _title(node, look, iw)
    title_style = _TITLE_STYLE[look] + (" reverse" if selected else "")
    canvas.write(x + 1 + (1 if len(title) < iw and not title.startswith(" ") else 0), y, title, title_style)
    # Sides.
    for row in range(y + 1, y + h - 1):
        canvas.put(x, row, side, border)
        canvas.put(x + w - 1, row, side, border)
    # Bottom border; in boxes too small for a timer line, the timer is the bottom border.
    canvas.put(x, y + h - 1, bl, border)
    canvas.write(x + 1, y + h - 1, bottom * iw, border)
    canvas.put(x + w - 1, y + h - 1, br, border)
    inner = h - 2
    # A node in no configuration is dimmed: what it holds no longer counts.
    dim = look == "outside"
    lines: list[list[tuple[str, str]]] = [_line_term(node, role, n_nodes, iw, dim)]
    if inner >= 2:
        lines.append(_line_log(node, role, iw, dim))
    timer = _line_timer(node, role, now, iw)
    label = f" {chr(ord('A') + group)} " if group >= 0 and iw >= 5 else ""
    if inner >= 3:
        lines.append(timer)
    elif role == "follower" or role == "candidate":
        canvas.spans(x + 1, y + h - 1, timer)
    elif role == "leader":
        canvas.spans(x + 2, y + h - 1, _fit([[("♥", "bold bright_red")]], iw - 1))
    if config is not None and inner >= 4:
        lines.append(config)
    elif config is not None and inner == 3:
        # No line of its own: on the bottom border, left of the partition letter.
        room = iw - (len(label) + 1 if label else 0)
        canvas.spans(x + 1, y + h - 1, _fit([config], room))
    for i, parts in enumerate(lines[:inner]):
        canvas.spans(x + 1, y + 1 + i, parts)
    if label:
        # Which side of a partition the node is on: the same letter, the same side.
        canvas.write(x + w - 1 - len(label) - 1, y + h - 1, label, _GROUP_STYLES[group % len(_GROUP_STYLES)])


# --------------------------------------------------------------------------- messages


def _exit_t(rect: Rect, ax: float, ay: float, dx: float, dy: float) -> float:
    """The parameter at which the ray (ax, ay) + t (dx, dy) from inside ``rect`` leaves it."""
    best = math.inf
    left, right, top, bottom = rect.x - 0.5, rect.x + rect.w + 0.5, rect.y - 0.5, rect.y + rect.h + 0.5
    if dx > 0:
        best = min(best, (right - ax) / dx)
    elif dx < 0:
        best = min(best, (left - ax) / dx)
    if dy > 0:
        best = min(best, (bottom - ay) / dy)
    elif dy < 0:
        best = min(best, (top - ay) / dy)
    return 0.0 if best is math.inf else max(best, 0.0)


class _Path:
    """The visible part of the segment between two boxes' centres."""

    def __init__(self, a: Rect, b: Rect) -> None:
        self.ax, self.ay = a.center
        bx, by = b.center
        self.dx, self.dy = bx - self.ax, by - self.ay
        self.t0 = _exit_t(a, self.ax, self.ay, self.dx, self.dy)
        self.t1 = 1.0 - _exit_t(b, bx, by, -self.dx, -self.dy)
        self.length = math.hypot(self.dx, self.dy)

    def cell(self, t: float) -> tuple[int, int]:
        return math.floor(self.ax + t * self.dx), math.floor(self.ay + t * self.dy)

    def at(self, progress: float) -> float:
        if self.t1 <= self.t0:
            return (self.t0 + self.t1) / 2
        return self.t0 + progress * (self.t1 - self.t0)

    def cells(self) -> list[tuple[int, int]]:
        """Every cell the visible segment passes through, in order, each once."""
        if self.t1 <= self.t0:
            return []
        steps = max(int(self.length * 2 * (self.t1 - self.t0)), 1)
        seen: list[tuple[int, int]] = []
        for i in range(steps + 1):
            c = self.cell(self.t0 + (self.t1 - self.t0) * i / steps)
            if not seen or seen[-1] != c:
                seen.append(c)
        return seen


def _free_cell(
    path: _Path, t: float, blocked: list[Rect], taken: set[tuple[int, int]]
) -> tuple[int, int] | None:
    """The cell at ``t`` on the path, or the nearest one along it that no box or other glyph covers.

    A glyph is moved at most a few cells from where it belongs (so two
    messages passing each other both stay visible); if every cell near it is
    covered by another glyph it shares a cell, and if only boxes are near it is
    not drawn (None).
    """
    lo, hi = min(path.t0, path.t1), max(path.t0, path.t1)
    step = 0.5 / max(path.length, 1.0)
    crowded: tuple[int, int] | None = None
    for k in range(0, 200):
        if k > 8 and crowded is not None:
            return crowded  # no free cell within ~4 cells: share the nearest one
        for cand in (t + k * step, t - k * step) if k else (t,):
            if k and not lo - 1e-9 <= cand <= hi + 1e-9:
                continue
            cx, cy = path.cell(cand)
            if any(r.contains(cx, cy) for r in blocked):
                continue
            if (cx, cy) not in taken:
                return cx, cy
            if crowded is None:
                crowded = (cx, cy)
    return crowded


# --------------------------------------------------------------------------- legend


def _legend(width: int, snapshots: bool = False) -> list[tuple[str, str]]:
    """The glyphs explained; ``snapshots`` adds InstallSnapshot's (once a log has been compacted)."""

    def g(glyph: str, style: str, label: str) -> list[tuple[str, str]]:
        return [(glyph, style), (f" {label}  ", _DIM_TEXT)]

    hollow = "○□▢◇" if snapshots else "○□◇"
    snap_long = g("▣", _SNAPSHOT_STYLE, "InstallSnapshot") if snapshots else []
    snap_medium = g("▣", _SNAPSHOT_STYLE, "snapshot") if snapshots else []
    snap_short = [("▣", _SNAPSHOT_STYLE), ("snap ", _DIM_TEXT)] if snapshots else []

    def replies(label: str) -> list[tuple[str, str]]:
        return [
            (hollow, "bold white"),
            (f" {label} ", _DIM_TEXT),
            ("ok", _OK_STYLE),
            ("/", _DIM_TEXT),
            ("no", _NO_STYLE),
        ]

    long = [
        *g("●", "bold bright_cyan", "RequestVote"),
        *g("■", "bold bright_white", "AppendEntries"),
        *g("▪", "grey62", "heartbeat"),
        *snap_long,
        *g("◆", "bold magenta", "client"),
        *replies("replies"),
    ]
    medium = [
        *g("●", "bold bright_cyan", "vote"),
        *g("■", "bold bright_white", "append"),
        *g("▪", "grey62", "heartbeat"),
        *snap_medium,
        *g("◆", "bold magenta", "client"),
        *replies("reply"),
    ]
    short = [
        ("●", "bold bright_cyan"),
        ("vote ", _DIM_TEXT),
        ("■", "bold bright_white"),
        ("append ", _DIM_TEXT),
        ("▪", "grey62"),
        ("beat ", _DIM_TEXT),
        *snap_short,
        ("◆", "bold magenta"),
        ("client ", _DIM_TEXT),
        (hollow, "bold white"),
        ("reply", _DIM_TEXT),
    ]
    return _fit([long, medium, short], width)


# --------------------------------------------------------------------------- render


def render_cluster(snap: Snapshot, width: int, height: int, selected: int = 0, paths: bool = True) -> Text:
    """Draw the cluster: exactly ``height`` lines of at most ``width`` cells.

    ``selected`` is the id of the node to highlight (0: none); ``paths`` draws a
    faint dotted line under each message in flight.
    """
    width, height = max(width, 0), max(height, 0)
    canvas = _Canvas(width, height)
    if width == 0 or height == 0:
        return canvas.to_text()
    area_h = _area_height(height)
    nodes = sorted(snap.nodes, key=lambda n: n.id)
    show_config = snap.membership_changed
    rects, center = _layout(len(nodes), width, area_h, show_config)
    by_id = {node.id: rect for node, rect in zip(nodes, rects, strict=False)}

    # Clients in the middle.
    client_ids = sorted(
        {a for f in snap.flights for a in (f.src, f.dst) if isinstance(a, str)},
        key=lambda c: (len(c), c),
    )
    label = "clients"
    clients = _clients_rect(center, width, area_h, len(label) + 2)
    if client_ids:
        wide = f"{label} {' '.join(client_ids)}"
        rect = _clients_rect(center, width, area_h, len(wide) + 2)
        if not any(rect.overlaps(r) for r in rects):
            label, clients = wide, rect
    blocked = [*rects, clients]

    def rect_of(address: int | str) -> Rect | None:
        return by_id.get(address) if isinstance(address, int) else clients

    # Paths first, glyphs on top, boxes last.
    placed: list[tuple[_Path, FlightSnap]] = []
    for flight in snap.flights:
        a, b = rect_of(flight.src), rect_of(flight.dst)
        if a is None or b is None or a == b:
            continue
        placed.append((_Path(a, b), flight))
    if paths:
        for path, _ in placed:
            for cx, cy in path.cells():
                if not any(r.contains(cx, cy) for r in blocked):
                    canvas.put(cx, cy, _PATH_CHAR, _PATH_STYLE)
    # The message arriving first gets its exact cell; one that would land on it moves aside a little.
    taken: set[tuple[int, int]] = set()
    for path, flight in sorted(placed, key=lambda pf: (pf[1].deliver_at, pf[1].id)):
        cell = _free_cell(path, path.at(flight.progress(snap.now)), blocked, taken)
        if cell is not None:
            glyph, style = flight_glyph(flight)
            canvas.put(cell[0], cell[1], glyph, style)
            taken.add(cell)

    if len(nodes) > 1 or client_ids:
        style = "bold magenta" if client_ids else _DIM_TEXT
        canvas.write(clients.x, clients.y, f" {label} "[: clients.w], style)
    reference = snap.configuration
    for node, rect in zip(nodes, rects, strict=False):
        config = _line_config(node, reference, max(rect.w - 2, 0)) if show_config else None
        group, look = snap.group_of(node.id), _look(node, snap)
        _draw_box(canvas, rect, node, len(nodes), snap.now, node.id == selected, group, look, config)
    if not nodes:
        canvas.write(max((width - 10) // 2, 0), area_h // 2, "no cluster", _DIM_TEXT)
    if area_h < height:
        snapshots = any(f.is_snapshot for f in snap.flights) or any(n.log_start for n in snap.nodes)
        canvas.spans(0, height - 1, _legend(width, snapshots))
    return canvas.to_text()


# --------------------------------------------------------------------------- widget


class ClusterView(Widget):
    """The cluster as a ring of node boxes with messages in flight (see ``render_cluster``)."""

    DEFAULT_CSS = """
    ClusterView {
        height: 1fr;
        min-height: 12;
    }
    """

    snapshot: reactive[Snapshot | None] = reactive(None, always_update=True)
    selected: reactive[int] = reactive(0)

    class NodeClicked(Message):
        """A node's box was clicked."""

        def __init__(self, node_id: int) -> None:
            super().__init__()
            self.node_id = node_id

    def render(self) -> Text:
        size = self.content_size
        if self.snapshot is None:
            return Text("no cluster yet", style=_DIM_TEXT)
        return render_cluster(self.snapshot, size.width, size.height, self.selected)

    def on_click(self, event: Click) -> None:
        if self.snapshot is None:
            return
        size = self.content_size
        offset = event.get_content_offset(self)
        if offset is None:
            return
        node_id = node_at(self.snapshot, size.width, size.height, offset.x, offset.y)
        if node_id:
            self.selected = node_id
            self.post_message(self.NodeClicked(node_id))
