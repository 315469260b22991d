"""A script ``raftviz hunt`` wrote opens in the app (``raftviz --load FILE``) and, run to its
end, turns the invariant panel red with the invariant the hunt named."""

from __future__ import annotations

import asyncio
from pathlib import Path

from raftviz.lab.hunt.search import HuntOptions, hunt, render
from raftviz.tui.app import AppOptions, RaftvizApp
from raftviz.tui.testing import settle


def test_a_hunted_script_loads_and_breaks_its_invariant_in_the_app(tmp_path: Path) -> None:
    options = HuntOptions(bug="forget-vote", seed=91, schedules=5, workers=1)
    example = hunt(options)
    assert example is not None
    path = tmp_path / "cx.txt"
    path.write_text(render(example, options, str(path)), encoding="utf-8")

    async def run() -> None:
        app = RaftvizApp(AppOptions(backend="inprocess", seed=42, load=str(path)))
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot, app)
            assert app.script_lines == example.shrunk[1:]
            app.action_run_script()
            await settle(pilot, app)
            assert any(v.startswith(example.found.invariant) for v in app.snapshot.violations)

    asyncio.run(run())
