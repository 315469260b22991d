"""The lab's control frames: how the lab drives a lab-mode node process, and how the node reports back.

Between the lab and a lab-mode node process, over the node's standard input
and output (reliable and ordered, so no size limit): each frame is a 4-byte
big-endian length followed by one msgpack array ``[version, tag, field, ...]``
with a tag of 64 or more. They are validated as strictly as Raft messages (the
same field validators, :mod:`raftviz.wire.validate`). A :class:`Report` carries
the node's outgoing Raft datagrams already encoded by :mod:`raftviz.wire.datagram`,
and its new log entries in the entry form of that codec. ``docs/protocol.md``
section 7 is the specification.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final

import msgpack

from raftviz.core.messages import Entry, Message
from raftviz.core.reasons import KINDS as REASON_KINDS
from raftviz.core.reasons import Reason
from raftviz.wire.datagram import entry_to_wire, parse_entry
from raftviz.wire.validate import (
    PROTOCOL_VERSION,
    Bad,
    WireError,
    client_id_field,
    counters_field,
    got,
    index_field,
    int_field,
    node_id_field,
    node_id_or_zero_field,
    short,
    text_field,
    type_name,
)

_packb = msgpack.packb
_unpackb = msgpack.unpackb

_ROLES: Final = frozenset({"follower", "pre-candidate", "candidate", "leader"})
_FRAME_HEADER: Final = 4
#: Largest control frame accepted (a report can carry a large batch of entries).
MAX_FRAME: Final = 64 * 1024 * 1024


@dataclass(slots=True)
class Report:
    """A node's state after one input, and what that input made it do (tag 71)."""

    node: int
    role: str
    term: int
    vote: int
    leader: int
    commit: int
    applied: int
    last_index: int
    last_term: int
    deadline: int
    election_timeout: int
    #: The log change made durable by this input: entries from ``log_from`` on
    #: were replaced by ``entries`` (``log_from`` 0: no change).
    log_from: int = 0
    entries: list[Entry] = field(default_factory=list)
    #: Outgoing datagrams as (destination, encoded message), in send order. A node
    #: driver inside the lab's own process hands the message itself instead, to be
    #: encoded only if its bytes are asked for (such a report is never framed).
    sent: list[tuple[int | str, bytes | Message]] = field(default_factory=list)
    votes: tuple[int, ...] = ()
    next_index: tuple[tuple[int, int], ...] = ()
    match_index: tuple[tuple[int, int], ...] = ()
    #: Datagrams this incarnation refused (malformed, or from a wrong sender), so far.
    dropped: int = 0
    #: Why the datagram of this input was refused, if it was.
    refused: str = ""
    #: The log starts after (start_index, start_term): the latest snapshot's last entry.
    start_index: int = 0
    start_term: int = 0
    #: The configuration the node uses (the latest in its log).
    voters: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()
    #: The snapshot's bytes when this input replaced the state machine by a
    #: snapshot or took one (a start-up from disk, an InstallSnapshot, a
    #: compaction), else empty: the lab's mirror of the state machine resets to it.
    snapshot: bytes = b""
    #: The node's disk: ``ok``, ``fail``, ``full`` or ``slow:MS`` (the lab's ``disk N ...``).
    disk: str = "ok"
    #: Peer messages this node's guard dropped so far, as (violation kind, count)
    #: sorted by kind; only kinds that occurred (raftviz.core.violations).
    violations: tuple[tuple[str, int], ...] = ()
    #: Why the rules decided as they did during this input, in the order they
    #: decided (raftviz.core.reasons; docs/protocol.md section 7).
    reasons: tuple[Reason, ...] = ()
    #: Reads a leader holds without writing the log (raftviz.core.reads): how many, and
    #: the first :data:`MAX_REPORTED_READS` of them in words (``c1#2 get x (readindex, round 3)``).
    reads_waiting: int = 0
    reads: tuple[str, ...] = ()
    #: When a leader's lease ends, on the node's own clock (0: it holds none).
    lease: int = 0
    #: Non-empty while the node is recovering from damaged storage: what it lost
    #: (``lost entries 5..7 and its vote in term 3``); it neither votes nor campaigns
    #: until a leader has caught it up (raftviz.node.storage, "Recovery").
    recovering: str = ""
    #: A leader handing over leadership: the target (0: no transfer in progress).
    transfer: int = 0
    #: CheckQuorum (``checkquorum=on``, a leader): when its next check is due, on its own
    #: clock (0: no check), and the voters that check counts so far, itself included.
    quorum_check: int = 0
    quorum_heard: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Hello:
    """Node -> lab, once, when the node is ready: who and where it is (tag 64)."""

    node: int
    pid: int
    port: int
    report: Report


