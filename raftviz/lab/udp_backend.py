"""The ``udp`` backend: every node a real OS process, every message a real datagram.

Each node runs ``python -m raftviz node --lab`` in a data directory of its own
under a temporary lab directory. The lab talks to a node over two channels:

- *control*, the node's standard input and output: length-prefixed msgpack
  frames (``Deliver``, ``Fire``, ... in; ``Report`` out), reliable and ordered;
- *data*, UDP on 127.0.0.1: the lab's router socket sends the node the
  datagram to deliver, and the node sends every datagram it emits to the
  router. So each Raft message really crosses loopback twice (docs/architecture.md, "The life of one event").

A step is synchronous: the lab announces a datagram by its digest, sends it,
and waits for the node's report; then it collects from the router socket
every datagram the report lists, byte for byte, before the step is complete.
Nothing depends on the order in which the kernel hands datagrams over.

No node outlives the lab: ``close`` kills them all, an ``atexit`` hook does
the same on any normal exit, and a node whose standard input closes (the lab
died, even by SIGKILL) exits at once.
"""

from __future__ import annotations

import atexit
import os
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from raftviz.core.config import RaftConfig
from raftviz.core.messages import Message
from raftviz.lab import exits
from raftviz.lab.foreign import Lifetime, Replay, frame_of
from raftviz.lab.options import LabError, NodeStopped, StartRefused
from raftviz.node import storage as node_storage
from raftviz.node.disk import DiskFault
from raftviz.node.driver import Report
from raftviz.node.storage import StorageError
from raftviz.wire import auth, control, datagram
from raftviz.wire.validate import MAX_DATAGRAM, WireError

#: How long the lab waits for a node to answer before declaring it hung.
NODE_TIMEOUT = 20.0
SOCKET_BUFFER = 8 * 1024 * 1024

#: Every backend not closed yet. Strong references: a backend dropped without
#: close() still has processes and a directory, which the atexit hook removes.
_live_backends: set[UdpBackend] = set()


class ProtocolBroken(LabError):
    """A foreign node broke a rule of docs/protocol.md (``rule``, with its section); ``detail`` says how."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}")
        self.rule = rule
        self.detail = detail


#: How many of a stopped foreign node's last standard-error lines its stop message quotes.
STDERR_LINES = 3


class NodeFailed(LabError):
    """A node sent a ``Failure`` frame: it cannot go on (``reason`` is its own words)."""

    def __init__(self, node: int, reason: str) -> None:
        super().__init__(f"node {node} failed: {reason}")
        self.reason = reason


@atexit.register
def close_all() -> None:
    """Close every udp lab not closed yet: its node processes and its directory go.

    Run at exit, and by whoever must exit without it (``os._exit`` on a closed terminal).
    """
    for backend in list(_live_backends):
        backend.close()


@dataclass(frozen=True, slots=True)
class UdpCheckpoint:
    """Every node of a udp lab at one moment: the running ones' state, the others' files.

    Immutable, and never consumed by a restore: it may be restored any number of times.
    """

    #: Each running node's state blob, as its GetState answered (opaque to the lab).
    running: tuple[tuple[int, bytes], ...]
    #: Each stopped node's data directory: its files' names and bytes.
    stopped: tuple[tuple[int, tuple[tuple[str, bytes], ...]], ...]
    joined: frozenset[int]
    #: Every node's disk fault that is not ok.
    disks: tuple[tuple[int, DiskFault], ...] = ()
    #: Each running foreign node: rebuilt by restarting it and replaying (lab/foreign.py).
    replayed: tuple[tuple[int, Replay], ...] = ()
    #: The lab's mirror of each foreign node's log terms (UdpBackend._terms).
    terms: tuple[tuple[int, tuple[int, ...]], ...] = ()

    @property
    def weight(self) -> int:
        """Bytes it holds (the blobs and files): counted against the history's checkpoint budget."""
        return (
            sum(len(blob) for _, blob in self.running)
            + sum(len(data) for _, files in self.stopped for _, data in files)
            + sum(replay.weight for _, replay in self.replayed)
        )


