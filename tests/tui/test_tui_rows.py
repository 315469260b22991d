"""The Messages list and the event feed: rows essentials-first at every width, a feed that
says each thing once, heartbeat rounds folded, and a chosen message shown whole.

Row layouts are pure functions of a message (``message_row``) or a feed item
(``feed_parts``) and a width, tested on real messages; the feed's behaviour is
tested in the app with Pilot on the in-process backend (virtual time, no sleeps).
"""

from __future__ import annotations

import asyncio

import pytest
from rich.console import Console

from raftviz import wire
from raftviz.core.messages import (
    AppendEntries,
    AppendEntriesReply,
    Command,
    Entry,
    RequestVote,
    RequestVoteReply,
)
from raftviz.lab.history import History
from raftviz.lab.network import Flight
from raftviz.lab.session import Session
from raftviz.tui.app import AppOptions, RaftvizApp
from raftviz.tui.feed import FeedBuilder, FeedItem
from raftviz.tui.model import FlightSnap, flight_snap
from raftviz.tui.testing import run_commands, settle
from raftviz.tui.widgets.panels import EventFeed, Inspector, MessagesTable, inspect_message
from raftviz.tui.widgets.rows import choose_level, message_row

#: Inner widths of the Messages list at 160x48, 100x30 and 80x24.
WIDTHS = (53, 32, 25)


def snap_of(msg: object, flight_id: int = 12, deliver_at: int = 231) -> FlightSnap:
    src, dst = msg.src, msg.dst  # type: ignore[attr-defined]
    return flight_snap(Flight(flight_id, src, dst, wire.encode(msg), 200, deliver_at))  # type: ignore[arg-type]


def rows_at(flights: list[FlightSnap], width: int) -> list[str]:
    rows = [message_row(f, 3, 3) for f in flights]
    level = choose_level(rows, width)
    return [r.layout(width, level).plain for r in rows]


ENTRIES = tuple(Entry(2, Command("put", f"k{i}", str(i), "c1", i)) for i in range(3))
MESSAGES = {
    "granted": RequestVoteReply(3, 1, 2, True),
    "denied": RequestVoteReply(4, 1, 2, False),
    "vote": RequestVote(1, 2, 2, 4, 1),
    "entries": AppendEntries(1, 2, 2, 3, 1, ENTRIES, 3),
    "heartbeat": AppendEntries(1, 3, 2, 6, 2, (), 6),
    "ok": AppendEntriesReply(2, 1, 2, True, match_index=6),
    "reject": AppendEntriesReply(3, 1, 2, False, conflict_index=3, conflict_term=1),
}


@pytest.mark.parametrize("width", WIDTHS)
def test_message_rows_keep_their_essentials_and_due_time_at_every_width(width: int) -> None:
    flights = [snap_of(m, i, 1000 + i) for i, m in enumerate(MESSAGES.values(), 10)]
    rows = dict(zip(MESSAGES, rows_at(flights, width), strict=True))
    for i, row in enumerate(rows.values(), 10):
        assert len(row) == width, row
        assert row.startswith(f"#{i}") and row.endswith(f"t={1000 + i}"), row  # id first, due time last
        assert "…" not in row, row  # essentials are never cut
    assert "✓" in rows["granted"] and "✗" in rows["denied"]
    assert "+3" in rows["entries"] and "hb" in rows["heartbeat"]
    assert "✓" in rows["ok"] and ("m=6" in rows["ok"] or "match=6" in rows["ok"])
    assert "✗" in rows["reject"] and "3" in rows["reject"].split("✗", 1)[1]
    assert "1→2" in rows["entries"] and "->" not in "".join(rows.values())


def test_at_160_columns_details_fill_the_row_prev_log_index_and_term_included() -> None:
    flights = [snap_of(m, i) for i, m in enumerate(MESSAGES.values(), 10)]
    rows = dict(zip(MESSAGES, rows_at(flights, 53), strict=True))
    assert "prevLogIndex=3 prevLogTerm=1" in rows["entries"] or "prev=3/T1" in rows["entries"]
    assert "[4..6]" in rows["entries"]
    assert "commit=3" in rows["entries"]
    assert "last=4/T1" in rows["vote"] or "lastLogIndex=4" in rows["vote"]
    # Narrow lists say the short names in their header.
    from raftviz.tui.widgets.rows import messages_header

    assert "RV" in messages_header(53, 1) and messages_header(53, 1).endswith("due")
    assert "RV" in messages_header(32, 2)


