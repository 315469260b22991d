"""A partition drawn apart: each group of nodes in its own region of the ring area, walls between.

While the network is partitioned, the ring gives way to one region per group,
side by side, left to right in the order the groups were given; the nodes
left out of every group (the network keeps them together, apart from all the
groups) get one more region at the right. Each region is labelled on its top
row (``group A: 1,2``; ``5: alone (not in any group)``) in the group's colour,
the same letter the node boxes carry on their bottom border, and a heavy red
wall runs down between neighbouring regions. So the cut reads at a glance,
in colour or not. The bottom row is kept for the clients, who are outside
every partition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from raftviz.tui.widgets.cluster.canvas import Canvas
from raftviz.tui.widgets.cluster.geometry import BOX_SIZES, TALL_BOX_SIZES, Rect
from raftviz.tui.widgets.cluster.palette import CUT_STYLE, group_style

__all__ = ["WALL_CHAR", "Groups", "Region", "draw_regions", "partition_layout", "wall_rects"]

WALL_CHAR = "┃"


@dataclass(frozen=True, slots=True)
class Region:
    """One group's part of the ring area: the columns ``rect`` covers, the nodes drawn in it."""

    index: int  # the group's number (its letter: A + index)
    ids: tuple[int, ...]
    left_out: bool  # the nodes in no group
    rect: Rect

    @property
    def letter(self) -> str:
        return chr(ord("A") + self.index)

    def labels(self) -> list[str]:
        """The region's label, longest first: the first that fits is shown."""
        ids = ",".join(map(str, self.ids))
        if not self.left_out:
            return [f" group {self.letter}: {ids} ", f" {self.letter}: {ids} ", f" {self.letter} "]
        if len(self.ids) == 1:
            return [f" {ids}: alone (not in any group) ", f" {ids}: alone, no group ", f" {ids}: alone ",
                    f" {self.letter} "]  # fmt: skip
        return [f" {ids}: not in any group ", f" {ids}: no group ", f" {self.letter} "]


#: The regions to draw, left to right: (group number, node ids, left out of every group).
Groups = list[tuple[int, tuple[int, ...], bool]]


@dataclass(frozen=True, slots=True)
class _Spacing:
    """Columns between boxes side by side, rows between rows of boxes, columns kept clear at each wall."""

    gap_x: int
    gap_y: int
    margin: int


#: Roomy first; when nothing fits that way, boxes may touch (their borders still tell them apart).
_SPACINGS = (_Spacing(2, 1, 1), _Spacing(1, 0, 0))


def _shape(k: int, cols: int, bw: int, bh: int, sp: _Spacing) -> tuple[int, int]:
    """The cells ``k`` boxes of ``bw`` x ``bh`` need in ``cols`` columns: (width, height)."""
    rows = math.ceil(k / cols)
    return cols * bw + (cols - 1) * sp.gap_x + 2 * sp.margin, rows * bh + (rows - 1) * sp.gap_y


def _columns(k: int, room_w: int, room_h: int, bw: int, bh: int, sp: _Spacing) -> int:
    """How many columns of boxes a region of ``room_w`` x ``room_h`` shows ``k`` nodes in (0: none fits).

    As square an arrangement as fits (2 side by side, 3 as a triangle, 4 as a
    square), else as few columns as the height allows.
    """
    shapes = {c: _shape(k, c, bw, bh, sp) for c in range(1, k + 1)}
    fitting = [c for c, (w, h) in shapes.items() if w <= room_w and h <= room_h]
    if not fitting:
        return 0
    square = math.ceil(math.sqrt(k))
    return max((c for c in fitting if c <= square), default=min(fitting))


def _needs(
    groups: Groups, labels: list[int], room_h: int, bw: int, bh: int, sp: _Spacing, spread: bool
) -> list[int]:
    """Each region's narrowest width for its label and its boxes, stacked as high as the room allows
    or, with ``spread``, three or more side by side in rows (0: they do not fit).

    In a stack of three, the path between the two ends runs behind the middle box: spreading
    them out keeps every message between them in sight.
    """
    needs = []
    for (_, ids, _), label in zip(groups, labels, strict=True):
        k = len(ids)
        fewest = 1 if not spread or k < 3 else math.ceil(math.sqrt(k))
        cols = next((c for c in range(fewest, k + 1) if _shape(k, c, bw, bh, sp)[1] <= room_h), 0)
        needs.append(max(_shape(k, cols, bw, bh, sp)[0], label) if cols else 0)
    return needs


