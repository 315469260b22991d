"""Pilot tests of the app: every key, every dialog, and the picture equal to the lab's state.

The app runs the lab on its own thread; ``settle`` waits for the queued actions
(the controller's futures), then lets the app process the updates they posted.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from raftviz.tui.app import DEFAULT_SEED, SPEEDS, AppOptions, RaftvizApp
from raftviz.tui.model import take_snapshot
from raftviz.tui.screens.dialogs import PromptScreen
from raftviz.tui.testing import settle
from raftviz.tui.widgets.header import StatusBar
from raftviz.tui.widgets.panels import EventFeed, MessagesTable

SIZE = (160, 48)


def make_app(**kwargs: object) -> RaftvizApp:
    options = {"backend": "inprocess", "seed": 42, **kwargs}
    return RaftvizApp(AppOptions(**options))  # type: ignore[arg-type]


def lab(app: RaftvizApp):  # noqa: ANN201
    assert app.controller.history is not None
    return app.controller.history.session.lab


def assert_picture_is_the_lab(app: RaftvizApp) -> None:
    """The app's snapshot is exactly what the lab holds now."""
    assert app.controller.history is not None
    fresh = app.controller._executor.submit(take_snapshot, app.controller.history).result()
    assert app.snapshot == fresh


async def press(pilot, app: RaftvizApp, *keys: str) -> None:  # noqa: ANN001
    await pilot.press(*keys)
    await settle(pilot, app)


def test_starts_paused_at_time_zero_with_every_node() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            assert app.snapshot is not None
            assert app.snapshot.now == 0 and len(app.snapshot.nodes) == 5
            assert not app.playing
            assert_picture_is_the_lab(app)
            await pilot.press("q")
        assert app.closed

    asyncio.run(run())


def test_step_and_step_back_keep_the_picture_equal_to_the_lab() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            seen = {}
            for _ in range(25):
                await press(pilot, app, "n")
                assert_picture_is_the_lab(app)
                seen[app.snapshot.position] = app.snapshot
            assert lab(app).steps == 25
            for _ in range(10):
                await press(pilot, app, "b")
                assert_picture_is_the_lab(app)
                assert app.snapshot == seen[app.snapshot.position]
            assert lab(app).steps == 15
            await press(pilot, app, "right")
            assert app.snapshot == seen[16]
            await press(pilot, app, "left")
            assert app.snapshot.position == 15

    asyncio.run(run())


def test_play_pause_and_speed() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            start_speed = app.speed
            await press(pilot, app, "plus")
            assert app.speed == start_speed + 1
            await press(pilot, app, "minus", "minus")
            assert app.speed == start_speed - 1
            await press(pilot, app, "plus")
            await press(pilot, app, "space")
            assert app.playing
            # Let the play loop run a few frames of virtual time.
            for _ in range(20):
                await pilot.pause(0.05)
            await press(pilot, app, "space")
            assert not app.playing
            await settle(pilot, app)
            assert lab(app).now > 0
            assert_picture_is_the_lab(app)

    asyncio.run(run())


def test_node_keys_crash_restart_timeout_and_select() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await press(pilot, app, "3")
            assert app.selected == 3
            await press(pilot, app, "t")
            assert lab(app).views[3].role == "candidate"
            await press(pilot, app, "k")
            assert not lab(app).views[3].alive
            assert app.snapshot.node(3).role == "down"
            await press(pilot, app, "r")
            assert lab(app).views[3].alive and lab(app).views[3].incarnation == 1
            assert_picture_is_the_lab(app)

    asyncio.run(run())


def test_timer_presets_and_restart_leader() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await press(pilot, app, "A")
            deadlines = {v.deadline for v in lab(app).views.values()}
            assert len(deadlines) == 1  # aligned: a split vote is coming
            await press(pilot, app, "T")
            deadlines = {v.deadline for v in lab(app).views.values()}
            assert len(deadlines) == 5  # spread
            app.run_command("until leader")
            await settle(pilot, app)
            leader = lab(app).leader()
            assert leader
            await press(pilot, app, "R")
            view = lab(app).views[leader]
            assert view.alive and view.incarnation == 1 and view.role == "follower"

    asyncio.run(run())


