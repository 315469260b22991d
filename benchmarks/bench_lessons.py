"""How long one lesson step takes: from ``]`` (next step) to the step entered.

    python benchmarks/bench_lessons.py [--backend udp|inprocess] [--tui] [LESSON ...]

Walks each lesson as a learner who does every task by its documented
solution (as ``raftviz lesson --check`` does), headless, and times each
``]`` (``LessonRunner.next``: the step's ``run:`` commands and its checks)
and, apart, each solution (what the learner's own keys do). The set-up of
a lesson (``raftviz lesson N`` opening it) counts as its first step.
With ``--tui`` the same walk runs in the app (headless, 100x30): from the
``]`` key to the lesson panel showing the next step, feed, logs and ring
drawn — what a class waits for.
Prints, per lesson, the slowest step with its title, and the total; then
the slowest steps overall. Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from raftviz.lab.history import History
from raftviz.lab.session import Session
from raftviz.lessons import LESSONS_DIR, SUFFIX, LessonRunner, find_lesson, lesson_names, load_lesson


def walk(name: str, backend: str) -> list[tuple[float, str]]:
    """Seconds of each ``]`` of lesson ``name`` (the set-up first), with the step's title."""
    lesson = load_lesson(find_lesson(name))
    history = History(lambda: Session(backend=backend))
    runner = LessonRunner(lesson, history)
    times: list[tuple[float, str]] = []
    try:
        t = time.perf_counter()
        runner.start()
        times.append((time.perf_counter() - t, f"1. {runner.step.title} (set-up)"))
        while runner.index + 1 < len(lesson.steps):
            if runner.step.checks:
                for text in runner.step.solution:
                    history.run_text(text)
            t = time.perf_counter()
            entered = runner.next()
            took = time.perf_counter() - t
            if entered is None:
                times.append((took, f"{runner.index + 1}. task not done by its solution: stopped"))
                break
            times.append((took, f"{runner.index + 1}. {runner.step.title}"))
    finally:
        history.close()
    return times


async def walk_tui(name: str, backend: str) -> list[tuple[float, str]]:
    """As ``walk``, in the app: seconds from each ``]`` until the next step is on screen."""
    from raftviz.tui.app import AppOptions, RaftvizApp
    from raftviz.tui.testing import run_commands, settle

    lesson = load_lesson(find_lesson(name))
    app = RaftvizApp(AppOptions(backend=backend, lesson=lesson))
    times: list[tuple[float, str]] = []
    async with app.run_test(size=(100, 30)) as pilot:
        app.animation_level = "none"
        t = time.perf_counter()
        await settle(pilot, app)
        times.append((time.perf_counter() - t, f"1. {lesson.steps[0].title} (set-up)"))
        for index in range(1, len(lesson.steps)):
            step = lesson.steps[index - 1]
            if step.checks:
                await run_commands(pilot, app, *step.solution)
            t = time.perf_counter()
            await pilot.press("right_square_bracket")
            await settle(pilot, app)
            took = time.perf_counter() - t
            if app.lesson_view is None or app.lesson_view.index != index:
                times.append((took, f"{index + 1}. not entered: stopped"))
                break
            times.append((took, f"{index + 1}. {lesson.steps[index].title}"))
        await pilot.press("q")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("udp", "inprocess"), default="udp")
    parser.add_argument("--tui", action="store_true", help="time the steps in the app (headless)")
    parser.add_argument("lessons", nargs="*", help=f"lesson names or numbers (default: all in {LESSONS_DIR})")
    args = parser.parse_args()
    names = args.lessons or [n.removesuffix(SUFFIX) for n in lesson_names()]
    every: list[tuple[float, str]] = []
    for name in names:
        times = asyncio.run(walk_tui(name, args.backend)) if args.tui else walk(name, args.backend)
        slowest = max(times)
        total = sum(t for t, _ in times)
        print(
            f"{name}: slowest step {slowest[0] * 1000:.0f} ms ({slowest[1]}), "
            f"{len(times)} steps in {total:.1f} s ({args.backend}{', app' if args.tui else ''})"
        )
        every += [(t, f"{name} step {title}") for t, title in times]
    print("slowest steps:")
    for took, title in sorted(every, reverse=True)[:5]:
        print(f"  {took * 1000:7.0f} ms  {title}")


if __name__ == "__main__":
    main()
