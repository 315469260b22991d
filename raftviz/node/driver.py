"""The node driver: feeds one Raft core its inputs and carries out its outputs.

The driver is the same whether the node lives in its own OS process (the
``udp`` backend and free mode) or inside the lab's process (the ``inprocess``
backend). For each input it decodes the datagram with the wire codec, runs the
core, makes the core's ``Ready`` durable through a ``Storage``, encodes the
outgoing messages, and describes the outcome as a ``Report`` — the lab's only
window onto the node. Keeping this in one place is what makes both backends
give identical transcripts.
"""

from __future__ import annotations

import copy
import dataclasses
import errno
import itertools
import random
from collections.abc import Callable
from typing import Protocol

__all__ = ["MemoryStorage", "NodeDriver", "Report", "Storage", "node_rng"]

from raftviz.core.config import RaftConfig
from raftviz.core.log import RaftLog
from raftviz.core.messages import Address, AppendEntries, Entry, Message
from raftviz.core.raft import RaftNode
from raftviz.core.ready import HardState, Ready
from raftviz.core.snapshot import Snapshot
from raftviz.core.violations import Violation
from raftviz.node import state as node_state
from raftviz.node import storage
from raftviz.node.disk import Disk, DiskFault, DiskStopped, stop_reason
from raftviz.node.state import DurableState, NodeState
from raftviz.wire import datagram
from raftviz.wire.control import MAX_REPORTED_READS, Report
from raftviz.wire.validate import WireError

#: Sends encoded datagrams at once: [(destination, datagram), ...].
Sender = Callable[[list[tuple[Address, bytes]]], None]


class Storage(Protocol):
    """Where a node's persistent state lives (memory, or fsync'd files)."""

    #: What its writes and fsyncs go through (raftviz.node.disk): where faults are injected.
    disk: Disk

    def load(self) -> tuple[HardState, RaftLog, Snapshot | None]:
        """The state recovered at start-up (the log starts after the snapshot)."""
        ...

    def save(self, ready: Ready) -> None:
        """Make ``ready``'s hard state and log change durable before returning."""
        ...

    def durable(self) -> DurableState:
        """What the storage holds now (for a checkpoint of the node)."""
        ...

    def replace(self, state: DurableState) -> None:
        """Hold exactly ``state`` from now on, durably (a checkpoint's restore)."""
        ...


