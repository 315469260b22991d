"""Unit tests of the pure Raft core, each named after the rule of the paper it checks.

Section numbers refer to Ongaro & Ousterhout, "In Search of an Understandable
Consensus Algorithm" (extended version); "figure2" is the summary of the rules
on its Figure 2, and "6_3" is §6.3 of Ongaro's dissertation (client sessions).
Every test drives ``RaftNode`` directly: time is a number passed in, the
randomness is a seeded ``random.Random``, and outputs are read from ``ready()``.
"""

from __future__ import annotations

import random

import pytest

from raftviz.core.config import RaftConfig
from raftviz.core.kv import KVStore
from raftviz.core.log import RaftLog
from raftviz.core.messages import (
    NOOP,
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    ClientRequest,
    Command,
    Entry,
    Message,
    RequestVote,
    RequestVoteReply,
)
from raftviz.core.raft import CANDIDATE, FOLLOWER, LEADER, RaftNode
from raftviz.core.ready import HardState, Ready

CFG = RaftConfig()


# ---------------------------------------------------------------------- helpers


def entries(*terms: int) -> list[Entry]:
    """One entry per term given, each with a distinct command."""
    return [Entry(t, Command("put", f"k{i}", f"t{t}")) for i, t in enumerate(terms, 1)]


def make(
    node_id: int = 1,
    n: int = 3,
    *,
    term: int = 0,
    vote: int = 0,
    log_terms: tuple[int, ...] = (),
    now: int = 0,
    seed: int = 7,
    config: RaftConfig = CFG,
    log: RaftLog | None = None,
) -> RaftNode:
    return RaftNode(
        node_id,
        range(1, n + 1),
        config,
        random.Random(seed),
        now,
        HardState(term, vote),
        log if log is not None else RaftLog(entries(*log_terms)),
    )


def of(ready: Ready, kind: type) -> list:
    return [m for m in ready.messages if isinstance(m, kind)]


def answers(ready: Ready) -> list[tuple[str, int, bool]]:
    """The client replies in a Ready, as (client, seq, ok)."""
    return [(m.dst, m.seq, m.ok) for m in of(ready, ClientReply)]


def elect(node: RaftNode, now: int = 0) -> Ready:
    """Make ``node`` leader with the fewest votes it needs; return the leader's first Ready."""
    node.timeout_now(now)
    node.ready()
    for peer in node.peers[: node.quorum - 1]:
        node.step(RequestVoteReply(peer, node.id, node.current_term, True), now)
    assert node.role == LEADER
    return node.ready()


def ack(leader: RaftNode, peer: int, match: int, now: int = 0) -> Ready:
    leader.step(AppendEntriesReply(peer, leader.id, leader.current_term, True, match_index=match), now)
    return leader.ready()


def append(
    leader: int, dst: int, term: int, prev: int, prev_term: int, ents: list[Entry], commit: int = 0
) -> AppendEntries:
    return AppendEntries(leader, dst, term, prev, prev_term, tuple(ents), commit)


def exchange(a: RaftNode, b: RaftNode, first: list[Message], now: int = 0, limit: int = 50) -> list[Message]:
    """Deliver messages between two nodes until they fall silent; return what was delivered."""
    queue = [m for m in first if m.dst in (a.id, b.id)]
    nodes = {a.id: a, b.id: b}
    delivered: list[Message] = []
    for _ in range(limit):
        if not queue:
            return delivered
        msg = queue.pop(0)
        delivered.append(msg)
        target = nodes[msg.dst]
        target.step(msg, now)
        queue.extend(m for m in target.ready().messages if m.dst in nodes)
    raise AssertionError("the two nodes never fell silent")


# ---------------------------------------------------------------------- §5.1 / §5.2 elections


def test_5_2_node_starts_as_follower_with_randomized_election_timeout() -> None:
    node = make(now=1000)
    assert node.role == FOLLOWER and node.current_term == 0 and node.leader_id == 0
    assert 150 <= node.election_timeout <= 300
    assert node.next_deadline() == 1000 + node.election_timeout
    timeouts = {make(seed=s).election_timeout for s in range(40)}
    assert len(timeouts) > 10, "election timeouts must be randomized across seeds"


def test_5_2_follower_becomes_candidate_when_election_timer_fires() -> None:
    node = make()
    deadline = node.next_deadline()
    node.tick(deadline - 1)
    assert node.role == FOLLOWER and node.ready().messages == []
    node.tick(deadline)
    assert node.role == CANDIDATE and node.current_term == 1


