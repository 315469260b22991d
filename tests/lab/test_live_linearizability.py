"""The live linearizability invariant: each answer checked as it arrives, with bounded work.

Histories are fed as the lab feeds them: a request when it is issued, then its
answer. Times are virtual ms.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from raftviz.core.messages import Command
from raftviz.lab.clients import Request
from raftviz.lab.lab import Lab, LabOptions
from raftviz.lab.linearizability import ANOMALY, OK, Op, check_history
from raftviz.lab.live_linearizability import MAX_CONFIGS, LiveLinearizability


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
    assert finding.detail == (
        "key 'x': c2#1 get x (sent at t=20, answered at t=30) read (none), which no order of the "
        "operations explains (before the requests then outstanding, 'x' held '1')"
    )
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


def test_answered_operations_leave_the_configurations() -> None:
    # Two overlapping puts, both answered: either may be last, so both states are kept,
    # and nothing else: the work of the next answer does not grow with the history.
    live = LiveLinearizability()
    w1, w2 = request("c1", 1, "put", "x", "a", 0), request("c2", 1, "put", "x", "b", 1)
    live.invoked(w1)
    live.invoked(w2)
    live.answered(answer(w1, 5))
    live.answered(answer(w2, 6))
    assert live.keys["x"].configs == {("a", ()), ("b", ())}
    assert live.keys["x"].pending == {}
    for seq, seen in ((2, "a"), (3, "b")):
        get = request("c3", seq, "get", "x", "", 10 * seq)
        live.invoked(get)
        live.answered(answer(get, 10 * seq + 1, seen))
        if seen == "a":
            assert live.keys["x"].configs == {("a", ())}
    # Having read "a" with nothing written since, reading "b" cannot be explained.
    assert live.verdict == ANOMALY


def test_a_read_placed_before_a_write_it_overlaps() -> None:
    # get [0, 20] overlaps put 1 [5, 10]; the get answered (none): it took effect first.
    live = LiveLinearizability()
    get, put = request("c1", 1, "get", "x", "", 0), request("c2", 1, "put", "x", "1", 5)
    live.invoked(get)
    live.invoked(put)
    assert live.answered(answer(put, 10)) is None
    assert live.answered(answer(get, 20, None)) is None
    assert live.verdict == OK and live.keys["x"].configs == {("1", ())}


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


def test_work_stays_bounded_under_continuous_overlap() -> None:
    # Three clients always have a request outstanding on one key (never quiescent):
    # the configurations stay few however long the history gets.
    live = LiveLinearizability()
    outstanding = [request(f"c{i}", 1, "append", "x", f"<{i}.1>", i) for i in range(3)]
    for req in outstanding:
        live.invoked(req)
    value, t = "", 10
    for n in range(2, 300):
        done = outstanding.pop(0)
        if done.command.op == "append":
            value += done.command.value
        t += 5
        live.answered(answer(done, t, value if done.command.op == "get" else None))
        op = "get" if n % 3 == 0 else "append"
        nxt = request(done.client, n, op, "x", "" if op == "get" else f"<{done.client}.{n}>", t)
        live.invoked(nxt)
        outstanding.append(nxt)
        assert len(live.keys["x"].configs) <= MAX_CONFIGS
    assert live.verdict == OK


def test_too_many_orders_forget_the_value_without_a_false_alarm() -> None:
    # Twelve concurrent appends have 12! orders: the value is forgotten (a reset), and the
    # read that follows pins it again; a stale read after a later put is still caught.
    live = LiveLinearizability()
    appends = [request(f"c{i}", 1, "append", "x", f"<{i}>", 0) for i in range(12)]
    for req in appends:
        live.invoked(req)
    for i, req in enumerate(appends):
        assert live.answered(answer(req, 10 + i)) is None
    assert live.resets >= 1 and live.verdict == OK
    get = request("c20", 1, "get", "x", "", 50)
    live.invoked(get)
    assert (
        live.answered(answer(get, 60, "".join(f"<{i}>" for i in (3, 1, 0, 2, 4, 5, 6, 7, 8, 9, 11, 10))))
        is None
    )
    put = request("c21", 1, "put", "x", "new", 70)
    live.invoked(put)
    live.answered(answer(put, 80))
    stale = request("c22", 1, "get", "x", "", 90)
    live.invoked(stale)
    finding = live.answered(answer(stale, 95, "<3>"))
    assert finding is not None and "read '<3>'" in finding.detail and "held 'new'" in finding.detail


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


# ---------------------------------------------------------------------- against the offline checker


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, str, str, int, int, int]]:
    """Operations (client, kind, value, call, point, ret) on one key: each takes effect at a
    distinct ``point`` between its call and its return, so the history is linearizable."""
    n = draw(st.integers(1, 9))
    ops = []
    times = draw(st.lists(st.integers(0, 10_000), min_size=3 * n, max_size=3 * n, unique=True))
    for i in range(n):
        call, point, ret = sorted(times[3 * i : 3 * i + 3])
        kind = draw(st.sampled_from(("put", "append", "get", "get", "delete")))
        ops.append((f"c{i}", kind, f"<{i}>", call, point, ret))
    return ops


def _feed(
    ops: list[tuple[str, str, str, int, int, int]], outputs: dict[int, str | None]
) -> LiveLinearizability:
    live = LiveLinearizability()
    requests = {
        i: request(c, 1, k, "x", "" if k in ("get", "delete") else v, call)
        for i, (c, k, v, call, _, _) in enumerate(ops)
    }
    events = sorted([(op[3], 0, i) for i, op in enumerate(ops)] + [(op[5], 1, i) for i, op in enumerate(ops)])
    for _, kind, i in events:
        if kind == 0:
            live.invoked(requests[i])
        else:
            live.answered(answer(requests[i], ops[i][5], outputs.get(i)))
    return live


def _truth(ops: list[tuple[str, str, str, int, int, int]]) -> dict[int, str | None]:
    state: str | None = None
    outputs: dict[int, str | None] = {}
    for i in sorted(range(len(ops)), key=lambda i: ops[i][4]):
        kind, value = ops[i][1], ops[i][2]
        if kind == "put":
            state = value
        elif kind == "append":
            state = (state or "") + value
        elif kind == "delete":
            state = None
        else:
            outputs[i] = state
    return outputs


@settings(max_examples=300, deadline=None)
@given(ops=histories(), data=st.data())
def test_live_check_agrees_with_the_offline_checker(ops, data) -> None:  # noqa: ANN001
    outputs = _truth(ops)
    assert _feed(ops, outputs).verdict == OK  # linearizable by construction: never a false alarm
    gets = [i for i, op in enumerate(ops) if op[1] == "get"]
    if not gets:
        return
    # Change one read: whatever the offline checker decides, the live check decides the same
    # (unless it had to forget the key's value, which only makes it more lenient).
    victim = data.draw(st.sampled_from(gets))
    outputs[victim] = data.draw(st.sampled_from([None, "<0>", "<1>", "<0><1>", "<1><0>", "<2>"]))
    offline = check_history(
        [
            Op(c, k, "x", call, ret, "" if k in ("get", "delete") else v, outputs.get(i), i)
            for i, (c, k, v, call, _, ret) in enumerate(ops)
        ]
    ).verdict
    live = _feed(ops, outputs)
    if live.resets:
        assert offline == ANOMALY or live.verdict == OK
    else:
        assert live.verdict == offline


def test_clients_whose_sessions_expire_stay_linearizable() -> None:
    """Sessions of 150 ms while clients pause longer between requests and the leader crashes:
    sessions expire, clients register again, and every answer is still linearizable."""
    lab = Lab(LabOptions(nodes=3, seed=11, backend="inprocess", sessions=150))
    try:
        ok, _ = lab.run_until(lambda: lab.leader() != 0, 5000)
        assert ok
        requests = []
        for round_ in range(6):
            for n in range(3):
                op = ("append", "get", "put")[(round_ + n) % 3]
                requests.append(
                    lab.submit(op, "x", "" if op == "get" else f"<{round_}.{n}>", client_id=f"c{n}")
                )
            if round_ == 3:
                lab.crash(lab.leader())
            lab.advance(400)
        ok, _ = lab.run_until(lambda: all(r.done for r in requests), 20_000)
        assert ok
        assert not lab.violations, lab.violations[0].describe()
        assert lab.linearizability.checks == len(requests)
        assert sum(1 for c in lab.clients.values() for r in c.history if r.command.client.count("@")) > 0
        assert len({r.command.client for r in requests}) > 3  # some clients registered again
    finally:
        lab.close()
