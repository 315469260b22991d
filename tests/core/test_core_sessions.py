"""Client sessions (dissertation §6.3) in the core: the rules of docs/protocol.md, "Client sessions".

A one-node cluster commits what it appends at once, so each request here is
answered in the same step; tests read the ClientReply the leader sends.
"""

from __future__ import annotations

import random

import pytest

from raftviz.core.config import RaftConfig
from raftviz.core.kv import KVStore, registered_id, restore_snapshot
from raftviz.core.membership import Configuration
from raftviz.core.messages import SESSION_EXPIRED, ClientReply, ClientRequest, Command, RequestVoteReply
from raftviz.core.raft import LEADER, RaftNode
from raftviz.core.snapshot import encode_snapshot


def leader(expiry: int = 0) -> RaftNode:
    node = RaftNode(1, [1], RaftConfig(session_expiry=expiry), random.Random(1), 0)
    node.timeout_now(0)
    assert node.role == LEADER
    node.ready()
    return node


def ask(node: RaftNode, command: Command, now: int = 10, src: str = "") -> ClientReply:
    node.step(ClientRequest(src or command.client, 1, command), now)
    replies = [m for m in node.ready().messages if isinstance(m, ClientReply)]
    assert len(replies) == 1, replies
    return replies[0]


def test_6_3_a_seq_below_the_session_low_is_refused_not_answered_empty() -> None:
    node = leader()
    for seq in (1, 2, 3):
        assert ask(node, Command("put", "x", str(seq), "c1", seq, seq)).ok
    # seq 1 was answered and forgotten (low 3): "ok, no value" would look like an absent key.
    reply = ask(node, Command("get", "x", "", "c1", 1, 1))
    assert not reply.ok and reply.value is None
    assert reply.error == "seq 1 is below the session's low 3: answered and forgotten"
    assert node.log.last_index == 4  # nothing appended (the no-op and three puts)


def test_6_3_low_above_seq_is_refused_by_every_node() -> None:
    node = leader()
    reply = ask(node, Command("put", "x", "1", "c1", 2, 3))
    assert (reply.ok, reply.error) == (False, "low 3 is above seq 2")
    follower = RaftNode(2, [1, 2, 3], RaftConfig(), random.Random(1), 0)
    reply = ask(follower, Command("put", "x", "1", "c1", 2, 3))
    assert (reply.ok, reply.leader_hint, reply.error) == (False, 0, "low 3 is above seq 2")


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (Command("put", "x", "1", "c1", 0, 0), "seq starts at 1"),
        (Command("get", "x", "junk", "c1", 1, 1), "get takes no value"),
        (Command("delete", "x", "junk", "c1", 1, 1), "delete takes no value"),
        (Command("register", "", "v", "c1", 0, 0), "register takes no value"),
        (Command("noop", "", "", "c1", 1, 1), "'noop' is not an operation a client may request"),
    ],
)
def test_6_3_malformed_requests_are_refused(command: Command, error: str) -> None:
    reply = ask(leader(), command)
    assert (reply.ok, reply.error) == (False, error)


def test_6_3_command_client_must_be_the_sender() -> None:
    reply = ask(leader(), Command("put", "x", "1", "c1", 1, 1), src="c2")
    assert (reply.ok, reply.error) == (False, "command.client is not the sender")


def test_6_3_a_seq_reused_for_another_command_is_refused_a_retry_is_not() -> None:
    node = leader()
    assert ask(node, Command("append", "x", "a", "c1", 1, 1)).ok
    retry = ask(node, Command("append", "x", "a", "c1", 1, 1))
    assert (retry.ok, retry.error) == (True, "")
    reused = ask(node, Command("append", "x", "b", "c1", 1, 1))  # a client restarted under c1
    assert (reused.ok, reused.error) == (False, "seq 1 was already used for a different command")
    assert node.kv.data == {"x": "a"}


