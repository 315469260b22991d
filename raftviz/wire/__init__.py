"""The wire: every byte that leaves a node, as two protocols over one set of field rules.

- :mod:`raftviz.wire.datagram`: Raft and client messages as UDP datagrams
  (``docs/protocol.md`` sections 1-6; what a node in another language speaks);
- :mod:`raftviz.wire.control`: the lab's control frames over a lab-mode node's
  standard input and output (``docs/protocol.md`` section 7);
- :mod:`raftviz.wire.validate`: the limits, :class:`WireError`, and the field
  validators both share.

Modules inside raftviz import from the submodule they mean. This package
re-exports the public names of both protocols so that ``raftviz.wire.encode``
and friends, the names ``docs/protocol.md`` and the codec's property tests use,
keep working; ``_BY_CLASS`` and ``_BY_TAG`` are re-exported for those tests
only (they check the datagram table against the message dataclasses).
"""

from raftviz.wire.control import (
    MAX_FRAME,
    ControlFrame,
    Deliver,
    Failure,
    Fire,
    ForceTimeout,
    Hello,
    Report,
    SetElection,
    Shutdown,
    TakeSnapshot,
    decode_frame,
    digest,
    encode_frame,
    parse_frame,
    read_frame,
    write_frame,
)
from raftviz.wire.datagram import _BY_CLASS, _BY_TAG, TAGS, decode, encode, entry_from_wire, entry_to_wire
from raftviz.wire.validate import (
    MAX_CHUNK,
    MAX_CLIENT_ID,
    MAX_DATAGRAM,
    MAX_ENTRIES,
    MAX_NODE_ID,
    MAX_STR_BYTES,
    PROTOCOL_VERSION,
    WireError,
)

__all__ = [
    "MAX_CHUNK",
    "MAX_CLIENT_ID",
    "MAX_DATAGRAM",
    "MAX_ENTRIES",
    "MAX_FRAME",
    "MAX_NODE_ID",
    "MAX_STR_BYTES",
    "PROTOCOL_VERSION",
    "TAGS",
    "_BY_CLASS",
    "_BY_TAG",
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
    "WireError",
    "decode",
    "decode_frame",
    "digest",
    "encode",
    "encode_frame",
    "entry_from_wire",
    "entry_to_wire",
    "parse_frame",
    "read_frame",
    "write_frame",
]