def test_5_2_candidate_votes_for_itself_and_requests_votes() -> None:
    node = make(1, 5, term=3, log_terms=(1, 2, 3))
    node.timeout_now(100)
    ready = node.ready()
    assert node.role == CANDIDATE
    assert node.current_term == 4 and node.voted_for == 1
    assert node.votes_granted == {1}
    assert ready.hard_state == HardState(4, 1)
    assert of(ready, RequestVote) == [RequestVote(1, p, 4, 3, 3) for p in (2, 3, 4, 5)]
    assert 100 + 150 <= node.next_deadline() <= 100 + 300


def test_5_2_candidate_wins_with_votes_from_a_majority() -> None:
    node = make(1, 5)
    node.timeout_now(0)
    node.ready()
    node.step(RequestVoteReply(2, 1, 1, True), 1)
    assert node.role == CANDIDATE
    node.step(RequestVoteReply(2, 1, 1, True), 2)  # a duplicate reply is one vote, not two
    assert node.role == CANDIDATE
    node.step(RequestVoteReply(3, 1, 1, False), 3)  # a denial does not count
    assert node.role == CANDIDATE
    node.step(RequestVoteReply(4, 1, 1, True), 4)
    assert node.role == LEADER and node.leader_id == 1


def test_5_2_candidate_ignores_votes_from_an_earlier_term() -> None:
    node = make(1, 3, term=4)
    node.timeout_now(0)  # term 5
    node.ready()
    node.step(RequestVoteReply(2, 1, 4, True), 1)
    assert node.role == CANDIDATE


def test_5_2_split_vote_times_out_into_a_new_election() -> None:
    node = make(1, 3)
    node.timeout_now(0)
    node.ready()
    node.tick(node.next_deadline())
    ready = node.ready()
    assert node.role == CANDIDATE and node.current_term == 2 and node.votes_granted == {1}
    assert {m.term for m in of(ready, RequestVote)} == {2}


def test_5_2_candidate_returns_to_follower_on_append_entries_from_leader_of_its_term() -> None:
    node = make(1, 3)
    node.timeout_now(0)
    node.ready()
    node.step(append(2, 1, 1, 0, 0, []), 5)
    ready = node.ready()
    assert node.role == FOLLOWER and node.leader_id == 2 and node.current_term == 1
    assert of(ready, AppendEntriesReply) == [AppendEntriesReply(1, 2, 1, True, match_index=0)]


def test_5_2_single_node_cluster_elects_itself_and_commits_alone() -> None:
    node = RaftNode(1, [1], CFG, random.Random(1), 0)
    node.tick(node.next_deadline())
    assert node.role == LEADER and node.commit_index == 1  # its no-op
    node.step(ClientRequest("c1", 1, Command("put", "x", "1", "c1", 1, 1)), 10)
    ready = node.ready()
    assert node.commit_index == 2 and node.kv.data == {"x": "1"}
    assert answers(ready) == [("c1", 1, True)]


# ---------------------------------------------------------------------- Figure 2 RequestVote


def test_figure2_one_vote_per_term() -> None:
    node = make(1, 3, term=1)
    node.step(RequestVote(2, 1, 2, 0, 0), 0)
    assert of(node.ready(), RequestVoteReply) == [RequestVoteReply(1, 2, 2, True)]
    node.step(RequestVote(3, 1, 2, 0, 0), 1)
    assert of(node.ready(), RequestVoteReply) == [RequestVoteReply(1, 3, 2, False)]
    # A retransmitted request from the same candidate gets the same answer.
    node.step(RequestVote(2, 1, 2, 0, 0), 2)
    assert of(node.ready(), RequestVoteReply) == [RequestVoteReply(1, 2, 2, True)]
    assert node.voted_for == 2
    # A new term frees the vote.
    node.step(RequestVote(3, 1, 3, 0, 0), 3)
    assert of(node.ready(), RequestVoteReply) == [RequestVoteReply(1, 3, 3, True)]


def test_figure2_vote_denied_for_a_stale_term() -> None:
    node = make(1, 3, term=5)
    node.step(RequestVote(2, 1, 4, 10, 4), 0)
    ready = node.ready()
    assert of(ready, RequestVoteReply) == [RequestVoteReply(1, 2, 5, False)]
    assert node.voted_for == 0 and ready.hard_state is None


