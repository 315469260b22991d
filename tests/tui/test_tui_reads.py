"""Reads without the log in the app (dissertation §6.4): a leader's lease and held reads in the
inspector, a node's clock rate in the header, its box and the inspector, the read mode of a request
in the Messages list and the inspector."""

from __future__ import annotations

import asyncio

from rich.console import Console

from raftviz.tui.app import AppOptions, RaftvizApp
from raftviz.tui.testing import settle
from raftviz.tui.widgets.header import StatusBar
from raftviz.tui.widgets.panels import MessagesTable, inspect_message, inspect_node

SIZE = (160, 48)


def _text(renderable: object) -> str:
    console = Console(width=100, force_terminal=False)
    with console.capture() as captured:
        console.print(renderable)
    return " ".join(captured.get().split())


def test_lease_reads_held_clock_rates_and_read_modes_are_shown() -> None:
    async def run() -> None:
        app = RaftvizApp(AppOptions(backend="inprocess", seed=1, nodes=3))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)
            # A lease needs Pre-Vote's leader stickiness (raftviz.core.reads).
            for command in [
                "cluster 3 seed=1 prevote=on",
                "until leader=2",
                "put x 1",
                "until kv x=1",
                "get x read=lease",
                "advance 60",
            ]:
                app.run_command(command)
                await settle(pilot, app)
            snap = app.snapshot
            leader = snap.node(2)
            assert leader is not None and leader.lease > snap.now
            text = _text(inspect_node(leader, snap))
            assert f"lease holds until t={leader.lease} ({leader.lease - snap.now} ms left)" in text
            # A read sent to a node cut off from the others is held there: the inspector lists it.
            cut_off = ["partition 2 | 1,3", "clock 2 rate=0.5", "advance 200", "get x read=readindex via=2"]
            for command in cut_off:
                app.run_command(command)
                await settle(pilot, app)
            # Its request in flight shows its read mode in the Messages list and the inspector.
            flights = [f for f in app.snapshot.flights if f.kind == "ClientRequest"]
            assert flights, "the read is in flight"
            assert any("read=readindex" in line for line in app.screen.query_one(MessagesTable).plain_lines())
            assert "read ReadIndex (§6.4)" in _text(inspect_message(flights[0]))
            app.run_command("advance 40")
            await settle(pilot, app)
            snap = app.snapshot
            leader = snap.node(2)
            assert leader is not None and leader.role == "leader" and leader.reads_waiting == 1
            text = _text(inspect_node(leader, snap))
            assert "reads held c1#3 get x (readindex, round" in text
            assert "node 2 LEADER clock ×0.5" in text
            assert "clocks 2×0.5" in app.screen.query_one(StatusBar).text()

    asyncio.run(run())
