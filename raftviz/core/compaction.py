"""Log compaction by snapshots (Raft paper §7, dissertation chapter 5, Figure 13).

A server snapshots its state machine once the applied part of the log passes
a threshold (or when the lab asks) and discards the log up to it; a leader
whose follower needs a discarded entry sends the snapshot instead, in
InstallSnapshot chunks, one in flight per follower; the follower assembles
the chunks, checks them, and replaces its state machine and log by the
snapshot. The snapshot's bytes are :mod:`raftviz.core.snapshot`.
"""

from __future__ import annotations

import zlib

from raftviz.core.kv import KVStore, restore_snapshot
from raftviz.core.messages import InstallSnapshot, InstallSnapshotReply, NodeId
from raftviz.core.reasons import SNAPSHOT_INSTALLED, Reason
from raftviz.core.snapshot import Snapshot, SnapshotError, encode_snapshot
from raftviz.core.state import LEADER, ServerState


class Compaction(ServerState):
    """Taking, sending and installing snapshots."""

    def take_snapshot(self) -> bool:
        """Snapshot the state machine at the last applied entry and compact the log to it.

        Returns False if there is nothing new to compact.
        """
        index = self.last_applied
        if index <= self.log.start_index:
            return False
        term = self.log.term_at(index)
        assert term is not None
        snapshot = encode_snapshot(index, term, self.configuration_at(index), self.kv)
        self._compact_to(snapshot)
        self._ready.installed = False
        return True

    def _maybe_snapshot(self) -> None:
        """Compact once the applied part of the log passes a threshold (§7)."""
        config = self.config
        held = self.last_applied - self.log.start_index
        if held <= 0:
            return
        if (config.snapshot_entries and held >= config.snapshot_entries) or (
            config.snapshot_bytes and self.log.bytes >= config.snapshot_bytes
        ):
            self.take_snapshot()

    def _compact_to(self, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` and start the log after it (Ready's persistence order)."""
        index = snapshot.index
        keeps_suffix = index <= self.log.last_index and self.log.term_at(index) == snapshot.term
        self.log.compact(index, snapshot.term)
        self.config_entries = [(i, c) for i, c in self.config_entries if i > index] if keeps_suffix else []
        self.base_configuration = snapshot.configuration
        self.snapshot = snapshot
        self._ready.snapshot = snapshot
        # A pending log change below the new start is void; above it, it stands.
        if self._ready.log_from and self._ready.log_from <= snapshot.index:
            self._ready.log_from = snapshot.index + 1 if self.log.last_index > snapshot.index else 0
        if self.role == LEADER:
            self._track_peers()

    def handle_install_snapshot(self, msg: InstallSnapshot, now: int) -> None:
        """Figure 13's receiver: assemble the chunks, then replace state and log with the snapshot."""
        if msg.term < self.current_term:
            self._snapshot_reply(msg, 0, done=False)
            return
        self._heard_from_leader(msg.src, msg.term, now, "InstallSnapshot")
        index, term = msg.last_included_index, msg.last_included_term
        if index <= self.commit_index:
            # Everything it covers is committed here already (a late or repeated transfer).
            self.receiving = None
            self._snapshot_reply(msg, 0, done=True)
            return
        if msg.offset == 0:
            self.receiving = (index, term, bytearray())
        buffer = self.receiving
        if buffer is None or buffer[:2] != (index, term) or msg.offset != len(buffer[2]):
            expect = len(buffer[2]) if buffer is not None and buffer[:2] == (index, term) else 0
            self._snapshot_reply(msg, expect, done=False)
            return
        buffer[2].extend(msg.data)
        if not msg.done:
            self._snapshot_reply(msg, len(buffer[2]), done=False)
            return
        self.receiving = None
        data = bytes(buffer[2])
        try:
            snapshot, kv = restore_snapshot(data, self.config.session_expiry)
            if zlib.crc32(data) != msg.checksum or (snapshot.index, snapshot.term) != (index, term):
                raise SnapshotError("checksum or metadata mismatch")
        except SnapshotError:
            # Damaged on the way (or a confused leader): ask for it again from the start.
            self._snapshot_reply(msg, 0, done=False)
            return
        commit = self.commit_index
        reason = Reason(SNAPSHOT_INSTALLED, msg.src, index=index, their_term=term, our_index=commit)
        self._explain(reason)
        self._install(snapshot, kv)
        self._snapshot_reply(msg, len(data), done=True)

    def _snapshot_reply(self, msg: InstallSnapshot, offset: int, done: bool) -> None:
        reply = InstallSnapshotReply(
            self.id, msg.src, self.current_term, msg.last_included_index, offset, done
        )
        self._send(reply)

    def _install(self, snapshot: Snapshot, kv: KVStore) -> None:
        """Replace the state machine by the snapshot's and compact the log to it."""
        self.kv = kv
        self._compact_to(snapshot)
        self._ready.installed = True
        self.commit_index = max(self.commit_index, snapshot.index)
        self.last_applied = snapshot.index

    def handle_install_snapshot_reply(self, msg: InstallSnapshotReply, now: int) -> None:
        if self.role != LEADER or msg.term != self.current_term or msg.src not in self.next_index:
            return
        peer = msg.src
        if msg.done:
            self.snapshot_sent.pop(peer, None)
            if msg.last_included_index > self.match_index[peer]:
                self.match_index[peer] = msg.last_included_index
            self.next_index[peer] = max(self.next_index[peer], self.match_index[peer] + 1)
            self.advance_commit_index()
            if self.role != LEADER:
                return
            self._maybe_promote()
            if self.next_index[peer] <= self.log.last_index or self.next_index[peer] <= self.log.start_index:
                self._send_append(peer, now)
            return
        if peer not in self.snapshot_sent:
            return  # a late answer to a transfer that has ended
        snapshot = self.snapshot
        assert snapshot is not None
        offset = msg.offset if msg.last_included_index == snapshot.index else 0
        if offset == self.snapshot_sent[peer][0] and msg.last_included_index == snapshot.index and offset:
            return  # another copy of the answer that sent the chunk now in flight
        # Otherwise the follower says where it stands, and that is where the transfer goes
        # on: further on (the chunk in flight arrived), or back (it missed one, or it is a
        # stale answer, and the follower's next reply will put the offset right again).
        # Treating a lower offset as a mere duplicate resent the same chunk forever.
        self._send_snapshot_chunk(peer, offset, now)

    def _send_snapshot_chunk(self, peer: NodeId, offset: int, now: int) -> None:
        snapshot = self.snapshot
        assert snapshot is not None, "the log starts after 0 only once there is a snapshot"
        if offset >= len(snapshot.data):
            offset = 0
        chunk = snapshot.data[offset : offset + self.config.snapshot_chunk]
        self.snapshot_sent[peer] = (offset, now)
        self._send(
            InstallSnapshot(
                src=self.id,
                dst=peer,
                term=self.current_term,
                last_included_index=snapshot.index,
                last_included_term=snapshot.term,
                offset=offset,
                data=chunk,
                done=offset + len(chunk) >= len(snapshot.data),
                checksum=snapshot.checksum,
            )
        )
