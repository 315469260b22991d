"""The TUI on the history tree: back, forward along the record, branches, the branch view."""

from __future__ import annotations

import asyncio

from raftviz.tui.app import AppOptions, RaftvizApp
from raftviz.tui.screens.branches import BranchScreen
from raftviz.tui.testing import run_commands, settle
from raftviz.tui.widgets.header import StatusBar
from raftviz.tui.widgets.panels import EventFeed

SIZE = (160, 48)


def make_app() -> RaftvizApp:
    return RaftvizApp(AppOptions(backend="inprocess", seed=42))


def history(app: RaftvizApp):  # noqa: ANN201
    assert app.controller.history is not None
    return app.controller.history


def header(app: RaftvizApp) -> str:
    return str(app.screen.query_one(StatusBar).render())


def test_after_going_back_n_replays_the_recorded_drop_instead_of_running_new_events() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await run_commands(pilot, app, "step 12", "drop 1->*")
            dropped_at = app.snapshot.position
            gone = {f.id for f in history(app).session.lab.flights.values()}
            await pilot.press("b")
            await settle(pilot, app)
            assert app.snapshot.position == dropped_at - 1
            assert app.snapshot.ahead == 1 and "recorded ahead" in header(app)
            await pilot.press("n")  # follows the record: the drop again, not the next event
            await settle(pilot, app)
            assert app.snapshot.position == dropped_at
            assert {f.id for f in history(app).session.lab.flights.values()} == gone
            assert len(history(app).timeline.branches) == 1 and app.snapshot.ahead == 0
            assert "recorded ahead" not in header(app)

    asyncio.run(run())


def test_acting_after_going_back_says_it_starts_a_branch_and_the_branch_view_goes_back() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await run_commands(pilot, app, "step 30", "mark here")
            tip = app.snapshot.position
            for _ in range(5):
                await pilot.press("b")
            await settle(pilot, app)
            await run_commands(pilot, app, "crash 3")
            feed = "\n".join(app.screen.query_one(EventFeed).lines())
            assert "a new branch 2 starts at position" in feed
            assert app.snapshot.branches == 2 and "branch 2" in header(app)
            await pilot.press("B")
            await settle(pilot, app)
            assert isinstance(app.screen, BranchScreen)
            targets = [target for target, _row in app.screen.rows]
            assert targets[0] == str(tip) and "here" in targets  # branch 1's tip, its mark
            await pilot.press("home", "enter")  # branch 1's tip
            await settle(pilot, app)
            assert app.snapshot.position == tip and app.snapshot.branch == 1
            node3 = next(n for n in app.snapshot.nodes if n.id == 3)
            assert node3.alive  # the crash was on the other branch
            # The feed shows the way to where the session is now (re-derived): nothing of branch 2.
            shown = [int(k) for k in app.screen.query_one(EventFeed).keys if k.isdigit()]
            assert shown and max(shown) <= tip

    asyncio.run(run())


def test_g_goes_to_a_mark_and_an_unknown_one_is_a_clear_error() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await run_commands(pilot, app, "step 5", "mark start", "step 20")
            await pilot.press("g")
            await pilot.pause()
            await pilot.press(*"start", "enter")
            await settle(pilot, app)
            assert app.snapshot.position == 5
            await pilot.press("g")
            await pilot.pause()
            await pilot.press(*"nowhere", "enter")
            await settle(pilot, app)
            assert app.snapshot.position == 5
            feed = "\n".join(app.screen.query_one(EventFeed).lines())
            assert "no mark 'nowhere'" in feed

    asyncio.run(run())
