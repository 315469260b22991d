"""The guard: a peer's message that no correct Raft server could send is dropped and counted.

One test per violation kind (raftviz/core/violations.py), with the numbers of
issue 14's findings where there are some, and the stale messages that are
*not* violations (a lower term is Raft's normal case). A dropped message
changes nothing: no term, no log, no reply.
"""

from __future__ import annotations

import random

from raftviz.core.config import RaftConfig
from raftviz.core.guards import MAX_INDEX, MAX_TERM
from raftviz.core.log import RaftLog
from raftviz.core.messages import (
    AppendEntries,
    AppendEntriesReply,
    Command,
    Entry,
    InstallSnapshot,
    InstallSnapshotReply,
    RequestVote,
    RequestVoteReply,
)
from raftviz.core.raft import FOLLOWER, LEADER, RaftNode
from raftviz.core.ready import HardState
from raftviz.core.violations import (
    ENTRY_BEFORE_SNAPSHOT,
    INDEX_TOO_LARGE,
    MATCH_BEYOND_LOG,
    OVERWRITE_COMMITTED,
    SECOND_LEADER,
    TERM_BACKWARDS,
    TERM_TOO_LARGE,
)

WIRE_MAX = 2**63 - 1


def entry(term: int, key: str = "k") -> Entry:
    return Entry(term, Command("put", key, f"t{term}"))


def follower(log_terms: tuple[int, ...] = (1, 1, 2), term: int = 2, commit: int = 3) -> RaftNode:
    """Node 1 of 3, following node 2 in ``term``, with ``commit`` entries committed."""
    log = RaftLog(entry(t, f"k{i}") for i, t in enumerate(log_terms, 1))
    node = RaftNode(1, (1, 2, 3), RaftConfig(), random.Random(1), 0, HardState(term, 0), log)
    if commit:
        prev = len(log_terms)
        node.step(AppendEntries(2, 1, term, prev, log_terms[-1], (), commit), 10)
        assert node.commit_index == commit
    node.ready()
    return node


def leader() -> RaftNode:
    """Node 1 of 3, leader of term 1 with its no-op at index 1."""
    node = RaftNode(1, (1, 2, 3), RaftConfig(), random.Random(1), 0)
    node.timeout_now(0)
    node.step(RequestVoteReply(2, 1, 1, True), 0)
    assert node.role == LEADER and node.log.last_index == 1
    node.ready()
    return node


def dropped(node: RaftNode, msg: object, kind: str) -> None:
    """``msg`` is dropped as ``kind``: counted, reported once, and nothing else happens."""
    before = (node.current_term, node.voted_for, node.role, list(node.log), node.commit_index)
    counts = dict(node.violation_counts)
    node.step(msg, 20)  # type: ignore[arg-type]
    ready = node.ready()
    assert [v.kind for v in ready.violations] == [kind], ready.violations
    assert ready.violations[0].src == msg.src  # type: ignore[attr-defined]
    assert ready.messages == [] and ready.hard_state is None and not ready.log_from
    assert (node.current_term, node.voted_for, node.role, list(node.log), node.commit_index) == before
    assert node.violation_counts == {**counts, kind: counts.get(kind, 0) + 1}


def accepted(node: RaftNode, msg: object) -> None:
    node.step(msg, 20)  # type: ignore[arg-type]
    assert node.ready().violations == []


# ---------------------------------------------------------------------- overwrite-committed


def test_forged_append_entries_of_issue_14_cannot_overwrite_committed_entries() -> None:
    # Term 2,000,000,000, prevLogIndex 1, two entries: both nodes died on an assert before.
    node = follower()
    forged = AppendEntries(3, 1, 2_000_000_000, 1, 1, (entry(2_000_000_000), entry(2_000_000_000)), 5)
    dropped(node, forged, OVERWRITE_COMMITTED)
    assert node.current_term == 2  # the term did not move either


def test_the_same_entries_above_the_commit_index_are_ordinary_raft() -> None:
    # Only committed entries are protected: an uncommitted suffix is truncated, as §5.3 says.
    node = follower(commit=1)
    accepted(node, AppendEntries(3, 1, 9, 1, 1, (entry(9), entry(9)), 1))
    assert node.current_term == 9 and [e.term for e in node.log] == [1, 9, 9]


def test_prev_log_term_that_disagrees_with_a_committed_entry() -> None:
    node = follower()
    dropped(node, AppendEntries(2, 1, 2, 2, 2, (), 3), OVERWRITE_COMMITTED)


