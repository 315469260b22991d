"""SVG snapshots of the main screens (fixed size, seed and backend; no animation).

The pictures live in screenshots/ (shown in the README); `pytest --rewrite`
or `python -m raftviz.tui.screenshots` regenerates them — look at the diff
and at the pictures before committing.
"""

from __future__ import annotations

import asyncio

import pytest

from raftviz.tui.screenshots import DIRECTORY, SCENES, capture


@pytest.mark.parametrize("name", sorted(SCENES))
def test_screen_matches_its_screenshot(name: str, rewrite: bool) -> None:
    svg = asyncio.run(capture(name))
    path = DIRECTORY / f"{name}.svg"
    if rewrite:
        path.write_text(svg, encoding="utf-8")
    assert path.exists(), f"no {path.name}: run python -m raftviz.tui.screenshots"
    assert svg == path.read_text(encoding="utf-8"), f"{name} changed: regenerate and look at it"
