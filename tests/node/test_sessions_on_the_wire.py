"""Client sessions on the wire, against real free-mode nodes, as docs/protocol.md describes them.

A client here is a bare UDP socket that sends the documented ClientRequest
datagrams (built with the codec) and reads the ClientReply datagrams back:
RegisterClient, a seq below the session's low (hole a), a seq reused for a
different command (hole b), low above seq, and SESSION_EXPIRED.
"""

from __future__ import annotations

import socket
import time

import pytest
from cluster_helpers import FreeCluster, free_cluster  # noqa: F401 - the fixture

from raftviz.core.messages import SESSION_EXPIRED, ClientReply, ClientRequest, Command
from raftviz.wire import datagram

pytestmark = pytest.mark.udp

ANSWER_WITHIN = 5.0


class BareClient:
    """Sends one request at a time to the leader's address; returns the answer to it."""

    def __init__(self, cluster: FreeCluster) -> None:
        self.cluster = cluster
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))

    def close(self) -> None:
        self.sock.close()

    def ask(self, command: Command, src: str = "") -> ClientReply:
        """Send until the leader answers (a redirect is followed: elections may happen)."""
        request = datagram.encode(ClientRequest(src or command.client, 1, command))
        deadline = time.monotonic() + ANSWER_WITHIN
        target = self.cluster.wait_leader().src
        while time.monotonic() < deadline:
            self.sock.sendto(request, self.cluster.nodes[target].address)
            self.sock.settimeout(0.3)
            try:
                data, _ = self.sock.recvfrom(65_536)
            except TimeoutError:
                target = self.cluster.wait_leader().src
                continue
            reply = datagram.decode(data)
            assert isinstance(reply, ClientReply) and reply.seq == command.seq
            if reply.ok or reply.error:
                return reply
            target = reply.leader_hint or self.cluster.wait_leader().src
        raise AssertionError(f"no answer to {command} within {ANSWER_WITHIN} s")

    def register(self, name: str) -> str:
        reply = self.ask(Command("register", "", "", name, 0, 0))
        assert reply.ok and reply.error == "" and reply.value is not None
        assert reply.value.startswith(f"{name}@") and reply.value[len(name) + 1 :].isdigit()
        return reply.value


@pytest.fixture
def client(free_cluster) -> BareClient:  # noqa: F811
    cluster = free_cluster(3)
    cluster.wait_leader()
    bare = BareClient(cluster)
    yield bare
    bare.close()


def test_register_client_gives_unique_session_ids(client: BareClient) -> None:
    first, second = client.register("tool"), client.register("tool")
    assert first != second
    reply = client.ask(Command("put", "x", "1", first, 1, 1))
    assert (reply.ok, reply.value, reply.error) == (True, None, "")
    reply = client.ask(Command("get", "x", "", second, 1, 1))
    assert (reply.ok, reply.value) == (True, "1")


def test_a_seq_below_low_is_an_explicit_error_not_an_empty_answer(client: BareClient) -> None:
    sid = client.register("a")
    assert client.ask(Command("put", "x", "1", sid, 1, 1)).ok
    assert client.ask(Command("put", "x", "2", sid, 2, 2)).ok  # low 2: seq 1 is forgotten
    reply = client.ask(Command("get", "x", "", sid, 1, 1))
    assert (reply.ok, reply.value) == (False, None)
    assert reply.error == "seq 1 is below the session's low 2: answered and forgotten"


def test_low_above_seq_is_refused_and_nothing_is_applied(client: BareClient) -> None:
    sid = client.register("b")
    reply = client.ask(Command("put", "y", "1", sid, 1, 2))
    assert (reply.ok, reply.error) == (False, "low 2 is above seq 1")
    assert client.ask(Command("get", "y", "", sid, 1, 1)).value is None


def test_a_reused_seq_is_refused_a_retry_is_answered_again(client: BareClient) -> None:
    sid = client.register("c")
    assert client.ask(Command("append", "z", "a", sid, 1, 1)).ok
    again = client.ask(Command("append", "z", "a", sid, 1, 1))
    assert (again.ok, again.error) == (True, "")
    reused = client.ask(Command("append", "z", "b", sid, 1, 1))
    assert (reused.ok, reused.error) == (False, "seq 1 was already used for a different command")
    assert client.ask(Command("get", "z", "", sid, 2, 2)).value == "a"


def test_an_expired_session_is_told_so_and_the_client_registers_again(free_cluster) -> None:  # noqa: F811
    cluster = free_cluster(3, extra_args=["--sessions", "0.3"])
    cluster.wait_leader()
    bare = BareClient(cluster)
    try:
        sid = bare.register("d")
        assert bare.ask(Command("put", "k", "1", sid, 1, 1)).ok
        # Sessions expire by the stamps of entries, so the clock moves with other clients'
        # requests: keep another client busy, d idle, for over three times the expiry (the
        # stamps are the leader's clock in ms), then d's next request finds no session.
        idle_since = time.monotonic()
        seq = 0
        while time.monotonic() < idle_since + 1.0:
            seq += 1
            other = bare.register("e")
            assert bare.ask(Command("put", "other", str(seq), other, 1, 1)).ok
        reply = bare.ask(Command("put", "k", "2", sid, 2, 2))
        assert not reply.ok
        assert reply.error == SESSION_EXPIRED
        fresh = bare.register("d")
        assert bare.ask(Command("put", "k", "3", fresh, 1, 1)).ok
        # An id the cluster never gave is refused the same way while sessions expire.
        reply = bare.ask(Command("get", "k", "", "never-registered", 1, 1))
        assert (reply.ok, reply.error) == (False, SESSION_EXPIRED)
    finally:
        bare.close()
