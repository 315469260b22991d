"""Raft's data: state-machine commands, log entries and the RPC messages of Figure 2.

Everything here is an immutable value. Node ids are positive integers; client ids
are strings such as ``"c1"``. The wire codec (``raftviz.wire``) turns these values
into bytes and back; nothing in this module knows about bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NodeId = int
ClientId = str
Address = int | str  # a node id or a client id

#: State-machine operations a command may carry. ``noop`` is the entry a new
#: leader appends (§8 of the paper); ``append`` is not idempotent, so applying it
#: twice is visible, which lets tests prove at-most-once semantics.
OPS = ("noop", "put", "get", "delete", "append")
#: Operations that change the state machine (the others only read it).
WRITE_OPS = ("put", "delete", "append")


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
        parts = [self.op, self.key]
        if self.op in ("put", "append"):
            parts.append(self.value)
        text = " ".join(parts)
        if self.client:
            text += f" ({self.client}#{self.seq})"
        return text


NOOP = Command("noop")


@dataclass(frozen=True, slots=True)
class Entry:
    """A log entry: the term in which a leader created it, and its command."""

    term: int
    command: Command


@dataclass(frozen=True, slots=True)
class RequestVote:
    """RequestVote RPC arguments (Figure 2); ``src`` is the candidate."""

    src: NodeId
    dst: NodeId
    term: int
    last_log_index: int
    last_log_term: int


@dataclass(frozen=True, slots=True)
class RequestVoteReply:
    """RequestVote RPC results (Figure 2)."""

    src: NodeId
    dst: NodeId
    term: int
    vote_granted: bool


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


@dataclass(frozen=True, slots=True)
class AppendEntriesReply:
    """AppendEntries RPC results (Figure 2) plus the fast back-up hints.

    On success ``match_index`` is the index of the last entry the follower now
    holds that matches the leader. On failure ``conflict_term`` is the term of
    the follower's entry at ``prev_log_index`` (0 if it has none) and
    ``conflict_index`` the first index the leader should try next (§5.3).
    """

    src: NodeId
    dst: NodeId
    term: int
    success: bool
    match_index: int = 0
    conflict_index: int = 0
    conflict_term: int = 0


@dataclass(frozen=True, slots=True)
class ClientRequest:
    """A client's request to a node: ``command`` carries client id and sequence."""

    src: ClientId
    dst: NodeId
    command: Command


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


@dataclass(frozen=True, slots=True)
class StatusRequest:
    """A tool asks a free-running node for its state (not part of Raft)."""

    src: ClientId
    dst: NodeId


@dataclass(frozen=True, slots=True)
class StatusReply:
    """A node's state, as DESIGN.md §4's ``status`` line shows it, plus its refusals."""

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


Message = (
    RequestVote
    | RequestVoteReply
    | AppendEntries
    | AppendEntriesReply
    | ClientRequest
    | ClientReply
    | StatusRequest
    | StatusReply
)

#: Message classes that answer a request (drawn differently by the UI).
REPLY_TYPES = (RequestVoteReply, AppendEntriesReply, ClientReply, StatusReply)

#: Limits on what a client may store (a command must fit a datagram with room to spare).
MAX_KEY = 1024
MAX_VALUE = 16 * 1024


@dataclass(slots=True)
class HardState:
    """The persistent state of Figure 2 other than the log."""

    current_term: int = 0
    voted_for: NodeId = 0  # 0 means "none"

    def copy(self) -> HardState:
        return HardState(self.current_term, self.voted_for)


@dataclass(slots=True)
class Ready:
    """What one input to the core produced, for the driver to carry out.

    The persistence contract: ``hard_state`` (if not ``None``) and the log
    change (truncate everything from ``log_from`` on, then append ``entries``
    starting at ``log_from``) must be durable before any of ``messages`` leaves
    the node. ``applied`` lists the log indexes applied to the state machine.
    """

    hard_state: HardState | None = None
    log_from: int = 0  # 0 means "the log did not change"
    entries: list[Entry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    applied: list[int] = field(default_factory=list)