@dataclass(frozen=True, slots=True)
class Deliver:
    """Lab -> node: handle, at virtual time ``now``, the datagram with this digest (tag 65)."""

    now: int
    digest: bytes


@dataclass(frozen=True, slots=True)
class Fire:
    """Lab -> node: your deadline has come; it is ``now`` (tag 66)."""

    now: int


@dataclass(frozen=True, slots=True)
class ForceTimeout:
    """Lab -> node: your election timer fires now, whatever your role (tag 67)."""

    now: int


@dataclass(frozen=True, slots=True)
class SetElection:
    """Lab -> node: move your election timer to ``deadline`` (tag 68)."""

    deadline: int


@dataclass(frozen=True, slots=True)
class TakeSnapshot:
    """Lab -> node: snapshot your state machine and compact your log now (tag 72)."""

    now: int


@dataclass(frozen=True, slots=True)
class GetState:
    """Lab -> node: answer with your complete state, as a :class:`State` frame (tag 73)."""


@dataclass(frozen=True, slots=True)
class State:
    """Node -> lab: the node's complete state, an opaque blob only the node reads (tag 74).

    The lab keeps it and may hand it back in a :class:`LoadState`, any number
    of times; it never looks inside.
    """

    blob: bytes


@dataclass(frozen=True, slots=True)
class LoadState:
    """Lab -> node: become exactly the node whose :class:`State` this blob was (tag 75).

    Answered by a :class:`Report` of the loaded state (nothing sent).
    """

    blob: bytes


@dataclass(frozen=True, slots=True)
class SetDisk:
    """Lab -> node: your disk is ``mode`` from now on (tag 80); answered by a :class:`Report`.

    ``mode`` is ok, fail, full or slow; ``ms`` is a slow disk's extra time per
    fsync (1..60000), 0 for the others.
    """

    mode: str
    ms: int = 0


@dataclass(frozen=True, slots=True)
class Secret:
    """Lab -> node, first of all frames: tag every datagram with this cluster secret (tag 76).

    Not answered. The node then seals what it sends and accepts only datagrams
    whose tag is valid (raftviz.wire.auth; docs/protocol.md, section 1).
    """

    secret: bytes


@dataclass(frozen=True, slots=True)
class Transfer:
    """Lab -> node (the leader): hand leadership to node ``target`` at ``now`` (tag 81).

    Answered by a :class:`Report`; a refusal is one of its reasons (transfer-refused).
    """

    now: int
    target: int


@dataclass(frozen=True, slots=True)
class Shutdown:
    """Lab -> node: exit cleanly (tag 69)."""


@dataclass(frozen=True, slots=True)
class Failure:
    """Node -> lab: the node cannot go on (for example, corrupt storage) (tag 70)."""

    reason: str


ControlFrame = (
    Hello
    | Deliver
    | Fire
    | ForceTimeout
    | SetElection
    | Shutdown
    | Failure
    | Report
    | TakeSnapshot
    | GetState
    | State
    | LoadState
    | SetDisk
    | Secret
    | Transfer
)