def test_message_keys_deliver_drop_duplicate() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await press(pilot, app, "t")  # node 1 asks everyone for a vote
            table = app.screen.query_one(MessagesTable)
            first = table.selected_id()
            assert first in lab(app).flights
            await press(pilot, app, "d")
            assert first not in lab(app).flights
            second = table.selected_id()
            await press(pilot, app, "x")
            assert second not in lab(app).flights
            third = table.selected_id()
            count = len(lab(app).flights)
            await press(pilot, app, "u")
            assert len(lab(app).flights) == count + 1 and third in lab(app).flights
            assert_picture_is_the_lab(app)

    asyncio.run(run())


def test_partition_heal_network_and_client_dialogs() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press("P")
            await pilot.pause()
            await pilot.press(*"1,2 | 3,4,5", "enter")
            await settle(pilot, app)
            assert lab(app).network.describe() == "partition 1,2 | 3,4,5"
            await press(pilot, app, "H")
            assert lab(app).network.describe() == "connected"
            await pilot.press("L")
            await pilot.pause()
            await pilot.press("ctrl+u" if False else "end")
            app.screen.query_one("#dialog-input").value = "loss 0.25 latency 5-40"
            await pilot.press("enter")
            await settle(pilot, app)
            assert lab(app).network.loss == 0.25 and lab(app).network.latency == (5, 40)
            await pilot.press("c")
            await pilot.pause()
            await pilot.press(*"x 1", "enter")  # the dialog starts with "put "
            await settle(pilot, app)
            assert [r.command.key for r in lab(app).pending_requests()] == ["x"]
            await press(pilot, app, "C")
            assert len(lab(app).pending_requests()) == 2
            # Escape cancels a dialog without doing anything.
            await pilot.press("P")
            await pilot.pause()
            await pilot.press("escape")
            await settle(pilot, app)
            assert lab(app).network.describe() == "connected"

    asyncio.run(run())


def test_command_line_runs_any_command_and_reports_errors() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press("colon")
            await pilot.pause()
            await pilot.press(*"until leader", "enter")
            await settle(pilot, app)
            assert lab(app).leader()
            await pilot.press("colon")
            await pilot.pause()
            await pilot.press(*"crash 42", "enter")
            await settle(pilot, app)
            feed = app.screen.query_one(EventFeed)
            assert any("no node 42" in t for t in feed.lines())
            await pilot.press("colon")
            await pilot.pause()
            await pilot.press(*"frobnicate", "enter")
            await settle(pilot, app)
            assert any("unknown command 'frobnicate'" in t for t in feed.lines())

    asyncio.run(run())


def test_jump_back_in_history_and_feed_selection() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            app.run_command("step 30")
            await settle(pilot, app)
            assert app.snapshot.position == 30
            await pilot.press("g")
            await pilot.pause()
            await pilot.press(*"12", "enter")
            await settle(pilot, app)
            assert app.snapshot.position == 12 and lab(app).steps == 12
            feed = app.screen.query_one(EventFeed)
            assert feed.row_count and all(int(k.split("-")[-1]) <= 12 for k in feed.keys)
            # Enter on a feed row jumps to it.
            feed.focus()
            feed.move_cursor(row=feed.row_index("5"))
            await pilot.press("enter")
            await settle(pilot, app)
            assert app.snapshot.position == 5

    asyncio.run(run())


def test_save_and_load_a_session_like_slides(tmp_path: Path) -> None:
    saved = tmp_path / "session.txt"

    async def record() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            app.run_command("until leader")
            await press(pilot, app, "C")
            await press(pilot, app, "n", "n", "n")
            await pilot.press("s")
            await pilot.pause()
            app.screen.query_one("#dialog-input").value = str(saved)
            await pilot.press("enter")
            await settle(pilot, app)
            return app.snapshot

    snapshot = asyncio.run(record())
    lines = saved.read_text().splitlines()
    assert lines[0] == "cluster 5 seed=42" and "until leader" in lines

    async def replay() -> None:
        app = make_app(load=str(saved))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            assert app.script_lines == lines[1:]
            await press(pilot, app, "right_square_bracket")
            assert app.script_next == 1
            await press(pilot, app, "right_curly_bracket")
            assert app.script_next == len(lines) - 1
            await settle(pilot, app)
            assert app.snapshot.nodes == snapshot.nodes
            assert app.snapshot.now == snapshot.now

    asyncio.run(replay())


def test_help_screen_lists_every_key_and_closes() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press("question_mark")
            await pilot.pause()
            text = str(app.screen.query_one("#help-text").render())
            for word in ("play or pause", "crash the selected node", "partition", "command line", "quit"):
                assert word in text
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen.__class__.__name__ == "MainScreen"

    asyncio.run(run())