@dataclass(slots=True)
class NodeProcess:
    node: int
    proc: subprocess.Popen[bytes]
    port: int = 0
    pid: int = 0
    buffer: bytearray = field(default_factory=bytearray)
    #: The disk fault this process was last told.
    disk: DiskFault = field(default_factory=DiskFault)


#: Where a udp lab makes its node directories, if set (default: the system's temporary
#: directory, ``$TMPDIR`` included). A real disk by default: the nodes' files are fsync'd
#: as a production node's are. On a machine whose disk makes each fsync slow (about 1 ms
#: here: lesson 12's 500 writes spend most of their time in them), a class may choose RAM,
#: ``RAFTVIZ_LAB_DIR=/dev/shm``: the lab kills processes, never the machine, so what an
#: fsync guards against never happens in a lab, though the fsync is then nearly free.
LAB_DIR_VARIABLE = "RAFTVIZ_LAB_DIR"


def lab_directory_parent() -> str | None:
    """The directory a lab's own directory is made in: ``$RAFTVIZ_LAB_DIR``, else None (the
    system's temporary directory)."""
    return os.environ.get(LAB_DIR_VARIABLE) or None


class UdpBackend:
    """Nodes as real processes talking real UDP through the lab's router."""

    def __init__(
        self,
        peers: tuple[int, ...],
        config: RaftConfig,
        seed: int,
        root: str | None = None,
        commands: dict[int, str] | None = None,
    ) -> None:
        self.peers = peers
        #: Nodes that run a foreign command (``node=``), with it: docs/protocol.md §7 is all
        #: the lab assumes of them, and a node that breaks it is stopped, not trusted.
        self.commands: dict[int, str] = dict(commands or {})
        #: How long the lab waits for a node's frame or datagrams (s).
        self.timeout = NODE_TIMEOUT
        #: Each foreign node's log as its reports describe it (the terms of its entries), to
        #: check every Report against the last one: the lab's picture must stay consistent.
        self._terms: dict[int, list[int]] = {}
        #: Each running foreign process since its start, to rebuild it at a restore.
        self._lives: dict[int, Lifetime] = {}
        self.config = config
        self.seed = seed
        self._own_root = root is None
        with exits.atomic():
            # Known to the atexit hook from the moment the directory exists.
            self.root = root or tempfile.mkdtemp(prefix="raftviz-lab-", dir=lab_directory_parent())
            self.nodes: dict[int, NodeProcess] = {}
            #: Datagrams received from each node's port and not yet claimed by a report.
            self._arrived: dict[int, list[bytes]] = {}
            _live_backends.add(self)
        self.router = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            self.router.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
        self.router.bind(("127.0.0.1", 0))
        self.router_address = self.router.getsockname()
        #: Nodes added to the running cluster: they (re)start with no initial configuration.
        self.joined: set[int] = set()
        #: Datagrams that came from no known node, or without a valid tag (counted, never delivered).
        self.strays = 0
        #: Each node's disk fault (it outlives the node's processes, as a disk would).
        self.disks: dict[int, DiskFault] = {}
        #: This lab's cluster secret: every datagram between the router and a node is tagged
        #: with it, so nothing else on the machine can inject into the cluster. Random, yet
        #: it changes no transcript: tags are added and checked below the lab's view.
        self.secret = os.urandom(32)

    # ------------------------------------------------------------------ lifecycle

    def data_dir(self, node: int) -> str:
        return os.path.join(self.root, f"node{node}")

    def start_all(self, nodes: list[int], now: int) -> list[Report]:
        """Spawn every node at once (Python start-up is the slow part), then greet each."""
        for node in nodes:
            self._spawn(node, 0, now)
        return [self._hello(node) for node in nodes]

    def start(self, node_id: int, incarnation: int, now: int) -> Report:
        self._spawn(node_id, incarnation, now)
        try:
            report = self._hello(node_id)
        except StartRefused:
            raise
        except NodeFailed as exc:
            self.crash(node_id)  # it exits by itself; reap it
            raise StartRefused(node_id, self._relative(node_id, exc.reason)) from None
        fault = self.disks.get(node_id, DiskFault())
        if fault != DiskFault():
            # The start-up report, as the in-process node's: with its disk as it is.
            self._tell_disk(self.nodes[node_id], fault)
            report.disk = fault.text
        return report

    def add(self, node_id: int, now: int) -> Report:
        """A new process with a new, empty data directory (and a disk with no fault) and no configuration."""
        self.joined.add(node_id)
        self.disks.pop(node_id, None)
        self._terms.pop(node_id, None)
        shutil.rmtree(self.data_dir(node_id), ignore_errors=True)
        return self.start(node_id, 0, now)

    def _own(self, node_id: int, what: str, frame: str) -> None:
        """Refuse ``what`` on a foreign node: ``frame`` is optional for it (docs/protocol.md §7)."""
        if node_id in self.commands:
            raise LabError(
                f"node {node_id} runs {self.commands[node_id]!r}: {what} needs the {frame} control frame, "
                "which a foreign node need not implement (docs/protocol.md §7.3)"
            )

    def set_disk(self, node_id: int, fault: DiskFault) -> Report | None:
        self._own(node_id, "a disk fault", "SetDisk")
        self.disks[node_id] = fault
        handle = self.nodes.get(node_id)
        return self._tell_disk(handle, fault) if handle is not None else None

    def _tell_disk(self, handle: NodeProcess, fault: DiskFault) -> Report:
        self._write(handle, control.SetDisk(fault.mode, fault.ms))
        report = self._finish(handle)
        handle.disk = fault
        return report

    def corrupt(self, node_id: int, kind: str, node: int = 0) -> None:
        """Damage the files on disk: the node process meets it, by its own checks, when it starts."""
        if node_id in self.commands:
            raise LabError(f"node {node_id} runs {self.commands[node_id]!r}: its files are its own format")
        try:
            node_storage.damage_directory(self.data_dir(node_id), kind, node)
        except StorageError as exc:
            raise LabError(f"node {node_id}: {exc}") from None

    def _relative(self, node: int, text: str) -> str:
        """``text`` with the node's data directory left out of file names (the same transcript anywhere)."""
        return text.replace(self.data_dir(node) + os.sep, "")

    def _spawn(self, node: int, incarnation: int, now: int) -> None:
        if node in self.nodes:
            raise LabError(f"node {node} is already running")
        cfg = self.config
        os.makedirs(self.data_dir(node), exist_ok=True)
        arguments = [
            "--lab",
            "--id",
            str(node),
            *(("--join",) if node in self.joined else ("--members", ",".join(map(str, self.peers)))),
            "--data",
            self.data_dir(node),
            "--seed",
            str(self.seed),
            "--incarnation",
            str(incarnation),
            "--router",
            f"{self.router_address[0]}:{self.router_address[1]}",
            "--election",
            f"{cfg.election_min}-{cfg.election_max}",
            "--heartbeat",
            str(cfg.heartbeat),
            "--noop",
            "on" if cfg.noop else "off",
            "--batch",
            str(cfg.max_batch),
            "--snapshot",
            str(cfg.snapshot_entries),
            "--snapshot-bytes",
            str(cfg.snapshot_bytes),
            "--chunk",
            str(cfg.snapshot_chunk),
            "--sessions",
            repr(cfg.session_expiry / 1000),  # repr round-trips: the node gets the same ms
            "--now",
            str(now),
            *(("--bug", ",".join(cfg.bugs)) if cfg.bugs else ()),
            *(("--prevote",) if cfg.prevote else ()),
            *(("--checkquorum",) if cfg.check_quorum else ()),
        ]
        foreign = self.commands.get(node)
        if foreign:
            terms = tuple(self._terms.get(node, ()))
            self._lives[node] = Lifetime(_read_files(self.data_dir(node)), incarnation, now, terms)
        # A foreign node gets the same lab-mode arguments (docs/protocol.md §7.1).
        command = (
            [*shlex.split(foreign), *arguments]
            if foreign
            else [sys.executable, "-m", "raftviz", "node", *arguments]
        )
        log = open(os.path.join(self.root, f"node{node}.log"), "ab")  # noqa: SIM115 (owned by the child)
        try:
            # A stop signal waits until the process is recorded, so that close() kills it.
            with exits.atomic():
                try:
                    proc = subprocess.Popen(
                        command,
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=log,
                        # Its own session: a Ctrl-C in the terminal reaches the lab, not
                        # the nodes; the lab decides when they stop.
                        start_new_session=True,
                    )
                except OSError as exc:  # only a foreign command can be missing
                    raise StartRefused(node, f"cannot run {foreign!r}: {exc.strerror or exc}") from None
                self.nodes[node] = NodeProcess(node, proc)
        finally:
            log.close()
        self._arrived.pop(node, None)
        # The first frame, before the node even greets: the secret to tag datagrams with.
        # A node that has died already says why in its Failure, which the lab reads next.
        assert proc.stdin is not None
        try:
            proc.stdin.write(control.encode_frame(control.Secret(self.secret)))
            proc.stdin.flush()
        except OSError:
            pass

    def _hello(self, node: int) -> Report:
        if node in self.commands:
            try:
                return self._checked_hello(node)
            except ProtocolBroken as exc:
                reason = self._broken(node, exc, "its start-up")
                raise StartRefused(node, reason) from None
        return self._checked_hello(node)

    def _checked_hello(self, node: int) -> Report:
        try:
            frame = self._read(self.nodes[node])
        except NodeFailed:
            raise
        except LabError as exc:
            if node not in self.commands:
                raise
            raise ProtocolBroken(*_rule_of(str(exc))) from None
        if not isinstance(frame, control.Hello):
            raise ProtocolBroken(
                "docs/protocol.md §7.4 (start-up: the first frame a node writes is a Hello)",
                f"it wrote {type(frame).__name__}",
            )
        if frame.node != node or frame.report.node != node:
            raise ProtocolBroken(
                "docs/protocol.md §7.3 (Hello: node is the node's id, --id)",
                f"node {node} greeted as node {frame.node} (report of node {frame.report.node})",
            )
        if node in self.commands:
            self._check_log(node, frame.report, hello=True)
        handle = self.nodes[node]
        handle.port, handle.pid = frame.port, frame.pid
        return frame.report

    def pid(self, node: int) -> int:
        handle = self.nodes.get(node)
        return handle.pid if handle else 0

    def crash(self, node_id: int) -> None:
        """SIGKILL, for real; the data directory stays."""
        handle = self.nodes.pop(node_id, None)
        self._lives.pop(node_id, None)
        if handle is None:
            return
        _kill(handle.proc)
        self._arrived.pop(node_id, None)

    # ------------------------------------------------------------------ checkpoints

    def capture(self) -> UdpCheckpoint:
        """Every node as it is now: a running node tells its state, a stopped one's files are read."""
        running = []
        for node in sorted(self.nodes):
            if node in self._lives:
                # GetState/State/LoadState are optional for a foreign node (docs/protocol.md §7.8).
                continue
            handle = self.nodes[node]
            self._write(handle, control.GetState())
            frame = self._read(handle)
            if not isinstance(frame, control.State):
                raise LabError(f"node {node} answered GetState with {type(frame).__name__}")
            running.append((node, frame.blob))
        stopped = [
            (node, _read_files(self.data_dir(node))) for node in self.data_nodes() if node not in self.nodes
        ]
        disks = tuple((node, fault) for node, fault in sorted(self.disks.items()) if fault != DiskFault())
        replayed = tuple((node, life.replay()) for node, life in sorted(self._lives.items()))
        terms = tuple((node, tuple(t)) for node, t in sorted(self._terms.items()))
        return UdpCheckpoint(tuple(running), tuple(stopped), frozenset(self.joined), disks, replayed, terms)

    def restore(self, state: object) -> None:
        """Put every node back as ``capture`` found it, keeping the processes alive at both ends.

        A node running then and now loads its state in place (same pid); one
        running then but not now is started on its data directory and loads
        it; one running now but not then is killed (SIGKILL, as ``crash``),
        and its directory put back as it was, or removed if it had none.
        """
        assert isinstance(state, UdpCheckpoint)
        running = dict(state.running)
        stopped = dict(state.stopped)
        replayed = dict(state.replayed)
        self.joined = set(state.joined)
        self._terms = {node: list(t) for node, t in state.terms}
        for node in sorted(self.nodes):
            # A foreign node cannot load a state: it is always rebuilt (below).
            if node not in running or node in replayed:
                self.crash(node)
        for node in self.data_nodes():
            if node not in running and node not in stopped and node not in replayed:
                shutil.rmtree(self.data_dir(node))
        for node, files in sorted(stopped.items()):
            _write_files(self.data_dir(node), files)
        # Whatever reached the router and was not claimed belongs to the abandoned run.
        self._arrived.clear()
        # Start every missing process before greeting any (Python start-up is the slow part).
        starting = [node for node in sorted(running) if node not in self.nodes]
        for node in starting:
            self._spawn(node, 0, 0)
        for node in starting:
            self._hello(node)
        self.disks = dict(state.disks)
        for node, replay in sorted(replayed.items()):
            self._rebuild(node, replay)
        for node, blob in sorted(running.items()):
            handle = self.nodes[node]
            self._write(handle, control.LoadState(blob))
            self._finish(handle)
            fault = self.disks.get(node, DiskFault())
            if handle.disk != fault:
                self._tell_disk(handle, fault)

    def _rebuild(self, node: int, replay: Replay) -> None:
        """Restart a foreign node on a copy of its data directory as it started, and hand it the
        same inputs again (docs/protocol.md §7.8): what it sends was routed the first time."""
        _write_files(self.data_dir(node), replay.files)
        self._terms[node] = list(replay.terms)
        self._spawn(node, replay.incarnation, replay.now)
        try:
            self._hello(node)
            handle = self.nodes[node]
            for kind, at, data in replay.inputs[: replay.count]:
                self._write(handle, frame_of(kind, at, data))
                if kind == "deliver":
                    self.router.sendto(auth.seal(self.secret, data), ("127.0.0.1", handle.port))
                self._finish(handle, f"the replay of a {kind} at t={at}")
        except (StartRefused, NodeStopped) as exc:
            raise LabError(
                f"node {node} did not run again as it ran the first time (a lab-mode node must be a pure "
                f"function of its directory, arguments and inputs: docs/protocol.md §7.5): {exc}"
            ) from None
        self._lives[node] = replay.life()

    def _note(self, node: int, kind: str, at: int, data: bytes = b"") -> None:
        """Keep a foreign node's input, to hand it again at a restore (lab/foreign.py)."""
        life = self._lives.get(node)
        if life is not None:
            life.inputs.append((kind, at, data))

    def data_nodes(self) -> list[int]:
        """The nodes that have a data directory, ascending."""
        names = os.listdir(self.root)
        return sorted(
            int(name[4:])
            for name in names
            if name.startswith("node") and name[4:].isdigit() and os.path.isdir(os.path.join(self.root, name))
        )

    def close(self) -> None:
        # Every step may be done twice, so a close cut short (a stop signal
        # arriving in the middle of it) is finished by the atexit hook: the
        # backend leaves the live set only once its directory is gone.
        for node in list(self.nodes):
            self.crash(node)
        router = getattr(self, "router", None)  # None: stopped before __init__ made it
        if router is not None:
            router.close()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)
        _live_backends.discard(self)

    # ------------------------------------------------------------------ inputs

    def deliver(self, node_id: int, data: bytes | Message, now: int) -> Report:
        if type(data) is not bytes:  # only in-process nodes send bare messages; never here
            data = datagram.encode(data)
        handle = self._handle(node_id)
        self._note(node_id, "deliver", now, data)
        self._write(handle, control.Deliver(now, control.digest(data)))
        self.router.sendto(auth.seal(self.secret, data), ("127.0.0.1", handle.port))
        return self._finish(handle, f"a Deliver at t={now}")

    def fire_timer(self, node_id: int, now: int) -> Report:
        handle = self._handle(node_id)
        self._note(node_id, "fire", now)
        self._write(handle, control.Fire(now))
        return self._finish(handle, f"a Fire at t={now}")

    def timeout_now(self, node_id: int, now: int) -> Report:
        handle = self._handle(node_id)
        self._note(node_id, "timeout", now)
        self._write(handle, control.ForceTimeout(now))
        return self._finish(handle, f"a ForceTimeout at t={now}")

    def transfer(self, node_id: int, target: int, now: int) -> Report:
        handle = self._handle(node_id)
        self._write(handle, control.Transfer(now, target))
        return self._finish(handle)

    def set_election_deadline(self, node_id: int, deadline: int) -> Report:
        handle = self._handle(node_id)
        self._note(node_id, "election", deadline)
        self._write(handle, control.SetElection(deadline))
        return self._finish(handle, f"a SetElection to t={deadline}")

    def take_snapshot(self, node_id: int, now: int) -> Report:
        self._own(node_id, "a snapshot on command", "TakeSnapshot")
        handle = self._handle(node_id)
        self._write(handle, control.TakeSnapshot(now))
        return self._finish(handle)

    # ------------------------------------------------------------------ plumbing

    def _handle(self, node: int) -> NodeProcess:
        handle = self.nodes.get(node)
        if handle is None:
            raise LabError(f"node {node} has no process")
        return handle

    def _write(self, handle: NodeProcess, frame: control.ControlFrame) -> None:
        assert handle.proc.stdin is not None
        try:
            handle.proc.stdin.write(control.encode_frame(frame))
            handle.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            if handle.node in self.commands:
                # Found out at the next read, which stops the node with its last words.
                return
            raise LabError(self._death_notice(handle)) from None

    def _finish(self, handle: NodeProcess, step: str = "an input") -> Report:
        try:
            if handle.node in self.commands:
                return self._checked_report(handle)
            frame = self._read(handle)
        except NodeFailed as exc:
            # Its disk failed under this input: it has stopped (and exits); reap it.
            self.crash(handle.node)
            raise NodeStopped(handle.node, self._relative(handle.node, exc.reason)) from None
        except ProtocolBroken as exc:
            # A foreign node that broke the protocol is stopped; the lab goes on without it.
            raise NodeStopped(handle.node, self._broken(handle.node, exc, step)) from None
        if not isinstance(frame, Report):
            raise LabError(f"node {handle.node} answered with {type(frame).__name__} instead of a report")
        self._collect(handle, [data for _dst, data in frame.sent])
        return frame

    def _checked_report(self, handle: NodeProcess) -> Report:
        """A foreign node's Report, checked against docs/protocol.md before the lab believes it.

        Anything its own node cannot get wrong is checked here: the frame is a Report, of
        this node, and every datagram it lists is a valid message from this node to the
        destination it names, which reached the router. A LabError of the plumbing (a
        timeout, a closed pipe) becomes the rule it broke.
        """
        try:
            frame = self._read(handle)
        except NodeFailed:
            raise
        except LabError as exc:
            raise ProtocolBroken(*_rule_of(str(exc))) from None
        if not isinstance(frame, Report):
            raise ProtocolBroken(
                "docs/protocol.md §7.5 (each input is answered with exactly one Report)",
                f"it answered with {type(frame).__name__}",
            )
        if frame.node != handle.node:
            raise ProtocolBroken(
                "docs/protocol.md §7.3 (Report field 0, node, is the reporting node)",
                f"node {handle.node} reported as node {frame.node}",
            )
        self._check_log(handle.node, frame, hello=False)
        for position, (dst, data) in enumerate(frame.sent):
            try:
                message = datagram.decode(data)
            except WireError as exc:
                raise ProtocolBroken(
                    "docs/protocol.md §3-§5 (every datagram in a Report's sent is a valid message)",
                    f"sent item {position}: {exc}",
                ) from None
            if message.src != handle.node or message.dst != dst:
                raise ProtocolBroken(
                    "docs/protocol.md §7.3 (sent: the addressee and the datagram, src the node itself)",
                    f"sent item {position} is addressed to {dst!r} but its datagram goes "
                    f"from {message.src!r} to {message.dst!r}",
                )
        try:
            self._collect(handle, [data for _dst, data in frame.sent])
        except LabError as exc:
            raise ProtocolBroken(
                "docs/protocol.md §7.4 step 5 (every datagram in sent reaches the router before the Report)",
                str(exc),
            ) from None
        return frame

    def _check_log(self, node: int, report: Report, hello: bool) -> None:
        """A foreign node's report must describe the log its earlier reports built (§7.3).

        ``log_from`` and ``entries`` are the change; ``last_index``/``last_term`` and
        ``applied`` must agree with the log they give. A node that snapshots is
        trusted on the compacted part (its ``start_index``).
        """
        terms = self._terms.setdefault(node, [])
        rule = "docs/protocol.md §7.3 (Report: log_from and entries change the log the node reported before)"
        if hello and report.log_from:
            raise ProtocolBroken(rule, "a Hello's report has log_from 0")
        if report.log_from:
            if not 1 <= report.log_from <= len(terms) + 1 and report.start_index == 0:
                raise ProtocolBroken(rule, f"log_from {report.log_from} is beyond its log end ({len(terms)})")
            terms = terms[: report.log_from - 1] + [entry.term for entry in report.entries]
        if report.start_index or report.snapshot:
            self._terms[node] = terms  # its log starts after a snapshot: the lab mirrors it as it says
            return
        last_term = terms[-1] if terms else 0
        if (report.last_index, report.last_term) != (len(terms), last_term):
            raise ProtocolBroken(
                rule,
                f"last_index/last_term {report.last_index}/{report.last_term} but its reported log "
                f"gives {len(terms)}/{last_term}",
            )
        if report.applied > report.last_index:
            raise ProtocolBroken(
                "docs/protocol.md §7.3 (Report: applied is an entry of its log)",
                f"applied {report.applied} is beyond its last index {report.last_index}",
            )
        self._terms[node] = terms

    def _broken(self, node: int, exc: ProtocolBroken, step: str) -> str:
        """Stop a foreign node that broke the protocol; the words the lab shows for it."""
        handle = self.nodes.get(node)
        pid = handle.pid if handle else 0
        self.crash(node)
        tail = self._stderr_tail(node, STDERR_LINES)
        words = f"broke {exc.rule} during {step}: {exc.detail}"
        if tail:
            words += "; its last stderr lines: " + " | ".join(tail)
        # The pid changes from run to run: never in the transcript.
        return self._relative(node, words.replace(f"(pid {pid}) ", ""))

    def _read(self, handle: NodeProcess) -> control.ControlFrame:
        """Read one frame from a node's stdout, within NODE_TIMEOUT."""
        assert handle.proc.stdout is not None
        fd = handle.proc.stdout.fileno()
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                frame, used = control.parse_frame(handle.buffer)
            except WireError as exc:
                raise LabError(f"node {handle.node} sent a malformed control frame: {exc}") from None
            if frame is not None:
                del handle.buffer[:used]
                if isinstance(frame, control.Failure):
                    raise NodeFailed(handle.node, frame.reason)
                return frame
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LabError(
                    f"node {handle.node} (pid {handle.pid}) did not answer within {self.timeout:g} s"
                )
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise LabError(self._death_notice(handle))
                handle.buffer += chunk

    def _collect(self, handle: NodeProcess, expected: list[bytes]) -> None:
        """Receive, from the router socket, every datagram the node says it sent."""
        waiting = list(expected)
        arrived = self._arrived.setdefault(handle.node, [])
        deadline = time.monotonic() + self.timeout
        while waiting:
            for data in list(waiting):
                if data in arrived:
                    arrived.remove(data)
                    waiting.remove(data)
            if not waiting:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LabError(f"{len(waiting)} datagram(s) from node {handle.node} never reached the router")
            self.router.settimeout(remaining)
            try:
                data, addr = self.router.recvfrom(MAX_DATAGRAM + auth.TAG_SIZE + 1)
            except TimeoutError:
                continue
            sender = self._node_at(addr)
            message = auth.unseal(self.secret, data)
            if sender is None or message is None:
                self.strays += 1
            else:
                self._arrived.setdefault(sender, []).append(message)

    def _node_at(self, addr: tuple[str, int]) -> int | None:
        if addr[0] != "127.0.0.1":
            return None
        for node, handle in self.nodes.items():
            if handle.port == addr[1]:
                return node
        return None

    def _stderr_tail(self, node: int, count: int) -> list[str]:
        """The last ``count`` non-empty lines the node wrote to its standard error (its log)."""
        try:
            with open(os.path.join(self.root, f"node{node}.log"), encoding="utf-8", errors="replace") as f:
                lines = [line.strip() for line in f.read().splitlines() if line.strip()]
        except OSError:
            return []
        return [line[:200] for line in lines[-count:]]

    def _death_notice(self, handle: NodeProcess) -> str:
        code = handle.proc.poll()
        log_path = os.path.join(self.root, f"node{handle.node}.log")
        tail = ""
        try:
            with open(log_path, encoding="utf-8", errors="replace") as f:
                lines = f.read().strip().splitlines()
            tail = lines[-1] if lines else ""
        except OSError:
            pass
        status = f"exited with code {code}" if code is not None else "closed its control channel"
        return f"node {handle.node} {status}" + (f": {tail}" if tail else "")


