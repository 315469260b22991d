"""Snapshots of the state machine, for log compaction (Raft paper §7, dissertation ch. 5).

A snapshot replaces the log up to and including ``index``: it holds the term
of that entry (for the consistency check of the entry after it), the
configuration in force there, and the whole state machine — the key-value
data and the client sessions, so at-most-once semantics survive compaction.

It travels (in ``InstallSnapshot`` chunks) and is stored as one byte string,
``data``: canonical JSON, keys sorted, so the same state always gives the same
bytes on every node. JSON, not msgpack, because the core may not depend on
the wire codec; the bytes are checksummed by whoever moves or stores them.
``decode_snapshot`` validates everything, since the bytes may come from the
network.
"""

from __future__ import annotations

import heapq
import json
import zlib
from dataclasses import dataclass
from typing import Any

from raftviz.core.kv import KVStore, Session
from raftviz.core.membership import Configuration, ConfigurationError

FORMAT = "raftviz-snapshot/1"


class SnapshotError(ValueError):
    """Bytes that are not a valid snapshot."""


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


def encode_snapshot(index: int, term: int, configuration: Configuration, kv: KVStore) -> Snapshot:
    """Capture ``kv`` as the state after applying the log up to ``index``."""
    sessions = [
        [client, s.low, [[seq, *s.results[seq]] for seq in sorted(s.results)]]
        for client, s in sorted(kv.sessions.items())
    ]
    body = {
        "format": FORMAT,
        "index": index,
        "term": term,
        "configuration": configuration.to_value(),
        "data": sorted(kv.data.items()),
        "sessions": sessions,
    }
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()
    return Snapshot(index, term, configuration, data)


def decode_snapshot(data: bytes) -> tuple[Snapshot, KVStore]:
    """The snapshot and a fresh state machine holding its state; SnapshotError if invalid."""
    try:
        body = json.loads(data.decode())
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise SnapshotError("not a raftviz snapshot")
        index, term = body["index"], body["term"]
        if not (_nat(index) and _nat(term)):
            raise SnapshotError("index and term must be non-negative integers")
        configuration = Configuration.from_value(_str(body["configuration"]))
        kv = KVStore()
        for pair in body["data"]:
            key, value = pair
            kv.data[_str(key)] = _str(value)
        for client, low, results in body["sessions"]:
            session = Session(low=_int(low))
            for seq, value, error in results:
                session.results[_int(seq)] = (None if value is None else _str(value), _str(error))
                heapq.heappush(session.order, seq)
            kv.sessions[_str(client)] = session
    except SnapshotError:
        raise
    except (ValueError, TypeError, KeyError, UnicodeDecodeError, ConfigurationError) as exc:
        raise SnapshotError(f"malformed snapshot: {exc}") from None
    return Snapshot(index, term, configuration, bytes(data)), kv


def _nat(value: Any) -> bool:
    return type(value) is int and value >= 0


def _int(value: Any) -> int:
    if not _nat(value):
        raise SnapshotError(f"expected a non-negative integer, got {value!r}")
    return int(value)


def _str(value: Any) -> str:
    if type(value) is not str:
        raise SnapshotError(f"expected a string, got {type(value).__name__}")
    return value
