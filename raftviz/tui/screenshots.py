"""Regenerate the SVG screenshots in screenshots/:  python -m raftviz.tui.screenshots

Each scene is a fixed size (160x48, or the small terminal it is about), a fixed seed, the in-process backend
(no process ids on screen) and no animation, so the pictures only change
when what the app draws changes. tests/tui/test_tui_snapshots.py compares the
app against them.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from raftviz.lessons import LESSONS_DIR, SUFFIX, load_lesson
from raftviz.tui.app import AppOptions, RaftvizApp
from raftviz.tui.testing import run_commands, settle

SIZE = (160, 48)
DIRECTORY = Path(__file__).resolve().parents[2] / "screenshots"

DIAGRAM_STORY = [
    "until leader",
    "put x 1",
    "until kv x=1",
    "partition 1 | 2,3,4,5",
    "step 8",
    "heal",
    "crash 3",
    "step 5",
]

#: name -> (commands after the cluster starts, keys pressed afterwards)
SCENES: dict[str, tuple[list[str], list[str]]] = {
    "election": (["until 3.role = candidate", "step 4"], ["3"]),
    "partition": (
        [
            "until leader",
            "put x 1",
            "until kv x=1",
            "partition 3,4 | 1,2,5",
            "put y 2 via=3",
            "until 1.role = candidate",
            "until leaders = 2 max=2s",
            "put z 3",
            "step 12",
        ],
        ["1"],
    ),
    "help": ([], ["question_mark"]),
    # Node 1 removed (not a member), node 6 added: a learner, its configuration not yet everywhere.
    "membership": (
        ["until leader", "remove 1", "until 3.voters = 2,3,4,5", "until idle", "add 6", "step 16"],
        ["6"],
    ),
    # Logs compacted at a snapshot; node 2 was down and is sent the snapshot (InstallSnapshot in flight).
    "compaction": (
        [
            "cluster 5 seed=42 snapshot=20",
            "until leader",
            "crash 2",
            "writes 45 keys=6",
            "until idle",
            "writes 8 keys=3",
            "until idle",
            "restart 2",
            "step 3",
        ],
        ["3"],
    ),
    # Time travel: back before a crash, another future tried, then back to a mark: the branch view.
    "branches": (
        [
            "until leader",
            "put x 1",
            "until kv x=1",
            "mark written",
            "step 20",
            "back 8",
            "crash leader",
            "until leader",
            "mark new-leader",
            "step 6",
            "goto written",
        ],
        ["B"],
    ),
    # The first lesson, at its second step, after the learner played until an election.
    "lesson": (["until 3.role = candidate", "step 3"], ["right_square_bracket"]),
    # The space-time diagram (v) after an election, a write, a partition that loses messages,
    # a heal and a crash; the cursor moved back onto an arrow and Enter shows its message.
    "diagram-view": (DIAGRAM_STORY, ["v", "up", "up", "up", "enter"]),
    "diagram-view-100x30": (DIAGRAM_STORY, ["v", "up", "up", "up", "enter"]),
    # Small terminals: the layout changes (the inspector and the feed are tabs, i shows the
    # next), every row keeps its id, route, type and the field that matters.
    "small-80x24": (["until leader", "put x 1", "step 6"], []),
    "small-100x30": (["until leader", "put x 1", "crash 4", "step 9"], ["2", "i"]),
    # A lesson on 80 columns: its narration takes the bottom row (a tab: i shows the lists).
    "lesson-80x24": (["until 3.role = candidate", "step 3"], ["right_square_bracket"]),
    # The projector themes (--theme light, --theme high-contrast).
    "light-100x30": (["until leader", "put x 1", "crash 4", "step 9"], []),
    "contrast-100x30": (["until leader", "put x 1", "crash 4", "step 9"], []),
}

#: Scenes on another terminal than ``SIZE``.
SCENE_SIZES: dict[str, tuple[int, int]] = {
    "small-80x24": (80, 24),
    "small-100x30": (100, 30),
    "lesson-80x24": (80, 24),
    "light-100x30": (100, 30),
    "contrast-100x30": (100, 30),
    "diagram-view-100x30": (100, 30),
}

#: Scenes in another theme than the default (``--theme`` names).
SCENE_THEMES = {"light-100x30": "light", "contrast-100x30": "high-contrast"}

#: Scenes shown beside a lesson: name -> lesson file in lessons/.
LESSON_SCENES = {"lesson": "01-meet-the-cluster", "lesson-80x24": "01-meet-the-cluster"}


async def capture(name: str, size: tuple[int, int] | None = None) -> str:
    """The SVG of one scene (at its own size unless ``size`` is given)."""
    commands, keys = SCENES[name]
    lesson = None
    if name in LESSON_SCENES:
        lesson = load_lesson(LESSONS_DIR / f"{LESSON_SCENES[name]}{SUFFIX}")
    theme = SCENE_THEMES.get(name, "dark")
    app = RaftvizApp(AppOptions(backend="inprocess", seed=42, lesson=lesson, theme=theme))
    async with app.run_test(size=size or SCENE_SIZES.get(name, SIZE)) as pilot:
        app.animation_level = "none"
        await settle(pilot, app)
        await run_commands(pilot, app, *commands)
        for key in keys:
            await pilot.press(key)
            await settle(pilot, app)
        if app.diagram_detail is not None:  # a message chosen in the diagram: its words
            await asyncio.wrap_future(app.diagram_detail)
            await settle(pilot, app)
        svg = app.export_screenshot(title=f"raftviz — {name}")
        await pilot.press("escape")
    return svg


def main() -> int:
    DIRECTORY.mkdir(exist_ok=True)
    for name in SCENES:
        path = DIRECTORY / f"{name}.svg"
        path.write_text(asyncio.run(capture(name)), encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
