"""Cuts drawn as what they are: no path across them, a cut link broken with an arrowhead and ✗.

A link between two nodes in the same region (or on the ring, with no
partition) that ``cut`` broke is drawn from the sender's box to the middle of
the path in red dots, ending in an arrowhead and ✗: ``1 ···→✗`` means 1's
messages do not reach the node on the other side; a link cut both ways shows
both halves, ``···→✗←···``. Between regions the wall says it all, so no line
is drawn there. A message on a blocked pair is lost when it is due (the lab
checks the link at delivery, lab/network.py), so it is drawn as doomed and
goes no further than the wall or the ✗.
"""

from __future__ import annotations

import math

from raftviz.tui.model import Snapshot
from raftviz.tui.widgets.cluster.canvas import Canvas
from raftviz.tui.widgets.cluster.flights import FlightPath
from raftviz.tui.widgets.cluster.geometry import Rect
from raftviz.tui.widgets.cluster.palette import CUT_MARK, CUT_STYLE
from raftviz.tui.widgets.cluster.scene import Scene

__all__ = ["arrow", "cut_links", "draw_cut", "stop_at"]

#: Arrowheads by direction, clockwise from east (rows grow downwards).
_ARROWS = "→↘↓↙←↖↑↗"


def arrow(dx: float, dy: float) -> str:
    """The arrowhead pointing along (dx, dy) in cells; a cell is about twice as tall as it is wide."""
    angle = math.atan2(dy * 2, dx)
    return _ARROWS[round(angle / (math.pi / 4)) % 8]


def cut_links(snap: Snapshot, scene: Scene) -> list[tuple[int, int]]:
    """The blocked pairs drawn as cut links: those within one region (between regions, the wall)."""
    return [
        (a, b)
        for a, b in snap.blocked
        if a in scene.rects and b in scene.rects and scene.region_of(a) == scene.region_of(b)
    ]


def _half(path: FlightPath) -> list[tuple[int, int]]:
    """The cells from the sender's box to the middle of the path, in order, each once."""
    mid = (path.t0 + path.t1) / 2
    if mid <= path.t0:
        return [path.cell(mid)]
    steps = max(int(path.length * 2 * (mid - path.t0)), 1)
    cells: list[tuple[int, int]] = []
    for i in range(steps + 1):
        cell = path.cell(path.t0 + (mid - path.t0) * i / steps)
        if not cells or cells[-1] != cell:
            cells.append(cell)
    return cells


def draw_cut(canvas: Canvas, path: FlightPath, obstacles: list[Rect]) -> None:
    """The sender's half of a cut link: red dots, an arrowhead towards the receiver, ✗ in the middle."""
    cells = _half(path)
    head = arrow(path.dx, path.dy)
    for i, (cx, cy) in enumerate(cells):
        if any(r.contains(cx, cy) for r in obstacles):
            continue
        last = i == len(cells) - 1
        char = CUT_MARK if last else head if i == len(cells) - 2 else "·"
        canvas.put(cx, cy, char, CUT_STYLE)


def stop_at(path: FlightPath, scene: Scene, src: int, dst: int) -> float:
    """How far along ``path`` a message from ``src`` to ``dst`` on a blocked pair is drawn: to the wall
    of the sender's region if the receiver is in another one, else to just before the cut link's ✗."""
    here, there = scene.region_of(src), scene.region_of(dst)
    if here is None or here == there or path.dx == 0:
        step = 0.5 / max(path.length, 1.0)
        return max((path.t0 + path.t1) / 2 - 4 * step, path.t0)  # short of the arrowhead
    left, right = here.rect.x, here.rect.x + here.rect.w
    edge = (right - path.ax) / path.dx - 1e-6 if path.dx > 0 else (left - path.ax) / path.dx
    return max(edge, path.t0)
