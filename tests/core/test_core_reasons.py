"""The core's reasons (raftviz.core.reasons): each decision of a rule records the right kind and numbers.

One test per kind, driving ``RaftNode`` directly as tests/core/test_core_rules.py
does; the lab-level twin, on both backends, is tests/lab/test_reasons.py.
"""

from __future__ import annotations

import pytest

from raftviz.core import reasons
from raftviz.core.config import RaftConfig
from raftviz.core.messages import (
    AppendEntriesReply,
    InstallSnapshot,
    RequestVote,
    RequestVoteReply,
)
from raftviz.core.raft import RaftNode
from raftviz.core.reasons import KINDS, PLACES, Reason
from tests.core.test_core_rules import ack, append, elect, entries, make


def explained(node: RaftNode) -> list[Reason]:
    return node.ready().reasons


def only(node: RaftNode, kind: str) -> Reason:
    found = [r for r in explained(node) if r.kind == kind]
    assert len(found) == 1, found
    return found[0]


def test_every_kind_has_a_place_in_the_paper_and_words() -> None:
    assert len(KINDS) == len(set(KINDS)) == len(PLACES)
    for kind in KINDS:
        sample = Reason(kind, peer=2, other=3, term=4, index=5, message="AppendEntries", before="leader")
        text = sample.describe()
        assert text.endswith(f"({PLACES[kind]})")
        # Events join several reasons with "; " and find splits them there again.
        assert "; " not in text
        assert text[0].islower() or text.startswith(("AppendEntries", "RequestVote", "TimeoutNow"))


def test_vote_granted_names_both_logs() -> None:
    node = make(2, log_terms=(1, 1))
    node.step(RequestVote(1, 2, 3, last_log_index=4, last_log_term=2), 0)
    ready = node.ready()
    granted = [r for r in ready.reasons if r.kind == reasons.VOTE_GRANTED]
    assert granted == [
        Reason(reasons.VOTE_GRANTED, peer=1, term=3, our_term=1, our_index=2, their_term=2, their_index=4)
    ]
    # Moving to the newer term is a reason of its own, first.
    assert ready.reasons[0].kind == reasons.STEP_DOWN and ready.reasons[0].before == "follower"


def test_vote_denied_already_voted() -> None:
    node = make(2, term=3, vote=3)
    node.step(RequestVote(1, 2, 3, 0, 0), 0)
    assert only(node, reasons.VOTE_DENIED_VOTED) == Reason(reasons.VOTE_DENIED_VOTED, peer=1, other=3, term=3)


def test_vote_denied_log_not_up_to_date() -> None:
    node = make(2, term=3, log_terms=(1, 3))
    node.step(RequestVote(1, 2, 3, last_log_index=5, last_log_term=2), 0)
    r = only(node, reasons.VOTE_DENIED_LOG)
    assert (r.their_term, r.their_index, r.our_term, r.our_index) == (2, 5, 3, 2)
    assert "§5.4.1" in r.describe()


def test_vote_denied_stale_term() -> None:
    node = make(2, term=5)
    node.step(RequestVote(1, 2, 4, 0, 0), 0)
    assert only(node, reasons.VOTE_DENIED_STALE) == Reason(
        reasons.VOTE_DENIED_STALE, peer=1, term=5, their_term=4
    )


def test_elected_names_the_votes() -> None:
    node = make(1, n=5)
    node.timeout_now(0)
    node.ready()
    node.step(RequestVoteReply(2, 1, 1, True), 0)
    assert not explained(node)
    node.step(RequestVoteReply(4, 1, 1, True), 0)
    assert only(node, reasons.ELECTED) == Reason(reasons.ELECTED, term=1, count=5, after="1,2,4")


def test_leader_steps_down_on_a_higher_term() -> None:
    node = make(1)
    elect(node)
    node.step(AppendEntriesReply(3, 1, 7, False), 0)
    r = only(node, reasons.STEP_DOWN)
    assert (r.peer, r.term, r.our_term, r.message, r.before) == (3, 7, 1, "AppendEntriesReply", "leader")
    assert r.describe().startswith("leader steps down to follower, term 1 -> 7")


def test_candidate_steps_down_for_a_leader_of_its_term() -> None:
    node = make(1)
    node.timeout_now(0)
    node.ready()
    node.step(append(2, 1, 1, 0, 0, []), 0)
    assert only(node, reasons.LEADER_SEEN) == Reason(
        reasons.LEADER_SEEN, peer=2, term=1, message="AppendEntries"
    )


def test_append_rejected_stale_missing_and_mismatch() -> None:
    node = make(2, term=3, log_terms=(1, 2))
    node.step(append(1, 2, 2, 0, 0, []), 0)
    assert only(node, reasons.APPEND_REJECTED_STALE).their_term == 2
    node.step(append(1, 2, 3, 5, 3, []), 0)
    missing = only(node, reasons.APPEND_REJECTED_MISSING)
    assert (missing.index, missing.our_index) == (5, 2)
    node.step(append(1, 2, 3, 2, 3, []), 0)
    mismatch = only(node, reasons.APPEND_REJECTED_MISMATCH)
    assert (mismatch.index, mismatch.our_term, mismatch.their_term) == (2, 2, 3)


