"""The msgpack wire codec: Raft messages to datagrams and back.

Every message travels as one msgpack array (never a map)::

    [version, tag, src, dst, field, field, ...]

``version`` is :data:`PROTOCOL_VERSION`; ``tag`` is a small integer naming the
message class; ``src`` and ``dst`` are the sender and the addressee; the other
fields follow in the order the dataclass in :mod:`raftviz.core.messages`
declares them. The tag table:

=====  ======================  ===============================================================
 tag   class                   fields after ``src, dst``
=====  ======================  ===============================================================
   1   ``RequestVote``         term, last_log_index, last_log_term
   2   ``RequestVoteReply``    term, vote_granted
   3   ``AppendEntries``       term, prev_log_index, prev_log_term, entries, leader_commit
   4   ``AppendEntriesReply``  term, success, match_index, conflict_index, conflict_term
   5   ``ClientRequest``       command
   6   ``ClientReply``         seq, ok, value, leader_hint
=====  ======================  ===============================================================

Tag 0 is reserved (never valid); tags 64 and above are reserved for the
lab/node control frames, which are not defined yet. An entry is the array
``[term, command]`` and a command the array ``[op, key, value, client, seq, low]``.

Both directions validate every field (type, range, size): :func:`encode`
refuses to put a malformed value on the wire, and :func:`decode` accepts only
what :func:`encode` could have produced. Anything wrong raises
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
    OPS,
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    ClientRequest,
    Command,
    Entry,
    Message,
    RequestVote,
    RequestVoteReply,
)

__all__ = [
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

_INDEX_LIMIT: Final = 2**63  # terms, indexes, sequence numbers: 0 <= x < 2**63
_INDEX_MAX: Final = _INDEX_LIMIT - 1
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
        return WireError(f"field '{self.path}' of {message_name}: expected {self.expected}, got {self.got}")


# --------------------------------------------------------------------------- describing bad values


_TYPE_NAMES: Final[dict[type, str]] = {type(None): "None", dict: "map", list: "list", bytes: "bytes"}


def _type_name(value: object) -> str:
    return _TYPE_NAMES.get(type(value)) or type(value).__name__


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


def _check_command(fields: Any) -> Any:
    """Validate the six command fields (a list from the wire or a tuple from a Command); return them.

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
        return fields
    # Slow path: a long string (needs the precise UTF-8 check) or a bad field (needs a precise message).
    for check, item in zip(_COMMAND_CHECKS, fields):
        check(item)
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
        return _check_command(_command_fields(command))  # type: ignore[no-any-return]
    raise _Bad("", "Command", _type_name(command))


def _entry_from_wire(raw: Any) -> Entry:
    """Decode ``[term, [op, key, value, client, seq, low]]``; raises _Bad with a path relative to the entry."""
    if type(raw) is list and len(raw) == 2:
        term, command = raw
        if type(term) is not int or not 0 <= term <= _INDEX_MAX:
            _ENTRY_TERM(term)  # raises with the message
        try:
            return Entry(term, _command_from_wire(command))
        except _Bad as bad:
            raise bad.within("command") from None
    raise _Bad("", _ENTRY_SHAPE, _got(raw, list))


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
        out = []
        index = 0
        try:
            for index, entry in enumerate(value):
                if type(entry) is not Entry:
                    raise _Bad("", "Entry", _type_name(entry))
                term = _ENTRY_TERM(entry.term)
                try:
                    out.append([term, _command_to_wire(entry.command)])
                except _Bad as bad:
                    raise bad.within("command") from None
        except _Bad as bad:
            raise bad.within(f"{name}[{index}]") from None
        return out

    def decode(value: Any) -> tuple[Entry, ...]:
        if type(value) is not list or len(value) > MAX_ENTRIES:
            raise _Bad(name, expected, _got(value, list))
        try:
            return tuple([_entry_from_wire(raw) for raw in value])
        except _Bad:
            pass
        for index, raw in enumerate(value):  # find the bad entry again, for the message
            try:
                _entry_from_wire(raw)
            except _Bad as bad:
                raise bad.within(f"{name}[{index}]") from None
        raise AssertionError("unreachable")  # pragma: no cover

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
        body = [PROTOCOL_VERSION, spec.tag, *[enc(v) for enc, v in zip(spec.encoders, spec.getter(msg))]]
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
        return spec.cls(*[dec(v) for dec, v in zip(spec.decoders, obj[2:])])  # type: ignore[no-any-return]
    except _Bad as bad:
        raise bad.error(spec.name) from None
