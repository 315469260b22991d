"""Snapshots for log compaction (Raft paper §7, dissertation ch. 5): the envelope around a state machine.

A snapshot replaces the log up to and including ``index``: it holds the term
of that entry (for the consistency check of the entry after it), the
configuration in force there, and the whole state machine, which supplies its
own part (for the key-value store, the data and the client sessions, so
at-most-once semantics survive compaction: ``KVStore.snapshot_state``). This
module knows the envelope, not the state machine: it does not import it.

It travels (in ``InstallSnapshot`` chunks) and is stored as one byte string,
``data``: canonical JSON, keys sorted, so the same state always gives the same
bytes on every node. JSON, not msgpack, because the core may not depend on
the wire codec; the bytes are checksummed by whoever moves or stores them.
``decode_snapshot`` validates the envelope and the state machine's
``from_snapshot_state`` the rest (``raftviz.core.kv.restore_snapshot`` does
both), since the bytes may come from the network.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any, Protocol

from raftviz.core.membership import Configuration, ConfigurationError
from raftviz.core.values import shared_value

FORMAT = "raftviz-snapshot/1"


class SnapshotError(ValueError):
    """Bytes that are not a valid snapshot."""


@shared_value
@dataclass(frozen=True, slots=True)
class Snapshot:
    """A snapshot's metadata and its encoded bytes (which repeat the metadata)."""

    index: int
    term: int
    configuration: Configuration
    data: bytes

    @property
    def checksum(self) -> int:
        return zlib.crc32(self.data)


class StateMachine(Protocol):
    """What a state machine offers a snapshot: its whole state, each member as ``json_text``."""

    def snapshot_json(self) -> dict[str, str]: ...


def json_text(value: Any) -> str:
    """``value`` as a snapshot writes it: canonical JSON (no spaces, keys sorted, not escaped to ASCII)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def encode_snapshot(index: int, term: int, configuration: Configuration, machine: StateMachine) -> Snapshot:
    """Capture ``machine`` as the state after applying the log up to ``index``.

    The bytes are ``json_text`` of one object: the envelope's members and the
    machine's. The machine hands its members encoded already (it may keep what
    it encoded for the last snapshot), so the object is put together here, in
    the order ``json_text`` would write it.
    """
    members = {
        "format": json_text(FORMAT),
        "index": json_text(index),
        "term": json_text(term),
        "configuration": json_text(configuration.to_value()),
        **machine.snapshot_json(),
    }
    text = ",".join(f"{json_text(name)}:{members[name]}" for name in sorted(members))
    return Snapshot(index, term, configuration, ("{" + text + "}").encode())


def decode_snapshot(data: bytes) -> tuple[Snapshot, dict[str, Any]]:
    """The snapshot, and the state machine's part of it (not yet checked); SnapshotError if invalid."""
    try:
        body = json.loads(data.decode())
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise SnapshotError("not a raftviz snapshot")
        index, term = body["index"], body["term"]
        if not (checked_nat(index) and checked_nat(term)):
            raise SnapshotError("index and term must be non-negative integers")
        configuration = Configuration.from_value(checked_str(body["configuration"]))
    except SnapshotError:
        raise
    except (ValueError, TypeError, KeyError, UnicodeDecodeError, ConfigurationError) as exc:
        raise SnapshotError(f"malformed snapshot: {exc}") from None
    return Snapshot(index, term, configuration, bytes(data)), body


def checked_nat(value: Any) -> bool:
    return type(value) is int and value >= 0


def checked_int(value: Any) -> int:
    """``value`` if it is a non-negative integer; SnapshotError if not."""
    if not checked_nat(value):
        raise SnapshotError(f"expected a non-negative integer, got {value!r}")
    return int(value)


def checked_str(value: Any) -> str:
    """``value`` if it is a string; SnapshotError if not."""
    if type(value) is not str:
        raise SnapshotError(f"expected a string, got {type(value).__name__}")
    return value
