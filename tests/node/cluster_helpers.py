"""Free-mode clusters of real ``raftviz node`` processes, for the UDP tests.

A :class:`FreeCluster` starts N nodes exactly as a user would (``python -m
raftviz node --id I --peers 1=127.0.0.1:P1,... --data DIR``) on free loopback
ports, each with its own data directory and its standard error in a file, and
can stop, SIGKILL and restart any of them on its data directory.

Free mode runs on the wall clock (docs/architecture.md, "Time and determinism"), so the only way to wait for
something here is :func:`wait_for`: poll a condition until it holds or a
generous deadline passes. Nothing sleeps to wait for a result.

Every process started here is SIGKILLed and reaped by the ``free_cluster``
fixture's finalizer, whatever the outcome of the test, and by an ``atexit``
hook should a cluster outlive its test (an interrupted session, say).

Use it from a test module with ``from cluster_helpers import free_cluster``
(pytest puts ``tests/`` on ``sys.path``; ``tests`` has no ``__init__.py``).
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

from raftviz.core.messages import StatusReply
from raftviz.lab.torture.cluster import free_udp_ports  # noqa: F401 - re-exported for the tests
from raftviz.node.client import KVClient

T = TypeVar("T")

#: How a node is started: the documented command, through this interpreter.
RAFTVIZ = [sys.executable, "-m", "raftviz"]
#: Generous: a loaded 2-core machine can take a while to start an interpreter.
START_TIMEOUT = 20.0
LEADER_TIMEOUT = 10.0
#: How long one round of status requests waits for the nodes it asked.
STATUS_WAIT = 0.3

_live_clusters: weakref.WeakSet[FreeCluster] = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:
    for cluster in list(_live_clusters):
        cluster.close()


def wait_for(
    condition: Callable[[], T],
    timeout: float,
    what: str | Callable[[], str],
    interval: float = 0.02,
) -> T:
    """Poll ``condition`` until it returns something truthy; return that.

    Raises ``AssertionError`` naming ``what`` (a string, or a function giving
    one, called only on failure, so it can describe the state at that moment)
    if the deadline passes first.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = what() if callable(what) else what
            raise AssertionError(f"not within {timeout:g} s: {text}")
        time.sleep(interval)


