"""The msgpack wire codec: Raft messages to datagrams and back.

Every message travels as one msgpack array (never a map)::

    [version, tag, src, dst, field, field, ...]

``version`` is :data:`PROTOCOL_VERSION`; ``tag`` is a small integer naming the
message class; ``src`` and ``dst`` are the sender and the addressee; the other
fields follow in the order the dataclass in :mod:`raftviz.core.messages`
declares them. The tag table:

=====  ========================  ==============================================================
 tag   class                     fields after ``src, dst``
=====  ========================  ==============================================================
   1   ``RequestVote``           term, last_log_index, last_log_term
   2   ``RequestVoteReply``      term, vote_granted
   3   ``AppendEntries``         term, prev_log_index, prev_log_term, entries, leader_commit
   4   ``AppendEntriesReply``    term, success, match_index, conflict_index, conflict_term
   5   ``ClientRequest``         command
   6   ``ClientReply``           seq, ok, value, leader_hint, error
   7   ``StatusRequest``         (none)
   8   ``StatusReply``           role, term, vote, leader, commit, applied, last_index, dropped,
                                 configuration, snapshot_index
   9   ``InstallSnapshot``       term, last_included_index, last_included_term, offset, data,
                                 done, checksum
  10   ``InstallSnapshotReply``  term, last_included_index, offset, done
=====  ========================  ==============================================================

Tag 0 is reserved (never valid); tags 11-63 are reserved for future messages;
tags 64 and above are the lab/node control
frames, defined at the end of this module (they travel over a node's standard
input and output, never over UDP). An entry is the array
``[term, command]`` and a command the array ``[op, key, value, client, seq, low]``;
a ``config`` command's value is a configuration's canonical text
(``Configuration.to_value``). ``InstallSnapshot.data`` is the one msgpack
``bin`` in a datagram, at most :data:`MAX_CHUNK` bytes.

Both directions validate every field (type, range, size): :func:`encode`
refuses to put a malformed value on the wire, and :func:`decode` accepts only
values :func:`encode` could have produced. Anything wrong raises
:class:`WireError`, and :func:`decode` raises nothing else, whatever the bytes.
``docs/protocol.md`` is the full specification, written for implementers in
other languages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, BinaryIO, Final

import msgpack

from raftviz.core.membership import Configuration
from raftviz.core.messages import (
    OPS,
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    ClientRequest,
    Command,
    Entry,
    InstallSnapshot,
    InstallSnapshotReply,
    Message,
    RequestVote,
    RequestVoteReply,
    StatusReply,
    StatusRequest,
)

__all__ = [
    "MAX_CHUNK",
    "MAX_CLIENT_ID",
    "MAX_DATAGRAM",
    "MAX_ENTRIES",
    "MAX_NODE_ID",
    "MAX_STR_BYTES",
    "PROTOCOL_VERSION",
    "TAGS",
    "WireError",
    "decode",
    "encode",
    "entry_from_wire",
    "entry_to_wire",
    "ControlFrame",
    "Deliver",
    "Failure",
    "Fire",
    "ForceTimeout",
    "Hello",
    "Report",
    "SetElection",
    "Shutdown",
    "TakeSnapshot",
    "decode_frame",
    "digest",
    "encode_frame",
    "parse_frame",
    "read_frame",
    "write_frame",
]

#: Version of the wire format; the first element of every datagram.
PROTOCOL_VERSION: Final = 1
#: Largest datagram :func:`encode` produces or :func:`decode` accepts (loopback UDP allows 65,507).
MAX_DATAGRAM: Final = 65000
#: Most entries one AppendEntries may carry.
MAX_ENTRIES: Final = 10_000
#: Largest node id (node ids are ``1..MAX_NODE_ID``; 0 means "none" where allowed).
MAX_NODE_ID: Final = 2**31
#: Longest client id, in characters.
MAX_CLIENT_ID: Final = 64
#: Longest string field (key, value), in UTF-8 bytes.
MAX_STR_BYTES: Final = 64 * 1024
#: Largest snapshot chunk one InstallSnapshot may carry, in bytes (keeps it far below MAX_DATAGRAM).
MAX_CHUNK: Final = 32 * 1024

_INDEX_LIMIT: Final = 2**63  # terms, indexes, sequence numbers: 0 <= x < 2**63
_INDEX_MAX: Final = _INDEX_LIMIT - 1
_CHECKSUM_MAX: Final = 2**32 - 1  # a CRC-32
# A str of at most this many characters is at most MAX_STR_BYTES in UTF-8 (4 bytes a character).
_FAST_STR: Final = MAX_STR_BYTES // 4
_OP_SET: Final = frozenset(OPS)
_COMMAND_FIELDS: Final = ("op", "key", "value", "client", "seq", "low")

_packb = msgpack.packb
_unpackb = msgpack.unpackb

Validator = Callable[[Any], Any]


class WireError(ValueError):
    """Raised for anything that is not a well-formed message of this protocol."""


class _Bad(Exception):
    """Internal: a field failed validation. ``path`` is relative to the message."""

    __slots__ = ("expected", "got", "path")

    def __init__(self, path: str, expected: str, got: str) -> None:
        super().__init__(path)
        self.path = path
        self.expected = expected
        self.got = got

    def within(self, prefix: str) -> _Bad:
        """Re-root the path under ``prefix`` (a field name or ``entries[3]``)."""
        self.path = f"{prefix}.{self.path}" if self.path else prefix
        return self

    def error(self, message_name: str) -> WireError:
        where = f"field '{self.path}' of {message_name}" if self.path else message_name
        return WireError(f"{where}: expected {self.expected}, got {self.got}")


# --------------------------------------------------------------------------- describing bad values


def _type_name(value: object) -> str:
    return type(value).__name__ if value is not None else "None"


def _got(value: object, wanted: type) -> str:
    """Describe ``value`` for an error message: its type if wrong, else a short form of it."""
    if type(value) is not wanted:
        return _type_name(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else f"str of {len(value)} characters"
    if isinstance(value, list | tuple):
        return f"{type(value).__name__} of {len(value)} items"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _short(value: object) -> str:
    """Like :func:`_got` for values of unknown expected type (version, tag)."""
    return _got(value, int) if type(value) is int else _type_name(value)


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


# --------------------------------------------------------------------------- scalar validators
#
# Each factory returns a function that returns its argument when it is valid and
# raises _Bad (naming the field) when not. Scalars look the same in Python and on
# the wire, so one function serves both encode and decode.


def _int_field(name: str, low: int, high: int, expected: str) -> Validator:
    def check(value: Any) -> int:
        if type(value) is int and low <= value <= high:
            return value
        raise _Bad(name, expected, _got(value, int))

    return check


def _index(name: str) -> Validator:
    """A term, log index or sequence number: ``0 <= x < 2**63``."""
    return _int_field(name, 0, _INDEX_MAX, "int >= 0 and < 2**63")


def _node_id(name: str) -> Validator:
    return _int_field(name, 1, MAX_NODE_ID, f"node id (int 1..{MAX_NODE_ID})")


def _node_id_or_zero(name: str) -> Validator:
    return _int_field(name, 0, MAX_NODE_ID, f"node id or 0 (int 0..{MAX_NODE_ID})")


def _bool(name: str) -> Validator:
    def check(value: Any) -> bool:
        if type(value) is bool:
            return value
        raise _Bad(name, "bool", _type_name(value))

    return check


def _client_id(name: str, *, allow_empty: bool = False) -> Validator:
    low = 0 if allow_empty else 1
    expected = f"{'' if allow_empty else 'non-empty '}str of at most {MAX_CLIENT_ID} characters"
    if not allow_empty:
        expected = f"client id ({expected})"

    def check(value: Any) -> str:
        if type(value) is str and low <= len(value) <= MAX_CLIENT_ID:
            return value
        raise _Bad(name, expected, _got(value, str))

    return check


def _text(name: str, *, optional: bool = False) -> Validator:
    expected = f"str of at most {MAX_STR_BYTES} UTF-8 bytes"
    if optional:
        expected += " or None"

    def check(value: Any) -> str | None:
        if type(value) is str:
            if len(value) <= _FAST_STR or _utf8_len(value) <= MAX_STR_BYTES:
                return value
            raise _Bad(name, expected, f"str of {_utf8_len(value)} UTF-8 bytes")
        if value is None and optional:
            return None
        raise _Bad(name, expected, _type_name(value))

    return check


def _op(name: str) -> Validator:
    expected = "one of " + ", ".join(repr(op) for op in OPS)

    def check(value: Any) -> str:
        if type(value) is str and value in _OP_SET:
            return value
        raise _Bad(name, expected, _got(value, str))

    return check


def _role(name: str) -> Validator:
    expected = "one of 'follower', 'candidate', 'leader'"

    def check(value: Any) -> str:
        if type(value) is str and value in ("follower", "candidate", "leader"):
            return value
        raise _Bad(name, expected, _got(value, str))

    return check


def _checksum(name: str) -> Validator:
    """A CRC-32: ``0 <= x < 2**32``."""
    return _int_field(name, 0, _CHECKSUM_MAX, "int >= 0 and < 2**32")


def _chunk(name: str) -> Validator:
    """A snapshot chunk: ``bytes`` (msgpack bin) of at most MAX_CHUNK bytes; not bytearray or memoryview."""
    expected = f"bytes of length at most {MAX_CHUNK}"

    def check(value: Any) -> bytes:
        if type(value) is bytes and len(value) <= MAX_CHUNK:
            return value
        got = f"bytes of length {len(value)}" if type(value) is bytes else _type_name(value)
        raise _Bad(name, expected, got)

    return check


_CONFIGURATION_EXPECTED: Final = (
    "configuration in canonical form (voters, then '/' and learners if any: "
    "ascending node ids, e.g. '1,2,3' or '1,2/4'; '' for none)"
)


def _configuration(name: str) -> Validator:
    """A configuration's text as ``Configuration.to_value`` writes it (``""``: no voters, no learners)."""

    def check(value: Any) -> str:
        if type(value) is str:
            try:
                Configuration.from_value(value)
            except ValueError:  # ConfigurationError, and int()'s own ValueError for digits such as '²'
                pass
            else:
                return value
        raise _Bad(name, _CONFIGURATION_EXPECTED, _got(value, str))

    return check


