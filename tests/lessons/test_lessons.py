"""Lessons: the format's validation, the runner, and the lesson panel in the app."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from raftviz.lab.history import History
from raftviz.lab.session import Session
from raftviz.lessons import (
    LessonError,
    LessonRunner,
    check_lesson,
    find_lesson,
    lesson_names,
    load_lesson,
    parse_lesson,
)
from raftviz.tui.app import AppOptions, RaftvizApp
from raftviz.tui.testing import settle

LESSONS = Path(__file__).parents[2] / "lessons"

SMALL = """\
# A small lesson
setup: cluster 3 seed=5

## Start
Three followers.
expect: all.role = follower

## Elect
task: Get a leader.
check: leader
hint: Press Space.
solution: until leader

## Lose it
run: crash leader
expect: no-leader
task: Get a new leader.
check: leader
hint: Play.
solution: until leader

## Done
The end.
"""


def small() -> object:
    return parse_lesson(SMALL, "small")


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("setup: cluster 3\n## S\nhi\n", 1, "no title"),
        ("# T\n## S\nhi\n", 1, "no setup"),
        ("# T\nsetup: cluster 3\n", 1, "no steps"),
        ("# T\nsetup: crash 1\n## S\nhi\n", 2, "must be a 'cluster"),
        ("# T\nsetup: cluster 3\n## S\nrun: frobnicate\n", 4, "unknown command 'frobnicate'"),
        ("# T\nsetup: cluster 3\n## S\nexpect: 1.colour = red\n", 4, "unknown field"),
        ("# T\nsetup: cluster 3\n## S\ntask: do it\nsolution: until leader\n", 3, "no check"),
        ("# T\nsetup: cluster 3\n## S\ntask: do it\ncheck: leader\n", 3, "no solution"),
        ("# T\nsetup: cluster 3\nhello\n## S\nhi\n", 3, "text before the first step"),
        ("# T\nsetup: cluster 3\n## S\ntask: a\ntask: b\n", 5, "one task per step"),
        ("# T\nsetup: cluster 3\n## S\n", 3, "neither narration nor a task"),
    ],
)
def test_invalid_lessons_name_file_line_and_reason(text: str, line: int, reason: str) -> None:
    with pytest.raises(LessonError) as caught:
        parse_lesson(text, "bad", "bad.lesson")
    assert caught.value.line == line
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"bad.lesson:{line}: ")


def test_every_shipped_lesson_is_valid() -> None:
    names = lesson_names(LESSONS)
    assert names
    for name in names:
        load_lesson(LESSONS / f"{name}.lesson")


def test_every_lesson_opens_by_number_name_and_unique_part() -> None:
    names = lesson_names(LESSONS)
    assert len(names) >= 12
    for name in names:
        number, _, rest = name.partition("-")
        path = LESSONS / f"{name}.lesson"
        # "1" is lesson 1, not 10, 11 and 12; "01" and the full name work too.
        assert find_lesson(str(int(number)), LESSONS) == path
        assert find_lesson(number, LESSONS) == path
        assert find_lesson(name, LESSONS) == path
        assert find_lesson(rest, LESSONS) == path  # every name's own words are unique


def test_an_ambiguous_or_unknown_lesson_name_says_why() -> None:
    with pytest.raises(FileNotFoundError, match=r"'le' matches \d+ lessons .*give its number"):
        find_lesson("le", LESSONS)
    with pytest.raises(FileNotFoundError, match="no single lesson matches 'nothing-like-it'"):
        find_lesson("nothing-like-it", LESSONS)
    with pytest.raises(FileNotFoundError, match="no single lesson matches '99'"):
        find_lesson("99", LESSONS)


def test_runner_next_waits_for_the_task_and_back_rewinds() -> None:
    history = History(lambda: Session(backend="inprocess"))
    runner = LessonRunner(small(), history)
    assert runner.start().failures == []
    assert runner.next() is not None  # step 1 has no task
    assert runner.index == 1
    assert runner.next() is None  # no leader yet: the task waits
    history.run_text("until leader")
    assert runner.task_done()[0]
    entered = runner.next()
    assert entered is not None and entered.failures == []
    assert history.session.lab.leader() == 0  # step 3 crashed the leader
    before = history.position
    history.run_text("advance 2000")
    assert runner.task_done()[0]
    back = runner.back()
    assert back is not None and runner.index == 1
    assert history.position < before
    assert not runner.task_done()[0]  # rewound to before the first election
    history.close()


def test_a_check_that_already_holds_passes_at_once() -> None:
    history = History(lambda: Session(backend="inprocess"))
    runner = LessonRunner(small(), history)
    runner.start()
    history.run_text("until leader")  # the learner plays ahead, before the task is even shown
    assert runner.next() is not None
    assert runner.task_done()[0]
    assert runner.next() is not None
    history.close()


def test_jump_forward_performs_solutions_and_back_to_the_start() -> None:
    history = History(lambda: Session(backend="inprocess"))
    runner = LessonRunner(small(), history)
    runner.start()
    result = runner.jump(3)
    assert runner.index == 3 and not result.failures
    assert history.session.lab.leader() != 0
    runner.jump(0)
    assert runner.index == 0 and history.session.lab.views[1].term == 0
    history.close()


def test_check_lesson_reports_a_wrong_expectation_with_its_line() -> None:
    wrong = SMALL.replace("expect: no-leader", "expect: leader")
    failures = check_lesson(
        parse_lesson(wrong, "wrong", "wrong.lesson"), backend="inprocess", log=lambda _: None
    )
    assert failures and failures[0].startswith("wrong.lesson:16: expect leader: false")


def test_check_all_shipped_lessons_inprocess() -> None:
    for name in lesson_names(LESSONS):
        lesson = load_lesson(LESSONS / f"{name}.lesson")
        assert check_lesson(lesson, backend="inprocess", log=lambda _: None) == [], name


@pytest.mark.udp
def test_check_all_shipped_lessons_on_the_default_backend() -> None:
    for name in lesson_names(LESSONS):
        lesson = load_lesson(LESSONS / f"{name}.lesson")
        assert check_lesson(lesson, log=lambda _: None) == [], name


def test_lesson_panel_next_back_jump_hint_reset_and_free_play() -> None:
    async def run() -> None:
        app = RaftvizApp(AppOptions(backend="inprocess", lesson=small()))
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            assert app.lesson_view is not None and app.lesson_view.index == 0
            await pilot.press("right_square_bracket")
            await settle(pilot, app)
            assert app.lesson_view.index == 1 and not app.lesson_view.done
            # The task waits for the learner: Next refuses.
            await pilot.press("right_square_bracket")
            await settle(pilot, app)
            assert app.lesson_view.index == 1
            await pilot.press("h")
            await settle(pilot, app)
            assert app.show_hint
            # Free play: the learner runs the clock themselves; the check notices.
            app.run_command("until leader")
            await settle(pilot, app)
            assert app.lesson_view.done
            await pilot.press("right_square_bracket")
            await settle(pilot, app)
            assert app.lesson_view.index == 2 and not app.show_hint
            # Leave the script (crash more nodes), then come back with 0.
            app.run_command("crash 1")
            app.run_command("crash 2")
            await settle(pilot, app)
            await pilot.press("0")
            await settle(pilot, app)
            lab = app.controller.history.session.lab
            assert sum(v.alive for v in lab.views.values()) == 2  # only the step's own crash
            await pilot.press("left_square_bracket")
            await settle(pilot, app)
            assert app.lesson_view.index == 1
            await pilot.press("j")
            await pilot.pause()
            await pilot.press("4", "enter")
            await settle(pilot, app)
            assert app.lesson_view.index == 3

    asyncio.run(run())


def test_lesson_panel_passes_a_check_that_already_holds() -> None:
    async def run() -> None:
        app = RaftvizApp(AppOptions(backend="inprocess", lesson=small()))
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            app.run_command("until leader")  # playing ahead on step 1
            await settle(pilot, app)
            await pilot.press("right_square_bracket")
            await settle(pilot, app)
            assert app.lesson_view.index == 1 and app.lesson_view.done
            await pilot.press("right_square_bracket")
            await settle(pilot, app)
            assert app.lesson_view.index == 2

    asyncio.run(run())


def test_play_stops_at_the_event_that_completes_the_task() -> None:
    """The clock pauses on the very event that does the task, not a stretch of play later."""
    reference = History(lambda: Session(backend="inprocess"))
    reference.run_text("cluster 3 seed=5")
    reference.run_text("until leader")
    assert reference.session.lab is not None
    elected_at = reference.session.lab.now
    reference.session.close()

    async def run() -> None:
        app = RaftvizApp(AppOptions(backend="inprocess", lesson=small()))
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            await pilot.press("right_square_bracket")
            await settle(pilot, app)
            assert app.lesson_view.index == 1 and not app.lesson_view.done
            lab = app.controller.history.session.lab
            # One long stretch of play, far past the election (as at a high speed).
            app.controller.play(2000).result()
            await settle(pilot, app)
            assert app.lesson_view.done
            assert lab.now == elected_at, f"played on to t={lab.now} after the election at t={elected_at}"
            # With the task done, play is plain again: the whole stretch runs.
            app.controller.play(500).result()
            assert lab.now == elected_at + 500

    asyncio.run(run())


def _runner_at(name: str, title: str) -> tuple[History, LessonRunner]:
    """A shipped lesson entered up to the step called ``title`` (by the documented solutions)."""
    lesson = load_lesson(find_lesson(name, LESSONS))
    history = History(lambda: Session(backend="inprocess"))
    runner = LessonRunner(lesson, history)
    runner.start()
    index = next(i for i, step in enumerate(lesson.steps) if step.title == title)
    assert not runner.jump(index).failures
    return history, runner


def test_lesson_2_the_loser_check_wants_node_3_to_lead_not_just_node_5_to_follow() -> None:
    history, runner = _runner_at("2", "A leader")
    assert not runner.task_done()[0]
    # The wrong way round: node 3 dies, node 5 wins, and 5 is no longer a candidate.
    history.run_text("crash 3")
    history.run_text("until leader max=3000")
    lab = history.session.lab
    assert lab.leader() != 3 and lab.views[5].role != "candidate"
    done, seen = runner.task_done()
    assert not done and "5.leader now:" in seen and "want: 3" in seen
    history.close()


def test_lesson_10_challenge_2_needs_x_written_not_only_a_new_leader() -> None:
    history, runner = _runner_at("10", "Challenge 2: committed on three")
    # A new leader without ever writing x=1 does not pass.
    history.run_text("crash 3")
    history.run_text("until leader.term >= 2 max=3000")
    history.run_text("advance 500")
    done, seen = runner.task_done()
    assert not done and "want: x=1 on every live node" in seen
    history.close()


def test_lesson_10_challenge_4_hint_names_the_leader() -> None:
    lesson = load_lesson(find_lesson("10", LESSONS))
    step = next(s for s in lesson.steps if s.title.startswith("Challenge 4"))
    assert "leader" in step.hint and "among them" in step.hint
    # Crashing three followers never passes: the leader stays, no election starts.
    history, runner = _runner_at("10", step.title)
    for node in (1, 2, 4):
        history.run_text(f"crash {node}")
    history.run_text("advance 3000")
    assert not runner.task_done()[0]
    history.close()


def test_a_waiting_check_shows_the_value_now_and_the_value_wanted() -> None:
    history, runner = _runner_at("2", "Start an election")
    done, seen = runner.task_done()
    assert not done and seen == "3.role now: follower · want: candidate"
    history.close()


def test_several_checks_must_all_hold() -> None:
    text = SMALL.replace(
        "check: leader\nhint: Press Space.", "check: leader\ncheck: kv a=1\nhint: Press Space."
    )
    text = text.replace(
        "solution: until leader\n", "solution: until leader\nsolution: put a 1\nsolution: until kv a=1\n", 1
    )
    lesson = parse_lesson(text, "two")
    assert len(lesson.steps[1].checks) == 2
    history = History(lambda: Session(backend="inprocess"))
    runner = LessonRunner(lesson, history)
    runner.start()
    runner.next()
    history.run_text("until leader")
    done, seen = runner.task_done()
    assert not done and seen.startswith("now: a on ")  # only the unmet check is shown
    history.run_text("put a 1")
    history.run_text("until kv a=1")
    assert runner.task_done() == (True, "")
    history.close()
    assert check_lesson(lesson, backend="inprocess", log=lambda _: None) == []


def test_jump_forward_from_free_play_rebuilds_the_lesson_path() -> None:
    """A solution that no longer applies (its message was dropped) does not strand a jump."""
    history, runner = _runner_at("2", "RequestVote")
    history.run_text("drop 3->4 RequestVote")  # step 3's solution delivers exactly this one
    target = next(i for i, s in enumerate(runner.lesson.steps) if s.title == "A rival")
    result = runner.jump(target)
    assert runner.index == target and result.failures == []
    assert runner.rewound_to == runner.before[0]  # rebuilt from the start of step 1
    assert history.session.lab.views[4].vote == 3
    history.close()


def test_lesson_12_big_step_stays_small_enough_to_enter_without_a_freeze() -> None:
    """Entering a step replays its events on the lab thread (on UDP, ~0.1-0.3 ms each):
    lesson 12's "many entries later" step once ran ~20,000 events (~6 s of frozen screen)."""
    history, runner = _runner_at("12", "A snapshot by hand")
    target = next(i for i, s in enumerate(runner.lesson.steps) if s.title == "Hundreds of entries later")
    runner.jump(target - 1)
    before = history.position
    assert not runner.jump(target).failures
    assert history.position - before < 3000
    history.close()
