"""``raftviz node``: one Raft node as an OS process, on a real UDP socket.

Two clocks (docs/architecture.md, "Time and determinism"):

*Lab mode* (``--lab``): the lab started this process and controls its time.
Control frames arrive on standard input and reports leave on standard output
(length-prefixed msgpack, see ``raftviz.wire.control``); Raft datagrams travel over
UDP between this node and the lab's router. The node never fires a timer on
its own. When standard input closes — the lab exited, crashed or was killed —
the node exits too, so no node outlives its lab.

*Free mode*: real monotonic time, peers at the addresses given with
``--peers``. This is raftviz as a replicated key-value store. Datagrams that
arrive together are handled as one batch and made durable with one fsync
(group commit).

In both modes, bad input never stops the node: a malformed datagram, or one
from an address that is not the sender it claims to be, is dropped and counted;
so is a message the core's guard finds would break an invariant (logged once
per kind). With a cluster secret (``--secret-file``, or the lab's Secret
frame) every datagram is tagged, and one without a valid tag is dropped and
counted apart (``raftviz.wire.auth``).
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import time
from dataclasses import dataclass
from typing import BinaryIO

from raftviz.core.config import RaftConfig
from raftviz.core.messages import ClientRequest, StatusReply, StatusRequest, TransferRequest
from raftviz.node.addresses import unaddressed_member
from raftviz.node.disk import EXIT_DISK_FAILED, Disk, DiskFault, DiskStopped
from raftviz.node.driver import NodeDriver
from raftviz.node.state import StateBlobError
from raftviz.node.storage import DEFAULT_CLUSTER, FileStorage, StorageError
from raftviz.wire import auth, control, datagram
from raftviz.wire.validate import MAX_DATAGRAM, WireError

#: Socket buffers large enough that loopback bursts are not dropped.
SOCKET_BUFFER = 4 * 1024 * 1024
#: Most datagrams read before the free-mode loop handles them and checks its timers.
MAX_READ_BATCH = 512
#: How long a lab-mode node waits for a datagram the lab announced.
ANNOUNCED_WAIT = 10.0
#: The most bytes one datagram may hold: a message and, with a cluster secret, its tag.
RECEIVE_SIZE = MAX_DATAGRAM + auth.TAG_SIZE + 1


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
        except OSError:
            pass
    sock.bind((host, port))
    return sock


def _warn(text: str) -> None:
    print(f"raftviz node: {text}", file=sys.stderr, flush=True)


class _Once:
    """Logs the first occurrence of each kind of trouble, so a flood cannot fill the log."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def violations(self, driver: NodeDriver) -> None:
        """The guard's drops of the latest input, each kind the first time it happens."""
        for violation in driver.violations:
            self.warn(violation.kind, f"dropped a protocol violation: {violation.describe()}")

    def warn(self, kind: str, text: str) -> None:
        if kind not in self.seen:
            self.seen.add(kind)
            _warn(f"{text} (logged once; counted in kv status and the lab's reports)")


def _unusable(data: str, exc: OSError) -> str:
    """Why the data directory cannot be used (a file, a path under a file, no permission...)."""
    where = exc.filename if exc.filename is not None else data
    reason = "exists and is not a directory" if isinstance(exc, FileExistsError) else exc.strerror or exc
    return f"cannot use the data directory {data}: {where}: {reason}"


# ---------------------------------------------------------------------- lab mode


@dataclass(frozen=True, slots=True)
class LabModeArgs:
    node_id: int
    peers: tuple[int, ...]
    config: RaftConfig
    seed: int
    incarnation: int
    data: str
    router: tuple[str, int]
    #: The lab's virtual time at start-up (a restart happens mid-run).
    now: int = 0
    #: The cluster's name, recorded in the data directory's identity.dat.
    cluster: str = DEFAULT_CLUSTER


def run_lab_mode(args: LabModeArgs, stdin: BinaryIO, stdout: BinaryIO) -> int:
    """Serve the lab: one control frame in, one report out, until stdin closes.

    A disk that fails under a write (``disk N fail``, or a real EIO) stops the
    node: it tells the lab why in a ``Failure`` and exits with EXIT_DISK_FAILED.
    """
    try:
        return _serve_lab(args, stdin, stdout)
    except DiskStopped as exc:
        _warn(exc.reason)
        control.write_frame(stdout, control.Failure(exc.reason))
        return EXIT_DISK_FAILED


