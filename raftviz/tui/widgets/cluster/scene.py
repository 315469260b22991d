"""Where everything goes in one picture: node boxes (on the ring, or apart by partition group), clients."""

from __future__ import annotations

from dataclasses import dataclass

from raftviz.tui.model import Snapshot
from raftviz.tui.widgets.cluster.geometry import Rect, clients_rect, ring_layout
from raftviz.tui.widgets.cluster.regions import Groups, Region, partition_layout, wall_rects

__all__ = ["Scene", "scene_layout"]


@dataclass(frozen=True, slots=True)
class Scene:
    """The layout of one picture: a box per node id, the clients' marker, a partition's regions and walls."""

    rects: dict[int, Rect]
    clients: Rect
    client_label: str
    client_ids: tuple[str, ...]
    regions: tuple[Region, ...] = ()
    walls: tuple[Rect, ...] = ()

    def region_of(self, node_id: int) -> Region | None:
        return next((r for r in self.regions if node_id in r.ids), None)


def _groups(snap: Snapshot, ids: list[int]) -> Groups:
    """The regions to draw: each partition group (numbered as ``Snapshot.group_of``), the left-out last."""
    out = [(i, tuple(n for n in ids if n in group), False) for i, group in enumerate(snap.groups)]
    rest = tuple(n for n in ids if snap.group_of(n) == len(snap.groups))
    if rest:
        out.append((len(snap.groups), rest, True))
    return [g for g in out if g[1]]


def scene_layout(snap: Snapshot, width: int, height: int) -> Scene:
    """Lay out ``snap`` in a drawing area of ``width`` x ``height`` cells (the legend not included)."""
    ids = sorted(n.id for n in snap.nodes)
    addresses = {a for f in snap.flights for a in (f.src, f.dst) if isinstance(a, str)}
    client_ids = tuple(sorted(addresses, key=lambda c: (len(c), c)))
    label = "clients"
    wide = f"{label} {' '.join(client_ids)}"
    tall = snap.membership_changed
    if snap.groups and ids:
        rect_of, regions = partition_layout(_groups(snap, ids), width, height, tall)
        # Clients are outside every partition: on the bottom row, below the walls.
        center = (width / 2, float(height - 1))
        clients = clients_rect(center, width, height, len(label) + 2)
        if client_ids and len(wide) + 2 <= width:
            label, clients = wide, clients_rect(center, width, height, len(wide) + 2)
        walls = tuple(wall_rects(regions, height))
        return Scene(rect_of, clients, label, client_ids, tuple(regions), walls)
    rects, center = ring_layout(len(ids), width, height, tall)
    clients = clients_rect(center, width, height, len(label) + 2)
    if client_ids:
        rect = clients_rect(center, width, height, len(wide) + 2)
        if not any(rect.overlaps(r) for r in rects):
            label, clients = wide, rect
    return Scene(dict(zip(ids, rects, strict=False)), clients, label, client_ids)