def test_one_level_for_the_whole_list_so_a_column_reads_the_same_way() -> None:
    flights = [snap_of(m, i) for i, m in enumerate(MESSAGES.values(), 10)]
    wide = rows_at(flights, 140)
    assert all("AE" not in r.split()[2] for r in wide if "Append" in r)
    assert any("RequestVoteReply ✓ granted" in r for r in wide)
    narrow = rows_at(flights, 25)
    assert all("RequestVote" not in r and "AppendEntries" not in r for r in narrow)


def test_inspector_shows_every_field_of_a_message() -> None:
    console = Console(width=80, force_terminal=False)

    def shown(msg: object) -> str:
        with console.capture() as out:
            console.print(inspect_message(snap_of(msg)))
        return out.get()

    text = shown(MESSAGES["entries"])
    for field in ("prevLogIndex", "prevLogTerm", "leaderCommit", "4 T2 put k0 0", "6 T2 put k2 2"):
        assert field in text
    text = shown(MESSAGES["reject"])
    assert "conflictIndex" in text and "conflictTerm" in text and "✗ rejected" in text
    assert "lastLogTerm" in shown(MESSAGES["vote"]) and "✓ granted" in shown(MESSAGES["granted"])


# --------------------------------------------------------------------------- the feed's items


def records_of(*commands: str) -> list[FeedItem]:
    history = History(lambda: Session(backend="inprocess"))
    builder = FeedBuilder()
    items: list[FeedItem] = []
    history.listeners.append(lambda pos, record: items.append(builder.item(pos, record)))
    try:
        for command in commands:
            history.run_text(command)
    finally:
        history.close()
    return items


def test_heartbeat_rounds_are_told_apart_exactly() -> None:
    items = records_of("cluster 5 seed=42", "until leader", "advance 500", "put x 1", "advance 200")
    beats = [i for i in items if i.heartbeat]
    assert len(beats) > 40
    for item in beats:
        msg = item.flight.msg if item.flight else None
        assert not item.shown_changes and not item.answers
        if item.kind == "timer":
            assert set(item.sent) == {"AppendEntries"}
        else:
            assert isinstance(msg, AppendEntries) and not msg.entries or isinstance(msg, AppendEntriesReply)
    # The write's entries and the replies to them are not heartbeats.
    carrying = [
        i for i in items if i.flight and isinstance(i.flight.msg, AppendEntries) and i.flight.msg.entries
    ]
    assert carrying and not any(i.heartbeat for i in carrying)
    assert any(i.answers for i in items) and not any(i.heartbeat for i in items if i.answers)


# --------------------------------------------------------------------------- the feed in the app


def make_app() -> RaftvizApp:
    return RaftvizApp(AppOptions(backend="inprocess", seed=42))


def feed_of(app: RaftvizApp) -> EventFeed:
    return app.screen.query_one(EventFeed)


def test_the_feed_says_each_thing_once() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            for _ in range(3):
                await pilot.press("n")
            await settle(pilot, app)
            lines = feed_of(app).lines()
            assert not any("> step" in line for line in lines)
            await run_commands(pilot, app, "until leader")
            await pilot.press("C")
            await settle(pilot, app)
            table = app.screen.query_one(MessagesTable)
            table.focus()
            dropped = table.selected_id()
            await pilot.press("x")
            await settle(pilot, app)
            await pilot.press("k")
            await settle(pilot, app)
            text = "\n".join(feed_of(app).lines())
            assert text.count("put k1 v1") == 1, text
            assert text.count(f"#{dropped} ") == 1 and "✗ drop" in text, text
            assert text.count("crash") == 1 and "on disk: term=" in text, text
            assert "->" not in text.split("cluster: ")[-1]

    asyncio.run(run())