def _serve_lab(args: LabModeArgs, stdin: BinaryIO, stdout: BinaryIO) -> int:
    try:
        storage = FileStorage(args.data, warn=_warn, identity=(args.cluster, args.node_id))
        driver = NodeDriver(
            args.node_id, args.peers, args.config, args.seed, args.incarnation, storage, args.now
        )
    except StorageError as exc:
        control.write_frame(stdout, control.Failure(str(exc)))
        return 3
    except OSError as exc:
        control.write_frame(stdout, control.Failure(_unusable(args.data, exc)))
        return 3
    sock = _bind("127.0.0.1", 0)
    router = args.router
    stash: dict[bytes, list[bytes]] = {}
    #: The lab's cluster secret, from its Secret frame (the first it sends); b"" until then.
    secret = b""
    once = _Once()
    control.write_frame(
        stdout, control.Hello(args.node_id, os.getpid(), sock.getsockname()[1], driver.start())
    )
    while True:
        try:
            frame = control.read_frame(stdin)
        except WireError as exc:
            _warn(f"bad control frame: {exc}")
            return 4
        if frame is None:
            return 0  # the lab is gone
        if isinstance(frame, control.Secret):
            secret = frame.secret
            continue
        if isinstance(frame, control.Deliver):
            data = _await_datagram(sock, router, frame.digest, stash, driver, secret)
            if data is None:
                control.write_frame(stdout, control.Failure(f"datagram {frame.digest.hex()} never arrived"))
                return 5
            report = driver.deliver(data, frame.now)
        elif isinstance(frame, control.Fire):
            report = driver.fire_timer(frame.now)
        elif isinstance(frame, control.ForceTimeout):
            report = driver.timeout_now(frame.now)
        elif isinstance(frame, control.Transfer):
            report = driver.transfer(frame.target, frame.now)
        elif isinstance(frame, control.SetElection):
            report = driver.set_election_deadline(frame.deadline)
        elif isinstance(frame, control.TakeSnapshot):
            report = driver.take_snapshot(frame.now)
        elif isinstance(frame, control.SetDisk):
            report = driver.set_disk(DiskFault(frame.mode, frame.ms))
        elif isinstance(frame, control.GetState):
            control.write_frame(stdout, control.State(driver.get_state()))
            continue
        elif isinstance(frame, control.LoadState):
            try:
                report = driver.load_state(frame.blob)
            except (StateBlobError, StorageError, OSError) as exc:
                control.write_frame(stdout, control.Failure(f"cannot load the state: {exc}"))
                return 6
            # Datagrams kept for announcements of the abandoned run will never be announced.
            stash.clear()
        elif isinstance(frame, control.Shutdown):
            return 0
        else:
            _warn(f"unexpected control frame {type(frame).__name__}")
            continue
        once.violations(driver)
        # Durable already (the driver saved and fsync'd); now the datagrams leave.
        for _dst, data in report.sent:
            sock.sendto(auth.seal(secret, data) if secret else data, router)
        control.write_frame(stdout, report)


def _await_datagram(
    sock: socket.socket,
    router: tuple[str, int],
    digest: bytes,
    stash: dict[bytes, list[bytes]],
    driver: NodeDriver,
    secret: bytes,
) -> bytes | None:
    """The datagram the lab announced, taking others from the router into the stash.

    With a secret, a datagram's tag is checked and removed first: the digest is the message's.
    """
    deadline = time.monotonic() + ANNOUNCED_WAIT
    while not stash.get(digest):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        sock.settimeout(remaining)
        try:
            data, addr = sock.recvfrom(RECEIVE_SIZE)
        except TimeoutError:
            return None
        if addr != router:
            # Only the lab's router may talk to a lab-mode node.
            driver.refuse(f"datagram from {addr[0]}:{addr[1]}, which is not the lab's router")
            continue
        if secret:
            message = auth.unseal(secret, data)
            if message is None:
                driver.unauthenticated += 1
                continue
            data = message
        stash.setdefault(control.digest(data), []).append(data)
    data = stash[digest].pop(0)
    if not stash[digest]:
        del stash[digest]
    return data


# ---------------------------------------------------------------------- free mode


@dataclass(frozen=True, slots=True)
class FreeModeArgs:
    node_id: int
    peers: dict[int, tuple[str, int]]
    config: RaftConfig
    seed: int
    data: str
    allow_public: bool = False
    #: The initial voters (every node in ``peers`` unless told otherwise; () to join later).
    members: tuple[int, ...] | None = None
    #: A disk fault from the start (``--disk``, for tests): every write after start-up meets it.
    disk: DiskFault | None = None
    #: The cluster secret (``--secret-file``): b"" for none, else every datagram is tagged.
    secret: bytes = b""
    #: The cluster's name, recorded in the data directory's identity.dat.
    cluster: str = DEFAULT_CLUSTER


def run_free_mode(args: FreeModeArgs) -> int:
    """Run as a real replicated key-value store, on the wall clock.

    A disk that fails under a write stops the node with EXIT_DISK_FAILED, saying why.
    """
    try:
        return _serve_free(args)
    except DiskStopped as exc:
        _warn(exc.reason)
        return EXIT_DISK_FAILED


