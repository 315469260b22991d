"""A recovering server (protocol-aware recovery, docs/architecture.md "Durability"), on the core alone.

Storage that lost what the server acknowledged starts it *recovering*
(``HardState.recovering``): it grants no vote and does not stand until a
leader has caught it up, and its leader stops counting what it acknowledged
before. Each rule is a test; the lab-level twins are
tests/testdata/reasons_recovery.txt and tests/testdata/corrupt_*.txt.
"""

from __future__ import annotations

import random

from raftviz.core import reasons
from raftviz.core.log import RaftLog
from raftviz.core.messages import AppendEntriesReply, RequestVote, RequestVoteReply
from raftviz.core.raft import RaftNode
from raftviz.core.ready import HardState
from raftviz.core.state import FOLLOWER
from tests.core.test_core_rules import CFG, ack, append, elect, entries, make, of

LOST = "lost entries 3..? and its vote in term 2"


def recovering(node_id: int = 3, term: int = 2, log_terms: tuple[int, ...] = (1, 1)) -> RaftNode:
    """A follower that came back from damaged storage with ``log_terms`` left."""
    return RaftNode(
        node_id,
        range(1, 4),
        CFG,
        random.Random(7),
        0,
        HardState(term, 0, LOST),
        RaftLog(entries(*log_terms)),
    )


def kinds(node: RaftNode) -> list[str]:
    return [r.kind for r in node.ready().reasons]


def test_a_recovering_server_grants_no_vote_even_to_an_up_to_date_candidate() -> None:
    node = recovering()
    node.step(RequestVote(1, 3, 2, last_log_index=9, last_log_term=2), 0)
    ready = node.ready()
    assert of(ready, RequestVoteReply) == [RequestVoteReply(3, 1, 2, False)]
    assert [r for r in ready.reasons if r.kind == reasons.VOTE_DENIED_RECOVERING] == [
        reasons.Reason(reasons.VOTE_DENIED_RECOVERING, peer=1, term=2, message=LOST)
    ]
    # Nor in a later term: its vote is withheld until it has caught up, whatever the term.
    node.step(RequestVote(2, 3, 5, last_log_index=9, last_log_term=2), 0)
    assert of(node.ready(), RequestVoteReply) == [RequestVoteReply(3, 2, 5, False)]
    assert node.voted_for == 0


def test_a_recovering_server_does_not_stand_for_election() -> None:
    node = recovering()
    node.timeout_now(0)
    assert node.role == FOLLOWER and node.current_term == 2
    assert kinds(node) == [reasons.CAMPAIGN_HELD]
    node.tick(node.election_deadline)
    assert node.role == FOLLOWER and not of(node.ready(), RequestVote)


def test_its_replies_say_recovering_and_the_leader_stops_counting_what_it_acked_before() -> None:
    leader = make(1, log_terms=(1, 1, 1))
    elect(leader)
    ack(leader, 2, 4)
    ack(leader, 3, 4)
    assert leader.match_index[3] == 4
    # Node 3 lost entries 3.. and says so: its old acknowledgement of 4 no longer counts.
    leader.step(AppendEntriesReply(3, 1, leader.current_term, False, 0, 3, 0, recovering=True), 0)
    assert leader.match_index[3] == 0
    assert leader.next_index[3] == 3
    # What it acknowledges from now on counts again (it is durable there).
    leader.step(AppendEntriesReply(3, 1, leader.current_term, True, 4, recovering=True), 0)
    assert leader.match_index[3] == 4
    # A stale reply of the recovering follower cannot lower it again.
    leader.step(AppendEntriesReply(3, 1, leader.current_term, True, 2, recovering=True), 0)
    assert leader.match_index[3] == 4


def test_the_follower_says_it_is_recovering_in_every_reply() -> None:
    node = recovering()
    node.step(append(1, 3, 2, 5, 1, []), 0)  # nothing at prevIndex 5: a rejection
    node.step(append(1, 3, 2, 2, 1, entries(1, 2)[1:]), 0)  # accepted
    replies = of(node.ready(), AppendEntriesReply)
    assert [(r.success, r.recovering) for r in replies] == [(False, True), (True, True)]


def test_it_recovers_once_the_leader_has_committed_an_entry_of_its_term_that_it_holds() -> None:
    node = recovering()
    # The leader's commit index 2 is an entry of term 1, not of its term 2: not yet.
    node.step(append(1, 3, 2, 2, 1, entries(1, 1, 2)[2:], commit=2), 0)
    assert node.recovering
    # Entry 3 is of term 2 and committed; our log matches up to it: caught up.
    node.step(append(1, 3, 2, 3, 2, [], commit=3), 0)
    ready = node.ready()
    assert not node.recovering and ready.hard_state == HardState(2, 1, "")
    assert node.voted_for == 1  # its vote in term 2 was unknown: only the leader's is safe
    assert [r.kind for r in ready.reasons if r.kind == reasons.RECOVERED] == [reasons.RECOVERED]
    assert [r.recovering for r in of(ready, AppendEntriesReply)] == [True, False]
    # And it votes again, in a later term.
    node.step(RequestVote(2, 3, 3, last_log_index=3, last_log_term=2), 0)
    assert of(node.ready(), RequestVoteReply) == [RequestVoteReply(3, 2, 3, True)]


def test_the_recovering_note_is_durable_until_it_has_caught_up() -> None:
    node = recovering()
    node.step(RequestVote(1, 3, 4, last_log_index=9, last_log_term=2), 0)
    # A new term is persisted with the note: a restart does not end recovery.
    assert node.ready().hard_state == HardState(4, 0, LOST)


def test_the_only_voter_has_no_one_to_wait_for() -> None:
    """A one-server cluster that lost entries: they are lost; waiting would stop it for good."""
    node = RaftNode(1, (1,), CFG, random.Random(7), 0, HardState(2, 0, LOST), RaftLog(entries(1, 1)))
    node.timeout_now(0)
    ready = node.ready()
    assert node.role == "leader" and not node.recovering and node.current_term == 3
    found = [r for r in ready.reasons if r.kind == reasons.RECOVERED]
    assert len(found) == 1 and "the only voter" in found[0].describe()
