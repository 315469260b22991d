"""The space-time diagram (v): its rows follow the history, its cursor is the history position."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.widgets import Input

from raftviz.lab.history import History
from raftviz.lab.lab import StepRecord
from raftviz.lab.session import Session
from raftviz.lab.timeline import Step
from raftviz.tui.app import AppOptions, RaftvizApp, message_detail
from raftviz.tui.diagram import AT_SEND, KIND_CODE, KINDS, DiagramRows, DiagramSource, rows_of
from raftviz.tui.testing import run_commands, settle
from raftviz.tui.widgets.cluster import ClusterView
from raftviz.tui.widgets.diagram import DiagramView, row_words


def make_app() -> RaftvizApp:
    return RaftvizApp(AppOptions(backend="inprocess", seed=42))


def screen_text(view: DiagramView) -> list[str]:
    """The diagram's lines as plain text."""
    return [view.render_line(y).text for y in range(view.size.height)]


async def open_diagram(pilot, app: RaftvizApp) -> DiagramView:  # noqa: ANN001
    await pilot.press("v")
    await settle(pilot, app)
    view = app.screen.query_one(DiagramView)
    assert view.display and view.has_focus
    assert not app.screen.query_one(ClusterView).display
    return view


async def chosen(pilot, app: RaftvizApp) -> None:  # noqa: ANN001
    """Wait for the chosen message's details (read on the lab thread)."""
    assert app.diagram_detail is not None
    await asyncio.wrap_future(app.diagram_detail)
    for _ in range(20):
        await pilot.pause()


# ---------------------------------------------------------------------------- the rows


def full_rows(history: History) -> list[tuple]:
    """Every row from the root to the followed tip, derived afresh (what the deltas must add up to)."""
    from raftviz.lab.events import events_of

    rows: list[tuple] = []

    def visit(position: int, step: Step, records: list[StepRecord]) -> None:
        for record in records:
            rows.extend(rows_of(events_of(position, step, [record])))
        if not records:
            rows.extend(rows_of(events_of(position, step, [])))

    history.walk(visit)
    # A network change has no record: its time is the clock's, which a walk alone does not know.
    return [row[:10] for row in rows if KINDS[row[2]] != "network"]


def test_deltas_follow_the_history_across_branches() -> None:
    history = History(lambda: Session(backend="inprocess"))
    source = DiagramSource()
    history.listeners.append(source.on_record)
    rows = DiagramRows()

    def run(*commands: str) -> None:
        for command in commands:
            outcome = history.run_text(command)
            assert not outcome.failure, outcome.failure
            delta = source.delta(history)
            if delta is not None:
                rows.apply(delta)

    def mine() -> list[tuple]:
        return [rows.row(i)[:10] for i in range(len(rows)) if KINDS[rows.kind[i]] != "network"]

    try:
        run("cluster 3 seed=1", "until leader", "put x 1", "until kv x=1", "partition 1 | 2,3", "step 10")
        assert mine() == full_rows(history)
        old_tip = history.position
        run("back 15", "crash 1", "until leader")  # a new branch: the old future is left
        assert mine() == full_rows(history)
        run(f"goto {old_tip}")  # back to the first branch: its rows again
        assert mine() == full_rows(history)
        assert rows.position[-1] == old_tip
        kinds = {KINDS[k] for k in rows.kind}
        assert {"send", "deliver", "lost", "timeout", "role", "commit", "network"} <= kinds
        assert rows.lanes == [1, 2, 3, 10]  # the nodes, then the clients' lane
    finally:
        history.close()


def test_row_words_name_the_message_and_its_outcome() -> None:
    history = History(lambda: Session(backend="inprocess"))
    source = DiagramSource()
    history.listeners.append(source.on_record)
    rows = DiagramRows()
    try:
        history.run_text("cluster 3 seed=1")
        history.run_text("until leader")
        delta = source.delta(history)
        assert delta is not None
        rows.apply(delta)
    finally:
        history.close()
    words = [row_words(rows, i) for i in range(len(rows))]
    assert any("RequestVote t1" in w and "→" in w for w in words)
    assert any(w.endswith("RequestVoteReply t1 granted") for w in words)
    assert any("LEADER t1" in w for w in words)
    assert any("election timeout" in w for w in words)