def test_5_2_candidate_and_leader_deny_votes_in_their_own_term() -> None:
    node = make(1, 3)
    node.timeout_now(0)
    node.ready()
    node.step(RequestVote(2, 1, 1, 5, 1), 1)
    assert of(node.ready(), RequestVoteReply) == [RequestVoteReply(1, 2, 1, False)]
    leader = make(1, 3)
    elect(leader)
    leader.step(RequestVote(3, 1, 1, 9, 1), 1)
    assert of(leader.ready(), RequestVoteReply) == [RequestVoteReply(1, 3, 1, False)]
    assert leader.role == LEADER


def test_5_4_1_vote_denied_to_candidate_with_stale_log() -> None:
    # The voter's log ends with (index 3, term 2).
    lower_last_term = make(1, 3, term=2, log_terms=(1, 1, 2))
    lower_last_term.step(RequestVote(2, 1, 3, 10, 1), 0)  # longer, but older last term
    assert of(lower_last_term.ready(), RequestVoteReply) == [RequestVoteReply(1, 2, 3, False)]
    # The higher term is still adopted (Figure 2, all servers), without a vote.
    assert lower_last_term.current_term == 3 and lower_last_term.voted_for == 0

    shorter = make(1, 3, term=2, log_terms=(1, 1, 2))
    shorter.step(RequestVote(2, 1, 3, 2, 2), 0)  # same last term, shorter log
    assert of(shorter.ready(), RequestVoteReply) == [RequestVoteReply(1, 2, 3, False)]


def test_5_4_1_vote_granted_to_candidate_at_least_as_up_to_date() -> None:
    for last_index, last_term in ((3, 2), (5, 2), (1, 3)):
        node = make(1, 3, term=2, log_terms=(1, 1, 2))
        node.step(RequestVote(2, 1, 3, last_index, last_term), 0)
        replies = of(node.ready(), RequestVoteReply)
        assert replies == [RequestVoteReply(1, 2, 3, True)], (last_index, last_term)


def test_ready_persists_vote_before_reply() -> None:
    node = make(1, 3, term=1)
    node.step(RequestVote(2, 1, 2, 0, 0), 0)
    ready = node.ready()
    # The vote and the reply granting it come out of the same input: the driver
    # must make hard_state durable before it sends any of the messages.
    assert ready.hard_state == HardState(2, 2)
    assert RequestVoteReply(1, 2, 2, True) in ready.messages
    # Nothing changed since: nothing more to persist.
    node.step(RequestVote(2, 1, 2, 0, 0), 1)
    again = node.ready()
    assert again.hard_state is None and RequestVoteReply(1, 2, 2, True) in again.messages


def test_figure2_granting_a_vote_resets_the_election_timer_but_denying_does_not() -> None:
    node = make(1, 3, term=1, log_terms=(1,))
    deadline = node.next_deadline()
    node.step(RequestVote(3, 1, 1, 0, 0), 100)  # same term, stale log: denied
    assert node.next_deadline() == deadline
    node.step(RequestVote(2, 1, 2, 1, 1), 100)
    assert node.voted_for == 2
    assert 100 + 150 <= node.next_deadline() <= 100 + 300


# ---------------------------------------------------------------------- Figure 2: all servers


def test_higher_term_makes_leader_step_down() -> None:
    for msg in (
        AppendEntriesReply(2, 1, 9, False),
        RequestVoteReply(3, 1, 9, False),
        RequestVote(2, 1, 9, 0, 0),
        append(3, 1, 9, 0, 0, []),
    ):
        leader = make(1, 3)
        elect(leader, 0)
        leader.step(msg, 40)
        ready = leader.ready()
        assert leader.role == FOLLOWER, msg
        assert leader.current_term == 9
        assert ready.hard_state is not None and ready.hard_state.current_term == 9
        assert leader.leader_id == (3 if isinstance(msg, AppendEntries) else 0)
        assert leader.next_deadline() == leader.election_deadline >= 40 + 150
        # It no longer acts as a leader: client requests are redirected.
        leader.step(ClientRequest("c1", 1, Command("put", "x", "1", "c1", 1, 1)), 41)
        (reply,) = of(leader.ready(), ClientReply)
        assert not reply.ok


