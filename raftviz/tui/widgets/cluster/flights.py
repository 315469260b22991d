"""Messages in flight: each one's glyph, its straight path between two boxes, a free cell on it."""

from __future__ import annotations

import math

from raftviz.tui.model import FlightSnap
from raftviz.tui.widgets.cluster.geometry import Rect
from raftviz.tui.widgets.cluster.palette import NO_STYLE, OK_STYLE, SNAPSHOT_STYLE


def flight_glyph(flight: FlightSnap) -> tuple[str, str]:
    """The glyph and style of a message in flight.

    Shape says the RPC (circle: vote, square: append, diamond: client), fill says
    request (filled) or reply (hollow). A reply's outcome is said twice, by colour
    (green, red) and by shape (a refusal is crossed: ⊗ ⊠ ◈), so it reads without colour.
    """
    outcome = OK_STYLE if flight.ok else NO_STYLE
    kind = flight.kind
    if kind == "RequestVote":
        return "●", "bold bright_cyan"
    if kind == "RequestVoteReply":
        return ("○" if flight.ok else "⊗"), outcome
    if kind == "AppendEntries":
        return ("■", "bold bright_white") if flight.carries_entries else ("▪", "grey62")
    if kind == "AppendEntriesReply":
        return ("□" if flight.ok else "⊠"), outcome
    if kind == "InstallSnapshot":
        return "▣", SNAPSHOT_STYLE
    if kind == "InstallSnapshotReply":
        return ("▢" if flight.ok else "⊠"), outcome
    if kind == "ClientRequest":
        return "◆", "bold magenta"
    if kind == "ClientReply":
        return ("◇" if flight.ok else "◈"), outcome
    # Pre-Vote (§9.6): a half-filled circle, a vote only asked about; TimeoutNow (§3.10).
    if kind == "PreVote":
        return "◐", "cyan"
    if kind == "PreVoteReply":
        return ("◌" if flight.ok else "⊗"), outcome
    if kind == "TimeoutNow":
        return "◎", "bold bright_magenta"
    return "•", "white"


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


class FlightPath:
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


def free_cell(
    path: FlightPath, t: float, blocked: list[Rect], taken: set[tuple[int, int]], limit: float = math.inf
) -> tuple[int, int] | None:
    """The cell at ``t`` on the path, or the nearest one along it that no box or other glyph covers.

    A glyph is moved at most a few cells from where it belongs (so two
    messages passing each other both stay visible); if every cell near it is
    covered by another glyph it shares a cell, and if only boxes are near it is
    not drawn (None). It is never moved past ``limit`` (a message stopped at a cut).
    """
    lo, hi = min(path.t0, path.t1), min(max(path.t0, path.t1), limit)
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
