"""What every field of the wire may hold: the limits, the one error type, and the field validators.

Shared by the Raft/client datagram codec (:mod:`raftviz.wire.datagram`) and the
lab's control frames (:mod:`raftviz.wire.control`), so a term, a node id or a
string is held to the same rule whichever channel carries it.

Each validator factory takes the field's name and returns a function that
returns its argument when it is valid and raises :class:`Bad` (naming the field)
when not. Scalars look the same in Python and on the wire, so one function
serves both encode and decode. :class:`Bad` never leaves the package: the codecs
turn it into a :class:`WireError` that names the message too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from raftviz.core.membership import Configuration
from raftviz.core.messages import OPS

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

INDEX_LIMIT: Final = 2**63  # terms, indexes, sequence numbers: 0 <= x < 2**63
INDEX_MAX: Final = INDEX_LIMIT - 1
CHECKSUM_MAX: Final = 2**32 - 1  # a CRC-32
# A str of at most this many characters is at most MAX_STR_BYTES in UTF-8 (4 bytes a character).
FAST_STR: Final = MAX_STR_BYTES // 4
OP_SET: Final = frozenset(OPS)

Validator = Callable[[Any], Any]


class WireError(ValueError):
    """Raised for anything that is not a well-formed message of this protocol."""


class Bad(Exception):
    """A field failed validation (internal to the wire package). ``path`` is relative to the message."""

    __slots__ = ("expected", "got", "path")

    def __init__(self, path: str, expected: str, got: str) -> None:
        super().__init__(path)
        self.path = path
        self.expected = expected
        self.got = got

    def within(self, prefix: str) -> Bad:
        """Re-root the path under ``prefix`` (a field name or ``entries[3]``)."""
        self.path = f"{prefix}.{self.path}" if self.path else prefix
        return self

    def error(self, message_name: str) -> WireError:
        where = f"field '{self.path}' of {message_name}" if self.path else message_name
        return WireError(f"{where}: expected {self.expected}, got {self.got}")


# --------------------------------------------------------------------------- describing bad values


def type_name(value: object) -> str:
    return type(value).__name__ if value is not None else "None"


def got(value: object, wanted: type) -> str:
    """Describe ``value`` for an error message: its type if wrong, else a short form of it."""
    if type(value) is not wanted:
        return type_name(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else f"str of {len(value)} characters"
    if isinstance(value, list | tuple):
        return f"{type(value).__name__} of {len(value)} items"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def short(value: object) -> str:
    """Like :func:`got` for values of unknown expected type (version, tag)."""
    return got(value, int) if type(value) is int else type_name(value)


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


# --------------------------------------------------------------------------- scalar validators
#
# Each factory returns a function that returns its argument when it is valid and
# raises Bad (naming the field) when not. Scalars look the same in Python and on
# the wire, so one function serves both encode and decode.


def int_field(name: str, low: int, high: int, expected: str) -> Validator:
    def check(value: Any) -> int:
        if type(value) is int and low <= value <= high:
            return value
        raise Bad(name, expected, got(value, int))

    return check


def index_field(name: str) -> Validator:
    """A term, log index or sequence number: ``0 <= x < 2**63``."""
    return int_field(name, 0, INDEX_MAX, "int >= 0 and < 2**63")


def node_id_field(name: str) -> Validator:
    return int_field(name, 1, MAX_NODE_ID, f"node id (int 1..{MAX_NODE_ID})")


def node_id_or_zero_field(name: str) -> Validator:
    return int_field(name, 0, MAX_NODE_ID, f"node id or 0 (int 0..{MAX_NODE_ID})")


def bool_field(name: str) -> Validator:
    def check(value: Any) -> bool:
        if type(value) is bool:
            return value
        raise Bad(name, "bool", type_name(value))

    return check


def client_id_field(name: str, *, allow_empty: bool = False) -> Validator:
    low = 0 if allow_empty else 1
    expected = f"{'' if allow_empty else 'non-empty '}str of at most {MAX_CLIENT_ID} characters"
    if not allow_empty:
        expected = f"client id ({expected})"

    def check(value: Any) -> str:
        if type(value) is str and low <= len(value) <= MAX_CLIENT_ID:
            return value
        raise Bad(name, expected, got(value, str))

    return check


def text_field(name: str, *, optional: bool = False) -> Validator:
    expected = f"str of at most {MAX_STR_BYTES} UTF-8 bytes"
    if optional:
        expected += " or None"

    def check(value: Any) -> str | None:
        if type(value) is str:
            if len(value) <= FAST_STR or utf8_len(value) <= MAX_STR_BYTES:
                return value
            raise Bad(name, expected, f"str of {utf8_len(value)} UTF-8 bytes")
        if value is None and optional:
            return None
        raise Bad(name, expected, type_name(value))

    return check


def op_field(name: str) -> Validator:
    expected = "one of " + ", ".join(repr(op) for op in OPS)

    def check(value: Any) -> str:
        if type(value) is str and value in OP_SET:
            return value
        raise Bad(name, expected, got(value, str))

    return check


def role_field(name: str) -> Validator:
    expected = "one of 'follower', 'pre-candidate', 'candidate', 'leader'"

    def check(value: Any) -> str:
        if type(value) is str and value in ("follower", "pre-candidate", "candidate", "leader"):
            return value
        raise Bad(name, expected, got(value, str))

    return check


def read_mode_field(name: str) -> Validator:
    """ClientRequest.read when written out: ``"readindex"`` or ``"lease"`` (a log read leaves it off)."""
    expected = "one of 'readindex', 'lease' (a read through the log leaves the field off)"

    def check(value: Any) -> str:
        if type(value) is str and value in ("readindex", "lease"):
            return value
        raise Bad(name, expected, got(value, str))

    return check


def round_field(name: str) -> Validator:
    """A heartbeat round: ``0 <= x < 2**63`` (0: none; written out only before a later field)."""
    return int_field(name, 0, INDEX_MAX, "int >= 0 and < 2**63")


def checksum_field(name: str) -> Validator:
    """A CRC-32: ``0 <= x < 2**32``."""
    return int_field(name, 0, CHECKSUM_MAX, "int >= 0 and < 2**32")


def chunk_field(name: str) -> Validator:
    """A snapshot chunk: ``bytes`` (msgpack bin) of at most MAX_CHUNK bytes; not bytearray or memoryview."""
    expected = f"bytes of length at most {MAX_CHUNK}"

    def check(value: Any) -> bytes:
        if type(value) is bytes and len(value) <= MAX_CHUNK:
            return value
        got = f"bytes of length {len(value)}" if type(value) is bytes else type_name(value)
        raise Bad(name, expected, got)

    return check


CONFIGURATION_EXPECTED: Final = (
    "configuration in canonical form (voters, then '/' and learners if any: "
    "ascending node ids, e.g. '1,2,3' or '1,2/4'; '' for none)"
)


def configuration_field(name: str) -> Validator:
    """A configuration's text as ``Configuration.to_value`` writes it (``""``: no voters, no learners)."""

    def check(value: Any) -> str:
        if type(value) is str:
            try:
                Configuration.from_value(value)
            except ValueError:  # ConfigurationError, and int()'s own ValueError for digits such as '²'
                pass
            else:
                return value
        raise Bad(name, CONFIGURATION_EXPECTED, got(value, str))

    return check


def counters_field(name: str) -> Validator:
    """Counters by name, as the protocol-violation counts: a list of ``[kind, count]``.

    Kinds are non-empty text, strictly ascending (so each appears once), and a
    count is an index of at least 1 (a kind that never occurred is left out).
    Returns a tuple of ``(kind, count)`` tuples.
    """
    expected = "list of [kind, count] in ascending order of kind, counts >= 1"
    text, count_of = text_field(name), index_field(name)

    def check(value: Any) -> tuple[tuple[str, int], ...]:
        if type(value) is not list:
            raise Bad(name, expected, type_name(value))
        out: list[tuple[str, int]] = []
        for item in value:
            if type(item) is not list or len(item) != 2 or type(item[0]) is not str:
                raise Bad(name, expected, got(item, list))
            kind, count = text(item[0]), count_of(item[1])
            if not kind or count < 1 or (out and kind <= out[-1][0]):
                raise Bad(name, expected, f"[{kind[:40]!r}, {count}]")
            out.append((kind, count))
        return tuple(out)

    return check
