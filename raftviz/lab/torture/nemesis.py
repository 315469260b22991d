"""The faults of a torture run, injected on the wall clock.

One thread, one fault at a time: wait a little, pick a kind among those
asked for and a node (the leader half the time: losing it is what hurts),
inject, hold it a while, heal. The choices come from a generator seeded with
the run's seed; the moments are the wall clock's, so a run is not
reproducible, but its fault schedule is drawn the same way.

- ``kill``: SIGKILL, then a restart on the same data directory;
- ``pause``: SIGSTOP, then SIGCONT (a node that froze: a GC pause, a VM
  migration; it wakes up believing what it believed);
- ``disk``: restart the node with a free-mode disk fault (``--disk
  slow=MS``: every fsync takes MS more; ``--disk full``: writes that need
  space fail with ENOSPC), hold, then restart it healthy.

Every fault is recorded with its start and end, for the summary and the
report. :meth:`Nemesis.heal` undoes whatever is in force when the run ends.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from raftviz.lab.torture.cluster import TortureCluster
from raftviz.lab.torture.workload import Clock

FAULT_KINDS = ("kill", "pause", "disk")
#: How long a fault is held, and the quiet time between two, in seconds.
HOLD = (0.3, 2.0)
GAP = (0.3, 1.5)
#: How long after a restart with a disk option the node is checked for a usage error.
DISK_START_CHECK = 0.5


class DiskOptionError(Exception):
    """This raftviz's node does not take the disk option the fault needs."""


@dataclass(slots=True)
class Fault:
    kind: str
    node: int
    start: float
    end: float | None = None
    detail: str = ""  # e.g. "slow=80" for a disk fault

    def describe(self) -> str:
        what = f"{self.kind} {self.detail}".strip()
        end = "…" if self.end is None else f"{self.end:.2f}"
        return f"{what} node {self.node} [{self.start:.2f}, {end}]"


class Nemesis(threading.Thread):
    def __init__(
        self, cluster: TortureCluster, kinds: tuple[str, ...], clock: Clock, seed: int, stop: threading.Event
    ) -> None:
        super().__init__(name="torture-nemesis", daemon=True)
        self.cluster = cluster
        self.kinds = kinds
        self.clock = clock
        self.rng = random.Random(f"{seed}-faults")
        self.stop = stop
        self.faults: list[Fault] = []
        self.current: Fault | None = None
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def run(self) -> None:
        try:
            while not self.stop.wait(self.rng.uniform(*GAP)):
                kind = self.rng.choice(self.kinds)
                node = self._pick_node()
                hold = self.rng.uniform(*HOLD)
                self._inject(kind, node)
                self.stop.wait(hold)
                self.heal()
        except BaseException as exc:  # noqa: BLE001 - reported by the run, never lost
            self.error = exc

    def _pick_node(self) -> int:
        if self.rng.random() < 0.5:
            leader = self.cluster.leader()
            if leader is not None:
                return leader
        return self.rng.choice(self.cluster.ids)

    def _inject(self, kind: str, node: int) -> None:
        fault = Fault(kind, node, self.clock.now())
        if kind == "kill":
            self.cluster.kill(node)
        elif kind == "pause":
            self.cluster.pause(node)
        elif kind == "disk":
            if self.rng.random() < 0.5:
                fault.detail = f"slow={self.rng.randint(20, 200)}"
            else:
                fault.detail = "full"
            self.cluster.kill(node)
            self.cluster.start(node, ("--disk", fault.detail))
            # A node that does not take the option exits at once with a usage error (2):
            # say so rather than run on without the fault.
            self.stop.wait(DISK_START_CHECK)
            code = self.cluster.exit_code(node)
            if code == 2:
                self.cluster.start(node)
                raise DiskOptionError(
                    f"raftviz node refused --disk {fault.detail}: {self.cluster.stderr_tail(node)}"
                )
        else:
            raise ValueError(f"unknown fault {kind!r}")
        with self._lock:
            self.faults.append(fault)
            self.current = fault

    def heal(self) -> None:
        """Undo the fault in force, if any (a killed node restarts, a paused one resumes)."""
        with self._lock:
            fault, self.current = self.current, None
        if fault is None:
            return
        if fault.kind == "kill":
            self.cluster.start(fault.node)
        elif fault.kind == "pause":
            self.cluster.resume(fault.node)
        elif fault.kind == "disk":
            self.cluster.kill(fault.node)
            self.cluster.start(fault.node)
        fault.end = self.clock.now()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {kind: sum(f.kind == kind for f in self.faults) for kind in self.kinds}
