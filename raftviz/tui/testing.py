"""Driving the app headless: for the Pilot tests, the screenshots and the benchmark."""

from __future__ import annotations

import asyncio

from textual.pilot import Pilot

from raftviz.tui.app import RaftvizApp


async def settle(pilot: Pilot, app: RaftvizApp) -> None:
    """Wait for every queued lab action, then until the app has drawn every update.

    The lab runs on its own thread: this waits on the controller's futures
    (no sleeping for a result), then lets the app process what they posted.
    """
    await pilot.pause()
    last = app.controller.last
    if last is not None:
        await asyncio.wrap_future(last)
    for _ in range(1000):
        if app.applied >= app.controller.reported and app.controller.last is last:
            break
        await pilot.pause()
        if app.controller.last is not last:
            last = app.controller.last
            if last is not None:
                await asyncio.wrap_future(last)
    await pilot.pause()


async def run_commands(pilot: Pilot, app: RaftvizApp, *commands: str) -> None:
    """Run scenario commands as the command line would, and wait for the picture."""
    for command in commands:
        app.run_command(command)
    await settle(pilot, app)
