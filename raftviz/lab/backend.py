"""The interface between the lab and the nodes it controls, and the in-process backend.

A backend hosts the nodes. The lab asks it to start, crash and restart a
node, and to hand a node one input at a time (a datagram, a timer firing);
every call returns the node's ``Report`` once the node has finished with the
input. The ``inprocess`` backend runs each node's driver inside the lab's
process with memory storage; the ``udp`` backend runs real processes. Both
run the same driver, so both give the same reports.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Protocol

from raftviz.core.config import RaftConfig
from raftviz.core.messages import Message
from raftviz.lab.options import LabError, LabOptions, NodeStopped, StartRefused
from raftviz.node import storage as files
from raftviz.node.disk import DiskFault, DiskStopped
from raftviz.node.driver import MemoryStorage, NodeDriver, Report
from raftviz.node.storage import StorageError


class Backend(Protocol):
    """What the lab needs from whatever hosts the nodes."""

    def start_all(self, nodes: list[int], now: int) -> list[Report]:
        """Start a fresh cluster's nodes; their reports in the same order."""
        ...

    def start(self, node_id: int, incarnation: int, now: int) -> Report:
        """Start (or restart, on its existing storage) one node."""
        ...

    def add(self, node_id: int, now: int) -> Report:
        """Start a new node with empty storage and no configuration (it joins a running cluster)."""
        ...

    def crash(self, node_id: int) -> None:
        """Stop a node at once; its persistent state stays."""
        ...

    def deliver(self, node_id: int, data: bytes | Message, now: int) -> Report:
        """Hand one datagram to a live node (or, in-process, the message a node sent: ``Flight.payload``)."""
        ...

    def fire_timer(self, node_id: int, now: int) -> Report:
        """Tell a live node that its deadline has come."""
        ...

    def timeout_now(self, node_id: int, now: int) -> Report:
        """Force a live node's election timeout."""
        ...

    def set_election_deadline(self, node_id: int, deadline: int) -> Report:
        """Move a live node's election timer."""
        ...

    def transfer(self, node_id: int, target: int, now: int) -> Report:
        """Ask a live node (the leader) to hand leadership to ``target``."""
        ...

    def take_snapshot(self, node_id: int, now: int) -> Report:
        """Make a live node snapshot its state machine and compact its log now."""
        ...

    def set_disk(self, node_id: int, fault: DiskFault) -> Report | None:
        """Give a node's disk this fault (it outlives restarts): a live node's report, else None."""
        ...

    def corrupt(self, node_id: int, kind: str, node: int = 0) -> None:
        """Damage a stopped node's files at rest: ``kind`` as ``corrupt N KIND`` (``id``: name ``node``)."""
        ...

    def close(self) -> None:
        """Stop every node and release every resource."""
        ...


#: Datagrams whose decoded message the in-process backend keeps (oldest forgotten first).
DECODED_CACHE = 4096


class DecodedMessages:
    """Datagram -> the message it encodes, for datagrams encoded lately in this process.

    Bounded (the oldest are forgotten), and a pure function of the bytes, so a
    stale entry is never wrong and it needs no part in a checkpoint.
    """

    __slots__ = ("_messages",)

    def __init__(self) -> None:
        self._messages: dict[bytes, Message] = {}

    def __deepcopy__(self, memo: dict[int, object]) -> DecodedMessages:
        # Shared, never copied: a checkpoint of the lab (raftviz.lab.checkpoint) copies
        # every field of the lab, and what this holds is true of the bytes whatever
        # the lab's state, so the restored lab keeps using the backend's.
        return self

    def get(self, data: bytes) -> Message | None:
        return self._messages.get(data)

    def put(self, data: bytes, msg: Message) -> None:
        """Remember that ``data`` is ``datagram.encode(msg)``."""
        messages = self._messages
        messages[data] = msg
        if len(messages) > DECODED_CACHE:
            del messages[next(iter(messages))]