# --------------------------------------------------------------------------- commands and entries

_COMMAND_CHECKS: Final[tuple[Validator, ...]] = (
    _op("op"),
    _text("key"),
    _text("value"),
    _client_id("client", allow_empty=True),
    _index("seq"),
    _index("low"),
)
_COMMAND_SHAPE: Final = "list [op, key, value, client, seq, low]"
_ENTRY_SHAPE: Final = "list [term, command]"
_ENTRY_TERM: Final = _index("term")
_CONFIG_VALUE: Final = _configuration("value")


def _check_command(fields: Any) -> Any:
    """Validate the six command fields (a list from the wire or a tuple from a Command); return them.

    A ``config`` command's value must also be a configuration's canonical text.
    Raises _Bad with a path relative to the command.
    """
    op, key, value, client, seq, low = fields
    if (
        type(op) is str
        and op in _OP_SET
        and type(key) is str
        and len(key) <= _FAST_STR
        and type(value) is str
        and len(value) <= _FAST_STR
        and type(client) is str
        and len(client) <= MAX_CLIENT_ID
        and type(seq) is int
        and 0 <= seq <= _INDEX_MAX
        and type(low) is int
        and 0 <= low <= _INDEX_MAX
    ):
        if op == "config":
            _CONFIG_VALUE(value)
        return fields
    # Slow path: a long string (needs the precise UTF-8 check) or a bad field (needs a precise message).
    for check, item in zip(_COMMAND_CHECKS, fields, strict=True):
        check(item)
    if op == "config":
        _CONFIG_VALUE(value)
    return fields


