"""Unit tests of reads without log writes: ReadIndex and leases (dissertation §6.4, §6.4.1).

Each test drives ``RaftNode`` directly, as ``test_core_rules`` does: a leader
is made with the fewest votes it needs, followers' replies are built by hand,
and outputs are read from ``ready()``.
"""

from __future__ import annotations

from dataclasses import replace

from raftviz.core.config import RaftConfig
from raftviz.core.messages import (
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    ClientRequest,
    Command,
)
from raftviz.core.raft import FOLLOWER, LEADER, RaftNode
from raftviz.core.reads import LEASE_DRIFT_PERCENT, MAX_PENDING_READS
from raftviz.core.ready import Ready
from raftviz.core.reasons import READ_HELD, READ_REFUSED, READ_SERVED
from tests.core.test_core_rules import CFG, elect, make, of


def read(node: RaftNode, mode: str, seq: int = 1, key: str = "x", now: int = 0) -> Ready:
    cmd = Command("get", key, client="c1", seq=seq)
    node.step(ClientRequest("c1", node.id, cmd, read=mode), now)
    return node.ready()


def put(node: RaftNode, value: str, seq: int, now: int = 0) -> Ready:
    node.step(ClientRequest("c1", node.id, Command("put", "x", value, client="c1", seq=seq)), now)
    return node.ready()


def ack(leader: RaftNode, peer: int, match: int, round_: int = 0, now: int = 0) -> Ready:
    reply = AppendEntriesReply(peer, leader.id, leader.current_term, True, match_index=match, round=round_)
    leader.step(reply, now)
    return leader.ready()


#: Leases need Pre-Vote's leader stickiness (without it, no lease: raftviz.core.reads).
STICKY = replace(CFG, prevote=True)


def leader_with_x(value: str = "1", now: int = 0, config: RaftConfig = STICKY) -> RaftNode:
    """A 3-node leader of term 1 (Pre-Vote on) that has committed its no-op and ``put x value``."""
    node = make(1, 3, config=config)
    elect(node, now)
    ack(node, 2, 1, now=now)  # the no-op commits
    put(node, value, 1, now)
    ack(node, 2, 2, now=now)
    assert node.commit_index == 2 and node.kv.data["x"] == value
    return node


def replies(ready: Ready) -> list[ClientReply]:
    return of(ready, ClientReply)


def kinds(ready: Ready) -> list[str]:
    return [r.kind for r in ready.reasons]


def test_6_4_readindex_waits_for_a_heartbeat_round_acknowledged_by_a_majority() -> None:
    node = leader_with_x()
    out = read(node, "readindex", seq=2, now=10)
    assert replies(out) == []  # held
    assert kinds(out) == [READ_HELD]
    rounds = {m.round for m in of(out, AppendEntries)}
    assert len(rounds) == 1 and rounds != {0}, "a numbered round goes to every peer at once"
    (round_,) = rounds
    assert of(out, AppendEntries) and all(m.dst in (2, 3) for m in of(out, AppendEntries))
    assert node.log.last_index == 2, "no log entry for the read"
    done = ack(node, 3, 2, round_=round_, now=20)
    assert [(r.seq, r.ok, r.value) for r in replies(done)] == [(2, True, "1")]
    assert kinds(done) == [READ_SERVED]


def test_6_4_readindex_is_not_confirmed_by_an_ack_of_an_earlier_round() -> None:
    node = leader_with_x()
    node.tick(node.heartbeat_deadline)  # a heartbeat before any read: not numbered
    assert {m.round for m in of(node.ready(), AppendEntries)} == {0}
    out = read(node, "readindex", seq=2, now=60)
    (round_,) = {m.round for m in of(out, AppendEntries)}
    # Replies to messages sent before the read arrived (no round, or an older one) confirm nothing.
    assert replies(ack(node, 2, 2, round_=0, now=61)) == []
    assert replies(ack(node, 2, 2, round_=round_, now=62))[0].value == "1"


def test_6_4_a_round_never_sent_is_ignored() -> None:
    node = leader_with_x()
    read(node, "readindex", seq=2, now=10)
    assert replies(ack(node, 2, 2, round_=99, now=11)) == []
    assert node.round_acks.get(2, 0) == 0


