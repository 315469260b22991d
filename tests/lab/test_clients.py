"""The lab's client: retries follow leader hints, and silence moves on in id order."""

from __future__ import annotations

from raftviz.core.messages import ClientReply
from raftviz.lab.clients import Client

NODES = [1, 2, 3, 4, 5, 6, 7]


def test_a_stale_hint_never_keeps_a_request_from_the_nodes_after_it_in_id_order() -> None:
    """Every node hints at 6, which is silent (its leadership is stale): the request must
    still reach every node in turn. With the rotation moved by hints it went 6, 7, 6, 7...
    (7 hinted back at 6), the livelock a 7-node fault fuzzer found."""
    client = Client("c1")
    request = client.issue("put", "k", "v", target=1, now=0, timeout=100)
    tried = []
    now = 0
    for _ in range(12):
        if request.target != 6:  # 6 says nothing; every other node hints at it
            now += 10
            reply = ClientReply(request.target, "c1", request.seq, False, leader_hint=6)
            assert client.on_reply(reply, now, 100) == (None, 6)
        now += 100
        tried.append(client.on_timeout(request, NODES, now, 100))
    assert tried[:7] == [2, 3, 4, 5, 6, 7, 1]
    assert set(tried) == set(NODES)


def test_a_hint_is_followed_at_once_and_an_answer_settles_the_request() -> None:
    client = Client("c1")
    request = client.issue("get", "k", "", target=3, now=0, timeout=100)
    assert client.on_reply(ClientReply(3, "c1", request.seq, False, leader_hint=5), 10, 100) == (None, 5)
    assert request.target == 5 and request.deadline == 110 and request.attempts == 2
    done, resend = client.on_reply(ClientReply(5, "c1", request.seq, True, value="x"), 20, 100)
    assert done is request and resend == 0 and request.result == "x" and client.leader_guess == 5
