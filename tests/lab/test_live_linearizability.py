"""The live linearizability invariant: each answer checked as it arrives, in bounded windows.

Histories are fed as the lab feeds them: a request when it is issued, then its
answer. Times are virtual ms.
"""

from __future__ import annotations

from raftviz.core.messages import Command
from raftviz.lab.clients import Request
from raftviz.lab.lab import Lab, LabOptions
from raftviz.lab.linearizability import ANOMALY, OK, UNKNOWN, Op, check_history
from raftviz.lab.live_linearizability import MAX_WINDOW, LiveLinearizability


def request(client: str, seq: int, op: str, key: str, value: str, call: int) -> Request:
    return Request(client, seq, Command(op, key, value, client, seq, seq), call, 1, call + 100)


def answer(req: Request, at: int, result: str | None = None, error: str = "") -> Request:
    req.answered_at, req.result, req.error = at, result, error
    return req


def test_stale_read_is_not_linearizable() -> None:
    live = LiveLinearizability()
    put = request("c1", 1, "put", "x", "1", 0)
    live.invoked(put)
    assert live.answered(answer(put, 10)) is None
    get = request("c2", 1, "get", "x", "", 20)
    live.invoked(get)
    finding = live.answered(answer(get, 30, None))  # the put was acknowledged before the get began
    assert finding is not None and finding.verdict == ANOMALY
    assert "key 'x'" in finding.detail and "c2" in finding.detail
    assert live.verdict == ANOMALY


def test_value_going_back_is_linearizable_when_writes_overlap() -> None:
    # put 1 [0,10] and put 2 [1,12] overlap; a get reads 2 at [2,3], a later get reads 1 at [4,5].
    # A naive check ("a value never goes back to an older write's") rejects this; the
    # order put 2, get, put 1, get explains it.
    live = LiveLinearizability()
    w1, w2 = request("c1", 1, "put", "x", "1", 0), request("c2", 1, "put", "x", "2", 1)
    r1, r2 = request("c3", 1, "get", "x", "", 2), request("c3", 2, "get", "x", "", 4)
    live.invoked(w1)
    live.invoked(w2)
    live.invoked(r1)
    assert live.answered(answer(r1, 3, "2")) is None
    live.invoked(r2)
    assert live.answered(answer(r2, 5, "1")) is None
    assert live.answered(answer(w1, 10)) is None
    assert live.answered(answer(w2, 12)) is None
    assert live.verdict == OK
    # The offline checker agrees on the same history.
    ops = [
        Op("c1", "put", "x", 0, 10, "1"),
        Op("c2", "put", "x", 1, 12, "2"),
        Op("c3", "get", "x", 2, 3, output="2"),
        Op("c3", "get", "x", 4, 5, output="1"),
    ]
    assert check_history(ops).verdict == OK


def test_quiescent_points_keep_every_possible_state() -> None:
    # Two overlapping puts, both answered: either may be last, so both states are kept.
    live = LiveLinearizability()
    w1, w2 = request("c1", 1, "put", "x", "a", 0), request("c2", 1, "put", "x", "b", 1)
    live.invoked(w1)
    live.invoked(w2)
    live.answered(answer(w1, 5))
    live.answered(answer(w2, 6))
    assert live.keys["x"].starts == frozenset({"a", "b"})
    assert live.keys["x"].window == []  # quiescent: the window was folded into the states
    for seq, seen in ((2, "a"), (3, "b")):
        get = request("c3", seq, "get", "x", "", 10 * seq)
        live.invoked(get)
        live.answered(answer(get, 10 * seq + 1, seen))
        if seen == "a":
            assert live.keys["x"].starts == frozenset({"a"})
    # Having read "a" with nothing written since, reading "b" cannot be explained.
    assert live.verdict == ANOMALY


def test_delete_and_refused_requests() -> None:
    live = LiveLinearizability()
    put = request("c1", 1, "put", "x", "1", 0)
    refused = request("c1", 2, "put", "x", "2", 1)
    delete = request("c1", 3, "delete", "x", "", 20)
    get = request("c1", 4, "get", "x", "", 30)
    for req, at, result, error in (
        (put, 10, None, ""),
        (refused, 11, None, "too large"),
        (delete, 25, None, ""),
    ):
        live.invoked(req)
        assert live.answered(answer(req, at, result, error)) is None
    live.invoked(get)
    assert live.answered(answer(get, 35, None)) is None
    assert live.verdict == OK


def test_a_key_never_quiescent_is_given_up_not_failed() -> None:
    live = LiveLinearizability()
    hold = request("c0", 1, "put", "x", "start", 0)  # never answered: no quiescent point ever
    live.invoked(hold)
    for n in range(MAX_WINDOW + 2):
        put = request("c1", n + 1, "put", "x", f"v{n}", 10 * n + 1)
        live.invoked(put)
        live.answered(answer(put, 10 * n + 5))
    assert live.verdict == UNKNOWN
    assert live.keys["x"].window == []


def test_the_lab_checks_every_answer() -> None:
    lab = Lab(LabOptions(nodes=3, seed=3, backend="inprocess"))
    try:
        ok, _ = lab.run_until(lambda: lab.leader() != 0, 5000)
        assert ok
        requests = [lab.submit("append", "x", f"<{n}>", client_id=f"c{n % 3}") for n in range(12)]
        requests.append(lab.submit("get", "x", client_id="c9"))
        ok, _ = lab.run_until(lambda: all(r.done for r in requests), 10_000)
        assert ok
        assert lab.linearizability.checks == len(requests)
        assert lab.linearizability.verdict == OK
        assert not [v for v in lab.violations if v.invariant == "linearizable"]
    finally:
        lab.close()
