"""The lab's picture of each node, built only from the node's reports.

The lab never reaches into a node: it mirrors each node's durable log from
the log changes (and compactions) the node reports, and its state machine by
applying the mirrored entries up to the applied index the node reports — or,
when the node reports a snapshot, by loading the snapshot's state. What the
lab shows is therefore what the node said after a completed step, never a guess.

The state machine mirror is brought up to date lazily, when something reads
``kv`` (a condition, the TUI, a lesson): a busy cluster applies every command
on every node, and applying each once more in the lab, step by step, cost
a tenth of the lab's time although nothing looks at most of those states.
Entries the mirror has still to apply are applied before the log could lose
or replace them (a truncation), so the result is the same state, entry for
entry, as applying at once. When the node compacts its log and nobody has read
the mirror since the last compaction, the view keeps the node's snapshot
instead of applying the entries the compaction drops, and decodes it only if
the state is read after all (a headless run or a hunt never reads it).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field

from raftviz.core.kv import KVStore, restore_snapshot
from raftviz.core.log import RaftLog
from raftviz.core.reasons import Reason
from raftviz.core.snapshot import Snapshot
from raftviz.node.driver import Report


@functools.lru_cache(maxsize=4)
def _restored(data: bytes, expiry: int) -> tuple[Snapshot, KVStore]:
    """A snapshot's metadata and state, decoded once for every node that reports it.

    Every node of a cluster compacts at the same applied index into the same
    (canonical) bytes, and decoding is the costly part; the caller copies the
    store before changing it, so the cached one stays as the bytes say.
    """
    return restore_snapshot(data, expiry)


@dataclass(slots=True)
class NodeView:
    """One node as the lab knows it."""

    id: int
    alive: bool = True
    incarnation: int = 0
    role: str = "follower"
    term: int = 0
    vote: int = 0
    leader: int = 0
    commit: int = 0
    applied: int = 0
    deadline: int = 0
    election_timeout: int = 0
    #: The durable log (it starts after ``log.start_index`` once compacted).
    log: RaftLog = field(default_factory=RaftLog)
    #: The mirrored state machine as of index ``mirrored`` (<= ``applied``): read
    #: it through ``kv``, which applies the entries up to ``applied`` first.
    mirror: KVStore = field(default_factory=KVStore)
    mirrored: int = 0
    #: The node's snapshot the mirror starts from when next read (b"": none): the
    #: state at ``mirrored``, still encoded. See ``_keep_snapshot``.
    pending: bytes = b""
    #: Whether ``kv`` was read since the node's last snapshot (then the mirror stays applied).
    watched: bool = False
    votes: tuple[int, ...] = ()
    next_index: tuple[tuple[int, int], ...] = ()
    match_index: tuple[tuple[int, int], ...] = ()
    dropped: int = 0
    #: Peer messages this incarnation dropped as protocol violations, as (kind, count).
    violations: tuple[tuple[str, int], ...] = ()
    #: Last time this node became leader (for the UI), or -1.
    leader_since: int = -1
    #: The configuration the node uses.
    voters: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()
    #: True for a node added to a running cluster (it started with no configuration).
    joined: bool = False
    #: Its disk: ok, fail, full or slow:MS (``disk N ...``); it outlives a crash.
    disk: str = "ok"
    #: The reasons of the latest input for which the node gave any (raftviz.core.reasons):
    #: why it last decided something, for the inspector.
    reasons: tuple[Reason, ...] = ()
    #: The cluster's session expiry in ms (0: never), which the mirrored state machine needs.
    expiry: int = 0
    #: Reads a leader holds without the log (raftviz.core.reads): how many, and the first few in words.
    reads_waiting: int = 0
    reads: tuple[str, ...] = ()
    #: When its lease as leader ends, in virtual time (0: none; the lab converts the node's clock).
    lease: int = 0
    #: What the node lost to damaged storage while it is recovering ("" when it is not).
    recovering: str = ""
    #: A leader handing over leadership: the target (0: none; dissertation §3.10).
    transfer: int = 0
    #: CheckQuorum as a leader: its next check (virtual time; 0: none) and the voters it counts so far.
    quorum_check: int = 0
    quorum_heard: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        self.mirror.expiry = self.expiry

    @property
    def kv(self) -> KVStore:
        """The node's state machine as of its applied index (as the node reported it)."""
        self.watched = True
        self._catch_up()
        return self.mirror

    def _catch_up(self) -> None:
        """Apply the entries the node has applied that the mirror has not, from the log."""
        if self.pending:
            _, restored = _restored(self.pending, self.expiry)
            self.mirror, self.pending = copy.deepcopy(restored), b""
        if self.mirrored >= self.applied:
            return
        log, kv = self.log, self.mirror
        for index in range(self.mirrored + 1, self.applied + 1):
            entry = log.entry(index)
            kv.apply(entry.command, index, entry.stamp)
        self.mirrored = self.applied

    @property
    def last_index(self) -> int:
        return self.log.last_index

    @property
    def last_term(self) -> int:
        return self.log.last_term

    @property
    def snapshot_index(self) -> int:
        return self.log.start_index

    def term_at(self, index: int) -> int:
        """The term at ``index``; 0 if the node holds no entry there (or it was compacted)."""
        term = self.log.term_at(index)
        return term if term is not None and index > 0 else 0

    def absorb(self, report: Report, installed: bool = False) -> None:
        """Take in a report: mirror the log change, apply what the node applied.

        ``installed``: the report's snapshot came from a leader (an InstallSnapshot), so it
        replaces the state machine, whatever the view's log holds.
        """
        log = self.log  # compacted and truncated in place, never replaced
        if report.snapshot:
            own = not installed and self._reaches(report)
            if not self.watched and (installed or own):
                self._keep_snapshot(report)
            elif not own:
                # The snapshot's state replaces whatever the mirror had still to apply.
                snapshot, restored = _restored(report.snapshot, self.expiry)
                self.mirror, self.pending = copy.deepcopy(restored), b""
                if snapshot.index > log.start_index:
                    log.compact(snapshot.index, snapshot.term)
                self.applied = self.mirrored = snapshot.index
            self.watched = False
        if report.log_from:
            if report.log_from <= self.applied:
                self._catch_up()  # what was applied is about to leave the log (a planted bug)
            log.truncate_from(report.log_from)
            log.extend(report.entries)
        if report.applied < self.applied:
            # Never for a correct node; kept as the eager mirror had it: the state as
            # applied so far, and the entries above report.applied applied again later.
            self._catch_up()
            self.mirrored = report.applied
        self.applied = report.applied  # the mirror applies up to it when read
        if report.start_index > log.start_index:
            if self.mirrored < report.start_index:
                self._catch_up()  # before the compaction drops entries it has still to apply
            log.compact(report.start_index, report.start_term)
        if report.last_index != log.last_index or report.last_term != log.last_term:
            raise RuntimeError(
                f"node {self.id} reports last={report.last_index}/{report.last_term} "
                f"but its reported log changes give {log.last_index}/{log.last_term}"
            )
        self.role = report.role
        self.term = report.term
        self.vote = report.vote
        self.leader = report.leader
        self.commit = report.commit
        self.applied = report.applied
        self.deadline = report.deadline
        self.election_timeout = report.election_timeout
        self.votes = report.votes
        self.next_index = report.next_index
        self.match_index = report.match_index
        self.dropped = report.dropped
        self.violations = report.violations
        self.voters = report.voters
        self.learners = report.learners
        self.disk = report.disk
        self.reads_waiting, self.reads, self.lease = report.reads_waiting, report.reads, report.lease
        self.recovering = report.recovering
        self.transfer = report.transfer
        self.quorum_check, self.quorum_heard = report.quorum_check, report.quorum_heard
        if report.reasons:
            self.reasons = report.reasons

    def _keep_snapshot(self, report: Report) -> None:
        """Take the node's snapshot as the mirror's state at its index, undecoded.

        The node's own (``_reaches``) or one it installed from a leader: either
        way its log starts at the snapshot's index now (``report.start_index``).
        Nobody read the mirror since the node's last snapshot, so nobody may ever
        read it: applying the entries up to the snapshot, or decoding one sent,
        would be work for nothing, as applying them on every node's view was a
        tenth of a long run. The stale mirror goes (a view holds no copy of a
        state machine nobody reads); the entries after the snapshot are applied
        on top of it when ``kv`` is read. The log is compacted below, as for
        any report.
        """
        self.pending = report.snapshot
        self.mirror = KVStore(self.expiry)
        self.mirrored = report.start_index

    def _reaches(self, report: Report) -> bool:
        """Whether the snapshot in ``report``, one the node took of its own state (not
        installed from a leader: with a planted bug, the entries before it may not be the
        leader's), is of state this view's mirror reaches by itself.

        So it is when the entry the snapshot ends at, with its term, is one the view
        holds (or this report brings), and the node has applied it. The mirror then
        applies the log up to there and compacts (below), which gives the snapshot's
        state (State Machine Safety) without decoding it: decoding and copying the
        whole state machine, for every node at every snapshot, grew with the state to
        a fifth of a long run's time. Otherwise (a node whose mirror ran ahead, a
        restart) the view takes the snapshot's state.
        """
        index, term = report.start_index, report.start_term
        log = self.log
        if not log.start_index < index <= report.applied or self.mirrored > report.applied:
            return False
        if report.log_from and report.log_from <= index:
            offset = index - report.log_from
            return offset < len(report.entries) and report.entries[offset].term == term
        return log.term_at(index) == term

    def crash(self) -> None:
        """Forget what a crash forgets: everything but term, vote and log."""
        self.alive = False
        self.role = "down"
        self.leader = 0
        self.commit = 0
        self.applied = 0
        self.mirror = KVStore(self.expiry)
        self.mirrored = 0
        self.pending = b""
        self.votes = ()
        self.next_index = ()
        self.match_index = ()
        self.reads_waiting, self.reads, self.lease = 0, (), 0
        self.transfer = 0
        self.quorum_check, self.quorum_heard = 0, ()

    def status_fields(self) -> dict[str, str]:
        """The keys of the ``status`` line (docs/scenario-language.md), in order."""
        fields = {
            "node": str(self.id),
            "role": self.role,
            "term": str(self.term),
            "vote": str(self.vote) if self.vote else "-",
            "commit": str(self.commit) if self.alive else "-",
            "applied": str(self.applied) if self.alive else "-",
            "last": str(self.last_index),
            "alive": "yes" if self.alive else "no",
            "leader": str(self.leader) if self.leader else "-",
            "dropped": str(self.dropped),
            "voters": ",".join(map(str, self.voters)) or "-",
            "learners": ",".join(map(str, self.learners)) or "-",
            "snap": str(self.snapshot_index),
            "disk": self.disk,
            "recovering": "yes" if self.recovering else "no",
        }
        if self.transfer:  # only while a leader hands over, so status lines before it stay as they were
            fields["transfer"] = str(self.transfer)
        return fields