def test_figure2_stale_term_append_entries_rejected_without_resetting_timer() -> None:
    node = make(1, 3, term=5)
    deadline = node.next_deadline()
    node.step(append(2, 1, 4, 0, 0, entries(4)), 100)
    ready = node.ready()
    assert of(ready, AppendEntriesReply) == [AppendEntriesReply(1, 2, 5, False)]
    assert node.log.last_index == 0 and node.leader_id == 0
    assert node.next_deadline() == deadline


def test_figure2_stale_replies_are_ignored_by_a_leader() -> None:
    leader = make(1, 3, term=3)
    elect(leader)  # term 4, noop at index 1
    leader.step(AppendEntriesReply(2, 1, 3, True, match_index=1), 1)
    assert leader.match_index[2] == 0 and leader.commit_index == 0


# ---------------------------------------------------------------------- §5.3 log replication


def test_5_3_append_entries_rejects_on_prev_mismatch_with_conflict_hint() -> None:
    # Too short: the follower has no entry at prev_log_index.
    short = make(1, 3, term=3, log_terms=(1, 1))
    short.step(append(2, 1, 3, 5, 3, entries(3)), 0)
    assert of(short.ready(), AppendEntriesReply) == [
        AppendEntriesReply(1, 2, 3, False, conflict_index=3, conflict_term=0)
    ]
    # Wrong term at prev_log_index: report it and the first index of its run.
    clash = make(1, 3, term=3, log_terms=(1, 2, 2, 2))
    clash.step(append(2, 1, 3, 4, 3, []), 0)
    ready = clash.ready()
    assert of(ready, AppendEntriesReply) == [
        AppendEntriesReply(1, 2, 3, False, conflict_index=2, conflict_term=2)
    ]
    assert clash.log.last_index == 4 and ready.log_from == 0  # nothing appended on rejection
    assert clash.leader_id == 2  # but the leader is recognised and the timer reset


def test_5_3_conflicting_entries_are_truncated() -> None:
    node = make(1, 3, term=3, log_terms=(1, 1, 2, 2))
    new = [Entry(3, Command("put", "a", "x")), Entry(3, Command("put", "b", "y"))]
    node.step(append(2, 1, 3, 2, 1, new), 0)
    ready = node.ready()
    assert [node.log.term_at(i) for i in range(1, 5)] == [1, 1, 3, 3]
    assert node.log.entry(3) == new[0] and node.log.last_index == 4
    assert ready.log_from == 3 and ready.entries == new
    assert of(ready, AppendEntriesReply) == [AppendEntriesReply(1, 2, 3, True, match_index=4)]


def test_5_3_matching_entries_are_not_truncated_by_a_stale_append() -> None:
    # A delayed AppendEntries carrying a prefix of what the follower already
    # holds must not cut off the entries that follow (Figure 2, receiver step 3).
    log = entries(1, 1, 1, 1)
    node = make(1, 3, term=1, log_terms=(1, 1, 1, 1))
    node.step(append(2, 1, 1, 1, 1, [log[1]], commit=2), 0)
    ready = node.ready()
    assert node.log.last_index == 4 and ready.log_from == 0
    assert of(ready, AppendEntriesReply) == [AppendEntriesReply(1, 2, 1, True, match_index=2)]
    assert node.commit_index == 2


def test_5_3_follower_commit_is_min_of_leader_commit_and_last_new_entry() -> None:
    node = make(1, 3, term=2, log_terms=(1, 1, 1, 1, 1))  # last two entries not from this leader
    node.step(append(2, 1, 2, 1, 1, [Entry(2, Command("put", "z", "1"))], commit=10), 0)
    ready = node.ready()
    assert node.commit_index == 2 and node.last_applied == 2
    assert ready.applied == [1, 2]
    assert node.kv.data == {"k1": "t1", "z": "1"}


def test_5_3_leader_backs_up_next_index_using_the_conflict_hint() -> None:
    leader = make(1, 3, term=3, log_terms=(1, 1, 3, 3))
    elect(leader)  # term 4, noop at index 5
    assert leader.next_index[2] == 5
    # Follower lacks the term: jump to its conflict index.
    leader.step(AppendEntriesReply(2, 1, 4, False, conflict_index=3, conflict_term=2), 1)
    (msg,) = of(leader.ready(), AppendEntries)
    assert leader.next_index[2] == 3
    assert (msg.prev_log_index, msg.prev_log_term, len(msg.entries)) == (2, 1, 3)
    # Follower's conflicting term is one the leader has: go just past the leader's last entry of it.
    leader.next_index[3] = 5
    leader.step(AppendEntriesReply(3, 1, 4, False, conflict_index=1, conflict_term=1), 1)
    assert leader.next_index[3] == 3
    # Short follower: back up to just past its last entry.
    leader.next_index[3] = 5
    leader.step(AppendEntriesReply(3, 1, 4, False, conflict_index=2, conflict_term=0), 1)
    assert leader.next_index[3] == 2


