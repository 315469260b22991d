"""Sharing a session: followers replay the teacher's command stream and show the same cluster.

The teacher is a ``LabController`` publishing through a ``ShareServer``; one
follower is the app under Pilot (``--follow``), one a headless
``FollowController`` that joins late. Waiting is polling the followers'
positions with a deadline (never a sleep for a result); every run is on
virtual time, so what is compared is exact.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

import pytest

from raftviz.lab.session import Session
from raftviz.share import server as server_module
from raftviz.share.client import join
from raftviz.share.protocol import ShareError, encode, parse_address
from raftviz.share.server import ShareServer
from raftviz.tui.app import AppOptions, RaftvizApp
from raftviz.tui.controller import LabController
from raftviz.tui.follow import REFUSED, FollowController
from raftviz.tui.testing import settle

SIZE = (160, 48)
DEADLINE_S = 60.0
SCRIPT = ["step 40", "put x 1", "step 20", "back 5", "crash 2", "advance 400", "goto 30", "forward 3"]


def session() -> Session:
    return Session(backend="inprocess")


def status_lines(controller: LabController) -> list[str]:
    """The ``status`` command's lines (and the clock), read on the controller's own lab thread."""

    def read() -> list[str]:
        assert controller.history is not None
        lab = controller.history.session.lab
        if lab is None:
            return [f"position={controller.history.position} no cluster"]
        nodes = [
            " ".join(f"{k}={v}" for k, v in lab.views[n].status_fields().items()) for n in sorted(lab.views)
        ]
        return [f"position={controller.history.position} t={lab.now}", *nodes]

    return controller._executor.submit(read).result(timeout=30)


def caught_up(follower: FollowController, teacher: LabController) -> bool:
    assert teacher.history is not None
    history = follower.history
    return (
        history is not None
        and follower.busy == 0
        and follower.applied == len(follower.received)
        and history.position == teacher.history.position
        and follower.teacher_position == teacher.history.position
    )


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.fixture
def teacher():  # noqa: ANN201
    share = ShareServer("127.0.0.1", 0)
    controller = LabController(session, lambda _update: None)
    controller.on_history = share.attach
    controller.start(["cluster 5 seed=3"]).result(timeout=30)
    yield controller, share
    controller.close()
    share.close()


def run_script(controller: LabController, lines: list[str]) -> None:
    for line in lines:
        update = controller.command(line).result(timeout=30)
        assert not update.failure, (line, update.failure)


def test_two_followers_show_the_teacher_cluster_at_the_same_positions(teacher) -> None:  # noqa: ANN001
    controller, share = teacher

    async def run() -> None:
        app = RaftvizApp(AppOptions(backend="inprocess", follow=join(share.host, share.port)))
        async with app.run_test(size=SIZE) as pilot:
            follower = app.controller
            assert isinstance(follower, FollowController)
            for i, line in enumerate(SCRIPT):
                run_script(controller, [line])
                if i == 3:
                    # A late joiner replays the stream so far, then keeps in step.
                    late = FollowController(session, lambda _update: None, join(share.host, share.port))
                    late.start([])
                deadline = time.monotonic() + DEADLINE_S
                while not caught_up(follower, controller):
                    assert time.monotonic() < deadline, f"the app did not follow {line!r}"
                    await pilot.pause(0.01)
                await settle(pilot, app)
                if i >= 3:
                    wait_for(lambda late=late: caught_up(late, controller), f"the late joiner after {line!r}")
                    assert status_lines(late) == status_lines(controller)
                assert status_lines(follower) == status_lines(controller), line
                assert app.snapshot is not None and app.snapshot.position == controller.history.position
            assert not follower.out_of_step and not late.out_of_step
            assert share.followers == 2
            late.close()
            await pilot.press("q")

    asyncio.run(run())


def test_keys_that_change_the_cluster_are_refused_while_following(teacher) -> None:  # noqa: ANN001
    controller, share = teacher
    run_script(controller, ["step 10"])

    async def run() -> None:
        app = RaftvizApp(AppOptions(backend="inprocess", follow=join(share.host, share.port)))
        async with app.run_test(size=SIZE) as pilot:
            follower = app.controller
            assert isinstance(follower, FollowController)
            wait_for(lambda: caught_up(follower, controller), "the follower")
            await settle(pilot, app)
            before = status_lines(follower)
            for key in ("n", "b", "k", "C"):
                await pilot.press(key)
                await settle(pilot, app)
                assert status_lines(follower) == before, key
            assert REFUSED in [n.message for n in app._notifications]
            await pilot.press("2")  # choosing a node to look at is the follower's own
            assert app.selected == 2
            await pilot.press("q")

    asyncio.run(run())


def test_a_fork_diverges_locally_while_the_teacher_goes_on_and_f_follows_again(teacher) -> None:  # noqa: ANN001
    controller, share = teacher
    run_script(controller, ["step 30"])
    follower = FollowController(session, lambda _update: None, join(share.host, share.port))
    try:
        follower.start([])
        wait_for(lambda: caught_up(follower, controller), "the follower")
        forked_at = status_lines(follower)
        follower.toggle_fork().result(timeout=30)
        assert not follower.following
        # The learner's own branch: a crash and a stretch of time the teacher never sees.
        for line in ("crash 1", "crash 3", "advance 600"):
            assert not follower.command(line).result(timeout=30).failure
        run_script(controller, ["put y 2", "step 15"])
        wait_for(lambda: follower.teacher_position == controller.history.position, "the stream")
        mine, theirs = status_lines(follower), status_lines(controller)
        assert mine != theirs and mine != forked_at
        assert "alive=no" in " ".join(mine) and "alive=no" not in " ".join(theirs)
        # Following again replays the teacher's session: the fork's changes are gone.
        follower.toggle_fork().result(timeout=30)
        wait_for(lambda: caught_up(follower, controller), "the follower after f")
        assert status_lines(follower) == status_lines(controller)
        assert not follower.out_of_step
    finally:
        follower.close()


def test_a_fork_that_changed_nothing_catches_up_without_a_replay(teacher) -> None:  # noqa: ANN001
    controller, share = teacher
    follower = FollowController(session, lambda _update: None, join(share.host, share.port))
    try:
        follower.start([])
        wait_for(lambda: caught_up(follower, controller), "the follower")
        follower.toggle_fork().result(timeout=30)
        run_script(controller, ["step 12"])
        wait_for(lambda: follower.teacher_position == controller.history.position, "the stream")
        update = follower.toggle_fork().result(timeout=30)
        assert "catching up" in " ".join(update.lines)
        wait_for(lambda: caught_up(follower, controller), "the follower after f")
        assert status_lines(follower) == status_lines(controller)
    finally:
        follower.close()


@pytest.mark.parametrize(
    ("code", "given", "reason"),
    [
        ("k7m2qx", "wrong", "refused: a wrong join code"),
        ("k7m2qx", "", "refused: no join code"),
    ],
)
def test_a_wrong_join_code_is_refused_clearly(code: str, given: str, reason: str) -> None:
    share = ShareServer("127.0.0.1", 0, code=code)
    try:
        with pytest.raises(ShareError, match=reason):
            join(share.host, share.port, given)
        join(share.host, share.port, code).close()  # the right code is welcome
    finally:
        share.close()


def test_a_lan_address_always_needs_a_join_code() -> None:
    share = ShareServer("0.0.0.0", 0)
    try:
        assert len(share.code) == 6 and share.code in share.describe()
        with pytest.raises(ShareError, match="no join code"):
            join("127.0.0.1", share.port, "")
    finally:
        share.close()


def test_a_follower_that_takes_nothing_is_dropped_and_never_slows_the_teacher(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(server_module, "STALL_S", 0.5)
    share = ShareServer("127.0.0.1", 0)
    sleeper = socket.create_connection((share.host, share.port))
    try:
        sleeper.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sleeper.sendall(encode({"hello": 1, "code": ""}))
        wait_for(lambda: share.followers == 1, "the follower to join")
        # The teacher publishes far more than the sleeper's socket can hold; it never waits.
        line = "say " + "x" * 1000
        deadline = time.monotonic() + DEADLINE_S
        position = 0
        while share.followers:
            assert time.monotonic() < deadline, "the stalled follower was never dropped"
            position += 1
            share.publish(line, position)
            if position % 100 == 0:
                time.sleep(0.01)  # let the server's thread run on a loaded machine
        assert any("took nothing" in why for why in share.dropped)
    finally:
        sleeper.close()
        share.close()


@pytest.mark.parametrize(
    ("text", "need_host", "wanted"),
    [
        ("9000", False, ("127.0.0.1", 9000)),
        ("0.0.0.0:9000", False, ("0.0.0.0", 9000)),
        ("[::1]:9000", True, ("::1", 9000)),
        ("9000", True, "give HOST:PORT"),
        ("host:0", True, "port must be a number"),
        ("host:http", True, "port must be a number"),
    ],
)
def test_share_addresses(text: str, need_host: bool, wanted: object) -> None:
    if isinstance(wanted, tuple):
        assert parse_address(text, need_host) == wanted
    else:
        with pytest.raises(ShareError, match=str(wanted)):
            parse_address(text, need_host)


def test_a_shared_lesson_and_the_next_one_are_followed(teacher) -> None:  # noqa: ANN001
    """A lesson's steps, rewinds included, are commands like any other; a new lesson is a new history."""
    from raftviz.lessons import find_lesson, load_lesson

    controller, share = teacher
    follower = FollowController(session, lambda _update: None, join(share.host, share.port))
    try:
        follower.start([])
        for name in ("1", "2"):
            lesson = load_lesson(find_lesson(name))
            assert not controller.start_lesson(lesson).result(timeout=60).failure
            runner = controller.runner
            assert runner is not None
            for text in runner.step.solution:
                run_script(controller, [text])
            if runner.task_done()[0] and len(lesson.steps) > 1:
                controller.lesson_next().result(timeout=60)
            controller.lesson_reset().result(timeout=60)  # a rewind inside the lesson

            # Positions alone may match before the follower has the stream of a new lesson
            # (its "new" still on the way): wait for the same cluster, not the same number.
            def same() -> bool:
                return caught_up(follower, controller) and status_lines(follower) == status_lines(controller)

            wait_for(same, f"the follower of lesson {name}")
        assert not follower.out_of_step
    finally:
        follower.close()


