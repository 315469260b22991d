"""The lesson experience in the app, driven by Pilot: pausing on a done task, the next
lesson, rebuilding a step after free play, feedback while a step is entered, and keys
that act only on what the screen shows."""

from __future__ import annotations

import asyncio

from raftviz.lessons import find_lesson, load_lesson, parse_lesson
from raftviz.tui.app import AppOptions, RaftvizApp
from raftviz.tui.testing import settle
from raftviz.tui.widgets.lesson import render_lesson

TASK = """\
# Pause on it
setup: cluster 3 seed=5

## Elect
task: Get a leader.
check: leader
hint: Press Space.
solution: until leader

## After
The end.
"""

OFF_PATH = """\
# Off the path
setup: cluster 3 seed=5

## Start
Three followers; play as you like.

## Still followers
Nobody has started an election yet.
expect: all.role = follower

## End
The end.
"""


def panel_text(app: RaftvizApp) -> str:
    from rich.console import Console

    console = Console(width=160, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(render_lesson(app.lesson_view, app.show_hint, app.lesson_busy, app._has_next_lesson()))
    return console.export_text()


def test_space_after_the_task_pauses_the_clock_waits_for_next() -> None:
    async def run() -> None:
        app = RaftvizApp(AppOptions(backend="inprocess", lesson=parse_lesson(TASK, "pause")))
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            app.playing = True
            app.controller.play(3000)  # a long stretch: it stops on the event that elects
            await settle(pilot, app)
            assert app.lesson_view is not None and app.lesson_view.done
            assert not app.playing and app.await_next
            await pilot.press("space")  # the first Space only says what to do
            assert not app.playing
            await pilot.press("space")  # a second one plays on, by choice
            assert app.playing
            await pilot.press("space")
            assert not app.playing
            await pilot.press("right_square_bracket")
            await settle(pilot, app)
            assert app.lesson_view.index == 1 and not app.await_next

    asyncio.run(run())


def test_last_step_offers_the_next_lesson_and_N_opens_it() -> None:
    async def run() -> None:
        lesson = load_lesson(find_lesson("1"))
        app = RaftvizApp(AppOptions(backend="inprocess", lesson=lesson))
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            app.controller.lesson_jump(len(lesson.steps) - 1)
            await settle(pilot, app)
            assert app.lesson_view is not None and app.lesson_view.index == len(lesson.steps) - 1
            assert "lesson done — N for the next lesson" in panel_text(app)
            old_feed = app.controller.history.position
            assert old_feed > 0
            await pilot.press("N")
            await settle(pilot, app)
            assert app.options.lesson is not None and app.options.lesson.name == "02-leader-election"
            assert app.lesson_view.title == "Leader election" and app.lesson_view.index == 0
            lab = app.controller.history.session.lab
            assert lab.now == 0 and all(v.term == 0 for v in lab.views.values())
            assert "Leader election" in panel_text(app)

    asyncio.run(run())


def test_next_onto_a_step_the_cluster_no_longer_matches_offers_a_rebuild() -> None:
    async def run() -> None:
        app = RaftvizApp(AppOptions(backend="inprocess", lesson=parse_lesson(OFF_PATH, "off")))
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            # Nothing happened yet: 0 would do nothing, so it is not offered.
            assert app.lesson_view.reset == ""
            assert "0 " not in panel_text(app).split("[ back")[-1]
            app.run_command("until leader")  # free play on step 1
            await settle(pilot, app)
            assert app.lesson_view.reset == "step"
            await pilot.press("right_square_bracket")
            await settle(pilot, app)
            view = app.lesson_view
            assert view.index == 1 and view.problems and view.reset == "rebuild"
            assert "press 0 to rebuild it" in panel_text(app)
            await pilot.press("0")
            await settle(pilot, app)
            view = app.lesson_view
            assert view.index == 1 and not view.problems and view.reset == ""
            lab = app.controller.history.session.lab
            assert all(v.role == "follower" for v in lab.views.values())
            # 0 again: nothing to undo, answered without replaying history.
            position = app.controller.history.position
            session = app.controller.history.session
            await pilot.press("0")
            await settle(pilot, app)
            assert app.controller.history.session is session and app.controller.history.position == position

    asyncio.run(run())


def test_a_lesson_key_says_at_once_that_it_is_working() -> None:
    async def run() -> None:
        app = RaftvizApp(AppOptions(backend="inprocess", lesson=parse_lesson(OFF_PATH, "off")))
        reports: list[str] = []
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            shown = app.controller.progress
            assert shown is not None
            app.controller.progress = lambda text: (reports.append(text), shown(text))
            app.action_next_line()  # what ] does, checked before the app handles the answer
            assert app.lesson_busy == "next step…"
            assert "⏳ next step…" in panel_text(app)
            await settle(pilot, app)
            assert app.lesson_busy == "" and app.lesson_view.index == 1
            assert reports and reports[0] == "entering step 2…"
            # Progress shows in the header too, where the eye is, while the work lasts.
            from raftviz.tui.app import LessonProgress
            from raftviz.tui.widgets.header import StatusBar

            app.controller.busy += 1
            app.on_lesson_progress(LessonProgress("going to step 10: 1,234 events…"))
            assert "⏳ going to step 10: 1,234 events…" in app.screen.query_one(StatusBar).text()
            app.controller.busy -= 1

    asyncio.run(run())


def test_message_keys_act_only_on_the_list_the_screen_shows() -> None:
    async def run() -> None:
        app = RaftvizApp(AppOptions(backend="inprocess", lesson=parse_lesson(OFF_PATH, "off")))
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            app.run_command("timeout 1")
            await settle(pilot, app)
            assert app.snapshot is not None and app.snapshot.flights
            # 0 is under way: the list on screen is about to be replaced, so d refuses.
            app.action_lesson_reset()
            app.action_deliver()
            await settle(pilot, app)
            assert not any(line.startswith("deliver") for line in app.controller.history.script())
            # Once the screen has caught up, d acts on the row under the cursor.
            app.run_command("timeout 1")
            await settle(pilot, app)
            await pilot.press("d")
            await settle(pilot, app)
            assert any(line.startswith("deliver") for line in app.controller.history.script())

    asyncio.run(run())
