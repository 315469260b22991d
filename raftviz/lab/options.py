"""What defines a cluster (LabOptions) and the error for a command the lab cannot carry out (LabError).

Its own module, below the lab and both backends, because all of them need
these types: the lab builds a backend from the options, a backend reports a
node it cannot start as a LabError, and the lab raises LabError for a bad
command. Nothing here imports the rest of the lab, so no import circle.
"""

from __future__ import annotations

from dataclasses import dataclass

from raftviz.core.config import RaftConfig

#: The highest node id a lab cluster has (lab.MAX_NODES, which ``add`` enforces).
MAX_NODE_ID = 9


class LabError(Exception):
    """A command the lab cannot carry out (unknown node, no such message...)."""


@dataclass(frozen=True, slots=True)
class LabOptions:
    """Everything that defines a cluster, besides the commands run on it."""

    nodes: int = 5
    seed: int = 0
    election: tuple[int, int] = (150, 300)
    heartbeat: int = 50
    latency: tuple[int, int] = (10, 20)
    loss: float = 0.0
    noop: bool = True
    batch: int = 64
    client_timeout: int = 200
    #: Real processes by default; "inprocess" for speed (docs/architecture.md).
    backend: str = "udp"
    #: Log compaction: snapshot once this many applied entries (0: never by count) ...
    snapshot: int = 1000
    #: ... or about this many bytes are in the log (0: never by size).
    snapshot_bytes: int = 4_000_000
    #: Bytes of snapshot per InstallSnapshot message.
    chunk: int = 16_384
    #: Requests each client remembers in its history (0: all, as a test that checks a whole
    #: history asks). Nothing in raftviz reads past the latest; a session that runs for hours
    #: must not keep every request it ever sent (the live linearizability check keeps what
    #: it needs itself).
    client_history: int = 1000
    #: Planted bugs (raftviz.core.bugs): ``NAME`` on every node, ``NAME@N`` on node N.
    bugs: tuple[str, ...] = ()
    #: ``hidden-bug=``: the bugs are planted but not named (a find-the-bug lesson's cluster).
    bugs_hidden: bool = False
    #: Client sessions expire after this many ms of the leaders' entry stamps (0: never,
    #: the default, so existing lessons keep their transcripts); with expiry on, the
    #: lab's clients register (RegisterClient) before their first request.
    sessions: int = 0
    #: Pre-Vote with leader stickiness and CheckQuorum (dissertation §9.6, §6.2): off by
    #: default, so the lessons of Figure 2 and their transcripts stay the paper's.
    prevote: bool = False
    checkquorum: bool = False
    #: A node command (``node="CMD ARGS"``): every node runs CMD with the lab-mode arguments
    #: of docs/protocol.md §7.1 instead of raftviz's own node ("": raftviz's node). udp only.
    node: str = ""
    #: Per-node commands (``node@3="CMD"``), overriding ``node`` for those nodes: a mixed cluster.
    node_at: tuple[tuple[int, str], ...] = ()

    def node_commands(self) -> dict[int, str]:
        """Each node id that runs a foreign command, with its command (docs/protocol.md §7).

        Every id a node may have (``add`` starts nodes beyond the first ``nodes``): a
        node added to a cluster of foreign nodes runs the same command.
        """
        commands = {i: self.node for i in range(1, MAX_NODE_ID + 1)} if self.node else {}
        commands.update(self.node_at)
        return {i: c for i, c in sorted(commands.items()) if c}

    def raft_config(self) -> RaftConfig:
        return RaftConfig(
            election_min=self.election[0],
            election_max=self.election[1],
            heartbeat=self.heartbeat,
            noop=self.noop,
            max_batch=self.batch,
            snapshot_entries=self.snapshot,
            snapshot_bytes=self.snapshot_bytes,
            snapshot_chunk=self.chunk,
            bugs=self.bugs,
            session_expiry=self.sessions,
            prevote=self.prevote,
            check_quorum=self.checkquorum,
        )


class TransferRefused(LabError):
    """A leadership transfer the lab will not ask for (no leader, target down or not a voter).

    An answer, not a mistake in the script: ``transfer N`` prints it and the run goes on.
    """


class NodeStopped(LabError):
    """The node stopped by itself during an input (its disk failed): it is down now.

    ``reason`` is the node's own words, the same on both backends.
    """

    def __init__(self, node: int, reason: str) -> None:
        super().__init__(f"node {node} stopped: {reason}")
        self.node = node
        self.reason = reason


class StartRefused(LabError):
    """The node refused to start (its storage is damaged): it stays down."""

    def __init__(self, node: int, reason: str) -> None:
        super().__init__(f"node {node} cannot start: {reason}")
        self.node = node
        self.reason = reason
