"""A mixed cluster: raftviz's Python nodes and the JavaScript node of examples/js-node.

The JavaScript node was written from docs/protocol.md alone; these tests are
the proof that the document is enough. A transcript (tests/testdata/mixed-js.txt)
must come out the same on every run, and random fault schedules (raftviz hunt's
generator) must hold every invariant with two of five nodes in JavaScript.
Skipped where Node.js is not installed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from raftviz.lab.hunt.generate import generate
from raftviz.lab.hunt.runner import QuietSession
from raftviz.lab.run import run_script
from raftviz.lab.script import parse_line

pytestmark = [
    pytest.mark.udp,
    pytest.mark.skipif(shutil.which("node") is None, reason="Node.js (node) is not installed"),
]

ROOT = Path(__file__).parents[2]
JS = "node examples/js-node/node.js"
MIXED = sorted((ROOT / "tests" / "testdata").glob("mixed-*.txt"))


@pytest.fixture(autouse=True)
def _at_the_root(monkeypatch: pytest.MonkeyPatch) -> None:
    # The scripts name the node by a path relative to the repository, as a user would.
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize("path", MIXED, ids=[p.stem for p in MIXED])
def test_mixed_transcript(path: Path, rewrite: bool) -> None:
    lines: list[str] = []
    code = run_script(path.read_text(), path.name, lines.append)
    text = "\n".join(lines) + "\n"
    expected = path.with_suffix(".out")
    if rewrite:
        expected.write_text(text)
    assert code == 0, text[-2000:]
    assert text == expected.read_text()


def run_schedule(lines: list[str]) -> tuple[list[str], list[str]]:
    """Run a schedule on udp; (invariant violations, protocol breaks by a node)."""
    session = QuietSession()
    broken: list[str] = []
    session.listeners.append(lambda r: broken.append(r.stopped) if "broke docs/" in r.stopped else None)
    try:
        for text in lines:
            command = parse_line(text)
            if command is not None:
                session.execute(command)  # a command that cannot run now is skipped, as hunt does
            if session.lab is not None and session.lab.violations:
                return [v.describe() for v in session.lab.violations], broken
        return [], broken
    finally:
        session.close()


@pytest.mark.parametrize("seed", range(4))
def test_random_schedules_hold_every_invariant_with_javascript_nodes(seed: int) -> None:
    lines = generate(seed, nodes=5)
    lines[0] += f' node@4="{JS}" node@5="{JS}"'
    violations, broken = run_schedule(lines)
    assert violations == []
    assert broken == []


def test_time_travel_with_javascript_nodes_rebuilds_them_by_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    # The JavaScript node has no GetState/LoadState: a restore restarts it on a copy of its
    # data directory as it started and hands it the same inputs again (docs/protocol.md §7.8).
    # Going back must land on the same states, and running on must give the same events,
    # whether the node was running, crashed, or restarted since the checkpoint.
    from raftviz.lab import udp_backend

    rebuilt: list[tuple[int, int]] = []
    original = udp_backend.UdpBackend._rebuild

    def spy(self: udp_backend.UdpBackend, node: int, replay: object) -> None:
        rebuilt.append((node, replay.count))  # type: ignore[attr-defined]
        original(self, node, replay)  # type: ignore[arg-type]

    monkeypatch.setattr(udp_backend.UdpBackend, "_rebuild", spy)
    script = f"""cluster 3 seed=1 node@2="{JS}" node@3="{JS}"
until leader
put x 1
until idle
mark a
crash 2
put y 2
until idle
restart 2
step 30
status
goto a
crash 2
put y 2
until idle
restart 2
step 30
status
back 20
step 20
status
"""
    lines: list[str] = []
    code = run_script(script, "tt.txt", lines.append)
    assert code == 0, lines
    statuses = [i for i, line in enumerate(lines) if line == "> status"]
    first, second, third = [lines[i + 1 : i + 4] for i in statuses]
    assert first == second == third
    steps = [i for i, line in enumerate(lines) if line == "> step 30"]
    assert lines[steps[0] : statuses[0]] == lines[steps[1] : statuses[1]]  # the same 30 events
    assert {node for node, _ in rebuilt} == {2, 3}
    assert any(count > 0 for _, count in rebuilt)  # inputs handed again, not just a restart


#: All-Python transcripts whose scripts choose every election (timeout N, long election
#: timeouts): the JavaScript node, all or mixed, must give them byte for byte.
IDENTICAL = ("reasons_votes", "reasons_figure8", "duplicated_reordered_messages")


@pytest.mark.parametrize("mixed", [True, False], ids=["mixed", "all-js"])
@pytest.mark.parametrize("name", IDENTICAL)
def test_the_javascript_node_gives_the_all_python_transcript(name: str, mixed: bool) -> None:
    path = ROOT / "tests" / "testdata" / f"{name}.txt"
    extra = f' node@2="{JS}" node@4="{JS}"' if mixed else f' node="{JS}"'
    script = "\n".join(
        line + extra if line.startswith("cluster") else line for line in path.read_text().splitlines()
    )
    lines: list[str] = []
    code = run_script(script + "\n", path.name, lines.append)
    assert code == 0, lines[-20:]

    def without_cluster(text: list[str]) -> list[str]:
        return [line for line in text if not line.startswith(("cluster: ", "> cluster"))]

    expected = path.with_suffix(".out").read_text().splitlines()
    assert without_cluster(lines) == without_cluster(expected)
