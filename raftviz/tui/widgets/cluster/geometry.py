"""Where the boxes go: rectangles of cells, and the ring of node boxes fitted to an area."""

from __future__ import annotations

import math
from dataclasses import dataclass


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
BOX_SIZES: tuple[tuple[int, int], ...] = ((17, 5), (15, 5), (13, 4), (12, 4), (11, 4), (11, 3), (9, 3))
#: With a configuration line in each box: taller boxes first (else the line goes on the bottom border).
TALL_BOX_SIZES: tuple[tuple[int, int], ...] = ((17, 6), (15, 6), *BOX_SIZES)


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


def clients_rect(center: tuple[float, float], width: int, height: int, label_w: int) -> Rect:
    w = min(label_w, width)
    x = min(max(round(center[0] - w / 2), 0), max(width - w, 0))
    y = min(max(math.floor(center[1]), 0), max(height - 1, 0))
    return Rect(x, y, w, 1 if height > 0 else 0)


def ring_layout(
    n: int, width: int, height: int, tall: bool = False
) -> tuple[list[Rect], tuple[float, float]]:
    """The boxes and the ring's centre (see ``cluster_layout``)."""
    if n <= 0 or width <= 0 or height <= 0:
        return [], (width / 2, height / 2)
    for bw, bh in TALL_BOX_SIZES if tall else BOX_SIZES:
        for power, even in _SHAPES:
            rects, center = _ring(n, width, height, bw, bh, power, even)
            clients = clients_rect(center, width, height, 11)
            clash = any(a.overlaps(b, gap=1) for i, a in enumerate(rects) for b in rects[i + 1 :])
            if n > 1 and any(r.overlaps(clients) for r in rects):
                clash = True
            if not clash:
                return rects, center
    return _ring(n, width, height, *BOX_SIZES[-1], 3.0, True)


def cluster_layout(n: int, width: int, height: int, tall: bool = False) -> list[Rect]:
    """The boxes of ``n`` nodes (in id order) on a ring filling ``width`` x ``height`` cells.

    ``height`` is the drawing area (the legend line not included). The largest
    box size whose boxes neither overlap each other nor the clients marker is
    chosen (on an ellipse if possible, else on a squarer ring); with no such
    size, the smallest is used anyway. ``tall`` tries boxes with room for a
    configuration line first.
    """
    return ring_layout(n, width, height, tall)[0]


def area_height(height: int) -> int:
    """The rows left for the ring once the legend line is taken (no legend below 6 rows)."""
    return height - 1 if height >= 6 else height