_command_fields: Final = attrgetter(*_COMMAND_FIELDS)


def _command_from_wire(raw: Any) -> Command:
    """Decode ``[op, key, value, client, seq, low]``; raises _Bad with a path relative to the command."""
    if type(raw) is list and len(raw) == 6:
        return Command(*_check_command(raw))
    raise _Bad("", _COMMAND_SHAPE, _got(raw, list))


def _command_to_wire(command: Any) -> tuple[Any, ...]:
    """Encode a Command as ``(op, key, value, client, seq, low)`` (packed as an array); raises _Bad."""
    if type(command) is Command:
        return _check_command(_command_fields(command))
    raise _Bad("", "Command", _type_name(command))


def _entry_from_wire(raw: Any) -> Entry:
    """Decode ``[term, [op, key, value, client, seq, low]]``; raises _Bad with a path relative to it."""
    if type(raw) is list and len(raw) == 2:
        term, command = raw
        if type(term) is not int or not 0 <= term <= _INDEX_MAX:
            _ENTRY_TERM(term)  # raises with the message
        try:
            return Entry(term, _command_from_wire(command))
        except _Bad as bad:
            raise bad.within("command") from None
    raise _Bad("", _ENTRY_SHAPE, _got(raw, list))


def _entry_to_wire(entry: Any) -> list[Any]:
    """Encode an Entry as ``[term, command]``; raises _Bad with a path relative to the entry."""
    if type(entry) is not Entry:
        raise _Bad("", "Entry", _type_name(entry))
    term = _ENTRY_TERM(entry.term)
    try:
        return [term, _command_to_wire(entry.command)]
    except _Bad as bad:
        raise bad.within("command") from None


def _locate(name: str, convert: Validator, items: Any) -> _Bad:
    """After a batch failed: find the first bad item again and return its error, path and all.

    Keeps index bookkeeping out of the fast path (a list comprehension).
    """
    for index, item in enumerate(items):
        try:
            convert(item)
        except _Bad as bad:
            return bad.within(f"{name}[{index}]")
    raise AssertionError("a batch failed but no item does")  # pragma: no cover


def _command(name: str) -> tuple[Validator, Validator]:
    def encode(value: Any) -> tuple[Any, ...]:
        try:
            return _command_to_wire(value)
        except _Bad as bad:
            raise bad.within(name) from None

    def decode(value: Any) -> Command:
        try:
            return _command_from_wire(value)
        except _Bad as bad:
            raise bad.within(name) from None

    return encode, decode


def _entries(name: str) -> tuple[Validator, Validator]:
    expected = f"list of at most {MAX_ENTRIES} entries"

    def encode(value: Any) -> list[Any]:
        if type(value) is not tuple or len(value) > MAX_ENTRIES:
            raise _Bad(name, f"tuple of at most {MAX_ENTRIES} entries", _got(value, tuple))
        try:
            return [_entry_to_wire(entry) for entry in value]
        except _Bad:
            raise _locate(name, _entry_to_wire, value) from None

    def decode(value: Any) -> tuple[Entry, ...]:
        if type(value) is not list or len(value) > MAX_ENTRIES:
            raise _Bad(name, expected, _got(value, list))
        try:
            return tuple([_entry_from_wire(raw) for raw in value])
        except _Bad:
            raise _locate(name, _entry_from_wire, value) from None

    return encode, decode


# --------------------------------------------------------------------------- the table


def _same(check: Validator) -> tuple[Validator, Validator]:
    """A scalar field: the same validator both ways."""
    return check, check


class _Spec:
    """How one message class travels: its tag and one (encoder, decoder) per field."""

    __slots__ = ("cls", "decoders", "encoders", "fields", "getter", "length", "name", "tag")

    def __init__(
        self, cls: type, tag: int, fields: tuple[tuple[str, tuple[Validator, Validator]], ...]
    ) -> None:
        self.cls = cls
        self.tag = tag
        self.name = cls.__name__
        self.fields = tuple(name for name, _ in fields)
        self.encoders = tuple(codec[0] for _, codec in fields)
        self.decoders = tuple(codec[1] for _, codec in fields)
        self.getter = attrgetter(*self.fields)
        self.length = 2 + len(fields)  # version and tag, then the fields (src and dst first)


def _spec(cls: type, tag: int, *fields: tuple[str, tuple[Validator, Validator]]) -> _Spec:
    return _Spec(cls, tag, fields)


def _f(name: str, factory: Callable[[str], Validator]) -> tuple[str, tuple[Validator, Validator]]:
    return name, _same(factory(name))


_SPECS: Final = (
    _spec(
        RequestVote,
        1,
        _f("src", _node_id),
        _f("dst", _node_id),
        _f("term", _index),
        _f("last_log_index", _index),
        _f("last_log_term", _index),
    ),
    _spec(
        RequestVoteReply,
        2,
        _f("src", _node_id),
        _f("dst", _node_id),
        _f("term", _index),
        _f("vote_granted", _bool),
    ),
    _spec(
        AppendEntries,
        3,
        _f("src", _node_id),
        _f("dst", _node_id),
        _f("term", _index),
        _f("prev_log_index", _index),
        _f("prev_log_term", _index),
        ("entries", _entries("entries")),
        _f("leader_commit", _index),
    ),
    _spec(
        AppendEntriesReply,
        4,
        _f("src", _node_id),
        _f("dst", _node_id),
        _f("term", _index),
        _f("success", _bool),
        _f("match_index", _index),
        _f("conflict_index", _index),
        _f("conflict_term", _index),
    ),
    _spec(
        ClientRequest,
        5,
        _f("src", _client_id),
        _f("dst", _node_id),
        ("command", _command("command")),
    ),
    _spec(
        ClientReply,
        6,
        _f("src", _node_id),
        _f("dst", _client_id),
        _f("seq", _index),
        _f("ok", _bool),
        ("value", _same(_text("value", optional=True))),
        _f("leader_hint", _node_id_or_zero),
        ("error", _same(_text("error"))),
    ),
    _spec(
        StatusRequest,
        7,
        _f("src", _client_id),
        _f("dst", _node_id),
    ),
    _spec(
        StatusReply,
        8,
        _f("src", _node_id),
        _f("dst", _client_id),
        ("role", _same(_role("role"))),
        _f("term", _index),
        _f("vote", _node_id_or_zero),
        _f("leader", _node_id_or_zero),
        _f("commit", _index),
        _f("applied", _index),
        _f("last_index", _index),
        _f("dropped", _index),
        _f("configuration", _configuration),
        _f("snapshot_index", _index),
    ),
    _spec(
        InstallSnapshot,
        9,
        _f("src", _node_id),
        _f("dst", _node_id),
        _f("term", _index),
        _f("last_included_index", _index),
        _f("last_included_term", _index),
        _f("offset", _index),
        _f("data", _chunk),
        _f("done", _bool),
        _f("checksum", _checksum),
    ),
    _spec(
        InstallSnapshotReply,
        10,
        _f("src", _node_id),
        _f("dst", _node_id),
        _f("term", _index),
        _f("last_included_index", _index),
        _f("offset", _index),
        _f("done", _bool),
    ),
)
_BY_CLASS: Final[dict[type, _Spec]] = {spec.cls: spec for spec in _SPECS}
_BY_TAG: Final[dict[int, _Spec]] = {spec.tag: spec for spec in _SPECS}
#: Message class for each type tag.
TAGS: Final[dict[int, type]] = {spec.tag: spec.cls for spec in _SPECS}


# --------------------------------------------------------------------------- public API


def encode(msg: Message) -> bytes:
    """Encode ``msg`` as one datagram.

    Raises :class:`WireError` if ``msg`` is not a message class of the protocol,
    if any field is out of its type or range, or if the result would exceed
    :data:`MAX_DATAGRAM` bytes (split the entries into smaller batches).
    """
    spec = _BY_CLASS.get(type(msg))
    if spec is None:
        raise WireError(f"cannot encode {type(msg).__name__}: not a message of the wire protocol")
    try:
        body = [
            PROTOCOL_VERSION,
            spec.tag,
            *[enc(v) for enc, v in zip(spec.encoders, spec.getter(msg))],  # noqa: B905 - same length
        ]
    except _Bad as bad:
        raise bad.error(spec.name) from None
    try:
        data: bytes = _packb(body, use_bin_type=True)
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a lone surrogate in a str
        raise WireError(f"cannot encode {spec.name}: {exc}") from None
    if len(data) > MAX_DATAGRAM:
        raise WireError(
            f"encoded {spec.name} is {len(data)} bytes, over MAX_DATAGRAM ({MAX_DATAGRAM}); "
            "send fewer or smaller entries"
        )
    return data


def decode(data: bytes) -> Message:
    """Decode one datagram into a message, validating every field.

    Raises :class:`WireError`, and nothing else, for any input that is not a
    datagram :func:`encode` could have produced.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise WireError(f"expected bytes, got {_type_name(data)}")
    size = len(data) if not isinstance(data, memoryview) else data.nbytes
    if size > MAX_DATAGRAM:
        raise WireError(f"datagram of {size} bytes exceeds MAX_DATAGRAM ({MAX_DATAGRAM})")
    try:
        # msgpack bounds each container/string by the input length, and its C
        # unpacker limits nesting depth (StackError), so a 65 kB input cannot
        # blow up. Catching Exception is deliberate: whatever the unpacker
        # raises for garbage (ExtraData, OutOfData, FormatError, StackError,
        # UnicodeDecodeError, ValueError for int map keys, TypeError ...) is
        # "malformed", and decode promises WireError only.
        obj = _unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # noqa: BLE001 - see above
        detail = str(exc)
        raise WireError(
            f"malformed msgpack ({type(exc).__name__}{': ' + detail if detail else ''})"
        ) from None
    if type(obj) is not list:
        raise WireError(f"envelope: expected list [version, tag, src, dst, ...], got {_type_name(obj)}")
    if len(obj) < 4:
        raise WireError(f"envelope: expected at least 4 items [version, tag, src, dst, ...], got {len(obj)}")
    version = obj[0]
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise WireError(
            f"unsupported protocol version {_short(version)} (this codec speaks {PROTOCOL_VERSION})"
        )
    tag = obj[1]
    spec = _BY_TAG.get(tag) if type(tag) is int else None
    if spec is None:
        raise WireError(f"unknown message type tag {_short(tag)}")
    if len(obj) != spec.length:
        raise WireError(
            f"{spec.name}: expected {spec.length} items [version, tag, {', '.join(spec.fields)}], "
            f"got {len(obj)}"
        )
    try:
        return spec.cls(*[dec(v) for dec, v in zip(spec.decoders, obj[2:])])  # noqa: B905 - length checked
    except _Bad as bad:
        raise bad.error(spec.name) from None


def entry_to_wire(entry: Entry) -> list[Any]:
    """One log entry in its wire form, ``[term, [op, key, value, client, seq, low]]``.

    For storing entries with the same validation and layout as on the wire
    (``raftviz.node.storage``). Raises :class:`WireError` for an invalid entry.
    """
    try:
        term, command = _entry_to_wire(entry)
    except _Bad as bad:
        raise bad.error("Entry") from None
    return [term, list(command)]


def entry_from_wire(raw: Any) -> Entry:
    """The inverse of :func:`entry_to_wire`, for an already unpacked value; raises only :class:`WireError`."""
    try:
        return _entry_from_wire(raw)
    except _Bad as bad:
        raise bad.error("Entry") from None


# =========================================================================== control frames
#
# Between the lab and a lab-mode node process, over the node's standard input
# and output (reliable and ordered, so no size limit): each frame is a 4-byte
# big-endian length followed by one msgpack array ``[version, tag, field, ...]``
# with a tag of 64 or more. They are validated as strictly as Raft messages.

_ROLES: Final = frozenset({"follower", "candidate", "leader"})
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
    #: Outgoing datagrams as (destination, encoded message), in send order.
    sent: list[tuple[int | str, bytes]] = field(default_factory=list)
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
class Shutdown:
    """Lab -> node: exit cleanly (tag 69)."""


@dataclass(frozen=True, slots=True)
class Failure:
    """Node -> lab: the node cannot go on (for example, corrupt storage) (tag 70)."""

    reason: str


ControlFrame = (
    Hello | Deliver | Fire | ForceTimeout | SetElection | Shutdown | Failure | Report | TakeSnapshot
)


def digest(data: bytes) -> bytes:
    """The 8-byte digest by which the lab announces a datagram to a node."""
    return hashlib.blake2b(data, digest_size=8).digest()


def _pairs(value: Any, name: str) -> tuple[tuple[int, int], ...]:
    if type(value) is not list:
        raise _Bad(name, "list of [node, index] pairs", _type_name(value))
    out = []
    for item in value:
        if type(item) is not list or len(item) != 2:
            raise _Bad(name, "list of [node, index] pairs", _got(item, list))
        out.append((_NODE(item[0]), _INDEX(item[1])))
    return tuple(out)


_NODE: Final = _node_id("node")
_NODE0: Final = _node_id_or_zero("node")
_INDEX: Final = _index("index")
_TEXT: Final = _text("text")
_PORT: Final = _int_field("port", 1, 65535, "port (int 1..65535)")
_START_INDEX: Final = _index("start_index")
_START_TERM: Final = _index("start_term")
_REPORT_FIELDS: Final = 24


def _members(value: Any, name: str) -> tuple[int, ...]:
    """A list of node ids in strictly ascending order (so without duplicates)."""
    expected = "list of node ids in ascending order, without duplicates"
    if type(value) is not list:
        raise _Bad(name, expected, _type_name(value))
    check = _node_id(name)
    previous = 0
    for item in value:
        if check(item) <= previous:
            raise _Bad(name, expected, f"{item} after {previous}")
        previous = item
    return tuple(value)


def _report_to_wire(r: Report) -> list[Any]:
    return [
        r.node, r.role, r.term, r.vote, r.leader, r.commit, r.applied, r.last_index, r.last_term,
        r.deadline, r.election_timeout, r.log_from, [entry_to_wire(e) for e in r.entries],
        [[dst, data] for dst, data in r.sent], list(r.votes),
        [list(p) for p in r.next_index], [list(p) for p in r.match_index], r.dropped, r.refused,
        r.start_index, r.start_term, list(r.voters), list(r.learners), r.snapshot,
    ]  # fmt: skip


def _report_from_wire(raw: Any) -> Report:
    if type(raw) is not list or len(raw) != _REPORT_FIELDS:
        raise _Bad("report", f"list of {_REPORT_FIELDS} report fields", _got(raw, list))
    (node, role, term, vote, leader, commit, applied, last_index, last_term, deadline, timeout,
     log_from, entries, sent, votes, next_index, match_index, dropped, refused,
     start_index, start_term, voters, learners, snapshot) = raw  # fmt: skip
    if type(role) is not str or role not in _ROLES:
        raise _Bad("role", "follower, candidate or leader", _got(role, str))
    if type(entries) is not list or type(sent) is not list or type(votes) is not list:
        raise _Bad("report", "lists for entries, sent and votes", "other types")
    out_sent: list[tuple[int | str, bytes]] = []
    for item in sent:
        if type(item) is not list or len(item) != 2 or type(item[1]) is not bytes:
            raise _Bad("sent", "list of [destination, bytes]", _got(item, list))
        dst = item[0]
        if type(dst) is str:
            _client_id("sent")(dst)
        else:
            _NODE(dst)
        out_sent.append((dst, item[1]))
    out_voters = _members(voters, "voters")
    out_learners = _members(learners, "learners")
    both = sorted(set(out_voters) & set(out_learners))
    if both:
        raise _Bad("learners", "node ids that are not voters", f"{both} among the voters too")
    if type(snapshot) is not bytes:
        raise _Bad("snapshot", "bytes", _type_name(snapshot))
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
        entries=[_entry_from_wire(e) for e in entries],
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
    )


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
    raise WireError(f"cannot encode {type(frame).__name__}: not a control frame")


def _frame_from_fields(tag: Any, fields: list[Any]) -> ControlFrame:
    n = len(fields)
    if tag == 71:
        return _report_from_wire(fields)
    if tag == 64 and n == 4:
        return Hello(_NODE(fields[0]), _INDEX(fields[1]), _PORT(fields[2]), _report_from_wire(fields[3]))
    if tag == 65 and n == 2:
        if type(fields[1]) is not bytes or len(fields[1]) != 8:
            raise _Bad("digest", "8 bytes", _type_name(fields[1]))
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
    raise WireError(f"unknown control frame tag {_short(tag)} with {n} fields")


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
        raise WireError(f"unknown control frame tag {_short(obj[1])}: a tag is an int")
    try:
        return _frame_from_fields(obj[1], obj[2:])
    except _Bad as bad:
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
