"""The ``udp`` backend: real node processes, identical transcripts, no orphans.

Every test here drives virtual time; the only real-time waits are for
processes to appear or disappear, polled with a generous deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raftviz.lab.run import run_script
from raftviz.lab.script import parse_script
from raftviz.lab.session import Session

pytestmark = pytest.mark.udp

TESTDATA = Path(__file__).parents[1] / "testdata"
# mixed-*.txt run foreign nodes, which need the udp backend: tests/foreign checks them.
SCENARIOS = sorted(p for p in TESTDATA.glob("*.txt") if not p.name.startswith("mixed-"))
#: Every transcript test runs on real processes too (about a second each).
UDP_SCENARIOS = SCENARIOS


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _wait_gone(pids: list[int], seconds: float = 15.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        left = [p for p in pids if _alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def _run(session: Session, text: str) -> list[str]:
    lines: list[str] = []
    for command in parse_script(text):
        outcome = session.execute(command)
        assert not outcome.failure, outcome.failure
        lines.extend(outcome.lines)
    return lines


@pytest.mark.parametrize("path", UDP_SCENARIOS, ids=[p.stem for p in UDP_SCENARIOS])
def test_udp_transcript_is_identical_to_inprocess(path: Path) -> None:
    text = path.read_text()
    udp: list[str] = []
    inprocess: list[str] = []
    assert run_script(text, path.name, udp.append, backend="udp") == 0, "\n".join(udp[-20:])
    assert run_script(text, path.name, inprocess.append, backend="inprocess") == 0
    assert udp == inprocess


def test_nodes_are_real_processes_and_crash_is_sigkill() -> None:
    session = Session(backend="udp")
    try:
        _run(session, "cluster 3 seed=7\nuntil leader")
        backend = session.lab.backend
        pids = {n: backend.pid(n) for n in (1, 2, 3)}
        assert len(set(pids.values())) == 3 and all(_alive(p) for p in pids.values())
        assert all(p != os.getpid() for p in pids.values())
        _run(session, "crash 2")
        assert _wait_gone([pids[2]]) == []
        assert _alive(pids[1]) and _alive(pids[3])
        lines = _run(session, "restart 2\nuntil 2.commit >= 1\nstatus")
        assert backend.pid(2) not in (0, pids[2])
        assert any(line.startswith("node=2 role=follower") for line in lines)
    finally:
        session.close()
    assert _wait_gone(list(pids.values())) == []


def test_close_leaves_no_process() -> None:
    session = Session(backend="udp")
    _run(session, "cluster 5 seed=1\nuntil leader")
    pids = [session.lab.backend.pid(n) for n in range(1, 6)]
    root = session.lab.backend.root
    session.close()
    assert _wait_gone(pids) == []
    assert not os.path.exists(root)


LAB_PROGRAM = """
import sys, time
from raftviz.lab.session import Session
from raftviz.lab.script import parse_script
session = Session(backend="udp")
for command in parse_script("cluster 3 seed=3\\nuntil leader"):
    session.execute(command)
print(" ".join(str(session.lab.backend.pid(n)) for n in (1, 2, 3)), flush=True)
mode = sys.argv[1]
if mode == "exception":
    raise RuntimeError("boom")
if mode == "exit":
    sys.exit(0)  # without closing the session: the atexit hook must clean up
while True:
    time.sleep(0.1)  # wait to be interrupted or killed
"""


@pytest.mark.parametrize("mode", ["exception", "exit", "sigint", "sigterm", "sigkill"])
def test_no_orphans_whatever_happens_to_the_lab(mode: str, tmp_path: Path) -> None:
    # The lab's directory lands under tmp_path: a bare lab killed by a signal (no
    # raftviz command around it to turn the signal into its clean-up, see
    # raftviz.lab.exits) leaves it behind, and it must not pile up in /tmp.
    proc = subprocess.Popen(
        [sys.executable, "-c", LAB_PROGRAM, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        pids = [int(p) for p in line.split()]
        assert len(pids) == 3, proc.stderr.read() if proc.stderr else line
        if mode in ("sigint", "sigterm", "sigkill"):
            sig = {"sigint": signal.SIGINT, "sigterm": signal.SIGTERM, "sigkill": signal.SIGKILL}[mode]
            proc.send_signal(sig)
        proc.wait(timeout=30)
        assert _wait_gone(pids) == [], f"orphaned node processes after {mode}"
        if mode in ("exception", "exit", "sigint"):
            assert list(tmp_path.iterdir()) == [], f"the lab's directory was left after {mode}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
