"""Time from a step key press to the repainted screen.

    python benchmarks/bench_tui.py [--backend udp|inprocess] [--presses N] [--back-after N] [--only-back]

Three set-ups: 5 nodes with 1,000-entry logs, 9 nodes, and 5 nodes after
5,000 writes with a snapshot every 500 entries (compacted logs, the logs view
scrolled back to a snapshot boundary). For each press of
the step key, the time until the cluster view paints the lab's new state
(the lab stepped on its thread, the snapshot taken, the update applied and
the screen rendered), at 160x48. And the time from ``b`` (step back) to the
repainted screen after 100,000 positions of history (``--back-after``).
And the space-time diagram's key-to-repaint after 100,000 positions
(``--diagram-after``): from ↑ or PgUp in the diagram (``v``) until the diagram
has painted the position the app went to (the cursor moved, the lab went
there on its thread, the update applied and the diagram drawn again).
Prints p50 and p99.
Figures only: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from textual.pilot import Pilot

from raftviz.tui.app import AppOptions, RaftvizApp
from raftviz.tui.testing import run_commands, settle
from raftviz.tui.widgets.cluster import ClusterView
from raftviz.tui.widgets.diagram import DiagramView
from raftviz.tui.widgets.logs import LogsView


async def time_key(pilot: Pilot, app: RaftvizApp, key: str, presses: int, forward: bool) -> list[float]:
    """Seconds from each press of ``key`` until the cluster view paints the position it led to
    (a later one if ``forward``, an earlier one if not)."""
    cluster = app.screen.query_one(ClusterView)
    painted: list[tuple[int, float]] = []
    original = cluster.render

    def render() -> object:
        # When the cluster view paints a snapshot: the moment the new state is drawn.
        if cluster.snapshot is not None:
            painted.append((cluster.snapshot.position, time.perf_counter()))
        return original()

    cluster.render = render  # type: ignore[method-assign]
    times: list[float] = []
    for _ in range(presses):
        before = app.snapshot.position if app.snapshot else 0
        t = time.perf_counter()
        await pilot.press(key)
        await settle(pilot, app)
        drawn = [at for position, at in painted if (position > before if forward else position < before)]
        times.append((drawn[0] if drawn else time.perf_counter()) - t)
        painted.clear()
    return times


async def measure(
    backend: str, nodes: int, entries: int, presses: int, options: str = "", compacted: bool = False
) -> list[float]:
    app = RaftvizApp(AppOptions(backend=backend, seed=7, nodes=nodes))
    async with app.run_test(size=(160, 48)) as pilot:
        app.animation_level = "none"
        await settle(pilot, app)
        if options:
            await run_commands(pilot, app, f"cluster {nodes} seed=7 {options}")
        await run_commands(pilot, app, "until leader")
        if compacted:
            await run_commands(pilot, app, f"writes {entries} keys=50", "until idle max=120s")
            # Look at the oldest snapshot boundary: the window straddles compacted and held indexes.
            logs = app.screen.query_one(LogsView)
            logs.offset = max(min(n.log_start for n in app.snapshot.nodes) - 10, 1)
            entries = 0
        for start in range(0, entries, 200):
            await run_commands(
                pilot,
                app,
                *[f"put k{i} v{i} client=c{i % 20}" for i in range(start, min(entries, start + 200))],
            )
            await run_commands(pilot, app, "until idle max=60s")
        times = await time_key(pilot, app, "n", presses, forward=True)
        assert app.snapshot is not None
        longest = max(n.last_index for n in app.snapshot.nodes)
        held = max(len(n.log) for n in app.snapshot.nodes)
        await pilot.press("q")
    print(f"  ({nodes} nodes, logs of {longest} entries ({held} held), {backend})")
    return times


async def measure_back(backend: str, positions: int, presses: int) -> list[float]:
    """Time from ``b`` (step back) to the repainted screen, after ``positions`` of history."""
    app = RaftvizApp(AppOptions(backend=backend, seed=7))
    async with app.run_test(size=(160, 48)) as pilot:
        app.animation_level = "none"
        await settle(pilot, app)
        await run_commands(pilot, app, "until leader")
        done = 0
        while done < positions:
            # Light client load as in bench_history: logs grow, clients wait, commits move.
            await run_commands(pilot, app, "writes 20", f"step {min(10_000, positions - done)}")
            done += 10_000
        times = await time_key(pilot, app, "b", presses, forward=False)
        assert app.snapshot is not None
        print(f"  (5 nodes, {app.snapshot.last_position:,} positions, {backend})")
        await pilot.press("q")
    return times


async def build_history(pilot: Pilot, app: RaftvizApp, positions: int) -> None:
    await run_commands(pilot, app, "until leader")
    done = 0
    while done < positions:
        # Light client load as in bench_history: logs grow, clients wait, commits move.
        await run_commands(pilot, app, "writes 20", f"step {min(10_000, positions - done)}")
        done += 10_000


async def measure_diagram(
    backend: str, positions: int, presses: int, key: str
) -> tuple[list[float], list[float]]:
    """Seconds from ``key`` in the diagram until it paints its cursor on the new row, and until
    it paints again once the app is at that row's position (the lab went there, the rest redrawn)."""
    app = RaftvizApp(AppOptions(backend=backend, seed=7))
    async with app.run_test(size=(160, 48)) as pilot:
        app.animation_level = "none"
        await settle(pilot, app)
        await build_history(pilot, app, positions)
        await pilot.press("v")
        await settle(pilot, app)
        view = app.screen.query_one(DiagramView)
        painted: list[tuple[int, int | None, float]] = []
        original = view.render_line

        def render_line(y: int) -> object:
            if y == 0:  # the lane names: drawn first on every repaint
                position = app.snapshot.position if app.snapshot else None
                painted.append((view.cursor, position, time.perf_counter()))
            return original(y)

        view.render_line = render_line  # type: ignore[method-assign]
        cursor_times: list[float] = []
        app_times: list[float] = []
        for _ in range(presses):
            before = view.cursor_position()
            t = time.perf_counter()
            await pilot.press(key)
            await settle(pilot, app)
            target, row = view.cursor_position(), view.cursor
            now = time.perf_counter()
            cursor_times.append(next((at for r, _p, at in painted if r == row), now) - t)
            if target != before:
                app_times.append(next((at for _r, p, at in painted if p == target), now) - t)
            painted.clear()
        rows = len(app.diagram_rows)
        print(f"  ({rows:,} diagram rows, {app.snapshot.last_position:,} positions, {backend})")
        await pilot.press("q")
    return cursor_times, app_times