@dataclass
class FreeNode:
    """One node of a free-mode cluster and its current process (if any)."""

    id: int
    port: int
    data: Path
    stderr_path: Path
    proc: subprocess.Popen[bytes] | None = None
    #: Every pid this node has had, oldest first.
    pids: list[int] = field(default_factory=list)
    starts: int = 0

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class FreeCluster:
    """N free-mode nodes on loopback, started as real OS processes."""

    def __init__(
        self,
        root: Path,
        size: int = 3,
        election: tuple[int, int] = (150, 300),
        heartbeat: int = 50,
        extra_args: Iterable[str] = (),
        secret: bytes = b"",
    ) -> None:
        """With ``secret``, every node gets ``--secret-file`` (a file of it, mode 0600) and the
        cluster's own clients (statuses, ``client()``) tag their datagrams with it."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.election = election
        self.heartbeat = heartbeat
        self.extra_args = list(extra_args)
        self.secret = secret
        if secret:
            self.secret_file = self.root / "secret"
            self.secret_file.write_bytes(secret)
            self.secret_file.chmod(0o600)
            self.extra_args += ["--secret-file", str(self.secret_file)]
        ports = free_udp_ports(size)
        self.nodes: dict[int, FreeNode] = {
            i: FreeNode(i, port, self.root / f"node{i}", self.root / f"node{i}.stderr")
            for i, port in enumerate(ports, start=1)
        }
        _live_clusters.add(self)

    # ------------------------------------------------------------------ addresses

    @property
    def ids(self) -> list[int]:
        return sorted(self.nodes)

    @property
    def peers_arg(self) -> str:
        """The ``--peers`` value: ``1=127.0.0.1:P1,2=...``."""
        return ",".join(f"{i}=127.0.0.1:{self.nodes[i].port}" for i in self.ids)

    @property
    def cluster_arg(self) -> str:
        """The ``raftviz kv --cluster`` value: ``127.0.0.1:P1,...`` in id order."""
        return ",".join(f"127.0.0.1:{self.nodes[i].port}" for i in self.ids)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Node addresses in id order (what ``KVClient`` expects: index i is node i+1)."""
        return [self.nodes[i].address for i in self.ids]

    def node_command(self, node_id: int) -> list[str]:
        node = self.nodes[node_id]
        lo, hi = self.election
        return [
            *RAFTVIZ,
            "node",
            "--id",
            str(node_id),
            "--peers",
            self.peers_arg,
            "--data",
            str(node.data),
            "--election",
            f"{lo}-{hi}",
            "--heartbeat",
            str(self.heartbeat),
            *self.extra_args,
        ]

    # ------------------------------------------------------------------ processes

    def start(self, node_id: int) -> FreeNode:
        """Start (or restart, on the same data directory) one node; do not wait for it."""
        node = self.nodes[node_id]
        if node.alive:
            raise RuntimeError(f"node {node_id} is already running (pid {node.proc.pid})")
        if node.proc is not None:
            node.proc.wait()
        with open(node.stderr_path, "ab") as err:
            err.write(f"--- start {node.starts + 1}\n".encode())
            err.flush()
            node.proc = subprocess.Popen(
                self.node_command(node_id),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        node.starts += 1
        node.pids.append(node.proc.pid)
        return node

    def start_all(self, wait: bool = True) -> None:
        for node_id in self.ids:
            self.start(node_id)
        if wait:
            self.wait_ready(self.ids)

    def wait_ready(self, ids: Iterable[int], timeout: float = START_TIMEOUT) -> None:
        """Wait until every one of ``ids`` answers a status request."""
        ids = list(ids)

        def answered() -> bool:
            for node_id in ids:
                if not self.nodes[node_id].alive:
                    raise AssertionError(f"node {node_id} exited at start:\n{self.stderr_tail(node_id)}")
            return all(s is not None for s in self.statuses(ids).values())

        wait_for(answered, timeout, lambda: f"nodes {ids} answering status:\n{self.describe()}")

    def kill(self, node_id: int) -> None:
        """SIGKILL one node (a crash) and reap it."""
        node = self.nodes[node_id]
        if node.proc is not None:
            if node.proc.poll() is None:
                node.proc.send_signal(signal.SIGKILL)
            node.proc.wait(timeout=30)

    def stop(self, node_id: int, timeout: float = 10.0) -> None:
        """Stop one node politely (SIGINT, which free mode handles), SIGKILL if it lingers."""
        node = self.nodes[node_id]
        if node.proc is None or node.proc.poll() is not None:
            return
        node.proc.send_signal(signal.SIGINT)
        try:
            node.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(node_id)

    def restart(self, node_id: int) -> FreeNode:
        self.kill(node_id)
        return self.start(node_id)

    def close(self) -> None:
        """SIGKILL every process this cluster ever started and wait for each."""
        for node in self.nodes.values():
            if node.proc is not None and node.proc.poll() is None:
                try:
                    node.proc.send_signal(signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for node in self.nodes.values():
            if node.proc is not None:
                try:
                    node.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:  # pragma: no cover - a kernel problem
                    pass
        _live_clusters.discard(self)

    def live_ids(self) -> list[int]:
        return [i for i in self.ids if self.nodes[i].alive]

    # ------------------------------------------------------------------ state

    def client(self, timeout: float = 5.0) -> KVClient:
        """A client of the whole cluster (the caller closes it)."""
        return KVClient(self.addresses, timeout=timeout, secret=self.secret)

    def statuses(
        self, ids: Iterable[int] | None = None, wait: float = STATUS_WAIT
    ) -> dict[int, StatusReply | None]:
        """Each node's answer to one status request (None: no answer within ``wait``).

        A fresh client socket each time, so that a late answer to an earlier
        round can never pass for a fresh one.
        """
        ids = self.ids if ids is None else list(ids)
        if not ids:
            return {}
        client = KVClient([self.nodes[i].address for i in ids], timeout=wait, secret=self.secret)
        try:
            answers = client.statuses(wait=wait)
        finally:
            client.close()
        return dict(zip(ids, answers, strict=True))

    def leader(self, ids: Iterable[int] | None = None) -> StatusReply | None:
        """The leader, if the live nodes agree on one right now.

        That is: among the nodes asked (default: the live ones) that answered,
        exactly one is leader in the highest term any of them reports, and a
        majority of the cluster answered.
        """
        answers = [s for s in self.statuses(self.live_ids() if ids is None else ids).values() if s]
        if len(answers) <= len(self.nodes) // 2:
            return None
        top = max(s.term for s in answers)
        leaders = [s for s in answers if s.role == "leader" and s.term == top]
        return leaders[0] if len(leaders) == 1 else None

    def agreed_leader(self) -> StatusReply | None:
        """The leader's status once every node answers and all agree on the leader and the term."""
        statuses = list(self.statuses().values())
        if any(s is None for s in statuses):
            return None
        if len({(s.leader, s.term) for s in statuses if s is not None}) != 1:
            return None
        leaders = [s for s in statuses if s is not None and s.role == "leader"]
        if len(leaders) != 1 or leaders[0].leader != leaders[0].src:
            return None
        return leaders[0]

    def wait_agreed_leader(self, timeout: float = LEADER_TIMEOUT) -> StatusReply:
        """Poll until every node follows one leader in one term (a settled cluster)."""
        return wait_for(self.agreed_leader, timeout, lambda: f"an agreed leader\n{self.describe()}")

    def wait_leader(self, timeout: float = LEADER_TIMEOUT, newer_than: int = -1) -> StatusReply:
        """Poll until there is a leader (in a term above ``newer_than``); return its status."""

        def found() -> StatusReply | None:
            status = self.leader()
            return status if status is not None and status.term > newer_than else None

        return wait_for(found, timeout, lambda: f"a leader in a term above {newer_than}\n{self.describe()}")

    # ------------------------------------------------------------------ diagnostics

    def stderr_tail(self, node_id: int, lines: int = 15) -> str:
        try:
            text = self.nodes[node_id].stderr_path.read_text(errors="replace")
        except OSError:
            return "(no stderr file)"
        return "\n".join(f"    {line}" for line in text.splitlines()[-lines:])

    def describe(self) -> str:
        """One line per node (process state and status), then each node's stderr tail."""
        out = []
        statuses = self.statuses(wait=0.2)
        for node_id in self.ids:
            node = self.nodes[node_id]
            proc = "no process"
            if node.proc is not None:
                code = node.proc.poll()
                proc = f"pid {node.proc.pid} " + ("running" if code is None else f"exited {code}")
            out.append(f"  node {node_id} ({proc}): {statuses.get(node_id)}")
        for node_id in self.ids:
            out.append(f"  stderr of node {node_id}:\n{self.stderr_tail(node_id)}")
        return "\n".join(out)


def run_kv(
    cluster: FreeCluster | str, *args: str, timeout: float | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``raftviz kv --cluster ... ARGS`` for real; (the completed process, seconds it took)."""
    target = cluster if isinstance(cluster, str) else cluster.cluster_arg
    command = [*RAFTVIZ, "kv", "--cluster", target]
    if timeout is not None:
        command += ["--timeout", f"{timeout:g}"]
    command += list(args)
    began = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return done, time.monotonic() - began


def raftviz_node_pids() -> set[int]:
    """Pids of every ``raftviz node`` process on the machine (a leak check, not a kill list)."""
    out = subprocess.run(["pgrep", "-f", "raftviz node"], capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()} - {os.getpid()}


@pytest.fixture
def free_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., FreeCluster]:
    """A factory of started free-mode clusters, all of them SIGKILLed and reaped at teardown.

    ``free_cluster(size=3, election=(150, 300), heartbeat=50, start=True)``
    returns a :class:`FreeCluster` whose nodes all answer status requests
    (``start=False``: nothing started yet).
    """
    made: list[FreeCluster] = []

    def finalize() -> None:
        for cluster in made:
            cluster.close()
        leaked = [
            pid for cluster in made for node in cluster.nodes.values() for pid in node.pids if _running(pid)
        ]
        assert not leaked, f"node processes outlived their test: {leaked}"

    request.addfinalizer(finalize)

    def make(size: int = 3, start: bool = True, **options: object) -> FreeCluster:
        cluster = FreeCluster(tmp_path / f"cluster{len(made) + 1}", size, **options)  # type: ignore[arg-type]
        made.append(cluster)
        if start:
            cluster.start_all()
        return cluster

    return make


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False