class MemoryStorage:
    """Storage that survives a simulated crash because the lab keeps it.

    It keeps no bytes while nothing is wrong. ``corrupt N`` makes it hold the
    bytes FileStorage's files would hold, damaged the same way
    (:func:`raftviz.node.storage.damage`), and its next ``load`` runs the same
    recovery rules on them (:func:`raftviz.node.storage.recover`): both
    backends reach the same decision.
    """

    def __init__(self, identity: tuple[str, int] | None = None) -> None:
        self.disk = Disk()
        #: ``corrupt N snapshot`` while the node was down.
        self.damaged: set[str] = set()
        #: raft.dat's bytes after ``corrupt N`` (None: the files hold just the state below).
        self.raw: bytes | None = None
        #: (cluster, node) this storage must belong to, and what its identity.dat says
        #: (written with the first save, as FileStorage does; None until then).
        self.owner = identity
        self.identity: tuple[str, int] | None = None
        self.hard = HardState()
        #: The log: ``entries`` are indexes start_index+1 .. start_index+len(entries).
        self.start_index = 0
        self.start_term = 0
        self.entries: list[Entry] = []
        self.snapshot: Snapshot | None = None

    def load(self) -> tuple[HardState, RaftLog, Snapshot | None]:
        # FileStorage's order: identity.dat, snapshot.dat, raft.dat.
        if self.owner is not None:
            wire = storage.identity_record(*self.identity) if self.identity is not None else None
            storage.check_identity(wire, *self.owner, storage.IDENTITY_FILENAME)
        if storage.SNAPSHOT_FILENAME in self.damaged:
            storage.refuse_damaged_snapshot(self.durable())
        written = storage.holds_file(self.durable(), storage.FILENAME)
        if self.raw is not None:
            had_state = None if self.owner is None else self.identity is not None
            found = storage.recover(
                self.raw, self.snapshot, had_state, storage.FILENAME, storage.SNAPSHOT_FILENAME
            )
            self.raw = None  # FileStorage rewrote or truncated the file: it holds the state again
            self.replace(found.state)
            written = found.keep != 0
        if self.identity is None and written:
            self.identity = self.owner  # as FileStorage: identity.dat once raft.dat holds a record
        return self.hard.copy(), RaftLog(self.entries, self.start_index, self.start_term), self.snapshot

    def corrupt(self, kind: str, node: int = 0) -> None:
        """``corrupt N KIND`` on what the files would hold (raftviz.node.storage.damage_directory)."""
        if kind == "snapshot":
            if not storage.holds_file(self.durable(), storage.SNAPSHOT_FILENAME):
                raise storage.StorageError(
                    f"{storage.SNAPSHOT_FILENAME} is empty or missing: nothing to corrupt"
                )
            self.damaged ^= {storage.SNAPSHOT_FILENAME}  # flipping the same byte twice puts it back
            return
        if kind == "id":
            if self.identity is None:
                raise storage.StorageError(f"{storage.IDENTITY_FILENAME} is missing: nothing to corrupt")
            self.identity = (self.identity[0], node)
            return
        log = self.raw
        if log is None:
            log = (
                storage.state_records(self.durable(), 1)
                if storage.holds_file(self.durable(), storage.FILENAME)
                else b""
            )
        self.raw = storage.damage(kind, log)

    def save(self, ready: Ready) -> None:
        """Ready's persistence order: snapshot and compaction, hard state, log change.

        The disk is asked first, in FileStorage's order of writes, so that a
        fault raises the same error as on files, with nothing changed.
        """
        snapshot = ready.snapshot
        if self.disk.fault.mode != "ok":  # an ok disk's checks raise nothing and do not wait
            if snapshot is not None:
                self.disk.check_write(storage.SNAPSHOT_TMP, needs_space=True)
            self.disk.check_write(storage.FILENAME, needs_space=bool(ready.entries) or snapshot is not None)
            self.disk.check_fsync(storage.FILENAME)
        if snapshot is not None:
            # RaftLog.compact's rule: keep what follows the snapshot only if the log
            # holds the snapshot's last entry itself.
            index, start = snapshot.index, self.start_index
            if index < start:
                raise ValueError(f"cannot compact to {index}: the log already starts after {start}")
            held = self.start_term if index == start else None
            if start < index <= start + len(self.entries):
                held = self.entries[index - start - 1].term
            self.entries = self.entries[index - start :] if held == snapshot.term else []
            self.start_index, self.start_term, self.snapshot = index, snapshot.term, snapshot
        if ready.hard_state is not None:
            self.hard = ready.hard_state.copy()
        if ready.log_from:
            if not self.start_index < ready.log_from <= self.start_index + len(self.entries) + 1:
                raise ValueError(f"log change from index {ready.log_from} outside the log")
            del self.entries[ready.log_from - self.start_index - 1 :]
            self.entries.extend(ready.entries)
        if self.identity is None:
            self.identity = self.owner  # FileStorage writes identity.dat after the first record

    def durable(self) -> DurableState:
        return DurableState(
            self.hard.copy(), self.start_index, self.start_term, list(self.entries), self.snapshot
        )

    def replace(self, state: DurableState) -> None:
        self.hard = state.hard.copy()
        self.start_index, self.start_term = state.start_index, state.start_term
        self.entries = list(state.entries)
        self.snapshot = state.snapshot


def node_rng(seed: int, node_id: int, incarnation: int) -> random.Random:
    """The seeded randomness of one incarnation of one node.

    A string seed is hashed with SHA-512 by ``random``, so this is the same in
    every process and on every run, whatever PYTHONHASHSEED says.
    """
    return random.Random(f"raftviz/{seed}/{node_id}/{incarnation}")