def report(label: str, times: list[float]) -> None:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    p50 = statistics.median(times) * 1000
    print(f"{label}: p50 {p50:.1f} ms, p99 {p99 * 1000:.1f} ms over {len(times)} presses")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("udp", "inprocess"), default="udp")
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument(
        "--back-after", type=int, default=100_000, help="history positions before timing b (0: skip)"
    )
    parser.add_argument("--only-back", action="store_true", help="time only b after --back-after positions")
    parser.add_argument(
        "--diagram-after", type=int, default=100_000, help="positions before timing the diagram (0: skip)"
    )
    parser.add_argument("--only-diagram", action="store_true", help="time only the diagram's keys")
    args = parser.parse_args()
    if args.diagram_after:
        for key, label in (("up", "↑"), ("pageup", "PgUp")):
            presses = min(args.presses, 100)
            cursor, followed = asyncio.run(measure_diagram(args.backend, args.diagram_after, presses, key))
            after = f"after {args.diagram_after:,} positions"
            report(f"diagram {label} {after}, to the cursor's repaint", cursor)
            report(f"diagram {label} {after}, to the repaint at the app's new position", followed)
    if args.only_diagram:
        return
    if args.back_after:
        report(
            f"b (step back) after {args.back_after:,} positions",
            asyncio.run(measure_back(args.backend, args.back_after, min(args.presses, 100))),
        )
    if args.only_back:
        return
    # snapshot=0: the logs keep all 1,000 entries (the default would compact them at 1,000).
    report(
        "5 nodes, 1,000-entry logs",
        asyncio.run(measure(args.backend, 5, 1000, args.presses, options="snapshot=0")),
    )
    report("9 nodes", asyncio.run(measure(args.backend, 9, 50, args.presses)))
    report(
        "5 nodes, 5,000 writes, snapshot every 500",
        asyncio.run(measure(args.backend, 5, 5000, args.presses, options="snapshot=500", compacted=True)),
    )


if __name__ == "__main__":
    main()