def test_message_detail_shows_the_reason_when_there_is_one() -> None:
    from raftviz.lab.events import Event

    deliver = Event(5, 100, "deliver", "deliver #7 2->1", node=1, msg_id=7, src=2, dst=1,
                    summary="RequestVote term=2 lastIndex=3 lastTerm=1", sent_at=90)  # fmt: skip
    lines = message_detail(7, [deliver])
    assert lines[0].startswith("#7 2→1 RequestVote term=2")
    assert "sent t=90, delivered t=100" in lines[0]
    assert lines[1] == "(no reason reported for this step)"
    because = "vote denied: already voted for 3 in term 2 (Figure 2, RequestVote RPC)"
    reasoned = Event(5, 100, "send", "send #8", node=1, msg_id=8, src=1, dst=2, reason=because)
    lines = message_detail(7, [deliver, reasoned])
    assert lines[1] == f"because: {because}"


# ---------------------------------------------------------------------------- in the app


@pytest.mark.parametrize("size", [(160, 48), (100, 30)])
def test_diagram_opens_by_key_draws_lanes_and_closes(size: tuple[int, int]) -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=size) as pilot:
            await settle(pilot, app)
            await run_commands(pilot, app, "until leader", "put x 1", "until kv x=1")
            view = await open_diagram(pilot, app)
            lines = screen_text(view)
            header = lines[0]
            for node in "12345":
                assert node in header
            assert "c" in header  # the clients' lane
            body = "\n".join(lines)
            assert "LEADER" in body or "commit=" in body
            assert "▶" in body  # the cursor, or an arrow's head
            cursor = [line for line in lines if line.startswith("▶")]
            assert cursor and str(app.snapshot.position) in cursor[0]
            await pilot.press("escape")
            await settle(pilot, app)
            assert not view.display and app.screen.query_one(ClusterView).display
            await pilot.press("v")
            await pilot.press("v")  # the same key returns
            await settle(pilot, app)
            assert not view.display

    asyncio.run(run())


def test_view_command_and_palette_command_open_it() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            view = app.screen.query_one(DiagramView)
            app.run_command("view diagram")
            await settle(pilot, app)
            assert view.display
            app.run_command("view ring")
            await settle(pilot, app)
            assert not view.display
            app.run_command("view sideways")  # a mistake: said, not a traceback
            await settle(pilot, app)
            assert not view.display
            commands = [c.title for c in app.get_system_commands(app.screen)]
            assert any("space-time diagram" in title.lower() for title in commands)

    asyncio.run(run())