def _serve_free(args: FreeModeArgs) -> int:
    host, port = args.peers[args.node_id]
    if host not in ("127.0.0.1", "localhost", "::1") and not args.allow_public:
        _warn(f"refusing to bind {host}: only loopback unless --allow-public is given")
        return 2
    try:
        storage = FileStorage(
            args.data, warn=_warn, disk=Disk(sleep=True), identity=(args.cluster, args.node_id)
        )
        start = time.monotonic()
        # Free mode runs on the wall clock and is not reproducible anyway; a
        # fresh incarnation per start keeps a restarted node's timers fresh.
        members = tuple(sorted(args.peers)) if args.members is None else args.members
        driver = NodeDriver(args.node_id, members, args.config, args.seed, os.getpid(), storage, 0)
    except StorageError as exc:
        _warn(str(exc))
        return 3
    except OSError as exc:
        _warn(_unusable(args.data, exc))
        return 3
    if args.disk is not None:
        storage.disk.set(args.disk)
        _warn(f"disk fault from the start: {args.disk.text}")
    try:
        sock = _bind(host, port)
    except OSError as exc:
        _warn(f"cannot bind {host}:{port}: {exc}")
        return 2
    sock.setblocking(False)
    addresses = {nid: (socket.gethostbyname(h), p) for nid, (h, p) in args.peers.items()}
    clients: dict[str, tuple[str, int]] = {}
    secret = args.secret
    once = _Once()
    tagged = " with a cluster secret" if secret else ""
    _warn(f"node {args.node_id} listening on {host}:{port}{tagged} (pid {os.getpid()})")

    def now() -> int:
        return int((time.monotonic() - start) * 1000)

    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # SIGTERM (and SIGINT, even where a shell started us with it ignored) stop the node cleanly.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def transmit(datagrams: list[tuple[object, bytes]]) -> None:
        for dst, data in datagrams:
            target = addresses.get(dst) if isinstance(dst, int) else clients.get(dst)  # type: ignore[call-overload]
            if target is not None:
                try:
                    sock.sendto(auth.seal(secret, data) if secret else data, target)
                except OSError:
                    pass  # a full buffer is a lost datagram; Raft retries

    driver.start()
    try:
        while True:
            wait = max(0.0, (driver.core.next_deadline() - now()) / 1000)
            readable, _, _ = select.select([sock], [], [], wait)
            batch = []
            if readable:
                # Bounded by datagrams read, accepted or not, so that a flood
                # (even of garbage) cannot keep the node from its timers.
                for _ in range(MAX_READ_BATCH):
                    try:
                        data, addr = sock.recvfrom(RECEIVE_SIZE)
                    except BlockingIOError:
                        break
                    if secret:
                        message = auth.unseal(secret, data)
                        if message is None:
                            # Counted apart from malformed datagrams, and never answered.
                            driver.unauthenticated += 1
                            once.warn(
                                "unauthenticated",
                                f"dropped a datagram from {addr[0]}:{addr[1]} without a valid tag "
                                "(does its sender use the same --secret-file?)",
                            )
                            continue
                        data = message
                    msg = _admit(data, addr, addresses, clients, driver)
                    refusal = unaddressed_member(msg, args.node_id, addresses)
                    if refusal is not None:
                        transmit([(refusal.dst, datagram.encode(refusal))])
                        continue
                    if isinstance(msg, StatusRequest):
                        _answer_status(sock, addr, msg, driver, secret)
                    elif msg is not None:
                        batch.append(msg)
            if batch:
                transmit(driver.step_many(batch, now(), send_early=transmit).sent)
                once.violations(driver)
            # Timers are checked after every batch, not only when the socket is quiet.
            if now() >= driver.core.next_deadline():
                transmit(driver.fire_timer(now(), send_early=transmit).sent)
    except KeyboardInterrupt:
        return 0
    finally:
        storage.close()


def _answer_status(
    sock: socket.socket, addr: tuple[str, int], msg: StatusRequest, driver: NodeDriver, secret: bytes
) -> None:
    core = driver.core
    reply = StatusReply(
        src=core.id,
        dst=msg.src,
        role=core.role,
        term=core.current_term,
        vote=core.voted_for,
        leader=core.leader_id,
        commit=core.commit_index,
        applied=core.last_applied,
        last_index=core.log.last_index,
        dropped=driver.dropped,
        configuration=core.configuration.to_value(),
        snapshot_index=core.log.start_index,
        unauthenticated=driver.unauthenticated,
        violations=tuple(sorted(core.violation_counts.items())),
        recovering=core.recovering,
    )
    data = datagram.encode(reply)
    try:
        sock.sendto(auth.seal(secret, data) if secret else data, addr)
    except OSError:
        pass


def _admit(
    data: bytes,
    addr: tuple[str, int],
    addresses: dict[int, tuple[str, int]],
    clients: dict[str, tuple[str, int]],
    driver: NodeDriver,
) -> object | None:
    """Decode a datagram and check its sender; None (counted) if refused."""
    try:
        msg = datagram.decode(data)
    except WireError as exc:
        driver.refuse(str(exc))
        return None
    if isinstance(msg, ClientRequest | StatusRequest | TransferRequest):
        clients[msg.src] = addr
        if len(clients) > 10_000:
            clients.pop(next(iter(clients)))
        return msg
    src = getattr(msg, "src", None)
    if not isinstance(src, int) or addresses.get(src) != addr:
        driver.refuse(f"{type(msg).__name__} claims to be from node {src} but came from {addr[0]}:{addr[1]}")
        return None
    return msg