def test_6_3_a_seq_reused_while_in_the_log_is_refused() -> None:
    node = RaftNode(1, [1, 2, 3], RaftConfig(), random.Random(1), 0)
    node.timeout_now(0)
    node.ready()
    node.step(RequestVoteReply(2, 1, node.current_term, True), 0)
    node.ready()
    node.step(ClientRequest("c1", 1, Command("put", "x", "1", "c1", 1, 1)), 5)
    assert not [m for m in node.ready().messages if isinstance(m, ClientReply)]  # waits for a quorum
    reply = ask(node, Command("put", "x", "2", "c1", 1, 1))
    assert (reply.ok, reply.error) == (False, "seq 1 is already in the log for a different command")
    node.step(ClientRequest("c1", 1, Command("put", "x", "1", "c1", 1, 1)), 6)  # a true retry waits
    assert not [m for m in node.ready().messages if isinstance(m, ClientReply)]


def test_6_3_register_client_returns_a_unique_id_committed_like_a_command() -> None:
    node = leader()
    first = ask(node, Command("register", "", "", "kv-a", 0, 0))
    second = ask(node, Command("register", "", "", "kv-a", 0, 0))
    assert first.ok and first.seq == 0 and first.value == registered_id("kv-a", 2) == "kv-a@2"
    assert second.value == "kv-a@3"
    assert ask(node, Command("put", "x", "1", "kv-a@2", 1, 1), src="kv-a@2").ok
    assert registered_id("n" * 64, 2**62).__len__() <= 64


def test_6_3_sessions_expire_by_the_leaders_stamps() -> None:
    node = leader(expiry=1000)
    sid = ask(node, Command("register", "", "", "c1", 0, 0), now=100).value
    assert sid == "c1@2"
    assert node.log.entry(2).stamp == 100
    assert ask(node, Command("put", "x", "1", sid, 1, 1), now=900, src=sid).ok
    # Another client's activity moves the clock past 900 + 1000: the session is dropped.
    other = ask(node, Command("register", "", "", "c2", 0, 0), now=2000).value
    assert ask(node, Command("put", "y", "1", other, 1, 1), now=2000, src=other).ok
    reply = ask(node, Command("put", "x", "2", sid, 2, 2), now=2001, src=sid)
    assert (reply.ok, reply.error) == (False, SESSION_EXPIRED)
    assert node.kv.data == {"x": "1", "y": "1"}
    # A client that never registered is refused too while sessions expire.
    reply = ask(node, Command("put", "z", "1", "anon", 1, 1), now=2002)
    assert (reply.ok, reply.error) == (False, SESSION_EXPIRED)


def test_6_3_every_replica_expires_the_same_sessions() -> None:
    """Expiry follows the stamps in the log, not each replica's clock: two stores applying
    the same entries at different times drop the same sessions at the same entry."""
    a, b = KVStore(expiry=50), KVStore(expiry=50)
    log = [
        (Command("register", client="c1"), 10),
        (Command("register", client="c2"), 20),
        (Command("put", "x", "1", "c2@2", 1, 1), 70),
        (Command("put", "x", "2", "c1@1", 1, 1), 75),  # c1@1 idle since 10: expired at 70
    ]
    results_a = [a.execute(cmd, index, stamp) for index, (cmd, stamp) in enumerate(log, 1)]
    results_b = [b.execute(cmd, index, stamp) for index, (cmd, stamp) in enumerate(log, 1)]
    assert results_a == results_b
    assert results_a[3] == (False, (None, SESSION_EXPIRED))
    assert sorted(a.sessions) == sorted(b.sessions) == ["c2@2"]


def test_6_3_sessions_and_their_clock_survive_a_snapshot() -> None:
    kv = KVStore(expiry=50)
    kv.execute(Command("register", client="c1"), 1, 10)
    kv.execute(Command("append", "x", "a", "c1@1", 1, 1), 2, 20)
    _, restored = restore_snapshot(encode_snapshot(2, 1, Configuration.of([1]), kv).data, 50)
    assert restored.clock == 20 and restored.sessions == kv.sessions
    # The digest came along: a reuse is still told from a retry.
    assert restored.lookup(Command("append", "x", "b", "c1@1", 1, 1)) == (
        False,
        (None, "seq 1 was already used for a different command"),
    )
    assert restored.execute(Command("get", "x", "", "c1@1", 2, 2), 3, 100) == (False, (None, SESSION_EXPIRED))