class NodeDriver:
    """One incarnation of one node: a core, its storage, and the codec around it."""

    def __init__(
        self,
        node_id: int,
        members: tuple[int, ...],
        config: RaftConfig,
        seed: int,
        incarnation: int,
        storage: Storage,
        now: int,
    ) -> None:
        """``members`` is the cluster's initial configuration; () for a server joining later."""
        self.storage = storage
        hard, log, snapshot = storage.load()
        rng = node_rng(seed, node_id, incarnation)
        self.core = RaftNode(node_id, members, config, rng, now, hard, log, snapshot)
        self.dropped = 0
        self.last_refusal = ""
        #: The peer messages the core's guard dropped during the latest input.
        self.violations: list[Violation] = []
        #: Datagrams dropped for a missing or wrong cluster-secret tag (not in ``dropped``).
        self.unauthenticated = 0
        self._loaded = snapshot
        #: Whether a report's ``sent`` holds datagrams (a node process, free mode) or, for a
        #: driver in the lab's own process (raftviz.lab.backend), the messages themselves:
        #: the lab then encodes a message only if its bytes are asked for, since encoding
        #: every message the cluster sends was a tenth of an in-process lab's time.
        self.encode_sent = True

    def start(self) -> Report:
        """The report of a freshly started node (nothing to persist yet).

        A node that recovered a snapshot reports its bytes, so that whoever
        mirrors the node's state machine starts from the same state.
        """
        report = self._finish()
        if "ack-before-persist" in self.core.bugs or self.core.recovering:
            # What the planted bug (or damaged storage) lost in a crash is not a suffix the
            # lab can guess: the recovered log is reported whole, for the lab's mirror to take.
            log = self.core.log
            report.log_from, report.entries = log.start_index + 1, log.slice(log.start_index + 1)
        if self._loaded is not None:
            report.snapshot = self._loaded.data
            self._loaded = None
        return report

    def take_snapshot(self, now: int) -> Report:
        """Compact the log now, whatever the thresholds say (the lab's ``snapshot N``)."""
        return self._run(self.core.take_snapshot, now, "the snapshot")

    def get_state(self) -> bytes:
        """This node's complete state as a blob (the answer to the lab's GetState)."""
        state = NodeState(self.core, self.storage.durable(), self.dropped, self.last_refusal, self._loaded)
        return node_state.dump(state)

    def load_state(self, blob: bytes) -> Report:
        """Become exactly the node ``blob`` was taken from (the lab's LoadState).

        The storage is made to hold the blob's durable state first, so that
        a crash right after this report recovers the loaded node, as after
        any other report. Raises ``StateBlobError`` for a blob that is not
        one of this node's, having changed nothing.
        """
        state = node_state.load(blob, self.core.id)
        self.storage.replace(state.durable)
        self.core = state.core
        self.dropped, self.last_refusal, self._loaded = state.dropped, state.last_refusal, state.loaded
        return self._finish()

    def deliver(self, data: bytes, now: int) -> Report:
        """Handle one datagram addressed to this node."""
        try:
            msg = datagram.decode(data)
        except WireError as exc:
            self.refuse(str(exc))
            return self._finish(refused=str(exc))
        return self.step_many([msg], now)

    def step_many(self, messages: list[Message], now: int, send_early: Sender | None = None) -> Report:
        """Handle already-decoded messages as one batch: one persist, one report.

        Free mode uses this for group commit: every datagram that arrived
        together is made durable with a single fsync.
        """
        if self.storage.disk.fault.mode != "full":
            # What ``_run`` does when the disk is not full, without the closure: most inputs are this.
            step = self.core.step
            for msg in messages:
                step(msg, now)
            return self._finish(send_early=send_early)
        notes: list[str] = []
        messages = [self._without_new_entries(msg, notes) for msg in messages]

        def handle() -> None:
            for msg in messages:
                self.core.step(msg, now)

        what = type(messages[0]).__name__ if len(messages) == 1 else f"{len(messages)} messages"
        return self._run(handle, now, what, send_early, "; ".join(notes))

    def set_disk(self, fault: DiskFault) -> Report:
        """Make this node's disk ``fault`` from now on (the lab's ``disk N ...``)."""
        self.storage.disk.set(fault)
        return self._finish()

    def _without_new_entries(self, msg: Message, notes: list[str]) -> Message:
        """A full disk: an AppendEntries keeps only the entries this node already holds.

        The rest is the heartbeat it also is: the leader is recognised, the
        election timer reset, the commit index moved up to what is held, and
        the reply acknowledges only that (Figure 2 with fewer entries sent), so
        the node neither stores what it has no room for nor disturbs the
        cluster by timing out.
        """
        if not isinstance(msg, AppendEntries) or not msg.entries:
            return msg
        log = self.core.log
        held = 0
        for index, entry in enumerate(msg.entries, start=msg.prev_log_index + 1):
            if index > log.start_index and log.term_at(index) != entry.term:
                break
            held += 1
        if held == len(msg.entries):
            return msg
        new = len(msg.entries) - held
        notes.append(
            f"disk full: {new} new entr{'y' if new == 1 else 'ies'} from node {msg.src} not stored "
            f"(from index {msg.prev_log_index + held + 1})"
        )
        return dataclasses.replace(msg, entries=msg.entries[:held])

    def _run(
        self,
        action: Callable[[], None],
        now: int,
        what: str,
        send_early: Sender | None = None,
        note: str = "",
        timer: bool = False,
    ) -> Report:
        """Run ``action`` on the core, then persist and report.

        On a full disk, an input whose outcome needs new space (a client
        command a leader would append, a snapshot to install or take, the
        no-op of a new leader) is refused as if it had never arrived: the
        core is put back as it was before it, and the refusal is counted and
        reported. A timer refused that way is put off, so that it does not
        fire again at once, forever.
        """
        if self.storage.disk.fault.mode != "full":
            action()
            return self._finish(refused=note, send_early=send_early)
        before = copy.deepcopy(self.core)
        action()
        try:
            # No early sends: nothing may leave before it is known to fit on disk.
            return self._finish(refused=note)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        self.core = before
        if timer:
            self._put_off(now)
        self.refuse(f"disk full: no room for what {what} needs (refused)")
        return self._finish(refused=self.last_refusal)

    def _put_off(self, now: int) -> None:
        core = self.core
        if core.next_deadline() > now:
            return
        if core.role == "leader":
            core.heartbeat_deadline = now + core.config.heartbeat
        else:
            core.set_election_deadline(now + core.election_timeout)

    def refuse(self, reason: str) -> None:
        """Count a datagram that was refused before reaching the core."""
        self.dropped += 1
        self.last_refusal = reason

    def fire_timer(self, now: int, send_early: Sender | None = None) -> Report:
        """The node's next deadline has come: let the core act on it."""
        return self._run(lambda: self.core.tick(now), now, "its timer", send_early, timer=True)

    def timeout_now(self, now: int) -> Report:
        """Force an election timeout (the lab's ``timeout N``)."""
        return self._run(lambda: self.core.timeout_now(now), now, "the forced timeout")

    def transfer(self, target: int, now: int) -> Report:
        """Hand leadership to ``target`` (the lab's ``transfer N``); a refusal is a reason in the report."""
        return self._run(lambda: self.core.transfer_leadership(target, now), now, "the leadership transfer")

    def set_election_deadline(self, deadline: int) -> Report:
        """Move the election timer (the lab's timer presets)."""
        self.core.set_election_deadline(deadline)
        return self._finish()

    def _finish(self, refused: str = "", send_early: Sender | None = None) -> Report:
        """Persist, then report what to send.

        With ``send_early`` (free mode), a leader's AppendEntries leave *before*
        its own fsync: the dissertation's §10.2.1 parallel write. This is safe
        because the leader counts itself towards a commit only through its own
        log, which is durable by the time the step ends and any reply is read;
        and no term or vote change is pending (that must be durable first).
        Those messages are then left out of the report's ``sent``.
        """
        core = self.core
        ready = core.ready()
        self.violations = ready.violations
        messages = ready.messages
        if send_early is not None and ready.hard_state is None and core.role == "leader":
            early = [m for m in messages if isinstance(m, AppendEntries)]
            if early:
                send_early([(m.dst, datagram.encode(m)) for m in early])
                messages = [m for m in messages if not isinstance(m, AppendEntries)]
        # Durable before anything (else) leaves: Figure 2's persistence rule
        # (which the planted bug ack-before-persist breaks: durable_from lags log_from).
        durable = ready
        if ready.durable_from != ready.log_from:
            late = core.log.slice(ready.durable_from) if ready.durable_from else []
            durable = dataclasses.replace(ready, log_from=ready.durable_from, entries=late)
        if durable.hard_state is not None or durable.log_from or durable.snapshot is not None:
            try:
                self.storage.save(durable)
            except OSError as exc:
                if exc.errno == errno.ENOSPC and self.storage.disk.fault.mode == "full":
                    raise  # the injected full disk: ``_run`` refuses the input instead
                # Anything else (EIO above all): what reached the disk is unknown, so stop.
                raise DiskStopped(stop_reason(exc)) from exc
        if self.encode_sent:
            encode = datagram.encode
            sent: list[tuple[Address, bytes | Message]] = [(m.dst, encode(m)) for m in messages]
        else:
            sent = [(m.dst, m) for m in messages]
        return self._report(ready, sent, refused)

    def _report(self, ready: Ready, sent: list[tuple[Address, bytes | Message]], refused: str) -> Report:
        """The report of the latest input: the core's state now, and what ``ready`` held.

        Built for every input of every node, so it is built cheaply: Report's
        fields are passed by position (a call with 34 keywords costs about twice
        as much), each one named in a comment, in the order Report declares them
        (tests/node/test_driver_report.py checks each against its source); the
        ``if``s skip sorting what is empty, or only a leader has.
        """
        core = self.core
        role, log, configuration = core.role, core.log, core.configuration
        leader = role == "leader"
        check_quorum = leader and core.config.check_quorum
        return Report(
            core.id,  # node
            role,  # role
            core.current_term,  # term
            core.voted_for,  # vote
            core.leader_id,  # leader
            core.commit_index,  # commit
            core.last_applied,  # applied
            log.last_index,  # last_index
            log.last_term,  # last_term
            core.next_deadline(),  # deadline
            core.election_timeout,  # election_timeout
            ready.log_from,  # log_from
            ready.entries,  # entries
            sent,  # sent
            # votes: a candidate's votes, or a pre-candidate's pre-votes.
            tuple(sorted(core.votes_granted)) if role in ("candidate", "pre-candidate") else (),
            tuple(sorted(core.next_index.items())) if leader else (),  # next_index
            tuple(sorted(core.match_index.items())) if leader else (),  # match_index
            self.dropped,  # dropped
            refused,  # refused
            log.start_index,  # start_index
            log.start_term,  # start_term
            configuration.voters,  # voters
            configuration.learners,  # learners
            ready.snapshot.data if ready.snapshot is not None else b"",  # snapshot
            self.storage.disk.fault.text,  # disk
            tuple(sorted(core.violation_counts.items())) if core.violation_counts else (),  # violations
            tuple(ready.reasons) if ready.reasons else (),  # reasons
            len(core.pending_reads) if leader else 0,  # reads_waiting
            _waiting_reads(core) if leader and core.pending_reads else (),  # reads
            max(0, core.lease_expiry()) if leader else 0,  # lease
            core.recovering,  # recovering
            core.transfer_target if leader else 0,  # transfer
            core.quorum_deadline if check_quorum else 0,  # quorum_check
            core.quorum_heard() if check_quorum else (),  # quorum_heard
        )


def _waiting_reads(core: RaftNode) -> tuple[str, ...]:
    """The first reads a leader holds, in words, for the lab's inspector (raftviz.core.reads)."""
    reads = itertools.islice(core.pending_reads.values(), MAX_REPORTED_READS)
    return tuple(f"{r.describe()} ({r.mode}, round {r.round}, index {r.index or '?'})" for r in reads)
