"""Every way out of ``raftviz`` (the app) and ``raftviz run`` leaves no node process and no directory.

Each case starts the real command on the udp backend with ``TMPDIR`` pointed
at a directory of the test's own, waits until the lab's node processes exist
(found by their command lines, which name their data directories under it),
ends it one way (q, a signal, a closed terminal, an exception), and checks the
exit code, that every node process it started is gone, and that the lab's
``raftviz-lab-*`` directory was removed. The app runs under a pseudo-terminal
(the ``pty`` module), so no real terminal or tmux is needed. Every wait is a
poll with a generous deadline: nothing here depends on timing.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from raftviz.lab.torture.cluster import pid_running

pytestmark = pytest.mark.udp

#: Generous: Python start-up of the app and three nodes on a loaded 2-core machine.
START_TIMEOUT = 120.0
EXIT_TIMEOUT = 60.0

#: The app, with one handler made to fail once the test says so (by creating the file $GO).
APP_FAILING = """
import os, sys
from raftviz.tui.app import RaftvizApp
tick = RaftvizApp._tick
def failing_tick(self):
    if os.path.exists(os.environ["GO"]):
        raise RuntimeError("a planted bug")
    tick(self)
RaftvizApp._tick = failing_tick
from raftviz.cli import main
sys.exit(main(sys.argv[1:]))
"""

#: ``raftviz run``, failing at its ``advance`` once the test says so (by creating the file $GO).
RUN_FAILING = """
import os, sys, time
from raftviz.lab.session import Session
execute = Session.execute
def failing_execute(self, command):
    if command.name == "advance":
        while not os.path.exists(os.environ["GO"]):
            time.sleep(0.05)
        raise RuntimeError("a planted bug")
    return execute(self, command)
Session.execute = failing_execute
from raftviz.cli import main
sys.exit(main(sys.argv[1:]))
"""

#: Long enough that only the way out under test ends it.
LONG_SCRIPT = "cluster 3 seed=2 backend=udp\nuntil leader\nadvance 100000s\n"


def _node_pids(tmp: Path) -> list[int]:
    """Live processes whose command line names ``tmp``: the lab's nodes (their --data is under it)."""
    pids = []
    marker = str(tmp).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if marker in cmdline and b"node" in cmdline and pid_running(int(entry)):
            pids.append(int(entry))
    return pids


