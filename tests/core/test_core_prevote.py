"""Unit tests of Pre-Vote, CheckQuorum and leadership transfer, each named after its rule.

"9_6" is §9.6 of Ongaro's dissertation (Pre-Vote), "4_2_3" its §4.2.3 (the
disruptive server, leader stickiness), "6_2" its §6.2 (CheckQuorum) and
"3_10" its §3.10 (leadership transfer). Every test drives ``RaftNode``
directly, with time passed in and outputs read from ``ready()``.
"""

from __future__ import annotations

import random

from raftviz.core.config import RaftConfig
from raftviz.core.log import RaftLog
from raftviz.core.messages import (
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    ClientRequest,
    Command,
    Entry,
    PreVote,
    PreVoteReply,
    RequestVote,
    RequestVoteReply,
    TimeoutNow,
    TransferRequest,
)
from raftviz.core.raft import CANDIDATE, FOLLOWER, LEADER, RaftNode
from raftviz.core.ready import HardState, Ready
from raftviz.core.reasons import (
    PREVOTE_DENIED_LEADER,
    PREVOTE_DENIED_LOG,
    PREVOTE_DENIED_STALE,
    PREVOTE_GRANTED,
    PREVOTE_WON,
    QUORUM_LOST,
    TIMEOUT_NOW,
    TRANSFER_ABORTED,
    TRANSFER_REFUSED,
    TRANSFER_STARTED,
    TRANSFER_TIMEOUT_NOW,
)
from raftviz.core.state import PRECANDIDATE

PREVOTE = RaftConfig(prevote=True)
QUORUM = RaftConfig(check_quorum=True)


def make(
    node_id: int = 1,
    n: int = 3,
    *,
    term: int = 0,
    log_terms: tuple[int, ...] = (),
    config: RaftConfig = PREVOTE,
) -> RaftNode:
    log = RaftLog([Entry(t, Command("put", f"k{i}", str(t))) for i, t in enumerate(log_terms, 1)])
    return RaftNode(node_id, range(1, n + 1), config, random.Random(7), 0, HardState(term, 0), log)


def of(ready: Ready, kind: type) -> list:
    return [m for m in ready.messages if isinstance(m, kind)]


def kinds(ready: Ready) -> list[str]:
    return [r.kind for r in ready.reasons]


def fire(node: RaftNode) -> Ready:
    """Let the node's next timer fire."""
    node.tick(node.next_deadline())
    return node.ready()


def elect(node: RaftNode, now: int = 0) -> None:
    node.timeout_now(now)
    node.ready()
    for peer in node.peers[: node.quorum - 1]:
        node.step(RequestVoteReply(peer, node.id, node.current_term, True), now)
    assert node.role == LEADER
    node.ready()


def follow(node: RaftNode, leader: int, term: int, now: int) -> None:
    """A heartbeat of ``leader`` in ``term`` arrives at ``now``."""
    node.step(AppendEntries(leader, node.id, term, node.log.last_index, node.log.last_term, (), 0), now)
    node.ready()


# ---------------------------------------------------------------------- §9.6 Pre-Vote


def test_9_6_timer_starts_a_pre_vote_without_changing_term_or_vote() -> None:
    node = make(term=3, log_terms=(1, 3))
    ready = fire(node)
    assert node.role == PRECANDIDATE
    assert (node.current_term, node.voted_for) == (3, 0)
    assert ready.hard_state is None  # nothing to persist: no term, no vote changed
    asks = of(ready, PreVote)
    assert [(m.dst, m.term, m.last_log_index, m.last_log_term) for m in asks] == [(2, 4, 2, 3), (3, 4, 2, 3)]
    assert not of(ready, RequestVote)


def test_9_6_majority_of_pre_votes_starts_the_real_election() -> None:
    node = make(n=5, term=3)
    fire(node)
    node.step(PreVoteReply(2, 1, 4, True), 300)
    assert node.role == PRECANDIDATE  # 2 of 5: not yet
    node.step(PreVoteReply(3, 1, 4, True), 300)
    ready = node.ready()
    assert node.role == CANDIDATE and node.current_term == 4 and node.voted_for == 1
    assert PREVOTE_WON in kinds(ready)
    assert len(of(ready, RequestVote)) == 4


def test_9_6_pre_vote_granted_changes_neither_term_nor_vote_nor_timer() -> None:
    voter = make(2, term=3, log_terms=(3,))
    deadline = voter.election_deadline
    voter.step(PreVote(1, 2, 4, 1, 3), 10)
    ready = voter.ready()
    assert of(ready, PreVoteReply) == [PreVoteReply(2, 1, 4, True)]
    assert (voter.current_term, voter.voted_for, voter.election_deadline) == (3, 0, deadline)
    assert ready.hard_state is None
    assert kinds(ready) == [PREVOTE_GRANTED]


