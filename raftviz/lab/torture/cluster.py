"""The cluster under test: free-mode ``raftviz node`` processes in one temporary directory.

Each node is started exactly as a user would start it (``python -m raftviz
node --id I --peers ... --data DIR``), in its own session so that a Ctrl-C
at the terminal reaches ``raftviz torture`` alone, which then stops them.
A node can be SIGKILLed and restarted on the same data directory, paused
(SIGSTOP) and resumed (SIGCONT), or restarted with extra node options (the
disk faults). :meth:`TortureCluster.close` kills every process it ever
started and removes the directory, whatever happened before.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from raftviz.core.messages import StatusReply
from raftviz.node.client import KVClient

#: How a node is started: the documented command, through this interpreter.
RAFTVIZ = [sys.executable, "-m", "raftviz"]


class ClusterError(Exception):
    """The cluster could not be started (a node exited, no leader in time)."""


def free_udp_ports(count: int) -> list[int]:
    """``count`` distinct loopback UDP ports that were free a moment ago."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


class TortureCluster:
    """N free-mode nodes on loopback, each a real OS process, in a temporary directory."""

    def __init__(self, size: int, election: tuple[int, int] = (150, 300), heartbeat: int = 50) -> None:
        self.size = size
        self.election = election
        self.heartbeat = heartbeat
        self.root = Path(tempfile.mkdtemp(prefix="raftviz-torture-"))
        self.ports = dict(enumerate(free_udp_ports(size), start=1))
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        #: Every process ever started, so close() misses none.
        self._all: list[subprocess.Popen[bytes]] = []
        self.paused: set[int] = set()
        # The fault thread restarts nodes while the main thread may close the cluster.
        self._lock = threading.Lock()
        self._closed = False

    @property
    def ids(self) -> list[int]:
        return sorted(self.ports)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Node addresses in id order (what ``KVClient`` expects)."""
        return [("127.0.0.1", self.ports[i]) for i in self.ids]

    def command(self, node: int, extra: tuple[str, ...] = ()) -> list[str]:
        peers = ",".join(f"{i}=127.0.0.1:{self.ports[i]}" for i in self.ids)
        lo, hi = self.election
        return [
            *RAFTVIZ, "node", "--id", str(node), "--peers", peers, "--data", str(self.root / f"node{node}"),
            "--election", f"{lo}-{hi}", "--heartbeat", str(self.heartbeat), *extra,
        ]  # fmt: skip

    def start(self, node: int, extra: tuple[str, ...] = ()) -> None:
        """Start (or restart on its data directory) one node, with extra node options."""
        with self._lock:
            if self._closed:
                return
            old = self.procs.get(node)
            if old is not None and old.poll() is None:
                raise RuntimeError(f"node {node} is already running")
            with open(self.root / f"node{node}.stderr", "ab") as err:
                err.write(f"--- start {' '.join(extra)}\n".encode())
                err.flush()
                proc = subprocess.Popen(
                    self.command(node, extra),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    start_new_session=True,
                )
            self.procs[node] = proc
            self._all.append(proc)

    def kill(self, node: int) -> None:
        """SIGKILL one node (a crash) and reap it."""
        with self._lock:
            proc = self.procs.get(node)
            self.paused.discard(node)
            if proc is None:
                return
            if proc.poll() is None:
                proc.kill()
        proc.wait(timeout=30)

    def pause(self, node: int) -> None:
        with self._lock:
            proc = self.procs.get(node)
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGSTOP)
                self.paused.add(node)

    def resume(self, node: int) -> None:
        with self._lock:
            proc = self.procs.get(node)
            self.paused.discard(node)
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGCONT)

    def exit_code(self, node: int) -> int | None:
        """The node's exit status if its process has ended, else None."""
        proc = self.procs.get(node)
        return None if proc is None else proc.poll()

    def alive(self, node: int) -> bool:
        proc = self.procs.get(node)
        return proc is not None and proc.poll() is None

    def statuses(self, wait: float = 0.3) -> dict[int, StatusReply | None]:
        client = KVClient(self.addresses, timeout=wait)
        try:
            return dict(zip(self.ids, client.statuses(wait=wait), strict=True))
        finally:
            client.close()

    def leader(self) -> int | None:
        """The node a majority of answering nodes take for leader in the highest term, if any."""
        answers = [s for s in self.statuses().values() if s is not None]
        if len(answers) <= self.size // 2:
            return None
        top = max(s.term for s in answers)
        leaders = [s.src for s in answers if s.role == "leader" and s.term == top]
        return leaders[0] if len(leaders) == 1 else None

    def wait_leader(self, timeout: float) -> int:
        """Poll until there is a leader; ClusterError naming what was seen if not within ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in self.ids:
                proc = self.procs.get(node)
                if proc is not None and proc.poll() is not None and node not in self.paused:
                    raise ClusterError(f"node {node} exited with {proc.returncode}: {self.stderr_tail(node)}")
            leader = self.leader()
            if leader is not None:
                return leader
            time.sleep(0.05)
        raise ClusterError(f"no leader within {timeout:g} s")

    def stderr_tail(self, node: int) -> str:
        try:
            lines = (self.root / f"node{node}.stderr").read_text(errors="replace").splitlines()
        except OSError:
            return "(no output)"
        return " | ".join(lines[-3:])

    def close(self) -> None:
        """Kill every process started here (paused ones too) and remove the directory."""
        with self._lock:
            self._closed = True
            procs = list(self._all)
        for proc in procs:
            if proc.poll() is None:
                try:
                    proc.kill()  # SIGKILL ends a stopped process too
                except ProcessLookupError:
                    pass
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:  # pragma: no cover - a kernel problem
                pass
        shutil.rmtree(self.root, ignore_errors=True)


def pid_running(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process (for tests of the clean-up)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False
