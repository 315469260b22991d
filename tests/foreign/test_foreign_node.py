"""Foreign node commands (``cluster N node="CMD"``, ``node@N="CMD"``): the lab runs any
program that speaks docs/protocol.md §7, and stops one that breaks it, naming the rule.

The misbehaving node is tests/foreign/garbage_node.py: a proper Hello, then at its
Nth input garbage, the wrong frame, a Report listing a datagram that is no message,
or silence. The lab must stop that node with a message naming the rule, quoting its
standard error, and go on with the others; and nothing may be left behind.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from raftviz.lab.backend import make_backend
from raftviz.lab.options import LabError, LabOptions
from raftviz.lab.run import run_script
from raftviz.lab.script import ScriptError, parse_line
from raftviz.lab.session import Session

pytestmark = pytest.mark.udp

GARBAGE = Path(__file__).with_name("garbage_node.py")


def _garbage(mode: str, at: int = 2) -> str:
    return f"{sys.executable} {GARBAGE} --mode {mode} --break-at {at}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize(
    ("mode", "rule"),
    [
        ("garbage", "§7.2 (framing)"),
        ("wrong-frame", "§7.5 (each input is answered with exactly one Report)"),
        ("bad-sent", "§3-§5 (every datagram in a Report's sent is a valid message)"),
        ("silent", "§7.4 (the lab waits for each answer a limited time)"),
    ],
)
def test_a_node_that_breaks_the_protocol_is_stopped_and_the_lab_goes_on(
    mode: str, rule: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAFTVIZ_LAB_DIR", str(tmp_path))
    backends = []

    def factory(options: LabOptions):  # noqa: ANN202 - a UdpBackend
        backend = make_backend(options)
        backend.timeout = 2.0  # type: ignore[attr-defined]  # the silent node: do not wait 20 s
        backends.append(backend)
        return backend

    session = Session(backend_factory=factory)
    lines: list[str] = []
    try:
        for text in (
            f'cluster 3 seed=1 node@2="{_garbage(mode)}"',
            "until leader",
            "put x 1",
            "until kv x=1",
        ):
            command = parse_line(text)
            assert command is not None
            outcome = session.execute(command)
            lines += outcome.lines
            assert not outcome.failure, outcome.failure
        backend = backends[0]
        root = backend.root
        pids = [backend.pid(n) for n in (1, 3)]
        stop = [line for line in lines if "node 2 stopped" in line]
        assert len(stop) == 1, lines
        assert f"broke docs/protocol.md {rule}" in stop[0]
        assert "during a Deliver at t=" in stop[0]
        assert f"now misbehaving: {mode}" in stop[0]  # its standard error, quoted
        assert session.lab is not None and not session.lab.views[2].alive
        assert session.lab.views[1].alive and session.lab.views[3].alive
    finally:
        session.close()
    assert not os.path.exists(root)
    assert not any(_alive(pid) for pid in pids)
    assert list(tmp_path.iterdir()) == []


def test_a_node_command_needs_the_udp_backend() -> None:
    with pytest.raises(LabError, match="needs the udp backend"):
        make_backend(LabOptions(nodes=3, backend="inprocess", node="node x.js"))
    lines: list[str] = []
    code = run_script(f'cluster 3 node="{_garbage("garbage")}"\n', "s.txt", lines.append, backend="inprocess")
    assert code == 1 and "needs the udp backend" in lines[-1]


def test_a_missing_command_is_a_clear_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAFTVIZ_LAB_DIR", str(tmp_path))
    lines: list[str] = []
    code = run_script("cluster 3\n", "s.txt", lines.append, node="no-such-raft --fast")
    assert code == 1
    assert lines[-1] == "FAILED s.txt:1: cluster: node 1 cannot start: cannot run 'no-such-raft --fast': " + (
        "No such file or directory"
    )
    assert list(tmp_path.iterdir()) == []  # the two nodes started before the third failed are gone


def test_a_node_that_breaks_its_hello_refuses_the_cluster_with_the_rule() -> None:
    lines: list[str] = []
    code = run_script(f'cluster 3 node@3="{_garbage("garbage", at=0)}"\n', "s.txt", lines.append)
    assert code == 0  # its Hello is fine: it breaks at its first input
    lines.clear()
    hello_node = f"{sys.executable} -c 'import sys; sys.stdout.buffer.write(bytes(8)); sys.stdout.flush()'"
    code = run_script(f'cluster 3 node@3="{hello_node}"\n', "s.txt", lines.append)
    assert code == 1
    assert "node 3 cannot start: broke docs/protocol.md §7.2 (framing) during its start-up" in lines[-1]


def test_node_options_parse() -> None:
    command = parse_line('cluster 5 seed=2 node="node a.js --x" node@4="python3 b.py"')
    assert command is not None
    assert command.params["node"] == "node a.js --x"
    assert command.params["node_at"] == ((4, "python3 b.py"),)
    options = LabOptions(**command.params)
    # Every id a node may have: a node added later (add 6) runs the cluster's command too.
    assert options.node_commands() == {i: "python3 b.py" if i == 4 else "node a.js --x" for i in range(1, 10)}
    assert LabOptions(nodes=3, node_at=((2, "y"),)).node_commands() == {2: "y"}
    for bad, words in (
        ('cluster 3 node@10="x"', "node ids are 1..9"),
        ('cluster 3 node=""', "needs a command"),
        ('cluster 3 node="x', "unbalanced quotes"),
    ):
        with pytest.raises(ScriptError, match=words):
            parse_line(bad)


def test_disk_and_snapshot_commands_are_refused_on_a_foreign_node() -> None:
    lines: list[str] = []
    script = f'cluster 3 node@2="{_garbage("garbage", at=1000)}"\ndisk 2 full\n'
    code = run_script(script, "s.txt", lines.append)
    assert code == 1 and "needs the SetDisk control frame" in lines[-1]
    lines.clear()
    code = run_script(script.replace("disk 2 full", "snapshot 2"), "s.txt", lines.append)
    assert code == 1 and "needs the TakeSnapshot control frame" in lines[-1]