def test_the_teacher_app_shares_what_its_keys_do() -> None:
    share = ShareServer("127.0.0.1", 0)
    follower = FollowController(session, lambda _update: None, join(share.host, share.port))

    async def run() -> None:
        app = RaftvizApp(AppOptions(backend="inprocess", seed=3, share=share))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            follower.start([])
            for key in ("n", "n", "n", "C", "n", "b", "k"):
                await pilot.press(key)
                await settle(pilot, app)
            assert share.describe() in [n.message for n in app._notifications]
            wait_for(lambda: caught_up(follower, app.controller), "the follower of the app")
            assert status_lines(follower) == status_lines(app.controller)
            await pilot.press("q")

    try:
        asyncio.run(run())
    finally:
        follower.close()
        share.close()


def test_a_follower_shows_the_teacher_lesson_step_and_checks_its_task_on_its_own_cluster(teacher) -> None:  # noqa: ANN001
    """The lesson panel appears when the teacher opens a lesson and moves only with the teacher;
    in a fork, ] enters the next step as the learner's own."""
    from raftviz.lessons import find_lesson, load_lesson
    from raftviz.tui.follow import LESSON_REFUSED
    from raftviz.tui.widgets.lesson import LessonPanel

    controller, share = teacher
    controller.on_lesson = lambda lesson, step: share.lesson(lesson.name, lesson.text, step)
    lesson = load_lesson(find_lesson("2"))

    async def run() -> None:
        app = RaftvizApp(AppOptions(backend="inprocess", follow=join(share.host, share.port)))
        async with app.run_test(size=SIZE) as pilot:
            follower = app.controller
            assert isinstance(follower, FollowController)

            async def in_step() -> None:
                deadline = time.monotonic() + DEADLINE_S
                while not (caught_up(follower, controller) and app.lesson_view is not None):
                    assert time.monotonic() < deadline, "the follower did not follow the lesson"
                    await pilot.pause(0.01)
                await settle(pilot, app)

            await settle(pilot, app)
            assert not app.screen.query(LessonPanel)  # no lesson yet: no room taken for one
            assert not controller.start_lesson(lesson).result(timeout=60).failure
            await in_step()
            assert app.screen.query(LessonPanel)
            view = app.lesson_view
            assert view is not None and (view.title, view.index) == (lesson.title, 0)
            runner = controller.runner
            assert runner is not None
            for text in runner.step.solution:
                run_script(controller, [text])
            assert runner.task_done()[0]
            await in_step()
            assert app.lesson_view is not None and app.lesson_view.done  # checked on its own cluster
            assert not controller.lesson_next().result(timeout=60).failure
            await in_step()
            assert app.lesson_view is not None and app.lesson_view.index == 1
            assert app.lesson_view.step_title == lesson.steps[1].title
            await pilot.press("right_square_bracket")
            await settle(pilot, app)
            assert LESSON_REFUSED in [n.message for n in app._notifications]
            assert app.lesson_view.index == 1
            # Fork, do the step's task by its solution, and go on alone.
            await pilot.press("f")
            await settle(pilot, app)
            assert not follower.following
            step = lesson.steps[1]
            for text in step.solution:
                assert not follower.command(text).result(timeout=60).failure
            await settle(pilot, app)
            assert app.lesson_view.done and len(lesson.steps) > 2
            await pilot.press("right_square_bracket")
            await settle(pilot, app)
            assert app.lesson_view.index == 2
            assert controller.runner.index == 1  # the teacher's lesson did not move
            await pilot.press("q")

    asyncio.run(run())