def _rule_of(problem: str) -> tuple[str, str]:
    """The rule of docs/protocol.md a plumbing error (``_read``'s LabError) says was broken."""
    if "malformed control frame" in problem:
        return "docs/protocol.md §7.2 (framing)", problem.partition(": ")[2] or problem
    if "did not answer within" in problem:
        return "docs/protocol.md §7.4 (the lab waits for each answer a limited time)", problem
    return "docs/protocol.md §7.5 (each input is answered with exactly one frame)", problem


def _read_files(directory: str) -> tuple[tuple[str, bytes], ...]:
    """The name and bytes of every file in a stopped node's data directory."""
    out = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                out.append((name, f.read()))
    return tuple(out)


def _write_files(directory: str, files: tuple[tuple[str, bytes], ...]) -> None:
    """Make ``directory`` hold exactly ``files``: each written whole and fsync'd, the rest removed.

    A file that already holds the right bytes is left alone: going back a
    little usually finds a stopped node's files unchanged.
    """
    os.makedirs(directory, exist_ok=True)
    wanted = dict(files)
    changed = False
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name not in wanted:
            if os.path.isdir(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
            changed = True
    for name, data in files:
        path = os.path.join(directory, name)
        try:
            with open(path, "rb") as f:
                if f.read() == data:
                    continue
        except FileNotFoundError:
            pass
        tmp = path + ".restoring"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        changed = True
    if changed:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.send_signal(signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass
