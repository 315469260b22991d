"""The Raft and client datagram codec: messages to UDP datagrams and back.

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
   3   ``AppendEntries``         term, prev_log_index, prev_log_term, entries, leader_commit,
                                 [round]
   4   ``AppendEntriesReply``    term, success, match_index, conflict_index, conflict_term,
                                 [round, [recovering]]
   5   ``ClientRequest``         command, [read]
   6   ``ClientReply``           seq, ok, value, leader_hint, error
   7   ``StatusRequest``         (none)
   8   ``StatusReply``           role, term, vote, leader, commit, applied, last_index, dropped,
                                 configuration, snapshot_index, unauthenticated, violations
                                 [, recovering: left off when empty]
   9   ``InstallSnapshot``       term, last_included_index, last_included_term, offset, data,
                                 done, checksum
  10   ``InstallSnapshotReply``  term, last_included_index, offset, done
  11   ``PreVote``               term, last_log_index, last_log_term
  12   ``PreVoteReply``          term, vote_granted
  13   ``TimeoutNow``            term
  14   ``TransferRequest``       target
=====  ========================  ==============================================================

Fields in brackets are optional and last: left off while they hold their
default (``round`` 0, ``read`` "", ``recovering`` false or ""), so that messages
without them read as before; the last one written out must differ from its
default (reads without the log, dissertation §6.4: :mod:`raftviz.core.reads`;
``recovering``: a follower with damaged storage, docs/architecture.md).
Tag 0 is reserved (never valid); tags 15-63 are reserved for future messages;
tags 64 and above are the lab/node control
frames of :mod:`raftviz.wire.control` (they travel over a node's standard
input and output, never over UDP); field limits and validators are in
:mod:`raftviz.wire.validate`. An entry is the array
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

from collections.abc import Callable
from operator import attrgetter
from typing import Any, Final

import msgpack

from raftviz.core.messages import (
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    ClientRequest,
    Command,
    Entry,
    InstallSnapshot,
    InstallSnapshotReply,
    Message,
    PreVote,
    PreVoteReply,
    RequestVote,
    RequestVoteReply,
    StatusReply,
    StatusRequest,
    TimeoutNow,
    TransferRequest,
)
from raftviz.wire.validate import (
    FAST_STR,
    INDEX_MAX,
    MAX_CLIENT_ID,
    MAX_DATAGRAM,
    MAX_ENTRIES,
    OP_SET,
    PROTOCOL_VERSION,
    Bad,
    Validator,
    WireError,
    bool_field,
    checksum_field,
    chunk_field,
    client_id_field,
    configuration_field,
    counters_field,
    got,
    index_field,
    node_id_field,
    node_id_or_zero_field,
    op_field,
    read_mode_field,
    role_field,
    round_field,
    short,
    text_field,
    type_name,
)

_COMMAND_FIELDS: Final = ("op", "key", "value", "client", "seq", "low")

_packb = msgpack.packb
_unpackb = msgpack.unpackb


# --------------------------------------------------------------------------- commands and entries

_COMMAND_CHECKS: Final[tuple[Validator, ...]] = (
    op_field("op"),
    text_field("key"),
    text_field("value"),
    client_id_field("client", allow_empty=True),
    index_field("seq"),
    index_field("low"),
)
_COMMAND_SHAPE: Final = "list [op, key, value, client, seq, low]"
_ENTRY_SHAPE: Final = "list [term, command, stamp]"
_ENTRY_TERM: Final = index_field("term")
_ENTRY_STAMP: Final = index_field("stamp")
_CONFIG_VALUE: Final = configuration_field("value")


def _check_command(fields: Any) -> Any:
    """Validate the six command fields (a list from the wire or a tuple from a Command); return them.

    A ``config`` command's value must also be a configuration's canonical text.
    Raises Bad with a path relative to the command.
    """
    op, key, value, client, seq, low = fields
    if (
        type(op) is str
        and op in OP_SET
        and type(key) is str
        and len(key) <= FAST_STR
        and type(value) is str
        and len(value) <= FAST_STR
        and type(client) is str
        and len(client) <= MAX_CLIENT_ID
        and type(seq) is int
        and 0 <= seq <= INDEX_MAX
        and type(low) is int
        and 0 <= low <= INDEX_MAX
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
    """Decode ``[op, key, value, client, seq, low]``; raises Bad with a path relative to the command."""
    if type(raw) is list and len(raw) == 6:
        return Command(*_check_command(raw))
    raise Bad("", _COMMAND_SHAPE, got(raw, list))


def _command_to_wire(command: Any) -> tuple[Any, ...]:
    """Encode a Command as ``(op, key, value, client, seq, low)`` (packed as an array); raises Bad."""
    if type(command) is Command:
        return _check_command(_command_fields(command))
    raise Bad("", "Command", type_name(command))


def parse_entry(raw: Any) -> Entry:
    """Decode ``[term, [op, key, value, client, seq, low], stamp]``; raises Bad with a path relative to it."""
    if type(raw) is list and len(raw) == 3:
        term, command, stamp = raw
        if type(term) is not int or not 0 <= term <= INDEX_MAX:
            _ENTRY_TERM(term)  # raises with the message
        if type(stamp) is not int or not 0 <= stamp <= INDEX_MAX:
            _ENTRY_STAMP(stamp)  # raises with the message
        try:
            return Entry(term, _command_from_wire(command), stamp)
        except Bad as bad:
            raise bad.within("command") from None
    raise Bad("", _ENTRY_SHAPE, got(raw, list))


def _entry_to_wire(entry: Any) -> list[Any]:
    """Encode an Entry as ``[term, command, stamp]``; raises Bad with a path relative to the entry."""
    if type(entry) is not Entry:
        raise Bad("", "Entry", type_name(entry))
    term = _ENTRY_TERM(entry.term)
    stamp = _ENTRY_STAMP(entry.stamp)
    try:
        return [term, _command_to_wire(entry.command), stamp]
    except Bad as bad:
        raise bad.within("command") from None


#: Entries encoded lately, by identity: id(entry) -> (entry, its wire form). A leader
#: sends each new entry to every follower (and again to a slow one), and an entry is
#: immutable, so its checked wire form is made once. The entry itself is kept with
#: its form, so its id cannot be reused while cached. Full, it is emptied (at once:
#: no iteration another thread could disturb) and fills again with the entries in use.
_ENCODED_ENTRIES: Final[dict[int, tuple[Entry, list[Any]]]] = {}
_ENCODED_ENTRIES_KEPT: Final = 1024


def _entry_to_wire_cached(entry: Any) -> list[Any]:
    """``_entry_to_wire(entry)``, made once per entry (msgpack only reads the list)."""
    hit = _ENCODED_ENTRIES.get(id(entry))
    if hit is not None and hit[0] is entry:
        return hit[1]
    wire = _entry_to_wire(entry)
    if len(_ENCODED_ENTRIES) >= _ENCODED_ENTRIES_KEPT:
        _ENCODED_ENTRIES.clear()
    _ENCODED_ENTRIES[id(entry)] = (entry, wire)
    return wire


def _locate(name: str, convert: Validator, items: Any) -> Bad:
    """After a batch failed: find the first bad item again and return its error, path and all.

    Keeps index bookkeeping out of the fast path (a list comprehension).
    """
    for index, item in enumerate(items):
        try:
            convert(item)
        except Bad as bad:
            return bad.within(f"{name}[{index}]")
    raise AssertionError("a batch failed but no item does")  # pragma: no cover


def _command(name: str) -> tuple[Validator, Validator]:
    def encode(value: Any) -> tuple[Any, ...]:
        try:
            return _command_to_wire(value)
        except Bad as bad:
            raise bad.within(name) from None

    def decode(value: Any) -> Command:
        try:
            return _command_from_wire(value)
        except Bad as bad:
            raise bad.within(name) from None

    return encode, decode


def _entries(name: str) -> tuple[Validator, Validator]:
    expected = f"list of at most {MAX_ENTRIES} entries"

    def encode(value: Any) -> list[Any]:
        if type(value) is not tuple or len(value) > MAX_ENTRIES:
            raise Bad(name, f"tuple of at most {MAX_ENTRIES} entries", got(value, tuple))
        try:
            return [_entry_to_wire_cached(entry) for entry in value]
        except Bad:
            raise _locate(name, _entry_to_wire, value) from None

    def decode(value: Any) -> tuple[Entry, ...]:
        if type(value) is not list or len(value) > MAX_ENTRIES:
            raise Bad(name, expected, got(value, list))
        try:
            return tuple([parse_entry(raw) for raw in value])
        except Bad:
            raise _locate(name, parse_entry, value) from None

    return encode, decode


def _counters_to_wire(value: Any) -> list[Any]:
    """``(kind, count)`` pairs as the list of ``[kind, count]`` a receiver checks."""
    if type(value) is not tuple:
        raise Bad("violations", "tuple of (kind, count) pairs", got(value, tuple))
    wire = [list(pair) for pair in value]
    counters_field("violations")(wire)
    return wire


# --------------------------------------------------------------------------- the table


def _same(check: Validator) -> tuple[Validator, Validator]:
    """A scalar field: the same validator both ways."""
    return check, check


class _Spec:
    """How one message class travels: its tag and one (encoder, decoder) per field."""

    __slots__ = (
        "cls",
        "decoders",
        "defaults_last_first",
        "encoders",
        "fields",
        "getter",
        "length",
        "name",
        "optional",
        "tag",
    )

    def __init__(
        self,
        cls: type,
        tag: int,
        fields: tuple[tuple[str, tuple[Validator, Validator]], ...],
        optional: tuple[tuple[str, Any], ...] = (),
    ) -> None:
        self.cls = cls
        self.tag = tag
        self.name = cls.__name__
        self.fields = tuple(name for name, _ in fields)
        self.encoders = tuple(codec[0] for _, codec in fields)
        self.decoders = tuple(codec[1] for _, codec in fields)
        self.getter = attrgetter(*self.fields)
        self.length = 2 + len(fields)  # version and tag, then the fields (src and dst first)
        #: Trailing fields left off the wire while they hold their default, as (name,
        #: default): a message that does not use them is byte for byte what it was
        #: before them (ClientRequest.read and the heartbeat ``round``, dissertation
        #: §6.4 reads; ``recovering`` of a follower with damaged storage). The last
        #: one written out must differ from its default: decode accepts only what
        #: encode writes, so every message has one encoding.
        self.optional = optional
        #: The optional fields' defaults, the last field's first (what encode checks, in its order).
        self.defaults_last_first = tuple(default for _, default in reversed(optional))


def _spec(
    cls: type,
    tag: int,
    *fields: tuple[str, tuple[Validator, Validator]],
    optional: tuple[tuple[str, Any], ...] = (),
) -> _Spec:
    return _Spec(cls, tag, fields, optional)


def _f(name: str, factory: Callable[[str], Validator]) -> tuple[str, tuple[Validator, Validator]]:
    return name, _same(factory(name))


_SPECS: Final = (
    _spec(
        RequestVote,
        1,
        _f("src", node_id_field),
        _f("dst", node_id_field),
        _f("term", index_field),
        _f("last_log_index", index_field),
        _f("last_log_term", index_field),
    ),
    _spec(
        RequestVoteReply,
        2,
        _f("src", node_id_field),
        _f("dst", node_id_field),
        _f("term", index_field),
        _f("vote_granted", bool_field),
    ),
    _spec(
        AppendEntries,
        3,
        _f("src", node_id_field),
        _f("dst", node_id_field),
        _f("term", index_field),
        _f("prev_log_index", index_field),
        _f("prev_log_term", index_field),
        ("entries", _entries("entries")),
        _f("leader_commit", index_field),
        _f("round", round_field),
        optional=(("round", 0),),
    ),
    _spec(
        AppendEntriesReply,
        4,
        _f("src", node_id_field),
        _f("dst", node_id_field),
        _f("term", index_field),
        _f("success", bool_field),
        _f("match_index", index_field),
        _f("conflict_index", index_field),
        _f("conflict_term", index_field),
        _f("round", round_field),
        _f("recovering", bool_field),
        optional=(("round", 0), ("recovering", False)),
    ),
    _spec(
        ClientRequest,
        5,
        _f("src", client_id_field),
        _f("dst", node_id_field),
        ("command", _command("command")),
        _f("read", read_mode_field),
        optional=(("read", ""),),
    ),
    _spec(
        ClientReply,
        6,
        _f("src", node_id_field),
        _f("dst", client_id_field),
        _f("seq", index_field),
        _f("ok", bool_field),
        ("value", _same(text_field("value", optional=True))),
        _f("leader_hint", node_id_or_zero_field),
        ("error", _same(text_field("error"))),
    ),
    _spec(
        StatusRequest,
        7,
        _f("src", client_id_field),
        _f("dst", node_id_field),
    ),
    _spec(
        StatusReply,
        8,
        _f("src", node_id_field),
        _f("dst", client_id_field),
        ("role", _same(role_field("role"))),
        _f("term", index_field),
        _f("vote", node_id_or_zero_field),
        _f("leader", node_id_or_zero_field),
        _f("commit", index_field),
        _f("applied", index_field),
        _f("last_index", index_field),
        _f("dropped", index_field),
        _f("configuration", configuration_field),
        _f("snapshot_index", index_field),
        _f("unauthenticated", index_field),
        ("violations", (_counters_to_wire, counters_field("violations"))),
        _f("recovering", text_field),
        optional=(("recovering", ""),),
    ),
    _spec(
        InstallSnapshot,
        9,
        _f("src", node_id_field),
        _f("dst", node_id_field),
        _f("term", index_field),
        _f("last_included_index", index_field),
        _f("last_included_term", index_field),
        _f("offset", index_field),
        _f("data", chunk_field),
        _f("done", bool_field),
        _f("checksum", checksum_field),
    ),
    _spec(
        InstallSnapshotReply,
        10,
        _f("src", node_id_field),
        _f("dst", node_id_field),
        _f("term", index_field),
        _f("last_included_index", index_field),
        _f("offset", index_field),
        _f("done", bool_field),
    ),
    _spec(
        PreVote,
        11,
        _f("src", node_id_field),
        _f("dst", node_id_field),
        _f("term", index_field),
        _f("last_log_index", index_field),
        _f("last_log_term", index_field),
    ),
    _spec(
        PreVoteReply,
        12,
        _f("src", node_id_field),
        _f("dst", node_id_field),
        _f("term", index_field),
        _f("vote_granted", bool_field),
    ),
    _spec(
        TimeoutNow,
        13,
        _f("src", node_id_field),
        _f("dst", node_id_field),
        _f("term", index_field),
    ),
    _spec(
        TransferRequest,
        14,
        _f("src", client_id_field),
        _f("dst", node_id_field),
        _f("target", node_id_field),
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
    values = spec.getter(msg)
    kept = len(values)
    for default in spec.defaults_last_first:  # the optional fields are the last ones
        value = values[kept - 1]
        if value != default or type(value) is not type(default):
            break
        kept -= 1  # a trailing default stays off the wire (its validator may refuse it)
    encoders = spec.encoders
    if kept < len(values):
        values, encoders = values[:kept], encoders[:kept]
    try:
        body = [
            PROTOCOL_VERSION,
            spec.tag,
            *[enc(v) for enc, v in zip(encoders, values)],  # noqa: B905 - same length
        ]
    except Bad as bad:
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
        raise WireError(f"expected bytes, got {type_name(data)}")
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
        raise WireError(f"envelope: expected list [version, tag, src, dst, ...], got {type_name(obj)}")
    if len(obj) < 4:
        raise WireError(f"envelope: expected at least 4 items [version, tag, src, dst, ...], got {len(obj)}")
    version = obj[0]
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise WireError(
            f"unsupported protocol version {short(version)} (this codec speaks {PROTOCOL_VERSION})"
        )
    tag = obj[1]
    spec = _BY_TAG.get(tag) if type(tag) is int else None
    if spec is None:
        raise WireError(f"unknown message type tag {short(tag)}")
    if not spec.length - len(spec.optional) <= len(obj) <= spec.length:
        raise WireError(
            f"{spec.name}: expected {_items(spec)} items [version, tag, {', '.join(spec.fields)}], "
            f"got {len(obj)}"
        )
    try:
        msg = spec.cls(*[dec(v) for dec, v in zip(spec.decoders, obj[2:])])  # noqa: B905 - length checked
    except Bad as bad:
        raise bad.error(spec.name) from None
    written = len(obj) - (spec.length - len(spec.optional))
    if written:
        name, default = spec.optional[written - 1]
        if getattr(msg, name) == default:
            raise WireError(f"{spec.name}: {name} holds its default {default!r}: it is left off the wire")
    return msg


def _items(spec: _Spec) -> str:
    """How many items ``spec``'s messages have: ``9``, or ``9 or 10`` with an optional field."""
    if not spec.optional:
        return str(spec.length)
    low = spec.length - len(spec.optional)
    return f"{low} or {spec.length}" if len(spec.optional) == 1 else f"{low} to {spec.length}"


def entry_to_wire(entry: Entry) -> list[Any]:
    """One log entry in its wire form, ``[term, [op, key, value, client, seq, low], stamp]``.

    For storing entries with the same validation and layout as on the wire
    (``raftviz.node.storage``). Raises :class:`WireError` for an invalid entry.
    """
    try:
        term, command, stamp = _entry_to_wire(entry)
    except Bad as bad:
        raise bad.error("Entry") from None
    return [term, list(command), stamp]


def entry_from_wire(raw: Any) -> Entry:
    """The inverse of :func:`entry_to_wire`, for an already unpacked value; raises only :class:`WireError`."""
    try:
        return parse_entry(raw)
    except Bad as bad:
        raise bad.error("Entry") from None