def test_9_6_pre_vote_denied_to_a_stale_log() -> None:
    voter = make(2, term=3, log_terms=(3, 3))
    voter.step(PreVote(1, 2, 4, 1, 3), 10)
    ready = voter.ready()
    assert of(ready, PreVoteReply) == [PreVoteReply(2, 1, 3, False)]
    assert kinds(ready) == [PREVOTE_DENIED_LOG]


def test_9_6_pre_vote_denied_for_a_term_not_above_ours() -> None:
    voter = make(2, term=5)
    voter.step(PreVote(1, 2, 5, 0, 0), 10)
    ready = voter.ready()
    assert of(ready, PreVoteReply) == [PreVoteReply(2, 1, 5, False)]
    assert kinds(ready) == [PREVOTE_DENIED_STALE]
    assert voter.current_term == 5


def test_4_2_3_leader_stickiness_denies_pre_votes_while_a_leader_was_heard_recently() -> None:
    voter = make(2, term=3)
    follow(voter, leader=3, term=3, now=100)
    voter.step(PreVote(1, 2, 4, 0, 0), 100 + PREVOTE.election_min - 1)
    ready = voter.ready()
    assert of(ready, PreVoteReply) == [PreVoteReply(2, 1, 3, False)]
    reason = ready.reasons[0]
    assert reason.kind == PREVOTE_DENIED_LEADER and reason.other == 3 and reason.count == 149
    # Once the minimum election timeout has passed without the leader, it grants.
    voter.step(PreVote(1, 2, 4, 0, 0), 100 + PREVOTE.election_min)
    assert of(voter.ready(), PreVoteReply) == [PreVoteReply(2, 1, 4, True)]


def test_4_2_3_a_leader_denies_pre_votes() -> None:
    leader = make(1, term=0)
    elect(leader)
    leader.step(PreVote(2, 1, 2, 5, 1), 10)
    ready = leader.ready()
    assert leader.role == LEADER and leader.current_term == 1
    assert of(ready, PreVoteReply) == [PreVoteReply(1, 2, 1, False)]
    assert ready.reasons[0].kind == PREVOTE_DENIED_LEADER and ready.reasons[0].before == LEADER


def test_9_6_a_cut_off_server_never_raises_its_term_and_cannot_depose_the_leader() -> None:
    lonely = make(3, term=1)
    for _ in range(20):  # twenty election timeouts, every pre-vote lost
        fire(lonely)
    assert lonely.current_term == 1 and lonely.role == PRECANDIDATE
    leader = make(1, term=0)
    elect(leader)
    follower = make(2, term=1)
    follow(follower, leader=1, term=1, now=5000)
    lonely_ready = fire(lonely)
    for ask in of(lonely_ready, PreVote):
        target = leader if ask.dst == 1 else follower
        target.step(ask, 5010)
        for reply in of(target.ready(), PreVoteReply):
            assert not reply.vote_granted
            lonely.step(reply, 5020)
    assert leader.role == LEADER and leader.current_term == 1
    assert lonely.role == PRECANDIDATE and lonely.current_term == 1


def test_9_6_granted_pre_vote_reply_of_a_higher_term_does_not_move_the_term() -> None:
    node = make(n=5, term=3)
    fire(node)
    node.step(PreVoteReply(2, 1, 4, True), 300)
    assert node.current_term == 3 and node.role == PRECANDIDATE


def test_9_6_denied_pre_vote_reply_of_a_higher_term_makes_a_follower_of_that_term() -> None:
    node = make(term=3)
    fire(node)
    node.step(PreVoteReply(2, 1, 7, False), 300)
    assert node.role == FOLLOWER and node.current_term == 7


def test_9_6_pre_candidate_follows_a_leader_of_its_term() -> None:
    node = make(term=3)
    fire(node)
    follow(node, leader=2, term=3, now=400)
    assert node.role == FOLLOWER and node.leader_id == 2


def test_9_6_forced_timeout_skips_the_pre_vote() -> None:
    node = make(term=3)
    node.timeout_now(10)
    ready = node.ready()
    assert node.role == CANDIDATE and node.current_term == 4
    assert of(ready, RequestVote) and not of(ready, PreVote)


def test_9_6_prevote_off_is_figure_2() -> None:
    node = make(term=3, config=RaftConfig())
    ready = fire(node)
    assert node.role == CANDIDATE and node.current_term == 4
    assert not of(ready, PreVote)


# ---------------------------------------------------------------------- §6.2 CheckQuorum


def test_6_2_leader_without_a_majority_within_an_election_timeout_steps_down() -> None:
    leader = make(1, n=5, config=QUORUM)
    elect(leader)
    window = QUORUM.election_min
    assert leader.next_deadline() <= window
    leader.step(AppendEntriesReply(2, 1, 1, True, match_index=1), 20)  # only node 2 answers
    while leader.role == LEADER:
        ready = fire(leader)
    assert leader.current_term == 1 and leader.leader_id == 0
    reason = next(r for r in ready.reasons if r.kind == QUORUM_LOST)
    assert reason.after == "1,2" and reason.count == 5