def test_the_violation_names_the_sender_and_the_numbers() -> None:
    node = follower()
    node.step(AppendEntries(3, 1, 7, 1, 1, (entry(7),), 3), 20)
    (violation,) = node.ready().violations
    assert violation.describe() == (
        "AppendEntries from node 3: overwrite-committed (entry 2 has term 7, committed there: term 1)"
    )


# ---------------------------------------------------------------------- entry-before-snapshot


def snapshotted() -> RaftNode:
    """A follower whose log starts after a snapshot at index 5, term 2 (so 5 is committed)."""
    log = RaftLog([entry(3)], start_index=5, start_term=2)
    node = RaftNode(1, (1, 2, 3), RaftConfig(), random.Random(1), 0, HardState(3, 0), log)
    assert node.commit_index == 5
    return node


def test_entries_that_contradict_the_snapshot() -> None:
    # prevLogIndex 3 is below the snapshot; the entry it puts at 5 has term 1, the snapshot's has 2.
    forged = AppendEntries(2, 1, 3, 3, 1, (entry(1), entry(1), entry(3)), 6)
    dropped(snapshotted(), forged, ENTRY_BEFORE_SNAPSHOT)


def test_prev_log_term_that_contradicts_the_snapshot() -> None:
    dropped(snapshotted(), AppendEntries(2, 1, 3, 5, 1, (), 5), ENTRY_BEFORE_SNAPSHOT)


def test_entries_that_agree_with_the_snapshot_are_accepted() -> None:
    node = snapshotted()
    accepted(node, AppendEntries(2, 1, 3, 3, 1, (entry(1), entry(2), entry(3), entry(3)), 7))
    assert node.log.last_index == 7 and node.commit_index == 7


# ---------------------------------------------------------------------- term-backwards


def test_terms_that_go_backwards_inside_one_message() -> None:
    node = follower(commit=0)
    dropped(node, RequestVote(2, 1, 3, 3, 4), TERM_BACKWARDS)  # a last log term above the candidate's term
    dropped(node, AppendEntries(2, 1, 3, 3, 2, (entry(3), entry(2)), 0), TERM_BACKWARDS)  # a log out of order
    dropped(node, AppendEntries(2, 1, 3, 3, 2, (entry(4),), 0), TERM_BACKWARDS)  # newer than its leader
    dropped(node, AppendEntries(2, 1, 3, 3, 2, (entry(1),), 0), TERM_BACKWARDS)  # before prevLogTerm
    dropped(node, InstallSnapshot(2, 1, 3, 9, 4, 0, b"", True, 0), TERM_BACKWARDS)
    assert node.violation_counts == {TERM_BACKWARDS: 5}


def test_a_reply_whose_conflict_term_is_newer_than_its_term() -> None:
    dropped(leader(), AppendEntriesReply(2, 1, 1, False, 0, 1, 2), TERM_BACKWARDS)


def test_stale_messages_are_not_violations() -> None:
    # A lower term than one already seen, even from the same sender, is a delayed message:
    # the rules reject it by term, as before, and nothing is counted.
    node = follower()
    node.step(AppendEntries(2, 1, 1, 3, 1, (), 0), 20)
    ready = node.ready()
    assert ready.violations == [] and node.violation_counts == {}
    assert ready.messages == [AppendEntriesReply(1, 2, 2, False)]
    accepted(node, RequestVote(3, 1, 1, 0, 0))
    # Stale: not compared with the log, although index 3 holds a committed entry of term 2.
    accepted(node, AppendEntries(2, 1, 1, 0, 0, (entry(1), entry(1), entry(1)), 3))


# ---------------------------------------------------------------------- match-beyond-log


def test_a_reply_claiming_more_than_the_leader_has() -> None:
    node = leader()
    dropped(node, AppendEntriesReply(2, 1, 1, True, match_index=1_000_000), MATCH_BEYOND_LOG)
    assert node.match_index[2] == 0 and node.commit_index == 0
    dropped(node, InstallSnapshotReply(2, 1, 1, 50, 0, True), MATCH_BEYOND_LOG)
    accepted(node, AppendEntriesReply(2, 1, 1, True, match_index=1))
    assert node.commit_index == 1


def test_a_stale_reply_is_not_checked_against_the_log() -> None:
    node = leader()
    accepted(node, AppendEntriesReply(2, 1, 0, True, match_index=1_000_000))


# ---------------------------------------------------------------------- term-too-large