def test_5_3_leader_repairs_a_divergent_follower_log() -> None:
    leader = make(1, 3, term=3, log_terms=(1, 1, 3, 3))
    follower = make(2, 3, term=2, log_terms=(1, 1, 2, 2, 2, 2))
    first = elect(leader)
    exchange(leader, follower, of(first, AppendEntries))
    assert follower.log.slice(1) == leader.log.slice(1)
    assert leader.match_index[2] == 5 and leader.commit_index == 5
    # The heartbeat that follows tells the follower about the commit.
    leader.tick(leader.next_deadline())
    exchange(leader, follower, of(leader.ready(), AppendEntries))
    assert follower.commit_index == 5


def test_5_3_leader_commits_an_entry_stored_on_a_majority_and_answers_the_client() -> None:
    leader = make(1, 5)
    elect(leader)
    ack(leader, 2, 1)
    assert leader.commit_index == 0  # 2 of 5 hold the noop
    ack(leader, 3, 1)
    assert leader.commit_index == 1
    leader.step(ClientRequest("c9", 1, Command("put", "x", "42", "c9", 1, 1)), 5)
    ready = leader.ready()
    assert ready.log_from == 2 and ready.entries[0].command.key == "x"
    # Peers 4 and 5 still owe a reply for the no-op: they get the entry with
    # their reply or the next heartbeat (batching), the others at once.
    assert {m.dst for m in of(ready, AppendEntries)} == {2, 3}
    ack(leader, 4, 2)
    ready = ack(leader, 5, 2)
    assert leader.commit_index == 2 and ready.applied == [2]
    assert answers(ready) == [("c9", 1, True)] and leader.kv.data == {"x": "42"}


def test_5_3_leader_sends_at_most_max_batch_entries() -> None:
    leader = make(1, 3, term=1, log_terms=(1,) * 10, config=RaftConfig(max_batch=3))
    first = elect(leader)
    follower = make(2, 3)
    delivered = exchange(leader, follower, of(first, AppendEntries), limit=200)
    sizes = [len(m.entries) for m in delivered if isinstance(m, AppendEntries)]
    assert max(sizes) == 3 and sum(sizes) >= 11
    assert follower.log.slice(1) == leader.log.slice(1) and leader.match_index[2] == 11


def test_5_3_commit_index_is_the_highest_index_stored_on_a_majority() -> None:
    leader = make(1, 5)
    elect(leader)  # noop at index 1
    for i in range(4):
        leader.step(ClientRequest("c1", i + 1, Command("put", f"x{i}", "1", "c1", i + 1, 1)), 1)
    leader.ready()
    assert leader.log.last_index == 5
    ack(leader, 2, 5)
    ack(leader, 3, 2)
    assert leader.commit_index == 2  # leader 5, peer 2 at 5, peer 3 at 2: three hold index 2
    ack(leader, 4, 3)
    assert leader.commit_index == 3
    ready = ack(leader, 5, 1)
    assert leader.commit_index == 3 and ready.applied == []
    ready = ack(leader, 3, 5)
    assert leader.commit_index == 5 and ready.applied == [4, 5]


def test_figure2_leader_retries_append_entries_lost_in_the_network() -> None:
    leader = make(1, 3)
    follower = make(2, 3)
    first = elect(leader)
    # Peer 3 acknowledges the no-op; everything sent to peer 2 so far is lost.
    ack(leader, 3, 1)
    leader.step(ClientRequest("c1", 1, Command("put", "x", "1", "c1", 1, 1)), 1)
    lost = of(leader.ready(), AppendEntries) + of(first, AppendEntries)
    assert lost
    now = 1
    for _ in range(3):  # a few heartbeat periods, delivering everything from now on
        now = leader.next_deadline()
        leader.tick(now)
        exchange(leader, follower, of(leader.ready(), AppendEntries), now=now)
        if follower.log.last_index == leader.log.last_index:
            break
    assert follower.log.slice(1) == leader.log.slice(1)
    assert leader.match_index[2] == 2