def test_heartbeats_fold_into_one_counted_row_that_unfolds_and_jumps_exactly() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            await run_commands(pilot, app, "until leader", "advance 3000")
            feed = feed_of(app)
            folds = [k for k in feed.keys if k.startswith("fold-")]
            assert folds, feed.lines()
            text = "\n".join(feed.lines())
            assert "♥ heartbeats ×" in text
            # 3 s of heartbeats: hundreds of events, a handful of rows.
            assert app.snapshot.position > 300 and feed.row_count < 60
            key = folds[-1]
            feed.focus()
            feed.move_cursor(feed.row_index(key))
            await pilot.press("enter")  # unfolds
            await settle(pilot, app)
            start = feed.row_index(key)
            # Beyond FOLD_KEEP members a marker says how many earlier ones are not kept.
            inside = [k for k in feed.keys[start + 1 :] if k.isdigit()]
            assert len(inside) >= min(EventFeed.FOLD_KEEP, 100)
            target = int(inside[3])
            feed.move_cursor(feed.row_index(inside[3]))
            await pilot.press("enter")  # a row inside jumps back there
            await settle(pilot, app)
            assert app.snapshot.position == target
            # Back along the way: the feed keeps its rows up to there, the fold still open.
            fold = next(k for k in feed.keys if k.startswith("fold-"))
            feed.move_cursor(feed.row_index(fold) + 1)
            await pilot.press("f")  # folds again from a row inside
            await settle(pilot, app)
            assert feed.cursor_key() == fold
            assert all(
                not k.isdigit() or int(k) < int(fold.split("-")[-1])
                for k in feed.keys[: feed.row_index(fold)]
            )
            assert feed.row_count < 60

    asyncio.run(run())


def test_the_feed_is_bounded_and_says_where_it_dropped_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(EventFeed, "MAX_ITEMS", 40)

    async def run() -> None:
        app = make_app()
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            await run_commands(pilot, app, "step 120")
            feed = feed_of(app)
            assert feed._kept <= 40 and feed.forgotten > 0
            assert feed.keys[0] == "older-0" and "older rows not kept" in feed.lines()[0]

    asyncio.run(run())


def test_choosing_a_message_shows_it_whole_and_a_node_key_goes_back() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            await run_commands(pilot, app, "until leader", "put x 1", "step 2")
            table = app.screen.query_one(MessagesTable)
            table.focus()
            await pilot.press("down")
            await pilot.press("up")
            await settle(pilot, app)
            inspector = app.screen.query_one(Inspector)
            assert inspector.showing_message == table.selected_id()
            rendered = app.screen.query_one(Inspector).render()
            console = Console(width=60, force_terminal=False)
            with console.capture() as out:
                console.print(rendered)
            assert f"message #{table.selected_id()}" in out.get()
            await pilot.press("1")
            await settle(pilot, app)
            assert inspector.showing_message is None

    asyncio.run(run())


@pytest.mark.parametrize("size", [(160, 48), (100, 30)])
def test_cursor_row_is_marked_without_colour(size: tuple[int, int]) -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=size) as pilot:
            await settle(pilot, app)
            await run_commands(pilot, app, "timeout 1")
            table = app.screen.query_one(MessagesTable)
            lines = table.render().plain.split("\n")
            assert sum(line.startswith("▶") for line in lines) == 1
            cursor = next(line for line in lines if line.startswith("▶"))
            assert ("RV" in cursor or "RequestVote" in cursor) and "t=" in cursor and "…" not in cursor
            assert "d deliver" in lines[-1] and "x drop" in lines[-1]

    asyncio.run(run())