def _poll(condition: Callable[[], bool], timeout: float, what: str, idle: Callable[[], None]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        idle()


def _check_nothing_left(tmp: Path, pids: list[int]) -> None:
    deadline = time.monotonic() + EXIT_TIMEOUT
    while any(pid_running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [p for p in pids if pid_running(p)] == [], "node processes outlived the command"
    assert sorted(p.name for p in tmp.iterdir()) == [], "the lab's directory was left behind"


class Terminal:
    """The app under a pseudo-terminal: its output drained (a full pty would block it), its exit status."""

    def __init__(self, argv: list[str], tmp: Path) -> None:
        env = {**os.environ, "TMPDIR": str(tmp), "TERM": "xterm-256color", "GO": str(tmp.parent / "go")}
        self.output = bytearray()
        self.status: int | None = None
        pid, fd = pty.fork()
        if pid == 0:  # the child: a terminal of a fixed size, then the command
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
                os.execve(sys.executable, [sys.executable, *argv], env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd

    def drain(self, wait: float = 0.05) -> None:
        """Read what the app wrote (if the terminal is open), then see whether it has exited."""
        if self.fd >= 0:
            try:
                if select.select([self.fd], [], [], wait)[0]:
                    self.output += os.read(self.fd, 65536)
            except OSError:  # EIO: the app closed its side
                time.sleep(wait)
        else:
            time.sleep(wait)
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def hang_up(self) -> None:
        """Close the terminal, as closing its window does: the kernel sends SIGHUP."""
        os.close(self.fd)
        self.fd = -1

    def close(self) -> None:
        if self.status is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        if self.fd >= 0:
            os.close(self.fd)


#: (how it ends, the expected exit code).
APP_EXITS = [
    ("q", 0),
    ("SIGINT", 130),
    ("SIGTERM", 143),
    ("SIGHUP", 129),
    ("terminal closed", 129),
    ("exception", 1),
]


@pytest.mark.parametrize(("how", "code"), APP_EXITS, ids=[how for how, _ in APP_EXITS])
def test_the_app_leaves_nothing_behind(tmp_path: Path, how: str, code: int) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    argv = ["-c", APP_FAILING] if how == "exception" else ["-m", "raftviz"]
    term = Terminal([*argv, "--nodes", "3", "--backend", "udp"], tmp)
    try:
        pids: list[int] = []

        def nodes_up() -> bool:
            pids[:] = _node_pids(tmp)
            return len(pids) == 3 or term.status is not None

        _poll(nodes_up, START_TIMEOUT, "three node processes", term.drain)
        assert len(pids) == 3, term.output[-2000:].decode(errors="replace")
        # The app has drawn its first screen: its event loop is running.
        _poll(lambda: b"raftviz" in term.output, START_TIMEOUT, "the app's screen", term.drain)
        if how == "exception":
            (tmp_path / "go").touch()
        elif how == "q":
            term.type(b"q")
        elif how == "terminal closed":
            term.hang_up()
        elif how.startswith("SIG"):
            os.kill(term.pid, getattr(signal, how))
        _poll(lambda: term.status is not None, EXIT_TIMEOUT, "the app's exit", term.drain)
        assert term.status == code, term.output[-2000:].decode(errors="replace")
        _check_nothing_left(tmp, pids)
    finally:
        term.close()


RUN_EXITS = [("SIGINT", 130), ("SIGTERM", 143), ("SIGHUP", 129), ("exception", 1)]


@pytest.mark.parametrize(("how", "code"), RUN_EXITS, ids=[how for how, _ in RUN_EXITS])
def test_raftviz_run_leaves_nothing_behind(tmp_path: Path, how: str, code: int) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    script = tmp_path / "long.txt"
    script.write_text(LONG_SCRIPT)
    argv = ["-c", RUN_FAILING] if how == "exception" else ["-m", "raftviz"]
    proc = subprocess.Popen(
        [sys.executable, *argv, "run", str(script)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(tmp), "GO": str(tmp_path / "go")},
    )
    try:
        pids: list[int] = []

        def nodes_up() -> bool:
            pids[:] = _node_pids(tmp)
            return len(pids) == 3 or proc.poll() is not None

        _poll(nodes_up, START_TIMEOUT, "three node processes", lambda: time.sleep(0.05))
        assert len(pids) == 3, proc.stderr.read().decode() if proc.poll() is not None and proc.stderr else ""
        if how == "exception":
            (tmp_path / "go").touch()
        else:
            proc.send_signal(getattr(signal, how))
        _, err = proc.communicate(timeout=EXIT_TIMEOUT)
        assert proc.returncode == code, err.decode()
        if how == "exception":
            assert b"a planted bug" in err
        else:
            assert b"Traceback" not in err, err.decode()
        _check_nothing_left(tmp, pids)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_stop_signal_waits_for_the_end_of_an_atomic_step() -> None:
    """A node process started but not yet recorded must not be orphaned by a signal in between."""
    from raftviz.lab import exits

    done: list[str] = []
    with pytest.raises(exits.Stopped) as stopped, exits.stop_signals():
        with exits.atomic():
            signal.raise_signal(signal.SIGTERM)
            done.append("the step went on")
            with exits.atomic():  # nested: still held until the outermost block ends
                signal.raise_signal(signal.SIGINT)
                done.append("and its inner part too")
            done.append("to its end")
        done.append("never: the signal is acted on here")
    assert done == ["the step went on", "and its inner part too", "to its end"]
    assert stopped.value.signum == signal.SIGTERM  # the first signal, as outside a step


def test_an_atomic_step_on_another_thread_holds_nothing_back() -> None:
    """Only the main thread takes signals: a lab thread's atomic step must not defer them to itself."""
    import threading

    from raftviz.lab import exits

    inside, release = threading.Event(), threading.Event()

    def lab_thread() -> None:
        with exits.atomic():
            inside.set()
            release.wait(5)

    worker = threading.Thread(target=lab_thread)
    worker.start()
    try:
        inside.wait(5)
        with pytest.raises(exits.Stopped), exits.stop_signals():
            signal.raise_signal(signal.SIGTERM)
            time.sleep(1)  # never reached: the main thread takes the signal at once
    finally:
        release.set()
        worker.join()