def test_a_term_no_node_could_increment_and_encode() -> None:
    # Issue 14: a RequestVote with a term near 2**63 was granted; two elections later every
    # node crashed with a WireError. Now it is refused like any invalid message.
    node = follower(commit=0)
    dropped(node, RequestVote(3, 1, 2**63 - 2, 3, 2), TERM_TOO_LARGE)
    dropped(node, RequestVote(3, 1, MAX_TERM + 1, 3, 2), TERM_TOO_LARGE)
    dropped(node, AppendEntries(2, 1, 3, 3, 2, (entry(WIRE_MAX),), 0), TERM_TOO_LARGE)
    dropped(node, RequestVoteReply(2, 1, WIRE_MAX, True), TERM_TOO_LARGE)


def test_the_largest_term_still_leaves_room_for_elections() -> None:
    node = follower(commit=0)
    accepted(node, RequestVote(3, 1, MAX_TERM, 3, 2))
    assert node.current_term == MAX_TERM
    for _ in range(3):
        node.timeout_now(1000)
    assert node.current_term == MAX_TERM + 3 < 2**63


def test_a_term_of_a_billion_is_a_legal_term() -> None:
    # Without a cluster secret a forged RequestVote like this looks like a peer's: terms may move.
    node = follower(commit=0)
    accepted(node, RequestVote(3, 1, 10**9, 3, 2))
    assert node.current_term == 10**9 and node.role == FOLLOWER


# ---------------------------------------------------------------------- index-too-large


def test_indexes_past_the_bound() -> None:
    node = follower(commit=0)
    dropped(node, AppendEntries(2, 1, 3, MAX_INDEX + 1, 2, (), 0), INDEX_TOO_LARGE)
    dropped(node, AppendEntries(2, 1, 3, MAX_INDEX - 1, 2, (entry(3), entry(3)), 0), INDEX_TOO_LARGE)
    dropped(node, AppendEntries(2, 1, 3, 3, 2, (), WIRE_MAX), INDEX_TOO_LARGE)
    dropped(node, RequestVote(3, 1, 3, WIRE_MAX, 2), INDEX_TOO_LARGE)
    dropped(node, InstallSnapshot(2, 1, 3, 2**63 - 10, 2, 0, b"x", False, 0), INDEX_TOO_LARGE)
    lead = leader()
    dropped(lead, AppendEntriesReply(2, 1, 1, False, 0, WIRE_MAX, 0), INDEX_TOO_LARGE)
    dropped(lead, InstallSnapshotReply(2, 1, 1, WIRE_MAX, 0, False), INDEX_TOO_LARGE)


def test_a_snapshot_billions_ahead_is_within_the_bound() -> None:
    # Not a violation by itself (a lagging follower may be far behind): its first chunk is taken.
    node = follower(commit=0)
    accepted(node, InstallSnapshot(2, 1, 3, 5_000_000_000, 3, 0, b"{", False, 0))
    assert node.receiving is not None and node.receiving[0] == 5_000_000_000


# ---------------------------------------------------------------------- second-leader


def test_a_second_leader_in_one_term() -> None:
    node = follower()  # follows node 2 in term 2
    dropped(node, AppendEntries(3, 1, 2, 3, 2, (), 3), SECOND_LEADER)
    dropped(node, InstallSnapshot(3, 1, 2, 9, 2, 0, b"", True, 0), SECOND_LEADER)
    dropped(leader(), AppendEntries(2, 1, 1, 1, 1, (), 1), SECOND_LEADER)
    accepted(node, AppendEntries(3, 1, 3, 3, 2, (), 3))  # a new term may have a new leader


def test_counts_accumulate_per_kind() -> None:
    node = follower()
    for _ in range(3):
        node.step(RequestVote(3, 1, WIRE_MAX, 3, 2), 20)
    node.step(AppendEntries(3, 1, 9, 1, 1, (entry(9),), 3), 20)
    assert node.violation_counts == {TERM_TOO_LARGE: 3, OVERWRITE_COMMITTED: 1}
    assert len(node.ready().violations) == 4


def test_a_node_already_at_the_last_encodable_term_waits_instead_of_crashing() -> None:
    # A data directory from before the bound may hold such a term: its next election would not encode.
    node = RaftNode(1, (1, 2, 3), RaftConfig(), random.Random(1), 0, HardState(WIRE_MAX, 0))
    node.timeout_now(1000)
    node.tick(5000)
    assert node.role == FOLLOWER and node.current_term == WIRE_MAX
    assert node.ready().messages == []
