"""One node's box: border by role or membership, title, term and vote, log and commit, timer, config."""

from __future__ import annotations

from raftviz.tui.model import NodeSnap, Snapshot
from raftviz.tui.widgets.cluster.canvas import Canvas, fit
from raftviz.tui.widgets.cluster.geometry import Rect
from raftviz.tui.widgets.cluster.palette import (
    BORDER_STYLE,
    BORDERS,
    CONFIG_STYLE,
    DIM_TEXT,
    ROLE_WORD,
    TEXT_STYLE,
    TITLE_STYLE,
    group_style,
    term_color,
    term_style,
)


def role_of(node: NodeSnap) -> str:
    if not node.alive or node.role == "down":
        return "down"
    return node.role if node.role in ("leader", "pre-candidate", "candidate", "follower") else "follower"


def look_of(node: NodeSnap, snap: Snapshot | None) -> str:
    """How a box is drawn: its role, or for a live non-leader, its membership (learner, outside)."""
    role = role_of(node)
    if snap is None or role in ("down", "leader"):
        return role
    membership = snap.membership(node.id)
    if membership == "none":
        return "outside"
    if membership == "learner" and role == "follower":
        return "learner"
    return role


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
    word = ROLE_WORD[role]
    short = {"outside": "out", "learner": "lrnr", "pre-candidate": "pre"}.get(role, word[:4])
    mid = ["pre-cand", "precand"] if role == "pre-candidate" else []
    mid = ["non-member", "outside"] if role == "outside" else mid
    # A clock off virtual time (``clock N rate=R``) is said in the title while it fits.
    rate = f"×{node.clock_rate}" if node.clock_rate else ""
    timed = []
    if rate:
        timed = [f" {node.id} {word} {rate} ", f"{node.id} {word} {rate}", f"{node.id} {short} {rate}"]
    for text in (
        *timed,
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
    text = TEXT_STYLE if role != "down" and not dim else DIM_TEXT
    term = (f"T{node.term}", ts)
    if role == "candidate":
        got = f"{len(node.votes)}/{len(node.voters) or n_nodes}"
        return fit(
            [
                [term, (f" votes {got}", "bold bright_cyan")],
                [term, (f" ✓{got}", "bold bright_cyan")],
                [term, (f" {got}", "bold bright_cyan")],
            ],
            iw,
        )
    if role == "pre-candidate":
        # Pre-votes for term+1; its own term and vote have not moved.
        got = f"{len(node.votes)}/{len(node.voters) or n_nodes}"
        return fit(
            [
                [term, (f" pre-votes {got}", "bold cyan")],
                [term, (f" pre {got}", "bold cyan")],
                [term, (f" {got}", "bold cyan")],
            ],
            iw,
        )
    vote = str(node.vote) if node.vote else "-"
    return fit([[term, (f" vote {vote}", text)], [term, (f" v{vote}", text)], [term]], iw)


#: A disk fault's badge (the lab's ``disk N ...``): loud, since it explains what the node does.
DISK_STYLE = "bold black on bright_magenta"


def disk_words(disk: str) -> list[str]:
    """A disk fault's badge, longest first: ``disk full``, ``full``, ``⛁``; none for a disk that is ok."""
    if disk == "ok":
        return []
    mode, _, ms = disk.partition(":")
    word = f"slow {ms}ms" if mode == "slow" else mode
    return [f"disk {word}", word, f"{mode}{ms}" if ms else mode, "⛁"]


def _line_log(node: NodeSnap, role: str, iw: int, dim: bool = False) -> list[tuple[str, str]]:
    text = TEXT_STYLE if role != "down" and not dim else DIM_TEXT
    last = node.last_index
    # A crashed node's commit index is gone with its memory (status says "-" too).
    commit: int | str = node.commit if role != "down" else "-"
    bases = [
        [(f"log {last} commit {commit}", text)],
        [(f"log {last} cmt {commit}", text)],
        [(f"log {last} c{commit}", text)],
        [(f"L{last} C{commit}", text)],
    ]
    # A faulty disk: its badge after the log, as long as it fits, the log kept first.
    words = disk_words(node.disk)
    badged = [
        [*base, (" ", text), (word, DISK_STYLE)]
        for base, options in zip(bases, (words, words[1:], words[1:], words[2:]), strict=True)
        for word in options
    ]
    return fit([*badged, *bases], iw)


def _line_timer(node: NodeSnap, role: str, now: int, iw: int) -> list[tuple[str, str]]:
    if role == "leader" and node.transfer:
        # Handing over (dissertation §3.10): no new client requests until it ends.
        target = node.transfer
        style = "bold bright_magenta"
        return fit(
            [[(f"⇢ handing to {target}", style)], [(f"⇢ to {target}", style)], [(f"⇢{target}", style)]], iw
        )
    if role == "leader":
        return fit([[("♥ heartbeat", "bold bright_red")], [("♥ beat", "bold bright_red")]], iw)
    if role == "down" and node.disk == "fail":
        return fit([[("✕ disk failed", "bold red")], [("✕ disk", "bold red")], [("✕", "bold red")]], iw)
    if role == "down":
        return fit([[("✕ crashed", "bold red")], [("✕", "bold red")]], iw)
    if node.recovering:
        # It will not stand when its timer fires: the badge says so instead of the timer.
        badge = "bold black on bright_yellow"
        return fit(
            [[("recovering", badge), (" no vote", DIM_TEXT)], [("recovering", badge)], [("rcv", badge)]], iw
        )
    fraction = node.timer_fraction(now)
    if iw >= 13:
        return [("timer ", DIM_TEXT), *_timer_bar(fraction, iw - 6)]
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


def config_line(
    node: NodeSnap, reference: tuple[tuple[int, ...], tuple[int, ...]], iw: int
) -> list[tuple[str, str]]:
    """The configuration the node believes in: ``cfg 1,2,3/4``, ``≠`` first if it is not the leader's."""
    same = (node.voters, node.learners) == reference
    dim = node.alive and same
    style = DIM_TEXT if dim or not node.alive else "bold white"
    mark = [] if same else [("≠", "bold bright_yellow" if node.alive else DIM_TEXT)]
    if not node.voters:
        return fit([[*mark, ("cfg none", style)], [*mark, ("none", style)]], iw)
    learner_style = style if not node.alive else CONFIG_STYLE

    def parts(prefix: str, ranges: bool) -> list[tuple[str, str]]:
        out = [*mark, (prefix + _ids(node.voters, ranges), style)]
        if node.learners:
            out.append(("/" + _ids(node.learners, ranges), learner_style))
        return out

    return fit([parts("cfg ", False), parts("cfg ", True), parts("", True)], iw)


def draw_box(
    canvas: Canvas,
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
    role = role_of(node)
    look = look or role
    tl, top, tr, side, bl, bottom, br = BORDERS[look]
    border = BORDER_STYLE[look]
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
    title_style = TITLE_STYLE[look] + (" reverse" if selected else "")
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
        canvas.spans(x + 2, y + h - 1, fit([[("♥", "bold bright_red")]], iw - 1))
    if config is not None and inner >= 4:
        lines.append(config)
    elif config is not None and inner == 3:
        # No line of its own: on the bottom border, left of the partition letter.
        room = iw - (len(label) + 1 if label else 0)
        canvas.spans(x + 1, y + h - 1, fit([config], room))
    for i, parts in enumerate(lines[:inner]):
        canvas.spans(x + 1, y + 1 + i, parts)
    if label:
        # Which side of a partition the node is on: the same letter, the same side.
        canvas.write(x + w - 1 - len(label) - 1, y + h - 1, label, group_style(group))
