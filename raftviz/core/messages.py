"""Raft's data: state-machine commands, log entries and the RPC messages of Figure 2.

Everything here is an immutable value. Node ids are positive integers; client ids
are strings such as ``"c1"``. The wire codec (``raftviz.wire``) turns these values
into bytes and back; nothing in this module knows about bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from raftviz.core.values import shared_value

NodeId = int
ClientId = str
Address = int | str  # a node id or a client id

#: Operations a command may carry. ``noop`` is the entry a new leader appends
#: (§8 of the paper); ``append`` is not idempotent, so applying it twice is
#: visible, which lets tests prove at-most-once semantics. ``add`` and
#: ``remove`` are membership requests from a client (``key`` is the node id);
#: the leader turns each into a ``config`` entry, whose ``value`` is the new
#: configuration (``raftviz.core.membership``). ``register`` asks for a new
#: client session (dissertation §6.3): committed like any command, its answer's
#: value is the new, unique client id.
OPS = ("noop", "put", "get", "delete", "append", "config", "add", "remove", "register")
#: Operations a client may request (``noop`` and ``config`` only a leader writes).
CLIENT_OPS = ("put", "get", "delete", "append", "add", "remove", "register")
#: Operations that carry no ``value`` (a request with one is refused).
VALUELESS_OPS = ("get", "delete", "add", "remove", "register")

#: The ``error`` of a ClientReply to a request from a session the cluster does not
#: hold (expired, or never registered while sessions expire). It is the one error
#: text a client compares: it registers again (RegisterClient) and resends.
SESSION_EXPIRED = "SESSION_EXPIRED"
#: How a ``get`` may be read without writing the log (ClientRequest.read); "" is through the log.
READ_MODES = ("readindex", "lease")
#: Operations that change the state machine (the others only read it).
WRITE_OPS = ("put", "delete", "append")


@shared_value
@dataclass(frozen=True, slots=True)
class Command:
    """One state-machine command, as proposed by a client (or ``noop``).

    ``client``/``seq`` identify the request for at-most-once semantics
    (dissertation §6.3); ``low`` is the client's lowest sequence number still
    awaiting an answer, so the state machine may forget results below it.
    """

    op: str
    key: str = ""
    value: str = ""
    client: ClientId = ""
    seq: int = 0
    low: int = 0

    def describe(self) -> str:
        """A short human-readable form, e.g. ``put x 1 (c1#3)``."""
        if self.op == "noop":
            return "noop"
        if self.op == "config":
            text = "config " + (self.value or "-")
            return text + (f" ({self.client}#{self.seq})" if self.client else "")
        if self.op == "register":
            return f"register ({self.client})"
        parts = [self.op, self.key]
        if self.op in ("put", "append"):
            parts.append(self.value)
        text = " ".join(parts)
        if self.client:
            text += f" ({self.client}#{self.seq})"
        return text


NOOP = Command("noop")


@shared_value
@dataclass(frozen=True, slots=True)
class Entry:
    """A log entry: the term in which a leader created it, and its command.

    ``stamp`` is the leader's time when it appended the entry (virtual ms in the
    lab), never below the stamp of the entry before it; replicas expire client
    sessions by these stamps, so all of them expire the same ones (dissertation §6.3).
    """

    term: int
    command: Command
    stamp: int = 0


@shared_value
@dataclass(frozen=True, slots=True)
class RequestVote:
    """RequestVote RPC arguments (Figure 2); ``src`` is the candidate."""

    src: NodeId
    dst: NodeId
    term: int
    last_log_index: int
    last_log_term: int


@shared_value
@dataclass(frozen=True, slots=True)
class RequestVoteReply:
    """RequestVote RPC results (Figure 2)."""

    src: NodeId
    dst: NodeId
    term: int
    vote_granted: bool


@shared_value
@dataclass(frozen=True, slots=True)
class PreVote:
    """Pre-Vote request (dissertation §9.6): "would you vote for me in ``term``?".

    ``term`` is the term the sender would stand in (its own term plus one); the
    sender has not moved to it, and the receiver changes neither its term nor
    its vote by answering.
    """

    src: NodeId
    dst: NodeId
    term: int
    last_log_index: int
    last_log_term: int


@shared_value
@dataclass(frozen=True, slots=True)
class PreVoteReply:
    """Pre-Vote answer: ``term`` is the asked term when granted, else the voter's own term."""

    src: NodeId
    dst: NodeId
    term: int
    vote_granted: bool


@shared_value
@dataclass(frozen=True, slots=True)
class TimeoutNow:
    """Leadership transfer (dissertation §3.10): the leader of ``term`` tells ``dst`` to start an
    election at once, skipping Pre-Vote; sent once ``dst``'s log matches the leader's."""

    src: NodeId
    dst: NodeId
    term: int


@shared_value
@dataclass(frozen=True, slots=True)
class TransferRequest:
    """A tool asks the leader ``dst`` to hand leadership to node ``target`` (free mode's
    ``raftviz kv transfer``); answered by a ClientReply with seq 0 (not part of Raft)."""

    src: ClientId
    dst: NodeId
    target: NodeId


@shared_value
@dataclass(frozen=True, slots=True)
class AppendEntries:
    """AppendEntries RPC arguments (Figure 2); ``src`` is the leader."""

    src: NodeId
    dst: NodeId
    term: int
    prev_log_index: int
    prev_log_term: int
    entries: tuple[Entry, ...]
    leader_commit: int
    #: The heartbeat round this message belongs to (0: none). A leader serving
    #: ReadIndex or lease reads numbers its broadcasts; the reply echoes the
    #: number, so the leader knows which round a majority has acknowledged
    #: (dissertation §6.4, raftviz.core.reads). Omitted on the wire when 0.
    round: int = 0


@shared_value
@dataclass(frozen=True, slots=True)
class AppendEntriesReply:
    """AppendEntries RPC results (Figure 2) plus the fast back-up hints.

    On success ``match_index`` is the index of the last entry the follower now
    holds that matches the leader. On failure ``conflict_term`` is the term of
    the follower's entry at ``prev_log_index`` (0 if it has none) and
    ``conflict_index`` the first index the leader should try next (§5.3).
    ``recovering`` is raftviz's addition for protocol-aware recovery.
    """

    src: NodeId
    dst: NodeId
    term: int
    success: bool
    match_index: int = 0
    conflict_index: int = 0
    conflict_term: int = 0
    #: The ``round`` of the AppendEntries this answers, echoed (0: none; omitted on the wire).
    round: int = 0
    #: The follower is recovering from damaged storage (it may have lost entries it
    #: acknowledged): the leader takes ``match_index`` (on success) as all it holds,
    #: even if lower than before, and counts nothing older of it. Not in Figure 2.
    recovering: bool = False


@shared_value
@dataclass(frozen=True, slots=True)
class InstallSnapshot:
    """InstallSnapshot RPC arguments (Figure 13 of the paper); ``src`` is the leader.

    The snapshot's bytes travel in chunks, one at a time: ``data`` is the
    chunk at byte ``offset``, ``done`` marks the last one, and ``checksum``
    (CRC-32 of the whole snapshot) lets the follower verify what it assembled.
    """

    src: NodeId
    dst: NodeId
    term: int
    last_included_index: int
    last_included_term: int
    offset: int
    data: bytes
    done: bool
    checksum: int


@shared_value
@dataclass(frozen=True, slots=True)
class InstallSnapshotReply:
    """InstallSnapshot RPC results: the term, plus where the transfer stands.

    ``offset`` is the next byte the follower expects of the snapshot ending at
    ``last_included_index`` (0: start again); ``done`` says the follower now
    holds everything up to ``last_included_index``.
    """

    src: NodeId
    dst: NodeId
    term: int
    last_included_index: int
    offset: int
    done: bool


@shared_value
@dataclass(frozen=True, slots=True)
class ClientRequest:
    """A client's request to a node: ``command`` carries client id and sequence.

    ``read`` says how a ``get`` is served (dissertation §6.4): ``""`` through
    the log like any command, ``"readindex"`` by the leader once a heartbeat
    round confirms it still leads, ``"lease"`` by the leader from its state
    while its lease holds (raftviz.core.reads). Omitted on the wire when ``""``.
    """

    src: ClientId
    dst: NodeId
    command: Command
    read: str = ""


@shared_value
@dataclass(frozen=True, slots=True)
class ClientReply:
    """A node's answer to a client.

    ``ok`` is true when the command was applied; ``value`` is the value read
    by a ``get`` (``None`` otherwise, or if the key is absent), and ``error``
    says why an applied command had no effect (e.g. a value grown too large).
    When ``ok`` is false the node did not take the request: ``leader_hint``
    names the leader it knows of (0 if none), or ``error`` says what was wrong.
    """

    src: NodeId
    dst: ClientId
    seq: int
    ok: bool
    value: str | None = None
    leader_hint: NodeId = 0
    error: str = ""


@shared_value
@dataclass(frozen=True, slots=True)
class StatusRequest:
    """A tool asks a free-running node for its state (not part of Raft)."""

    src: ClientId
    dst: NodeId


@shared_value
@dataclass(frozen=True, slots=True)
class StatusReply:
    """A node's state, as the ``status`` command shows it (docs/scenario-language.md), plus its refusals."""

    src: NodeId
    dst: ClientId
    role: str
    term: int
    vote: NodeId
    leader: NodeId
    commit: int
    applied: int
    last_index: int
    dropped: int
    #: The configuration the node uses, as ``Configuration.to_value`` writes it.
    configuration: str = ""
    #: The index its latest snapshot covers (0: none).
    snapshot_index: int = 0
    #: Datagrams it dropped for a missing or wrong cluster-secret tag (not in ``dropped``).
    unauthenticated: int = 0
    #: Peer messages it dropped as protocol violations, as (kind, count) sorted by kind.
    violations: tuple[tuple[str, int], ...] = ()
    #: What it lost to damaged storage while it is recovering ("" when it is not).
    recovering: str = ""


Message = (
    RequestVote
    | RequestVoteReply
    | AppendEntries
    | AppendEntriesReply
    | InstallSnapshot
    | InstallSnapshotReply
    | ClientRequest
    | ClientReply
    | StatusRequest
    | StatusReply
    | PreVote
    | PreVoteReply
    | TimeoutNow
    | TransferRequest
)

#: Message classes that answer a request (drawn differently by the UI).
REPLY_TYPES = (
    RequestVoteReply,
    AppendEntriesReply,
    InstallSnapshotReply,
    ClientReply,
    StatusReply,
    PreVoteReply,
)

#: Message classes only a leader sends (a tuple, for isinstance: no union built per call).
LEADER_MESSAGES = (AppendEntries, InstallSnapshot)

#: Limits on what a client may store (a command must fit a datagram with room to spare).
MAX_KEY = 1024
MAX_VALUE = 16 * 1024
