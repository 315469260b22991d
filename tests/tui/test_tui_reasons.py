"""The core's reasons in the app: a row under the event in the feed, and the inspector's ``because``."""

from __future__ import annotations

import asyncio

from rich.console import Console

from raftviz.tui.app import AppOptions, RaftvizApp
from raftviz.tui.testing import settle
from raftviz.tui.widgets.panels import EventFeed, inspect_node

SIZE = (160, 48)

SCRIPT = [
    "cluster 3 seed=1",
    "timeout 1",
    "timeout 3",
    "deliver 1->2",
    "deliver 3->2",
    "deliver 2->1 RequestVoteReply",
    "timeout 2",
    "deliver 2->1 RequestVote",
]


def test_feed_rows_and_inspector_show_the_reasons() -> None:
    async def run() -> None:
        app = RaftvizApp(AppOptions(backend="inprocess", seed=1, nodes=3))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            for command in SCRIPT:
                app.run_command(command)
                await settle(pilot, app)
            feed = app.screen.query_one(EventFeed)
            lines = feed.lines()
            # Under the delivery to node 2: why it moved term, and why it granted its vote.
            at = next(i for i, line in enumerate(lines) if "#1 1→2" in line)
            assert "↳ because: term 0 → 1: RequestVote from node 1 has a newer term" in lines[at + 1]
            assert "vote granted to node 1 in term 1" in lines[at + 2]
            assert "(Figure 2, RequestVote receiver 2)" in lines[at + 2]
            assert any("vote denied to node 3: already voted for node 1 in term 1" in line for line in lines)
            assert any("elected leader of term 1" in line for line in lines)
            # The inspector: node 1's latest reasons, as of where the app now is.
            snap = app.snapshot
            console = Console(width=100, force_terminal=False)
            with console.capture() as captured:
                console.print(inspect_node(snap.node(1), snap))
            text = " ".join(captured.get().split())
            assert "because leader steps down to follower, term 1 → 2" in text
            assert "is not as up to date as ours (lastTerm=1 lastIndex=1) (§5.4.1)" in text

            # Enter on a reason's row goes to its event's position.
            position = app.snapshot.position
            key = next(k for k in feed.keys if k.startswith("because-") and k != f"because-{position}-0")
            feed.focus()
            feed.move_cursor(feed.row_index(key))
            await pilot.press("enter")
            await settle(pilot, app)
            assert app.snapshot.position == int(key.split("-")[1]) < position

    asyncio.run(run())