def digest(data: bytes) -> bytes:
    """The 8-byte digest by which the lab announces a datagram to a node."""
    return hashlib.blake2b(data, digest_size=8).digest()


def _pairs(value: Any, name: str) -> tuple[tuple[int, int], ...]:
    if type(value) is not list:
        raise Bad(name, "list of [node, index] pairs", type_name(value))
    out = []
    for item in value:
        if type(item) is not list or len(item) != 2:
            raise Bad(name, "list of [node, index] pairs", got(item, list))
        out.append((_NODE(item[0]), _INDEX(item[1])))
    return tuple(out)


_NODE: Final = node_id_field("node")
_NODE0: Final = node_id_or_zero_field("node")
_INDEX: Final = index_field("index")
_TEXT: Final = text_field("text")
_PORT: Final = int_field("port", 1, 65535, "port (int 1..65535)")
_START_INDEX: Final = index_field("start_index")
_START_TERM: Final = index_field("start_term")
_DISK_MODES: Final = ("ok", "fail", "full", "slow")
#: A slow disk's longest extra time per fsync (raftviz.node.disk.MAX_SLOW_MS).
MAX_SLOW_MS: Final = 60_000


def _disk_mode(mode: Any, ms: Any) -> tuple[str, int]:
    if type(mode) is not str or mode not in _DISK_MODES:
        raise Bad("mode", "ok, fail, full or slow", got(mode, str))
    if type(ms) is not int:
        raise Bad("ms", "int", type_name(ms))
    if mode == "slow" and not 1 <= ms <= MAX_SLOW_MS:
        raise Bad("ms", f"1..{MAX_SLOW_MS} for a slow disk", str(ms))
    if mode != "slow" and ms != 0:
        raise Bad("ms", f"0 for a disk that is {mode}", str(ms))
    return mode, ms


def _disk_text(value: Any) -> str:
    """A report's disk: ``ok``, ``fail``, ``full`` or ``slow:MS``."""
    if type(value) is not str:
        raise Bad("disk", "ok, fail, full or slow:MS", type_name(value))
    mode, _, ms = value.partition(":")
    if mode == "slow" and ms.isdigit() and ms == str(int(ms)):
        _disk_mode(mode, int(ms))
    elif ms or value not in ("ok", "fail", "full"):
        raise Bad("disk", "ok, fail, full or slow:MS", got(value, str))
    return value


_VIOLATIONS: Final = counters_field("violations")
_REPORT_FIELDS: Final = 34
#: At most this many waiting reads are described in a Report (the count is always whole).
MAX_REPORTED_READS: Final = 8
#: A reason on the wire: [kind, peer, other, term, index, our_term, our_index,
#: their_term, their_index, count, message, before, after].
_REASON_FIELDS: Final = 13
_REASON_INTS: Final = tuple(
    index_field(name)
    for name in ("term", "index", "our_term", "our_index", "their_term", "their_index", "count")
)
_REASON_PEER: Final = node_id_or_zero_field("reason peer")
_REASON_TEXT: Final = text_field("reason text")


def _reason_to_wire(r: Reason) -> list[Any]:
    return [
        r.kind, r.peer, r.other, r.term, r.index, r.our_term, r.our_index, r.their_term,
        r.their_index, r.count, r.message, r.before, r.after,
    ]  # fmt: skip


def _reasons(value: Any) -> tuple[Reason, ...]:
    """A list of reasons, each a list of its 13 fields; the kind one of raftviz.core.reasons.KINDS."""
    if type(value) is not list:
        raise Bad("reasons", "list of reasons", type_name(value))
    out = []
    for item in value:
        if type(item) is not list or len(item) != _REASON_FIELDS:
            raise Bad("reason", f"list of {_REASON_FIELDS} reason fields", got(item, list))
        kind, peer, other, *numbers = item[:10]
        if type(kind) is not str or kind not in REASON_KINDS:
            raise Bad("reason kind", "a kind of raftviz.core.reasons", got(kind, str))
        ints = [check(n) for check, n in zip(_REASON_INTS, numbers, strict=True)]
        texts = [_REASON_TEXT(t) for t in item[10:]]
        out.append(Reason(kind, _REASON_PEER(peer), _REASON_PEER(other), *ints, *texts))
    return tuple(out)