def test_an_invariant_violation_pauses_and_turns_red(monkeypatch: pytest.MonkeyPatch) -> None:
    from raftviz.core.raft import RaftNode

    # A deliberately broken core: a node votes for anyone, every time.
    original = RaftNode.handle_request_vote

    def vote_twice(self, msg, now):  # noqa: ANN001, ANN202
        self.voted_for = 0
        return original(self, msg, now)

    monkeypatch.setattr(RaftNode, "handle_request_vote", vote_twice)

    async def run() -> None:
        app = make_app(seed=1)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            app.run_command("timers align")
            await settle(pilot, app)
            # At full speed: at the class pace (1/30×) a busy machine plays too little
            # virtual time in a few seconds for the split vote to come round.
            while app.speed < len(SPEEDS) - 1:
                await press(pilot, app, "plus")
            await press(pilot, app, "space")
            for _ in range(500):
                await pilot.pause(0.02)
                if app.snapshot and app.snapshot.violations:
                    break
            await settle(pilot, app)
            assert app.snapshot.violations
            assert not app.playing
            assert "Election Safety" in app.snapshot.violations[0]

    asyncio.run(run())


@pytest.mark.udp
def test_real_processes_quit_leaves_none_behind() -> None:
    async def run() -> list[int]:
        app = RaftvizApp(AppOptions(backend="udp", seed=3, nodes=3))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            pids = [n.pid for n in app.snapshot.nodes]
            assert all(pids)
            await press(pilot, app, "n", "n", "k")
            assert app.snapshot.node(1).role == "down"
            await pilot.press("q")
        return pids

    import os

    pids = asyncio.run(run())
    for pid in pids:
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/stat") as f:
                assert f.read().split(") ", 1)[1][0] == "Z", f"node process {pid} survived quit"
        except ProcessLookupError:
            pass


