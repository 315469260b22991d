"""Small terminals and projectors, driven by Pilot: what is visible at 80x24, 100x30 and
160x48 (panels fold into tabs on narrow terminals, ``i`` shows the next), the themes
(``--theme``, switching at run time, the contrast floor), and the collector policy."""

from __future__ import annotations

import asyncio
import gc

import pytest
from textual.color import Color
from textual.widget import Widget

from raftviz.cli import THEME_NAMES, build_parser
from raftviz.lessons import find_lesson, load_lesson
from raftviz.tui.app import AppOptions, MainScreen, RaftvizApp
from raftviz.tui.collector import Collector
from raftviz.tui.testing import run_commands, settle
from raftviz.tui.themes import THEMES, ContrastFloor, _readable, contrast
from raftviz.tui.widgets.cluster import ClusterView
from raftviz.tui.widgets.logs import LogsView
from raftviz.tui.widgets.panels import EventFeed, Inspector, MessagesTable


def make_app(**kwargs: object) -> RaftvizApp:
    options = {"backend": "inprocess", "seed": 42, **kwargs}
    return RaftvizApp(AppOptions(**options))  # type: ignore[arg-type]


def shown(app: RaftvizApp, widget: type[Widget] | str) -> bool:
    """Whether the widget is on screen: displayed (it and its boxes) and inside the terminal."""
    node = app.screen.query_one(widget)
    region = node.region
    inside = region.area > 0 and region.bottom <= app.size.height and region.right <= app.size.width
    displayed = all(a.display for a in node.ancestors_with_self if isinstance(a, Widget))
    return displayed and inside


def visible(app: RaftvizApp) -> set[str]:
    names = {ClusterView: "cluster", LogsView: "logs", MessagesTable: "messages", EventFeed: "feed"}
    out = {name for kind, name in names.items() if shown(app, kind)}
    if shown(app, Inspector):
        out.add("node")
    if app.screen.query("#lesson") and shown(app, "#lesson"):
        out.add("lesson")
    return out


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
def test_a_narrow_terminal_folds_the_inspector_and_feed_into_tabs(size: tuple[int, int]) -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=size) as pilot:
            await settle(pilot, app)
            await run_commands(pilot, app, "until leader", "put x 1", "step 6")
            screen = app.screen
            assert isinstance(screen, MainScreen) and screen.narrow
            assert visible(app) == {"cluster", "logs", "messages", "feed"}
            # The header, ring and logs are on screen (not scrolled off, as they once were).
            assert app.screen.query_one(ClusterView).region.y == 1
            assert "i: node" in str(screen.query_one("#feed-box").border_title)
            await pilot.press("i")
            await settle(pilot, app)
            assert visible(app) == {"cluster", "logs", "messages", "node"}
            assert "i: feed" in str(screen.query_one("#inspector-box").border_title)
            # The arrow keys still choose a message: the focus is never on a folded list.
            assert app.focused is screen.query_one(MessagesTable)
            await pilot.press("i")
            await settle(pilot, app)
            assert visible(app) == {"cluster", "logs", "messages", "feed"}
            await pilot.press("q")

    asyncio.run(run())


@pytest.mark.parametrize("size", [(80, 24), (100, 30)])
def test_rows_show_their_essentials_on_a_narrow_terminal(size: tuple[int, int]) -> None:
    """Each message row: id, from->to, type and the field that matters, uncut."""

    async def run() -> None:
        app = make_app()
        async with app.run_test(size=size) as pilot:
            await settle(pilot, app)
            await run_commands(pilot, app, "until leader", "put x 1", "step 6")
            table = app.screen.query_one(MessagesTable)
            width = table.content_size.width - 1
            rows = table.plain_lines(width)
            assert rows, "messages are in flight"
            for row in rows:
                assert row.startswith("#"), row
                assert "→" in row and "…" not in row, row
            assert any("AE" in row and ("+1" in row or "✓" in row) for row in rows), rows
            feed = app.screen.query_one(EventFeed)
            assert all("…" not in line for line in feed.plain_lines(feed.content_size.width - 1)[-5:])
            await pilot.press("q")

    asyncio.run(run())


def test_a_wide_terminal_shows_every_panel_and_i_says_so() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            screen = app.screen
            assert isinstance(screen, MainScreen) and not screen.narrow
            assert visible(app) == {"cluster", "logs", "messages", "feed", "node"}
            await pilot.press("i")
            await settle(pilot, app)
            assert visible(app) == {"cluster", "logs", "messages", "feed", "node"}
            assert any("every panel is shown" in str(n.message) for n in app._notifications)
            await pilot.press("q")

    asyncio.run(run())


