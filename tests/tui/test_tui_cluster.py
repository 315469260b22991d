"""The cluster view under a partition and cut links (raftviz/tui/widgets/cluster/).

A partition must read from the back row: each group in its own labelled
region with a wall between, nodes left out of every group named, no message
path across a cut, a one-way cut showing its direction, and messages on a
blocked pair drawn as doomed (the lab loses them when they are due). These
tests build snapshots by hand and look at the rendered text and its styles;
one runs a real (in-process) lab to check what the snapshot says is blocked.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Sequence

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.style import Style
from rich.text import Text

from raftviz.lab.history import History
from raftviz.lab.session import Session
from raftviz.tui.model import FlightSnap, NodeSnap, Snapshot, take_snapshot
from raftviz.tui.widgets.cluster import cluster_layout, node_at, render_cluster
from raftviz.tui.widgets.cluster.geometry import area_height
from raftviz.tui.widgets.cluster.scene import scene_layout

CONSOLE = Console(width=200, force_terminal=True, color_system="truecolor")
#: The cluster pane at 160x48, 100x30 and a narrow 80-column screen, and a few more.
SIZES = [(86, 25), (53, 13), (40, 22), (60, 18), (100, 30)]
ARROWS = "→↘↓↙←↖↑↗"


def node(node_id: int, role: str = "follower", alive: bool = True) -> NodeSnap:
    return NodeSnap(
        id=node_id, alive=alive, role=role if alive else "down", term=2, vote=1, leader=0, commit=1,
        applied=1, deadline=1100, election_timeout=200, votes=(), next_index=(), match_index=(), log=(),
        kv=(), dropped=0, pid=0, incarnation=1,
    )  # fmt: skip


def flight(
    flight_id: int, src: int | str, dst: int | str, *, sent_at: int = 990, deliver_at: int = 1010
) -> FlightSnap:
    return FlightSnap(
        id=flight_id, src=src, dst=dst, kind="AppendEntries", text="AppendEntries", term=2,
        sent_at=sent_at, deliver_at=deliver_at, is_reply=False, ok=None, carries_entries=True,
    )  # fmt: skip


def blocked_by(ids: Sequence[int], groups: Sequence[Sequence[int]], cuts: Sequence[tuple[int, int]] = ()):
    """The pairs lab/network.py blocks: across groups (the left-out together), and the cut links."""

    def group(n: int) -> int:
        return next((i for i, g in enumerate(groups) if n in g), -1)

    return tuple(
        (a, b) for a in ids for b in ids if a != b and ((a, b) in cuts or (groups and group(a) != group(b)))
    )


def snapshot(
    n: int = 5,
    groups: Sequence[Sequence[int]] = (),
    cuts: Sequence[tuple[int, int]] = (),
    flights: Sequence[FlightSnap] = (),
    down: Sequence[int] = (),
    now: int = 1000,
) -> Snapshot:
    ids = list(range(1, n + 1))
    nodes = [node(i, "leader" if i == 1 else "follower", alive=i not in down) for i in ids]
    return Snapshot(
        now=now, position=1, steps=1, seed=1, backend="inprocess", nodes=tuple(nodes), flights=tuple(flights),
        network="", violations=(), pending_requests=0, loss=0.0, latency=(10, 20),
        groups=tuple(tuple(sorted(g)) for g in groups), blocked=blocked_by(ids, groups, cuts),
    )  # fmt: skip


def lines_of(text: Text) -> list[str]:
    return text.plain.split("\n")


def style_at(text: Text, row: int, col: int) -> Style:
    return text.split("\n", allow_blank=True)[row].get_style_at_offset(CONSOLE, col)


def wall_columns(text: Text, height: int) -> list[int]:
    """Columns holding a wall: a ┃ on most rows of the drawing area."""
    lines = lines_of(text)[: area_height(height)]
    width = max(len(line) for line in lines)
    counts = [sum(len(line) > x and line[x] == "┃" for line in lines) for x in range(width)]
    return [x for x, count in enumerate(counts) if count >= len(lines) - 2]


def area_cells(text: Text, height: int, chars: str) -> list[tuple[int, int, str]]:
    """Where ``chars`` are drawn above the legend line."""
    return [
        (x, y, ch)
        for y, line in enumerate(lines_of(text)[: area_height(height)])
        for x, ch in enumerate(line)
        if ch in chars
    ]


# --------------------------------------------------------------------------- groups apart


@pytest.mark.parametrize(("width", "height"), SIZES)
def test_a_partition_draws_each_group_in_its_own_region_behind_a_wall(width: int, height: int) -> None:
    snap = snapshot(5, groups=[(1, 2), (3, 4, 5)])
    text = render_cluster(snap, width, height)
    lines = lines_of(text)
    assert len(lines) == height and all(cell_len(line) <= width for line in lines)
    (wall,) = wall_columns(text, height)
    scene = scene_layout(snap, width, area_height(height))
    for node_id, rect in scene.rects.items():
        # Every box wholly on its group's side of the wall, and drawn there.
        if node_id in (1, 2):
            assert rect.x + rect.w <= wall
        else:
            assert rect.x > wall
        assert str(node_id) in lines[rect.y][rect.x : rect.x + rect.w]
    top = lines[0]
    assert "A: 1,2" in top and "B: 3,4,5" in top
    assert top.index("A: 1,2") < wall < top.index("B: 3,4,5")
    # The label says it in words at a projector's width; the wall is red and heavy.
    if width >= 80:
        assert "group A: 1,2" in top and "group B: 3,4,5" in top
    assert style_at(text, 1, wall).color.name == "bright_red"


def test_the_groups_keep_the_order_they_were_given_in() -> None:
    text = render_cluster(snapshot(5, groups=[(3, 4), (1, 2, 5)]), 86, 25)
    top = lines_of(text)[0]
    assert top.index("A: 3,4") < top.index("B: 1,2,5")


def test_when_healed_the_nodes_return_to_the_ring() -> None:
    partitioned, healed = snapshot(5, groups=[(1, 2), (3, 4, 5)]), snapshot(5)
    ring = dict(zip(range(1, 6), cluster_layout(5, 86, 24), strict=True))
    assert scene_layout(healed, 86, 24).rects == ring
    assert scene_layout(partitioned, 86, 24).rects != scene_layout(healed, 86, 24).rects
    text = render_cluster(healed, 86, 25)
    assert not wall_columns(text, 25) and "group" not in text.plain and "✗" not in text.plain


@pytest.mark.parametrize("seed", range(40))
def test_any_partition_fits_without_overlap(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(2, 9)
    ids = list(range(1, n + 1))
    rng.shuffle(ids)
    cuts = sorted(rng.sample(range(1, n), rng.randint(1, min(3, n - 1))))
    groups = [ids[a:b] for a, b in itertools.pairwise([0, *cuts, n])]
    if rng.random() < 0.3:
        groups = groups[:-1]  # leave the last group's nodes out of every group
    snap = snapshot(n, groups=groups)
    for width, height in SIZES:
        text = render_cluster(snap, width, height)
        assert len(lines_of(text)) == height
        scene = scene_layout(snap, width, area_height(height))
        rects = list(scene.rects.values())
        assert len(rects) == n
        for i, a in enumerate(rects):
            assert a.x >= 0 and a.y >= 0 and a.x + a.w <= width and a.y + a.h <= area_height(height)
            assert not any(a.overlaps(b) for b in rects[i + 1 :]), (groups, width, height)
            assert not any(a.overlaps(w) for w in scene.walls)


def test_node_at_follows_the_partition_layout() -> None:
    snap = snapshot(5, groups=[(2, 5), (1, 3, 4)])
    scene = scene_layout(snap, 86, 24)
    for node_id, rect in scene.rects.items():
        assert node_at(snap, 86, 25, rect.x + 1, rect.y + 1) == node_id
    assert node_at(snap, 86, 25, scene.walls[0].x, 5) == 0


# --------------------------------------------------------------------------- left out


def test_a_node_left_out_of_every_group_is_named_alone() -> None:
    snap = snapshot(5, groups=[(1, 2), (3, 4)], down=[5])
    text = render_cluster(snap, 86, 25)
    top = lines_of(text)[0]
    assert "5: alone (not in any group)" in top
    assert len(wall_columns(text, 25)) == 2
    # It stands apart, right of both groups, and still says it is down.
    scene = scene_layout(snap, 86, 24)
    assert scene.rects[5].x > max(w.x for w in scene.walls)
    assert "DOWN" in text.plain
    # Narrower, the words shrink but still say it.
    assert "5: alone" in lines_of(render_cluster(snap, 53, 13))[0]


def test_several_left_out_nodes_are_one_region_as_the_network_keeps_them() -> None:
    snap = snapshot(5, groups=[(1, 2), (3,)])
    assert (4, 5) not in snap.blocked and (4, 1) in snap.blocked
    top = lines_of(render_cluster(snap, 86, 25))[0]
    assert "4,5: not in any group" in top


# --------------------------------------------------------------------------- paths and cuts


def test_no_message_path_is_drawn_across_a_partition() -> None:
    groups = [(1, 2), (3, 4, 5)]
    across = [flight(1, 1, 3), flight(2, 4, 2)]
    within = [flight(3, 1, 2)]
    bare = render_cluster(snapshot(5, groups=groups), 86, 25)
    crossing = render_cluster(snapshot(5, groups=groups, flights=across), 86, 25)
    # Only the two doomed glyphs differ: no dotted path.
    diff = [(x, y) for y, (a, b) in enumerate(zip(lines_of(bare), lines_of(crossing), strict=True))
            for x, (p, q) in enumerate(zip(a, b, strict=True)) if p != q]  # fmt: skip
    assert len(diff) == 2
    assert all(lines_of(crossing)[y][x] == "■" for x, y in diff)
    # A message within a group has its path as before.
    inside = render_cluster(snapshot(5, groups=groups, flights=within), 86, 25)
    assert len(area_cells(inside, 25, "·")) > len(area_cells(bare, 25, "·"))


def test_a_message_across_the_cut_is_doomed_and_stops_at_the_wall() -> None:
    groups = [(1, 2), (3, 4, 5)]
    for now in range(990, 1011, 2):
        snap = snapshot(5, groups=groups, flights=[flight(1, 1, 4)], now=now)
        text = render_cluster(snap, 86, 25, paths=False)
        (wall,) = wall_columns(text, 25)
        ((x, y, _),) = area_cells(text, 25, "■")
        assert x < wall  # never through the wall: the lab loses it when it is due
        style = style_at(text, y, x)
        assert style.bgcolor is not None and style.bgcolor.name == "red3"
    assert "lost at" in lines_of(text)[-1]


def test_a_one_way_cut_shows_its_direction() -> None:
    snap = snapshot(5, cuts=[(1, 3)])
    text = render_cluster(snap, 86, 25)
    scene = scene_layout(snap, 86, 24)
    ((mx, my, _),) = area_cells(text, 25, "✗")
    ((ax, ay, head),) = area_cells(text, 25, ARROWS)
    assert style_at(text, my, mx).color.name == "bright_red"
    # The arrowhead is on 1's side of the ✗ and points to 3 (3 is below and to the right of 1).
    (x1, y1), (x3, y3) = scene.rects[1].center, scene.rects[3].center

    def dist(x: float, y: float, to: tuple[float, float]) -> float:
        return abs(x - to[0]) + 2 * abs(y - to[1])

    assert dist(ax, ay, (x1, y1)) < dist(mx, my, (x1, y1))
    assert dist(mx, my, (x3, y3)) < dist(ax, ay, (x3, y3))
    assert head in "↘↓→"
    # The reverse direction works, so a message from 3 to 1 has its path and its own colour.
    both = render_cluster(snapshot(5, cuts=[(1, 3)], flights=[flight(1, 3, 1)]), 86, 25)
    ((x, y, _),) = area_cells(both, 25, "■")
    assert style_at(both, y, x).bgcolor is None


def test_a_link_cut_both_ways_has_an_arrow_from_each_side() -> None:
    text = render_cluster(snapshot(5, cuts=[(2, 4), (4, 2)]), 86, 25)
    assert len(area_cells(text, 25, ARROWS)) == 2
    assert len(area_cells(text, 25, "✗")) == 1


def test_a_cut_link_inside_a_group_is_drawn_and_one_across_groups_is_left_to_the_wall() -> None:
    snap = snapshot(5, groups=[(1, 2), (3, 4, 5)], cuts=[(1, 2), (1, 3)])
    text = render_cluster(snap, 86, 25)
    ((mx, _, _),) = area_cells(text, 25, "✗")
    (wall,) = wall_columns(text, 25)
    assert mx < wall  # the one between 1 and 2
    assert "cut" in lines_of(text)[-1]


def test_a_message_on_a_cut_link_stops_before_the_cut() -> None:
    for now in (1000, 1010):
        text = render_cluster(snapshot(5, cuts=[(1, 3)], flights=[flight(1, 1, 3)], now=now), 86, 25)
        scene = scene_layout(snapshot(5), 86, 24)
        ((gx, gy, _),) = area_cells(text, 25, "■")
        ((mx, my, _),) = area_cells(text, 25, "✗")
        (x1, y1) = scene.rects[1].center
        assert abs(gx - x1) + 2 * abs(gy - y1) < abs(mx - x1) + 2 * abs(my - y1)


# --------------------------------------------------------------------------- the lab's own word


def test_the_snapshot_says_what_the_network_blocks() -> None:
    history = History(lambda: Session(backend="inprocess"))
    try:
        for line in ("cluster 5 seed=7", "until leader", "partition 1,2 | 3,4", "cut 1->2"):
            history.run_text(line)
        snap = take_snapshot(history)
        assert snap is not None
        network = history.session.lab.network
        pairs = itertools.permutations(range(1, 6), 2)
        expected = {(a, b) for a, b in pairs if not network.connected(a, b)}
        assert set(snap.blocked) == expected
        assert (1, 2) in expected and (2, 1) not in expected and (5, 1) in expected and (3, 4) not in expected
        history.run_text("heal")
        healed = take_snapshot(history)
        assert healed is not None and healed.blocked == () and healed.groups == ()
    finally:
        history.close()


def test_the_app_draws_a_partition_apart_and_clicks_still_find_the_nodes() -> None:
    from raftviz.tui.app import AppOptions, RaftvizApp
    from raftviz.tui.testing import settle
    from raftviz.tui.widgets.cluster import ClusterView

    async def run() -> None:
        app = RaftvizApp(AppOptions(backend="inprocess", seed=42))
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            app.run_command("until leader")
            app.run_command("partition 1,2 | 3,4")
            await settle(pilot, app)
            cluster = app.screen.query_one(ClusterView)
            size = cluster.content_size
            picture = cluster.render().plain
            assert "group A: 1,2" in picture and "group B: 3,4" in picture
            assert "5: alone (not in any group)" in picture
            box = scene_layout(app.snapshot, size.width, area_height(size.height)).rects[4]
            await pilot.click(ClusterView, offset=(box.x + box.w // 2 + 1, box.y + 1 + 1))
            await settle(pilot, app)
            assert app.selected == 4
            app.run_command("heal")
            await settle(pilot, app)
            assert "group A" not in cluster.render().plain

    asyncio.run(run())