def test_truncation_says_what_was_deleted() -> None:
    node = make(2, term=3, log_terms=(1, 1, 1, 1))
    node.step(append(1, 2, 3, 1, 1, entries(1, 3)[1:]), 0)
    r = only(node, reasons.LOG_TRUNCATED)
    assert (r.index, r.our_index, r.count, r.our_term, r.their_term) == (2, 4, 3, 1, 3)
    assert r.describe().startswith("entries 2..4 deleted: entry 2 has term 1 here but term 3")


def test_commit_learned_from_the_leader() -> None:
    node = make(2, term=1, log_terms=(1, 1))
    node.step(append(1, 2, 1, 2, 1, [], commit=5), 0)
    r = only(node, reasons.COMMIT_LEARNED)
    assert (r.our_index, r.index, r.their_index) == (0, 2, 5)


def test_commit_advanced_by_a_majority_of_the_current_term() -> None:
    node = make(1)
    elect(node)
    ready = ack(node, 2, 1)
    assert [r.kind for r in ready.reasons] == [reasons.COMMIT_ADVANCED]
    assert ready.reasons[0].after == "1,2"


def test_commit_held_is_figure_8_and_said_once() -> None:
    # No no-op: the new leader of term 3 has only entries of term 1 and 2.
    node = make(1, term=2, log_terms=(1, 2), config=RaftConfig(noop=False))
    elect(node)
    ready = ack(node, 2, 2)
    held = [r for r in ready.reasons if r.kind == reasons.COMMIT_HELD]
    assert held == [
        Reason(reasons.COMMIT_HELD, term=3, index=2, our_index=0, their_term=2, count=3, after="1,2")
    ]
    assert "Figure 8 / §5.4.2" in held[0].describe()
    assert node.commit_index == 0
    # Another reply that changes nothing says nothing.
    assert ack(node, 2, 2).reasons == []
    assert ack(node, 3, 2).reasons == []


def test_snapshot_installed() -> None:
    leader = make(1, config=RaftConfig(snapshot_entries=2))
    elect(leader)
    ack(leader, 2, 1)
    leader.take_snapshot()
    snapshot = leader.snapshot
    assert snapshot is not None
    node = make(3)
    chunk = InstallSnapshot(1, 3, 1, snapshot.index, snapshot.term, 0, snapshot.data, True, snapshot.checksum)
    node.step(chunk, 0)
    r = only(node, reasons.SNAPSHOT_INSTALLED)
    assert (r.peer, r.index, r.their_term, r.our_index) == (1, snapshot.index, 1, 0)


@pytest.mark.parametrize("op", ["add", "truncate"])
def test_configuration_changed(op: str) -> None:
    from raftviz.core.membership import Configuration
    from raftviz.core.messages import Entry

    node = make(2, term=1, log_terms=(1,))
    config = Entry(1, Configuration.of((1, 2, 3), (4,)).to_command())
    node.step(append(1, 2, 1, 1, 1, [config]), 0)
    r = only(node, reasons.CONFIG_CHANGED)
    assert (r.index, r.message, r.before, r.after) == (
        2,
        "appended",
        "voters 1,2,3",
        "voters 1,2,3 learners 4",
    )
    if op == "truncate":
        node.step(append(3, 2, 2, 1, 1, entries(2)), 0)
        found = [x for x in node.ready().reasons if x.kind == reasons.CONFIG_CHANGED]
        assert [(x.index, x.before, x.after) for x in found] == [
            (2, "voters 1,2,3 learners 4", "voters 1,2,3")
        ]
        assert found[0].message.startswith("undone")


def test_vote_ignored_from_a_server_outside_the_configuration() -> None:
    node = make(1)
    elect(node)
    node.step(RequestVote(9, 1, 5, 0, 0), 0)
    r = only(node, reasons.VOTE_IGNORED)
    assert (r.peer, r.before) == (9, "leader")
    assert node.current_term == 1


def test_recovery_is_not_news() -> None:
    from raftviz.core.log import RaftLog
    from raftviz.core.membership import Configuration
    from raftviz.core.messages import Entry

    log = RaftLog([Entry(1, Configuration.of((1, 2)).to_command())])
    node = make(1, log=log)
    assert node.ready().reasons == []


def test_a_planted_bug_s_decision_is_said_as_it_is() -> None:
    """vote-any-log and commit-old-term make decisions the rule forbids; their reasons say so."""
    from raftviz.core.reasons import COMMIT_ADVANCED, VOTE_GRANTED, Reason

    vote = Reason(VOTE_GRANTED, peer=3, term=2, their_term=0, their_index=0, our_term=1, our_index=2)
    assert "is behind ours (lastTerm=1 lastIndex=2): the up-to-date check was skipped" in vote.describe()
    commit = Reason(COMMIT_ADVANCED, term=4, index=2, our_index=1, their_term=2, count=5, after="1,2,3")
    assert "although it is of term 2, not the current term 4" in commit.describe()
    fair = Reason(COMMIT_ADVANCED, term=4, index=3, our_index=1, their_term=4, count=5, after="1,2,3")
    assert fair.describe().endswith("and it is of the current term 4 (Figure 2, Leaders / §5.3)")
