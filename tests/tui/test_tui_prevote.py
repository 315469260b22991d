"""The TUI shows Pre-Vote, CheckQuorum and leadership transfer (dissertation §9.6, §6.2, §3.10)."""

from __future__ import annotations

import asyncio

from rich.console import Console

from raftviz.tui.app import AppOptions, RaftvizApp
from raftviz.tui.testing import settle
from raftviz.tui.widgets.header import StatusBar
from raftviz.tui.widgets.panels import MessagesTable, inspect_node

SIZE = (160, 48)


def _text(renderable: object) -> str:
    console = Console(width=120, force_terminal=False)
    with console.capture() as captured:
        console.print(renderable)
    return " ".join(captured.get().split())


def test_checkquorum_state_pre_candidates_and_a_transfer_are_shown() -> None:
    async def run() -> None:
        app = RaftvizApp(AppOptions(backend="inprocess", seed=3))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot, app)

            async def do(*commands: str) -> None:
                for command in commands:
                    app.run_command(command)
                    await settle(pilot, app)

            await do("cluster 5 seed=3 prevote=on checkquorum=on", "until leader", "advance 200")
            assert "prevote" in app.screen.query_one(StatusBar).text()
            snap = app.snapshot
            leader = next(n for n in snap.nodes if n.role == "leader")
            text = _text(inspect_node(leader, snap))
            assert leader.quorum_heard == (1, 2, 3, 4, 5)
            wanted = f"heard 1,2,3,4,5 of 1,2,3,4,5: a majority; next check t={leader.quorum_check}"
            assert wanted in text
            assert leader.quorum_check > snap.now - 1
            # Cut the leader off with one follower: once the window under way (whose answers came
            # before the cut) is checked, the next one cannot count a majority.
            others = [n.id for n in snap.nodes if n.id != leader.id]
            await do(f"partition {leader.id},{others[0]} | {','.join(map(str, others[1:]))}")
            await do(f"advance {leader.quorum_check - app.snapshot.now + 60}")
            snap = app.snapshot
            cut = snap.node(leader.id)
            assert cut is not None and cut.role == "leader"
            assert "no majority yet; steps down at t=" in _text(inspect_node(cut, snap))
            # The majority side's timers run through Pre-Vote: a pre-candidate and its PreVotes show.
            for _ in range(400):
                snap = app.snapshot
                if any(n.role == "pre-candidate" for n in snap.nodes):
                    break
                await do("step")
            pre = next(n for n in snap.nodes if n.role == "pre-candidate")
            assert "PRE-CANDIDATE" in _text(inspect_node(pre, snap)).upper()
            assert any("PreVote" in line for line in app.screen.query_one(MessagesTable).plain_lines())
            # Heal, settle, and hand leadership over: the leader's inspector says so.
            await do("heal", "until leader max=3000", "advance 300")
            snap = app.snapshot
            leader = next(n for n in snap.nodes if n.role == "leader")
            target = next(n.id for n in snap.nodes if n.id != leader.id)
            await do(f"transfer {target}")
            snap = app.snapshot
            handing = snap.node(leader.id)
            assert handing is not None and handing.transfer == target
            assert f"handing leadership to node {target}" in _text(inspect_node(handing, snap))
            await do(f"until leader={target} max=2000")
            assert app.snapshot.node(target).role == "leader"

    asyncio.run(run())