def test_6_4_a_new_leader_waits_for_its_no_op_before_it_knows_the_read_index() -> None:
    node = make(1, 3)
    elect(node)
    out = read(node, "readindex", seq=1, now=5)
    (round_,) = {m.round for m in of(out, AppendEntries)}
    assert [r.after for r in out.reasons] == ["noop"]
    # The round is acknowledged, but the no-op is not committed: still held.
    assert replies(ack(node, 2, 0, round_=round_, now=6)) == []
    done = ack(node, 2, 1, now=7)  # the no-op commits
    assert [(r.seq, r.ok, r.value) for r in replies(done)] == [(1, True, None)]


def test_6_4_a_follower_redirects_a_readindex_read() -> None:
    node = make(2, 3)
    node.step(AppendEntries(1, 2, 1, 0, 0, (), 0), 0)
    node.ready()
    out = read(node, "readindex", seq=1)
    assert [(r.ok, r.leader_hint, r.error) for r in replies(out)] == [(False, 1, "")]
    assert kinds(out) == [READ_REFUSED]


def test_6_4_a_leader_that_steps_down_answers_its_waiting_reads_with_a_hint() -> None:
    node = leader_with_x()
    read(node, "readindex", seq=2, now=10)
    node.step(AppendEntries(3, 1, 2, 2, 1, (), 2), 20)  # a leader of term 2
    out = node.ready()
    assert node.role == FOLLOWER
    assert [(r.seq, r.ok, r.leader_hint) for r in replies(out)] == [(2, False, 3)]
    assert READ_REFUSED in kinds(out)
    assert node.pending_reads == {}


def test_6_4_a_follower_echoes_the_round_of_every_append_entries_it_answers() -> None:
    node = make(2, 3)
    node.step(AppendEntries(1, 2, 1, 0, 0, (), 0, round=7), 0)
    (ok,) = of(node.ready(), AppendEntriesReply)
    assert ok.success and ok.round == 7
    node.step(AppendEntries(1, 2, 1, 5, 1, (), 0, round=8), 1)  # a gap: rejected, still echoed
    (rejected,) = of(node.ready(), AppendEntriesReply)
    assert not rejected.success and rejected.round == 8


def test_6_4_1_lease_read_is_answered_at_once_while_the_lease_holds() -> None:
    node = leader_with_x()
    out = read(node, "readindex", seq=2, now=10)
    (round_,) = {m.round for m in of(out, AppendEntries)}
    ack(node, 2, 2, round_=round_, now=15)
    lease_end = 10 + CFG.election_min - CFG.election_min * LEASE_DRIFT_PERCENT // 100
    assert node.lease_expiry() == lease_end
    out = read(node, "lease", seq=3, now=lease_end - 1)
    assert [(r.seq, r.ok, r.value) for r in replies(out)] == [(3, True, "1")]
    assert of(out, AppendEntries) == [], "a lease read sends nothing"
    assert kinds(out) == [READ_SERVED]


def test_6_4_1_an_expired_lease_is_confirmed_by_a_round_instead() -> None:
    node = leader_with_x()
    out = read(node, "readindex", seq=2, now=10)
    (round_,) = {m.round for m in of(out, AppendEntries)}
    ack(node, 2, 2, round_=round_, now=15)
    expired = node.lease_expiry()
    out = read(node, "lease", seq=3, now=expired)
    assert replies(out) == []
    assert [r.after for r in out.reasons] == ["lease expired"]
    (fresh,) = {m.round for m in of(out, AppendEntries)}
    assert replies(ack(node, 3, 2, round_=fresh, now=200))[0].value == "1"
    # The lease is renewed from the fresh round's send time.
    assert node.lease_expiry() == expired + CFG.election_min - CFG.election_min * LEASE_DRIFT_PERCENT // 100