#: The smallest box width still worth spreading a group out for (it shows ``log 3 cmt 2``).
_SPREAD_MIN_WIDTH = 13


def _choose(
    groups: Groups, width: int, room_h: int, sizes: tuple[tuple[int, int], ...]
) -> tuple[tuple[int, int], list[int], _Spacing]:
    """The box size, region widths and spacing, trying in turn: roomy before tight spacing; groups
    spread out (with boxes of a readable size) before stacked; whole labels before short ones; the
    largest boxes. With nothing fitting, the smallest boxes in equal regions."""
    n = len(groups)
    walls = n - 1
    texts = [Region(index, ids, left_out, Rect(0, 0, 0, 0)).labels() for index, ids, left_out in groups]
    for sp in _SPACINGS:
        for spread in (True, False):
            for level in (0, 1, 9):
                labels = [len(t[min(level, len(t) - 1)]) for t in texts]
                for bw, bh in sizes:
                    if spread and bw < _SPREAD_MIN_WIDTH:
                        continue
                    needs = _needs(groups, labels, room_h, bw, bh, sp, spread)
                    if all(needs) and sum(needs) + walls <= width:
                        return (bw, bh), needs, sp
    return sizes[-1], [max(width - walls, n) // n] * n, _SPACINGS[-1]


def partition_layout(
    groups: Groups, width: int, height: int, tall: bool = False
) -> tuple[dict[int, Rect], list[Region]]:
    """Boxes for every node, grouped: ``groups`` is (group number, ids, left out) per region, left to right.

    ``height`` is the drawing area; its top row holds the labels and its bottom
    row the clients. The largest box size for which every region fits side by
    side wins; the room left over is shared out in proportion to what each
    region needs, and the boxes are spread evenly over their region.
    """
    n = len(groups)
    if n == 0:
        return {}, []
    top, room_h = 1, max(height - 2, 0)
    walls = n - 1
    (bw, bh), needs, sp = _choose(groups, width, room_h, TALL_BOX_SIZES if tall else BOX_SIZES)
    # Share the spare columns out in proportion to need, remainder from the left.
    spare = max(width - walls - sum(needs), 0)
    total = max(sum(needs), 1)
    widths = [need + spare * need // total for need in needs]
    for i in range(max(width - walls - sum(widths), 0)):
        widths[i % n] += 1
    rects: dict[int, Rect] = {}
    regions: list[Region] = []
    x = 0
    for (index, ids, left_out), region_w in zip(groups, widths, strict=True):
        regions.append(Region(index, ids, left_out, Rect(x, 0, region_w, height)))
        cols = _columns(len(ids), region_w, room_h, bw, bh, sp) or 1
        rows = math.ceil(len(ids) / cols)
        inner_x, inner_w = x + sp.margin, region_w - 2 * sp.margin
        for i, node_id in enumerate(ids):
            row, col = divmod(i, cols)
            in_row = min(cols, len(ids) - row * cols)  # the last row may be short: centre it
            cx = inner_x + inner_w * (2 * col + 1) / (2 * in_row)
            cy = top + room_h * (2 * row + 1) / (2 * rows)
            # Floor, not round: centres at least a box apart stay at least a box apart.
            bx = min(max(math.floor(cx - bw / 2), inner_x), max(inner_x + inner_w - bw, x))
            by = min(max(math.floor(cy - bh / 2), top), max(top + room_h - bh, 0))
            rects[node_id] = Rect(bx, by, min(bw, width), min(bh, height))
        x += region_w + 1
    return rects, regions


def wall_rects(regions: list[Region], height: int) -> list[Rect]:
    """The wall between each two neighbouring regions, a column down to the clients' row."""
    return [Rect(r.rect.x + r.rect.w, 0, 1, max(height - 1, 1)) for r in regions[:-1]]


def draw_regions(canvas: Canvas, regions: list[Region], height: int) -> None:
    """The walls, then each region's label centred on its top row."""
    for wall in wall_rects(regions, height):
        for row in range(wall.y, wall.y + wall.h):
            canvas.put(wall.x, row, WALL_CHAR, CUT_STYLE)
    for region in regions:
        room = region.rect.w
        label = next((text for text in region.labels() if len(text) <= room), region.labels()[-1][:room])
        x = region.rect.x + max((room - len(label)) // 2, 0)
        canvas.write(x, 0, label, group_style(region.index))
