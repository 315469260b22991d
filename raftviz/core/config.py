"""Tunable parameters of one Raft node (times in virtual milliseconds)."""

from __future__ import annotations

from dataclasses import dataclass

from raftviz.core import bugs as planted

#: The longest election timeout or heartbeat, in ms: an hour. Longer is a mistake, and the
#: bound keeps every timer deadline far inside what the wire can carry.
MAX_TIMEOUT_MS = 3_600_000
#: The longest session expiry, in ms: a week.
MAX_SESSION_EXPIRY_MS = 7 * 24 * 3_600_000


@dataclass(frozen=True, slots=True)
class RaftConfig:
    """Timing and batching knobs; the defaults are the ``cluster`` command's (docs/scenario-language.md)."""

    election_min: int = 150
    election_max: int = 300
    heartbeat: int = 50
    #: Append a no-op entry when elected (§8); off only to teach Figure 8.
    noop: bool = True
    #: At most this many entries in one AppendEntries message.
    max_batch: int = 64
    #: ... and at most about this many bytes, so every datagram stays well
    #: under the UDP limit (one entry always goes, whatever its size).
    max_batch_bytes: int = 40_000
    #: Take a snapshot and compact the log once this many applied entries are
    #: in it (0: never by count) ...
    snapshot_entries: int = 1000
    #: ... or once the log holds about this many bytes of entries (0: never by size).
    snapshot_bytes: int = 4_000_000
    #: Bytes of snapshot per InstallSnapshot message (well under the UDP limit).
    snapshot_chunk: int = 16_384
    #: Planted bugs (raftviz.core.bugs): ``NAME`` on every node, ``NAME@N`` on node N. () is Raft.
    bugs: tuple[str, ...] = ()
    #: Client sessions idle this many ms (of the leaders' entry stamps) expire, and a
    #: request must then come from a registered session (0: sessions never expire).
    #: Every node of a cluster must use the same value: it decides the state machine.
    session_expiry: int = 0
    #: Pre-Vote with leader stickiness (dissertation §9.6): an election starts only
    #: after a majority said it would vote. Off by default: the paper's Raft.
    prevote: bool = False
    #: CheckQuorum (dissertation §6.2): a leader that has not heard from a majority
    #: of voters within an election timeout (``election_min``) steps down.
    check_quorum: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.election_min <= self.election_max:
            raise ValueError("election timeout must satisfy 0 < min <= max")
        if self.election_max > MAX_TIMEOUT_MS:
            raise ValueError(f"election timeout must be at most {MAX_TIMEOUT_MS} ms (an hour)")
        if self.heartbeat <= 0:
            raise ValueError("heartbeat must be positive")
        if self.heartbeat > MAX_TIMEOUT_MS:
            raise ValueError(f"heartbeat must be at most {MAX_TIMEOUT_MS} ms (an hour)")
        if self.max_batch <= 0:
            raise ValueError("max_batch must be positive")
        if self.snapshot_entries < 0 or self.snapshot_bytes < 0:
            raise ValueError("snapshot thresholds must be 0 (off) or positive")
        if not 1 <= self.snapshot_chunk <= 32_768:
            raise ValueError("snapshot_chunk must be 1..32768 bytes")
        planted.check(self.bugs)
        if not 0 <= self.session_expiry <= MAX_SESSION_EXPIRY_MS:
            raise ValueError(f"session expiry must be 0 (off) to {MAX_SESSION_EXPIRY_MS} ms (a week)")