# ---------------------------------------------------------------------- §5.4 safety


def test_5_4_2_leader_does_not_count_replicas_of_old_term_entries() -> None:
    leader = make(1, 3, term=2, log_terms=(1, 2), config=RaftConfig(noop=False))
    elect(leader)  # term 3; no no-op, to teach Figure 8
    ready = ack(leader, 2, 2)
    ack(leader, 3, 2)
    assert leader.commit_index == 0 and ready.applied == []
    leader.step(ClientRequest("c1", 1, Command("put", "x", "1", "c1", 1, 1)), 1)
    leader.ready()
    ready = ack(leader, 2, 3)
    # Committing an entry of the current term commits the older ones indirectly.
    assert leader.commit_index == 3 and ready.applied == [1, 2, 3]


def test_8_new_leader_appends_noop() -> None:
    leader = make(1, 3, term=2, log_terms=(1, 2))
    ready = elect(leader)
    assert leader.log.last_index == 3 and leader.log.entry(3) == Entry(3, NOOP)
    assert ready.log_from == 3 and ready.entries == [Entry(3, NOOP)]
    msgs = of(ready, AppendEntries)
    assert {m.dst for m in msgs} == {2, 3}
    for m in msgs:
        assert (m.term, m.prev_log_index, m.prev_log_term, m.entries) == (3, 2, 2, (Entry(3, NOOP),))
    ack(leader, 2, 3)
    assert leader.commit_index == 3  # the no-op commits the earlier terms' entries too


def test_8_follower_redirects_client_with_leader_hint() -> None:
    node = make(1, 3, term=1)
    request = ClientRequest("c1", 1, Command("put", "x", "1", "c1", 1, 1))
    node.step(request, 0)
    (reply,) = of(node.ready(), ClientReply)
    assert (reply.dst, reply.seq, reply.ok, reply.leader_hint) == ("c1", 1, False, 0)
    node.step(append(3, 1, 1, 0, 0, []), 1)
    node.ready()
    node.step(request, 2)
    ready = node.ready()
    (reply,) = of(ready, ClientReply)
    assert (reply.dst, reply.seq, reply.ok, reply.leader_hint) == ("c1", 1, False, 3)
    assert node.log.last_index == 0 and ready.log_from == 0


# ---------------------------------------------------------------------- dissertation §6.3 sessions


def test_6_3_retried_request_is_applied_once_by_the_kv_store() -> None:
    kv = KVStore()
    first = Command("append", "x", "a", "c1", 1, 1)
    kv.apply(first)
    kv.apply(first)  # the retry is recognised and not applied again
    assert kv.data == {"x": "a"}
    # Another client's identical command is a different request.
    kv.apply(Command("append", "x", "a", "c2", 1, 1))
    assert kv.data == {"x": "aa"}
    # A retried read returns the remembered result, not the current value.
    read = Command("get", "x", "", "c1", 2, 1)
    remembered = kv.apply(read)
    kv.apply(Command("put", "x", "new", "c2", 2, 2))
    assert kv.apply(read) == remembered
    # low=4 says c1 has seen every answer below 4: seqs 1 and 2 are forgotten, yet not re-applied.
    kv.apply(Command("append", "x", "b", "c1", 4, 4))
    assert kv.data == {"x": "newb"}
    assert 1 not in kv.sessions["c1"].results and 2 not in kv.sessions["c1"].results
    kv.apply(first)
    assert kv.data == {"x": "newb"}


def test_6_3_retried_request_is_applied_once_through_a_leader() -> None:
    leader = make(1, 3)
    elect(leader)
    ack(leader, 2, 1)
    request = ClientRequest("c1", 1, Command("append", "x", "a", "c1", 1, 1))
    leader.step(request, 1)
    leader.step(request, 2)  # retried before the first copy committed: waits for it, not logged again
    leader.ready()
    assert leader.log.last_index == 2
    ready = ack(leader, 2, 2)
    assert ready.applied == [2]
    assert leader.kv.data == {"x": "a"}
    assert answers(ready) == [("c1", 1, True)]
    # Retried after it was applied: answered from the session table, nothing appended.
    leader.step(request, 3)
    ready = leader.ready()
    assert answers(ready) == [("c1", 1, True)]
    assert ready.log_from == 0 and leader.log.last_index == 2
    # A copy logged twice (by two leaders, say) is applied once; a follower
    # applying the same log reaches the same state.
    follower = make(2, 3, term=1)
    entries = [*leader.log.slice(1), leader.log.entry(2)]
    follower.step(append(1, 2, 1, 0, 0, entries, commit=3), 4)
    assert follower.kv.data == {"x": "a"}


