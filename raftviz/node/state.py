"""A node's complete state as one blob: what a lab-mode node hands the lab for a checkpoint.

The lab asks a running node for its state (``GetState``) and may later hand
the blob back (``LoadState``) to make the node exactly what it was: the same
role, term, vote, log, commit and applied indexes, state machine with its
client sessions, leader and candidate state, timers, seeded generator,
snapshot-transfer progress, and the driver's own counters. The lab keeps the
blob and never looks inside (docs/protocol.md §7.3), so its format is this
module's alone and may change with raftviz's version.

The blob is ``MAGIC``, a CRC-32 of the body, and the body: a pickle of a
:class:`NodeState`. Pickle reaches every field of the core, including those
added later, without a codec to keep in step with it; that is what makes the
state *complete*. Loading is guarded, since a pickle can name any callable:
only the classes of :mod:`raftviz.core` and a handful of plain containers and
``random.Random`` may appear, anything else is refused as damage, and so is a
blob whose checksum or shape is wrong.
"""

from __future__ import annotations

import io
import pickle
import random
import struct
import sys
import zlib
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Final

from raftviz.core.messages import Entry
from raftviz.core.raft import RaftNode
from raftviz.core.ready import HardState
from raftviz.core.snapshot import Snapshot

MAGIC: Final = b"RVSTATE1"
_CRC: Final = struct.Struct(">I")
#: The only globals a state pickle may name outside raftviz.core.
_PLAIN: Final = {
    ("random", "Random"): random.Random,
    ("collections", "deque"): deque,
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
}


class StateBlobError(Exception):
    """A blob that is not the state of this node (damaged, foreign, or of another node)."""


@dataclass(slots=True)
class DurableState:
    """What the node's storage holds: Figure 2's persistent state plus the latest snapshot."""

    hard: HardState
    #: The log: ``entries`` are indexes start_index+1 .. start_index+len(entries).
    start_index: int
    start_term: int
    entries: list[Entry]
    snapshot: Snapshot | None

    def same_as(self, other: DurableState) -> bool:
        """Whether the two describe the same storage (so nothing needs writing)."""
        mine, theirs = self.snapshot, other.snapshot
        return (
            self.hard == other.hard  # term, vote, and the recovering note
            and (self.start_index, self.start_term) == (other.start_index, other.start_term)
            and (mine.data if mine else None) == (theirs.data if theirs else None)
            and self.entries == other.entries
        )


@dataclass(slots=True)
class NodeState:
    """Everything a node's future behaviour depends on."""

    core: RaftNode
    durable: DurableState
    #: The driver's own fields.
    dropped: int
    last_refusal: str
    #: A recovered snapshot not yet reported (only before the first report).
    loaded: Snapshot | None


def dump(state: NodeState) -> bytes:
    """The blob of ``state``."""
    body = pickle.dumps(state, protocol=5)
    return MAGIC + _CRC.pack(zlib.crc32(body)) + body


class _CoreUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == __name__ and name in ("NodeState", "DurableState"):
            return NodeState if name == "NodeState" else DurableState
        plain = _PLAIN.get((module, name))
        if plain is not None:
            return plain
        loaded = sys.modules.get(module) if module.startswith("raftviz.core.") else None
        # Modules already imported only (nothing is imported on a blob's say-so), and
        # classes only, defined there: no function, no re-export.
        found = getattr(loaded, name, None) if "." not in name else None
        if isinstance(found, type) and found.__module__ == module:
            return found
        raise StateBlobError(f"the state names {module}.{name}, which no node state holds")


def load(blob: bytes, node_id: int) -> NodeState:
    """The state in ``blob``, which must be one of node ``node_id``'s; StateBlobError otherwise."""
    head = len(MAGIC) + _CRC.size
    if len(blob) < head or not blob.startswith(MAGIC):
        raise StateBlobError("not a raftviz node state (wrong magic: another version, or damage)")
    (crc,) = _CRC.unpack_from(blob, len(MAGIC))
    body = memoryview(blob)[head:]
    if zlib.crc32(body) != crc:
        raise StateBlobError("damaged node state (checksum mismatch)")
    try:
        state = _CoreUnpickler(io.BytesIO(body)).load()
    except StateBlobError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the unpickler raises, the blob is bad
        raise StateBlobError(f"damaged node state ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, NodeState) or not isinstance(state.core, RaftNode):
        raise StateBlobError(f"not a node state but a {type(state).__name__}")
    if not isinstance(state.durable, DurableState):
        raise StateBlobError("the node state has no storage part")
    if state.core.id != node_id:
        raise StateBlobError(f"this is node {state.core.id}'s state, not node {node_id}'s")
    return state
