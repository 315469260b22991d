"""Data-driven transcript tests: each tests/testdata/NAME.txt is a scenario script and
NAME.out its expected transcript, checked here on the in-process backend (fast);
tests/lab/test_udp_lab.py checks that real processes give the same transcripts.
``pytest --rewrite`` regenerates the .out files;
review the diff before committing it. Every scenario must also exit 0: a failed
``expect`` or ``until`` is a failed test even when rewriting.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from raftviz.lab.run import run_script

TESTDATA = Path(__file__).parents[1] / "testdata"
# mixed-*.txt run foreign nodes, which need the udp backend: tests/foreign checks them.
SCENARIOS = sorted(p for p in TESTDATA.glob("*.txt") if not p.name.startswith("mixed-"))


def transcript(path: Path, backend: str = "inprocess") -> tuple[int, str]:
    lines: list[str] = []
    code = run_script(path.read_text(), path.name, lines.append, backend=backend)
    return code, "\n".join(lines) + "\n"


def test_there_are_scenarios() -> None:
    assert len(SCENARIOS) >= 10


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_transcript(path: Path, rewrite: bool) -> None:
    code, text = transcript(path)
    expected_path = path.with_suffix(".out")
    if rewrite:
        expected_path.write_text(text)
    assert code == 0, f"{path.name} failed:\n{text[-2000:]}"
    assert expected_path.exists(), f"no {expected_path.name}: run pytest --rewrite and review it"
    assert text == expected_path.read_text()


@pytest.mark.parametrize("path", SCENARIOS[:3], ids=[p.stem for p in SCENARIOS[:3]])
def test_same_script_twice_gives_identical_transcripts(path: Path) -> None:
    assert transcript(path) == transcript(path)
