"""The whole cluster picture (paths, glyphs, clients, boxes, legend, in that order); which box is clicked."""

from __future__ import annotations

from rich.text import Text

from raftviz.tui.model import FlightSnap, Snapshot
from raftviz.tui.widgets.cluster.boxes import config_line, draw_box, look_of
from raftviz.tui.widgets.cluster.canvas import Canvas
from raftviz.tui.widgets.cluster.cuts import cut_links, draw_cut, stop_at
from raftviz.tui.widgets.cluster.flights import FlightPath, flight_glyph, free_cell
from raftviz.tui.widgets.cluster.geometry import Rect, area_height
from raftviz.tui.widgets.cluster.legend import legend
from raftviz.tui.widgets.cluster.palette import DIM_TEXT, DOOMED_STYLE, PATH_CHAR, PATH_STYLE
from raftviz.tui.widgets.cluster.regions import draw_regions
from raftviz.tui.widgets.cluster.scene import scene_layout

__all__ = ["node_at", "render_cluster"]


def node_at(snap: Snapshot, width: int, height: int, x: int, y: int) -> int:
    """The id of the node whose box covers cell (x, y) in a ``width`` x ``height`` render, or 0."""
    scene = scene_layout(snap, width, area_height(height))
    return next((node_id for node_id, rect in sorted(scene.rects.items()) if rect.contains(x, y)), 0)


def render_cluster(snap: Snapshot, width: int, height: int, selected: int = 0, paths: bool = True) -> Text:
    """Draw the cluster: exactly ``height`` lines of at most ``width`` cells.

    ``selected`` is the id of the node to highlight (0: none); ``paths`` draws a
    faint dotted line under each message in flight (none across a cut).
    """
    width, height = max(width, 0), max(height, 0)
    canvas = Canvas(width, height)
    if width == 0 or height == 0:
        return canvas.to_text()
    area_h = area_height(height)
    nodes = sorted(snap.nodes, key=lambda n: n.id)
    scene = scene_layout(snap, width, area_h)
    clients = scene.clients
    blocked = [*scene.rects.values(), clients, *scene.walls]
    cut = set(snap.blocked)

    def rect_of(address: int | str) -> Rect | None:
        return scene.rects.get(address) if isinstance(address, int) else clients

    # Paths first, cut links and glyphs on top, walls and boxes last.
    placed: list[tuple[FlightPath, FlightSnap]] = []
    for flight in snap.flights:
        a, b = rect_of(flight.src), rect_of(flight.dst)
        if a is None or b is None or a == b:
            continue
        placed.append((FlightPath(a, b), flight))
    if paths:
        for path, flight in placed:
            if (flight.src, flight.dst) in cut:
                continue
            for cx, cy in path.cells():
                if not any(r.contains(cx, cy) for r in blocked):
                    canvas.put(cx, cy, PATH_CHAR, PATH_STYLE)
    for a, b in cut_links(snap, scene):
        draw_cut(canvas, FlightPath(scene.rects[a], scene.rects[b]), blocked)
    # The message arriving first gets its exact cell; one that would land on it moves aside a little.
    taken: set[tuple[int, int]] = set()
    for path, flight in sorted(placed, key=lambda pf: (pf[1].deliver_at, pf[1].id)):
        t = path.at(flight.progress(snap.now))
        glyph, style = flight_glyph(flight)
        if (flight.src, flight.dst) in cut:
            # Lost when it is due: it goes no further than the cut, and says so.
            limit = stop_at(path, scene, int(flight.src), int(flight.dst))
            cell = free_cell(path, min(t, limit), blocked, taken, limit)
            style = DOOMED_STYLE
        else:
            cell = free_cell(path, t, blocked, taken)
        if cell is not None:
            canvas.put(cell[0], cell[1], glyph, style)
            taken.add(cell)

    if scene.regions:
        draw_regions(canvas, list(scene.regions), area_h)
    if len(nodes) > 1 or scene.client_ids:
        style = "bold magenta" if scene.client_ids else DIM_TEXT
        canvas.write(clients.x, clients.y, f" {scene.client_label} "[: clients.w], style)
    reference = snap.configuration
    for node in nodes:
        rect = scene.rects[node.id]
        config = config_line(node, reference, max(rect.w - 2, 0)) if snap.membership_changed else None
        group, look = snap.group_of(node.id), look_of(node, snap)
        draw_box(canvas, rect, node, len(nodes), snap.now, node.id == selected, group, look, config)
    if not nodes:
        canvas.write(max((width - 10) // 2, 0), area_h // 2, "no cluster", DIM_TEXT)
    if area_h < height:
        snapshots = any(f.is_snapshot for f in snap.flights) or any(n.log_start for n in snap.nodes)
        canvas.spans(0, height - 1, legend(width, snapshots, cut=bool(snap.blocked), prevote=snap.prevote))
    return canvas.to_text()