def _members(value: Any, name: str) -> tuple[int, ...]:
    """A list of node ids in strictly ascending order (so without duplicates)."""
    expected = "list of node ids in ascending order, without duplicates"
    if type(value) is not list:
        raise Bad(name, expected, type_name(value))
    check = node_id_field(name)
    previous = 0
    for item in value:
        if check(item) <= previous:
            raise Bad(name, expected, f"{item} after {previous}")
        previous = item
    return tuple(value)


def _blob(value: Any) -> bytes:
    """A node state blob: bytes, never empty (its content is the node's business)."""
    if type(value) is not bytes or not value:
        raise Bad("blob", "non-empty bytes", type_name(value) if type(value) is not bytes else "empty bytes")
    return value


def _report_to_wire(r: Report) -> list[Any]:
    return [
        r.node, r.role, r.term, r.vote, r.leader, r.commit, r.applied, r.last_index, r.last_term,
        r.deadline, r.election_timeout, r.log_from, [entry_to_wire(e) for e in r.entries],
        [[dst, data] for dst, data in r.sent], list(r.votes),
        [list(p) for p in r.next_index], [list(p) for p in r.match_index], r.dropped, r.refused,
        r.start_index, r.start_term, list(r.voters), list(r.learners), r.snapshot, r.disk,
        [list(p) for p in r.violations], [_reason_to_wire(x) for x in r.reasons],
        r.reads_waiting, list(r.reads), r.lease, r.recovering, r.transfer,
        r.quorum_check, list(r.quorum_heard),
    ]  # fmt: skip


def _report_from_wire(raw: Any) -> Report:
    if type(raw) is not list or len(raw) != _REPORT_FIELDS:
        raise Bad("report", f"list of {_REPORT_FIELDS} report fields", got(raw, list))
    (node, role, term, vote, leader, commit, applied, last_index, last_term, deadline, timeout,
     log_from, entries, sent, votes, next_index, match_index, dropped, refused,
     start_index, start_term, voters, learners, snapshot, disk, violations, reasons,
     reads_waiting, reads, lease, recovering, transfer, quorum_check, quorum_heard) = raw  # fmt: skip
    if type(role) is not str or role not in _ROLES:
        raise Bad("role", "follower, pre-candidate, candidate or leader", got(role, str))
    if type(entries) is not list or type(sent) is not list or type(votes) is not list:
        raise Bad("report", "lists for entries, sent and votes", "other types")
    out_sent: list[tuple[int | str, bytes]] = []
    for item in sent:
        if type(item) is not list or len(item) != 2 or type(item[1]) is not bytes:
            raise Bad("sent", "list of [destination, bytes]", got(item, list))
        dst = item[0]
        if type(dst) is str:
            client_id_field("sent")(dst)
        else:
            _NODE(dst)
        out_sent.append((dst, item[1]))
    out_voters = _members(voters, "voters")
    out_learners = _members(learners, "learners")
    both = sorted(set(out_voters) & set(out_learners))
    if both:
        raise Bad("learners", "node ids that are not voters", f"{both} among the voters too")
    if type(snapshot) is not bytes:
        raise Bad("snapshot", "bytes", type_name(snapshot))
    return Report(
        node=_NODE(node),
        role=role,
        term=_INDEX(term),
        vote=_NODE0(vote),
        leader=_NODE0(leader),
        commit=_INDEX(commit),
        applied=_INDEX(applied),
        last_index=_INDEX(last_index),
        last_term=_INDEX(last_term),
        deadline=_INDEX(deadline),
        election_timeout=_INDEX(timeout),
        log_from=_INDEX(log_from),
        entries=[parse_entry(e) for e in entries],
        sent=out_sent,
        votes=tuple(_NODE(v) for v in votes),
        next_index=_pairs(next_index, "next_index"),
        match_index=_pairs(match_index, "match_index"),
        dropped=_INDEX(dropped),
        refused=_TEXT(refused),
        start_index=_START_INDEX(start_index),
        start_term=_START_TERM(start_term),
        voters=out_voters,
        learners=out_learners,
        snapshot=snapshot,
        disk=_disk_text(disk),
        violations=_VIOLATIONS(violations),
        reasons=_reasons(reasons),
        reads_waiting=_INDEX(reads_waiting),
        reads=_read_lines(reads),
        lease=_INDEX(lease),
        recovering=_TEXT(recovering),
        transfer=_NODE0(transfer),
        quorum_check=_INDEX(quorum_check),
        quorum_heard=_members(quorum_heard, "quorum_heard"),
    )