def test_moving_the_cursor_moves_the_app_and_the_app_moves_the_cursor() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            await run_commands(pilot, app, "until leader", "put x 1", "until kv x=1")
            view = await open_diagram(pilot, app)
            rows = app.diagram_rows
            tip = app.snapshot.position
            assert view.cursor_position() == tip
            # Up until the cursor is on an earlier position: the app goes there.
            await pilot.press("up", "up", "up", "up", "up")
            await settle(pilot, app)
            assert view.cursor_position() < tip
            assert app.snapshot.position == view.cursor_position()
            await pilot.press("home")
            await settle(pilot, app)
            assert app.snapshot.position == rows.position[0]
            await pilot.press("pagedown")
            await settle(pilot, app)
            assert app.snapshot.position == view.cursor_position() > rows.position[0]
            await pilot.press("end")
            await settle(pilot, app)
            assert app.snapshot.position == tip
            # The app moves (back, goto): the cursor follows.
            await pilot.press("b")
            await settle(pilot, app)
            assert view.cursor_position() == rows.position[rows.row_of(app.snapshot.position)]
            middle = rows.position[len(rows) // 2]
            app.controller.rewind(middle)
            await settle(pilot, app)
            assert view.cursor_position() == middle
            # A step forward (along the recorded future): followed too.
            await pilot.press("n")
            await settle(pilot, app)
            assert view.cursor_position() == rows.position[rows.row_of(app.snapshot.position)]
            assert app.snapshot.position > middle

    asyncio.run(run())


def test_a_click_on_a_row_goes_there_and_chooses_its_message() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            await run_commands(pilot, app, "until leader", "put x 1", "until kv x=1")
            view = await open_diagram(pilot, app)
            rows = app.diagram_rows
            deliver = KIND_CODE["deliver"]
            on_screen = [
                i for i in range(view.top, view.top + view.body_height - 1) if rows.kind[i] == deliver
            ]
            target = on_screen[0]
            await pilot.click(DiagramView, offset=(10, 1 + target - view.top))
            await settle(pilot, app)
            await chosen(pilot, app)
            assert view.cursor == target
            assert app.snapshot.position == rows.position[target]
            assert view.chosen == rows.msg[target]
            assert view.detail[0].startswith(f"#{rows.msg[target]} ")
            assert "delivered t=" in view.detail[0]

    asyncio.run(run())


def test_enter_on_an_arrow_shows_the_message_and_a_lost_one_its_mark() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            await run_commands(pilot, app, "until leader", "partition 1 | 2,3,4,5", "step 12", "heal")
            view = await open_diagram(pilot, app)
            rows = app.diagram_rows
            lost = [i for i in range(len(rows)) if KINDS[rows.kind[i]] == "lost"]
            assert lost
            target = lost[-1]
            # Go there by keys: the cursor and the app move together.
            await pilot.press(*["up"] * (view.cursor - target))
            await settle(pilot, app)
            assert view.cursor == target
            line = view.render_line(1 + target - view.top).text
            assert "✕" in line and "LOST" in line and "link cut" in line
            await pilot.press("enter")
            await chosen(pilot, app)
            assert view.chosen == rows.msg[target]
            assert "LOST" in view.detail[0] and "link cut" in view.detail[0]
            # The row that sent it is highlighted too (found from the lost row).
            assert rows.sent_row(target) is not None

    asyncio.run(run())


# ---------------------------------------------------------------------------- any way through history

COMMANDS = st.one_of(
    st.integers(1, 30).map(lambda n: f"step {n}"),
    st.integers(1, 25).map(lambda n: f"back {n}"),
    st.integers(1, 25).map(lambda n: f"forward {n}"),
    st.sampled_from(
        ["crash 1", "restart 1", "partition 1 | 2,3", "heal", "put x 1", "timeout 2", "loss 0.3", "loss 0"]
    ),
    st.integers(0, 200).map(lambda n: f"goto {n}"),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(COMMANDS, min_size=1, max_size=10))
def test_the_rows_are_those_of_the_way_followed_whatever_was_done(commands: list[str]) -> None:
    history = History(lambda: Session(backend="inprocess"))
    source = DiagramSource()
    history.listeners.append(source.on_record)
    rows = DiagramRows()
    try:
        for command in ["cluster 3 seed=2", "until leader", *commands]:
            history.run_text(command)  # a goto past the end fails: said, and nothing moves
            delta = source.delta(history)
            if delta is not None:
                rows.apply(delta)
            mine = [rows.row(i)[:10] for i in range(len(rows)) if KINDS[rows.kind[i]] != "network"]
            assert mine == full_rows(history), command
    finally:
        history.close()


def test_a_search_marks_its_positions_and_f3_moves_the_cursor() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            await run_commands(pilot, app, "until leader", "put x 1", "until kv x=1")
            view = await open_diagram(pilot, app)
            await pilot.press("slash")
            await pilot.pause()
            app.screen.query_one(Input).value = "kind=role"
            await pilot.press("enter")
            await settle(pilot, app)
            assert app.search is not None and app.search.positions
            first = app.search.positions[0]
            assert app.snapshot.position == first  # wrapped to the first match
            assert view.cursor_position() == first
            line = view.render_line(1 + view.cursor - view.top).text
            assert line.startswith("▶") and "◆" in line[: view.layout_for(160).gutter]

    asyncio.run(run())


def test_losses_at_send_and_on_the_way_are_rows_with_their_cause() -> None:
    history = History(lambda: Session(backend="inprocess"))
    source = DiagramSource()
    history.listeners.append(source.on_record)
    rows = DiagramRows()
    try:
        for command in ["cluster 3 seed=4", "until leader", "loss 0.5", "step 60", "crash 2", "step 20"]:
            history.run_text(command)
            delta = source.delta(history)
            if delta is not None:
                rows.apply(delta)
        assert [rows.row(i)[:10] for i in range(len(rows)) if KINDS[rows.kind[i]] != "network"] == full_rows(
            history
        )
    finally:
        history.close()
    lost = [i for i in range(len(rows)) if KINDS[rows.kind[i]] == "lost"]
    causes = {rows.texts.get(i, "") for i in lost}
    assert "loss" in causes and "node 2 is down" in causes
    assert any(rows.flags[i] & AT_SEND for i in lost)
