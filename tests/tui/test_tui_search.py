"""The TUI's search (/, F3, F2 or shift+F3), the feed's filter (F) and the export key (E)."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from textual.widgets import Input

from raftviz.lab.search import parse_query
from raftviz.tui.app import EXPORT_STEM, AppOptions, RaftvizApp
from raftviz.tui.screens.dialogs import PromptScreen
from raftviz.tui.testing import run_commands, settle
from raftviz.tui.widgets.panels import EventFeed

SIZE = (160, 48)


def make_app() -> RaftvizApp:
    return RaftvizApp(AppOptions(backend="inprocess", seed=42))


def matches(app: RaftvizApp, text: str) -> list[int]:
    history = app.controller.history
    assert history is not None
    shown, total = history.find(parse_query(text), limit=10_000)
    assert len(shown) == total
    return [e.position for e in shown]


async def search(pilot, app: RaftvizApp, text: str) -> None:  # noqa: ANN001
    await pilot.press("slash")
    await pilot.pause()
    assert isinstance(app.screen, PromptScreen)
    app.screen.query_one(Input).value = text
    await pilot.press("enter")
    await settle(pilot, app)


def test_slash_searches_and_f3_moves_between_matches_through_goto() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await run_commands(pilot, app, "until leader", "crash leader", "until leader", "step 20")
            expected = matches(app, "kind=role")
            assert len(expected) >= 4
            tip = app.snapshot.position
            await search(pilot, app, "kind=role")
            # At the tip nothing matches after: the search wraps to the first match.
            assert app.snapshot.position == expected[0]
            assert app.search is not None and app.search.positions == expected
            await pilot.press("f3")
            await settle(pilot, app)
            assert app.snapshot.position == expected[1]
            await pilot.press("f3", "f3")
            await settle(pilot, app)
            assert app.snapshot.position == expected[3]
            await pilot.press("shift+f3")
            await settle(pilot, app)
            assert app.snapshot.position == expected[2]
            await pilot.press("f2")  # the same, where a terminal does not pass shift+F3 on (tmux)
            await settle(pilot, app)
            assert app.snapshot.position == expected[1]
            await pilot.press("f3")
            await settle(pilot, app)
            # Every move went through the history's goto: the saved session says so.
            script = app.controller.script().result(timeout=30)
            assert f"goto {expected[2]}" in script
            # The recorded future is still there: F3 from the last match wraps, the tip stays reachable.
            assert app.snapshot.last_position == tip

    asyncio.run(run())


def test_a_bad_query_is_reported_and_changes_nothing() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await run_commands(pilot, app, "until leader")
            where = app.snapshot.position
            await search(pilot, app, "type=Nope")
            assert app.search is None and app.snapshot.position == where
            await pilot.press("f3")  # no search yet: says so
            await settle(pilot, app)
            assert app.snapshot.position == where

    asyncio.run(run())


def test_f_filters_the_feed_to_matching_rows_and_back() -> None:
    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await run_commands(pilot, app, "until leader", "put x 1", "advance 100")
            feed = app.screen.query_one(EventFeed)
            everything = len(feed.keys)
            await search(pilot, app, "type=ClientRequest")
            await run_commands(pilot, app, f"goto {app.snapshot.last_position}")
            await pilot.press("F")
            await settle(pilot, app)
            shown = [int(k) for k in feed.keys if k.isdigit()]
            assert shown and set(shown) <= set(matches(app, "type=ClientRequest"))
            assert "filter: type=ClientRequest" in feed.lines()[0]
            # Rows that arrive while filtering are filtered too.
            await run_commands(pilot, app, "put y 2", "advance 100")
            shown_after = [int(k) for k in feed.keys if k.isdigit()]
            assert len(shown_after) > len(shown)
            assert set(shown_after) <= set(matches(app, "type=ClientRequest"))
            await pilot.press("F")
            await settle(pilot, app)
            assert len(feed.keys) > everything

    asyncio.run(run())


def test_e_exports_the_session_into_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    async def run() -> None:
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            await run_commands(pilot, app, "until leader", "put x 1", "advance 50")
            await pilot.press("E")
            await settle(pilot, app)

    asyncio.run(run())
    root = ET.parse(tmp_path / f"{EXPORT_STEM}.svg").getroot()
    arrows = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if "delivered" in g.get("class", "")]
    assert arrows
    assert (tmp_path / f"{EXPORT_STEM}.html").read_text().startswith("<!DOCTYPE html>")
    assert '"traceEvents"' in (tmp_path / f"{EXPORT_STEM}.json").read_text()


def test_search_and_export_are_in_the_palette_and_the_help() -> None:
    from raftviz.tui.app import KEYS

    actions = {action for _s, _k, action, _l, _t, _show in KEYS}
    assert {"search", "search_next", "search_previous", "search_filter", "export"} <= actions