def _read_lines(value: Any) -> tuple[str, ...]:
    """A Report's waiting reads in words: at most MAX_REPORTED_READS texts."""
    if type(value) is not list or len(value) > MAX_REPORTED_READS:
        raise Bad("reads", f"list of at most {MAX_REPORTED_READS} texts", got(value, list))
    return tuple(_TEXT(text) for text in value)


def _frame_fields(frame: ControlFrame) -> tuple[int, list[Any]]:
    if isinstance(frame, Report):
        return 71, _report_to_wire(frame)
    if isinstance(frame, Hello):
        return 64, [frame.node, frame.pid, frame.port, _report_to_wire(frame.report)]
    if isinstance(frame, Deliver):
        return 65, [frame.now, frame.digest]
    if isinstance(frame, Fire):
        return 66, [frame.now]
    if isinstance(frame, ForceTimeout):
        return 67, [frame.now]
    if isinstance(frame, SetElection):
        return 68, [frame.deadline]
    if isinstance(frame, Shutdown):
        return 69, []
    if isinstance(frame, Failure):
        return 70, [frame.reason]
    if isinstance(frame, TakeSnapshot):
        return 72, [frame.now]
    if isinstance(frame, GetState):
        return 73, []
    if isinstance(frame, State):
        return 74, [frame.blob]
    if isinstance(frame, LoadState):
        return 75, [frame.blob]
    if isinstance(frame, SetDisk):
        return 80, [frame.mode, frame.ms]
    if isinstance(frame, Secret):
        return 76, [frame.secret]
    if isinstance(frame, Transfer):
        return 81, [frame.now, frame.target]
    raise WireError(f"cannot encode {type(frame).__name__}: not a control frame")


def _frame_from_fields(tag: Any, fields: list[Any]) -> ControlFrame:
    n = len(fields)
    if tag == 71:
        return _report_from_wire(fields)
    if tag == 64 and n == 4:
        return Hello(_NODE(fields[0]), _INDEX(fields[1]), _PORT(fields[2]), _report_from_wire(fields[3]))
    if tag == 65 and n == 2:
        if type(fields[1]) is not bytes or len(fields[1]) != 8:
            raise Bad("digest", "8 bytes", type_name(fields[1]))
        return Deliver(_INDEX(fields[0]), fields[1])
    if tag == 66 and n == 1:
        return Fire(_INDEX(fields[0]))
    if tag == 67 and n == 1:
        return ForceTimeout(_INDEX(fields[0]))
    if tag == 68 and n == 1:
        return SetElection(_INDEX(fields[0]))
    if tag == 69 and n == 0:
        return Shutdown()
    if tag == 70 and n == 1:
        return Failure(_TEXT(fields[0]))
    if tag == 72 and n == 1:
        return TakeSnapshot(_INDEX(fields[0]))
    if tag == 73 and n == 0:
        return GetState()
    if tag == 74 and n == 1:
        return State(_blob(fields[0]))
    if tag == 75 and n == 1:
        return LoadState(_blob(fields[0]))
    if tag == 80 and n == 2:
        return SetDisk(*_disk_mode(fields[0], fields[1]))
    if tag == 81 and n == 2:
        return Transfer(_INDEX(fields[0]), _NODE(fields[1]))
    if tag == 76 and n == 1:
        if type(fields[0]) is not bytes or not fields[0]:
            raise Bad(
                "secret", "non-empty bytes", type_name(fields[0]) if type(fields[0]) is not bytes else "empty"
            )
        return Secret(fields[0])
    raise WireError(f"unknown control frame tag {short(tag)} with {n} fields")