class InProcessBackend:
    """Nodes as drivers inside this process, with storage kept across crashes.

    A node's messages are handed on as they are, not encoded and decoded again
    (its drivers' ``encode_sent`` is off): the codec round-trips every message
    exactly (tests/wire/test_wire.py), so the receiver gets what a udp node
    would decode, and the lab encodes a message only when its bytes are asked
    for (``Flight.data``). On the udp backend every one is encoded, and the
    transcript tests run on both. A datagram (a client's request, or one forged
    by the lab) is decoded, unless it is in ``decoded``: the lab puts its
    clients' requests there with their messages.
    """

    def __init__(self, peers: tuple[int, ...], config: RaftConfig, seed: int) -> None:
        self.peers = peers
        self.config = config
        self.seed = seed
        self.storage: dict[int, MemoryStorage] = {}
        self.drivers: dict[int, NodeDriver] = {}
        #: Nodes added to the running cluster: they (re)start with no initial configuration.
        self.joined: set[int] = set()
        #: The messages of the datagrams nodes (and the lab's clients) sent lately.
        self.decoded = DecodedMessages()

    def start_all(self, nodes: list[int], now: int) -> list[Report]:
        return [self.start(node, 0, now) for node in nodes]

    def start(self, node_id: int, incarnation: int, now: int) -> Report:
        storage = self._storage(node_id)
        members = () if node_id in self.joined else self.peers
        try:
            driver = NodeDriver(node_id, members, self.config, self.seed, incarnation, storage, now)
        except StorageError as exc:
            raise StartRefused(node_id, str(exc)) from None
        driver.encode_sent = False
        self.drivers[node_id] = driver
        return driver.start()

    def add(self, node_id: int, now: int) -> Report:
        self.joined.add(node_id)
        self.storage[node_id] = MemoryStorage((files.DEFAULT_CLUSTER, node_id))
        return self.start(node_id, 0, now)

    def take_snapshot(self, node_id: int, now: int) -> Report:
        return self._input(node_id, NodeDriver.take_snapshot, now)

    def crash(self, node_id: int) -> None:
        self.drivers.pop(node_id, None)

    def deliver(self, node_id: int, data: bytes | Message, now: int) -> Report:
        if type(data) is not bytes:
            return self._input(node_id, NodeDriver.step_many, [data], now)
        msg = self.decoded.get(data)
        if msg is None:
            return self._input(node_id, NodeDriver.deliver, data, now)
        return self._input(node_id, NodeDriver.step_many, [msg], now)

    def fire_timer(self, node_id: int, now: int) -> Report:
        return self._input(node_id, NodeDriver.fire_timer, now)

    def timeout_now(self, node_id: int, now: int) -> Report:
        return self._input(node_id, NodeDriver.timeout_now, now)

    def transfer(self, node_id: int, target: int, now: int) -> Report:
        return self._input(node_id, NodeDriver.transfer, target, now)

    def _input(self, node_id: int, call: Callable[..., Report], *args: object) -> Report:
        """One input to a live node, ``call(driver, *args)`` (a NodeDriver method: no closure
        to make for each of the lab's events); a node whose disk failed under it is stopped,
        as its process would."""
        driver = self.drivers[node_id]
        try:
            report = call(driver, *args)
        except DiskStopped as exc:
            self.crash(node_id)
            raise NodeStopped(node_id, exc.reason) from None
        return report

    def set_disk(self, node_id: int, fault: DiskFault) -> Report | None:
        self._storage(node_id).disk.set(fault)
        driver = self.drivers.get(node_id)
        return driver.set_disk(fault) if driver is not None else None

    def corrupt(self, node_id: int, kind: str, node: int = 0) -> None:
        try:
            self._storage(node_id).corrupt(kind, node)
        except StorageError as exc:
            raise LabError(f"node {node_id}: {exc}") from None

    def _storage(self, node_id: int) -> MemoryStorage:
        if node_id not in self.storage:
            self.storage[node_id] = MemoryStorage((files.DEFAULT_CLUSTER, node_id))
        return self.storage[node_id]

    def set_election_deadline(self, node_id: int, deadline: int) -> Report:
        return self.drivers[node_id].set_election_deadline(deadline)

    def capture(self) -> object:
        """Every node's driver (core and volatile state) and storage, for a checkpoint."""
        return copy.deepcopy((self.drivers, self.storage, self.joined))

    def restore(self, state: object) -> None:
        """Put every node back as ``capture`` found it (the checkpoint is not consumed)."""
        drivers, storage, joined = copy.deepcopy(state)  # type: ignore[misc]
        self.drivers, self.storage, self.joined = drivers, storage, joined

    def close(self) -> None:
        self.drivers.clear()


def make_backend(options: LabOptions) -> Backend:
    """The backend ``options.backend`` names, for a fresh cluster of ``options.nodes``."""
    ids = tuple(range(1, options.nodes + 1))
    foreign = options.node_commands()
    if options.backend == "inprocess":
        if foreign:
            raise LabError(
                "node= runs a node command as a real process: it needs the udp backend "
                "(backend=udp, or drop --backend inprocess)"
            )
        return InProcessBackend(ids, options.raft_config(), options.seed)
    if options.backend == "udp":
        from raftviz.lab.udp_backend import UdpBackend  # real processes: only when asked for

        return UdpBackend(ids, options.raft_config(), options.seed, commands=foreign)
    raise ValueError(f"unknown backend {options.backend!r}")