def test_resizing_changes_the_layout_both_ways() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            await pilot.resize_terminal(80, 24)
            await settle(pilot, app)
            assert app.screen.has_class("-narrow") and "node" not in visible(app)
            await pilot.resize_terminal(160, 48)
            await settle(pilot, app)
            assert not app.screen.has_class("-narrow") and "node" in visible(app)
            await pilot.press("q")

    asyncio.run(run())


def test_a_lesson_on_80_columns_gives_its_narration_the_bottom_row() -> None:
    async def run() -> None:
        app = make_app(lesson=load_lesson(find_lesson("1")))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app)
            assert visible(app) == {"cluster", "logs", "lesson"}
            lesson = app.screen.query_one("#lesson")
            assert lesson.region.width == 80  # a whole line for the narration, not a column
            seen = []
            for _ in range(3):
                await pilot.press("i")
                await settle(pilot, app)
                seen.append(visible(app))
            assert seen == [
                {"cluster", "logs", "messages", "feed"},
                {"cluster", "logs", "messages", "node"},
                {"cluster", "logs", "lesson"},
            ]
            await pilot.press("q")

    asyncio.run(run())


def test_a_lesson_on_a_wide_terminal_keeps_its_column() -> None:
    async def run() -> None:
        app = make_app(lesson=load_lesson(find_lesson("1")))
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            assert visible(app) == {"cluster", "logs", "messages", "feed", "node", "lesson"}
            assert app.screen.query_one("#lesson").region.x > 80
            await pilot.press("q")

    asyncio.run(run())


# ---------------------------------------------------------------------- themes


@pytest.mark.parametrize("name", ["dark", "light", "high-contrast"])
def test_theme_option_chooses_the_theme(name: str) -> None:
    async def run() -> None:
        app = make_app(theme=name)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot, app)
            assert app.theme == THEMES[name]
            floors = [f for f in app.get_line_filters() if isinstance(f, ContrastFloor)]
            assert len(floors) == (0 if name == "dark" else 1)
            await pilot.press("q")

    asyncio.run(run())


def test_switching_theme_at_run_time_changes_the_contrast_floor() -> None:
    """As the palette's "Change theme" does: set the app's theme."""

    async def run() -> None:
        app = make_app()
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot, app)
            assert {"raftviz-light", "raftviz-high-contrast"} <= set(app.available_themes)
            app.theme = "raftviz-high-contrast"
            await settle(pilot, app)
            floors = [f.floor for f in app.get_line_filters() if isinstance(f, ContrastFloor)]
            assert floors == [7.0]
            app.theme = "raftviz-light"
            await settle(pilot, app)
            floors = [f.floor for f in app.get_line_filters() if isinstance(f, ContrastFloor)]
            assert floors == [4.5]
            app.theme = "textual-dark"
            await settle(pilot, app)
            assert not [f for f in app.get_line_filters() if isinstance(f, ContrastFloor)]
            await pilot.press("q")

    asyncio.run(run())


@pytest.mark.parametrize(
    ("fg", "bg", "floor"),
    [
        ((255, 255, 255), (250, 250, 250), 4.5),  # white text on the light theme
        ((255, 215, 0), (250, 250, 250), 4.5),  # gold1 (a term colour) on light
        ((128, 128, 128), (0, 0, 0), 7.0),  # grey50 on the high-contrast black
        ((0, 0, 0), (255, 215, 0), 7.0),  # black on a gold block already reads: unchanged
    ],
)
def test_the_contrast_floor_makes_text_read(
    fg: tuple[int, int, int], bg: tuple[int, int, int], floor: float
) -> None:
    moved = _readable(fg, bg, floor)
    assert contrast(Color(*moved), Color(*bg)) >= floor
    if contrast(Color(*fg), Color(*bg)) >= floor:
        assert moved == fg


def test_cli_theme_names_match_the_themes() -> None:
    assert set(THEME_NAMES) == set(THEMES)
    assert build_parser().parse_args(["--theme", "light"]).theme == "light"
    assert build_parser().parse_args(["lesson", "1", "--theme", "high-contrast"]).theme == "high-contrast"
    assert build_parser().parse_args(["--theme", "light", "lesson", "1"]).theme == "light"
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--theme", "sepia"])
    assert exit_info.value.code == 2


# ---------------------------------------------------------------------- collector


def test_collector_freezes_after_an_update_and_releases_at_the_end() -> None:
    collector = Collector()
    try:
        collector.after_update()
        assert gc.get_freeze_count() > 0
    finally:
        collector.release()
    assert gc.get_freeze_count() == 0