def encode_frame(frame: ControlFrame) -> bytes:
    """A control frame with its 4-byte length prefix.

    Every field is checked as the receiver will check it, so a bad frame fails
    here, at the sender, with the same message: the frame is decoded again
    before it leaves (control frames are one per step, so this costs little).
    """
    tag, fields = _frame_fields(frame)
    try:
        body = _packb([PROTOCOL_VERSION, tag, *fields], use_bin_type=True)
    except (ValueError, TypeError, OverflowError) as exc:
        raise WireError(f"cannot encode control frame {type(frame).__name__}: {exc}") from None
    if len(body) > MAX_FRAME:
        raise WireError(f"control frame of {len(body)} bytes exceeds {MAX_FRAME}")
    decode_frame(body)
    return len(body).to_bytes(_FRAME_HEADER, "big") + body


def decode_frame(body: bytes) -> ControlFrame:
    """Decode one control frame body (without its length prefix); raises only WireError."""
    try:
        obj = _unpackb(body, raw=False, strict_map_key=True)
    except Exception as exc:  # noqa: BLE001 - anything the unpacker raises means malformed
        raise WireError(f"malformed control frame ({type(exc).__name__})") from None
    if type(obj) is not list or len(obj) < 2 or type(obj[0]) is not int or obj[0] != PROTOCOL_VERSION:
        raise WireError("control frame: expected [version, tag, ...] of this protocol version")
    if type(obj[1]) is not int:
        raise WireError(f"unknown control frame tag {short(obj[1])}: a tag is an int")
    try:
        return _frame_from_fields(obj[1], obj[2:])
    except Bad as bad:
        raise bad.error("control frame") from None
    except (TypeError, ValueError) as exc:
        raise WireError(f"malformed control frame: {exc}") from None


def parse_frame(buffer: bytes | bytearray) -> tuple[ControlFrame | None, int]:
    """(frame, bytes used) if ``buffer`` starts with a whole frame, else (None, 0)."""
    if len(buffer) < _FRAME_HEADER:
        return None, 0
    length = int.from_bytes(buffer[:_FRAME_HEADER], "big")
    if length > MAX_FRAME:
        raise WireError(f"control frame of {length} bytes exceeds {MAX_FRAME}")
    end = _FRAME_HEADER + length
    if len(buffer) < end:
        return None, 0
    return decode_frame(bytes(buffer[_FRAME_HEADER:end])), end


def read_frame(stream: BinaryIO) -> ControlFrame | None:
    """Read one frame from a blocking stream; None at a clean end of stream."""
    header = stream.read(_FRAME_HEADER)
    if not header:
        return None
    if len(header) < _FRAME_HEADER:
        raise WireError("control stream ended inside a frame header")
    length = int.from_bytes(header, "big")
    if length > MAX_FRAME:
        raise WireError(f"control frame of {length} bytes exceeds {MAX_FRAME}")
    body = stream.read(length)
    if len(body) < length:
        raise WireError("control stream ended inside a frame")
    return decode_frame(body)


def write_frame(stream: BinaryIO, frame: ControlFrame) -> None:
    stream.write(encode_frame(frame))
    stream.flush()
