"""Unit tests of the cluster and logs renderers, on hand-built snapshots.

The renderers are pure functions (Snapshot + size -> rich Text), so these
tests build ``NodeSnap``/``FlightSnap`` values directly and look at the
returned text and its styles; one Pilot test checks that the widgets mount
and draw.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import replace

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult

from raftviz.core.messages import Command, Entry
from raftviz.tui.model import FlightSnap, NodeSnap, Snapshot
from raftviz.tui.widgets.cluster import (
    ClusterView,
    Rect,
    cluster_layout,
    node_at,
    render_cluster,
    term_color,
    term_style,
)
from raftviz.tui.widgets.logs import LogsView, log_window, render_logs

CONSOLE = Console(width=200, force_terminal=True, color_system="truecolor")
SIZES = [(60, 18), (72, 20), (80, 24), (100, 30), (40, 10), (20, 6), (12, 3), (1, 1)]


# --------------------------------------------------------------------------- builders


def entries(terms: Sequence[int], first: int = 1) -> tuple[Entry, ...]:
    """Entries with the given terms, numbered (in their keys) from index ``first``."""
    return tuple(Entry(t, Command("put", f"k{i}", str(i), "c1", i)) for i, t in enumerate(terms, first))


def node(
    node_id: int,
    role: str = "follower",
    term: int = 2,
    *,
    vote: int = 0,
    commit: int = 0,
    log: tuple[Entry, ...] = (),
    votes: tuple[int, ...] = (),
    alive: bool = True,
    deadline: int = 1100,
    election_timeout: int = 200,
    next_index: tuple[tuple[int, int], ...] = (),
    match_index: tuple[tuple[int, int], ...] = (),
    log_start: int = 0,
    log_start_term: int = 0,
    voters: tuple[int, ...] = (),
    learners: tuple[int, ...] = (),
    joined: bool = False,
) -> NodeSnap:
    return NodeSnap(
        id=node_id,
        alive=alive,
        role=role if alive else "down",
        term=term,
        vote=vote,
        leader=0,
        commit=commit,
        applied=commit,
        deadline=deadline,
        election_timeout=election_timeout,
        votes=votes,
        next_index=next_index,
        match_index=match_index,
        log=log,
        kv=(),
        dropped=0,
        pid=0,
        incarnation=1,
        log_start=log_start,
        log_start_term=log_start_term,
        voters=voters,
        learners=learners,
        joined=joined,
    )


def flight(
    flight_id: int,
    src: int | str,
    dst: int | str,
    kind: str,
    *,
    sent_at: int = 990,
    deliver_at: int = 1010,
    ok: bool | None = None,
    carries_entries: bool = False,
) -> FlightSnap:
    return FlightSnap(
        id=flight_id,
        src=src,
        dst=dst,
        kind=kind,
        text=kind,
        term=2,
        sent_at=sent_at,
        deliver_at=deliver_at,
        is_reply=kind.endswith("Reply"),
        ok=ok,
        carries_entries=carries_entries,
    )


def snapshot(nodes: Sequence[NodeSnap], flights: Sequence[FlightSnap] = (), now: int = 1000) -> Snapshot:
    return Snapshot(
        now=now,
        position=1,
        steps=1,
        seed=1,
        backend="inprocess",
        nodes=tuple(nodes),
        flights=tuple(flights),
        network="",
        violations=(),
        pending_requests=0,
        loss=0.0,
        latency=(10, 20),
    )


def cluster_of(n: int, flights: Sequence[FlightSnap] = ()) -> Snapshot:
    """Node 1 leader, node 2 candidate, node 3 down (if n > 3), the rest followers."""
    log = entries([1, 1, 2])
    nodes = []
    for i in range(1, n + 1):
        if i == 1:
            peers = tuple((j, 4) for j in range(2, n + 1))
            nodes.append(
                node(
                    i,
                    "leader",
                    2,
                    vote=1,
                    commit=2,
                    log=log,
                    next_index=peers,
                    match_index=tuple((j, 3) for j in range(2, n + 1)),
                )
            )
        elif i == 2:
            nodes.append(node(i, "candidate", 3, vote=2, commit=2, log=log, votes=(2, 4)))
        elif i == 3 and n > 3:
            nodes.append(node(i, alive=False, term=2, vote=1, commit=1, log=log[:2]))
        else:
            nodes.append(node(i, "follower", 2, vote=1, commit=2, log=log))
    return snapshot(nodes, flights)


def lines_of(text: Text) -> list[str]:
    return text.plain.split("\n")


def style_at(text: Text, row: int, col: int) -> Style:
    line = text.split("\n", allow_blank=True)[row]
    return line.get_style_at_offset(CONSOLE, col)


def check_bounds(text: Text, width: int, height: int) -> None:
    lines = lines_of(text)
    assert len(lines) == height
    for line in lines:
        assert cell_len(line) <= width, (line, width)


# --------------------------------------------------------------------------- shared palette


def test_term_style_is_a_fixed_palette_by_term() -> None:
    assert term_style(3) == term_style(3)
    assert all(term_color(t) != term_color(t + 1) for t in range(1, 20))
    for term in range(0, 30):
        Style.parse(term_style(term))  # a valid Rich style
    assert term_color(1) == term_color(1 + 8)  # it cycles


# --------------------------------------------------------------------------- cluster


@pytest.mark.parametrize("n", [1, 3, 5, 7, 9])
@pytest.mark.parametrize(("width", "height"), SIZES)
def test_cluster_fills_exactly_the_size(n: int, width: int, height: int) -> None:
    flights = [flight(1, 1, 2, "AppendEntries", carries_entries=True), flight(2, "c1", 1, "ClientRequest")]
    check_bounds(render_cluster(cluster_of(n, flights), width, height), width, height)


def test_cluster_of_no_nodes_renders() -> None:
    check_bounds(render_cluster(snapshot([]), 60, 18), 60, 18)


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7, 8, 9])
@pytest.mark.parametrize(("width", "height"), [(60, 17), (80, 23), (100, 29)])
def test_boxes_never_overlap_and_stay_inside(n: int, width: int, height: int) -> None:
    rects = cluster_layout(n, width, height)
    assert len(rects) == n
    for i, a in enumerate(rects):
        assert a.x >= 0 and a.y >= 0 and a.x + a.w <= width and a.y + a.h <= height
        for b in rects[i + 1 :]:
            assert not a.overlaps(b), (a, b)


@pytest.mark.parametrize("n", [3, 5])
def test_small_clusters_get_full_size_boxes_even_at_60x18(n: int) -> None:
    assert {(r.w, r.h) for r in cluster_layout(n, 60, 17)} == {(17, 5)}


def test_nine_nodes_fit_readable_boxes_at_60x18() -> None:
    rects = cluster_layout(9, 60, 17)
    assert all(r.w >= 13 and r.h >= 4 for r in rects)


def test_node_one_is_at_the_top_and_the_ring_runs_clockwise() -> None:
    rects = cluster_layout(5, 80, 23)
    assert rects[0].y == min(r.y for r in rects)
    cx = rects[0].center[0]
    assert rects[1].center[0] > cx  # node 2 to the right of node 1
    assert rects[4].center[0] < cx  # node 5 to the left


@pytest.mark.parametrize("n", [3, 5, 9])
def test_roles_read_as_words(n: int) -> None:
    plain = render_cluster(cluster_of(n), 100, 30).plain
    assert "LEADER" in plain
    assert "candidate" in plain
    assert "follower" in plain
    assert ("DOWN" in plain) == (n > 3)


def test_a_down_node_says_down_and_looks_different() -> None:
    snap = cluster_of(5)
    text = render_cluster(snap, 80, 24)
    rect = cluster_layout(5, 80, 23)[2]  # node 3 is down
    lines = lines_of(text)
    assert "DOWN" in lines[rect.y][rect.x : rect.x + rect.w]
    assert "3" in lines[rect.y][rect.x : rect.x + rect.w]
    assert "crashed" in text.plain
    assert style_at(text, rect.y, rect.x).dim
    leader = cluster_layout(5, 80, 23)[0]
    assert lines[leader.y][leader.x] == "╔"  # the leader's double border
    assert style_at(text, leader.y, leader.x).bold


def test_box_contents_term_vote_log_commit_timer() -> None:
    snap = snapshot(
        [
            node(
                1,
                "follower",
                3,
                vote=2,
                commit=4,
                log=entries([1, 2, 3, 3, 3]),
                deadline=1100,
                election_timeout=200,
            ),
            node(2, "candidate", 3, vote=2, commit=4, log=entries([1, 2, 3, 3]), votes=(2, 1)),
            node(3, "leader", 3, vote=3, commit=4, log=entries([1, 2, 3, 3, 3])),
        ]
    )
    plain = render_cluster(snap, 80, 24).plain
    assert "T3 vote 2" in plain
    assert "log 5 commit 4" in plain
    assert "votes 2/3" in plain
    assert "heartbeat" in plain
    assert "█████░░░░" in plain  # the follower's timer is half run (100 of 200 ms)


def test_term_number_is_coloured_by_term() -> None:
    snap = snapshot([node(1, "follower", 3), node(2, "follower", 4), node(3, "follower", 4)])
    text = render_cluster(snap, 80, 24)
    rects = cluster_layout(3, 80, 23)
    styles = [style_at(text, r.y + 1, r.x + 1) for r in rects]
    assert styles[0] == Style.parse(term_style(3))
    assert styles[1] == styles[2] == Style.parse(term_style(4))


def test_selected_node_title_is_reversed() -> None:
    snap = cluster_of(5)
    rects = cluster_layout(5, 80, 23)
    plain = render_cluster(snap, 80, 24, selected=4)
    r = rects[3]
    title_col = r.x + 2
    assert style_at(plain, r.y, title_col).reverse
    assert not style_at(render_cluster(snap, 80, 24, selected=0), r.y, title_col).reverse


def glyph_cells(text: Text, glyphs: str) -> list[tuple[int, int, str]]:
    """Where the glyphs are drawn, the legend line excepted."""
    return [
        (x, y, ch) for y, line in enumerate(lines_of(text)[:-1]) for x, ch in enumerate(line) if ch in glyphs
    ]


def inside_any(rects: Sequence[Rect], x: int, y: int) -> bool:
    return any(r.contains(x, y) for r in rects)


def test_message_halfway_is_between_the_two_boxes_and_outside_them() -> None:
    snap = snapshot(
        [node(1, "candidate", 2, votes=(1,)), node(2), node(3)],
        [flight(1, 1, 2, "RequestVote", sent_at=990, deliver_at=1010)],
    )
    text = render_cluster(snap, 80, 24)
    rects = cluster_layout(3, 80, 23)
    found = glyph_cells(text, "●")
    assert len(found) == 1
    x, y, _ = found[0]
    assert not inside_any(rects, x, y)
    (ax, ay), (bx, by) = rects[0].center, rects[1].center
    assert min(ax, bx) <= x <= max(ax, bx)
    assert min(ay, by) <= y <= max(ay, by)
    # About halfway between the two boxes' facing edges.
    mid_x, mid_y = (ax + bx) / 2, (ay + by) / 2
    assert abs(x - mid_x) <= 6 and abs(y - mid_y) <= 3


def test_message_moves_from_sender_to_receiver() -> None:
    def where(now: int) -> tuple[int, int]:
        snap = snapshot(
            [node(1, "leader", 2), node(2), node(3)],
            [flight(1, 1, 2, "AppendEntries", sent_at=1000, deliver_at=1020, carries_entries=True)],
            now=now,
        )
        ((x, y, _),) = glyph_cells(render_cluster(snap, 80, 24, paths=False), "■")
        return x, y

    rects = cluster_layout(3, 80, 23)
    start, middle, end = where(1000), where(1010), where(1020)
    b = rects[1].center
    dist = [abs(p[0] - b[0]) + abs(p[1] - b[1]) for p in (start, middle, end)]
    assert dist[0] > dist[1] > dist[2]
    for x, y in (start, middle, end):
        assert not inside_any(rects, x, y)


def test_glyphs_never_cover_a_box() -> None:
    n = 9
    pairs = [(a, b) for a in range(1, n + 1) for b in range(1, n + 1) if a != b]
    flights = [
        flight(i, a, b, "AppendEntries", sent_at=1000 - (i % 21), deliver_at=1000 - (i % 21) + 20)
        for i, (a, b) in enumerate(pairs)
    ] + [flight(500, "c1", 5, "ClientRequest"), flight(501, 5, "c1", "ClientReply", ok=True)]
    for width, height in [(60, 18), (80, 24), (100, 30)]:
        bare = lines_of(render_cluster(cluster_of(n), width, height))
        busy = lines_of(render_cluster(cluster_of(n, flights), width, height))
        for r in cluster_layout(n, width, height - 1):
            for y in range(r.y, r.y + r.h):
                assert busy[y][r.x : r.x + r.w] == bare[y][r.x : r.x + r.w]
        assert glyph_cells(render_cluster(cluster_of(n, flights), width, height), "▪")


def test_requests_and_replies_and_outcomes_are_distinguishable() -> None:
    kinds = [
        flight(1, 1, 2, "RequestVote"),
        flight(2, 2, 1, "RequestVoteReply", ok=True),
        flight(3, 3, 1, "RequestVoteReply", ok=False),
        flight(4, 1, 3, "AppendEntries", carries_entries=True),
        flight(5, 1, 4, "AppendEntries"),
        flight(6, 4, 1, "AppendEntriesReply", ok=True),
        flight(7, 5, 1, "AppendEntriesReply", ok=False),
        flight(8, "c1", 1, "ClientRequest"),
        flight(9, 1, "c1", "ClientReply", ok=True),
    ]
    snap = snapshot([node(i) for i in range(1, 6)], kinds)
    text = render_cluster(snap, 100, 30)
    cells = {ch: (x, y) for x, y, ch in glyph_cells(text, "●○⊗■▪□⊠◆◇")}
    assert set(cells) == set("●○⊗■▪□⊠◆◇")  # every kind has a glyph
    # Granted and denied replies differ in colour (green vs red) and in shape (crossed):
    # the outcome reads without colour too.
    votes = [style_at(text, y, x).color for x, y, ch in glyph_cells(text, "○⊗")]
    assert len(set(votes)) == 2
    squares = [style_at(text, y, x).color for x, y, ch in glyph_cells(text, "□⊠")]
    assert len(set(squares)) == 2
    # The heartbeat is dimmer than an append with entries.
    heartbeat = style_at(text, cells["▪"][1], cells["▪"][0])
    append = style_at(text, cells["■"][1], cells["■"][0])
    assert append.bold and not heartbeat.bold


def test_clients_sit_in_the_middle() -> None:
    snap = cluster_of(5, [flight(1, "c1", 1, "ClientRequest"), flight(2, 1, "c2", "ClientReply", ok=False)])
    lines = lines_of(render_cluster(snap, 80, 24))
    row = next(i for i, line in enumerate(lines) if "clients" in line)
    assert 6 <= row <= 17
    assert "c1" in lines[row] and "c2" in lines[row]
    assert 25 <= lines[row].index("clients") <= 50


def test_legend_on_the_last_line() -> None:
    for width in (60, 80, 100):
        last = lines_of(render_cluster(cluster_of(5), width, 24))[-1]
        assert "●" in last and "■" in last and "beat" in last
        assert "repl" in last and "ok" in last


def test_node_at_finds_the_clicked_box() -> None:
    snap = cluster_of(5)
    rects = cluster_layout(5, 80, 23)
    for i, r in enumerate(rects, 1):
        assert node_at(snap, 80, 24, r.x + 1, r.y + 1) == i
    assert node_at(snap, 80, 24, 0, 23) == 0


# --------------------------------------------------------------------------- logs


def column(snap: Snapshot, width: int, index: int, offset: int | None = None) -> int:
    """The column of the first digit cell of log ``index`` (its marker cell is the one before)."""
    win = log_window(snap, width, offset)
    return win.gutter + (index - win.first) * win.cell + 1


def logs_snapshot(n: int, length: int = 8, terms: Sequence[int] | None = None) -> Snapshot:
    terms = list(terms) if terms is not None else [1 + i // 3 for i in range(length)]
    log = entries(terms)
    nodes = []
    for i in range(1, n + 1):
        if i == 1:
            nodes.append(
                node(
                    i,
                    "leader",
                    max(terms),
                    vote=1,
                    commit=len(log) - 2,
                    log=log,
                    next_index=tuple((j, len(log) + 1) for j in range(2, n + 1)),
                    match_index=tuple((j, len(log) - 1 if j == 2 else len(log)) for j in range(2, n + 1)),
                )
            )
        elif i == 3:
            nodes.append(node(i, alive=False, term=max(terms), commit=len(log) - 4, log=log[:-3]))
        else:
            short = log[: len(log) - i % 2]
            nodes.append(node(i, "follower", max(terms), vote=1, commit=len(log) - 2, log=short))
    return snapshot(nodes)


@pytest.mark.parametrize("n", [1, 3, 5, 9])
@pytest.mark.parametrize(("width", "height"), SIZES)
def test_logs_fill_exactly_the_size(n: int, width: int, height: int) -> None:
    for offset in (None, 1, 5):
        check_bounds(render_logs(logs_snapshot(n), width, height, offset), width, height)


def test_logs_of_no_nodes_renders() -> None:
    check_bounds(render_logs(snapshot([]), 60, 10), 60, 10)


def test_one_row_per_node_with_terms_in_index_columns() -> None:
    snap = logs_snapshot(5, terms=[1, 1, 2, 2, 3, 3, 3, 4])
    lines = lines_of(render_logs(snap, 80, 12))
    header = lines[0].split()
    assert header[:8] == [str(i) for i in range(1, 9)]
    assert "commit" in lines[0] and "next" in lines[0] and "match" in lines[0]
    for i in range(1, 6):
        assert lines[i].startswith(f"N{i}")
    # The leader's row reads the terms of its log, each under its index.
    row = lines[1]
    for index, term in enumerate([1, 1, 2, 2, 3, 3, 3, 4], 1):
        col = lines[0].index(f" {index} ") + 1 if index < 8 else lines[0].index(" 8") + 1
        assert row[col] == str(term), (index, row)


def test_committed_and_uncommitted_entries_look_different() -> None:
    snap = logs_snapshot(3, terms=[1, 1, 2, 2, 2])
    text = render_logs(snap, 60, 8)
    lines = lines_of(text)
    header = lines[0]
    committed = style_at(text, 1, column(snap, 60, 1) + 1)  # leader commit = 3
    uncommitted = style_at(text, 1, column(snap, 60, 5) + 1)
    assert header[column(snap, 60, 5) + 1] == "5"
    assert committed != uncommitted
    assert committed.bgcolor is not None and uncommitted.bgcolor is None
    assert uncommitted.underline
    assert committed.bgcolor.name == term_color(1)
    # The commit marker sits right after the commit index (3), before index 4.
    assert lines[1][column(snap, 60, 4) - 1] == "▕"
    assert lines[1].count("▕") == 1


def test_down_node_row_is_dim_and_says_down() -> None:
    snap = logs_snapshot(5)
    text = render_logs(snap, 80, 12)
    row = lines_of(text)[3]
    assert row.startswith("N3") and "DOWN" in row
    assert style_at(text, 3, 0).dim
    col = column(snap, 80, 5) + 1  # uncommitted on node 3 (commit 4)
    assert lines_of(text)[3][col] == "2"
    assert style_at(text, 3, col).dim


def test_leader_shows_next_and_match_for_each_follower() -> None:
    snap = logs_snapshot(3, terms=[1, 1, 2, 2, 2])
    lines = lines_of(render_logs(snap, 80, 8))
    assert lines[2].split()[-3:] == ["3", "6", "4"]  # N2: commit, next, match
    assert lines[1].split()[-3:] == ["3", "-", "-"]  # the leader itself


def test_missing_entries_are_dots_where_another_node_has_them() -> None:
    snap = logs_snapshot(3, terms=[1, 1, 2, 2, 2])
    lines = lines_of(render_logs(snap, 60, 8))
    col = column(snap, 60, 5) + 1
    assert lines[1][col] == "2"  # the leader has index 5
    assert lines[3][col] == "·"  # node 3 (down) has only 2 entries


def test_commands_of_the_last_visible_indexes_are_listed() -> None:
    snap = logs_snapshot(3, terms=[1, 1, 2, 2, 2])
    plain = render_logs(snap, 80, 10).plain
    assert "5: put k5 5 (c1#5)" in plain
    assert "1: put k1 1 (c1#1)" in plain
    assert "N1 (leader)" in plain


def test_a_long_log_renders_only_its_window_fast() -> None:
    n, length = 5, 2000
    snap = logs_snapshot(n, terms=[1 + i // 100 for i in range(length)])
    start = time.perf_counter()
    text = render_logs(snap, 100, 14)
    elapsed = time.perf_counter() - start
    print(f"render_logs of {n} x {length} entries: {elapsed * 1000:.2f} ms")
    start = time.perf_counter()
    render_cluster(snap, 100, 30)
    print(f"render_cluster of the same: {(time.perf_counter() - start) * 1000:.2f} ms")
    lines = lines_of(text)
    check_bounds(text, 100, 14)
    assert lines[0].startswith("◂")  # more to the left
    assert "2000" in lines[0]
    win = log_window(snap, 100)
    assert win.last == 2001  # the tail plus a free column for the next entry
    assert lines[1][column(snap, 100, 2000) + 1] == "0"  # term 20 at index 2000
    assert lines[1][column(snap, 100, 2001) + 1] == " "
    assert "2000: put k2000 2000 (c1#2000)" in text.plain
    assert "20" in lines[1].split()  # terms around index 2000 are 20


def test_offset_scrolls_to_the_right_indexes() -> None:
    snap = logs_snapshot(3, terms=[1 + i // 10 for i in range(500)])
    lines = lines_of(render_logs(snap, 80, 8, offset=100))
    header = lines[0].split()
    assert header[0] == "◂"
    assert header[1] == "100"
    assert header[2] == "105"
    assert "▸" in lines[0]
    win = log_window(snap, 80, 100)
    assert win.first == 100
    # Index 100 has term 10, index 101 term 11; labels sit over their columns.
    col = column(snap, 80, 100, offset=100)
    assert lines[1][col : col + 2] == "10"
    assert lines[0][col - 1 : col + 2] == "100"
    col = column(snap, 80, 101, offset=100)
    assert lines[1][col : col + 2] == "11"
    col = column(snap, 80, 105, offset=100)
    assert lines[0][col - 1 : col + 2] == "105"
    # Commands follow the window, not the tail.
    plain = render_logs(snap, 80, 8, offset=100).plain
    assert "500:" not in plain and "1" in plain
    # Out-of-range offsets are clamped: before 1 to 1, past the tail to the tail.
    assert log_window(snap, 80, -5).first == 1
    assert log_window(snap, 80, 10_000).first == log_window(snap, 80, None).first
    first = lines_of(render_logs(snap, 80, 8, offset=1))[0].split()
    assert first[0] == "1" and "◂" not in first


def test_header_labels_thin_out_for_wide_indexes() -> None:
    snap = logs_snapshot(2, terms=[1] * 1234)
    lines = lines_of(render_logs(snap, 80, 5, offset=1100))
    labels = [int(t) for t in lines[0].replace("◂", " ").replace("▸", " ").split() if t.isdigit()]
    assert labels[0] == 1100
    assert labels == sorted(labels)
    assert all(label % 5 == 0 for label in labels[1:])


# --------------------------------------------------------------------------- widgets


def test_widgets_mount_draw_and_scroll() -> None:
    snap = logs_snapshot(5, terms=[1 + i // 10 for i in range(300)])

    class Harness(App[None]):
        def compose(self) -> ComposeResult:
            yield ClusterView()
            yield LogsView()

    async def run() -> None:
        app = Harness()
        async with app.run_test(size=(100, 40)) as pilot:
            cluster = app.query_one(ClusterView)
            logs = app.query_one(LogsView)
            cluster.snapshot = snap
            logs.snapshot = snap
            await pilot.pause()
            assert "LEADER" in cluster.render().plain
            assert logs.offset is None
            logs.scroll_log(-50)
            first = log_window(snap, logs.content_size.width, logs.offset).first
            assert logs.offset == first
            assert logs.render().plain.split("\n")[0].split()[1] == str(first)
            logs.scroll_log(+1000)
            assert logs.offset is None
            await pilot.pause()

    asyncio.run(run())


# --------------------------------------------------------------------------- membership and compaction


def config_entry(term: int, value: str) -> Entry:
    return Entry(term, Command("config", value=value))


def compacted_snapshot() -> Snapshot:
    """Node 1 leads with a log compacted at 912 (term 3) and entries 913..1000; node 2 is
    far behind (the leader must send it the snapshot); node 3 holds all 1000 entries."""
    tail = entries([3] * 80 + [4] * 8, first=913)
    full = entries([3] * 1000)
    leader = node(
        1,
        "leader",
        4,
        vote=1,
        commit=990,
        log=tail,
        log_start=912,
        log_start_term=3,
        next_index=((2, 40), (3, 1001)),
        match_index=((2, 39), (3, 1000)),
        voters=(1, 2, 3),
    )
    behind = node(2, "follower", 4, vote=1, commit=39, log=full[:39], voters=(1, 2, 3))
    whole = node(3, "follower", 4, vote=1, commit=990, log=full, voters=(1, 2, 3))
    return snapshot([leader, behind, whole])


def test_a_node_snapshot_indexes_its_log_absolutely() -> None:
    leader = compacted_snapshot().node(1)
    assert leader is not None
    assert leader.last_index == 1000 and leader.last_term == 4 and len(leader.log) == 88
    assert leader.entry(912) is None and leader.entry(1001) is None
    assert leader.entry(913) == leader.log[0] and leader.entry(1000) == leader.log[-1]
    assert leader.term_at(912) == 3 and leader.term_at(911) is None and leader.term_at(1000) == 4
    empty = node(4, log=(), log_start=50, log_start_term=2)
    assert empty.last_index == 50 and empty.last_term == 2


def test_a_compacted_log_is_a_snapshot_block_then_entries_at_absolute_indexes() -> None:
    snap = compacted_snapshot()
    text = render_logs(snap, 80, 12, offset=900)
    lines = lines_of(text)
    check_bounds(text, 80, 12)
    assert lines[0].split()[1] == "900"
    row = lines[1]
    assert "snapshot ≤912 (T3)" in row and "▒" in row
    # The block ends where the entries held begin: index 913 has term 3, right after the label.
    col = column(snap, 80, 913, offset=900) + 1
    assert row[col] == "3"
    assert row[column(snap, 80, 912, offset=900) + 1] != "3"
    # The block is shaded, the entries are not.
    assert style_at(text, 1, column(snap, 80, 905, offset=900)).bgcolor is not None
    # Node 3 still holds every entry: no block on its row.
    assert "snapshot" not in lines[3] and lines[3][column(snap, 80, 905, offset=900) + 1] == "3"


def test_a_long_compacted_log_follows_its_tail_and_scrolls_into_the_snapshot() -> None:
    snap = compacted_snapshot()
    tail = lines_of(render_logs(snap, 80, 12))
    assert "1000" in tail[0] and "snapshot" not in tail[1]
    assert tail[1][column(snap, 80, 1000) + 1] == "4"
    # Scrolled far back, the whole window is inside the snapshot: the label sits at its right end.
    early = lines_of(render_logs(snap, 80, 12, offset=100))
    assert early[1].rstrip().split("  ")[0].startswith("N1 ▒")
    assert "snapshot ≤912 (T3)" in early[1]
    assert "≤912: compacted into the snapshot" in render_logs(snap, 80, 12, offset=100).plain


def test_a_peer_behind_the_leaders_snapshot_reads_as_receiving_the_snapshot() -> None:
    snap = compacted_snapshot()
    text = render_logs(snap, 80, 12)
    lines = lines_of(text)
    assert lines[2].split()[-3:] == ["39", "▒40", "39"]  # node 2: commit, next (≤ 912), match
    assert lines[3].split()[-3:] == ["990", "1001", "1000"]
    assert "▒ snapshot" in lines[4] or "snapshot" in lines[4]  # the legend names the block


def test_commands_list_skips_what_the_reference_log_compacted() -> None:
    snap = compacted_snapshot()
    plain = render_logs(snap, 80, 12, offset=905).plain
    assert "≤912: compacted into the snapshot" in plain
    assert "913: put k913 913 (c1#913)" in plain
    assert "905:" not in plain


def test_config_entries_are_marked_in_the_rows_and_the_commands() -> None:
    log = (*entries([1]), config_entry(1, "1,2,3/4"), config_entry(1, "1,2,3,4"), *entries([1], first=4))
    leader = node(1, "leader", 1, vote=1, commit=3, log=log, voters=(1, 2, 3, 4))
    snap = snapshot([leader, node(2, "follower", 1, commit=3, log=log[:3], voters=(1, 2, 3, 4))])
    text = render_logs(snap, 80, 8)
    lines = lines_of(text)
    col = column(snap, 80, 2)
    assert lines[1][col : col + 2] == "⚙1"
    assert lines[1][column(snap, 80, 1) + 1] == "1"
    assert "⚙ config" in lines[3]
    assert "2: config 1,2,3/4" in text.plain and "3: config 1,2,3,4" in text.plain
    # Commands of config entries are in the membership colour, other commands are not.
    row = next(i for i, line in enumerate(lines) if "2: config" in line)
    assert style_at(text, row, lines[row].index("config")).color.name == "orchid1"
    row = next(i for i, line in enumerate(lines) if "4: put" in line)
    assert style_at(text, row, lines[row].index("put")).color.name != "orchid1"


def members_snapshot() -> Snapshot:
    """Ids 1, 2, 3, 5, 7: node 3 leads with voters 1,2,3,5 and learner 7; node 2 has not heard of 7
    yet; node 5 joined and is being taken in; node 1 was removed by an older configuration."""
    old = (1, 2, 3, 5)
    return snapshot(
        [
            node(1, "follower", 2, voters=(2, 3, 5)),
            node(2, "follower", 2, voters=old),
            node(3, "leader", 2, vote=3, voters=(2, 3, 5), learners=(7,)),
            node(5, "follower", 2, voters=(2, 3, 5), learners=(7,)),
            node(7, "follower", 2, joined=True),
        ]
    )


def test_membership_is_measured_against_the_leaders_configuration() -> None:
    snap = members_snapshot()
    assert snap.configuration == ((2, 3, 5), (7,))
    assert [snap.membership(i) for i in (1, 2, 3, 5, 7)] == ["none", "voter", "voter", "voter", "learner"]
    assert snap.membership_changed
    plain = cluster_of(5)
    assert not plain.membership_changed  # no node reports a configuration: nothing to draw


def test_learners_and_non_members_look_apart_from_voters() -> None:
    snap = members_snapshot()
    text = render_cluster(snap, 100, 30)
    rects = cluster_layout(5, 100, 29, tall=True)
    lines = lines_of(text)
    title = {i: lines[r.y][r.x : r.x + r.w] for i, r in zip((1, 2, 3, 5, 7), rects, strict=True)}
    assert "7 learner" in title[7] and "1 not a member" in title[1]
    assert "follower" in title[2] and "LEADER" in title[3]
    corner = {
        i: (lines[r.y][r.x], style_at(text, r.y, r.x)) for i, r in zip((1, 2, 3, 5, 7), rects, strict=True)
    }
    assert corner[2][0] == "╭" and corner[3][0] == "╔"
    assert lines[rects[4].y + 1][rects[4].x] == "┆"  # the learner's dashed side
    assert lines[rects[0].y + 1][rects[0].x] == "┊"  # the outsider's dotted side
    assert corner[7][1] != corner[2][1] and corner[1][1] != corner[2][1]
    # What a node outside every configuration holds is dimmed; a voter's is not.
    for node_id, rect, colour in ((1, rects[0], "grey50"), (2, rects[1], "white")):
        row = lines[rect.y + 2]
        col = row.index("log", rect.x)
        assert style_at(text, rect.y + 2, col).color.name == colour, node_id


def test_each_box_shows_the_configuration_it_believes_in_marked_where_it_differs() -> None:
    snap = members_snapshot()
    text = render_cluster(snap, 100, 30)
    rects = cluster_layout(5, 100, 29, tall=True)
    assert rects[0].h == 6  # room for the configuration line
    lines = lines_of(text)
    inside = {
        i: "\n".join(lines[r.y + 1 : r.y + r.h - 1]) for i, r in zip((1, 2, 3, 5, 7), rects, strict=True)
    }
    assert "cfg 2,3,5/7" in inside[3] and "≠" not in inside[3]
    assert "cfg 2,3,5/7" in inside[5] and "≠" not in inside[5]
    assert "≠cfg 1,2,3,5" in inside[2]
    assert "≠cfg 2,3,5" in inside[1]
    assert "≠cfg none" in inside[7]


@pytest.mark.parametrize(("width", "height"), [(100, 29), (80, 23), (60, 17)])
def test_a_configuration_line_falls_back_to_the_bottom_border(width: int, height: int) -> None:
    snap = members_snapshot()
    text = render_cluster(snap, width, height + 1)
    check_bounds(text, width, height + 1)
    rects = cluster_layout(5, width, height, tall=True)
    lines = lines_of(text)
    for rect in rects:
        if rect.h - 2 == 3:
            bottom = lines[rect.y + rect.h - 1][rect.x : rect.x + rect.w]
            assert "cfg" in bottom or any(ch.isdigit() for ch in bottom), bottom


@pytest.mark.parametrize("ids", [(1, 2, 3, 5, 7), (1, 2, 3, 4, 5, 6, 7, 8, 9), (2, 4, 9), (1, 9)])
@pytest.mark.parametrize(("width", "height"), [(88, 25), (53, 14), (60, 18)])
def test_ids_with_gaps_are_on_the_ring_in_id_order(ids: tuple[int, ...], width: int, height: int) -> None:
    snap = snapshot([node(i, voters=ids[:-1], learners=ids[-1:], joined=i > 5) for i in ids])
    text = render_cluster(snap, width, height)
    check_bounds(text, width, height)
    rects = cluster_layout(len(ids), width, height - 1, tall=True)
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert not a.overlaps(b)
    for node_id, rect in zip(ids, rects, strict=True):
        assert node_at(snap, width, height, rect.x + 1, rect.y + 1) == node_id


def test_install_snapshot_in_flight_has_its_own_glyph_and_legend() -> None:
    flights = [
        flight(1, 1, 2, "InstallSnapshot", sent_at=990, deliver_at=1010),
        flight(2, 2, 3, "InstallSnapshotReply", sent_at=990, deliver_at=1010, ok=True),
    ]
    snap = cluster_of(3, flights)
    assert all(f.is_snapshot for f in snap.flights)
    text = render_cluster(snap, 100, 30)
    found = glyph_cells(text, "▣▢")
    assert sorted(g for _, _, g in found) == ["▢", "▣"]
    assert "InstallSnapshot" in lines_of(text)[-1]
    x, y, _ = next(c for c in found if c[2] == "▣")
    assert style_at(text, y, x).color.name == "orange1"
    assert "▣" not in lines_of(render_cluster(cluster_of(3), 100, 30))[-1]  # no snapshot, no legend entry


def test_snapshot_transfer_progress_leads_a_message_row() -> None:
    from raftviz import wire
    from raftviz.core.messages import InstallSnapshot, InstallSnapshotReply
    from raftviz.lab.network import Flight
    from raftviz.tui.model import flight_snap
    from raftviz.tui.widgets.rows import message_row

    chunk = flight_snap(
        Flight(1, 1, 2, wire.encode(InstallSnapshot(1, 2, 1, 46, 1, 0, b"x" * 1024, False, 7)), 0, 9)
    )
    reply = flight_snap(Flight(2, 2, 1, wire.encode(InstallSnapshotReply(2, 1, 1, 46, 1024, False)), 0, 9))
    for width in (33, 54):
        row = message_row(chunk, 3, 3).layout(width, 1).plain
        assert "bytes=0..1024" in row and row.rstrip().endswith("t=9"), row
        assert "next=1024" in message_row(reply, 3, 3).layout(width, 1).plain
    narrow = message_row(chunk, 3, 3).layout(24, 2).plain
    assert "IS@0" in narrow and narrow.endswith("t=9")
    assert "IS✓@1024" in message_row(reply, 3, 3).layout(24, 2).plain


def test_inspector_shows_configuration_snapshot_and_peers_needing_the_snapshot() -> None:
    from raftviz.tui.widgets.panels import inspect_node

    snap = compacted_snapshot()
    text = "InstallSnapshot term=4 lastIndex=912 lastTerm=3 bytes=0..1024"
    chunk = replace(flight(9, 1, 2, "InstallSnapshot"), text=text, transfer="bytes=0..1024")
    snap = snapshot(snap.nodes, (chunk,))
    console = Console(width=100, force_terminal=False)
    with console.capture() as out:
        console.print(inspect_node(snap.node(1), snap))
    text = out.get()
    assert "config   1,2,3 (voter)" in text
    assert "≤912 (T3) · log holds 913..1000 (88)" in text
    assert "nextIndex=40 matchIndex=39 ▣ snapshot in flight, bytes=0..1024" in text
    assert "nextIndex=1001 matchIndex=1000" in text and "1001 matchIndex=1000 ▣" not in text
    members = members_snapshot()
    with console.capture() as out:
        console.print(inspect_node(members.node(7), members))
    text = out.get()
    assert "learner" in text and "none yet" in text and "≠ leader 3's 2,3,5/7" in text
    with console.capture() as out:
        console.print(inspect_node(members.node(1), members))
    assert "2,3,5 (not in it) ≠ leader 3's 2,3,5/7" in out.get()
    with console.capture() as out:
        console.print(inspect_node(members.node(5), members))
    assert "2,3,5/7 (voter)" in out.get() and "≠" not in out.get()


def test_a_snapshot_flight_carries_its_transfer_progress_from_the_message() -> None:
    from raftviz import wire
    from raftviz.core.messages import InstallSnapshot, InstallSnapshotReply
    from raftviz.lab.network import Flight
    from raftviz.tui.model import flight_snap
    from raftviz.tui.widgets.rows import message_row

    chunk = InstallSnapshot(1, 2, 3, 46, 2, 1024, b"abc", True, 7)
    snap = flight_snap(Flight(5, 1, 2, wire.encode(chunk), 0, 10))
    assert snap.transfer == "bytes=1024..1027 done"
    row = message_row(snap, 3, 3).layout(100, 0).plain
    assert "InstallSnapshot bytes=1024..1027 done" in row and "lastIncludedIndex=46 lastIncludedTerm=2" in row
    reply = flight_snap(Flight(6, 2, 1, wire.encode(InstallSnapshotReply(2, 1, 3, 46, 1027, True)), 0, 10))
    assert reply.transfer == "installed" and reply.ok
    assert "InstallSnapshotReply ✓ installed" in message_row(reply, 3, 3).layout(100, 0).plain
