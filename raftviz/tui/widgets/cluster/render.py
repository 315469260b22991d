"""The whole cluster picture (paths, glyphs, clients, boxes, legend, in that order); which box is clicked."""

from __future__ import annotations

from rich.text import Text

from raftviz.tui.model import FlightSnap, Snapshot
from raftviz.tui.widgets.cluster.boxes import config_line, draw_box, look_of
from raftviz.tui.widgets.cluster.canvas import Canvas
from raftviz.tui.widgets.cluster.flights import FlightPath, flight_glyph, free_cell
from raftviz.tui.widgets.cluster.geometry import Rect, area_height, clients_rect, cluster_layout, ring_layout
from raftviz.tui.widgets.cluster.legend import legend
from raftviz.tui.widgets.cluster.palette import DIM_TEXT, PATH_CHAR, PATH_STYLE


def node_at(snap: Snapshot, width: int, height: int, x: int, y: int) -> int:
    """The id of the node whose box covers cell (x, y) in a ``width`` x ``height`` render, or 0."""
    nodes = sorted(snap.nodes, key=lambda n: n.id)
    rects = cluster_layout(len(nodes), width, area_height(height), snap.membership_changed)
    for node, rect in zip(nodes, rects, strict=False):
        if rect.contains(x, y):
            return node.id
    return 0





def render_cluster(snap: Snapshot, width: int, height: int, selected: int = 0, paths: bool = True) -> Text:
    """Draw the cluster: exactly ``height`` lines of at most ``width`` cells.

    ``selected`` is the id of the node to highlight (0: none); ``paths`` draws a
    faint dotted line under each message in flight.
    """
    width, height = max(width, 0), max(height, 0)
    canvas = Canvas(width, height)
    if width == 0 or height == 0:
        return canvas.to_text()
    area_h = area_height(height)
    nodes = sorted(snap.nodes, key=lambda n: n.id)
    show_config = snap.membership_changed
    rects, center = ring_layout(len(nodes), width, area_h, show_config)
    by_id = {node.id: rect for node, rect in zip(nodes, rects, strict=False)}

    # Clients in the middle.
    client_ids = sorted(
        {a for f in snap.flights for a in (f.src, f.dst) if isinstance(a, str)},
        key=lambda c: (len(c), c),
    )
    label = "clients"
    clients = clients_rect(center, width, area_h, len(label) + 2)
    if client_ids:
        wide = f"{label} {' '.join(client_ids)}"
        rect = clients_rect(center, width, area_h, len(wide) + 2)
        if not any(rect.overlaps(r) for r in rects):
            label, clients = wide, rect
    blocked = [*rects, clients]

    def rect_of(address: int | str) -> Rect | None:
        return by_id.get(address) if isinstance(address, int) else clients

    # Paths first, glyphs on top, boxes last.
    placed: list[tuple[FlightPath, FlightSnap]] = []
    for flight in snap.flights:
        a, b = rect_of(flight.src), rect_of(flight.dst)
        if a is None or b is None or a == b:
            continue
        placed.append((FlightPath(a, b), flight))
    if paths:
        for path, _ in placed:
            for cx, cy in path.cells():
                if not any(r.contains(cx, cy) for r in blocked):
                    canvas.put(cx, cy, PATH_CHAR, PATH_STYLE)
    # The message arriving first gets its exact cell; one that would land on it moves aside a little.
    taken: set[tuple[int, int]] = set()
    for path, flight in sorted(placed, key=lambda pf: (pf[1].deliver_at, pf[1].id)):
        cell = free_cell(path, path.at(flight.progress(snap.now)), blocked, taken)
        if cell is not None:
            glyph, style = flight_glyph(flight)
            canvas.put(cell[0], cell[1], glyph, style)
            taken.add(cell)

    if len(nodes) > 1 or client_ids:
        style = "bold magenta" if client_ids else DIM_TEXT
        canvas.write(clients.x, clients.y, f" {label} "[: clients.w], style)
    reference = snap.configuration
    for node, rect in zip(nodes, rects, strict=False):
        config = config_line(node, reference, max(rect.w - 2, 0)) if show_config else None
        group, look = snap.group_of(node.id), look_of(node, snap)
        draw_box(canvas, rect, node, len(nodes), snap.now, node.id == selected, group, look, config)
    if not nodes:
        canvas.write(max((width - 10) // 2, 0), area_h // 2, "no cluster", DIM_TEXT)
    if area_h < height:
        snapshots = any(f.is_snapshot for f in snap.flights) or any(n.log_start for n in snap.nodes)
        canvas.spans(0, height - 1, legend(width, snapshots))
    return canvas.to_text()