def test_6_4_1_the_lease_runs_from_when_the_round_was_sent_not_acknowledged() -> None:
    node = leader_with_x()
    out = read(node, "readindex", seq=2, now=100)
    (round_,) = {m.round for m in of(out, AppendEntries)}
    ack(node, 2, 2, round_=round_, now=140)  # a slow ack
    assert node.lease_start == 100


def test_6_4_1_a_new_term_starts_without_a_lease() -> None:
    node = leader_with_x()
    out = read(node, "readindex", seq=2, now=10)
    (round_,) = {m.round for m in of(out, AppendEntries)}
    ack(node, 2, 2, round_=round_, now=15)
    assert node.lease_expiry() > 0
    node.step(AppendEntries(3, 1, 2, 2, 1, (), 2), 20)  # a leader of a newer term
    node.ready()
    assert node.role != LEADER and node.lease_expiry() == -1
    elect(node, 30)
    assert node.lease_expiry() == -1 and node.read_round == 0


def test_6_4_a_single_server_cluster_confirms_its_own_round() -> None:
    node = make(1, 1)
    elect(node)
    put(node, "5", 1)
    out = read(node, "readindex", seq=2)
    assert [(r.ok, r.value) for r in replies(out)] == [(True, "5")]


def test_6_4_only_a_get_may_be_read_without_the_log() -> None:
    node = leader_with_x()
    cmd = Command("put", "x", "2", client="c1", seq=2)
    node.step(ClientRequest("c1", 1, cmd, read="lease"), 0)
    (reply,) = replies(node.ready())
    assert not reply.ok and "for a get" in reply.error
    assert node.log.last_index == 2


def test_6_4_a_retry_of_a_waiting_read_is_answered_once() -> None:
    node = leader_with_x()
    out = read(node, "readindex", seq=2, now=10)
    (round_,) = {m.round for m in of(out, AppendEntries)}
    retry = read(node, "readindex", seq=2, now=11)
    assert len(node.pending_reads) == 1 and of(retry, AppendEntries) == []
    assert len(replies(ack(node, 2, 2, round_=round_, now=12))) == 1
    assert replies(ack(node, 3, 2, round_=round_, now=13)) == []


def test_6_4_waiting_reads_are_bounded() -> None:
    node = leader_with_x()
    for seq in range(2, MAX_PENDING_READS + 2):
        read(node, "readindex", seq=seq)
    assert len(node.pending_reads) == MAX_PENDING_READS
    (reply,) = replies(read(node, "readindex", seq=MAX_PENDING_READS + 2))
    assert not reply.ok and "too many reads" in reply.error
    assert len(node.round_sent) <= 4096


def test_6_4_1_a_lease_read_at_a_new_leader_also_waits_for_its_no_op() -> None:
    node = make(1, 3, config=STICKY)
    elect(node)
    out = read(node, "lease", seq=1, now=5)
    assert replies(out) == [] and [r.after for r in out.reasons] == ["noop"]
    (round_,) = {m.round for m in of(out, AppendEntries)}
    ack(node, 2, 0, round_=round_, now=6)
    assert node.lease_expiry() > 6, "the round gave a lease"
    assert replies(read(node, "lease", seq=2, now=7)) == [], "but no answer before the no-op commits"
    done = ack(node, 2, 1, now=8)
    assert sorted((r.seq, r.ok) for r in replies(done)) == [(1, True), (2, True)]


def test_6_4_1_without_leader_stickiness_a_leader_holds_no_lease() -> None:
    """Plain Raft grants a vote at once: a lease would not keep another leader out, so a lease
    read is confirmed by a heartbeat round, as a ReadIndex read is."""
    node = leader_with_x(config=CFG)
    out = read(node, "readindex", seq=2, now=10)
    (round_,) = {m.round for m in of(out, AppendEntries)}
    ack(node, 2, 2, round_=round_, now=15)
    assert node.lease_expiry() == -1
    out = read(node, "lease", seq=3, now=20)
    assert replies(out) == [] and [r.after for r in out.reasons] == ["no stickiness"]
    (fresh,) = {m.round for m in of(out, AppendEntries)}
    assert [(r.seq, r.value) for r in replies(ack(node, 3, 2, round_=fresh, now=25))] == [(3, "1")]
