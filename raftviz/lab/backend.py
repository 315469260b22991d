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

    def deliver(self, node_id: int, data: bytes, now: int) -> Report:
        """Hand one datagram to a live node."""
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

    def corrupt(self, node_id: int, name: str) -> None:
        """Flip a byte at rest in a stopped node's file ``name`` (raft.dat or snapshot.dat)."""
        ...

    def close(self) -> None:
        """Stop every node and release every resource."""
        ...


class InProcessBackend:
    """Nodes as drivers inside this process, with storage kept across crashes."""

    def __init__(self, peers: tuple[int, ...], config: RaftConfig, seed: int) -> None:
        self.peers = peers
        self.config = config
        self.seed = seed
        self.storage: dict[int, MemoryStorage] = {}
        self.drivers: dict[int, NodeDriver] = {}
        #: Nodes added to the running cluster: they (re)start with no initial configuration.
        self.joined: set[int] = set()

    def start_all(self, nodes: list[int], now: int) -> list[Report]:
        return [self.start(node, 0, now) for node in nodes]

    def start(self, node_id: int, incarnation: int, now: int) -> Report:
        storage = self.storage.setdefault(node_id, MemoryStorage())
        members = () if node_id in self.joined else self.peers
        try:
            driver = NodeDriver(node_id, members, self.config, self.seed, incarnation, storage, now)
        except StorageError as exc:
            raise StartRefused(node_id, str(exc)) from None
        self.drivers[node_id] = driver
        return driver.start()

    def add(self, node_id: int, now: int) -> Report:
        self.joined.add(node_id)
        self.storage[node_id] = MemoryStorage()
        return self.start(node_id, 0, now)

    def take_snapshot(self, node_id: int, now: int) -> Report:
        return self._input(node_id, lambda d: d.take_snapshot(now))

    def crash(self, node_id: int) -> None:
        self.drivers.pop(node_id, None)

    def deliver(self, node_id: int, data: bytes, now: int) -> Report:
        return self._input(node_id, lambda d: d.deliver(data, now))

    def fire_timer(self, node_id: int, now: int) -> Report:
        return self._input(node_id, lambda d: d.fire_timer(now))

    def timeout_now(self, node_id: int, now: int) -> Report:
        return self._input(node_id, lambda d: d.timeout_now(now))

    def transfer(self, node_id: int, target: int, now: int) -> Report:
        return self._input(node_id, lambda d: d.transfer(target, now))

    def _input(self, node_id: int, call: Callable[[NodeDriver], Report]) -> Report:
        """One input to a live node; a node whose disk failed under it is stopped, as its process would."""
        try:
            return call(self.drivers[node_id])
        except DiskStopped as exc:
            self.crash(node_id)
            raise NodeStopped(node_id, exc.reason) from None

    def set_disk(self, node_id: int, fault: DiskFault) -> Report | None:
        self.storage.setdefault(node_id, MemoryStorage()).disk.set(fault)
        driver = self.drivers.get(node_id)
        return driver.set_disk(fault) if driver is not None else None

    def corrupt(self, node_id: int, name: str) -> None:
        storage = self.storage.setdefault(node_id, MemoryStorage())
        if not files.holds_file(storage.durable(), name):
            raise LabError(f"node {node_id}: {name} is empty or missing: nothing to corrupt")
        # Flipping the same byte twice puts it back, as on files.
        storage.damaged ^= {name}

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
    if options.backend == "inprocess":
        return InProcessBackend(ids, options.raft_config(), options.seed)
    if options.backend == "udp":
        from raftviz.lab.udp_backend import UdpBackend  # real processes: only when asked for

        return UdpBackend(ids, options.raft_config(), options.seed)
    raise ValueError(f"unknown backend {options.backend!r}")