def test_6_2_leader_hearing_from_a_majority_stays() -> None:
    leader = make(1, n=3, config=QUORUM)
    elect(leader)
    now = 0
    for _ in range(10):
        now = leader.next_deadline()
        leader.tick(now)
        leader.ready()
        leader.step(AppendEntriesReply(2, 1, 1, True, match_index=1), now + 5)
        leader.ready()
    assert now > 3 * QUORUM.election_min
    assert leader.role == LEADER


def test_6_2_check_quorum_off_is_figure_2() -> None:
    leader = make(1, n=5, config=RaftConfig())
    elect(leader)
    for _ in range(50):
        fire(leader)
    assert leader.role == LEADER


# ---------------------------------------------------------------------- §3.10 leadership transfer


def test_3_10_transfer_to_an_up_to_date_voter_sends_timeout_now_at_once() -> None:
    leader = make(1)
    elect(leader)
    leader.step(AppendEntriesReply(2, 1, 1, True, match_index=1), 10)
    leader.ready()
    assert leader.transfer_leadership(2, 20) == ""
    ready = leader.ready()
    assert kinds(ready) == [TRANSFER_STARTED, TRANSFER_TIMEOUT_NOW]
    assert of(ready, TimeoutNow) == [TimeoutNow(1, 2, 1)]
    assert leader.transfer_target == 2


def test_3_10_transfer_brings_the_target_up_to_date_first() -> None:
    leader = make(1)
    elect(leader)
    assert leader.transfer_leadership(3, 10) == ""
    ready = leader.ready()
    assert not of(ready, TimeoutNow)
    leader.step(AppendEntriesReply(3, 1, 1, True, match_index=1), 20)
    assert of(leader.ready(), TimeoutNow) == [TimeoutNow(1, 3, 1)]


def test_3_10_leader_takes_no_client_requests_during_a_transfer() -> None:
    leader = make(1)
    elect(leader)
    leader.transfer_leadership(2, 10)
    leader.ready()
    last = leader.log.last_index
    leader.step(ClientRequest("c1", 1, Command("put", "x", "1", "c1", 1)), 11)
    ready = leader.ready()
    assert leader.log.last_index == last
    assert of(ready, ClientReply) == [ClientReply(1, "c1", 1, ok=False, leader_hint=0)]


def test_3_10_timeout_now_starts_an_election_at_once_skipping_pre_vote() -> None:
    target = make(2, term=1)
    follow(target, leader=1, term=1, now=0)
    target.step(TimeoutNow(1, 2, 1), 5)
    ready = target.ready()
    assert target.role == CANDIDATE and target.current_term == 2
    assert kinds(ready)[0] == TIMEOUT_NOW
    assert of(ready, RequestVote) and not of(ready, PreVote)


def test_3_10_stale_timeout_now_is_ignored() -> None:
    target = make(2, term=4)
    target.step(TimeoutNow(1, 2, 3), 5)
    assert target.role == FOLLOWER and target.current_term == 4


def test_3_10_transfer_aborts_after_an_election_timeout() -> None:
    leader = make(1)
    elect(leader)
    leader.transfer_leadership(3, 10)
    leader.ready()
    while leader.transfer_target:
        ready = fire(leader)
    assert leader.role == LEADER
    assert TRANSFER_ABORTED in kinds(ready)
    assert leader.next_deadline() == leader.heartbeat_deadline
    leader.step(ClientRequest("c1", 1, Command("put", "x", "1", "c1", 1)), leader.next_deadline())
    assert leader.log.last_index == 2  # takes requests again


def test_3_10_transfer_refused_to_a_non_voter_to_itself_and_by_a_follower() -> None:
    leader = make(1)
    elect(leader)
    assert "not a voter" in leader.transfer_leadership(7, 10)
    assert "leads already" in leader.transfer_leadership(1, 10)
    assert kinds(leader.ready()) == [TRANSFER_REFUSED, TRANSFER_REFUSED]
    follower = make(2)
    assert "not the leader" in follower.transfer_leadership(3, 10)
    assert leader.transfer_target == 0


def test_3_10_transfer_request_from_a_tool_is_answered() -> None:
    leader = make(1)
    elect(leader)
    leader.step(TransferRequest("kv", 1, 2), 10)
    assert of(leader.ready(), ClientReply) == [ClientReply(1, "kv", 0, ok=True, leader_hint=1)]
    follower = make(2)
    follow(follower, leader=1, term=1, now=0)
    follower.step(TransferRequest("kv", 2, 3), 10)
    assert of(follower.ready(), ClientReply) == [ClientReply(2, "kv", 0, ok=False, leader_hint=1)]