# ---------------------------------------------------------------------- timers, persistence, logs


def test_heartbeat_timer() -> None:
    leader = make(1, 3)
    elect(leader, now=100)
    assert leader.next_deadline() == 150
    ack(leader, 2, 1, now=110)
    ack(leader, 3, 1, now=110)
    leader.tick(149)
    assert leader.ready().messages == []
    leader.tick(150)
    ready = leader.ready()
    beats = of(ready, AppendEntries)
    assert {m.dst for m in beats} == {2, 3}
    assert all(m.entries == () and m.leader_commit == 1 and m.prev_log_index == 1 for m in beats)
    assert leader.next_deadline() == 200
    assert leader.role == LEADER  # a leader's election timer never fires
    leader.tick(10_000)
    assert leader.role == LEADER


def test_figure2_follower_election_timer_reset_by_current_leader() -> None:
    node = make(1, 3, term=1)
    for now in range(0, 3000, 100):
        node.step(append(2, 1, 1, 0, 0, []), now)
        node.tick(now)
        assert node.role == FOLLOWER
        assert node.next_deadline() >= now + 150


def test_figure2_restart_recovers_term_vote_and_log_but_not_commit() -> None:
    node = make(1, 3, term=1)
    node.step(append(2, 1, 2, 0, 0, entries(1, 2), commit=2), 0)
    ready = node.ready()
    assert node.commit_index == 2 and node.kv.data
    hard = ready.hard_state
    assert hard == HardState(2, 0)
    restarted = make(1, 3, term=hard.current_term, vote=hard.voted_for, log=RaftLog(ready.entries))
    assert (restarted.current_term, restarted.log.last_index) == (2, 2)
    assert restarted.commit_index == 0 and restarted.last_applied == 0 and restarted.kv.data == {}
    assert restarted.role == FOLLOWER


def test_core_is_deterministic_for_a_seed() -> None:
    def run(seed: int) -> tuple[list[Ready], int]:
        node = make(1, 5, seed=seed)
        out = []
        for now in (0, 500, 1000):
            node.tick(now)
            out.append(node.ready())
        node.step(RequestVote(2, 1, 9, 0, 0), 1100)
        out.append(node.ready())
        return out, node.next_deadline()

    assert run(3) == run(3)


def test_log_can_start_after_index_zero() -> None:
    log = RaftLog(entries(3, 3), start_index=5, start_term=2)
    assert (log.last_index, log.last_term, len(log)) == (7, 3, 2)
    assert log.term_at(5) == 2 and log.term_at(6) == 3 and log.term_at(7) == 3
    assert log.term_at(4) is None and log.term_at(8) is None
    assert log.entry(6).term == 3
    with pytest.raises(IndexError):
        log.entry(5)
    assert [e.term for e in log.slice(1)] == [3, 3] and len(log.slice(6, 1)) == 1
    assert log.first_index_of_term(7) == 6 and log.last_index_of_term(3) == 7
    assert log.is_up_to_date(7, 3) and not log.is_up_to_date(6, 3) and log.is_up_to_date(1, 4)
    with pytest.raises(ValueError):
        log.truncate_from(5)
    log.truncate_from(7)
    assert log.last_index == 6
    assert log.append(Entry(4, NOOP)) == 7

    # A node on such a log: what was compacted counts as committed and applied.
    node = make(1, 3, term=3, log=RaftLog(entries(3, 3), start_index=5, start_term=2))
    assert node.commit_index == 5 and node.last_applied == 5
    node.step(append(2, 1, 3, 5, 2, [], commit=7), 0)
    assert of(node.ready(), AppendEntriesReply) == [AppendEntriesReply(1, 2, 3, True, match_index=5)]
    # An AppendEntries reaching below the start skips the compacted part.
    held = node.log.slice(6)
    new = Entry(3, Command("put", "n", "1"))
    node.step(append(2, 1, 3, 4, 2, [Entry(2, NOOP), *held, new], commit=7), 1)
    (reply,) = of(node.ready(), AppendEntriesReply)
    assert reply.success and reply.match_index == 8 and node.log.last_index == 8
    assert node.log.entry(8) == new
    assert node.commit_index == 7