def test_log_scroll_keys_and_clicking_a_node() -> None:
    from raftviz.tui.widgets.cluster import ClusterView, cluster_layout
    from raftviz.tui.widgets.logs import LogsView

    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            app.run_command("until leader")
            for i in range(60):
                app.run_command(f"put k{i} v client=c{i % 10}")
            app.run_command("until idle")
            await settle(pilot, app)
            logs = app.screen.query_one(LogsView)
            assert logs.offset is None  # following the tail
            await press(pilot, app, "less_than_sign")
            assert logs.offset is not None
            await press(pilot, app, "greater_than_sign", "greater_than_sign", "greater_than_sign")
            assert logs.offset is None
            # A click on node 4's box selects it.
            cluster = app.screen.query_one(ClusterView)
            size = cluster.content_size
            box = cluster_layout(5, size.width, size.height - 1)[3]
            await pilot.click(ClusterView, offset=(box.x + box.w // 2 + 1, box.y + 1 + 1))
            await settle(pilot, app)
            assert app.selected == 4

    asyncio.run(run())


def test_partition_groups_reach_the_picture() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            app.run_command("partition 1,2 | 3")
            await settle(pilot, app)
            assert app.snapshot.groups == ((1, 2), (3,))
            assert [app.snapshot.group_of(n) for n in (1, 2, 3, 4, 5)] == [0, 0, 1, 2, 2]

    asyncio.run(run())


# --------------------------------------------------------------------------- membership and snapshots


def feed_text(app: RaftvizApp) -> str:
    return "\n".join(app.screen.query_one(EventFeed).lines())


def test_add_key_opens_a_dialog_with_the_lowest_free_id_and_adds_that_node() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            app.run_command("until leader")
            await settle(pilot, app)
            await pilot.press("a")
            await pilot.pause()
            assert app.screen.query_one("#dialog-input").value == "6"
            await pilot.press("enter")
            await settle(pilot, app)
            assert 6 in lab(app).views and lab(app).views[6].joined
            assert "admin#1 add 6 sent to node" in feed_text(app)
            assert app.snapshot.ids == (1, 2, 3, 4, 5, 6)
            assert app.snapshot.node(6).joined
            assert_picture_is_the_lab(app)
            # The new node is taken in as a learner, then promoted once it has caught up.
            app.run_command(f"until {lab(app).leader()}.learners = 6")
            await settle(pilot, app)
            assert app.snapshot.membership(6) == "learner"
            app.run_command("until 6.voters = 1,2,3,4,5,6")
            await settle(pilot, app)
            assert_picture_is_the_lab(app)
            await press(pilot, app, "6")
            assert app.selected == 6
            # The next add offers 7; an id in use is refused without running anything.
            await pilot.press("a")
            await pilot.pause()
            assert app.screen.query_one("#dialog-input").value == "7"
            app.screen.query_one("#dialog-input").value = "3"
            await pilot.press("enter")
            await settle(pilot, app)
            assert "add 3 sent" not in feed_text(app)
            assert 7 not in lab(app).views

    asyncio.run(run())


def test_add_dialog_escape_and_a_full_cluster() -> None:
    async def run() -> None:
        app = make_app(nodes=9)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press("a")  # every id 1-9 is in use: a warning, no dialog
            await pilot.pause()
            assert app.screen.__class__.__name__ == "MainScreen"
        app = make_app(nodes=3)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press("a")
            await pilot.pause()
            assert app.screen.query_one("#dialog-input").value == "4"
            await pilot.press("escape")
            await settle(pilot, app)
            assert sorted(lab(app).views) == [1, 2, 3]

    asyncio.run(run())


def test_remove_key_takes_the_selected_node_out_of_the_configuration() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            app.run_command("until leader")
            await settle(pilot, app)
            leader = lab(app).leader()
            await press(pilot, app, str(leader))
            await press(pilot, app, "delete")
            assert f"remove {leader} sent to node" in feed_text(app)
            # A leader that removes itself steps down once the change commits; another takes over.
            app.run_command(f"until {leader}.role != leader max=3s")
            app.run_command("until leader max=3s")
            await settle(pilot, app)
            assert leader not in lab(app).views[lab(app).leader()].voters
            assert app.snapshot.membership(leader) == "none"
            assert_picture_is_the_lab(app)
            # D does the same for the node selected next.
            other = next(i for i in (1, 2, 3, 4, 5) if i not in (leader, lab(app).leader()))
            app.run_command("until idle")
            await settle(pilot, app)
            await press(pilot, app, str(other), "D")
            assert f"remove {other} sent to node" in feed_text(app)

    asyncio.run(run())


def test_snapshot_key_compacts_the_selected_nodes_log() -> None:
    from raftviz.tui.widgets.logs import LogsView, render_logs

    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            app.run_command("until leader")
            app.run_command("writes 30 keys=4")
            app.run_command("until idle")
            await settle(pilot, app)
            await press(pilot, app, "2", "S")
            assert "> snapshot 2" in feed_text(app)
            view = lab(app).views[2]
            assert view.snapshot_index > 0
            node = app.snapshot.node(2)
            assert node.log_start == view.snapshot_index and node.last_index == view.last_index
            assert_picture_is_the_lab(app)
            logs = app.screen.query_one(LogsView)
            logs.offset = 1
            plain = render_logs(app.snapshot, 70, 12, offset=1).plain
            assert f"≤{view.snapshot_index}" in plain

    asyncio.run(run())


def test_a_restarted_node_behind_the_snapshot_is_sent_it() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            app.run_command("cluster 5 seed=42 snapshot=20")
            app.run_command("until leader")
            app.run_command("crash 2")
            app.run_command("writes 45 keys=6")
            app.run_command("until idle")
            app.run_command("restart 2")
            await settle(pilot, app)
            for _ in range(40):
                if any(f.kind == "InstallSnapshot" for f in app.snapshot.flights):
                    break
                await press(pilot, app, "n")
            assert any(f.kind == "InstallSnapshot" and f.dst == 2 for f in app.snapshot.flights)
            assert_picture_is_the_lab(app)
            app.run_command("until 2.snap > 0")
            await settle(pilot, app)
            assert app.snapshot.node(2).log_start > 0
            assert_picture_is_the_lab(app)

    asyncio.run(run())


def test_help_and_palette_list_the_membership_keys() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert "Add a node (dialog: a free id 1-9); it joins as a learner" in titles
            assert any(t.startswith("Remove the selected node") for t in titles)
            assert any(t.startswith("The selected node takes a snapshot") for t in titles)
            await pilot.press("question_mark")
            await pilot.pause()
            text = str(app.screen.query_one("#help-text").render())
            assert "Members" in text and "Del/D" in text and "add a node" in text

    asyncio.run(run())


def test_play_stops_at_a_breakpoint_and_says_which() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            # The palette entry opens the command line with "break " typed.
            titles = [c.title for c in app.get_system_commands(app.screen)]
            assert "Breakpoint" in titles
            app.action_breakpoint()
            await pilot.pause()
            await pilot.press(*"leader", "enter")
            await settle(pilot, app)
            assert app.breakpoints == ("leader",)
            assert app.breakpoint_text() == "leader"
            assert "break leader" in str(app.screen.query_one(StatusBar).render())
            await pilot.press("space")
            for _ in range(200):
                if not app.playing:
                    break
                await pilot.pause(0.05)
            await settle(pilot, app)
            assert not app.playing, "play did not stop at the breakpoint"
            leader = lab(app).leader()
            assert leader
            feed = app.screen.query_one(EventFeed)
            assert any("break 1: leader at t=" in line for line in feed.lines())
            # Stopped right after the event that made the leader: nothing ran past it.
            assert lab(app).views[leader].leader_since == lab(app).now
            assert_picture_is_the_lab(app)

    asyncio.run(run())


def test_max_speed_play_stops_at_an_event_breakpoint_and_unbreak_clears_the_header() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            app.run_command("break role=candidate")
            await settle(pilot, app)
            while app.speed < len(SPEEDS) - 1:
                await press(pilot, app, "plus")
            await press(pilot, app, "space")
            for _ in range(200):
                if not app.playing:
                    break
                await pilot.pause(0.05)
            await settle(pilot, app)
            assert not app.playing
            assert [v.role for v in lab(app).views.values()].count("candidate") == 1
            app.run_command("unbreak all")
            await settle(pilot, app)
            assert app.breakpoints == () and app.breakpoint_text() == ""

    asyncio.run(run())


# ------------------------------------------------------------ the chrome: header, footer, help, focus


def header_text(app: RaftvizApp) -> str:
    return app.screen.query_one(StatusBar).text()


def notifications(app: RaftvizApp) -> list[str]:
    return [n.message for n in app._notifications]


@pytest.mark.parametrize("width", [160, 100, 80])
def test_header_keeps_the_essentials_at_every_width(tmp_path: Path, width: int) -> None:
    script = tmp_path / "slides.txt"
    script.write_text("cluster 5 seed=42\nuntil leader\nput x 1\n", encoding="utf-8")

    async def run() -> None:
        app = make_app(load=str(script))
        async with app.run_test(size=(width, 30)) as pilot:
            await settle(pilot, app)
            app.run_command("crash 1")
            app.run_command("put k v via=1")  # node 1 is down: the request waits
            await settle(pilot, app)
            text = header_text(app)
            assert len(text) <= width
            now = app.snapshot.now
            for essential in (f"t={now} ms", "⏸", "1/30×", "ok", "connected", "waiting", "script 0/2"):
                assert essential in text, (essential, text)
            if width >= 160:
                # Room for decoration too.
                assert "seed 42" in text and "latency 10-20" in text
            if width <= 80:
                assert "seed 42" not in text  # decoration goes before the essentials

    asyncio.run(run())


def test_header_fit_drops_least_important_first() -> None:
    from rich.text import Text

    from raftviz.tui.widgets.header import Part, fit

    parts = [
        Part("brand", Text("BRAND")),
        Part("time", Text("t=5 ms")),
        Part("net", Text("net: connected"), Text("connected")),
        Part("break", Text("break leader"), Text("break")),
    ]
    assert fit(parts, 100).plain == "BRAND t=5 ms net: connected break leader"
    assert fit(parts, 34).plain == "t=5 ms net: connected break leader"
    assert fit(parts, 28).plain == "t=5 ms net: connected break"
    assert fit(parts, 21).plain == "t=5 ms net: connected"
    assert fit(parts, 16).plain == "t=5 ms connected"
    # Every essential is abbreviated before any essential is dropped.
    two = [
        Part("net", Text("net: connected"), Text("net")),
        Part("script", Text("script 1/2 (])"), Text("1/2")),
    ]
    assert fit(two, 18).plain == "net: connected 1/2"
    assert fit(two, 7).plain == "net 1/2"
    assert fit(two, 4).plain == "net"


@pytest.mark.parametrize("width", [160, 100, 80])
def test_footer_shows_whole_items_by_priority(width: int) -> None:
    from raftviz.tui.widgets.footer import KeysFooter

    async def run() -> None:
        app = make_app()
        async with app.run_test(size=(width, 24)) as pilot:
            await settle(pilot, app)
            footer = app.screen.query_one(KeysFooter)
            shown = [item.action for item in footer.shown()]
            line = footer.render().plain
            assert len(line) <= width
            # Every item drawn whole: its key and its label.
            for item in footer.shown():
                assert f"{item.key} {item.label}" in line, (item, line)
            first = ["help", "quit", "toggle_play", "step", "step_back", "command"]
            assert shown[: len(first)] == first, shown
            if width >= 100:
                assert {"client_request", "crash", "partition", "heal"} <= set(shown), shown
            if width >= 120:
                assert "panel" not in shown, shown  # nothing is folded: no i
            if width >= 160:
                assert "command_palette" in shown and "deliver" in shown

    asyncio.run(run())


def test_help_scrolls_with_the_keyboard() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press("question_mark")
            await pilot.pause()
            help_box = app.screen.query_one("#help")
            assert help_box.max_scroll_y > 0  # more keys than rows: it must scroll
            await pilot.press("down")
            await pilot.pause(0.3)
            assert help_box.scroll_y == 1
            await pilot.press("end")
            await pilot.pause(0.3)
            assert help_box.scroll_y == help_box.max_scroll_y
            await pilot.press("home")
            await pilot.pause(0.3)
            assert help_box.scroll_y == 0
            await pilot.press("pagedown")
            await pilot.pause(0.3)
            assert help_box.scroll_y > 1
            await pilot.press("pageup")
            await pilot.pause(0.3)
            assert help_box.scroll_y == 0
            # The "[" key is shown as itself (it once opened a markup tag and ate its line).
            text = str(app.screen.query_one("#help-text").render())
            assert any(line.strip().startswith("[") and "previous step" in line for line in text.splitlines())

    asyncio.run(run())


@pytest.mark.parametrize("command", ["frobnicate", "crash 42"])
@pytest.mark.parametrize("tab", [False, True])
def test_question_mark_after_a_failed_command_opens_help(command: str, tab: bool) -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            if tab:
                await press(pilot, app, "tab")
            await pilot.press("colon")
            await pilot.pause()
            await pilot.press(*command, "enter")
            await settle(pilot, app)
            assert any(n.severity == "error" for n in app._notifications)
            await pilot.press("question_mark")
            await pilot.pause()
            assert app.screen.__class__.__name__ == "HelpScreen"

    asyncio.run(run())


async def burst(pilot, app: RaftvizApp, *keys: tuple[str, str | None]) -> None:  # noqa: ANN001
    """Keys arriving all at once, as from a fast typist or ``tmux send-keys`` (Pilot waits between keys)."""
    from textual import events

    for key, character in keys:
        app.post_message(events.Key(key, character))
    await settle(pilot, app)
    await pilot.pause(0.2)
    await settle(pilot, app)


ENTER = ("enter", "\r")


def test_a_key_typed_right_after_a_dialogs_enter_reaches_the_screen_below() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            # A failed command, then ? at once: help opens (the ? was typed into the closing dialog).
            await pilot.press("colon")
            await pilot.pause()
            app.screen.query_one("#dialog-input").value = "frobnicate"
            await burst(pilot, app, ENTER, ("question_mark", "?"))
            assert app.screen.__class__.__name__ == "HelpScreen"
            # Escape closes help and ? at once opens it again.
            await burst(pilot, app, ("escape", None), ("question_mark", "?"))
            assert app.screen.__class__.__name__ == "HelpScreen" and len(app.screen_stack) == 2
            await burst(pilot, app, ("escape", None))
            # A command, then two steps at once: both steps run, after the command.
            await pilot.press("colon")
            await pilot.pause()
            app.screen.query_one("#dialog-input").value = "status"
            await burst(pilot, app, ENTER, ("n", "n"), ("n", "n"))
            assert app.screen.__class__.__name__ == "MainScreen"
            assert lab(app).steps == 2
            commands = [
                line.split("> ", 1)[1]
                for line in app.screen.query_one(EventFeed).lines()
                if "> " in line and "↳" not in line  # (a reason's row may say "term 0 -> 1")
            ]
            # (A step is shown by its event's row, not echoed as "> step".)
            assert commands[-1] == "status", commands

    asyncio.run(run())


def test_speed_keys_speak_and_the_header_shows_the_speed_while_paused() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            assert not app.playing and "⏸ paused 1/30×" in header_text(app)
            await press(pilot, app, "plus")
            assert "1/10×" in header_text(app)
            assert notifications(app)[-1] == "speed 1/10× (paused: Space plays)"
            for _ in range(10):
                await press(pilot, app, "minus")
            assert "1/1000×" in header_text(app) and "slowest" in notifications(app)[-1]
            for _ in range(10):
                await press(pilot, app, "plus")
            assert "max" in header_text(app) and "fastest" in notifications(app)[-1]

    asyncio.run(run())


def test_tab_marks_the_focused_list() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            messages, feed = app.screen.query_one("#messages-box"), app.screen.query_one("#feed-box")
            assert messages.border_title.startswith("▶") and not feed.border_title.startswith("▶")
            plain_border = feed.styles.border_top
            await press(pilot, app, "tab")
            assert app.focused is app.screen.query_one(EventFeed)
            assert feed.border_title.startswith("▶") and not messages.border_title.startswith("▶")
            assert feed.styles.border_top[0] == "heavy" and plain_border[0] == "round"
            assert messages.styles.border_top[0] == "round"

    asyncio.run(run())


def test_dialogs_sit_below_the_ring() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            ring = app.screen.query_one("#cluster").region
            for key in ("P", "colon", "s"):
                await pilot.press(key)
                await pilot.pause()
                dialog = app.screen.query_one("#dialog").region
                assert dialog.y >= ring.bottom - 1, (key, dialog, ring)
                await pilot.press("escape")
                await pilot.pause()

    asyncio.run(run())


def test_save_asks_before_overwriting(tmp_path: Path) -> None:
    saved = tmp_path / "session.txt"
    saved.write_text("keep me\n", encoding="utf-8")

    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press("s")
            await pilot.pause()
            app.screen.query_one("#dialog-input").value = str(saved)
            await pilot.press("enter")
            await pilot.pause()
            assert app.screen.__class__.__name__ == "ConfirmScreen"
            # n cancels the save; keys typed right after it are the main screen's, not a file name's.
            await pilot.press("n", "colon", *"status", "enter")
            await settle(pilot, app)
            assert saved.read_text() == "keep me\n"
            assert any("not saved" in n for n in notifications(app)), notifications(app)
            assert not isinstance(app.screen, PromptScreen)
            assert any("> status" in line for line in app.screen.query_one(EventFeed).lines())
            assert not any(p.name.startswith("session.txt") and p != saved for p in tmp_path.iterdir())
            await pilot.press("s")
            await pilot.pause()
            app.screen.query_one("#dialog-input").value = str(saved)
            await pilot.press("enter")
            await pilot.pause()
            await pilot.press("enter")  # Enter does not answer the question
            await pilot.pause()
            assert app.screen.__class__.__name__ == "ConfirmScreen" and saved.read_text() == "keep me\n"
            await pilot.press("y")
            await settle(pilot, app)
            assert saved.read_text().startswith("cluster 5 seed=42")

    asyncio.run(run())


def test_partition_dialog_applies_its_example_and_never_ends_silently() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot, app)
            await pilot.press("P")
            await pilot.pause()
            await pilot.press("enter")  # the example is a real value: Enter applies it
            await settle(pilot, app)
            assert "partition 1,2 | 3,4,5" in header_text(app), header_text(app)
            await pilot.press("P")
            await pilot.pause()
            await pilot.press("1")  # typing replaces the example
            await pilot.pause()
            assert app.screen.query_one("#dialog-input").value == "1"
            app.screen.query_one("#dialog-input").value = ""
            await pilot.press("enter")  # an empty Enter says what to type
            await settle(pilot, app)
            assert any("nothing partitioned" in n for n in notifications(app)), notifications(app)

    asyncio.run(run())


def test_save_and_reload_say_the_same_count(tmp_path: Path) -> None:
    saved = tmp_path / "session.txt"

    async def record() -> str:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            app.run_command("until leader")
            await press(pilot, app, "C", "n", "n")
            await pilot.press("s")
            await pilot.pause()
            app.screen.query_one("#dialog-input").value = str(saved)
            await pilot.press("enter")
            await settle(pilot, app)
            return notifications(app)[-1]

    said = asyncio.run(record())
    commands = len(saved.read_text().splitlines()) - 1
    assert said == f"saved to {saved}: cluster 5 seed=42 then {commands} commands"

    async def replay() -> None:
        app = make_app(load=str(saved))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            assert f"cluster 5 seed=42 then {commands} commands" in notifications(app)[0]
            assert f"script 0/{commands}" in header_text(app)

    asyncio.run(replay())


def test_default_seed_starts_with_one_clean_election() -> None:
    from raftviz.lab.run import run_script

    assert AppOptions().seed == DEFAULT_SEED
    for backend in ("inprocess", "udp"):
        out: list[str] = []
        code = run_script(
            f"cluster 5 seed={DEFAULT_SEED}\nuntil leader\nadvance 2000\nexpect all.term = 1\n",
            "first.txt",
            out.append,
            backend=backend,
        )
        assert code == 0, out
        candidates = [line for line in out if "candidate" in line]
        assert len(candidates) == 1, (backend, candidates)


def test_default_pace_is_a_class_pace_but_a_lesson_keeps_its_own() -> None:
    from raftviz.lessons import find_lesson, load_lesson
    from raftviz.tui.app import DEFAULT_SPEED, LESSON_SPEED
    from raftviz.tui.widgets.panels import SPEEDS

    lesson = load_lesson(find_lesson("meet-the-cluster"))
    for options, pace in (
        (AppOptions(backend="inprocess"), DEFAULT_SPEED),
        (AppOptions(lesson=lesson), LESSON_SPEED),
    ):
        app = RaftvizApp(options)
        try:
            assert SPEEDS[app.speed][0] == pace
        finally:
            app.shutdown()
    assert (DEFAULT_SPEED, LESSON_SPEED) == ("1/30×", "1/30×")


def test_a_lesson_step_that_waits_long_asks_for_its_own_pace() -> None:
    from raftviz.lessons import PACES, LessonError, find_lesson, load_lesson, parse_lesson
    from raftviz.tui.app import LESSON_SPEED

    assert tuple(label for label, _factor in SPEEDS) == PACES
    lesson = load_lesson(find_lesson("partitions"))
    paced = [i for i, step in enumerate(lesson.steps) if step.pace]
    assert paced and lesson.steps[paced[0]].pace == "1×"
    with pytest.raises(LessonError, match="pace: one of"):
        parse_lesson("# T\nsetup: cluster 3\n## S\nText.\npace: fast\n", "t")
    assert parse_lesson("# T\nsetup: cluster 3\n## S\nText.\npace: 1/10x\n", "t").steps[0].pace == "1/10×"

    async def run() -> None:
        app = RaftvizApp(AppOptions(backend="inprocess", lesson=lesson))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            app.controller.lesson_jump(paced[0])
            await settle(pilot, app)
            assert app.lesson_view.index == paced[0]
            assert SPEEDS[app.speed][0] == "1×"
            app.controller.lesson_jump(paced[0] - 1)
            await settle(pilot, app)
            assert SPEEDS[app.speed][0] == LESSON_SPEED

    asyncio.run(run())


def test_help_and_the_palette_speak_of_breakpoints() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await pilot.press("question_mark")
            await pilot.pause()
            help_text = str(app.screen.query_one("#help-text").render())
            assert "break leader" in help_text and "unbreak N" in help_text
            await pilot.press("escape")
            await pilot.pause()
            app.action_breakpoint()  # the palette's "Breakpoint" entry
            await pilot.pause()
            assert isinstance(app.screen, PromptScreen)
            assert "Breakpoint" in app.screen.title_text and "lost=RequestVote" in app.screen.hint
            assert app.screen.query_one("#dialog-input").value == "break "
            app.screen.query_one("#dialog-input").value = "break leader"
            await pilot.press("enter")
            await settle(pilot, app)
            assert app.breakpoints and "leader" in app.breakpoint_text()

    asyncio.run(run())


def test_a_cluster_with_a_planted_bug_says_so_in_the_header() -> None:
    from raftviz.lab.history import History
    from raftviz.lab.script import parse_script
    from raftviz.lab.session import Session
    from raftviz.tui.widgets.header import fit, header_parts

    history = History(lambda: Session("inprocess"))
    try:
        for command in parse_script("cluster 3 bug=vote-any-log@2\n", "t"):
            assert not history.run(command).failure
        snap = take_snapshot(history)
        assert snap is not None and snap.bugs == "vote-any-log@2"
        parts = header_parts(snap, False, "1×")
        assert "bug planted: vote-any-log@2" in fit(parts, 160).plain
        # Essential: still said, if shorter, at 80 columns.
        assert "bug" in fit(parts, 80).plain
    finally:
        history.close()