def test_the_feed_follows_the_tail_unless_the_reader_is_reading_back() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            for _ in range(4):
                await pilot.press("n")
            await settle(pilot, app)
            feed = feed_of(app)
            feed.focus()
            await pilot.press("up")
            await pilot.pause()
            app.screen.query_one(MessagesTable).focus()  # the feed no longer has the keys
            await run_commands(pilot, app, "advance 400")
            assert feed.cursor == feed.row_count - 1 and feed.unseen == 0
            # Reading back with the feed focused: the cursor stays, a marker counts what came.
            feed.focus()
            await pilot.press("home")
            await pilot.pause()
            await run_commands(pilot, app, "crash 1", "advance 400")
            assert feed.cursor == 0 and feed.unseen > 0
            marker = feed.footer_text(60)
            assert f"{feed.unseen} new rows ↓ (End)" in marker, marker
            assert f"{feed.unseen} new rows" in feed.render().plain
            await pilot.press("end")
            await pilot.pause()
            assert feed.unseen == 0 and feed.footer_text(60) == ""

    asyncio.run(run())


def test_lost_heartbeats_fold_into_the_heartbeat_row_and_are_counted() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            await run_commands(pilot, app, "until leader", "advance 200")
            start = feed_of(app).row_count
            leader = app.snapshot.leader
            others = [n for n in range(1, 6) if n != leader]
            await run_commands(
                pilot, app, f"partition {others[0]} | {leader},{','.join(map(str, others[1:]))}"
            )
            await run_commands(pilot, app, "advance 3000")
            lines = feed_of(app).lines()[start:]
            # A lost heartbeat joins its round's fold, which says how many were lost (one
            # between two rows that are news stays a row: there is no round to join).
            alone = [line for line in lines if "✗ lost" in line and " hb " in line]
            folded = sum(int(line.split("(")[1].split()[0]) for line in lines if " lost: link cut)" in line)
            assert folded > 10 * max(len(alone), 1), "\n".join(lines)
            # The cut-off node's lost votes stay rows: they are news.
            assert any("✗ lost" in line and "RequestVote" in line for line in lines)
            assert feed_of(app).row_count - start < 120

    asyncio.run(run())


def test_the_feed_says_a_restated_command_and_a_client_reply_once() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            await run_commands(pilot, app, "until leader", "partition 4 | 1,2,3,5", "heal", "put k1 v1")
            await run_commands(pilot, app, "advance 300")
            text = "\n".join(feed_of(app).lines())
            assert "> cluster" not in text and "cluster: 5 nodes seed=42" in text
            assert "> partition" not in text and "network: partition 4 | 1,2,3,5" in text
            assert "> heal" not in text and "network: connected" in text
            reply = next(line for line in text.splitlines() if "→c1 " in line and "✓" in line)
            assert reply.count("✓") == 1 and reply.count("put k1 v1") == 1, reply

    asyncio.run(run())


def test_one_row_cut_at_every_level_does_not_make_the_others_terse() -> None:
    flights = [snap_of(m, i) for i, m in enumerate(MESSAGES.values(), 10)]
    rows = [message_row(f, 3, 3) for f in flights]
    alone = choose_level(rows, 40)
    from raftviz.tui.widgets.rows import note_parts

    long_note = note_parts("x" * 200, 5, True, 3, "italic")
    assert choose_level([*rows, long_note], 40) == alone
    assert alone < 2  # at 40 cells "RV ✓ granted" still fits


def test_a_lesson_steps_lines_say_each_event_once() -> None:
    from raftviz.tui.controller import lesson_lines

    lines = [
        "> until leader",
        "t=155 node 1: candidate term=1",
        "t=185 node 1: leader term=1",
        "until leader: reached at t=185",
        "> partition 1,2 | 3,4,5",
        "network: partition 1,2 | 3,4,5",
        "> crash 1",
    ]
    assert lesson_lines(lines) == [
        "> until leader",
        "until leader: reached at t=185",
        "network: partition 1,2 | 3,4,5",
        "> crash 1",
    ]


def test_play_does_not_split_heartbeat_folds() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            await run_commands(pilot, app, "until leader", "advance 300")
            start = feed_of(app).row_count
            for _ in range(100):  # play's stretches: each is a history position of its own
                app.controller.play(10)
            await settle(pilot, app)
            lines = feed_of(app).lines()[start:]
            folds = [line for line in lines if "♥ heartbeats ×" in line]
            assert len(lines) <= 3 and len(folds) == 1, "\n".join(lines)
            count = int(folds[0].split("×")[1].split()[0])
            assert count > 40

    asyncio.run(run())