def test_log_can_start_after_index_zero_with_no_entries_in_memory() -> None:
    node = make(1, 3, term=2, log=RaftLog(start_index=5, start_term=2))
    assert node.log.start_index == 5 and node.log.last_index == 5
    assert node.commit_index == 5
    node.timeout_now(0)
    assert {(m.last_log_index, m.last_log_term) for m in of(node.ready(), RequestVote)} == {(5, 2)}


# ---------------------------------------------------------------------- chapter 4: membership


def test_4_1_a_learner_whose_entry_is_not_committed_cannot_be_removed_yet() -> None:
    """One change at a time: while ``add 4`` (4 as a learner) is uncommitted, ``remove 4``
    waits, even though removing a learner would not move the majority. Found by the fault
    fuzzer: a stale ``remove`` retried by the admin client landed behind the add."""
    leader = make(1, 3)
    elect(leader)
    for peer in (2, 3):
        ack(leader, peer, 1)  # the no-op commits: the leader may change the configuration
    leader.step(ClientRequest("admin", 1, Command("add", "4", "", "admin", 1, 1)), 1)
    leader.ready()
    assert leader.configuration.learners == (4,) and leader.commit_index == 1
    leader.step(ClientRequest("admin", 2, Command("remove", "4", "", "admin", 2, 1)), 2)
    replies = of(leader.ready(), ClientReply)
    assert [(r.seq, r.ok) for r in replies] == [(2, False)] and "in progress" in replies[0].error
    assert leader.log.last_index == 2  # nothing appended for the remove
    # Once the learner's entry commits, removing the (still unpromoted) learner is allowed.
    for peer in (2, 3):
        ack(leader, peer, 2)
    leader.step(ClientRequest("admin", 3, Command("remove", "4", "", "admin", 3, 3)), 3)
    leader.ready()
    assert leader.log.last_index == 3 and leader.log.entry(3).command.op == "config"


# ---------------------------------------------------------------------- chapter 5: snapshots


def test_5_3_install_snapshot_goes_on_from_where_the_follower_says_it_stands() -> None:
    """InstallSnapshot is stop-and-wait (one chunk in flight); a follower that answers with
    an offset behind the chunk in flight (it missed one) gets the chunk it asks for. Found
    by the fault fuzzer (seed 224): the leader took such an answer for a duplicate and
    resent the same chunk forever, so the follower never caught up."""
    from dataclasses import replace

    from raftviz.core.messages import InstallSnapshot, InstallSnapshotReply

    leader = make(1, 3, config=replace(CFG, snapshot_chunk=16))
    elect(leader)
    for i in range(1, 9):
        leader.step(ClientRequest("c1", i, Command("put", f"k{i}", "v" * 20, "c1", i, i)), 1)
        leader.ready()
        ack(leader, 2, leader.log.last_index)
    assert leader.commit_index == leader.log.last_index and leader.take_snapshot()
    leader.ready()
    # Node 3 never answered: at the next heartbeat but one, what it needs is the snapshot,
    # sent 16 bytes at a time.
    leader.tick(200)
    sent = of(leader.ready(), InstallSnapshot)
    assert [m.offset for m in sent] == [0]
    index = sent[0].last_included_index
    leader.step(InstallSnapshotReply(3, 1, leader.current_term, index, 16, False), 201)
    assert [m.offset for m in of(leader.ready(), InstallSnapshot)] == [16]
    leader.step(InstallSnapshotReply(3, 1, leader.current_term, index, 32, False), 202)
    assert [m.offset for m in of(leader.ready(), InstallSnapshot)] == [32]
    # Another copy of the answer that sent the chunk in flight changes nothing.
    leader.step(InstallSnapshotReply(3, 1, leader.current_term, index, 32, False), 203)
    assert of(leader.ready(), InstallSnapshot) == []
    # The chunk at 32 is in flight, but node 3 says it stands at 16 (it missed one).
    leader.step(InstallSnapshotReply(3, 1, leader.current_term, index, 16, False), 204)
    assert [m.offset for m in of(leader.ready(), InstallSnapshot)] == [16]
